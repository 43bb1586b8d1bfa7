//! `orchgen init`: a project — a pipeline file with the schema modeline, the schema, editor
//! settings, a `.gitignore` and a Cargo workspace for its custom steps; `orchgen new step`
//! ([`step`]) adds a step crate to it.

pub mod step;

use std::path::{Path, PathBuf};

use crate::schema::{SCHEMA_PATH, pipeline_schema_text};

/// Where `orchgen init` puts the pipeline in a project (and where the `orchgen` command looks when
/// no file is named).
pub const DEFAULT_PIPELINE: &str = "pipelines/orders.yaml";

/// The pipeline written by `orchgen init`: the reference pipeline of this repository.
pub const PIPELINE_TEMPLATE: &str = include_str!("../../pipelines/orders.yaml");

/// VS Code settings that map pipeline files to the schema (the YAML extension reads them).
pub const VSCODE_SETTINGS: &str = include_str!("../../.vscode/settings.json");

/// Why scaffolding stopped.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// A file is in the way.
    #[error("{0} exists already; pass --force to overwrite it")]
    Exists(PathBuf),
    /// Writing failed.
    #[error("cannot write {0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
    /// The request cannot be done as asked.
    #[error("{0}")]
    Invalid(String),
}

/// The project's `.gitignore`: what orchgen and cargo write.
pub const GITIGNORE: &str = "# orchgen dev's data and the SDK (.orchgen/), orchgen build's output, cargo's target folder\n/.orchgen/\n/build/\n/target/\n";

/// The project's Cargo workspace: its custom step crates.
pub const WORKSPACE_MANIFEST: &str = r#"# The project's Rust code: the custom steps under steps/ (`orchgen new step NAME` adds one).
# `cargo test` here runs their unit tests. orchgen's own generated projects (.orchgen/, build/)
# are workspaces of their own.
[workspace]
resolver = "2"
members = ["steps/*"]
exclude = [".orchgen", "build"]
"#;

/// Writes the scaffold into `dir`; returns the files written.
pub fn scaffold(dir: &Path, force: bool) -> Result<Vec<PathBuf>, ScaffoldError> {
    let files = [
        (dir.join(DEFAULT_PIPELINE), PIPELINE_TEMPLATE.to_owned()),
        (dir.join(SCHEMA_PATH), pipeline_schema_text()),
        (dir.join(".vscode/settings.json"), VSCODE_SETTINGS.to_owned()),
        (dir.join(".gitignore"), GITIGNORE.to_owned()),
        (dir.join("Cargo.toml"), WORKSPACE_MANIFEST.to_owned()),
    ];
    if !force && let Some((path, _)) = files.iter().find(|(p, _)| p.exists()) {
        return Err(ScaffoldError::Exists(path.clone()));
    }
    let mut written = Vec::new();
    for (path, content) in files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| ScaffoldError::Io(parent.to_path_buf(), e))?;
        }
        std::fs::write(&path, content).map_err(|e| ScaffoldError::Io(path.clone(), e))?;
        written.push(path);
    }
    Ok(written)
}
