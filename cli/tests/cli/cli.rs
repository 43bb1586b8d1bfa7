//! The real `orchgen` binary, run as a user runs it, from the workspace root: exit codes, what goes to
//! stdout and stderr, and the files `init` writes.
//!
//! The binary is `env!("CARGO_BIN_EXE_orchgen")` ([`orchgen_bin`]): Cargo builds it before this test
//! binary, from the same sources.

use crate::orchgen_bin;
use orchgen_generator::source::SourceFile;
use orchgen_runtime::Plan;
use orchgen_tests::workspace_root;
use serde_json::Value;

/// `orchgen` with the workspace root as current directory and a fixed terminal width.
fn orchgen() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(orchgen_bin());
    cmd.current_dir(workspace_root()).env("COLUMNS", "100");
    cmd
}

/// Runs `orchgen args…`; returns (exit code, stdout, stderr), with 101 (a panic) always a failure.
fn run(args: &[&str]) -> (i32, String, String) {
    let output = orchgen().args(args).output().expect("orchgen runs");
    let code = output.status.code().expect("orchgen exits with a code");
    let stdout = String::from_utf8(output.stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8(output.stderr).expect("stderr is UTF-8");
    assert_ne!(code, 101, "orchgen {args:?} panicked:\n{stderr}");
    (code, stdout, stderr)
}

/// The lines of `text` that are exactly `line`.
fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

/// The library's view of a workspace file, under the name the CLI uses.
fn check_file(relative: &str) -> orchgen_generator::Checked {
    let text = std::fs::read_to_string(workspace_root().join(relative)).expect("the file exists");
    orchgen_generator::check_source(SourceFile::new(relative, text))
}

#[test]
fn validate_accepts_the_reference_pipeline() {
    let (code, stdout, stderr) = run(&["validate", "pipelines/orders.yaml"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "pipelines/orders.yaml: valid\n");
    assert_eq!(stderr, "");
}

#[test]
fn validate_reads_the_reference_pipeline_by_default() {
    let (code, stdout, _) = run(&["validate"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, "pipelines/orders.yaml: valid\n");
}

#[test]
fn validate_reports_an_invalid_file_on_stderr() {
    let file = "tests/corpus/invalid/unknown-step-kind.yaml";
    let (code, stdout, stderr) = run(&["validate", file]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stdout, "");
    for line in [
        "orchgen::unknown-value",
        "  × `valdate` is not a valid kind",
        "   ╭─[tests/corpus/invalid/unknown-step-kind.yaml:6:11]",
        " 6 │     kind: valdate",
        "   ·           ───┬───",
        "   ·              ╰── unknown kind",
        "  help: did you mean `validate`? (one of: validate, reserve_inventory, charge_payment, fulfil,",
        "tests/corpus/invalid/unknown-step-kind.yaml: 1 error, 0 warnings",
    ] {
        assert!(has_line(&stderr, line), "missing line {line:?} in:\n{stderr}");
    }
    assert_eq!(stderr, check_file(file).report.render(100), "the CLI prints the library's report");
}

#[test]
fn validate_reports_every_problem_at_once() {
    let file = "tests/corpus/invalid/many-schema-problems.yaml";
    let (code, _, stderr) = run(&["validate", file]);
    assert_eq!(code, 1);
    assert!(stderr.ends_with(&format!("{file}: 8 errors, 0 warnings\n")), "{stderr}");
    assert_eq!(stderr.matches("  × ").count(), 8, "{stderr}");
}

#[test]
fn validate_prints_warnings_but_succeeds() {
    let (code, stdout, stderr) = run(&["validate", "tests/corpus/warnings/auth-none.yaml"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "");
    assert!(has_line(&stderr, "orchgen::public-api"), "{stderr}");
    assert!(has_line(&stderr, "tests/corpus/warnings/auth-none.yaml: 0 errors, 1 warning"), "{stderr}");
}

#[test]
fn validate_json_has_located_diagnostics() {
    let file = "tests/corpus/invalid/many-schema-problems.yaml";
    let (code, stdout, stderr) = run(&["validate", file, "--format", "json"]);
    assert_eq!(code, 1);
    assert_eq!(stderr, "", "JSON output keeps stderr quiet");
    let json: Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    assert_eq!(json["file"], file);
    assert_eq!(json["valid"], false);
    assert_eq!(json["errors"], 8);
    assert_eq!(json["warnings"], 0);
    let diagnostics = json["diagnostics"].as_array().expect("a list of diagnostics");
    assert_eq!(diagnostics.len(), 8);
    for d in diagnostics {
        assert_eq!(d["severity"], "error");
        assert_eq!(d["file"], file);
        for key in ["line", "column", "end_line", "end_column"] {
            assert!(d[key].as_u64().is_some_and(|n| n >= 1), "{key} of {d}");
        }
        assert!(d["code"].as_str().is_some_and(|c| c.starts_with("orchgen::")), "{d}");
        assert!(d["message"].as_str().is_some_and(|m| !m.is_empty()), "{d}");
    }
    let first = &diagnostics[0];
    assert_eq!(first["code"], "orchgen::unknown-key");
    assert_eq!((first["line"].as_u64(), first["column"].as_u64()), (Some(10), Some(1)));
    assert_eq!((first["end_line"].as_u64(), first["end_column"].as_u64()), (Some(10), Some(11)));
    assert_eq!(first["message"], "unknown key `descripton` in the pipeline");
    assert_eq!(first["help"], "did you mean `description`?");
    assert_eq!(json, check_file(file).report.to_json(), "the CLI prints the library's JSON");
}

#[test]
fn validate_json_of_a_valid_file() {
    let (code, stdout, _) = run(&["validate", "pipelines/orders.yaml", "--format", "json"]);
    assert_eq!(code, 0);
    let json: Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    assert_eq!(json["valid"], true);
    assert_eq!(json["errors"], 0);
    assert_eq!(json["diagnostics"], Value::Array(Vec::new()));
}

#[test]
fn a_missing_file_exits_2_with_a_clear_message() {
    for command in ["validate", "plan"] {
        let (code, stdout, stderr) = run(&[command, "pipelines/does-not-exist.yaml"]);
        assert_eq!(code, 2, "{command}: {stderr}");
        assert_eq!(stdout, "");
        assert!(stderr.starts_with("error: cannot read pipelines/does-not-exist.yaml: "), "{command}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line, no backtrace: {stderr}");
    }
}

#[test]
fn a_directory_is_not_a_pipeline_file() {
    let (code, _, stderr) = run(&["validate", "pipelines"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.starts_with("error: cannot read pipelines: "), "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    let cases: [(&[&str], &str); 5] = [
        (&["frobnicate"], "error: unrecognized subcommand 'frobnicate'"),
        (&["validate", "--frmat", "json"], "error: unexpected argument '--frmat' found"),
        (&["validate", "--format", "yaml"], "error: invalid value 'yaml' for '--format <FORMAT>'"),
        (&["plan", "a.yaml", "b.yaml"], "error: unexpected argument 'b.yaml' found"),
        (&["completions", "powershell-9"], "error: invalid value 'powershell-9' for '<SHELL>'"),
    ];
    for (args, first_line) in cases {
        let (code, stdout, stderr) = run(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert_eq!(stdout, "", "{args:?}");
        assert_eq!(stderr.lines().next(), Some(first_line), "{args:?}: {stderr}");
    }
    let (code, _, stderr) = run(&[]);
    assert_eq!(code, 2, "no subcommand is a usage error");
    assert!(stderr.contains("Usage: orchgen <COMMAND>"), "{stderr}");
}

#[test]
fn help_and_version() {
    let (code, stdout, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for command in ["validate", "plan", "schema", "init", "completions"] {
        assert!(stdout.lines().any(|l| l.trim_start().starts_with(command)), "{command} in:\n{stdout}");
    }
    let (code, stdout, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, format!("orchgen {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn plan_json_is_the_runtime_plan() {
    let (code, stdout, stderr) = run(&["plan", "pipelines/orders.yaml", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr, "", "the reference pipeline has no warnings");
    let plan = Plan::from_json(&stdout).expect("stdout is a plan the runtime reads");
    let expected = check_file("pipelines/orders.yaml").plan.expect("the reference pipeline has a plan");
    assert_eq!(plan, expected);
    assert_eq!(plan.name, "shop");
    assert!(!plan.steps.is_empty());
}

#[test]
fn plan_text_lists_every_step_in_order() {
    let (code, stdout, stderr) = run(&["plan"]);
    assert_eq!(code, 0, "{stderr}");
    let plan = check_file("pipelines/orders.yaml").plan.expect("the reference pipeline has a plan");
    assert!(stdout.starts_with(&format!("pipeline {}\n", plan.name)), "{stdout}");
    let mut from = 0;
    for (i, step) in plan.steps.iter().enumerate() {
        let line = format!("\n  {}. {} [{}] → {}\n", i + 1, step.name, step.action.kind(), step.status);
        let at = stdout[from..].find(&line).unwrap_or_else(|| panic!("{line:?} after byte {from} in:\n{stdout}"));
        from += at + 1;
    }
}

#[test]
fn plan_follows_next_rather_than_the_written_order() {
    let (code, stdout, _) = run(&["plan", "tests/corpus/valid/next-reorder.yaml"]);
    assert_eq!(code, 0);
    let order: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.trim_start().split_once(". ").filter(|(n, _)| n.parse::<u32>().is_ok()))
        .filter_map(|(_, rest)| rest.split(' ').next())
        .collect();
    assert_eq!(order, ["validate", "charge-payment", "reserve-inventory", "fulfil", "notify"], "{stdout}");
}

#[test]
fn plan_of_an_invalid_file_exits_1_with_the_report() {
    let file = "tests/corpus/invalid/next-cycle.yaml";
    let (code, stdout, stderr) = run(&["plan", file, "--format", "json"]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "", "no plan for an invalid file");
    assert!(has_line(&stderr, "orchgen::cycle"), "{stderr}");
    assert!(has_line(&stderr, &format!("{file}: 1 error, 0 warnings")), "{stderr}");
}

#[test]
fn plan_with_warnings_prints_them_and_the_plan() {
    let (code, stdout, stderr) = run(&["plan", "tests/corpus/warnings/unused-compensation.yaml", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(has_line(&stderr, "orchgen::unused-compensation"), "{stderr}");
    Plan::from_json(&stdout).expect("the plan is on stdout");
}

#[test]
fn schema_prints_the_committed_schema() {
    let (code, stdout, stderr) = run(&["schema"]);
    assert_eq!(code, 0, "{stderr}");
    let committed =
        std::fs::read_to_string(workspace_root().join(orchgen_generator::schema::SCHEMA_PATH)).expect("schema");
    assert_eq!(stdout, committed, "regenerate with `cargo run -p orchgen -- schema > schema/pipeline.schema.json`");
    let json: Value = serde_json::from_str(&stdout).expect("the schema is JSON");
    assert_eq!(json["$schema"], "http://json-schema.org/draft-07/schema#");
}

#[test]
fn init_scaffolds_a_valid_project_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let target = dir.path().join("shop");
    let target_arg = target.to_str().expect("a UTF-8 temp path");
    let (code, stdout, stderr) = run(&["init", target_arg]);
    assert_eq!(code, 0, "{stderr}");

    let root = workspace_root();
    for (created, original) in [
        ("pipelines/orders.yaml", "pipelines/orders.yaml"),
        ("schema/pipeline.schema.json", "schema/pipeline.schema.json"),
        (".vscode/settings.json", ".vscode/settings.json"),
    ] {
        let path = target.join(created);
        assert!(has_line(&stdout, &format!("created {}", path.display())), "{created} in:\n{stdout}");
        let content = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{created} was not created: {e}"));
        let expected = std::fs::read_to_string(root.join(original)).expect("the original");
        assert_eq!(content, expected, "{created} is a copy of this workspace's {original}");
    }

    let pipeline = target.join("pipelines/orders.yaml");
    let pipeline_arg = pipeline.to_str().expect("a UTF-8 temp path");
    let (code, stdout, stderr) = run(&["validate", pipeline_arg]);
    assert_eq!(code, 0, "the created pipeline validates: {stderr}");
    assert_eq!(stdout, format!("{pipeline_arg}: valid\n"));

    let (code, stdout, stderr) = run(&["init", target_arg]);
    assert_eq!(code, 1, "a second init must not overwrite: {stdout}");
    assert_eq!(stderr, format!("error: {} exists already; pass --force to overwrite it\n", pipeline.display()));

    std::fs::write(&pipeline, "name: changed\n").expect("edit the pipeline");
    let (code, _, stderr) = run(&["init", target_arg, "--force"]);
    assert_eq!(code, 0, "{stderr}");
    let restored = std::fs::read_to_string(&pipeline).expect("the pipeline");
    assert_eq!(restored, std::fs::read_to_string(root.join("pipelines/orders.yaml")).expect("the original"));
}

#[test]
fn completions_print_a_script() {
    let (code, stdout, stderr) = run(&["completions", "bash"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("_orchgen()"), "a bash function for orchgen:\n{stdout}");
    assert!(stdout.contains("complete -F _orchgen"), "{stdout}");
    for shell in ["zsh", "fish"] {
        let (code, stdout, _) = run(&["completions", shell]);
        assert_eq!(code, 0, "{shell}");
        assert!(stdout.contains("orchgen"), "{shell}: {stdout}");
    }
}
