//! `orchgen deploy`, `destroy` and `redrive`: a pipeline's stage on AWS through CloudFormation.
//!
//! `deploy` checks the credentials (STS), packages the functions (`orchgen_generator::package`), uploads the
//! zips and the template to the stage's artefact bucket ([`upload`]), creates a change set and
//! prints its preview ([`changeset`]), executes it after confirmation and follows the stack's
//! events ([`progress`]), then prints the outputs. `destroy` ([`destroy`]) deletes the stack;
//! `redrive` ([`redrive`]) re-processes what reached the dead-letter queue.
//!
//! Names: the stack is `<pipeline>-<stage>`; the artefact bucket `orchgen-<account>-<region>-<stage>`.
//! A stage is *production* when it is named `prod` or `production` (the pipeline language has no
//! field for it): its stack gets termination protection.

pub mod aws;
pub mod changeset;
pub mod destroy;
pub mod progress;
pub mod redrive;
pub mod upload;

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use orchgen_runtime::lambda::Function;
use orchgen_runtime::plan::Plan;
use serde::Serialize;

pub use aws::{AwsOptions, Clients};

/// Stage names that mark a production stage (termination protection on).
pub const PRODUCTION_STAGES: [&str; 2] = ["prod", "production"];

/// Why a deploy, destroy or redrive failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// Bad input or configuration (stage name, region, endpoint).
    #[error("{0}")]
    Config(String),
    /// An AWS call failed.
    #[error("{operation}: {message}")]
    Aws {
        /// The call, e.g. `cloudformation CreateChangeSet`.
        operation: String,
        /// What AWS (or the connection) said.
        message: String,
    },
    /// Packaging the functions failed.
    #[error(transparent)]
    Package(#[from] orchgen_generator::package::PackageError),
    /// Building the template failed.
    #[error(transparent)]
    Build(#[from] orchgen_generator::build::BuildError),
    /// A local file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The user declined, or no terminal could be asked.
    #[error("{0}")]
    NotConfirmed(String),
    /// The stack operation ended in failure (the failing resources were printed).
    #[error("stack {stack} ended in {status}{}", failures_text(.failures))]
    StackFailed {
        /// The stack.
        stack: String,
        /// Its final status.
        status: String,
        /// The failed resources with their reasons.
        failures: Vec<progress::ResourceFailure>,
    },
}

fn failures_text(failures: &[progress::ResourceFailure]) -> String {
    if failures.is_empty() {
        return String::new();
    }
    let lines: Vec<String> = failures
        .iter()
        .map(|f| format!("\n  {} ({}): {} — {}", f.logical_id, f.resource_type, f.status, f.reason))
        .collect();
    format!("; failed resources:{}", lines.join(""))
}

impl DeployError {
    /// An SDK error of `operation`, with AWS's code and message (or the connection's cause).
    pub fn aws<E, R>(operation: &str, error: &aws_sdk_cloudformation::error::SdkError<E, R>) -> DeployError
    where
        E: aws_sdk_cloudformation::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        DeployError::Aws { operation: operation.to_owned(), message: aws::error_text(error) }
    }
}

/// Checks a stage name against the template's `Stage` pattern (`^[a-z][a-z0-9]{0,9}$`).
pub fn check_stage(stage: &str) -> Result<(), DeployError> {
    let mut chars = stage.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && stage.len() <= orchgen_generator::build::names::MAX_STAGE_CHARS;
    if ok {
        Ok(())
    } else {
        Err(DeployError::Config(format!(
            "stage `{stage}` is not valid: a lowercase letter, then up to {} lowercase letters or digits (pattern {})",
            orchgen_generator::build::names::MAX_STAGE_CHARS - 1,
            orchgen_generator::build::names::STAGE_PATTERN
        )))
    }
}

/// Whether `stage` is a production stage ([`PRODUCTION_STAGES`]).
pub fn is_production(stage: &str) -> bool {
    PRODUCTION_STAGES.contains(&stage)
}

/// The CloudFormation stack of a pipeline's stage: `<pipeline>-<stage>`.
pub fn stack_name(plan: &Plan, stage: &str) -> String {
    format!("{}-{stage}", plan.name)
}

