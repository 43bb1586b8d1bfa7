//! The dev host: `orchgen dev` with the pipeline's custom handlers compiled in.
//!
//! A `custom` step names a Rust function in the user's crate, so it cannot run in the prebuilt
//! `orchgen` binary. When the plan has custom steps or compensations, `orchgen dev` writes a small
//! Cargo project into `<data dir>/host/` — its own `[workspace]`, depending by path on the
//! `orchgen-dev` crate (the dev server, without the pipeline language, the command line or the
//! deploy SDKs), the runtime crate (both from the [`crate::sdk`] the step crates compile against,
//! so there is one `orchgen-runtime`) and every user crate — whose `main` registers each custom
//! function (through `orchgen_runtime::steps::FnStep`, as the Lambda glue does) and calls
//! `orchgen_dev::host_main`, which runs the launch file `orchgen dev` wrote. It is built with `cargo build` (target directory `CARGO_TARGET_DIR`, else
//! `<host>/target`, kept across starts so a second start is fast) and then run in place of
//! `orchgen dev` with the same options.
//!
//! Templates live in `templates/dev/`, are compiled in, and each is filled from one `Serialize`
//! context struct; output is deterministic (crates and handlers by name). Files are rewritten only
//! when their text changes, so cargo sees an unchanged host as fresh.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use orchgen_runtime::plan::Plan;
use serde::Serialize;

use crate::build::glue::{self, GlueError, GlueOptions};
use crate::sdk::{Sdk, SdkError};
use crate::step_crate::{self, StepCrate};

/// The host project's folder inside the data directory.
pub const HOST_DIR: &str = "host";

/// The templates, compiled in, by name.
const CARGO_TOML: (&str, &str) = ("dev/Cargo.toml.tera", include_str!("../../templates/dev/Cargo.toml.tera"));
const MAIN_RS: (&str, &str) = ("dev/main.rs.tera", include_str!("../../templates/dev/main.rs.tera"));

/// Why the dev host could not be prepared or built.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A custom handler cannot be called (bad function path, one crate at two directories).
    #[error(transparent)]
    Handler(#[from] GlueError),
    /// The runtime and dev server sources could not be found or written, or a crate is unusable.
    #[error(transparent)]
    Sdk(#[from] SdkError),
    /// The runtime the step crates use has no dev server beside it.
    #[error("the step crates compile against the runtime at {}, but there is no dev server (orchgen-dev) at {}", runtime.display(), dev.display())]
    NoDevServer {
        /// The runtime's folder.
        runtime: PathBuf,
        /// Where the dev server was looked for.
        dev: PathBuf,
    },
    /// A file or folder could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was tried (`cannot write`).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A template failed to render (a bug of orchgen).
    #[error("dev host template `{template}` failed to render: {message}")]
    Template {
        /// The template.
        template: &'static str,
        /// What went wrong.
        message: String,
    },
    /// cargo could not be started.
    #[error("cannot run `{cargo}` to build the dev host: {source}")]
    Cargo {
        /// The cargo command.
        cargo: String,
        /// The cause.
        source: std::io::Error,
    },
    /// cargo failed (e.g. the user's crate does not compile); its messages went to stderr.
    #[error("the dev host for the custom steps did not build (cargo: {status}); see cargo's messages above")]
    BuildFailed {
        /// cargo's exit status.
        status: std::process::ExitStatus,
    },
}

/// Where the host's dependencies are, all absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostOptions {
    /// The runtime and the dev server the host and the step crates compile against.
    pub sdk: Sdk,
    /// The pipeline file's folder (custom crates' paths are relative to it).
    pub pipeline_dir: PathBuf,
}

impl HostOptions {
    /// Options for `plan` from `pipeline_file`: the SDK its step crates depend on (written when it
    /// is missing or stale; see [`crate::sdk::for_pipeline`]); `project_dir` holds the project's SDK.
    pub fn for_pipeline(plan: &Plan, pipeline_file: &Path, project_dir: &Path) -> Result<HostOptions, HostError> {
        let pipeline_dir = absolute(&step_crate::pipeline_folder(pipeline_file))?;
        let sdk = crate::sdk::for_pipeline(plan, &pipeline_dir, project_dir)?;
        if !sdk.dev_dir().join("Cargo.toml").is_file() {
            return Err(HostError::NoDevServer { runtime: sdk.runtime_dir(), dev: sdk.dev_dir() });
        }
        Ok(HostOptions { sdk, pipeline_dir })
    }
}

/// Whether `orchgen dev` needs a dev host for this plan (it has custom steps or compensations).
pub fn needs_host(plan: &Plan) -> bool {
    !step_crate::handlers(plan).is_empty()
}

/// The host binary's name (one per pipeline, so hosts can share a target directory).
pub fn binary_name(plan: &Plan) -> String {
    format!("orchgen-dev-host-{}", plan.name)
}

