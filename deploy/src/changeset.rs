//! Change sets: created (CREATE for a new stack, UPDATE otherwise), waited for, previewed
//! (add / modify / remove, replacements highlighted), executed or discarded.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, Parameter, StackStatus, Tag};
use serde::Serialize;

use super::DeployError;

/// How often a pending change set or stack is polled.
pub const POLL: Duration = Duration::from_secs(2);

/// How long a change set may take to be computed.
pub const CHANGE_SET_TIMEOUT: Duration = Duration::from_secs(600);

/// What to create a change set of.
#[derive(Debug, Clone)]
pub struct Request {
    /// The stack.
    pub stack: String,
    /// Where CloudFormation reads the template.
    pub template_url: String,
    /// Template parameters.
    pub parameters: BTreeMap<String, String>,
    /// Stack tags.
    pub tags: BTreeMap<String, String>,
    /// Capabilities to acknowledge.
    pub capabilities: Vec<Capability>,
}

/// One resource change of a change set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceChange {
    /// `Add`, `Modify`, `Remove` (or `Import`, `Dynamic`).
    pub action: String,
    /// The logical id.
    pub logical_id: String,
    /// The resource type.
    pub resource_type: String,
    /// For a modification: `True`, `Conditional` or `False` (whether the resource is replaced).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    /// The properties that change, when CloudFormation says.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<String>,
}

impl ResourceChange {
    /// Whether the change replaces the resource (a new physical resource, the old one deleted).
    pub fn replaces(&self) -> bool {
        matches!(self.replacement.as_deref(), Some("True" | "Conditional"))
    }
}

/// A change set ready to execute.
#[derive(Debug, Clone)]
pub struct ChangeSet {
    /// Its id (ARN).
    pub id: String,
    /// Its stack.
    pub stack: String,
    /// `CREATE` or `UPDATE`.
    pub kind: String,
    /// Its changes.
    pub changes: Vec<ResourceChange>,
}

/// The result of [`create`].
#[derive(Debug, Clone)]
pub enum Prepared {
    /// Nothing would change; the empty change set was deleted.
    NoChanges,
    /// A change set to preview and execute.
    Ready(ChangeSet),
}

fn aws<E, R>(operation: &'static str) -> impl FnOnce(aws_sdk_cloudformation::error::SdkError<E, R>) -> DeployError
where
    E: aws_sdk_cloudformation::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    move |e| DeployError::aws(operation, &e)
}

/// The stack's status, `None` when it does not exist.
pub async fn stack_status(client: &Client, stack: &str) -> Result<Option<StackStatus>, DeployError> {
    match client.describe_stacks().stack_name(stack).send().await {
        Ok(out) => Ok(out.stacks().first().and_then(|s| s.stack_status().cloned())),
        Err(e)
            if super::aws::has_code(&e, "ValidationError") && super::aws::error_text(&e).contains("does not exist") =>
        {
            Ok(None)
        }
        Err(e) => Err(DeployError::aws("cloudformation DescribeStacks", &e)),
    }
}