/// What `orchgen deploy` does.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// The stage (`Stage` parameter, table and function name prefix).
    pub stage: String,
    /// Where to talk to AWS.
    pub aws: AwsOptions,
    /// Execute without asking.
    pub yes: bool,
    /// Stop after the preview (the change set is deleted).
    pub dry_run: bool,
    /// The `LogLevel` parameter.
    pub log_level: String,
    /// Whether the command prints one JSON document instead of text.
    pub json: bool,
}

/// One packaged function to upload: its zip and content hash, and the S3 key it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeObject {
    /// The function.
    pub function: Function,
    /// The zip on disk.
    pub zip: PathBuf,
    /// Its SHA-256 (lower-case hex).
    pub sha256: String,
    /// Its key in the artefact bucket.
    pub key: String,
}

/// The outcome of a deploy: printed as text, or as JSON with `--format json`.
#[derive(Debug, Clone, Serialize)]
pub struct DeployReport {
    /// The stack.
    pub stack: String,
    /// The stage.
    pub stage: String,
    /// The region.
    pub region: String,
    /// The artefact bucket.
    pub bucket: String,
    /// `CREATE_COMPLETE`, `UPDATE_COMPLETE`, `NO_CHANGES` or `DRY_RUN`.
    pub status: String,
    /// The change set's changes (empty when there were none).
    pub changes: Vec<changeset::ResourceChange>,
    /// Objects uploaded (keys).
    pub uploaded: Vec<String>,
    /// Objects already in the bucket (keys).
    pub unchanged: Vec<String>,
    /// The stack's outputs.
    pub outputs: BTreeMap<String, String>,
    /// Whether termination protection is on (production stages).
    pub termination_protection: bool,
}

/// Writes progress lines for people: to stderr, or nowhere when the command prints JSON.
pub struct Log<'a> {
    err: &'a mut dyn Write,
    quiet: bool,
}

impl<'a> Log<'a> {
    /// A log on `err`, silent when `quiet`.
    pub fn new(err: &'a mut dyn Write, quiet: bool) -> Log<'a> {
        Log { err, quiet }
    }

    /// Writes one line.
    pub fn line(&mut self, text: impl std::fmt::Display) {
        if !self.quiet {
            let _ = writeln!(self.err, "{text}");
        }
    }

    /// Whether lines are written.
    pub fn quiet(&self) -> bool {
        self.quiet
    }
}

/// Reads the template `orchgen build` wrote (the build must be current: `deploy` builds first).
fn template_text(plan: &Plan, build: &orchgen_generator::build::BuildOptions) -> Result<String, DeployError> {
    let files = orchgen_generator::build::artefacts(plan, build)?;
    files
        .get(std::path::Path::new(orchgen_generator::build::TEMPLATE_FILE))
        .cloned()
        .ok_or_else(|| DeployError::Config("the build produced no template".to_owned()))
}

/// The capabilities the template needs: `CAPABILITY_IAM` for IAM resources, `CAPABILITY_NAMED_IAM`
/// when one of them carries an explicit name.
pub fn capabilities(template: &serde_json::Value) -> Vec<aws_sdk_cloudformation::types::Capability> {
    use aws_sdk_cloudformation::types::Capability;
    let resources = template.get("Resources").and_then(|r| r.as_object());
    let iam: Vec<&serde_json::Value> = resources
        .map(|r| {
            r.values()
                .filter(|v| v.get("Type").and_then(|t| t.as_str()).is_some_and(|t| t.starts_with("AWS::IAM::")))
                .collect()
        })
        .unwrap_or_default();
    let named = iam.iter().any(|r| {
        r.get("Properties").and_then(|p| p.as_object()).is_some_and(|p| {
            ["RoleName", "UserName", "GroupName", "ManagedPolicyName", "InstanceProfileName"]
                .iter()
                .any(|k| p.contains_key(*k))
        })
    });
    match (iam.is_empty(), named) {
        (true, _) => Vec::new(),
        (false, false) => vec![Capability::CapabilityIam],
        (false, true) => vec![Capability::CapabilityNamedIam],
    }
}

/// Asks on the terminal whether to execute; refuses when stdin is not a terminal.
fn confirm(question: &str) -> Result<(), DeployError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(DeployError::NotConfirmed(
            "not executing: standard input is not a terminal, so nobody can confirm; pass --yes (or --dry-run to only preview)"
                .to_owned(),
        ));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer).map_err(|source| DeployError::Io { path: "<stdin>".into(), source })?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(DeployError::NotConfirmed("not executing: declined".to_owned()))
    }
}

