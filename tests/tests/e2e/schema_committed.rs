//! The committed editor support is current: `schema/pipeline.schema.json` is exactly what the
//! generator produces, `.vscode/settings.json` maps pipeline files to it, and every pipeline file
//! carries the modeline that points yaml-language-server at it.

use orchgen_generator::schema::{SCHEMA_PATH, pipeline_schema_text};
use orchgen_tests::workspace_root;
use serde_json::Value;

const REGENERATE: &str = "cargo run -p orchgen -- schema > schema/pipeline.schema.json";

/// The modeline of a pipeline file in `pipelines/`.
const MODELINE: &str = "# yaml-language-server: $schema=../schema/pipeline.schema.json";

#[test]
fn the_committed_schema_is_current() {
    let path = workspace_root().join(SCHEMA_PATH);
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {SCHEMA_PATH} ({e}); create it with `{REGENERATE}`"));
    let generated = pipeline_schema_text();
    if committed != generated {
        let first_difference = committed
            .lines()
            .zip(generated.lines())
            .enumerate()
            .find(|(_, (c, g))| c != g)
            .map(|(i, (c, g))| format!("first difference at line {}:\n  committed: {c}\n  generated: {g}", i + 1))
            .unwrap_or_else(|| {
                format!(
                    "one is a prefix of the other ({} vs {} lines)",
                    committed.lines().count(),
                    generated.lines().count()
                )
            });
        panic!("{SCHEMA_PATH} is stale: regenerate it with `{REGENERATE}`\n{first_difference}");
    }
}

#[test]
fn vscode_maps_pipeline_files_to_the_schema() {
    let path = workspace_root().join(".vscode/settings.json");
    let text = std::fs::read_to_string(&path).expect(".vscode/settings.json exists");
    let settings: Value = serde_json::from_str(&text).expect(".vscode/settings.json is JSON");
    let schemas = settings["yaml.schemas"].as_object().expect("`yaml.schemas` is an object");
    let globs = schemas
        .iter()
        .find(|(schema, _)| schema.trim_start_matches("./") == SCHEMA_PATH)
        .map(|(_, globs)| globs)
        .unwrap_or_else(|| panic!("`yaml.schemas` has no entry for {SCHEMA_PATH}: {text}"));
    let globs: Vec<&str> = match globs {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        other => panic!("the globs of {SCHEMA_PATH} must be a string or a list, found {other}"),
    };
    assert!(globs.contains(&"pipelines/*.yaml"), "{SCHEMA_PATH} is not mapped to `pipelines/*.yaml`: {globs:?}");
}

#[test]
fn the_reference_pipeline_starts_with_the_modeline() {
    let text = std::fs::read_to_string(workspace_root().join("pipelines/orders.yaml")).expect("pipelines/orders.yaml");
    assert_eq!(text.lines().next(), Some(MODELINE), "pipelines/orders.yaml must start with `{MODELINE}`");
}

#[test]
fn every_pipeline_file_starts_with_the_modeline() {
    let dir = workspace_root().join("pipelines");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("pipelines/ exists") {
        let path = entry.expect("a directory entry").path();
        if !path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&path).expect("a pipeline file");
        assert_eq!(text.lines().next(), Some(MODELINE), "{} must start with `{MODELINE}`", path.display());
    }
    assert!(seen > 0, "no pipeline file in pipelines/");
}

#[test]
fn the_modeline_reaches_the_schema() {
    let relative = MODELINE.split_once("$schema=").map(|(_, p)| p).expect("the modeline names a schema");
    let target = workspace_root().join("pipelines").join(relative);
    let canonical = target.canonicalize().unwrap_or_else(|e| panic!("{} does not exist: {e}", target.display()));
    let schema = workspace_root().join(SCHEMA_PATH).canonicalize().expect("the committed schema exists");
    assert_eq!(canonical, schema);
}