/// Creates a change set for the request and waits until it is computed.
pub async fn create(client: &Client, request: &Request) -> Result<Prepared, DeployError> {
    let status = stack_status(client, &request.stack).await?;
    let kind = match &status {
        None | Some(StackStatus::ReviewInProgress) => ChangeSetType::Create,
        Some(StackStatus::RollbackComplete) => {
            return Err(DeployError::Config(format!(
                "stack {} is in ROLLBACK_COMPLETE (its creation failed) and cannot be updated: run `orchgen destroy` for this stage, then deploy again",
                request.stack
            )));
        }
        Some(s) if s.as_str().ends_with("_IN_PROGRESS") => {
            return Err(DeployError::Config(format!(
                "stack {} is busy ({}); wait until it finishes",
                request.stack,
                s.as_str()
            )));
        }
        Some(_) => ChangeSetType::Update,
    };
    let name = format!("orchgen-{}", chrono_stamp());
    let mut call = client
        .create_change_set()
        .stack_name(&request.stack)
        .change_set_name(&name)
        .change_set_type(kind.clone())
        .template_url(&request.template_url)
        .description(format!("orchgen {}", env!("CARGO_PKG_VERSION")))
        .set_capabilities(Some(request.capabilities.clone()));
    for (key, value) in &request.parameters {
        call = call.parameters(Parameter::builder().parameter_key(key).parameter_value(value).build());
    }
    for (key, value) in &request.tags {
        call = call.tags(Tag::builder().key(key).value(value).build());
    }
    let created = call.send().await.map_err(aws("cloudformation CreateChangeSet"))?;
    let id = created.id().unwrap_or(&name).to_owned();
    let deadline = std::time::Instant::now() + CHANGE_SET_TIMEOUT;
    loop {
        let described = client
            .describe_change_set()
            .stack_name(&request.stack)
            .change_set_name(&id)
            .send()
            .await
            .map_err(aws("cloudformation DescribeChangeSet"))?;
        match described.status() {
            Some(ChangeSetStatus::CreateComplete) => {
                let changes = all_changes(client, &request.stack, &id, described).await?;
                let set = ChangeSet { id, stack: request.stack.clone(), kind: kind.as_str().to_owned(), changes };
                // CloudFormation fails an UPDATE change set without changes (below); an endpoint
                // that completes it instead gets the same answer: nothing to execute.
                if kind == ChangeSetType::Update && set.changes.is_empty() {
                    discard(client, &set).await?;
                    return Ok(Prepared::NoChanges);
                }
                return Ok(Prepared::Ready(set));
            }
            Some(ChangeSetStatus::Failed) => {
                let reason = described.status_reason().unwrap_or("no reason given").to_owned();
                let set =
                    ChangeSet { id, stack: request.stack.clone(), kind: kind.as_str().to_owned(), changes: Vec::new() };
                if reason.contains("didn't contain changes") || reason.contains("No updates are to be performed") {
                    discard(client, &set).await?;
                    return Ok(Prepared::NoChanges);
                }
                discard(client, &set).await?;
                return Err(DeployError::Aws {
                    operation: "cloudformation CreateChangeSet".to_owned(),
                    message: format!("the change set failed: {reason}"),
                });
            }
            _ if std::time::Instant::now() > deadline => {
                return Err(DeployError::Aws {
                    operation: "cloudformation DescribeChangeSet".to_owned(),
                    message: format!("change set {id} not ready after {} s", CHANGE_SET_TIMEOUT.as_secs()),
                });
            }
            _ => tokio::time::sleep(POLL).await,
        }
    }
}

/// A unique-enough, sortable change set suffix: seconds since the epoch.
fn chrono_stamp() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

async fn all_changes(
    client: &Client,
    stack: &str,
    id: &str,
    first: aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput,
) -> Result<Vec<ResourceChange>, DeployError> {
    let mut changes = Vec::new();
    let mut page = first;
    loop {
        for change in page.changes() {
            let Some(rc) = change.resource_change() else { continue };
            let mut properties: Vec<String> =
                rc.details().iter().filter_map(|d| d.target().and_then(|t| t.name()).map(str::to_owned)).collect();
            properties.sort();
            properties.dedup();
            changes.push(ResourceChange {
                action: rc.action().map(|a| a.as_str().to_owned()).unwrap_or_default(),
                logical_id: rc.logical_resource_id().unwrap_or_default().to_owned(),
                resource_type: rc.resource_type().unwrap_or_default().to_owned(),
                replacement: rc.replacement().map(|r| r.as_str().to_owned()),
                properties,
            });
        }
        let Some(token) = page.next_token().map(str::to_owned) else { break };
        page = client
            .describe_change_set()
            .stack_name(stack)
            .change_set_name(id)
            .next_token(token)
            .send()
            .await
            .map_err(aws("cloudformation DescribeChangeSet"))?;
    }
    changes.sort_by(|a, b| (order(&a.action), &a.logical_id).cmp(&(order(&b.action), &b.logical_id)));
    Ok(changes)
}

fn order(action: &str) -> u8 {
    match action {
        "Add" => 0,
        "Modify" => 1,
        "Remove" => 2,
        _ => 3,
    }
}

