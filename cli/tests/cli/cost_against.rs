//! `orchgen cost FILE --against OTHER` as a reviewer runs it: against another file, against the same
//! file at a git revision (a repository made here with `git init`), and the errors of a bad
//! revision, a file outside any repository and an old version that is invalid. Figures are compared
//! with each other, never with today's model.

use std::path::{Path, PathBuf};
use std::process::Command;

use orchgen_tests::workspace_root;
use serde_json::Value;

use crate::orchgen;

fn reference_text() -> String {
    std::fs::read_to_string(workspace_root().join("pipelines/orders.yaml")).expect("the reference pipeline")
}

/// The reference pipeline with a sixth step.
fn with_one_more_step() -> String {
    let text = reference_text();
    let extra = "  - name: notify-again\n    kind: notify\n    channel: mock\n    subject: \"Order {order_id} shipped\"\n    status: NOTIFIED_AGAIN\n\ncompensations:";
    assert!(text.contains("\ncompensations:"));
    text.replacen("\ncompensations:", &format!("\n{extra}"), 1)
}

fn f(value: &Value) -> f64 {
    value.as_f64().unwrap_or_else(|| panic!("{value} is not a number"))
}

fn against_json(file: &Path, other: &str) -> Value {
    let (code, out, err) = orchgen(&[
        "cost",
        &file.display().to_string(),
        "--orders-per-month",
        "1000000",
        "--against",
        other,
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).expect("JSON")
}

/// orchgen's total per million orders of `file`, from `orchgen cost` itself.
fn orchgen_total(file: &Path) -> f64 {
    let (code, out, err) =
        orchgen(&["cost", &file.display().to_string(), "--orders-per-month", "1000000", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let e: Value = serde_json::from_str(&out).unwrap();
    f(&e["designs"].as_array().unwrap().iter().find(|d| d["id"] == "orchgen").unwrap()["per_million_orders_usd"])
}

/// Whether two figures of separate runs agree (the estimate of a pipeline is the same in every run:
/// the model sizes a representative order with fixed ids and times; only float sums may differ).
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// The lines that moved: (change, service, item).
fn moved(diff: &Value) -> Vec<(String, String, String)> {
    diff["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter(|l| !close(f(&l["before_monthly_usd"]), f(&l["after_monthly_usd"])))
        .map(|l| (l["change"].to_string(), l["service"].to_string(), l["item"].to_string()))
        .collect()
}

/// The diff's totals are those `orchgen cost` prints for each file, and its lines add up to them.
fn assert_consistent(diff: &Value, before: &Path, after: &Path) {
    let (b, a) = (f(&diff["before"]["per_million_orders_usd"]), f(&diff["after"]["per_million_orders_usd"]));
    assert!(close(b, orchgen_total(before)), "{diff}");
    assert!(close(a, orchgen_total(after)), "{diff}");
    assert!((f(&diff["delta_per_million_orders_usd"]) - (a - b)).abs() < 1e-9);
    assert!((f(&diff["delta_percent"]) - (a - b) / b * 100.0).abs() < 1e-9);
    let lines = diff["lines"].as_array().expect("lines");
    let sum: f64 = lines.iter().map(|l| f(&l["delta_monthly_usd"])).sum();
    assert!((sum - (f(&diff["after"]["total_monthly_usd"]) - f(&diff["before"]["total_monthly_usd"]))).abs() < 1e-9);
    for l in lines {
        assert!(
            (f(&l["delta_monthly_usd"]) - (f(&l["after_monthly_usd"]) - f(&l["before_monthly_usd"]))).abs() < 1e-12
        );
    }
}

#[test]
fn a_file_with_one_more_step_costs_more_and_the_diff_shows_the_lines_that_grew() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (old, new) = (dir.path().join("old.yaml"), dir.path().join("new.yaml"));
    std::fs::write(&old, reference_text()).unwrap();
    std::fs::write(&new, with_one_more_step()).unwrap();

    let diff = against_json(&new, &old.display().to_string());
    assert_consistent(&diff, &old, &new);
    assert!(f(&diff["delta_per_million_orders_usd"]) > 0.0, "{diff}");
    assert_eq!(diff["before"]["source"], old.display().to_string());
    assert_eq!(diff["orders_per_month"], 1_000_000);
    let lines = diff["lines"].as_array().unwrap();
    let step_requests = lines
        .iter()
        .find(|l| l["service"] == "Lambda requests" && l["item"].as_str().unwrap().starts_with("step functions"))
        .expect("the step functions' requests");
    assert_eq!(step_requests["change"], "changed");
    assert!(f(&step_requests["delta_monthly_usd"]) > 0.0);
    assert!(step_requests["before_item"].as_str().is_some(), "its figures changed: {step_requests}");
    assert!(lines.iter().all(|l| f(&l["delta_monthly_usd"]) >= -1e-12), "nothing gets cheaper: {diff}");

    let (code, out, err) = orchgen(&[
        "cost",
        &new.display().to_string(),
        "--orders-per-month",
        "1000000",
        "--against",
        &old.display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("changed  Lambda requests"), "{out}");
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("per million orders: $") && last.contains(" → $") && last.contains("(+$"), "{last}");
    assert!(last.ends_with(" %)"), "{last}");
}

#[test]
fn lines_only_on_one_side_are_added_and_removed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (http, rest) = (dir.path().join("http.yaml"), dir.path().join("rest.yaml"));
    let text = reference_text();
    std::fs::write(&http, &text).unwrap();
    // A REST API with an API key instead of the HTTP API signed with SigV4.
    let rest_text = text.replacen("  kind: http", "  kind: rest", 1).replacen("  auth: iam", "  auth: api_key", 1);
    assert_ne!(rest_text, text);
    std::fs::write(&rest, rest_text).unwrap();
    let diff = against_json(&rest, &http.display().to_string());
    assert_consistent(&diff, &http, &rest);
    let lines = diff["lines"].as_array().unwrap();
    let with = |change: &str| -> Vec<&Value> {
        lines.iter().filter(|l| l["change"] == change && l["service"] == "API Gateway").collect()
    };
    assert!(!with("added").is_empty() && !with("removed").is_empty(), "{diff}");
    for l in with("added") {
        assert!(l["item"].as_str().unwrap().starts_with("REST API"), "{l}");
        assert_eq!(f(&l["before_monthly_usd"]), 0.0);
    }
    for l in with("removed") {
        assert!(l["item"].as_str().unwrap().starts_with("HTTP API"), "{l}");
        assert_eq!(f(&l["after_monthly_usd"]), 0.0);
    }
    assert!(f(&diff["delta_per_million_orders_usd"]) > 0.0, "a REST API costs more");
}

/// A git repository in a temporary directory with `sub/p.yaml` committed as the reference pipeline.
struct Repo {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let root = dir.path().to_path_buf();
        std::fs::create_dir(root.join("sub")).unwrap();
        let repo = Repo { _dir: dir, root };
        repo.git(&["init", "-q"]);
        repo
    }

    fn git(&self, args: &[&str]) {
        let status = Command::new("git")
            .arg("-C")
            .arg(&self.root)
            .args(["-c", "user.name=orchgen tests", "-c", "user.email=tests@orchgen.dev", "-c", "commit.gpgsign=false"])
            .args(args)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?}");
    }

    fn commit(&self, path: &str, text: &str) {
        std::fs::write(self.root.join(path), text).unwrap();
        self.git(&["add", path]);
        self.git(&["commit", "-q", "-m", path]);
    }

    fn path(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }
}

