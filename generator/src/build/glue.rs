//! The per-function Lambda glue: a generated Cargo workspace with one small binary per function.
//!
//! The workspace (its own `[workspace]`, so it builds wherever it is written) holds one package,
//! `<pipeline>-glue`, with one binary per function of `orchgen_runtime::plan_functions::functions`: `api`,
//! `stream-processor`, `step-<step>` and `compensation-<compensation>`. Each `main` is a few lines
//! that read the plan at start-up (`orchgen_runtime::lambda::read_plan`: the workspace's `plan.json`,
//! which `orchgen package` zips next to each binary — it is not compiled in, so a pipeline edit that
//! changes no code leaves the binaries as they are) and hand it to the runtime's Lambda wiring
//! (`orchgen_runtime::lambda`); the package depends on the runtime crate by path, so the glue and the
//! runtime always match. A `custom` step's binary registers the user's `async fn` (named by the
//! step's `handler.function`, in the crate at `handler.crate`) through `orchgen_runtime::steps::FnStep`.
//!
//! Templates live in `templates/glue/`, are compiled in, and each is filled from one `Serialize`
//! context struct below (the templates read their fields). Output is deterministic: files in a
//! `BTreeMap`, functions in the plan's order, dependencies by name.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use orchgen_runtime::functions::{self as plan_functions, Function};
use orchgen_runtime::plan::{CompensationAction, HandlerPlan, Plan, StepAction};
use serde::Serialize;

/// Options of the generated glue workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlueOptions {
    /// The path dependency to the runtime crate, as written into the glue's Cargo.toml, relative to the glue
    /// workspace directory (e.g. "../../../runtime").
    pub runtime_path: String,
    /// The directory of the pipeline file, relative to the glue workspace directory (e.g. "../../../pipelines"):
    /// the crate paths of `custom` steps are relative to it.
    pub pipeline_dir: String,
    /// The package name of each custom handler crate (by library name) when it differs from the
    /// library name (`fraud-check` for `fraud_check`); read from the crates' manifests.
    pub packages: BTreeMap<String, String>,
}

