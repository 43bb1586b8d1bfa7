//! `orchgen package`: the deployable code of a pipeline — one zip per Lambda function.
//!
//! [`package`] writes the build (exactly as `orchgen build`), release-builds the glue workspace
//! (`<build dir>/glue`) with plain cargo, and zips each function's binary as `bootstrap` (mode 0755,
//! what the `provided.al2023` runtime executes) with the plan beside it (`plan.json`, mode 0644,
//! which the binary reads at start-up: the plan is not compiled in, so a pipeline edit that changes no
//! code — a retry, a timeout, a table setting — rebuilds nothing and only zips again) into
//! `<build dir>/dist/<function>.zip`.
//!
//! The zips are deterministic: two entries in a fixed order, a fixed timestamp (1980-01-01 00:00),
//! fixed permissions and compression, so the same binary and plan always give the same bytes and the
//! same SHA-256; [`s3_key`] names an artefact by that hash, so an unchanged function is never
//! uploaded twice.
//!
//! Only the plan's declared architecture is built. x86_64 and arm64 build natively on a machine of
//! that architecture; the other one needs its Rust target and a cross linker installed, otherwise
//! [`package`] refuses with [`PackageError::Architecture`] before building anything. cargo-lambda
//! is not used nor required.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use orchgen_runtime::functions::{self as plan_functions, Function};
use orchgen_runtime::plan::{Architecture, Plan};
use sha2::{Digest, Sha256};

use crate::build::{self, BuildError, BuildOptions};

/// The folder of the zips, relative to the build directory.
pub const DIST_DIR: &str = "dist";
/// The name of the executable inside each zip (what `provided.al2023` runs).
pub const BOOTSTRAP: &str = "bootstrap";
/// The plan inside each zip, next to [`BOOTSTRAP`] (what the runtime's `lambda::read_plan` reads).
pub const PLAN_FILE: &str = orchgen_runtime::functions::PLAN_FILE;
/// The glue's target folder, relative to the glue workspace, when neither an option nor
/// `CARGO_TARGET_DIR` names one.
pub const DEFAULT_TARGET_DIR: &str = "target";

/// What to package and where to build it.
#[derive(Debug, Clone)]
pub struct PackageOptions {
    /// The build (pipeline file, output folder, runtime crate).
    pub build: BuildOptions,
    /// Cargo's target folder for the glue; `None`: `CARGO_TARGET_DIR`, else `<build dir>/glue/target`.
    pub target_dir: Option<PathBuf>,
}

impl PackageOptions {
    /// Options for `pipeline_file` built into `out`, with the default target folder.
    pub fn new(pipeline_file: impl Into<PathBuf>, out: impl Into<PathBuf>) -> PackageOptions {
        PackageOptions { build: BuildOptions::new(pipeline_file, out), target_dir: None }
    }

    /// The cargo target folder used for `plan`: the option, else `CARGO_TARGET_DIR`, else
    /// `<build dir>/glue/target`.
    pub fn target_dir(&self, plan: &Plan) -> PathBuf {
        if let Some(dir) = &self.target_dir {
            return dir.clone();
        }
        match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => self.build.build_dir(plan).join(build::GLUE_DIR).join(DEFAULT_TARGET_DIR),
        }
    }
}

/// One packaged function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artefact {
    /// The function.
    pub function: Function,
    /// Its zip: `<build dir>/dist/<function>.zip`.
    pub zip: PathBuf,
    /// SHA-256 of the zip, lower-case hex.
    pub sha256: String,
    /// Size of the zip in bytes.
    pub bytes: u64,
}

