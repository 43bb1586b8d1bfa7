//! A `custom` handler's crate as the pipeline names it: where it is (resolved against the pipeline
//! file's folder), its manifest, which runtime it compiles against, and whether it exports the
//! handler function. `orchgen validate` reports these problems at the handler's `crate:` key, and
//! the dev host and the glue read the package and the runtime from here.
//!
//! The export check is textual (a `pub fn` / `pub async fn` with the function's name, or a `pub use`
//! naming it, in the crate's `src/`): cheap, before anything compiles; the compile proves the rest.

use std::path::{Component, Path, PathBuf};

use orchgen_runtime::plan::{CompensationAction, HandlerPlan, Plan, StepAction};

/// The runtime's package name, as a step crate depends on it.
pub const RUNTIME_PACKAGE: &str = "orchgen-runtime";

/// The plan's custom handlers with the step or compensation naming them, in plan order.
pub fn handlers(plan: &Plan) -> Vec<(String, &HandlerPlan)> {
    let steps = plan.steps.iter().filter_map(|s| match &s.action {
        StepAction::Custom(h) => Some((format!("step `{}`", s.name), h)),
        _ => None,
    });
    let compensations = plan.compensations.values().filter_map(|c| match &c.action {
        CompensationAction::Custom(h) => Some((format!("compensation `{}`", c.name), h)),
        _ => None,
    });
    steps.chain(compensations).collect()
}

/// Why a handler's crate cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrateProblem {
    /// Nothing at the crate's path.
    #[error("there is no crate folder at {}", dir.display())]
    Missing {
        /// The resolved folder.
        dir: PathBuf,
    },
    /// A folder without a Cargo.toml.
    #[error("{} has no Cargo.toml", dir.display())]
    NoManifest {
        /// The resolved folder.
        dir: PathBuf,
    },
    /// A Cargo.toml that does not parse or has no `[package] name`.
    #[error("{}: {message}", path.display())]
    BadManifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The crate's library is called something else than the function path says.
    #[error("the crate at {} is the library `{library}`, but the function path starts with `{expected}`", dir.display())]
    WrongName {
        /// The resolved folder.
        dir: PathBuf,
        /// Its library name.
        library: String,
        /// The function path's first segment.
        expected: String,
    },
    /// The crate does not depend on the runtime by path.
    #[error("{}: {message}", path.display())]
    Runtime {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No `pub fn` of that name in the crate's sources.
    #[error("no `pub async fn {name}` in {} ({files} Rust files read)", dir.display())]
    NotExported {
        /// The sources' folder.
        dir: PathBuf,
        /// The function's last segment.
        name: String,
        /// How many files were read.
        files: usize,
    },
}

/// A handler's crate, found and its manifest read.
#[derive(Debug, Clone)]
pub struct StepCrate {
    /// The crate's folder, absolute (`..` folded lexically, symbolic links kept).
    pub dir: PathBuf,
    /// Its package name (`[package] name`).
    pub package: String,
    /// Its library name (`[lib] name`, else the package name with `-` as `_`).
    pub library: String,
    manifest: toml::Table,
}

impl StepCrate {
    /// The crate of `handler`, whose `crate_path` is relative to `pipeline_dir`.
    pub fn open(pipeline_dir: &Path, handler: &HandlerPlan) -> Result<StepCrate, CrateProblem> {
        let dir = normalise(&pipeline_dir.join(&handler.crate_path));
        if !dir.is_dir() {
            return Err(CrateProblem::Missing { dir });
        }
        let path = dir.join("Cargo.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CrateProblem::NoManifest { dir }),
            Err(e) => return Err(CrateProblem::BadManifest { path, message: e.to_string() }),
        };
        let manifest: toml::Table = text.parse().map_err(|e: toml::de::Error| CrateProblem::BadManifest {
            path: path.clone(),
            message: e.message().to_owned(),
        })?;
        let package = manifest
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(toml::Value::as_str)
            .ok_or_else(|| CrateProblem::BadManifest { path: path.clone(), message: "no `[package] name`".to_owned() })?
            .to_owned();
        let library = manifest
            .get("lib")
            .and_then(|l| l.get("name"))
            .and_then(toml::Value::as_str)
            .map_or_else(|| package.replace('-', "_"), str::to_owned);
        let found = StepCrate { dir, package, library, manifest };
        if found.library != handler.crate_name {
            return Err(CrateProblem::WrongName {
                dir: found.dir,
                library: found.library,
                expected: handler.crate_name.clone(),
            });
        }
        Ok(found)
    }

