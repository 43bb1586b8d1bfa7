//! The `deploy`, `destroy` and `redrive` subcommands: their arguments (clap) and the glue from the
//! command line to [`orchgen_deploy::deploy`], [`orchgen_deploy::destroy::destroy`] and
//! [`orchgen_deploy::redrive::redrive`].
//! Exit codes: 0 success (also "no changes" and `--dry-run`), 1 failure, 2 unreadable file.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use orchgen_deploy::redrive::StepsMode;
use orchgen_deploy::{AwsOptions, CodeObject, DeployError, Log};

use crate::{DEFAULT_PIPELINE, Format, load_plan};

/// Where and as whom: the standard AWS settings, overridable per command.
#[derive(Debug, Clone, Args)]
pub struct AwsArgs {
    /// The stage: prefixes every resource name (a lowercase letter, then up to 9 lowercase letters or
    /// digits). `prod` and `production` are production stages (termination protection).
    #[arg(long, value_name = "NAME")]
    pub stage: String,
    /// AWS region (default: AWS_REGION, else the profile's region).
    #[arg(long, value_name = "R")]
    pub region: Option<String>,
    /// Named profile of the shared AWS config files (default: AWS_PROFILE, else `default`).
    #[arg(long, value_name = "P")]
    pub profile: Option<String>,
    /// One endpoint for every AWS service (default: AWS_ENDPOINT_URL), e.g. a moto server.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

impl AwsArgs {
    fn options(&self) -> AwsOptions {
        AwsOptions {
            region: self.region.clone(),
            profile: self.profile.clone(),
            endpoint_url: self.endpoint_url.clone(),
        }
    }
}

/// Where redrive runs the steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StepsArg {
    /// In this process, with the runtime's built-in handlers (no custom steps).
    Local,
    /// In the stage's deployed step functions (Lambda Invoke), as the stream processor does.
    Lambda,
}

impl From<StepsArg> for StepsMode {
    fn from(steps: StepsArg) -> StepsMode {
        match steps {
            StepsArg::Local => StepsMode::Local,
            StepsArg::Lambda => StepsMode::Lambda,
        }
    }
}

/// `orchgen deploy`.
#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    /// The pipeline file.
    #[arg(default_value = DEFAULT_PIPELINE)]
    pub file: PathBuf,
    /// Stage, region, profile, endpoint, format.
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Execute the change set without asking (required when standard input is not a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Stop after the preview; the change set is deleted.
    #[arg(long, conflicts_with = "yes")]
    pub dry_run: bool,
    /// The functions' log level (`LogLevel` parameter).
    #[arg(long, default_value = "info", value_parser = ["error", "warn", "info", "debug", "trace"])]
    pub log_level: String,
    /// Output folder of the build (the artefacts go to `<out>/<pipeline name>/`).
    #[arg(long, default_value = orchgen_generator::build::DEFAULT_OUT)]
    pub out: PathBuf,
    /// Cargo's target folder for the glue (default: CARGO_TARGET_DIR, else `<out>/<pipeline>/glue/target`).
    #[arg(long)]
    pub target_dir: Option<PathBuf>,
}

/// `orchgen destroy`.
#[derive(Debug, Clone, Args)]
pub struct DestroyArgs {
    /// The pipeline file.
    #[arg(default_value = DEFAULT_PIPELINE)]
    pub file: PathBuf,
    /// Stage, region, profile, endpoint, format.
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Also delete every object version of the stage's artefact bucket, and the bucket.
    #[arg(long)]
    pub empty_bucket: bool,
    /// Delete without asking (required when standard input is not a terminal).
    #[arg(long)]
    pub yes: bool,
}

/// `orchgen redrive`: a deployed stage's dead-letter queue (`--stage`), or `orchgen dev`'s
/// dead-letter file (`--local`). The AWS settings are [`AwsArgs`]' with the stage optional.
#[derive(Debug, Clone, Args)]
pub struct RedriveArgs {
    /// The pipeline file.
    #[arg(default_value = DEFAULT_PIPELINE)]
    pub file: PathBuf,
    /// The stage: prefixes every resource name (a lowercase letter, then up to 9 lowercase letters or
    /// digits). `prod` and `production` are production stages (termination protection).
    #[arg(long, value_name = "NAME", required_unless_present = "local")]
    pub stage: Option<String>,
    /// AWS region (default: AWS_REGION, else the profile's region).
    #[arg(long, value_name = "R", conflicts_with = "local")]
    pub region: Option<String>,
    /// Named profile of the shared AWS config files (default: AWS_PROFILE, else `default`).
    #[arg(long, value_name = "P", conflicts_with = "local")]
    pub profile: Option<String>,
    /// One endpoint for every AWS service (default: AWS_ENDPOINT_URL), e.g. a moto server.
    #[arg(long, value_name = "URL", conflicts_with = "local")]
    pub endpoint_url: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Where the steps run: `lambda` invokes the stage's deployed step functions (as the stream
    /// processor does); `local` runs the built-in handlers in this process.
    #[arg(long, value_enum, default_value_t = StepsArg::Lambda, conflicts_with = "local")]
    pub steps: StepsArg,
    /// When a batch's records are past the stream's 24 h retention, re-drive every open order from
    /// its current state instead of keeping the message.
    #[arg(long)]
    pub from_current_state: bool,
    /// Handle at most this many messages (dead letters with --local).
    #[arg(long, default_value_t = 1000)]
    pub max_messages: usize,
    /// Re-drive `orchgen dev`'s dead letters (`<data dir>/dead-letters.jsonl`) instead of a stage's
    /// queue: each letter's orders move on from their current state in the store `orchgen dev`
    /// uses, with its step handlers (custom steps in its dev host), and handled letters leave the
    /// file. The orders' next steps run in `orchgen dev`.
    #[arg(long, conflicts_with = "stage")]
    pub local: bool,
    /// The data directory `orchgen dev` uses (default `.orchgen/<pipeline name>`), with --local.
    #[arg(long, conflicts_with = "stage")]
    pub data_dir: Option<PathBuf>,
    /// The DynamoDB-compatible endpoint `orchgen dev` runs on (its --dynamodb-endpoint), with --local.
    #[arg(long, value_name = "URL", conflicts_with = "stage")]
    pub dynamodb_endpoint: Option<String>,
    /// Prefix of every table name (`orchgen dev`'s --table-prefix), with --dynamodb-endpoint.
    #[arg(long, requires = "dynamodb_endpoint")]
    pub table_prefix: Option<String>,
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
}

