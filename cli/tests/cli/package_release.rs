//! `orchgen package` as a user runs it (through `orchgen::run`, the code behind the binary): it
//! release-builds the glue of the reference pipeline (`pipelines/orders.yaml`) for real (target folder
//! `target/nested`, shared with `deploy_moto`) and zips each function. The zips are what Lambda's
//! `provided.al2023` runtime takes: an executable entry `bootstrap` and the `plan.json` it reads, at
//! most 3 MB, needing GLIBC ≤ 2.34; packaging again gives the same SHA-256; a pipeline edit that
//! changes no code rebuilds no binary and changes only the plan in the zips. Also: an architecture this machine cannot
//! build is refused before anything is built, and `orchgen build` leaves no `Cargo.lock` in the glue
//! while `--check` ignores the one cargo creates there.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use orchgen_runtime::lambda;
use orchgen_tests::workspace_root;
use sha2::{Digest, Sha256};

use crate::orchgen;

/// Largest zip accepted (Lambda's direct upload takes 50 MB; small zips keep cold starts short).
const MAX_ZIP_BYTES: u64 = 3 * 1024 * 1024;
/// Newest glibc the `provided.al2023` runtime has.
const MAX_GLIBC: (u32, u32) = (2, 34);

/// A copy of `pipelines/orders.yaml` in `dir` declaring `architecture` instead of its x86_64.
fn orders_for(dir: &Path, architecture: &str) -> PathBuf {
    let text = std::fs::read_to_string(workspace_root().join("pipelines/orders.yaml")).expect("read orders.yaml");
    assert!(text.contains("architecture: x86_64"), "orders.yaml declares x86_64");
    let path = dir.join("orders.yaml");
    std::fs::write(&path, text.replace("architecture: x86_64", &format!("architecture: {architecture}")))
        .expect("write the copy");
    path
}

fn plan_of(path: &Path) -> orchgen_runtime::plan::Plan {
    let checked = orchgen_generator::check_file(path).expect("the pipeline reads");
    checked.plan.unwrap_or_else(|| panic!("{} is valid:\n{}", path.display(), checked.report.render(100)))
}

/// `readelf` (binutils) from the PATH, or a loud skip.
fn readelf() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).map(|d| d.join("readelf")).find(|p| p.is_file());
    orchgen_tests::tool("readelf (binutils)", found.unwrap_or_else(|| PathBuf::from("/usr/bin/readelf")))
}

