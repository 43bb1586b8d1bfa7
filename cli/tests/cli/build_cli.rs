//! `orchgen build [FILE] [--out DIR] [--check]` as a user runs it (through `orchgen::run`, the
//! code behind the binary): what it writes, that a rerun writes the same bytes and nothing else, and
//! that `--check` passes after a build and fails with a unified diff after a hand edit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use orchgen_tests::workspace_root;

use crate::orchgen;

fn pipeline() -> String {
    workspace_root().join("pipelines/orders.yaml").display().to_string()
}

/// Every file under `dir`, relative path → bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

#[test]
fn build_writes_every_artefact_and_a_rerun_is_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("build");
    let out_arg = out.display().to_string();
    let (code, stdout, stderr) = orchgen(&["build", &pipeline(), "--out", &out_arg]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with(&format!("built {}", out.join("shop").display())), "{stdout}");
    let dir = out.join("shop");
    for file in ["template.json", "openapi.json", "pipeline.schema.json", ".orchgen-files"] {
        assert!(dir.join(file).is_file(), "{file} written");
    }
    assert!(dir.join("glue").is_dir(), "the glue workspace is written");
    let template: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("template.json")).unwrap()).expect("template JSON");
    assert_eq!(template["AWSTemplateFormatVersion"], "2010-09-09");
    let openapi: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("openapi.json")).unwrap()).expect("openapi JSON");
    assert!(openapi["paths"].get("/orders").is_some(), "{openapi}");
    let schema = std::fs::read_to_string(dir.join("pipeline.schema.json")).unwrap();
    assert_eq!(schema.trim_end(), orchgen_generator::schema::pipeline_schema_text().trim_end());

    let first = snapshot(&dir);
    let manifest = std::fs::read_to_string(dir.join(".orchgen-files")).unwrap();
    assert_eq!(manifest.lines().filter(|l| !l.starts_with('#')).count() + 1, first.len(), "{manifest}");
    let (code, stdout, _) = orchgen(&["build", &pipeline(), "--out", &out_arg]);
    assert_eq!(code, 0);
    assert!(stdout.contains(": 0 written,") && stdout.contains(" 0 removed"), "{stdout}");
    assert_eq!(snapshot(&dir), first, "a rerun writes the same bytes");
}

#[test]
fn check_passes_after_a_build_and_fails_with_a_diff_after_a_hand_edit() {
    let tmp = tempfile::tempdir().unwrap();
    let out_arg = tmp.path().join("build").display().to_string();
    let (code, _, stderr) = orchgen(&["build", &pipeline(), "--out", &out_arg, "--check"]);
    assert_eq!(code, 1, "nothing built yet: stale");
    assert!(stderr.contains("is stale"), "{stderr}");
    assert!(!tmp.path().join("build").exists(), "--check writes nothing");

    assert_eq!(orchgen(&["build", &pipeline(), "--out", &out_arg]).0, 0);
    let (code, stdout, stderr) = orchgen(&["build", &pipeline(), "--out", &out_arg, "--check"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("is up to date"), "{stdout}");

    let template = tmp.path().join("build/shop/template.json");
    let text = std::fs::read_to_string(&template).unwrap();
    let edited = text.replacen("\"MemorySize\": 512", "\"MemorySize\": 1024", 1);
    assert_ne!(edited, text, "the charge step has 512 MB");
    std::fs::write(&template, &edited).unwrap();
    let (code, stdout, stderr) = orchgen(&["build", &pipeline(), "--out", &out_arg, "--check"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("--- a/template.json\n+++ b/template.json\n"), "{stdout}");
    assert!(stdout.contains("\n-        \"MemorySize\": 1024,\n+        \"MemorySize\": 512,\n"), "{stdout}");
    assert!(stdout.contains("@@ "), "a unified diff with hunks: {stdout}");
    assert!(stderr.contains("template.json") && stderr.contains("orchgen build"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&template).unwrap(), edited, "--check leaves files alone");

    // A build repairs it, writing only that file.
    let (code, stdout, _) = orchgen(&["build", &pipeline(), "--out", &out_arg]);
    assert_eq!(code, 0);
    assert!(stdout.contains(": 1 written,"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&template).unwrap(), text);
}

#[test]
fn an_invalid_or_missing_pipeline_builds_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "name: shop\nsteps: []\nbogus: 1\n").unwrap();
    let out_arg = tmp.path().join("build").display().to_string();
    let (code, _, stderr) = orchgen(&["build", &bad.display().to_string(), "--out", &out_arg]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("bogus"), "{stderr}");
    let (code, _, stderr) = orchgen(&["build", &tmp.path().join("nope.yaml").display().to_string(), "--out", &out_arg]);
    assert_eq!(code, 2, "{stderr}");
    assert!(!tmp.path().join("build").exists());
}

/// `cd pipelines && orchgen build orders.yaml`: a bare file name has the current directory as its
/// folder (the glue's path to the pipeline's crates is computed from it).
#[test]
fn a_bare_file_name_builds_from_the_current_directory() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(workspace_root().join("pipelines/orders.yaml"), tmp.path().join("orders.yaml")).unwrap();
    let output = std::process::Command::new(crate::orchgen_bin())
        .current_dir(tmp.path())
        .args(["build", "orders.yaml", "--out", "build"])
        .output()
        .expect("orchgen runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.starts_with("built build/shop"), "{stdout}");
    assert!(tmp.path().join("build/shop/template.json").is_file());
    assert!(tmp.path().join("build/shop/glue/Cargo.toml").is_file());
}
