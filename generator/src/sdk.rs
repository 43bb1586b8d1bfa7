//! The SDK: the sources of the runtime (`orchgen-runtime`) and of the dev server (`orchgen-dev`)
//! this orchgen was built with, carried inside the binary (packed by `generator/build.rs`) and
//! written out where Rust code generated for a pipeline compiles against them.
//!
//! Why: a user's custom step crate, the dev host that runs it under `orchgen dev` and the Lambda
//! glue that runs it on AWS must all compile against **one** `orchgen-runtime` (two copies of the
//! same package at two paths is a "package collision" for cargo), and an installed `orchgen`
//! cannot count on the checkout it was built from still being there. So:
//!
//! - `orchgen new step` writes the SDK into the project, `<project>/.orchgen/sdk/` (git-ignored:
//!   any `orchgen dev` or `orchgen build` writes it again after a fresh clone), and the step crate
//!   depends on `<that>/runtime` by a relative path;
//! - the dev host and the glue use the runtime the pipeline's step crates depend on
//!   ([`for_pipeline`]); orchgen (re)writes it when it is an SDK folder (marked by its
//!   `.orchgen-sdk` stamp: the version and the sources' hash) that is missing or stale, and uses
//!   any other folder as it is (a checkout of orchgen, for its own tests);
//! - a pipeline without custom steps gets the project's SDK.
//!
//! Layout (the workspace's): `runtime/`, `devserver/`, `templates/dev/dashboard.html`,
//! `Cargo.lock` (the versions orchgen was built and tested with, which seed the generated
//! projects' lock files), `.orchgen-sdk`.

use std::path::{Path, PathBuf};

use orchgen_runtime::plan::Plan;

use crate::step_crate::{self, CrateProblem, StepCrate};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/sdk.rs"));
}

/// The project's SDK folder, relative to the project (the current directory).
pub const SDK_DIR: &str = ".orchgen/sdk";
/// The stamp file marking a folder orchgen wrote.
pub const STAMP: &str = ".orchgen-sdk";

/// Why the SDK could not be found or written.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// A custom handler's crate cannot be used.
    #[error("{owner}: {problem}")]
    Crate {
        /// The step or compensation (`step \`award\``).
        owner: String,
        /// What is wrong.
        problem: CrateProblem,
    },
    /// Two step crates depend on two different runtimes.
    #[error(
        "{first} and {second} compile against two different copies of orchgen-runtime ({} and {}): cargo needs one; point both at the project's SDK (`.orchgen/sdk/runtime`)",
        first_dir.display(), second_dir.display()
    )]
    Disagree {
        /// The first step.
        first: String,
        /// Its runtime.
        first_dir: PathBuf,
        /// The other step.
        second: String,
        /// Its runtime.
        second_dir: PathBuf,
    },
    /// The runtime path of a step crate is not where orchgen can write its SDK.
    #[error("{}: orchgen writes its SDK's runtime into a folder named `runtime` (e.g. `.orchgen/sdk/runtime`); point `orchgen-runtime`'s path there", runtime.display())]
    Layout {
        /// The path the crate names.
        runtime: PathBuf,
    },
    /// The SDK folder holds something orchgen did not write.
    #[error("{} exists and was not written by orchgen (no {STAMP} in it): move it away, orchgen writes its SDK there", root.display())]
    Foreign {
        /// The folder.
        root: PathBuf,
    },
    /// A file or folder could not be written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was tried.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Where generated Rust code finds the runtime and the dev server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdk {
    /// The folder holding `runtime/` and `devserver/`, absolute.
    pub root: PathBuf,
}

impl Sdk {
    /// The runtime crate's folder.
    pub fn runtime_dir(&self) -> PathBuf {
        self.root.join("runtime")
    }

    /// The dev server crate's folder.
    pub fn dev_dir(&self) -> PathBuf {
        self.root.join("devserver")
    }

    /// The lock file holding the versions the SDK was built and tested with.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("Cargo.lock")
    }

    /// Whether orchgen wrote this folder (rather than it being a checkout of orchgen).
    pub fn is_written_by_orchgen(&self) -> bool {
        self.root.join(STAMP).is_file()
    }
}

/// What the stamp of this orchgen's SDK says: its version and the hash of its sources.
pub fn stamp() -> String {
    format!("orchgen {} {}\n", env!("CARGO_PKG_VERSION"), embedded::HASH)
}

/// The number of files the SDK holds and their total size in bytes.
pub fn size() -> (usize, usize) {
    (embedded::FILES.len(), embedded::FILES.iter().map(|(_, bytes)| bytes.len()).sum())
}

/// The SDK for `plan`, written when it is an SDK folder that is missing or stale: see [`locate`].
pub fn for_pipeline(plan: &Plan, pipeline_dir: &Path, project_dir: &Path) -> Result<Sdk, SdkError> {
    let sdk = locate(plan, pipeline_dir, project_dir)?;
    sdk.ensure()?;
    Ok(sdk)
}

