//! The diagnostic corpus in `tests/corpus/`: what a user sees for every kind of mistake.
//!
//! - `invalid/*.yaml`: each file is a small realistic pipeline with one problem (its name says which),
//!   except `many-*.yaml`, which have several at once. The first lines of a file declare the errors it
//!   must produce, one per line: `# expect: orchgen::unknown-key at 12:5` (1-based line and column,
//!   the column counted in characters), or `# expect: orchgen::empty at file` for a problem of the
//!   whole file. The one file that cannot carry a comment, the zero-byte `empty.yaml`, expects
//!   `orchgen::empty at file`. The errors must be exactly the declared ones: a single-problem file
//!   gives exactly one error. The rendered report (`Report::render(100)`) is snapshotted.
//! - `warnings/*.yaml`: valid pipelines whose `# expect:` lines declare their warnings (exactly those);
//!   the rendered report is snapshotted.
//! - `valid/*.yaml`: no error, no warning; the resolved plan's JSON is snapshotted.
//! - `budget/*.yaml`: valid pipelines with a `cost:` budget, checked against orchgen's estimate;
//!   their `# expect:` lines (none for a budget that holds) declare their warnings. Not snapshotted:
//!   the rendered estimate moves whenever the runtime's costs do.
//!
//! Files are checked under the name `tests/corpus/<dir>/<file>`, so snapshots hold no absolute path.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use orchgen_generator::source::SourceFile;
use orchgen_generator::{Checked, check_source};
use orchgen_runtime::Plan;
use orchgen_tests::workspace_root;

/// Columns of the rendered reports in snapshots.
const WIDTH: usize = 100;

/// One expected (or found) diagnostic: its code and 1-based line:column, `None` for the whole file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Located {
    code: String,
    at: Option<(u64, u64)>,
}

impl std::fmt::Display for Located {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.at {
            Some((line, column)) => write!(f, "{} at {line}:{column}", self.code),
            None => write!(f, "{} at file", self.code),
        }
    }
}

/// The `*.yaml` files of `tests/corpus/<dir>`, sorted.
fn corpus_files(dir: &str) -> Vec<PathBuf> {
    let dir = workspace_root().join("tests/corpus").join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The name a corpus file is checked under: `tests/corpus/<dir>/<file>`, relative to the workspace.
fn display_name(dir: &str, path: &Path) -> String {
    let file = path.file_name().and_then(|n| n.to_str()).expect("corpus file names are UTF-8");
    format!("tests/corpus/{dir}/{file}")
}

/// Reads and checks a corpus file.
fn check(dir: &str, path: &Path) -> (String, String, Checked) {
    let name = display_name(dir, path);
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {name}: {e}"));
    let checked = check_source(SourceFile::new(name.clone(), text.clone()));
    (name, text, checked)
}

/// The `# expect:` lines at the top of a corpus file.
fn expectations(name: &str, text: &str) -> Vec<Located> {
    if text.is_empty() {
        return vec![Located { code: "orchgen::empty".to_owned(), at: None }];
    }
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# expect: ") else { break };
        let (code, at) =
            rest.split_once(" at ").unwrap_or_else(|| panic!("{name}: malformed expectation line `{line}`"));
        let at = if at == "file" {
            None
        } else {
            let (l, c) = at.split_once(':').unwrap_or_else(|| panic!("{name}: malformed location in `{line}`"));
            let number = |s: &str| s.parse::<u64>().unwrap_or_else(|_| panic!("{name}: bad number in `{line}`"));
            Some((number(l), number(c)))
        };
        out.push(Located { code: code.to_owned(), at });
    }
    assert!(!out.is_empty(), "{name}: the file must start with `# expect: <code> at <line>:<col>` lines");
    out
}

/// The diagnostics of one severity (`error` / `warning`) as `report.to_json()` gives them, sorted.
fn found(checked: &Checked, severity: &str) -> Vec<Located> {
    let json = checked.report.to_json();
    let mut out: Vec<Located> = json["diagnostics"]
        .as_array()
        .expect("diagnostics is an array")
        .iter()
        .filter(|d| d["severity"] == severity)
        .map(|d| Located {
            code: d["code"].as_str().expect("a code").to_owned(),
            at: d["line"].as_u64().map(|line| (line, d["column"].as_u64().expect("a line comes with a column"))),
        })
        .collect();
    out.sort();
    out
}

/// Compares declared and found diagnostics; a description of the difference when they differ.
fn compare(
    name: &str,
    mut expected: Vec<Located>,
    found: Vec<Located>,
    rendered: impl Fn() -> String,
) -> Option<String> {
    expected.sort();
    if expected == found {
        return None;
    }
    let list = |items: &[Located]| items.iter().map(|l| format!("\n    {l}")).collect::<String>();
    Some(format!("{name}:\n  expected:{}\n  found:{}\n  report:\n{}", list(&expected), list(&found), rendered()))
}

