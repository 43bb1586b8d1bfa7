//! The `orchgen` command: parses arguments with clap and dispatches to the crates that do the work
//! (`orchgen-generator` for the language and what is generated from a plan, `orchgen-dev`,
//! `orchgen-deploy`, `orchgen-client`). It owns what every command shares: [`Format`], the default
//! pipeline path, and [`load_plan`] with the exit-code mapping. Exit codes: 0 success, 1 the
//! pipeline is invalid (or a command failed), 2 usage errors and unreadable files.

mod against;
mod deploy;
mod dev;
mod orders;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use orchgen_generator::graph::GraphFormat;
use orchgen_generator::source::ReadError;
use orchgen_generator::{check_file, scaffold, schema};
use orchgen_runtime::plan::Plan;

/// The pipeline read when no file is named.
pub const DEFAULT_PIPELINE: &str = scaffold::DEFAULT_PIPELINE;

/// orchgen: order-processing pipelines on AWS Lambda and DynamoDB, declared in one YAML file.
#[derive(Debug, Parser)]
#[command(name = "orchgen", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a pipeline file and report every problem with its location.
    Validate {
        /// The pipeline file.
        #[arg(default_value = DEFAULT_PIPELINE)]
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print the JSON Schema of pipeline files (for editors).
    Schema,
    /// Print the resolved plan: every default applied, the step and compensation order explicit.
    Plan {
        /// The pipeline file.
        #[arg(default_value = DEFAULT_PIPELINE)]
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Create a project in a directory: a pipeline file, its schema, editor settings, a
    /// `.gitignore` and a Cargo workspace for custom steps (`orchgen new step` adds them).
    Init {
        /// Where to create them.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Overwrite files that exist.
        #[arg(long)]
        force: bool,
    },
    /// Add to the project: `orchgen new step NAME` writes a custom Rust step.
    New {
        /// What to add.
        #[command(subcommand)]
        what: NewCommand,
    },
    /// Run the pipeline locally: the order API on 127.0.0.1 and the engine on an embedded store
    /// (or on a DynamoDB endpoint such as DynamoDB Local).
    ///
    /// A pipeline with `custom` steps runs in a dev host: orchgen writes a small Cargo project into
    /// `<data dir>/host/` that compiles your step crates with orchgen's dev server and runtime (the
    /// sources this orchgen was built with, its SDK) and registers each handler, builds it with cargo
    /// (the first build takes a few minutes; later starts rebuild only what you changed) and runs it
    /// in its place.
    Dev {
        /// The pipeline file.
        #[arg(default_value = DEFAULT_PIPELINE)]
        file: PathBuf,
        /// Port to listen on (0 picks a free one).
        #[arg(long, default_value_t = orchgen_dev::DEFAULT_PORT)]
        port: u16,
        /// Where the store lives (default `.orchgen/<pipeline name>`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Delete the data directory first.
        #[arg(long)]
        reset: bool,
        /// Log filter, e.g. `debug` or `orchgen_runtime=debug,info` (default: `RUST_LOG`, else `info`).
        #[arg(long)]
        log_level: Option<String>,
        /// Run on this DynamoDB-compatible endpoint (e.g. DynamoDB Local at http://127.0.0.1:8000)
        /// instead of the embedded store: missing tables are created from the plan and the orders
        /// stream drives the engine, as the event source mapping does on AWS.
        #[arg(long, value_name = "URL")]
        dynamodb_endpoint: Option<String>,
        /// Prefix of every table name (e.g. `dev-`), with --dynamodb-endpoint.
        #[arg(long, requires = "dynamodb_endpoint")]
        table_prefix: Option<String>,
    },
    /// Generate the deployable artefacts into `<out>/<pipeline>/`: the CloudFormation template, the
    /// Lambda glue workspace, the OpenAPI document and the JSON Schema.
    Build {
        /// The pipeline file.
        #[arg(default_value = DEFAULT_PIPELINE)]
        file: PathBuf,
        /// Output folder (the artefacts go to `<out>/<pipeline name>/`).
        #[arg(long, default_value = orchgen_generator::build::DEFAULT_OUT)]
        out: PathBuf,
        /// Write nothing; exit 1 with a diff when the files on disk are not what a build would write.
        #[arg(long)]
        check: bool,
    },
    /// Build, release-compile the Lambda glue and zip each function's `bootstrap` into
    /// `<out>/<pipeline>/dist/<function>.zip` (deterministic; prints each zip's size and SHA-256).
    Package {
        /// The pipeline file.
        #[arg(default_value = DEFAULT_PIPELINE)]
        file: PathBuf,
        /// Output folder (the artefacts go to `<out>/<pipeline name>/`).
        #[arg(long, default_value = orchgen_generator::build::DEFAULT_OUT)]
        out: PathBuf,
        /// Cargo's target folder for the glue (default: CARGO_TARGET_DIR, else `<out>/<pipeline>/glue/target`).
        #[arg(long)]
        target_dir: Option<PathBuf>,
    },
    /// Package, upload and deploy a stage through a CloudFormation change set (preview, confirm, follow).
    Deploy(deploy::DeployArgs),
    /// Delete a stage's stack (tables with DeletionPolicy Retain stay) and optionally its artefact bucket.
    Destroy(deploy::DestroyArgs),
    /// Re-process what reached a stage's dead-letter queue (failed stream batches), or `orchgen dev`'s
    /// dead letters with --local.
    Redrive(deploy::RedriveArgs),
    /// Talk to the order API of `orchgen dev` or a deployed stage: list, show and submit orders.
    Orders(orders::OrdersArgs),
    /// Draw the pipeline as a graph: its steps, compensations, failure edges and terminal states.
    Graph {
        /// The pipeline file.
        #[arg(default_value = DEFAULT_PIPELINE)]
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = GraphFormatArg::Mermaid)]
        format: GraphFormatArg,
        /// Write the graph to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Estimate the pipeline's monthly AWS cost, and that of the seed's design, Step Functions
    /// Standard and Express, and Lambda durable functions running the same steps, with a line per
    /// service and the cost per million orders. A pipeline with a `cost:` budget fails (exit 1) when
    /// orchgen's estimate at its declared volume is over it.
    Cost {
        /// The pipeline file.
        #[arg(default_value = DEFAULT_PIPELINE)]
        file: PathBuf,
        /// Orders a month (at least 1).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        orders_per_month: u64,
        /// `GET` listing requests a month (an operator's page; the seed's design scans the table for each).
        #[arg(long, default_value_t = orchgen_generator::cost::assumptions::DEFAULT_LIST_REQUESTS_PER_MONTH)]
        list_requests_per_month: u64,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Print what a change costs instead: orchgen's design of FILE against OTHER, line by line,
        /// and the total per million orders before → after. OTHER is another pipeline file, or a git
        /// revision of FILE (`HEAD`, `HEAD~1`, `main`), or `REV:PATH` for another path at a revision
        /// (PATH from the repository's top, as `git show` reads it).
        #[arg(long, value_name = "OTHER")]
        against: Option<String>,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// What `orchgen new` adds.
#[derive(Debug, Subcommand)]
pub enum NewCommand {
    /// A custom step: its crate in `steps/<name>/` of the project (the current folder) — depending
    /// on orchgen's runtime through the project's SDK (`.orchgen/sdk/`), with a documented handler
    /// and its unit tests — and its entry in the pipeline (printed to paste when it cannot be
    /// inserted).
    Step {
        /// The step's name (lowercase letters, digits and `-`); the crate is the name with `_`.
        name: String,
        /// The pipeline file to add the step to.
        #[arg(long, default_value = DEFAULT_PIPELINE)]
        pipeline: PathBuf,
        /// Put the step before this one (default: after the last step).
        #[arg(long, value_name = "STEP")]
        before: Option<String>,
    },
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For programs.
    Json,
}

/// Output formats of `orchgen graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormatArg {
    /// A Mermaid `flowchart TD` (renders on GitHub, GitLab and in most Markdown viewers).
    Mermaid,
    /// A Graphviz digraph (`dot -Tsvg`).
    Dot,
    /// A self-contained SVG image laid out by orchgen.
    Svg,
}

impl From<GraphFormatArg> for GraphFormat {
    fn from(format: GraphFormatArg) -> GraphFormat {
        match format {
            GraphFormatArg::Mermaid => GraphFormat::Mermaid,
            GraphFormatArg::Dot => GraphFormat::Dot,
            GraphFormatArg::Svg => GraphFormat::Svg,
        }
    }
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Not locked for the whole command: `orchgen dev` logs to stderr from other threads.
    let code = run(cli, &mut std::io::stdout(), &mut std::io::stderr());
    ExitCode::from(code)
}

/// Runs a parsed command, writing to `out` and `err`; returns the exit code.
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let result = match cli.command {
        Command::Validate { file, format } => validate(&file, format, out, err),
        Command::Plan { file, format } => plan(&file, format, out, err),
        Command::Schema => writeln!(out, "{}", schema::pipeline_schema_text().trim_end()).map(|_| 0),
        Command::Init { dir, force } => init(&dir, force, out, err),
        Command::New { what: NewCommand::Step { name, pipeline, before } } => {
            new_step(&name, &pipeline, before.as_deref(), out, err)
        }
        Command::Dev { file, port, data_dir, reset, log_level, dynamodb_endpoint, table_prefix } => dev::run(
            &file,
            orchgen_dev::DevOptions { port, data_dir, reset, log_level, dynamodb_endpoint, table_prefix },
            None,
            out,
            err,
        ),
        Command::Build { file, out: out_dir, check } => build(&file, &out_dir, check, out, err),
        Command::Package { file, out: out_dir, target_dir } => package(&file, &out_dir, target_dir, out, err),
        Command::Deploy(args) => deploy::deploy(args, out, err),
        Command::Destroy(args) => deploy::destroy(args, out, err),
        Command::Redrive(args) => deploy::redrive(args, out, err),
        Command::Orders(args) => orders::run(args, out, err),
        Command::Graph { file, format, out: out_file } => graph(&file, format.into(), out_file.as_deref(), out, err),
        Command::Cost { file, orders_per_month, list_requests_per_month, format, against } => {
            cost(&file, orders_per_month, list_requests_per_month, format, against.as_deref(), out, err)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "orchgen", out);
            Ok(0)
        }
    };
    result.unwrap_or_else(|e| {
        // Writing to a closed pipe is not worth a panic or a message.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            let _ = writeln!(err, "error: {e}");
        }
        1
    })
}