/// Connects and checks the credentials: the clients and the account id.
pub async fn connect(aws: &AwsOptions) -> Result<(Clients, String), DeployError> {
    let clients = Clients::load(aws).await?;
    let account = clients.account_id().await.map_err(|e| match e {
        DeployError::Aws { operation, message } => DeployError::Aws {
            operation,
            message: format!(
                "{message} (cannot reach AWS{} or the credentials are not valid)",
                clients.endpoint_url.as_deref().map(|u| format!(" at {u}")).unwrap_or_default()
            ),
        },
        other => other,
    })?;
    Ok((clients, account))
}

/// Deploys `plan` to the stage: uploads `code` and the template, creates and previews a change set,
/// executes it (after `--yes` or a confirmation) and follows it to the end. `package` is called once
/// the credentials are proven, to build the code objects.
pub async fn deploy(
    plan: &Plan,
    build: &orchgen_generator::build::BuildOptions,
    options: &DeployOptions,
    package: impl FnOnce() -> Result<Vec<CodeObject>, DeployError>,
    log: &mut Log<'_>,
) -> Result<DeployReport, DeployError> {
    check_stage(&options.stage)?;
    let secrets = secret_parameters(plan)?;
    let (clients, account) = connect(&options.aws).await?;
    let stack = stack_name(plan, &options.stage);
    log.line(format!(
        "deploying {} to stage {} (account {account}, region {})",
        plan.name, options.stage, clients.region
    ));
    let code = package()?;
    let template = template_text(plan, build)?;
    let template_json: serde_json::Value = serde_json::from_str(&template)
        .map_err(|e| DeployError::Config(format!("the built template is not JSON: {e}")))?;

    let bucket = upload::bucket_name(&account, &clients.region, &options.stage);
    if upload::ensure_bucket(&clients, &bucket).await? {
        log.line(format!("created artefact bucket {bucket} (versioned, encrypted, public access blocked)"));
    }
    let mut uploads = upload::upload_code(&clients, &bucket, &code, log).await?;
    let template_url = upload::upload_template(&clients, &bucket, plan, &template, &mut uploads).await?;

    let mut parameters = BTreeMap::new();
    parameters.insert("Stage".to_owned(), options.stage.clone());
    parameters.insert("LogLevel".to_owned(), options.log_level.clone());
    parameters.insert("ArtifactBucket".to_owned(), bucket.clone());
    for object in &code {
        parameters.insert(orchgen_generator::build::names::code_key_parameter(&object.function), object.key.clone());
    }
    parameters.extend(secrets);
    let mut tags = BTreeMap::new();
    tags.insert("orchgen:pipeline".to_owned(), plan.name.clone());
    tags.insert("orchgen:stage".to_owned(), options.stage.clone());
    tags.insert("orchgen".to_owned(), env!("CARGO_PKG_VERSION").to_owned());

    let request = changeset::Request {
        stack: stack.clone(),
        template_url,
        parameters,
        tags,
        capabilities: capabilities(&template_json),
    };
    let mut report = DeployReport {
        stack: stack.clone(),
        stage: options.stage.clone(),
        region: clients.region.clone(),
        bucket,
        status: String::new(),
        changes: Vec::new(),
        uploaded: uploads.uploaded,
        unchanged: uploads.unchanged,
        outputs: BTreeMap::new(),
        termination_protection: false,
    };
    let prepared = changeset::create(&clients.cloudformation, &request).await?;
    let set = match prepared {
        changeset::Prepared::NoChanges => {
            log.line(format!("no changes: stack {stack} is up to date"));
            report.status = "NO_CHANGES".to_owned();
            report.outputs = changeset::outputs(&clients.cloudformation, &stack).await?;
            report.termination_protection = changeset::termination_protection(&clients.cloudformation, &stack).await?;
            return Ok(report);
        }
        changeset::Prepared::Ready(set) => set,
    };
    report.changes = set.changes.clone();
    log.line(changeset::preview(&set));
    if options.dry_run {
        changeset::discard(&clients.cloudformation, &set).await?;
        log.line("dry run: the change set was deleted, nothing was executed");
        report.status = "DRY_RUN".to_owned();
        return Ok(report);
    }
    if !options.yes
        && let Err(e) = confirm(&format!("execute these {} changes on {stack}?", set.changes.len()))
    {
        changeset::discard(&clients.cloudformation, &set).await?;
        return Err(e);
    }
    let started = std::time::SystemTime::now();
    changeset::execute(&clients.cloudformation, &set).await?;
    let outcome = progress::follow(&clients.cloudformation, &stack, set.changes.len(), started, log).await?;
    if !outcome.succeeded {
        return Err(DeployError::StackFailed { stack, status: outcome.status, failures: outcome.failures });
    }
    report.status = outcome.status;
    if is_production(&options.stage) {
        changeset::protect(&clients.cloudformation, &stack).await?;
        log.line(format!("termination protection enabled on {stack} (production stage)"));
    }
    report.termination_protection = changeset::termination_protection(&clients.cloudformation, &stack).await?;
    report.outputs = changeset::outputs(&clients.cloudformation, &stack).await?;
    Ok(report)
}

