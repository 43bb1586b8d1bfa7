//! `orchgen build`: the deployable artefacts of a pipeline, rendered from its [`Plan`] into
//! `<out>/<pipeline>/` (by default `build/<pipeline>/`):
//!
//! - `template.json` — the CloudFormation template ([`cloudformation`]);
//! - `glue/` — the Cargo workspace of the Lambda glue binaries ([`glue`]);
//! - `openapi.json` — the OpenAPI document of the order API;
//! - `pipeline.schema.json` — the JSON Schema of pipeline files;
//! - `.orchgen-files` — the list of files orchgen wrote, so a later build removes the ones it no
//!   longer generates (and never touches anything else, such as the glue's `target/`).
//!
//! Output is deterministic: the same plan gives byte-identical files. [`write`] rewrites only the
//! files whose content changed (so their timestamps, and cargo's incremental builds, survive);
//! [`check`] compares with what is on disk and returns unified diffs of what is stale.

pub mod cloudformation;
pub mod glue;
pub mod names;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use orchgen_runtime::plan::Plan;

use crate::step_crate::relative;

/// The CloudFormation template, relative to the build directory.
pub const TEMPLATE_FILE: &str = "template.json";
/// The OpenAPI document.
pub const OPENAPI_FILE: &str = "openapi.json";
/// The JSON Schema of pipeline files.
pub const SCHEMA_FILE: &str = "pipeline.schema.json";
/// The glue workspace's folder.
pub const GLUE_DIR: &str = "glue";
/// The list of generated files.
pub const MANIFEST_FILE: &str = ".orchgen-files";
/// The default output folder (the build directory is `<out>/<pipeline name>`).
pub const DEFAULT_OUT: &str = "build";

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The CloudFormation template could not be generated.
    #[error(transparent)]
    CloudFormation(#[from] cloudformation::CfnError),
    /// The glue could not be generated.
    #[error(transparent)]
    Glue(#[from] glue::GlueError),
    /// The runtime sources the glue compiles against could not be found or written.
    #[error(transparent)]
    Sdk(#[from] crate::sdk::SdkError),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A generated document could not be serialised.
    #[error("{file}: {message}")]
    Json {
        /// The file.
        file: String,
        /// What went wrong.
        message: String,
    },
}

/// Where the build reads from and writes to.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The pipeline file (its folder anchors the crate paths of `custom` steps).
    pub pipeline_file: PathBuf,
    /// The output folder; the build directory is `<out>/<pipeline name>`.
    pub out: PathBuf,
    /// The project's folder (default `.`, the current one): a pipeline without custom steps
    /// compiles against the project's SDK, `<project>/.orchgen/sdk` ([`crate::sdk`]).
    pub project_dir: PathBuf,
}

impl BuildOptions {
    /// Options for `pipeline_file` into `out`, in the project of the current folder.
    pub fn new(pipeline_file: impl Into<PathBuf>, out: impl Into<PathBuf>) -> BuildOptions {
        BuildOptions { pipeline_file: pipeline_file.into(), out: out.into(), project_dir: PathBuf::from(".") }
    }

    /// The same options in the project `dir`.
    pub fn in_project(self, dir: impl Into<PathBuf>) -> BuildOptions {
        BuildOptions { project_dir: dir.into(), ..self }
    }

    /// The runtime and dev server sources the glue compiles against (nothing is written): the ones
    /// the plan's step crates use, else the project's SDK.
    pub fn sdk(&self, plan: &Plan) -> Result<crate::sdk::Sdk, BuildError> {
        let pipeline_dir = absolute(&crate::step_crate::pipeline_folder(&self.pipeline_file))?;
        Ok(crate::sdk::locate(plan, &pipeline_dir, &absolute(&self.project_dir)?)?)
    }

    /// The build directory of `plan`: `<out>/<pipeline name>`.
    pub fn build_dir(&self, plan: &Plan) -> PathBuf {
        self.out.join(&plan.name)
    }
}

/// Every file of the build, by path relative to the build directory (the manifest included).
pub fn artefacts(plan: &Plan, options: &BuildOptions) -> Result<BTreeMap<PathBuf, String>, BuildError> {
    let mut files = BTreeMap::new();
    files.insert(PathBuf::from(TEMPLATE_FILE), cloudformation::template(plan)?);
    files.insert(PathBuf::from(OPENAPI_FILE), pretty(OPENAPI_FILE, &orchgen_runtime::api::openapi(plan))?);
    let mut schema = crate::schema::pipeline_schema_text();
    if !schema.ends_with('\n') {
        schema.push('\n');
    }
    files.insert(PathBuf::from(SCHEMA_FILE), schema);
    let glue_dir = absolute(&options.build_dir(plan).join(GLUE_DIR))?;
    let absolute_pipeline_dir = absolute(&crate::step_crate::pipeline_folder(&options.pipeline_file))?;
    let packages = crate::step_crate::handlers(plan)
        .into_iter()
        .filter_map(|(_, h)| crate::step_crate::StepCrate::open(&absolute_pipeline_dir, h).ok())
        .map(|c| (c.library, c.package))
        .collect();
    let glue_options = glue::GlueOptions {
        runtime_path: relative(&glue_dir, &options.sdk(plan)?.runtime_dir()),
        pipeline_dir: relative(&glue_dir, &absolute_pipeline_dir),
        packages,
    };
    for (path, text) in glue::files(plan, &glue_options)? {
        files.insert(Path::new(GLUE_DIR).join(path), text);
    }
    let mut manifest: String = files.keys().map(|p| format!("{}\n", slash(p))).collect();
    manifest.insert_str(0, "# Files written by `orchgen build`; a rebuild removes those it no longer generates.\n");
    files.insert(PathBuf::from(MANIFEST_FILE), manifest);
    Ok(files)
}

fn pretty(file: &str, value: &serde_json::Value) -> Result<String, BuildError> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| BuildError::Json { file: file.to_owned(), message: e.to_string() })?;
    text.push('\n');
    Ok(text)
}