/// The width diagnostics are rendered to: `COLUMNS` when it is at least 40, else 100.
pub fn width() -> usize {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).filter(|w| *w >= 40).unwrap_or(100)
}

/// The plan of `file`, its warnings printed; or the exit code after printing why there is none
/// (2: unreadable, 1: invalid). Every command that reads a pipeline goes through here.
pub fn load_plan(file: &Path, err: &mut dyn Write) -> std::io::Result<Result<Plan, u8>> {
    let checked = match check_file(file) {
        Ok(c) => c,
        Err(e) => return read_error(&e, err).map(Err),
    };
    if checked.plan.is_none() || checked.report.warning_count() > 0 {
        write!(err, "{}", checked.report.render(width()))?;
    }
    Ok(checked.plan.ok_or(1))
}

/// The check of `file` with its cost budget enforced (an estimate over the pipeline's `cost:` budget
/// is an error, located at `cost:`), its problems printed; or the exit code after printing why it
/// could not be read (2 unreadable, 1 too large or not UTF-8). The plan is kept over budget: the
/// caller decides (`orchgen cost` still prints the estimate).
pub fn load_checked_within_budget(
    file: &Path,
    err: &mut dyn Write,
) -> std::io::Result<Result<orchgen_generator::Checked, u8>> {
    let mut checked = match check_file(file) {
        Ok(c) => c,
        Err(e) => return read_error(&e, err).map(Err),
    };
    checked.enforce_budget();
    if !checked.report.diagnostics().is_empty() {
        write!(err, "{}", checked.report.render(width()))?;
    }
    Ok(Ok(checked))
}