/// The readable preview of a change set: one line per resource (`+` add, `~` modify, `-` remove,
/// `!` replace), then a count.
pub fn preview(set: &ChangeSet) -> String {
    let mut text = format!("change set for stack {} ({}):\n", set.stack, set.kind);
    let width = set.changes.iter().map(|c| c.logical_id.len()).max().unwrap_or(0);
    for c in &set.changes {
        let (mark, verb) = match c.action.as_str() {
            "Add" => ("+", "add"),
            "Remove" => ("-", "remove"),
            "Modify" if c.replaces() => ("!", "REPLACE"),
            "Modify" => ("~", "modify"),
            _ => ("?", c.action.as_str()),
        };
        let mut line = format!("  {mark} {verb:<7} {:width$}  {}", c.logical_id, c.resource_type);
        if !c.properties.is_empty() {
            line.push_str(&format!("  [{}]", c.properties.join(", ")));
        }
        if c.replacement.as_deref() == Some("True") {
            line.push_str("  (replaced: a new resource, the old one deleted)");
        } else if c.replacement.as_deref() == Some("Conditional") {
            line.push_str("  (may be replaced)");
        }
        text.push_str(&line);
        text.push('\n');
    }
    let count = |action: &str| set.changes.iter().filter(|c| c.action == action).count();
    let replaced = set.changes.iter().filter(|c| c.action == "Modify" && c.replaces()).count();
    text.push_str(&format!(
        "{} changes: {} to add, {} to modify ({} replaced), {} to remove",
        set.changes.len(),
        count("Add"),
        count("Modify"),
        replaced,
        count("Remove")
    ));
    text
}

/// Executes the change set.
pub async fn execute(client: &Client, set: &ChangeSet) -> Result<(), DeployError> {
    client
        .execute_change_set()
        .stack_name(&set.stack)
        .change_set_name(&set.id)
        .send()
        .await
        .map_err(aws("cloudformation ExecuteChangeSet"))?;
    Ok(())
}

/// Deletes the change set; for a CREATE change set also the empty stack it left in
/// REVIEW_IN_PROGRESS.
pub async fn discard(client: &Client, set: &ChangeSet) -> Result<(), DeployError> {
    client
        .delete_change_set()
        .stack_name(&set.stack)
        .change_set_name(&set.id)
        .send()
        .await
        .map_err(aws("cloudformation DeleteChangeSet"))?;
    if set.kind == "CREATE" && stack_status(client, &set.stack).await? == Some(StackStatus::ReviewInProgress) {
        client.delete_stack().stack_name(&set.stack).send().await.map_err(aws("cloudformation DeleteStack"))?;
    }
    Ok(())
}

/// The stack's outputs, by key.
pub async fn outputs(client: &Client, stack: &str) -> Result<BTreeMap<String, String>, DeployError> {
    let out = client.describe_stacks().stack_name(stack).send().await.map_err(aws("cloudformation DescribeStacks"))?;
    Ok(out
        .stacks()
        .first()
        .map(|s| {
            s.outputs()
                .iter()
                .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value().unwrap_or_default().to_owned())))
                .collect()
        })
        .unwrap_or_default())
}

/// The physical id of the stack's resource `logical_id` (for an SQS queue: its URL), `None` when the
/// stack has no such resource.
pub async fn physical_id(client: &Client, stack: &str, logical_id: &str) -> Result<Option<String>, DeployError> {
    let out = client
        .describe_stack_resource()
        .stack_name(stack)
        .logical_resource_id(logical_id)
        .send()
        .await
        .map_err(aws("cloudformation DescribeStackResource"))?;
    Ok(out.stack_resource_detail().and_then(|d| d.physical_resource_id()).map(str::to_owned))
}

/// Whether the stack has termination protection.
pub async fn termination_protection(client: &Client, stack: &str) -> Result<bool, DeployError> {
    let out = client.describe_stacks().stack_name(stack).send().await.map_err(aws("cloudformation DescribeStacks"))?;
    Ok(out.stacks().first().and_then(|s| s.enable_termination_protection()).unwrap_or(false))
}

/// Turns termination protection on.
pub async fn protect(client: &Client, stack: &str) -> Result<(), DeployError> {
    client
        .update_termination_protection()
        .stack_name(stack)
        .enable_termination_protection(true)
        .send()
        .await
        .map_err(aws("cloudformation UpdateTerminationProtection"))?;
    Ok(())
}