/// Why packaging failed.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The build could not be written.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The plan's architecture cannot be built on this machine.
    #[error(transparent)]
    Architecture(Box<ArchitectureRefusal>),
    /// A tool (cargo, rustc) could not be started.
    #[error("cannot run `{tool}`: {source}")]
    Tool {
        /// The program.
        tool: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The glue did not build.
    #[error(
        "the glue of `{pipeline}` failed to build (`cargo build --release` of {manifest} {status}); cargo's messages are above"
    )]
    Cargo {
        /// The pipeline.
        pipeline: String,
        /// The glue's manifest.
        manifest: PathBuf,
        /// How cargo ended.
        status: String,
    },
    /// Cargo succeeded but a function's binary is not where it should be.
    #[error("cargo built the glue but {function}'s binary is missing at {}", path.display())]
    MissingBinary {
        /// The function.
        function: String,
        /// Where it was expected.
        path: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A zip could not be written.
    #[error("{}: cannot write the zip: {message}", path.display())]
    Zip {
        /// The zip.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// Why the plan's architecture cannot be built on this machine (boxed: it is large).
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot package `{pipeline}` for {architecture}: {reason}. The pipeline declares `functions: architecture: {architecture}` \
     (Rust target {target}); this machine builds {host}. Declare `architecture: {host_architecture}` in the pipeline, \
     package on a {architecture} machine, or install the target and a cross linker \
     (`rustup target add {target}` and set CARGO_TARGET_{target_env}_LINKER). orchgen builds with plain cargo: \
     cargo-lambda is neither used nor required"
)]
pub struct ArchitectureRefusal {
    /// The pipeline.
    pub pipeline: String,
    /// The declared architecture (`arm64`, `x86_64`).
    pub architecture: &'static str,
    /// Its Rust target triple.
    pub target: &'static str,
    /// The same, as in cargo's environment variables.
    pub target_env: String,
    /// The host's target triple.
    pub host: String,
    /// The architecture this machine builds natively.
    pub host_architecture: &'static str,
    /// What is missing.
    pub reason: String,
}

/// The S3 key of an artefact: `<pipeline>/<function>/<sha256>.zip` (content-addressed, so an
/// unchanged function keeps its key and is not uploaded again).
pub fn s3_key(plan: &Plan, artefact: &Artefact) -> String {
    format!("{}/{}/{}.zip", plan.name, artefact.function, artefact.sha256)
}

/// Writes the build of `plan`, release-builds its glue and zips every function of
/// [`plan_functions::functions`]; returns the artefacts in that order. Progress and cargo's output go to
/// stderr.
pub fn package(plan: &Plan, options: &PackageOptions) -> Result<Vec<Artefact>, PackageError> {
    let toolchain = Toolchain::detect()?;
    let target = toolchain.target_for(plan)?;

    let dir = options.build.build_dir(plan);
    let files = build::artefacts(plan, &options.build)?;
    let written = build::write(&dir, &files)?;
    eprintln!(
        "orchgen: built {} ({} written, {} unchanged, {} removed)",
        dir.display(),
        written.written.len(),
        written.unchanged,
        written.removed.len()
    );

    let glue = dir.join(build::GLUE_DIR);
    let sdk = options.build.sdk(plan)?;
    sdk.ensure().map_err(BuildError::from)?;
    seed_lockfile(&glue, &sdk.lock_file())?;
    let target_dir = absolute(&options.target_dir(plan))?;
    let manifest = glue.join("Cargo.toml");
    eprintln!(
        "orchgen: cargo build --release of {} for {} (target folder {})",
        manifest.display(),
        target.triple,
        target_dir.display()
    );
    let mut cargo = crate::cargo::command(&toolchain.cargo);
    cargo.args(["build", "--release", "--bins", "--manifest-path"]).arg(&manifest).env("CARGO_TARGET_DIR", &target_dir);
    if let Some(triple) = target.cross {
        cargo.args(["--target", triple]);
    }
    if let Some((var, linker)) = &target.linker {
        cargo.env(var, linker);
    }
    // Cargo's messages go to stderr; stdout stays the command's own.
    cargo.stdin(Stdio::null()).stdout(stderr_stdio()).stderr(Stdio::inherit());
    let status = cargo
        .status()
        .map_err(|source| PackageError::Tool { tool: toolchain.cargo.to_string_lossy().into(), source })?;
    if !status.success() {
        return Err(PackageError::Cargo { pipeline: plan.name.clone(), manifest, status: status.to_string() });
    }
    let release = match target.cross {
        Some(triple) => target_dir.join(triple).join("release"),
        None => target_dir.join("release"),
    };

    let dist = dir.join(DIST_DIR);
    std::fs::create_dir_all(&dist).map_err(io(&dist))?;
    let plan_path = glue.join(PLAN_FILE);
    let plan_json = std::fs::read(&plan_path).map_err(io(&plan_path))?;
    let functions = plan_functions::functions(plan);
    let mut artefacts = Vec::with_capacity(functions.len());
    for function in functions {
        let binary = release.join(function.name());
        if !binary.is_file() {
            return Err(PackageError::MissingBinary { function: function.name(), path: binary });
        }
        let zip = dist.join(format!("{}.zip", function.name()));
        let bytes = zip_function(&binary, &plan_json, &zip)?;
        let sha256 = format!("{:x}", Sha256::digest(&bytes));
        eprintln!("orchgen: packaged {} ({} bytes, sha256 {})", zip.display(), bytes.len(), &sha256[..12]);
        artefacts.push(Artefact { function, zip, sha256, bytes: bytes.len() as u64 });
    }
    remove_stale_zips(&dist, &artefacts)?;
    Ok(artefacts)
}

