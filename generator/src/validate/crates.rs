//! The crates of `custom` handlers, checked on disk before anything compiles: the folder exists
//! (resolved against the pipeline file's folder, and shown so), holds a Cargo.toml whose library
//! is the function path's first segment, depends on `orchgen-runtime` by path, and exports the
//! function. Runs on a valid plan of a file on disk (`check_file`); each problem is located at the
//! handler's `crate:` key (or `function:` when the crate path is the default).

use std::path::Path;

use orchgen_runtime::plan::{HandlerPlan, Plan};

use crate::diagnostic::Diagnostic;
use crate::source::Span;
use crate::spec::Spec;
use crate::step_crate::{CrateProblem, StepCrate, handlers};
use crate::yaml::Node;

/// Every problem of the plan's handler crates.
pub fn check(plan: &Plan, spec: &Spec, root: &Node, pipeline_dir: &Path) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (owner, handler) in handlers(plan) {
        let pointer = handler_pointer(spec, &owner);
        let node = |key: &str| root.pointer(&format!("{pointer}/{key}"));
        let crate_span = node("crate").or_else(|| node("function")).map_or(root.span, |n| n.span);
        let function_span = node("function").map_or(crate_span, |n| n.span);
        let problem = StepCrate::open(pipeline_dir, handler)
            .and_then(|c| c.runtime_dir().map(|_| c))
            .and_then(|c| c.check_exports(&handler.function));
        if let Err(problem) = problem {
            out.push(diagnostic(&owner, handler, &problem, crate_span, function_span, pipeline_dir));
        }
    }
    out
}

fn diagnostic(
    owner: &str,
    handler: &HandlerPlan,
    problem: &CrateProblem,
    crate_span: Span,
    function_span: Span,
    pipeline_dir: &Path,
) -> Diagnostic {
    let folder = crate::step_crate::normalise(pipeline_dir);
    let anchored = format!("`crate:` is relative to the pipeline file's folder, {}", folder.display());
    let (span, label, help) = match problem {
        CrateProblem::Missing { .. } | CrateProblem::NoManifest { .. } => (
            crate_span,
            "no crate here".to_owned(),
            format!("{anchored}; `orchgen new step NAME` creates a step crate and its entry"),
        ),
        CrateProblem::BadManifest { .. } => (crate_span, "unreadable Cargo.toml".to_owned(), "fix the manifest".to_owned()),
        CrateProblem::WrongName { library, .. } => (
            function_span,
            format!("the crate is `{library}`"),
            format!("write `function: {library}::…`, or point `crate:` at the crate `{}`", handler.crate_name),
        ),
        CrateProblem::Runtime { .. } => (
            crate_span,
            "does not use orchgen's runtime".to_owned(),
            "depend on the project's SDK, as `orchgen new step` writes it: `orchgen-runtime = { path = \"../../.orchgen/sdk/runtime\" }` (the path from the crate's folder)".to_owned(),
        ),
        CrateProblem::NotExported { name, .. } => (
            function_span,
            "not found in the crate".to_owned(),
            format!(
                "declare `pub async fn {name}(ctx: orchgen_runtime::steps::CustomContext) -> Result<T, orchgen_runtime::steps::StepError>` in the crate (T: Serialize)"
            ),
        ),
    };
    Diagnostic::error("orchgen::handler-crate", format!("{owner}: {problem}"), span, label).with_help(help)
}

/// The JSON pointer of the `handler` of the step or compensation `owner` (`step \`x\`` /
/// `compensation \`x\``) in the file.
fn handler_pointer(spec: &Spec, owner: &str) -> String {
    let name = owner.split('`').nth(1).unwrap_or_default();
    if owner.starts_with("step") {
        if let Some(i) = spec.steps.iter().position(|s| s.name == name) {
            return format!("/steps/{i}/handler");
        }
    } else if let Some(i) = spec.compensations.iter().position(|c| c.name == name) {
        return format!("/compensations/{i}/handler");
    }
    String::new()
}