/// Where the SDK for `plan` is, without writing anything: the runtime its custom step crates
/// depend on (they must agree on one), else the project's `<project_dir>/.orchgen/sdk`.
/// `pipeline_dir` anchors the crates' paths.
pub fn locate(plan: &Plan, pipeline_dir: &Path, project_dir: &Path) -> Result<Sdk, SdkError> {
    let mut chosen: Option<(String, PathBuf)> = None;
    for (owner, handler) in step_crate::handlers(plan) {
        let found = StepCrate::open(pipeline_dir, handler)
            .and_then(|c| c.runtime_dir())
            .map_err(|problem| SdkError::Crate { owner: owner.clone(), problem })?;
        match &chosen {
            None => chosen = Some((owner, found)),
            Some((first, dir)) if *dir != found => {
                return Err(SdkError::Disagree {
                    first: first.clone(),
                    first_dir: dir.clone(),
                    second: owner,
                    second_dir: found,
                });
            }
            Some(_) => {}
        }
    }
    let Some((_, runtime)) = chosen else {
        return Ok(Sdk { root: step_crate::normalise(&project_dir.join(SDK_DIR)) });
    };
    let root = runtime.parent().map(Path::to_path_buf).ok_or_else(|| SdkError::Layout { runtime: runtime.clone() })?;
    let checkout = runtime.join("Cargo.toml").is_file() && !root.join(STAMP).exists();
    if !checkout && runtime.file_name().is_none_or(|n| n != "runtime") {
        return Err(SdkError::Layout { runtime });
    }
    Ok(Sdk { root })
}

impl Sdk {
    /// Writes this orchgen's SDK into the folder when it is missing or stale; a folder orchgen did
    /// not write that holds a runtime (a checkout of orchgen) is used as it is.
    pub fn ensure(&self) -> Result<(), SdkError> {
        if self.runtime_dir().join("Cargo.toml").is_file() && !self.is_written_by_orchgen() {
            return Ok(());
        }
        write(&self.root).map(|_| ())
    }
}

/// Writes this orchgen's SDK into `root` unless its stamp says it is already there. A stale SDK
/// is replaced as a whole (written beside it, then renamed into place, so a concurrent build never
/// sees half of it); a folder orchgen did not write is never touched.
pub fn write(root: &Path) -> Result<Sdk, SdkError> {
    let sdk = Sdk { root: root.to_path_buf() };
    let stamp = stamp();
    let current = |root: &Path| std::fs::read_to_string(root.join(STAMP)).is_ok_and(|s| s == stamp);
    if current(root) {
        return Ok(sdk);
    }
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| SdkError::Io { action, path, source }
    };
    let occupied = std::fs::read_dir(root).is_ok_and(|mut entries| entries.next().is_some());
    if occupied && !root.join(STAMP).exists() {
        return Err(SdkError::Foreign { root: root.to_path_buf() });
    }
    let parent = root.parent().unwrap_or(root);
    std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
    let unique = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
    );
    let name = root.file_name().map_or_else(|| "sdk".into(), |n| n.to_string_lossy().into_owned());
    let fresh = parent.join(format!(".{name}.new-{unique}"));
    for (relative, bytes) in embedded::FILES {
        let path = fresh.join(relative);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
        }
        std::fs::write(&path, bytes).map_err(io("cannot write", &path))?;
    }
    std::fs::write(fresh.join(STAMP), &stamp).map_err(io("cannot write", &fresh.join(STAMP)))?;
    let old = parent.join(format!(".{name}.old-{unique}"));
    let moved_away = occupied && std::fs::rename(root, &old).is_ok();
    let placed = std::fs::rename(&fresh, root);
    if moved_away {
        let _ = std::fs::remove_dir_all(&old);
    }
    match placed {
        Ok(()) => Ok(sdk),
        // Another orchgen placed the same SDK first.
        Err(_) if current(root) => {
            let _ = std::fs::remove_dir_all(&fresh);
            Ok(sdk)
        }
        Err(source) => {
            let _ = std::fs::remove_dir_all(&fresh);
            Err(SdkError::Io { action: "cannot move the SDK into", path: root.to_path_buf(), source })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_is_written_once_and_rewritten_when_stale() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join(".orchgen/sdk");
        let sdk = write(&root).unwrap();
        let manifest = std::fs::read_to_string(sdk.runtime_dir().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"orchgen-runtime\""), "{manifest}");
        assert!(!manifest.contains("workspace = true"), "a standalone manifest: {manifest}");
        let dev = std::fs::read_to_string(sdk.dev_dir().join("Cargo.toml")).unwrap();
        assert!(dev.contains("path = \"../runtime\""), "{dev}");
        assert!(sdk.dev_dir().join("src/lib.rs").is_file());
        assert!(root.join("templates/dev/dashboard.html").is_file());
        assert!(sdk.lock_file().is_file());
        assert!(sdk.is_written_by_orchgen());

        // Current: nothing is rewritten.
        let lib = sdk.runtime_dir().join("src/lib.rs");
        std::fs::write(&lib, "// changed by hand\n").unwrap();
        write(&root).unwrap();
        assert_eq!(std::fs::read_to_string(&lib).unwrap(), "// changed by hand\n");

        // Stale: replaced as a whole, nothing left beside it.
        std::fs::write(root.join(STAMP), "orchgen 0.0.0 old\n").unwrap();
        write(&root).unwrap();
        assert_ne!(std::fs::read_to_string(&lib).unwrap(), "// changed by hand\n");
        let siblings: Vec<_> =
            std::fs::read_dir(root.parent().unwrap()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(siblings, vec![std::ffi::OsString::from("sdk")]);
    }

    #[test]
    fn a_folder_orchgen_did_not_write_is_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
        let error = write(tmp.path()).unwrap_err().to_string();
        assert!(error.contains("was not written by orchgen"), "{error}");
        assert_eq!(std::fs::read_to_string(tmp.path().join("notes.txt")).unwrap(), "mine");
    }
}