#[test]
fn the_same_file_at_a_git_revision() {
    let repo = Repo::new();
    repo.commit("sub/p.yaml", &reference_text());
    let file = repo.path("sub/p.yaml");
    let committed = repo.path("committed.yaml");
    std::fs::write(&committed, reference_text()).unwrap();
    // Edited, not committed: one more step.
    std::fs::write(&file, with_one_more_step()).unwrap();

    let diff = against_json(&file, "HEAD");
    assert_eq!(diff["before"]["source"], "HEAD:sub/p.yaml");
    assert_consistent(&diff, &committed, &file);
    assert!(f(&diff["delta_per_million_orders_usd"]) > 0.0);
    assert!(!moved(&diff).is_empty());
    // The same comparison as against a copy of the committed file, and as `REV:PATH`.
    let against_copy = against_json(&file, &committed.display().to_string());
    assert_eq!(moved(&diff), moved(&against_copy));
    assert!(close(f(&diff["delta_per_million_orders_usd"]), f(&against_copy["delta_per_million_orders_usd"])));
    let by_path = against_json(&file, "HEAD:sub/p.yaml");
    assert_eq!(by_path["before"]["source"], "HEAD:sub/p.yaml");
    assert_eq!(moved(&diff), moved(&by_path));

    // Committed, the edit is `HEAD` (nothing moves); the reference is `HEAD~1`.
    repo.commit("sub/p.yaml", &with_one_more_step());
    let now = against_json(&file, "HEAD");
    assert!(moved(&now).is_empty(), "{now}");
    let before = against_json(&file, "HEAD~1");
    assert_eq!(moved(&before), moved(&diff));
    // The text form names the revision it read.
    let (code, out, err) =
        orchgen(&["cost", &file.display().to_string(), "--orders-per-month", "1000000", "--against", "HEAD~1"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("before: HEAD~1:sub/p.yaml"), "{out}");
}

#[test]
fn bad_revisions_files_outside_git_and_invalid_old_versions_are_clear_errors() {
    let repo = Repo::new();
    let mut broken = reference_text();
    broken = broken.replacen("kind: validate", "kind: validte", 1);
    repo.commit("sub/p.yaml", &broken);
    repo.commit("sub/p.yaml", &reference_text());
    let file = repo.path("sub/p.yaml").display().to_string();
    let run_against = |other: &str| orchgen(&["cost", &file, "--orders-per-month", "1000", "--against", other]);

    let (code, out, err) = run_against("no-such-revision");
    assert_eq!(code, 1, "{out}");
    assert!(out.is_empty());
    assert!(err.contains("`no-such-revision` is not a revision"), "{err}");

    let (code, _, err) = run_against("HEAD:sub/missing.yaml");
    assert_eq!(code, 1);
    assert!(err.contains("cannot read HEAD:sub/missing.yaml from git"), "{err}");

    let (code, _, err) = run_against("HEAD~5");
    assert_eq!(code, 1);
    assert!(err.contains("`HEAD~5` is not a revision"), "{err}");

    // The old version is invalid: its problems are located in `REV:PATH`.
    let (code, _, err) = run_against("HEAD~1");
    assert_eq!(code, 1);
    let line = broken.lines().position(|l| l.contains("kind: validte")).unwrap() + 1;
    assert!(err.contains(&format!("HEAD~1:sub/p.yaml:{line}:")), "{err}");
    assert!(err.contains("the pipeline to compare against (HEAD~1:sub/p.yaml) is invalid"), "{err}");

    // A file outside any repository.
    let outside = tempfile::tempdir().expect("a temporary directory");
    let lone = outside.path().join("p.yaml");
    std::fs::write(&lone, reference_text()).unwrap();
    let (code, _, err) =
        orchgen(&["cost", &lone.display().to_string(), "--orders-per-month", "1000", "--against", "HEAD"]);
    assert_eq!(code, 1);
    assert!(err.contains("is not in a git repository"), "{err}");
}