fn read_error(e: &ReadError, err: &mut dyn Write) -> std::io::Result<u8> {
    writeln!(err, "error: {e}")?;
    Ok(match e {
        ReadError::Io(..) => 2,
        ReadError::TooLarge(..) | ReadError::NotUtf8(..) => 1,
    })
}

fn validate(file: &Path, format: Format, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<u8> {
    let checked = match check_file(file) {
        Ok(c) => c,
        Err(e) => return read_error(&e, err),
    };
    let report = &checked.report;
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report.to_json()).unwrap_or_default())?,
        Format::Text if report.diagnostics().is_empty() => writeln!(out, "{}", report.summary())?,
        Format::Text => write!(err, "{}", report.render(width()))?,
    }
    Ok(if report.has_errors() { 1 } else { 0 })
}

fn cost(
    file: &Path,
    orders_per_month: u64,
    list_requests_per_month: u64,
    format: Format,
    against: Option<&str>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<u8> {
    let checked = match load_checked_within_budget(file, err)? {
        Ok(checked) => checked,
        Err(code) => return Ok(code),
    };
    let Some(plan) = checked.plan else { return Ok(1) };
    let estimate = match orchgen_generator::cost::estimate(&plan, orders_per_month, list_requests_per_month) {
        Ok(estimate) => estimate,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(1);
        }
    };
    let budget = checked.budget_check.as_ref();
    if let Some(other) = against {
        let over_budget = checked.report.has_errors();
        return cost_against(file, other, &estimate, budget, format, out, err)
            .map(|code| code.max(u8::from(over_budget)));
    }
    match format {
        Format::Json => {
            let mut value = serde_json::to_value(&estimate).unwrap_or_default();
            if let (Some(budget), Some(object)) = (budget, value.as_object_mut()) {
                object.insert("budget".to_owned(), serde_json::to_value(budget).unwrap_or_default());
            }
            writeln!(out, "{}", serde_json::to_string_pretty(&value).unwrap_or_default())?
        }
        Format::Text => {
            write!(out, "{}", orchgen_generator::cost::render::text(&estimate))?;
            if let Some(budget) = budget {
                writeln!(out, "{}", budget.summary())?;
            }
        }
    }
    // Over budget (or any other error, which leaves no plan): the located error is on stderr.
    Ok(if checked.report.has_errors() { 1 } else { 0 })
}

