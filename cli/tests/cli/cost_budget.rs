//! A pipeline's `cost:` budget as a user meets it: `orchgen validate` warns at the `cost:` key when
//! orchgen's estimate is over it, `orchgen build --check` and `orchgen cost` fail there, and within it
//! `orchgen cost` prints the headroom. Budgets are set relative to the estimate computed here, never
//! to a figure of today's model.

use std::path::{Path, PathBuf};

use orchgen_tests::workspace_root;
use serde_json::Value;

use crate::orchgen;

fn reference_text() -> String {
    std::fs::read_to_string(workspace_root().join("pipelines/orders.yaml")).expect("the reference pipeline")
}

/// orchgen's estimate per million orders of `file` at `orders` a month.
fn orchgen_estimate(file: &Path, orders: u64) -> f64 {
    let (code, out, err) =
        orchgen(&["cost", &file.display().to_string(), "--orders-per-month", &orders.to_string(), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let e: Value = serde_json::from_str(&out).expect("JSON");
    let orchgen = e["designs"].as_array().unwrap().iter().find(|d| d["id"] == "orchgen").expect("orchgen");
    orchgen["per_million_orders_usd"].as_f64().expect("a number")
}

/// The reference pipeline with `cost_section` appended, in `dir`; and the line of its `cost:` key.
fn with_cost(dir: &Path, name: &str, cost_section: &str) -> (PathBuf, usize) {
    let text = reference_text();
    let line = text.lines().count() + 2;
    let file = dir.join(name);
    std::fs::write(&file, format!("{text}\n{cost_section}")).expect("written");
    (file, line)
}

struct Setup {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    estimate: f64,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().to_path_buf();
    let plain = path.join("plain.yaml");
    std::fs::write(&plain, reference_text()).expect("written");
    let estimate = orchgen_estimate(&plain, 1_000_000);
    assert!(estimate > 0.0);
    Setup { _dir: dir, dir: path, estimate }
}

#[test]
fn validate_warns_at_the_cost_key_with_the_largest_lines_and_exits_0() {
    let s = setup();
    let (over, line) =
        with_cost(&s.dir, "over.yaml", &format!("cost:\n  budget_per_million_orders: {:.2}\n", s.estimate / 2.0));
    let (code, out, err) = orchgen(&["validate", &over.display().to_string()]);
    assert_eq!(code, 0, "a warning does not fail validate: {out}{err}");
    assert!(err.contains("orchgen::cost-budget"), "{err}");
    assert!(err.contains(&format!("over.yaml:{line}:1")), "located at `cost:` (line {line}): {err}");
    assert!(err.contains("largest lines"), "{err}");
    assert!(err.contains("DynamoDB"), "the lines name their services: {err}");
    assert!(err.contains("0 errors, 1 warning"), "{err}");

    let (code, out, _) = orchgen(&["validate", &over.display().to_string(), "--format", "json"]);
    assert_eq!(code, 0);
    let report: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(report["valid"], true);
    let d = &report["diagnostics"][0];
    assert_eq!(d["code"], "orchgen::cost-budget");
    assert_eq!(d["severity"], "warning");
    assert_eq!(d["line"].as_u64(), Some(line as u64));
    assert_eq!(d["column"], 1);

    let (within, _) =
        with_cost(&s.dir, "within.yaml", &format!("cost:\n  budget_per_million_orders: {:.2}\n", s.estimate * 2.0));
    let (code, out, err) = orchgen(&["validate", &within.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("valid"), "{out}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn build_check_fails_over_budget_at_the_cost_key_and_passes_within() {
    let s = setup();
    let (within, _) =
        with_cost(&s.dir, "within.yaml", &format!("cost:\n  budget_per_million_orders: {:.2}\n", s.estimate * 2.0));
    let out_dir = s.dir.join("build").display().to_string();
    let (code, out, err) = orchgen(&["build", &within.display().to_string(), "--out", &out_dir]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = orchgen(&["build", &within.display().to_string(), "--out", &out_dir, "--check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("is up to date"), "{out}");

    // The same pipeline and build folder, with a budget the estimate exceeds.
    let (over, line) =
        with_cost(&s.dir, "within.yaml", &format!("cost:\n  budget_per_million_orders: {:.2}\n", s.estimate / 2.0));
    let (code, out, err) = orchgen(&["build", &over.display().to_string(), "--out", &out_dir, "--check"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("× orchgen's estimate"), "an error, not a warning: {err}");
    assert!(err.contains(&format!("within.yaml:{line}:1")), "{err}");
    assert!(err.contains("1 error, 0 warnings"), "{err}");
    // A build still writes, with the warning.
    let (code, _, err) = orchgen(&["build", &over.display().to_string(), "--out", &out_dir]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("⚠ orchgen's estimate"), "{err}");
}

#[test]
fn cost_prints_the_headroom_within_budget_and_fails_over_it() {
    let s = setup();
    let budget = (s.estimate + 1.0).ceil();
    let (within, _) = with_cost(
        &s.dir,
        "within.yaml",
        &format!("cost:\n  budget_per_million_orders: {budget}\n  orders_per_month: 1000000\n"),
    );
    let file = within.display().to_string();
    let (code, out, err) = orchgen(&["cost", &file, "--orders-per-month", "1000000"]);
    assert_eq!(code, 0, "{err}");
    let last = out.lines().last().expect("output");
    assert!(
        last.starts_with(&format!("budget ${budget:.2} per million orders at 1,000,000 orders a month: estimate $")),
        "{last}"
    );
    assert!(last.contains(", within by $"), "{last}");

    let (code, out, err) = orchgen(&["cost", &file, "--orders-per-month", "1000000", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let e: Value = serde_json::from_str(&out).expect("JSON");
    let b = &e["budget"];
    assert_eq!(b["within"], true);
    assert_eq!(b["budget_per_million_orders_usd"].as_f64(), Some(budget));
    assert_eq!(b["orders_per_month"], 1_000_000);
    let estimate = b["estimate_per_million_orders_usd"].as_f64().unwrap();
    assert!((estimate - s.estimate).abs() <= 1e-9 * s.estimate, "the budget is checked against the same estimate");
    assert!((b["headroom_usd"].as_f64().unwrap() - (budget - estimate)).abs() < 1e-9);
    assert!(!b["largest_lines"].as_array().unwrap().is_empty());
    // Without a `cost:` section there is no budget object.
    let plain = s.dir.join("plain.yaml").display().to_string();
    let (_, out, _) = orchgen(&["cost", &plain, "--orders-per-month", "1000000", "--format", "json"]);
    assert!(serde_json::from_str::<Value>(&out).unwrap().get("budget").is_none());

    let (over, line) =
        with_cost(&s.dir, "over.yaml", &format!("cost:\n  budget_per_million_orders: {:.2}\n", s.estimate / 2.0));
    let (code, out, err) = orchgen(&["cost", &over.display().to_string(), "--orders-per-month", "1000000"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("over.yaml:{line}:1")), "{err}");
    assert!(err.contains("orchgen::cost-budget"), "{err}");
    assert!(out.lines().last().is_some_and(|l| l.contains(", over by $")), "{out}");
}

#[test]
fn the_budget_is_checked_at_the_declared_volume() {
    let s = setup();
    // At a thousand orders a month the stream batches hold one record: orchgen costs more per order.
    let small = orchgen_estimate(&s.dir.join("plain.yaml"), 1_000);
    assert!(small >= s.estimate, "{small} < {}", s.estimate);
    let (file, _) = with_cost(
        &s.dir,
        "small.yaml",
        &format!("cost:\n  budget_per_million_orders: {:.6}\n  orders_per_month: 1000\n", small * 1.01),
    );
    let (code, out, err) = orchgen(&["cost", &file.display().to_string(), "--orders-per-month", "1000000"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("at 1,000 orders a month"), "{out}");
}

#[test]
fn a_bad_cost_section_is_a_located_error() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (name, section, code, at) in [
        ("unknown.yaml", "cost:\n  budget_per_million_orders: 15\n  budget: 20\n", "orchgen::unknown-key", (3, 3)),
        ("negative.yaml", "cost:\n  budget_per_million_orders: -1\n", "orchgen::out-of-range", (2, 30)),
        ("missing.yaml", "cost:\n  orders_per_month: 1000\n", "orchgen::missing-key", (2, 3)),
        (
            "zero-volume.yaml",
            "cost:\n  budget_per_million_orders: 15\n  orders_per_month: 0\n",
            "orchgen::out-of-range",
            (3, 21),
        ),
        ("text.yaml", "cost:\n  budget_per_million_orders: cheap\n", "orchgen::wrong-type", (2, 30)),
    ] {
        let (file, line) = with_cost(dir.path(), name, section);
        let (code_, out, err) = orchgen(&["validate", &file.display().to_string(), "--format", "json"]);
        assert_eq!(code_, 1, "{name}: {out}{err}");
        let report: Value = serde_json::from_str(&out).expect("JSON");
        let d = &report["diagnostics"][0];
        assert_eq!(d["code"], code, "{name}: {report}");
        assert_eq!(d["line"].as_u64(), Some((line + at.0 - 1) as u64), "{name}: {report}");
        assert_eq!(d["column"].as_u64(), Some(at.1), "{name}: {report}");
        // build --check and cost refuse it the same way.
        let (c, _, err) = orchgen(&["cost", &file.display().to_string(), "--orders-per-month", "10"]);
        assert_eq!(c, 1, "{name}: {err}");
        assert!(err.contains(code), "{name}: {err}");
    }
}

#[test]
fn the_schema_declares_the_cost_section() {
    let (code, out, _) = orchgen(&["schema"]);
    assert_eq!(code, 0);
    let schema: Value = serde_json::from_str(&out).expect("JSON");
    let cost = &schema["properties"]["cost"];
    assert!(!cost.is_null(), "{}", schema["properties"]);
    // Follow a `$ref` (or an `anyOf` with null) to the section's definition.
    let reference = cost["$ref"]
        .as_str()
        .or_else(|| cost["anyOf"].as_array().and_then(|a| a.iter().find_map(|v| v["$ref"].as_str())))
        .expect("a reference to the section");
    let name = reference.rsplit('/').next().unwrap();
    let section = schema["definitions"].get(name).or_else(|| schema["$defs"].get(name)).expect("the definition");
    assert_eq!(section["additionalProperties"], false, "unknown keys are refused");
    assert_eq!(section["required"], serde_json::json!(["budget_per_million_orders"]));
    assert_eq!(section["properties"]["budget_per_million_orders"]["minimum"].as_f64(), Some(0.0));
    assert_eq!(section["properties"]["orders_per_month"]["minimum"], 1);
}