/// Zips `binary` as `bootstrap` (mode 0755) and `plan_json` as `plan.json` (mode 0644), fixed
/// timestamps, into `zip`, written through a temporary file and renamed; returns the zip's bytes.
fn zip_function(binary: &Path, plan_json: &[u8], zip: &Path) -> Result<Vec<u8>, PackageError> {
    let content = std::fs::read(binary).map_err(io(binary))?;
    let zip_error = |e: zip::result::ZipError| PackageError::Zip { path: zip.to_path_buf(), message: e.to_string() };
    let options = |mode: u32, len: usize| {
        zip::write::SimpleFileOptions::DEFAULT
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(9))
            .last_modified_time(zip::DateTime::DEFAULT)
            .system(zip::System::Unix)
            .unix_permissions(mode)
            .large_file(len as u64 >= u64::from(u32::MAX))
    };
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    writer.start_file(BOOTSTRAP, options(0o755, content.len())).map_err(zip_error)?;
    writer.write_all(&content).map_err(io(zip))?;
    writer.start_file(PLAN_FILE, options(0o644, plan_json.len())).map_err(zip_error)?;
    writer.write_all(plan_json).map_err(io(zip))?;
    let bytes = writer.finish().map_err(zip_error)?.into_inner();
    let partial = zip.with_extension("zip.partial");
    std::fs::write(&partial, &bytes).map_err(io(&partial))?;
    std::fs::rename(&partial, zip).map_err(io(zip))?;
    Ok(bytes)
}

/// Removes the zips of functions the plan no longer has.
fn remove_stale_zips(dist: &Path, artefacts: &[Artefact]) -> Result<(), PackageError> {
    let entries = std::fs::read_dir(dist).map_err(io(dist))?;
    for entry in entries {
        let path = entry.map_err(io(dist))?.path();
        let is_zip = path.extension().is_some_and(|e| e == "zip");
        if is_zip && !artefacts.iter().any(|a| a.zip == path) {
            std::fs::remove_file(&path).map_err(io(&path))?;
            eprintln!("orchgen: removed {} (no longer a function of the pipeline)", path.display());
        }
    }
    Ok(())
}

/// Gives the glue the versions orchgen was built and tested with (the SDK's `Cargo.lock`) when it
/// has no lock file yet; cargo trims it to the glue's own graph. `orchgen build` writes no
/// `Cargo.lock` and `--check` ignores this one (it is not in the manifest).
fn seed_lockfile(glue: &Path, workspace_lock: &Path) -> Result<(), PackageError> {
    let lock = glue.join("Cargo.lock");
    if lock.exists() {
        return Ok(());
    }
    if workspace_lock.is_file() {
        std::fs::copy(workspace_lock, &lock).map_err(io(&lock))?;
    }
    Ok(())
}