impl std::fmt::Display for DeployReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "stack {} ({}, {}): {}", self.stack, self.stage, self.region, self.status)?;
        writeln!(
            f,
            "artefacts in s3://{}: {} uploaded, {} unchanged",
            self.bucket,
            self.uploaded.len(),
            self.unchanged.len()
        )?;
        if self.termination_protection {
            writeln!(f, "termination protection: on")?;
        }
        if !self.outputs.is_empty() {
            writeln!(f, "outputs:")?;
            let width = self.outputs.keys().map(String::len).max().unwrap_or(0);
            for (key, value) in &self.outputs {
                writeln!(f, "  {key:width$}  {value}")?;
            }
        }
        Ok(())
    }
}

/// The NoEcho parameters carrying the secrets the `http` steps read (`${env:NAME}`), each from the
/// variable of the same name in this process's environment. Checked before anything is uploaded.
fn secret_parameters(plan: &Plan) -> Result<BTreeMap<String, String>, DeployError> {
    let names = plan.secret_env();
    let missing: Vec<&String> = names.iter().filter(|n| std::env::var_os(n).is_none_or(|v| v.is_empty())).collect();
    if !missing.is_empty() {
        let list = missing.iter().map(|n| format!("${n}")).collect::<Vec<_>>().join(", ");
        return Err(DeployError::Config(format!(
            "the pipeline's http steps read the secrets {list} from the environment, which does not set them: \
             export them before `orchgen deploy` (they are passed as NoEcho stack parameters and never printed)"
        )));
    }
    Ok(names
        .into_iter()
        .filter_map(|n| {
            let value = std::env::var(&n).ok()?;
            Some((orchgen_generator::build::names::secret_parameter(&n), value))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(yaml: &str) -> Plan {
        let checked = orchgen_generator::check_source(orchgen_generator::source::SourceFile::new("p.yaml", yaml));
        checked.plan.unwrap_or_else(|| panic!("valid:\n{}", checked.report.render(100)))
    }

    #[test]
    fn secrets_come_from_the_environment_and_a_missing_one_stops_the_deploy() {
        let plan = plan(
            "name: shop\nsteps:\n  - name: validate\n    kind: validate\n  - name: crm\n    kind: http\n    \
             url: https://crm.example.com/orders\n    headers:\n      Authorization: Bearer ${env:DEPLOY_TEST_CRM_TOKEN}\n    \
             signing: { secret: '${env:DEPLOY_TEST_CRM_KEY}' }\n",
        );
        // SAFETY: only this test reads or writes these variables.
        unsafe { std::env::set_var("DEPLOY_TEST_CRM_TOKEN", "tok_live") };
        let error = secret_parameters(&plan).expect_err("DEPLOY_TEST_CRM_KEY is not set").to_string();
        assert!(error.contains("$DEPLOY_TEST_CRM_KEY") && !error.contains("$DEPLOY_TEST_CRM_TOKEN"), "{error}");
        assert!(!error.contains("tok_live"), "no value in errors: {error}");

        unsafe { std::env::set_var("DEPLOY_TEST_CRM_KEY", "whsec_live") };
        let parameters = secret_parameters(&plan).expect("both set");
        assert_eq!(
            parameters.into_iter().collect::<Vec<_>>(),
            [
                ("SecretDeployTestCrmKey".to_owned(), "whsec_live".to_owned()),
                ("SecretDeployTestCrmToken".to_owned(), "tok_live".to_owned())
            ]
        );
    }
}