fn host_triple() -> String {
    let output = Command::new("rustc").arg("-vV").output().expect("rustc runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.lines().find_map(|l| l.strip_prefix("host: ")).expect("a host line").trim().to_owned()
}

/// The GLIBC symbol versions a binary needs, from `readelf --version-info` (e.g. `GLIBC_2.34`).
fn glibc_versions(readelf: &Path, binary: &Path) -> Vec<(u32, u32, String)> {
    let output = Command::new(readelf).arg("--version-info").arg("--wide").arg(binary).output().expect("readelf runs");
    assert!(output.status.success(), "readelf reads {}: {}", binary.display(), String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    let mut versions = Vec::new();
    for word in text.split(|c: char| c.is_whitespace()) {
        let Some(version) = word.strip_prefix("GLIBC_") else { continue };
        let mut parts = version.split('.').map(|p| p.parse::<u32>());
        if let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) {
            versions.push((major, minor, word.to_owned()));
        }
    }
    versions.sort();
    versions.dedup();
    versions
}

#[test]
fn the_reference_pipeline_packages_into_small_deterministic_lambda_zips() {
    let Some(readelf) = readelf() else { return };
    let host = host_triple();
    let architecture = if host.starts_with("aarch64") { "arm64" } else { "x86_64" };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = if architecture == "x86_64" {
        workspace_root().join("pipelines/orders.yaml")
    } else {
        orders_for(dir.path(), architecture)
    };
    let plan = plan_of(&file);
    // The build folder deploy_moto uses too (taken in turns): one glue, built once.
    let glue = orchgen_tests::ReleaseGlue::lock();
    let out = glue.out().to_path_buf();
    let target = orchgen_tests::nested_target();
    let args = [
        "package",
        file.to_str().expect("utf-8 path"),
        "--out",
        out.to_str().expect("utf-8 path"),
        "--target-dir",
        target.to_str().expect("utf-8 path"),
    ];

    let (code, stdout, stderr) = orchgen(&args);
    assert_eq!(code, 0, "orchgen package succeeds:\n{stdout}\n{stderr}");
    let build_dir = out.join(&plan.name);
    assert!(build_dir.join("template.json").is_file(), "package writes the build too");

    let functions = lambda::functions(&plan);
    assert_eq!(functions.len(), 9, "{functions:?}");
    let mut first = Vec::new();
    let mut offenders = Vec::new();
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).expect("create a folder");
    for function in &functions {
        let zip_path = build_dir.join("dist").join(format!("{function}.zip"));
        let bytes = std::fs::read(&zip_path).unwrap_or_else(|e| panic!("{} exists: {e}", zip_path.display()));
        let sha = format!("{:x}", Sha256::digest(&bytes));
        assert!(
            stdout.contains(&format!("{function}  {}  {} bytes  sha256:{sha}", zip_path.display(), bytes.len())),
            "the zip's line is printed:\n{stdout}"
        );
        assert!(bytes.len() as u64 <= MAX_ZIP_BYTES, "{} is {} bytes, over 3 MB", zip_path.display(), bytes.len());

        let (binary, plan_json) = unzip_function(&bytes, &zip_path);
        assert_eq!(plan_json, std::fs::read(build_dir.join("glue/plan.json")).expect("the glue's plan"));
        assert!(binary.starts_with(b"\x7fELF"), "{function}: bootstrap is an ELF executable");
        let path = unpacked.join(function.name());
        std::fs::write(&path, &binary).expect("write the binary");
        let versions = glibc_versions(&readelf, &path);
        assert!(!versions.is_empty(), "{function} links glibc dynamically (found no GLIBC_ version)");
        offenders.extend(
            versions
                .into_iter()
                .filter(|(major, minor, _)| (*major, *minor) > MAX_GLIBC)
                .map(|(_, _, v)| (function.name(), v)),
        );
        first.push((function.clone(), sha));
    }
    assert!(offenders.is_empty(), "binaries needing a glibc newer than 2.34: {offenders:?}");
    assert!(stdout.contains(&format!("packaged 9 functions of `{}`", plan.name)), "{stdout}");

    // Packaging again gives the same bytes.
    let (code, stdout, stderr) = orchgen(&args);
    assert_eq!(code, 0, "the second package succeeds:\n{stdout}\n{stderr}");
    for (function, sha) in &first {
        let bytes = std::fs::read(build_dir.join("dist").join(format!("{function}.zip"))).expect("the zip");
        assert_eq!(&format!("{:x}", Sha256::digest(&bytes)), sha, "{function}: same binary, same zip");
    }

    // The library call agrees with the command and names artefacts by their hash.
    let options = orchgen_generator::package::PackageOptions {
        build: orchgen_generator::build::BuildOptions::new(&file, &out),
        target_dir: Some(target.clone()),
    };
    let artefacts = orchgen_generator::package::package(&plan, &options).expect("package through the library");
    assert_eq!(artefacts.iter().map(|a| (a.function.clone(), a.sha256.clone())).collect::<Vec<_>>(), first);
    let key = orchgen_generator::package::s3_key(&plan, &artefacts[2]);
    assert_eq!(key, format!("{}/step-validate/{}.zip", plan.name, artefacts[2].sha256));

    // Cargo created a Cargo.lock in the glue; `orchgen build --check` does not count it (nor dist/).
    assert!(build_dir.join("glue/Cargo.lock").is_file(), "cargo wrote a lock file while building");
    let (code, stdout, stderr) =
        orchgen(&["build", file.to_str().expect("utf-8"), "--out", out.to_str().expect("utf-8"), "--check"]);
    assert_eq!(code, 0, "--check stays clean after a build with cargo:\n{stdout}\n{stderr}");

    // A pipeline edit that changes no code (a step's timeout) rebuilds no binary: the zips change only
    // by their plan, which says the new timeout.
    if architecture != "x86_64" {
        return;
    }
    let text = std::fs::read_to_string(&file).expect("read orders.yaml");
    // (The reference pipeline has no custom crate: its glue does not depend on where the file is.)
    let edited = dir.path().join("edited.yaml");
    let timeout = "    timeout: 15s";
    assert!(text.contains(timeout), "orders.yaml declares a step with `{timeout}`");
    std::fs::write(&edited, text.replacen(timeout, "    timeout: 14s", 1)).expect("write the edited copy");
    let built: Vec<_> = functions.iter().map(|f| modified(&target.join("release").join(f.name()))).collect();
    let args = ["package", edited.to_str().expect("utf-8"), "--out", out.to_str().expect("utf-8"), "--target-dir"];
    let (code, stdout, stderr) = orchgen(&[&args[..], &[target.to_str().expect("utf-8")]].concat());
    assert_eq!(code, 0, "packaging the edited pipeline succeeds:\n{stdout}\n{stderr}");
    for (function, before) in functions.iter().zip(built) {
        assert_eq!(modified(&target.join("release").join(function.name())), before, "{function} was not rebuilt");
        let zip_path = build_dir.join("dist").join(format!("{function}.zip"));
        let bytes = std::fs::read(&zip_path).expect("the zip");
        let (binary, plan_json) = unzip_function(&bytes, &zip_path);
        assert_eq!(binary, std::fs::read(unpacked.join(function.name())).expect("the first binary"), "{function}");
        let plan = orchgen_runtime::plan::Plan::from_json(std::str::from_utf8(&plan_json).expect("utf-8"))
            .expect("the zipped plan reads");
        assert!(plan.steps.iter().any(|s| s.timeout_ms == 14_000), "{function}: the zipped plan has the new timeout");
    }
}

