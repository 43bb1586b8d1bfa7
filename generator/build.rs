//! Packs the SDK into the generator: the sources of the runtime (`orchgen-runtime`) and of the dev
//! server (`orchgen-dev`), the dev dashboard's page and the workspace's `Cargo.lock`, so that an
//! installed `orchgen` binary — far from the checkout it was built in — can write them out for the
//! Cargo projects it generates (the dev host, the Lambda glue) and for the users' step crates
//! (`generator/src/sdk.rs`).
//!
//! The crates' manifests inherit from the workspace (`version.workspace = true`, `serde = {
//! workspace = true }`); the packed copies are standalone: every inherited value is written out,
//! path dependencies point at the sibling folder, and what only the workspace's own tests use
//! (dev-dependencies, test and bench targets) is left out.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The crates the SDK holds, by folder (as in the workspace).
const CRATES: [&str; 2] = ["runtime", "devserver"];
/// Single files the SDK holds, relative to the workspace.
const FILES: [&str; 2] = ["templates/dev/dashboard.html", "Cargo.lock"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().expect("the generator sits in the workspace").to_path_buf();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let root_manifest = read_table(&workspace.join("Cargo.toml"));
    println!("cargo:rerun-if-changed={}", workspace.join("Cargo.toml").display());

    // (path in the SDK, file to include)
    let mut entries: Vec<(String, PathBuf)> = Vec::new();
    for krate in CRATES {
        let dir = workspace.join(krate);
        let manifest = dir.join("Cargo.toml");
        println!("cargo:rerun-if-changed={}", manifest.display());
        let standalone = standalone_manifest(&root_manifest, &read_table(&manifest), &manifest);
        let written = out_dir.join("sdk").join(krate).join("Cargo.toml");
        std::fs::create_dir_all(written.parent().expect("a folder")).expect("create the SDK folder in OUT_DIR");
        std::fs::write(&written, standalone).expect("write a standalone manifest");
        entries.push((format!("{krate}/Cargo.toml"), written));
        let src = dir.join("src");
        println!("cargo:rerun-if-changed={}", src.display());
        let mut sources = Vec::new();
        walk(&src, &mut sources);
        sources.sort();
        for file in sources {
            let relative = file.strip_prefix(&workspace).expect("inside the workspace");
            entries.push((slash(relative), file));
        }
    }
    for file in FILES {
        let path = workspace.join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        entries.push((file.to_owned(), path));
    }

    let mut hash = Sha256::new();
    let mut code = String::from(
        "/// The SDK's files: (path inside the SDK, contents).\npub static FILES: &[(&str, &[u8])] = &[\n",
    );
    for (path, file) in &entries {
        let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        hash.update(path.as_bytes());
        hash.update([0]);
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(&bytes);
        writeln!(code, "    ({path:?}, include_bytes!({:?})),", file.to_string_lossy()).expect("write to a String");
    }
    code.push_str("];\n");
    let digest: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    writeln!(
        code,
        "/// SHA-256 over every file's path and contents: the SDK's identity.\npub const HASH: &str = {digest:?};"
    )
    .expect("write to a String");
    std::fs::write(out_dir.join("sdk.rs"), code).expect("write sdk.rs");
}

fn read_table(path: &Path) -> toml::Table {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.parse().unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// `member` (a workspace member's manifest) with every value inherited from `root` written out.
fn standalone_manifest(root: &toml::Table, member: &toml::Table, path: &Path) -> String {
    let workspace = root.get("workspace").and_then(toml::Value::as_table).expect("the root manifest has [workspace]");
    let package_defaults = workspace.get("package").and_then(toml::Value::as_table).cloned().unwrap_or_default();
    let dependency_defaults =
        workspace.get("dependencies").and_then(toml::Value::as_table).cloned().unwrap_or_default();
    let mut out = toml::Table::new();
    for (key, value) in member {
        match key.as_str() {
            "package" => {
                let mut package = toml::Table::new();
                for (field, value) in value.as_table().expect("[package] is a table") {
                    let inherited =
                        value.as_table().is_some_and(|t| t.get("workspace") == Some(&toml::Value::Boolean(true)));
                    let value = if inherited {
                        package_defaults.get(field).cloned().unwrap_or_else(|| {
                            panic!("{}: package.{field} is not in [workspace.package]", path.display())
                        })
                    } else {
                        value.clone()
                    };
                    package.insert(field.clone(), value);
                }
                out.insert(key.clone(), toml::Value::Table(package));
            }
            "dependencies" => {
                let mut dependencies = toml::Table::new();
                for (name, value) in value.as_table().expect("[dependencies] is a table") {
                    dependencies.insert(name.clone(), standalone_dependency(name, value, &dependency_defaults, path));
                }
                out.insert(key.clone(), toml::Value::Table(dependencies));
            }
            // Only the workspace's own tests, benches and lints use these.
            "dev-dependencies" | "test" | "bench" | "example" | "lints" => {}
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    let mut text = String::from(
        "# Written by orchgen from the sources it was built with (its SDK): do not edit, orchgen rewrites it.\n",
    );
    text.push_str(&toml::to_string(&out).expect("a manifest serialises"));
    text
}

/// One dependency with `workspace = true` resolved; a path dependency points at the sibling folder.
fn standalone_dependency(name: &str, value: &toml::Value, defaults: &toml::Table, path: &Path) -> toml::Value {
    let Some(local) = value.as_table().filter(|t| t.get("workspace") == Some(&toml::Value::Boolean(true))) else {
        return value.clone();
    };
    let base =
        defaults.get(name).unwrap_or_else(|| panic!("{}: {name} is not in [workspace.dependencies]", path.display()));
    let mut merged = match base {
        toml::Value::String(version) => {
            let mut t = toml::Table::new();
            t.insert("version".to_owned(), toml::Value::String(version.clone()));
            t
        }
        toml::Value::Table(t) => t.clone(),
        other => panic!("{}: [workspace.dependencies] {name} = {other}", path.display()),
    };
    if let Some(toml::Value::String(p)) = merged.get("path") {
        let sibling = format!("../{p}");
        merged.insert("path".to_owned(), toml::Value::String(sibling));
    }
    for (key, value) in local {
        match key.as_str() {
            "workspace" => {}
            "features" => {
                let mut features = merged.get("features").and_then(toml::Value::as_array).cloned().unwrap_or_default();
                for feature in value.as_array().expect("features is an array") {
                    if !features.contains(feature) {
                        features.push(feature.clone());
                    }
                }
                merged.insert(key.clone(), toml::Value::Array(features));
            }
            _ => {
                merged.insert(key.clone(), value.clone());
            }
        }
    }
    toml::Value::Table(merged)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn slash(path: &Path) -> String {
    path.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/")
}