/// Why the glue could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum GlueError {
    /// A custom handler's function is not a Rust path the glue can call.
    #[error("{owner}: the handler function `{function}` {reason}")]
    InvalidHandler {
        /// The step or compensation (`step \`fraud-score\``).
        owner: String,
        /// The function path the plan names.
        function: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two custom handlers name the same crate at different directories.
    #[error(
        "{second_owner}: the crate `{crate_name}` is at `{second_path}`, but {first_owner} has it at `{first_path}`: one crate name needs one directory"
    )]
    CrateConflict {
        /// The crate.
        crate_name: String,
        /// The first step or compensation naming it.
        first_owner: String,
        /// Its directory there.
        first_path: String,
        /// The step or compensation naming it elsewhere.
        second_owner: String,
        /// Its directory there.
        second_path: String,
    },
    /// An option cannot be used.
    #[error("glue option `{option}`: {reason}")]
    InvalidOption {
        /// The option.
        option: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A function the plan does not have a step or compensation for (a bug of orchgen).
    #[error("the glue has no step main for `{function}`: the plan has no such step or compensation")]
    UnknownFunction {
        /// The function.
        function: String,
    },
    /// A template failed to render (a bug of orchgen).
    #[error("glue template `{template}` failed to render: {message}")]
    Template {
        /// The template.
        template: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// The templates, compiled in, by name.
const CARGO_TOML: (&str, &str) = ("glue/Cargo.toml.tera", include_str!("../../../templates/glue/Cargo.toml.tera"));
const API_MAIN: (&str, &str) = ("glue/api.rs.tera", include_str!("../../../templates/glue/api.rs.tera"));
const STREAM_PROCESSOR_MAIN: (&str, &str) =
    ("glue/stream_processor.rs.tera", include_str!("../../../templates/glue/stream_processor.rs.tera"));
const STEP_MAIN: (&str, &str) = ("glue/step.rs.tera", include_str!("../../../templates/glue/step.rs.tera"));
const TEMPLATES: [(&str, &str); 4] = [CARGO_TOML, API_MAIN, STREAM_PROCESSOR_MAIN, STEP_MAIN];

/// The tokio requirement of the glue package (its `main`s use `#[tokio::main]`).
const TOKIO_REQUIREMENT: &str = "1.54";

/// Context of `Cargo.toml.tera`.
#[derive(Debug, Serialize)]
struct CargoContext {
    /// The pipeline's name.
    pipeline: String,
    /// The package name, `<pipeline>-glue`.
    package: String,
    /// The runtime's path, as a TOML string.
    runtime_path: String,
    /// The runtime's features, as TOML strings joined by `, `: `lambda`, and `aws-secrets` when
    /// the plan has `http` steps or compensations (their functions read SSM and Secrets Manager).
    features: String,
    /// The tokio version requirement, as a TOML string.
    tokio: String,
    /// One binary per function.
    bins: Vec<BinEntry>,
    /// The crates of custom handlers, by name.
    crates: Vec<CrateEntry>,
}

/// A `[[bin]]` of the glue package.
#[derive(Debug, Serialize)]
struct BinEntry {
    /// Binary name ([`Function::name`]).
    name: String,
    /// Its source, relative to the package, as a TOML string.
    path: String,
}

/// A dependency on a user's crate.
#[derive(Debug, Serialize)]
struct CrateEntry {
    /// The crate's name (the dependency key).
    name: String,
    /// Its package name, as a TOML string.
    package: String,
    /// Its directory relative to the glue workspace, as a TOML string.
    path: String,
}

/// Context of `api.rs.tera` and `stream_processor.rs.tera`.
#[derive(Debug, Serialize)]
struct FixedMainContext {
    /// The pipeline's name.
    pipeline: String,
}

/// Context of `step.rs.tera`.
#[derive(Debug, Serialize)]
struct StepMainContext {
    /// The pipeline's name.
    pipeline: String,
    /// What the binary runs, for its doc comment: "step `validate` (validate)".
    what: String,
    /// `step` or `compensation`: the `Function` constructor.
    constructor: &'static str,
    /// The step's or compensation's name, as a Rust string literal.
    name: String,
    /// The custom handler the binary registers, if any.
    handler: Option<HandlerEntry>,
    /// The runtime's `main`: `run_http_step` for an `http` step or compensation (its secrets from
    /// AWS), else `run_step` (whose binary then carries no SSM or Secrets Manager client).
    run: &'static str,
}

/// A custom handler to register.
#[derive(Debug, Serialize)]
struct HandlerEntry {
    /// The function path as a Rust string literal (the registry key).
    key: String,
    /// The function path as Rust code.
    path: String,
}

/// Every file of the glue workspace, keyed by path relative to the glue workspace root (deterministic output).
pub fn files(plan: &Plan, options: &GlueOptions) -> Result<BTreeMap<PathBuf, String>, GlueError> {
    if options.runtime_path.trim().is_empty() {
        return Err(GlueError::InvalidOption { option: "runtime_path", reason: "it is empty".to_owned() });
    }
    let tera = templates()?;
    let mut files = BTreeMap::new();
    let crates = crates(plan, &options.pipeline_dir)?;
    let mut bins = Vec::new();
    for function in plan_functions::functions(plan) {
        let name = function.name();
        let source = format!("src/bin/{name}.rs");
        let main = match &function {
            Function::Api => render(&tera, API_MAIN.0, &FixedMainContext { pipeline: plan.name.clone() })?,
            Function::StreamProcessor => {
                render(&tera, STREAM_PROCESSOR_MAIN.0, &FixedMainContext { pipeline: plan.name.clone() })?
            }
            Function::Step(_) | Function::Compensation(_) => {
                render(&tera, STEP_MAIN.0, &step_context(plan, &function)?)?
            }
        };
        files.insert(PathBuf::from(&source), main);
        bins.push(BinEntry { name, path: toml_string(&source) });
    }
    let cargo = CargoContext {
        pipeline: plan.name.clone(),
        package: format!("{}-glue", plan.name),
        runtime_path: toml_string(&options.runtime_path),
        features: runtime_features(plan).iter().map(|f| toml_string(f)).collect::<Vec<_>>().join(", "),
        tokio: toml_string(TOKIO_REQUIREMENT),
        bins,
        crates: crates
            .into_iter()
            .map(|(name, (path, _))| CrateEntry {
                package: toml_string(options.packages.get(&name).unwrap_or(&name)),
                name,
                path: toml_string(&path),
            })
            .collect(),
    };
    files.insert(PathBuf::from("Cargo.toml"), render(&tera, CARGO_TOML.0, &cargo)?);
    files.insert(PathBuf::from(orchgen_runtime::functions::PLAN_FILE), format!("{}\n", plan.to_json()));
    files.insert(PathBuf::from(".gitignore"), "/target\n".to_owned());
    Ok(files)
}

fn templates() -> Result<tera::Tera, GlueError> {
    let mut tera = tera::Tera::new();
    for (name, source) in TEMPLATES {
        tera.add_raw_template(name, source)
            .map_err(|e| GlueError::Template { template: name, message: e.to_string() })?;
    }
    Ok(tera)
}

fn render(tera: &tera::Tera, template: &'static str, context: &impl Serialize) -> Result<String, GlueError> {
    let failed = |e: tera::Error| GlueError::Template { template, message: e.to_string() };
    let context = tera::Context::from_serialize(context).map_err(failed)?;
    tera.render(template, &context).map_err(failed)
}

/// The runtime features the glue of `plan` needs.
fn runtime_features(plan: &Plan) -> Vec<&'static str> {
    let http = plan.steps.iter().any(|s| s.action.http().is_some())
        || plan.compensations.values().any(|c| c.action.http().is_some());
    if http { vec!["lambda", "aws-secrets"] } else { vec!["lambda"] }
}

/// The context of a step or compensation binary.
fn step_context(plan: &Plan, function: &Function) -> Result<StepMainContext, GlueError> {
    let (constructor, name, kind, handler, http) = match function {
        Function::Step(name) => {
            let step = plan.step(name).ok_or_else(|| GlueError::UnknownFunction { function: name.clone() })?;
            let handler = match &step.action {
                StepAction::Custom(h) => Some(h),
                _ => None,
            };
            ("step", name, step.action.kind(), handler, step.action.http().is_some())
        }
        Function::Compensation(name) => {
            let compensation =
                plan.compensations.get(name).ok_or_else(|| GlueError::UnknownFunction { function: name.clone() })?;
            let handler = match &compensation.action {
                CompensationAction::Custom(h) => Some(h),
                _ => None,
            };
            ("compensation", name, compensation.action.kind(), handler, compensation.action.http().is_some())
        }
        other => return Err(GlueError::UnknownFunction { function: other.name() }),
    };
    let owner = format!("{constructor} `{name}`");
    let handler = handler
        .map(|h| {
            check_handler(&owner, h)?;
            Ok(HandlerEntry { key: rust_string(&h.function), path: h.function.clone() })
        })
        .transpose()?;
    let what = match &handler {
        Some(h) => format!("{owner} ({kind}: `{}`)", h.path),
        None => format!("{owner} ({kind})"),
    };
    let run = if http { "run_http_step" } else { "run_step" };
    Ok(StepMainContext { pipeline: plan.name.clone(), what, constructor, name: rust_string(name), handler, run })
}

/// The crates of the plan's custom handlers: name → (directory relative to the glue, who named it).
fn crates(plan: &Plan, pipeline_dir: &str) -> Result<BTreeMap<String, (String, String)>, GlueError> {
    let mut crates: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (owner, handler) in crate::step_crate::handlers(plan) {
        check_handler(&owner, handler)?;
        let path = relative_crate_path(pipeline_dir, &handler.crate_path);
        match crates.get(&handler.crate_name) {
            Some((first_path, first_owner)) if *first_path != path => {
                return Err(GlueError::CrateConflict {
                    crate_name: handler.crate_name.clone(),
                    first_owner: first_owner.clone(),
                    first_path: first_path.clone(),
                    second_owner: owner,
                    second_path: path,
                });
            }
            Some(_) => {}
            None => {
                crates.insert(handler.crate_name.clone(), (path, owner));
            }
        }
    }
    Ok(crates)
}

/// Refuses a handler whose function is not `crate::path::function` with Rust identifiers, or whose
/// crate is not the path's first segment.
fn check_handler(owner: &str, handler: &HandlerPlan) -> Result<(), GlueError> {
    let invalid = |reason: String| GlueError::InvalidHandler {
        owner: owner.to_owned(),
        function: handler.function.clone(),
        reason,
    };
    let segments: Vec<&str> = handler.function.split("::").collect();
    if segments.len() < 2 {
        return Err(invalid("is not a path `crate_name::function`".to_owned()));
    }
    for segment in &segments {
        if !is_identifier(segment) {
            return Err(invalid(format!("has `{segment}`, which is not a Rust identifier")));
        }
    }
    if segments[0] != handler.crate_name {
        return Err(invalid(format!("does not start with its crate's name `{}`", handler.crate_name)));
    }
    if handler.crate_path.trim().is_empty() {
        return Err(invalid("has no crate directory".to_owned()));
    }
    Ok(())
}

/// A plain Rust identifier, not a keyword (`r#` forms are not accepted).
fn is_identifier(s: &str) -> bool {
    const KEYWORDS: [&str; 51] = [
        "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern", "false", "fn",
        "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self",
        "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where", "while", "abstract",
        "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "gen",
    ];
    let mut chars = s.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    starts_well && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && s != "_" && !KEYWORDS.contains(&s)
}

/// `crate_path` (relative to the pipeline's directory, or absolute) seen from the glue workspace:
/// `pipeline_dir/crate_path`, with `.` and inner `..` folded away, `/`-separated.
fn relative_crate_path(pipeline_dir: &str, crate_path: &str) -> String {
    let joined = Path::new(pipeline_dir).join(crate_path);
    let mut parts: Vec<String> = Vec::new();
    let mut absolute = false;
    for component in joined.components() {
        match component {
            Component::Prefix(p) => parts.push(p.as_os_str().to_string_lossy().into_owned()),
            Component::RootDir => absolute = true,
            Component::CurDir => {}
            Component::ParentDir => match parts.last() {
                Some(last) if last != ".." => {
                    parts.pop();
                }
                _ if absolute => {}
                _ => parts.push("..".to_owned()),
            },
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
        }
    }
    let path = parts.join("/");
    match (absolute, path.is_empty()) {
        (true, _) => format!("/{path}"),
        (false, true) => ".".to_owned(),
        (false, false) => path,
    }
}

/// A TOML basic string (JSON string escapes are valid TOML escapes).
fn toml_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// A Rust string literal.
fn rust_string(s: &str) -> String {
    format!("{s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_paths_are_seen_from_the_glue() {
        assert_eq!(
            relative_crate_path("../../../pipelines", "steps/fraud_check"),
            "../../../pipelines/steps/fraud_check"
        );
        assert_eq!(relative_crate_path("../../../pipelines", "../steps/x"), "../../../steps/x");
        assert_eq!(relative_crate_path("../a", "./b/../c"), "../a/c");
        assert_eq!(relative_crate_path("..", ".."), "../..");
        assert_eq!(relative_crate_path("../x", "/opt/crates/y"), "/opt/crates/y");
        assert_eq!(relative_crate_path("x", ".."), ".");
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("fraud_check"));
        assert!(is_identifier("_private"));
        assert!(!is_identifier("fn"));
        assert!(!is_identifier("_"));
        assert!(!is_identifier("9lives"));
        assert!(!is_identifier("a-b"));
        assert!(!is_identifier(""));
    }

    #[test]
    fn literals_escape() {
        assert_eq!(toml_string(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(rust_string("a\"b"), r#""a\"b""#);
    }
}