/// Prints the result: the report (text or JSON) on `out`, or the error on `err` (and, with JSON,
/// an `{"error": …}` document on `out`).
fn finish<T: serde::Serialize + std::fmt::Display>(
    result: Result<T, DeployError>,
    format: Format,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<u8> {
    match result {
        Ok(report) => {
            match format {
                Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report).unwrap_or_default())?,
                Format::Text => write!(out, "{report}")?,
            }
            Ok(0)
        }
        Err(e) => {
            writeln!(err, "error: {e}")?;
            if format == Format::Json {
                let mut doc = serde_json::json!({ "error": e.to_string() });
                if let DeployError::StackFailed { status, failures, .. } = &e {
                    doc["status"] = serde_json::json!(status);
                    doc["failures"] = serde_json::to_value(failures).unwrap_or_default();
                }
                writeln!(out, "{}", serde_json::to_string_pretty(&doc).unwrap_or_default())?;
            }
            Ok(1)
        }
    }
}

/// Runs `orchgen deploy`.
pub fn deploy(args: DeployArgs, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<u8> {
    let plan = match load_plan(&args.file, err)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let package_options = orchgen_generator::package::PackageOptions {
        build: orchgen_generator::build::BuildOptions::new(&args.file, &args.out),
        target_dir: args.target_dir.clone(),
    };
    let options = orchgen_deploy::DeployOptions {
        stage: args.aws.stage.clone(),
        aws: args.aws.options(),
        yes: args.yes,
        dry_run: args.dry_run,
        log_level: args.log_level.clone(),
        json: args.aws.format == Format::Json,
    };
    // Called once per deploy: the error's size does not matter.
    #[allow(clippy::result_large_err)]
    let package = || -> Result<Vec<CodeObject>, DeployError> {
        let artefacts = orchgen_generator::package::package(&plan, &package_options)?;
        Ok(artefacts
            .iter()
            .map(|a| CodeObject {
                function: a.function.clone(),
                zip: a.zip.clone(),
                sha256: a.sha256.clone(),
                key: orchgen_generator::package::s3_key(&plan, a),
            })
            .collect())
    };
    let result = {
        let mut log = Log::new(err, options.json);
        runtime()?.block_on(orchgen_deploy::deploy(&plan, &package_options.build, &options, package, &mut log))
    };
    finish(result, args.aws.format, out, err)
}

/// Runs `orchgen destroy`.
pub fn destroy(args: DestroyArgs, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<u8> {
    let plan = match load_plan(&args.file, err)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let options = orchgen_deploy::destroy::DestroyOptions {
        stage: args.aws.stage.clone(),
        aws: args.aws.options(),
        empty_bucket: args.empty_bucket,
        yes: args.yes,
    };
    let result = {
        let mut log = Log::new(err, args.aws.format == Format::Json);
        runtime()?.block_on(orchgen_deploy::destroy::destroy(&plan, &options, &mut log))
    };
    finish(result, args.aws.format, out, err)
}

/// Runs `orchgen redrive`.
pub fn redrive(args: RedriveArgs, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<u8> {
    if args.local {
        return redrive_local(args, out, err);
    }
    let Some(stage) = args.stage.clone() else {
        // clap asks for --stage unless --local is given.
        writeln!(err, "error: orchgen redrive needs --stage NAME (a deployed stage) or --local (orchgen dev)")?;
        return Ok(2);
    };
    let plan = match load_plan(&args.file, err)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let options = orchgen_deploy::redrive::RedriveOptions {
        stage,
        aws: AwsOptions {
            region: args.region.clone(),
            profile: args.profile.clone(),
            endpoint_url: args.endpoint_url.clone(),
        },
        steps: args.steps.into(),
        from_current_state: args.from_current_state,
        max_messages: args.max_messages,
    };
    let result = {
        let mut log = Log::new(err, args.format == Format::Json);
        runtime()?.block_on(orchgen_deploy::redrive::redrive(&plan, &options, &mut log))
    };
    let kept = matches!(&result, Ok(r) if !r.kept.is_empty());
    let code = finish(result, args.format, out, err)?;
    Ok(if kept { 1 } else { code })
}

/// Runs `orchgen redrive --local`: `orchgen dev`'s dead letters, through `orchgen-dev` (in the
/// pipeline's dev host when it has custom steps).
fn redrive_local(args: RedriveArgs, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<u8> {
    let options = orchgen_dev::DevOptions {
        data_dir: args.data_dir,
        dynamodb_endpoint: args.dynamodb_endpoint,
        table_prefix: args.table_prefix,
        ..orchgen_dev::DevOptions::default()
    };
    let redrive = orchgen_dev::LocalRedrive {
        from_current_state: args.from_current_state,
        max_letters: args.max_messages,
        json: args.format == Format::Json,
    };
    crate::dev::run(&args.file, options, Some(redrive), out, err)
}