/// `orchgen cost FILE --against OTHER`: orchgen's design of OTHER and of FILE (`after`), compared.
fn cost_against(
    file: &Path,
    other: &str,
    after: &orchgen_generator::cost::Estimate,
    budget: Option<&orchgen_generator::cost::budget::BudgetCheck>,
    format: Format,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<u8> {
    let other = match against::load(file, other) {
        Ok(other) => other,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(1);
        }
    };
    let Some(plan) = other.checked.plan.as_ref() else {
        write!(err, "{}", other.checked.report.render(width()))?;
        writeln!(err, "error: the pipeline to compare against ({}) is invalid", other.source)?;
        return Ok(1);
    };
    let before = match orchgen_generator::cost::estimate(plan, after.orders_per_month, after.list_requests_per_month) {
        Ok(estimate) => estimate,
        Err(e) => {
            writeln!(err, "error: {}: {e}", other.source)?;
            return Ok(1);
        }
    };
    let diff = orchgen_generator::cost::diff::diff(&before, &other.source, after, &file.display().to_string());
    match format {
        Format::Json => {
            let mut value = serde_json::to_value(&diff).unwrap_or_default();
            if let (Some(budget), Some(object)) = (budget, value.as_object_mut()) {
                object.insert("budget".to_owned(), serde_json::to_value(budget).unwrap_or_default());
            }
            writeln!(out, "{}", serde_json::to_string_pretty(&value).unwrap_or_default())?
        }
        Format::Text => {
            write!(out, "{}", orchgen_generator::cost::diff::text(&diff))?;
            if let Some(budget) = budget {
                writeln!(out, "{}", budget.summary())?;
            }
        }
    }
    Ok(0)
}