#[test]
fn invalid_reports() {
    insta::glob!("../../corpus/invalid", "*.yaml", |path| {
        let (name, _, checked) = check("invalid", path);
        assert!(checked.report.has_errors(), "{name} must be invalid");
        assert!(checked.plan.is_none(), "{name} is invalid but has a plan");
        insta::assert_snapshot!(checked.report.render(WIDTH));
    });
}

#[test]
fn invalid_files_report_exactly_their_expected_errors() {
    let mut failures = String::new();
    for path in corpus_files("invalid") {
        let (name, text, checked) = check("invalid", &path);
        let expected = expectations(&name, &text);
        let many = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("many-"));
        if many {
            assert!(expected.len() >= 3, "{name}: a many-problem file declares at least 3 errors");
        } else {
            assert_eq!(expected.len(), 1, "{name}: a single-problem file declares exactly one error");
        }
        if let Some(diff) = compare(&name, expected, found(&checked, "error"), || checked.report.render(WIDTH)) {
            let _ = writeln!(failures, "{diff}");
        }
    }
    assert!(failures.is_empty(), "corpus files whose errors differ from their `# expect:` lines:\n{failures}");
}

#[test]
fn the_corpus_covers_enough_cases() {
    let invalid = corpus_files("invalid");
    let many = invalid
        .iter()
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("many-")))
        .count();
    assert!(invalid.len() - many >= 45, "only {} single-problem files", invalid.len() - many);
    assert!(many >= 4, "only {many} many-problem files");
    assert!(corpus_files("warnings").len() >= 4);
    assert!(corpus_files("valid").len() >= 5);
}

#[test]
fn warning_reports() {
    insta::glob!("../../corpus/warnings", "*.yaml", |path| {
        let (name, text, checked) = check("warnings", path);
        assert_eq!(checked.report.error_count(), 0, "{name} has errors:\n{}", checked.report.render(WIDTH));
        assert!(checked.plan.is_some(), "{name} has only warnings, so it has a plan");
        let diff =
            compare(&name, expectations(&name, &text), found(&checked, "warning"), || checked.report.render(WIDTH));
        assert!(diff.is_none(), "warnings differ from the `# expect:` lines: {}", diff.unwrap_or_default());
        insta::assert_snapshot!(checked.report.render(WIDTH));
    });
}

#[test]
fn valid_plans() {
    insta::glob!("../../corpus/valid", "*.yaml", |path| {
        let (name, _, checked) = check("valid", path);
        assert!(
            checked.report.diagnostics().is_empty(),
            "{name} must have no error and no warning:\n{}",
            checked.report.render(WIDTH)
        );
        let plan = checked.plan.unwrap_or_else(|| panic!("{name} is valid but has no plan"));
        let json = plan.to_json();
        assert_eq!(Plan::from_json(&json).expect("the plan reads back"), plan, "{name}: the plan JSON round-trips");
        insta::assert_snapshot!(json);
    });
}

#[test]
fn budgets_hold_or_warn_at_the_cost_key() {
    let files = corpus_files("budget");
    assert!(files.len() >= 2);
    for path in files {
        let (name, text, checked) = check("budget", &path);
        assert_eq!(checked.report.error_count(), 0, "{name}:\n{}", checked.report.render(WIDTH));
        assert!(checked.plan.is_some(), "{name}");
        let declared = checked.budget.unwrap_or_else(|| panic!("{name} declares a budget"));
        let budget = checked.budget_check.as_ref().unwrap_or_else(|| panic!("{name}: the budget was checked"));
        let expected = if text.starts_with("# expect: ") { expectations(&name, &text) } else { Vec::new() };
        let diff = compare(&name, expected.clone(), found(&checked, "warning"), || checked.report.render(WIDTH));
        assert!(diff.is_none(), "warnings differ from the `# expect:` lines: {}", diff.unwrap_or_default());
        // Over budget exactly when the estimate is above the declared figure, and then warned.
        assert_eq!(budget.within, budget.estimate_per_million_orders_usd <= declared.per_million_orders_usd, "{name}");
        assert_eq!(budget.within, expected.is_empty(), "{name}: {budget:?}");
    }
}

#[test]
fn the_reference_pipeline_is_valid() {
    let path = workspace_root().join("pipelines/orders.yaml");
    let text = std::fs::read_to_string(&path).expect("pipelines/orders.yaml");
    let checked = check_source(SourceFile::new("pipelines/orders.yaml", text));
    assert_eq!(checked.report.error_count(), 0, "{}", checked.report.render(WIDTH));
    assert!(checked.plan.is_some());
}