    /// The manifest's path.
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join("Cargo.toml")
    }

    /// The runtime folder this crate compiles against: its `orchgen-runtime` path dependency,
    /// absolute.
    pub fn runtime_dir(&self) -> Result<PathBuf, CrateProblem> {
        let problem = |message: String| CrateProblem::Runtime { path: self.manifest_path(), message };
        let dependency = self
            .manifest
            .get("dependencies")
            .and_then(|d| d.get(RUNTIME_PACKAGE))
            .ok_or_else(|| problem(format!("the crate does not depend on `{RUNTIME_PACKAGE}`")))?;
        let path = dependency.get("path").and_then(toml::Value::as_str).ok_or_else(|| {
            problem(format!(
                "`{RUNTIME_PACKAGE}` must be a path dependency on orchgen's SDK (`path = \"…/.orchgen/sdk/runtime\"`)"
            ))
        })?;
        Ok(normalise(&self.dir.join(path)))
    }

    /// Whether the crate's sources export `function`'s last segment (textually).
    pub fn check_exports(&self, function: &str) -> Result<(), CrateProblem> {
        let name = function.rsplit("::").next().unwrap_or(function);
        let src = match self.manifest.get("lib").and_then(|l| l.get("path")).and_then(toml::Value::as_str) {
            Some(lib) => normalise(&self.dir.join(lib)).parent().map_or_else(|| self.dir.clone(), Path::to_path_buf),
            None => self.dir.join("src"),
        };
        let mut files = Vec::new();
        rust_files(&src, &mut files, 0);
        let exported = files.iter().any(|file| std::fs::read_to_string(file).is_ok_and(|text| exports(&text, name)));
        if exported {
            Ok(())
        } else {
            Err(CrateProblem::NotExported { dir: src, name: name.to_owned(), files: files.len() })
        }
    }
}

/// Whether `text` declares `pub [async] fn name` or re-exports `name` with `pub use`.
fn exports(text: &str, name: &str) -> bool {
    text.lines().any(|line| {
        if line.trim_start().starts_with("//") {
            return false;
        }
        let words: Vec<&str> = line
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '(' || c == ')'))
            .filter(|w| !w.is_empty())
            .collect();
        let Some(first) = words.first() else { return false };
        if *first != "pub" {
            return false;
        }
        match words.get(1) {
            Some(&"use") => words.iter().skip(2).any(|w| *w == name),
            _ => words
                .windows(2)
                .any(|pair| pair[0] == "fn" && (pair[1] == name || pair[1].starts_with(&format!("{name}(")))),
        }
    })
}

/// The `.rs` files under `dir` (at most 8 levels deep).
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && depth < 8 {
            rust_files(&path, out, depth + 1);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The folder of `pipeline_file`, which anchors its crates' paths (`orders.yaml` has the parent
/// "": the current directory).
pub fn pipeline_folder(pipeline_file: &Path) -> PathBuf {
    match pipeline_file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `path` made absolute against the current folder, `.` and `..` folded lexically.
pub fn normalise(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The path from folder `from` to `to` (both absolute and normalised), with `/` separators.
pub fn relative(from: &Path, to: &Path) -> String {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_owned(); from.len() - common];
    parts.extend(to[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    if parts.is_empty() { ".".to_owned() } else { parts.join("/") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exported_functions_are_found_textually() {
        assert!(exports("pub async fn award(ctx: CustomContext) -> Result<A, StepError> {", "award"));
        assert!(exports("    pub fn award<T>(x: T) {}", "award"));
        assert!(exports("pub use crate::points::{award, other};", "award"));
        assert!(!exports("async fn award(ctx: CustomContext) {}", "award"));
        assert!(!exports("pub(crate) async fn award(ctx: CustomContext) {}", "award"));
        assert!(!exports("pub async fn award_points(ctx: CustomContext) {}", "award"));
        assert!(!exports("// pub async fn award(ctx)", "award"));
    }

    #[test]
    fn paths_are_folded() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(normalise(Path::new("a/../b/./c")), cwd.join("b/c"));
        assert_eq!(normalise(Path::new("/x/y/../../z")), PathBuf::from("/z"));
    }
}