/// A standard stream handle that writes to this process's stderr (so a child's stdout does not mix
/// with what `orchgen package` prints on stdout).
fn stderr_stdio() -> Stdio {
    use std::os::fd::AsFd;
    match std::io::stderr().as_fd().try_clone_to_owned() {
        Ok(fd) => Stdio::from(fd),
        Err(_) => Stdio::inherit(),
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PackageError + '_ {
    move |source| PackageError::Io { path: path.to_path_buf(), source }
}

fn absolute(path: &Path) -> Result<PathBuf, PackageError> {
    std::path::absolute(path).map_err(io(path))
}

/// The Rust toolchain found on this machine.
struct Toolchain {
    cargo: OsString,
    rustc: OsString,
    /// The host's target triple (`rustc -vV`).
    host: String,
}

/// How to build for the plan's architecture.
struct Target {
    triple: &'static str,
    /// `Some(triple)` when it is not the host's: cargo gets `--target`.
    cross: Option<&'static str>,
    /// A linker found for a cross build, set through cargo's environment.
    linker: Option<(String, OsString)>,
}

impl Toolchain {
    fn detect() -> Result<Toolchain, PackageError> {
        let cargo = std::env::var_os("CARGO").filter(|c| !c.is_empty()).unwrap_or_else(|| "cargo".into());
        let rustc = std::env::var_os("RUSTC").filter(|c| !c.is_empty()).unwrap_or_else(|| "rustc".into());
        let output = Command::new(&rustc)
            .arg("-vV")
            .stdin(Stdio::null())
            .output()
            .map_err(|source| PackageError::Tool { tool: rustc.to_string_lossy().into(), source })?;
        let text = String::from_utf8_lossy(&output.stdout);
        let host = text.lines().find_map(|l| l.strip_prefix("host: ")).map(str::trim).unwrap_or_default().to_owned();
        if !output.status.success() || host.is_empty() {
            return Err(PackageError::Tool {
                tool: format!("{} -vV", rustc.to_string_lossy()),
                source: std::io::Error::other(format!(
                    "it gave no host triple ({}): {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                )),
            });
        }
        Ok(Toolchain { cargo, rustc, host })
    }

    /// How to build for `plan`'s architecture here, or why it cannot be built.
    fn target_for(&self, plan: &Plan) -> Result<Target, PackageError> {
        let (architecture, triple) = match plan.functions.architecture {
            Architecture::X86_64 => ("x86_64", "x86_64-unknown-linux-gnu"),
            Architecture::Arm64 => ("arm64", "aarch64-unknown-linux-gnu"),
        };
        if self.host == triple {
            return Ok(Target { triple, cross: None, linker: None });
        }
        let target_env = triple.to_uppercase().replace('-', "_");
        let refuse = |reason: String| {
            PackageError::Architecture(Box::new(ArchitectureRefusal {
                pipeline: plan.name.clone(),
                architecture,
                target: triple,
                target_env: target_env.clone(),
                host: self.host.clone(),
                host_architecture: if self.host.starts_with("aarch64") { "arm64" } else { "x86_64" },
                reason,
            }))
        };
        if !self.target_installed(triple) {
            return Err(refuse(format!("the Rust target {triple} is not installed")));
        }
        let var = format!("CARGO_TARGET_{target_env}_LINKER");
        if std::env::var_os(&var).is_some_and(|v| !v.is_empty()) {
            return Ok(Target { triple, cross: Some(triple), linker: None });
        }
        let gcc = format!("{}-linux-gnu-gcc", triple.split('-').next().unwrap_or(triple));
        match find_in_path(&gcc) {
            Some(linker) => Ok(Target { triple, cross: Some(triple), linker: Some((var, linker.into_os_string())) }),
            None => Err(refuse(format!("no linker for it (neither {var} nor `{gcc}` on PATH)"))),
        }
    }

    /// Whether the standard library of `triple` is installed (`rustc --print target-libdir`).
    fn target_installed(&self, triple: &str) -> bool {
        let output = Command::new(&self.rustc)
            .args(["--print", "target-libdir", "--target", triple])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output();
        let Ok(output) = output else { return false };
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        output.status.success()
            && std::fs::read_dir(&dir).is_ok_and(|mut entries| {
                entries.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libstd")))
            })
    }
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_binary_and_plan_give_the_same_zip() {
        let dir = std::env::temp_dir().join(format!("orchgen-package-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let binary = dir.join("bin");
        std::fs::write(&binary, b"\x7fELF not really a binary, but bytes all the same").unwrap();
        let plan = b"{\"name\": \"shop\"}\n";
        let first = zip_function(&binary, plan, &dir.join("a.zip")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second = zip_function(&binary, plan, &dir.join("b.zip")).unwrap();
        assert_eq!(first, second);
        let other_plan = zip_function(&binary, b"{}", &dir.join("c.zip")).unwrap();
        assert_ne!(first, other_plan, "the plan is part of the zip");
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(first)).unwrap();
        assert_eq!(archive.len(), 2);
        for (index, name, mode) in [(0, BOOTSTRAP, 0o755), (1, PLAN_FILE, 0o644)] {
            let entry = archive.by_index(index).unwrap();
            assert_eq!(entry.name().ok().as_deref(), Some(name));
            assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(mode));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn keys_are_content_addressed() {
        let plan = crate::check_source(crate::source::SourceFile::new(
            "orders.yaml",
            include_str!("../../pipelines/orders.yaml"),
        ))
        .plan
        .unwrap();
        let artefact = Artefact {
            function: Function::step("charge-payment"),
            zip: PathBuf::from("build/shop/dist/step-charge-payment.zip"),
            sha256: "ab".repeat(32),
            bytes: 1,
        };
        assert_eq!(s3_key(&plan, &artefact), format!("{}/step-charge-payment/{}.zip", plan.name, "ab".repeat(32)));
    }
}