fn plan(file: &Path, format: Format, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<u8> {
    let plan = match load_plan(file, err)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    match format {
        Format::Json => writeln!(out, "{}", plan.to_json())?,
        Format::Text => write!(out, "{}", orchgen_generator::plan_text::describe(&plan))?,
    }
    Ok(0)
}

fn graph(
    file: &Path,
    format: GraphFormat,
    out_file: Option<&Path>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<u8> {
    let plan = match load_plan(file, err)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let text = orchgen_generator::graph::render(&plan, format);
    match out_file {
        None => write!(out, "{text}")?,
        Some(path) => {
            if let Err(e) = std::fs::write(path, &text) {
                writeln!(err, "error: cannot write {}: {e}", path.display())?;
                return Ok(1);
            }
        }
    }
    Ok(0)
}

fn init(dir: &Path, force: bool, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<u8> {
    match scaffold::scaffold(dir, force) {
        Ok(written) => {
            for path in written {
                writeln!(out, "created {}", path.display())?;
            }
            writeln!(out, "next: orchgen validate {}", dir.join(DEFAULT_PIPELINE).display())?;
            Ok(0)
        }
        Err(e) => {
            writeln!(err, "error: {e}")?;
            Ok(1)
        }
    }
}

fn new_step(
    name: &str,
    pipeline: &Path,
    before: Option<&str>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<u8> {
    let created = match scaffold::step::new_step(Path::new("."), pipeline, name, before) {
        Ok(created) => created,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(1);
        }
    };
    for path in &created.written {
        writeln!(out, "created {}", path.display())?;
    }
    writeln!(
        out,
        "orchgen's runtime sources (its SDK) are in {}; the crate depends on them",
        orchgen_generator::sdk::SDK_DIR
    )?;
    if created.inserted {
        writeln!(out, "added the step `{name}` ({}) to {}:", created.function, pipeline.display())?;
        write!(out, "{}", created.entry)?;
    } else {
        writeln!(out, "add the step to the `steps:` of {} (where it should run):", pipeline.display())?;
        write!(out, "{}", created.entry)?;
        return Ok(0);
    }
    let manifest = created.crate_dir.join("Cargo.toml");
    writeln!(out, "next: cargo test --manifest-path {}", manifest.display())?;
    writeln!(out, "      orchgen dev {}", pipeline.display())?;
    // The pipeline as it is now: the new entry checked with the rest.
    match load_plan(pipeline, err)? {
        Ok(_) => Ok(0),
        Err(code) => Ok(code),
    }
}

fn build(file: &Path, out_dir: &Path, check: bool, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<u8> {
    // `--check` enforces the pipeline's cost budget; a build only warns (as `orchgen validate`).
    let loaded = if check {
        load_checked_within_budget(file, err)?
            .and_then(|c| if c.report.has_errors() { Err(1) } else { c.plan.ok_or(1) })
    } else {
        load_plan(file, err)?
    };
    let plan = match loaded {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let options = orchgen_generator::build::BuildOptions::new(file, out_dir);
    let dir = options.build_dir(&plan);
    let files = match orchgen_generator::build::artefacts(&plan, &options) {
        Ok(files) => files,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(1);
        }
    };
    if check {
        let stale = match orchgen_generator::build::check(&dir, &files) {
            Ok(stale) => stale,
            Err(e) => {
                writeln!(err, "error: {e}")?;
                return Ok(1);
            }
        };
        if stale.is_empty() {
            writeln!(out, "{} is up to date ({} files)", dir.display(), files.len())?;
            return Ok(0);
        }
        for s in &stale {
            match s {
                orchgen_generator::build::Stale::Missing { diff, .. }
                | orchgen_generator::build::Stale::Changed { diff, .. } => write!(out, "{diff}")?,
                orchgen_generator::build::Stale::Extra { path } => {
                    writeln!(out, "only on disk: {} (no longer generated)", path.display())?
                }
            }
        }
        let list: Vec<String> = stale.iter().map(|s| s.path().display().to_string()).collect();
        writeln!(
            err,
            "error: {} is stale: {} of {} files differ ({}); run `orchgen build {}`",
            dir.display(),
            stale.len(),
            files.len(),
            list.join(", "),
            file.display()
        )?;
        return Ok(1);
    }
    // The glue compiles against the SDK: written (when missing or stale) with the build.
    let written = orchgen_generator::build::write(&dir, &files)
        .and_then(|report| Ok((report, options.sdk(&plan)?)))
        .and_then(|(report, sdk)| Ok((report, sdk.ensure().map(|()| sdk)?)));
    match written {
        Ok((report, sdk)) => {
            writeln!(
                out,
                "built {}: {} written, {} unchanged, {} removed",
                dir.display(),
                report.written.len(),
                report.unchanged,
                report.removed.len()
            )?;
            writeln!(out, "the glue compiles against orchgen-runtime at {}", sdk.runtime_dir().display())?;
            Ok(0)
        }
        Err(e) => {
            writeln!(err, "error: {e}")?;
            Ok(1)
        }
    }
}

fn package(
    file: &Path,
    out_dir: &Path,
    target_dir: Option<PathBuf>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<u8> {
    let plan = match load_plan(file, err)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let options = orchgen_generator::package::PackageOptions {
        build: orchgen_generator::build::BuildOptions::new(file, out_dir),
        target_dir,
    };
    match orchgen_generator::package::package(&plan, &options) {
        Ok(artefacts) => {
            let total: u64 = artefacts.iter().map(|a| a.bytes).sum();
            for a in &artefacts {
                writeln!(out, "{}  {}  {} bytes  sha256:{}", a.function, a.zip.display(), a.bytes, a.sha256)?;
            }
            writeln!(out, "packaged {} functions of `{}` ({total} bytes)", artefacts.len(), plan.name)?;
            Ok(0)
        }
        Err(e) => {
            writeln!(err, "error: {e}")?;
            Ok(1)
        }
    }
}