/// A path with `/` separators, as written in the manifest and in diffs.
fn slash(path: &Path) -> String {
    path.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/")
}

/// `path` made absolute against the current folder, with `.` and `..` resolved lexically.
fn absolute(path: &Path) -> Result<PathBuf, BuildError> {
    let abs = std::path::absolute(path).map_err(|source| BuildError::Io { path: path.to_path_buf(), source })?;
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Ok(out)
}

/// The files a previous build listed in its manifest (only safe relative paths).
fn previous_files(dir: &Path) -> BTreeSet<PathBuf> {
    let Ok(text) = std::fs::read_to_string(dir.join(MANIFEST_FILE)) else {
        return BTreeSet::new();
    };
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(PathBuf::from)
        .filter(|p| p.components().all(|c| matches!(c, Component::Normal(_))))
        .collect()
}

/// What [`write`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteReport {
    /// Files created or rewritten.
    pub written: Vec<PathBuf>,
    /// Files whose content was already right.
    pub unchanged: usize,
    /// Files of an earlier build that are no longer generated, removed.
    pub removed: Vec<PathBuf>,
}

/// Writes `files` under `dir`, only those whose content differs, and removes the files an earlier
/// build generated that are no longer part of it.
pub fn write(dir: &Path, files: &BTreeMap<PathBuf, String>) -> Result<WriteReport, BuildError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io { path, source }
    };
    let mut report = WriteReport::default();
    let previous = previous_files(dir);
    for (rel, text) in files {
        let path = dir.join(rel);
        if std::fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
            report.unchanged += 1;
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, text).map_err(io(&path))?;
        report.written.push(rel.clone());
    }
    for rel in previous.into_iter().filter(|p| !files.contains_key(p)) {
        let path = dir.join(&rel);
        match std::fs::remove_file(&path) {
            Ok(()) => report.removed.push(rel),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
    }
    Ok(report)
}