/// Context of `Cargo.toml.tera`.
#[derive(Debug, Serialize)]
struct CargoContext {
    /// The pipeline's name.
    pipeline: String,
    /// The package name.
    package: String,
    /// The binary name.
    bin: String,
    /// The `orchgen-dev` crate's folder, as a TOML string.
    dev_path: String,
    /// The runtime crate's folder, as a TOML string.
    runtime_path: String,
    /// The user crates, by name.
    crates: Vec<CrateEntry>,
}

/// A dependency on a user's crate.
#[derive(Debug, Serialize)]
struct CrateEntry {
    /// The crate's library name (the dependency's name in Rust code).
    name: String,
    /// Its package name, as a TOML string.
    package: String,
    /// Its absolute folder, as a TOML string.
    path: String,
}

/// Context of `main.rs.tera`.
#[derive(Debug, Serialize)]
struct MainContext {
    /// The pipeline's name.
    pipeline: String,
    /// The handlers to register, by function path.
    handlers: Vec<HandlerEntry>,
}

/// A custom handler to register.
#[derive(Debug, Serialize)]
struct HandlerEntry {
    /// The function path as a Rust string literal (the registry key).
    key: String,
    /// The function path as Rust code.
    path: String,
}

/// Every file of the host project, by path relative to its folder (deterministic output).
pub fn files(plan: &Plan, options: &HostOptions) -> Result<BTreeMap<PathBuf, String>, HostError> {
    // The glue's checks: function paths Rust can call, one folder per crate name.
    glue::files(
        plan,
        &GlueOptions {
            runtime_path: options.sdk.runtime_dir().to_string_lossy().into_owned(),
            pipeline_dir: options.pipeline_dir.to_string_lossy().into_owned(),
            packages: BTreeMap::new(),
        },
    )?;
    let mut crates = BTreeMap::new();
    let mut handlers = BTreeMap::new();
    for (owner, handler) in step_crate::handlers(plan) {
        let found = StepCrate::open(&options.pipeline_dir, handler)
            .map_err(|problem| HostError::Sdk(SdkError::Crate { owner, problem }))?;
        crates.insert(
            handler.crate_name.clone(),
            (toml_string(&found.package), toml_string(&found.dir.to_string_lossy())),
        );
        handlers.insert(handler.function.clone(), format!("{:?}", handler.function));
    }
    let tera = templates()?;
    let cargo = CargoContext {
        pipeline: plan.name.clone(),
        package: format!("{}-dev-host", plan.name),
        bin: binary_name(plan),
        dev_path: toml_string(&options.sdk.dev_dir().to_string_lossy()),
        runtime_path: toml_string(&options.sdk.runtime_dir().to_string_lossy()),
        crates: crates.into_iter().map(|(name, (package, path))| CrateEntry { name, package, path }).collect(),
    };
    let main = MainContext {
        pipeline: plan.name.clone(),
        handlers: handlers.into_iter().map(|(path, key)| HandlerEntry { key, path }).collect(),
    };
    let mut files = BTreeMap::new();
    files.insert(PathBuf::from("Cargo.toml"), render(&tera, CARGO_TOML.0, &cargo)?);
    files.insert(PathBuf::from("src/main.rs"), render(&tera, MAIN_RS.0, &main)?);
    files.insert(PathBuf::from(".gitignore"), "/target\n/bin\n".to_owned());
    Ok(files)
}

/// Writes `files` into `dir` (only those whose text changed) and, when `dir` has no Cargo.lock,
/// copies the SDK's (the versions orchgen was built and tested with, which also lets an offline
/// build resolve). Each file is written to a temporary file and renamed into place, so a build
/// never reads half a file.
pub fn write(dir: &Path, files: &BTreeMap<PathBuf, String>, sdk: &Sdk) -> Result<(), HostError> {
    for (relative, text) in files {
        let path = dir.join(relative);
        if std::fs::read_to_string(&path).is_ok_and(|old| old == *text) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| HostError::Io {
                action: "cannot create",
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let tmp = path.with_extension("orchgen-tmp");
        std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path)).map_err(|source| HostError::Io {
            action: "cannot write",
            path,
            source,
        })?;
    }
    let lock = dir.join("Cargo.lock");
    let workspace_lock = sdk.lock_file();
    if !lock.exists() && workspace_lock.is_file() {
        std::fs::copy(&workspace_lock, &lock).map_err(|source| HostError::Io {
            action: "cannot copy Cargo.lock to",
            path: lock.clone(),
            source,
        })?;
    }
    Ok(())
}

