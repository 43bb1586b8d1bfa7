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

use crate::cost::budget::{self, Budget, BudgetCheck};
use crate::diagnostic::{Diagnostic, Report, Severity};
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
    /// The budget of the pipeline's `cost:` section, located at its key (the runtime's plan does
    /// not carry it: no function needs it).
    pub budget: Option<Budget>,
    /// The budget against orchgen's estimate, when the pipeline has a budget and a plan and the
    /// estimate could be made. Over budget, the report has an `orchgen::cost-budget` warning;
    /// [`Checked::enforce_budget`] makes it an error.
    pub budget_check: Option<BudgetCheck>,
}

impl Checked {
    /// Makes an estimate over the budget an error (what `orchgen build --check` and `orchgen cost`
    /// do; `orchgen validate` leaves it a warning). The plan stays: the caller decides.
    pub fn enforce_budget(&mut self) {
        let (Some(check), Some(b)) = (&self.budget_check, &self.budget) else { return };
        let Some(error) = budget::diagnostic(check, b.span, Severity::Error) else { return };
        let (source, mut diagnostics) = self.report.clone().into_parts();
        diagnostics.retain(|d| d.code != budget::OVER_BUDGET);
        diagnostics.push(error);
        self.report = Report::new(source, diagnostics);
    }
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

/// Validates a pipeline held in memory as if it were a file in `dir`: its handlers' crates are
/// looked for there (e.g. an older version of a file, read from git, checked beside the current one).
pub fn check_source_in(source: SourceFile, dir: &Path) -> Checked {
    check(source, Some(dir))
}

fn check(source: SourceFile, pipeline_dir: Option<&Path>) -> Checked {
    let loaded = yaml::load(&source);
    let mut diagnostics = loaded.diagnostics;
    let Some(root) = loaded.root else {
        return Checked {
            report: Report::new(source, diagnostics),
            spec: None,
            plan: None,
            budget: None,
            budget_check: None,
        };
    };
    if root.value == NodeValue::Null {
        diagnostics.push(
            Diagnostic::file_error("orchgen::empty", "the pipeline file is empty")
                .with_help("start from `orchgen init`, or declare at least `name:` and `steps:`"),
        );
        return Checked {
            report: Report::new(source, diagnostics),
            spec: None,
            plan: None,
            budget: None,
            budget_check: None,
        };
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
    // The budget: the cost simulation runs only for a pipeline that declares one.
    let budget = spec.as_ref().and_then(|s| s.cost.as_ref()).map(|cost| Budget {
        per_million_orders_usd: cost.budget_per_million_orders,
        orders_per_month: cost.orders_per_month.unwrap_or(budget::DEFAULT_ORDERS_PER_MONTH),
        span: root.key("cost").map_or(root.span, |k| k.span),
    });
    let (report, budget_check) = match (&plan, &budget) {
        (Some(p), Some(b)) => {
            let (checked, problem) = match budget::check(p, b) {
                Ok(c) => {
                    let problem = budget::diagnostic(&c, b.span, Severity::Warning);
                    (Some(c), problem)
                }
                Err(e) => (None, Some(budget::unchecked(&e, b.span))),
            };
            let report = match problem {
                Some(problem) => {
                    let (source, mut diagnostics) = report.into_parts();
                    diagnostics.push(problem);
                    Report::new(source, diagnostics)
                }
                None => report,
            };
            (report, checked)
        }
        _ => (report, None),
    };
    Checked { report, spec, plan, budget, budget_check }
}