/// The `bootstrap` (an executable, first) and `plan.json` (read-only, second) of a function's zip.
fn unzip_function(bytes: &[u8], path: &Path) -> (Vec<u8>, Vec<u8>) {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    let names: Vec<String> = archive.file_names().map(|n| n.expect("an entry name").into_owned()).collect();
    assert_eq!(names, ["bootstrap", "plan.json"], "{}", path.display());
    let mut read = |index: usize, mode: u32| {
        let mut entry = archive.by_index(index).expect("an entry");
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(mode), "{}: entry {index}", path.display());
        let mut content = Vec::new();
        entry.read_to_end(&mut content).expect("unzip");
        content
    };
    (read(0, 0o755), read(1, 0o644))
}

fn modified(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path).and_then(|m| m.modified()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn an_architecture_this_machine_cannot_build_is_refused_before_building() {
    let host = host_triple();
    let (other, triple) = if host.starts_with("aarch64") {
        ("x86_64", "x86_64-unknown-linux-gnu")
    } else {
        ("arm64", "aarch64-unknown-linux-gnu")
    };
    let libdir = Command::new("rustc").args(["--print", "target-libdir", "--target", triple]).output();
    let installed = libdir.is_ok_and(|o| {
        let dir = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
        std::fs::read_dir(dir)
            .is_ok_and(|mut e| e.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libstd"))))
    });
    if installed {
        eprintln!("the Rust target {triple} is installed here: nothing to refuse");
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = orders_for(dir.path(), other);
    let out = dir.path().join("build");
    let (code, stdout, stderr) = orchgen(&[
        "package",
        file.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--target-dir",
        dir.path().join("target").to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let message = stderr.trim_end();
    assert!(
        message.starts_with(&format!(
            "error: cannot package `shop` for {other}: the Rust target {triple} is not installed"
        )),
        "{message}"
    );
    assert!(message.contains(&format!("functions: architecture: {other}")), "says where it comes from: {message}");
    assert!(message.contains(&format!("rustup target add {triple}")), "says how to fix it: {message}");
    assert!(message.contains("cargo-lambda is neither used nor required"), "{message}");
    assert!(!out.exists(), "nothing was written or built");
    assert!(!dir.path().join("target").exists(), "cargo never ran");
}

#[test]
fn orchgen_build_writes_no_cargo_lock_and_check_ignores_the_one_cargo_creates() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = dir.path().join("build");
    let file = workspace_root().join("pipelines/orders.yaml");
    let build = |check: bool| {
        let mut args = vec!["build", file.to_str().expect("utf-8"), "--out", out.to_str().expect("utf-8")];
        if check {
            args.push("--check");
        }
        orchgen(&args)
    };
    let (code, stdout, stderr) = build(false);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let glue = out.join("shop/glue");
    assert!(glue.join("Cargo.toml").is_file());
    assert!(!glue.join("Cargo.lock").exists(), "orchgen build writes no Cargo.lock");
    let manifest = std::fs::read_to_string(out.join("shop/.orchgen-files")).expect("the manifest");
    assert!(!manifest.contains("Cargo.lock"), "{manifest}");

    // What `cargo build` leaves in the glue: a lock file (and a target folder).
    let lock = std::fs::read_to_string(workspace_root().join("Cargo.lock")).expect("the workspace lock");
    std::fs::write(glue.join("Cargo.lock"), lock).expect("write a lock");
    std::fs::create_dir_all(glue.join("target/release")).expect("a target folder");
    std::fs::write(glue.join("target/release/api"), b"binary").expect("a binary");
    let (code, stdout, stderr) = build(true);
    assert_eq!(code, 0, "--check ignores what cargo created:\n{stdout}\n{stderr}");
    assert!(stdout.contains("is up to date"), "{stdout}");

    // A rebuild leaves them alone.
    let (code, stdout, stderr) = build(false);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(glue.join("Cargo.lock").is_file(), "a rebuild does not delete cargo's lock file");
    assert!(glue.join("target/release/api").is_file(), "nor the target folder");
}
