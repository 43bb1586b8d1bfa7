//! Validation: YAML → located problems, and for a valid file its [`Spec`] and resolved [`Plan`].
//!
//! Three passes, each adding to one list so that every problem is reported at once: the YAML loader
//! (syntax, duplicate keys, limits), the schema check (types, unknown keys, enums, ranges), then the
//! semantic checks (references, graph, AWS limits). A later pass runs only when the earlier ones left
//! something it can read.

pub mod crates;
pub mod schema_check;
pub mod semantic;

use std::path::Path;

use orchgen_runtime::Plan;

use crate::diagnostic::{Diagnostic, Report};
use crate::resolve::resolve;
use crate::source::{ReadError, SourceFile};
use crate::spec::Spec;
use crate::yaml::{self, NodeValue};

/// The outcome of validating one file.
#[derive(Debug)]
pub struct Checked {
    /// Every problem, errors and warnings.
    pub report: Report,
    /// What the user wrote, when it could be read.
    pub spec: Option<Spec>,
    /// The resolved plan, when there is no error.
    pub plan: Option<Plan>,
}

/// Validates a file on disk, including the crates of its `custom` handlers (resolved against the
/// file's folder).
pub fn check_file(path: &Path) -> Result<Checked, ReadError> {
    let source = SourceFile::read(path)?;
    Ok(check(source, Some(&crate::step_crate::pipeline_folder(path))))
}

/// Validates a pipeline held in memory (without looking for its handlers' crates).
pub fn check_source(source: SourceFile) -> Checked {
    check(source, None)
}

fn check(source: SourceFile, pipeline_dir: Option<&Path>) -> Checked {
    let loaded = yaml::load(&source);
    let mut diagnostics = loaded.diagnostics;
    let Some(root) = loaded.root else {
        return Checked { report: Report::new(source, diagnostics), spec: None, plan: None };
    };
    if root.value == NodeValue::Null {
        diagnostics.push(
            Diagnostic::file_error("orchgen::empty", "the pipeline file is empty")
                .with_help("start from `orchgen init`, or declare at least `name:` and `steps:`"),
        );
        return Checked { report: Report::new(source, diagnostics), spec: None, plan: None };
    }
    let schema_problems = schema_check::check(&root);
    let syntax_ok = diagnostics.iter().all(|d| !d.is_error());
    let schema_ok = schema_problems.is_empty();
    diagnostics.extend(schema_problems);
    let mut spec = None;
    if schema_ok {
        match serde_json::from_value::<Spec>(root.to_json()) {
            Ok(s) => {
                diagnostics.extend(semantic::check(&s, &root));
                spec = Some(s);
            }
            Err(e) => diagnostics.push(Diagnostic::file_error(
                "orchgen::schema",
                format!("the pipeline does not match its schema: {e}"),
            )),
        }
    }
    let report = Report::new(source, diagnostics);
    let mut plan = match &spec {
        Some(s) if syntax_ok && !report.has_errors() => Some(resolve(s)),
        _ => None,
    };
    let report = match (&plan, &spec, pipeline_dir) {
        (Some(p), Some(s), Some(dir)) => {
            let problems = crates::check(p, s, &root, dir);
            if problems.is_empty() {
                report
            } else {
                if problems.iter().any(Diagnostic::is_error) {
                    plan = None;
                }
                let (source, mut diagnostics) = report.into_parts();
                diagnostics.extend(problems);
                Report::new(source, diagnostics)
            }
        }
        _ => report,
    };
    Checked { report, spec, plan }
}