/// How a file on disk differs from the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stale {
    /// The file is missing; the diff shows all of it.
    Missing {
        /// Relative path.
        path: PathBuf,
        /// Unified diff from nothing.
        diff: String,
    },
    /// The file differs.
    Changed {
        /// Relative path.
        path: PathBuf,
        /// Unified diff from the disk to the build.
        diff: String,
    },
    /// An earlier build wrote this file; this one does not generate it.
    Extra {
        /// Relative path.
        path: PathBuf,
    },
}

impl Stale {
    /// The file concerned.
    pub fn path(&self) -> &Path {
        match self {
            Stale::Missing { path, .. } | Stale::Changed { path, .. } | Stale::Extra { path } => path,
        }
    }
}

fn unified_diff(rel: &Path, old: &str, new: &str) -> String {
    let name = slash(rel);
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

/// Compares `files` with what is under `dir`: every file that is missing, differs, or was generated
/// before and would now be removed.
pub fn check(dir: &Path, files: &BTreeMap<PathBuf, String>) -> Result<Vec<Stale>, BuildError> {
    let mut stale = Vec::new();
    for (rel, text) in files {
        let path = dir.join(rel);
        match std::fs::read(&path) {
            Ok(bytes) if bytes == text.as_bytes() => {}
            Ok(bytes) => {
                let old = String::from_utf8_lossy(&bytes);
                stale.push(Stale::Changed { path: rel.clone(), diff: unified_diff(rel, &old, text) });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                stale.push(Stale::Missing { path: rel.clone(), diff: unified_diff(rel, "", text) });
            }
            Err(source) => return Err(BuildError::Io { path, source }),
        }
    }
    for rel in previous_files(dir).into_iter().filter(|p| !files.contains_key(p)) {
        if dir.join(&rel).exists() {
            stale.push(Stale::Extra { path: rel });
        }
    }
    Ok(stale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_walk_up_then_down() {
        assert_eq!(relative(Path::new("/w/build/shop/glue"), Path::new("/w/runtime")), "../../../runtime");
        assert_eq!(relative(Path::new("/w/a"), Path::new("/w/a")), ".");
        assert_eq!(absolute(Path::new("/w/x/../y/./z")).unwrap(), PathBuf::from("/w/y/z"));
    }

    #[test]
    fn write_then_check_then_edit() {
        let dir = std::env::temp_dir().join(format!("orchgen-build-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut files = BTreeMap::from([
            (PathBuf::from("a.txt"), "one\ntwo\n".to_owned()),
            (PathBuf::from(MANIFEST_FILE), "a.txt\nsub/b.txt\n".to_owned()),
            (PathBuf::from("sub/b.txt"), "b\n".to_owned()),
        ]);
        assert_eq!(check(&dir, &files).unwrap().len(), 3);
        let first = write(&dir, &files).unwrap();
        assert_eq!(first.written.len(), 3);
        assert!(check(&dir, &files).unwrap().is_empty());
        assert_eq!(write(&dir, &files).unwrap(), WriteReport { unchanged: 3, ..WriteReport::default() });
        std::fs::write(dir.join("a.txt"), "one\nTWO\n").unwrap();
        let stale = check(&dir, &files).unwrap();
        assert!(matches!(&stale[..], [Stale::Changed { diff, .. }] if diff.contains("-TWO\n+two\n")), "{stale:?}");
        files.remove(Path::new("sub/b.txt"));
        files.insert(PathBuf::from(MANIFEST_FILE), "a.txt\n".to_owned());
        let stale = check(&dir, &files).unwrap();
        assert!(stale.iter().any(|s| matches!(s, Stale::Extra { path } if path == Path::new("sub/b.txt"))));
        let report = write(&dir, &files).unwrap();
        assert_eq!(report.removed, vec![PathBuf::from("sub/b.txt")]);
        assert!(!dir.join("sub/b.txt").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