/// Builds the host in `dir` with cargo (its messages go to this process's stderr); returns the
/// binary, copied to `<dir>/bin/`. The target directory is `CARGO_TARGET_DIR` when set, else
/// `<dir>/target`.
///
/// Hosts of pipelines with the same name (two projects, or two data directories) build the same
/// binary path in a shared target directory; cargo serialises their builds but not what happens
/// after, so the build and the copy run under an exclusive lock on `<target>/.orchgen-dev-host.lock`
/// and each start runs the binary it built.
pub fn build(plan: &Plan, dir: &Path) -> Result<PathBuf, HostError> {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(target) if !target.is_empty() => absolute(Path::new(&target))?,
        _ => absolute(&dir.join("target"))?,
    };
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| HostError::Io { action, path, source }
    };
    std::fs::create_dir_all(&target).map_err(io("cannot create", &target))?;
    let lock_path = target.join(".orchgen-dev-host.lock");
    let lock = std::fs::File::create(&lock_path).map_err(io("cannot create", &lock_path))?;
    lock.lock().map_err(io("cannot lock", &lock_path))?;
    let cargo = crate::cargo::program();
    let bin = binary_name(plan);
    let status = crate::cargo::command(&cargo)
        .args(["build", "--bin", &bin, "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .map_err(|source| HostError::Cargo { cargo: cargo.clone(), source })?;
    if !status.success() {
        return Err(HostError::BuildFailed { status });
    }
    let file = format!("{bin}{}", std::env::consts::EXE_SUFFIX);
    let built = target.join("debug").join(&file);
    let bin_dir = dir.join("bin");
    std::fs::create_dir_all(&bin_dir).map_err(io("cannot create", &bin_dir))?;
    let copy = bin_dir.join(&file);
    // Through a temporary name: a host still running from the previous copy keeps its file.
    let tmp = bin_dir.join(format!("{file}.tmp"));
    std::fs::copy(&built, &tmp).map_err(io("cannot copy the dev host to", &tmp))?;
    std::fs::rename(&tmp, &copy).map_err(io("cannot write", &copy))?;
    drop(lock);
    Ok(copy)
}

fn templates() -> Result<tera::Tera, HostError> {
    let mut tera = tera::Tera::new();
    for (name, source) in [CARGO_TOML, MAIN_RS] {
        tera.add_raw_template(name, source)
            .map_err(|e| HostError::Template { template: name, message: e.to_string() })?;
    }
    Ok(tera)
}

fn render(tera: &tera::Tera, template: &'static str, context: &impl Serialize) -> Result<String, HostError> {
    let failed = |e: tera::Error| HostError::Template { template, message: e.to_string() };
    let context = tera::Context::from_serialize(context).map_err(failed)?;
    tera.render(template, &context).map_err(failed)
}

/// `path` made absolute against the current directory, `..` folded when it exists.
fn absolute(path: &Path) -> Result<PathBuf, HostError> {
    if let Ok(canonical) = std::fs::canonicalize(path) {
        return Ok(canonical);
    }
    std::path::absolute(path).map_err(|source| HostError::Io {
        action: "cannot resolve",
        path: path.to_path_buf(),
        source,
    })
}

/// A TOML basic string (JSON string escapes are valid TOML escapes).
fn toml_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(path: &Path) -> Plan {
        crate::check_file(path).expect("readable").plan.expect("valid")
    }

    fn fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/custom-dev/pipeline.yaml")
    }

    fn workspace() -> PathBuf {
        std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("..")).unwrap()
    }

    #[test]
    fn the_host_registers_every_custom_function_deterministically() {
        let file = fixture();
        let plan = plan(&file);
        assert!(needs_host(&plan));
        let options = HostOptions::for_pipeline(&plan, &file, &std::env::temp_dir()).unwrap();
        // The fixture's crate compiles against the checkout's runtime: the host uses it and its dev server.
        assert_eq!(options.sdk.root, workspace());
        let first = files(&plan, &options).unwrap();
        assert_eq!(first, files(&plan, &options).unwrap());
        let main = &first[Path::new("src/main.rs")];
        assert!(
            main.contains(
                r#"registry.register("loyalty::award", std::sync::Arc::new(orchgen_runtime::steps::FnStep(loyalty::award)));"#
            ),
            "{main}"
        );
        assert!(main.contains("orchgen_dev::host_main(registry)"), "{main}");
        let cargo = &first[Path::new("Cargo.toml")];
        let loyalty = std::fs::canonicalize(file.parent().unwrap().join("loyalty")).unwrap();
        assert!(
            cargo.contains(&format!(
                "loyalty = {{ path = {}, package = \"loyalty\" }}",
                toml_string(&loyalty.to_string_lossy())
            )),
            "{cargo}"
        );
        let dev = workspace().join("devserver");
        assert!(
            cargo.contains(&format!("orchgen-dev = {{ path = {} }}", toml_string(&dev.to_string_lossy()))),
            "{cargo}"
        );
        assert!(cargo.contains("[workspace]"), "{cargo}");
        assert!(cargo.contains(r#"name = "orchgen-dev-host-loyalty-shop""#), "{cargo}");
    }

    #[test]
    fn pipelines_without_custom_steps_need_no_host() {
        let plan = plan(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/orders.yaml"));
        assert!(!needs_host(&plan));
    }

    #[test]
    fn a_missing_crate_is_reported() {
        let file = fixture();
        let plan = plan(&file);
        let elsewhere = std::env::temp_dir().join("orchgen-no-such-folder").join("pipeline.yaml");
        let error = HostOptions::for_pipeline(&plan, &elsewhere, &std::env::temp_dir()).unwrap_err().to_string();
        assert!(error.starts_with("step `award-points`: there is no crate folder at"), "{error}");
        assert!(error.contains("orchgen-no-such-folder/loyalty"), "{error}");
    }
}
