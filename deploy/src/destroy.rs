//! `orchgen destroy`: deletes a stage's stack with progress, optionally empties and deletes the
//! artefact bucket (every object version), and reports the tables the template retains
//! (`DeletionPolicy: Retain`): they outlive the stack, with their data, until deleted by hand.

use serde::Serialize;

use super::{DeployError, Log, changeset, progress, upload};

/// What `orchgen destroy` does.
#[derive(Debug, Clone)]
pub struct DestroyOptions {
    /// The stage.
    pub stage: String,
    /// Where to talk to AWS.
    pub aws: super::AwsOptions,
    /// Also empty and delete the artefact bucket.
    pub empty_bucket: bool,
    /// Delete without asking.
    pub yes: bool,
}

/// A table the stack's template retains on deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetainedTable {
    /// Its logical id.
    pub logical_id: String,
    /// Its name.
    pub name: String,
    /// Whether it still exists after the deletion.
    pub exists: bool,
}

/// What a destroy did.
#[derive(Debug, Clone, Serialize)]
pub struct DestroyReport {
    /// The stack.
    pub stack: String,
    /// `DELETE_COMPLETE`, or `NOT_FOUND` when there was no stack.
    pub status: String,
    /// The tables left behind.
    pub retained_tables: Vec<RetainedTable>,
    /// The artefact bucket.
    pub bucket: String,
    /// Object versions removed from the bucket (when emptied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_versions_removed: Option<usize>,
}

impl std::fmt::Display for DestroyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "stack {}: {}", self.stack, self.status)?;
        for t in &self.retained_tables {
            writeln!(
                f,
                "retained table {} ({}){}: delete it by hand when its data is no longer needed",
                t.name,
                t.logical_id,
                if t.exists { "" } else { " — already gone" }
            )?;
        }
        match self.bucket_versions_removed {
            Some(n) => writeln!(f, "artefact bucket {} emptied ({n} object versions) and deleted", self.bucket),
            None => writeln!(f, "artefact bucket {} kept (--empty-bucket removes it)", self.bucket),
        }
    }
}

/// Tables whose `DeletionPolicy` is `Retain` in the stack's template, with their physical names.
async fn retained_tables(clients: &super::Clients, stack: &str) -> Result<Vec<RetainedTable>, DeployError> {
    let template = clients
        .cloudformation
        .get_template()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| DeployError::aws("cloudformation GetTemplate", &e))?;
    let body: serde_json::Value = serde_json::from_str(template.template_body().unwrap_or("{}")).unwrap_or_default();
    let resources = clients
        .cloudformation
        .describe_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| DeployError::aws("cloudformation DescribeStackResources", &e))?;
    let mut tables = Vec::new();
    for r in resources.stack_resources() {
        let logical = r.logical_resource_id().unwrap_or_default();
        let resource = &body["Resources"][logical];
        if r.resource_type() == Some("AWS::DynamoDB::Table") && resource["DeletionPolicy"] == "Retain" {
            tables.push(RetainedTable {
                logical_id: logical.to_owned(),
                name: r.physical_resource_id().unwrap_or_default().to_owned(),
                exists: true,
            });
        }
    }
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(tables)
}

/// Deletes the stage's stack (refusing when termination protection is on), then empties the bucket
/// when asked.
pub async fn destroy(
    plan: &orchgen_runtime::plan::Plan,
    options: &DestroyOptions,
    log: &mut Log<'_>,
) -> Result<DestroyReport, DeployError> {
    super::check_stage(&options.stage)?;
    let (clients, account) = super::connect(&options.aws).await?;
    let stack = super::stack_name(plan, &options.stage);
    let bucket = upload::bucket_name(&account, &clients.region, &options.stage);
    let mut report = DestroyReport {
        stack: stack.clone(),
        status: "NOT_FOUND".to_owned(),
        retained_tables: Vec::new(),
        bucket: bucket.clone(),
        bucket_versions_removed: None,
    };
    if changeset::stack_status(&clients.cloudformation, &stack).await?.is_some() {
        if changeset::termination_protection(&clients.cloudformation, &stack).await? {
            return Err(DeployError::Config(format!(
                "stack {stack} has termination protection (a production stage); turn it off first: aws cloudformation update-termination-protection --no-enable-termination-protection --stack-name {stack}"
            )));
        }
        if !options.yes {
            super::confirm(&format!("delete stack {stack}?"))?;
        }
        report.retained_tables = retained_tables(&clients, &stack).await?;
        // Asked before the deletion: a deleted stack is found only by its id, and the deletion
        // can be over before the first poll.
        let stack_id = progress::stack_id(&clients.cloudformation, &stack).await.unwrap_or_else(|| stack.clone());
        let started = std::time::SystemTime::now();
        clients
            .cloudformation
            .delete_stack()
            .stack_name(&stack)
            .send()
            .await
            .map_err(|e| DeployError::aws("cloudformation DeleteStack", &e))?;
        let outcome = progress::follow_id(&clients.cloudformation, &stack, &stack_id, 0, started, log).await?;
        if !outcome.succeeded {
            return Err(DeployError::StackFailed { stack, status: outcome.status, failures: outcome.failures });
        }
        report.status = outcome.status;
        for table in &mut report.retained_tables {
            table.exists = clients.dynamodb.describe_table().table_name(&table.name).send().await.is_ok();
        }
    } else {
        log.line(format!("no stack {stack} in {}", clients.region));
    }
    if options.empty_bucket {
        if upload::bucket_exists(&clients, &bucket).await? {
            let emptied = upload::empty_and_delete_bucket(&clients, &bucket).await?;
            report.bucket_versions_removed = Some(emptied.versions);
        } else {
            report.bucket_versions_removed = Some(0);
        }
    }
    Ok(report)
}
