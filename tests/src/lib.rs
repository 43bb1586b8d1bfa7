//! Shared helpers for the end-to-end tests in `tests/tests/`.
//!
//! External components (yaml-language-server, DynamoDB Local, …) are installed by `scripts/test` into
//! `.tools/`. When one is missing, a plain `cargo test` skips the test that needs it with a loud
//! message; under `scripts/test` (which sets `ORCHGEN_REQUIRE_TOOLS=1`) a missing tool fails the test.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

pub mod dev_server;
pub mod dynamodb_local;
pub mod lambda_local;
pub mod moto;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace").to_path_buf()
}

/// Where `scripts/install-test-tools` puts external tools.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("ORCHGEN_TOOLS_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join(".tools"))
}

/// Whether missing tools must fail the tests (set by `scripts/test` and CI).
pub fn tools_required() -> bool {
    std::env::var("ORCHGEN_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// The path of an external tool, or `None` after a loud skip message (a panic when tools are required).
pub fn tool(what: &str, path: PathBuf) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    let message = format!(
        "{what} is not installed at {}; run `scripts/install-test-tools` (or `scripts/test`, which installs everything)",
        path.display()
    );
    if tools_required() {
        panic!("{message}");
    }
    eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
    None
}

/// The yaml-language-server executable (npm package `yaml-language-server@1.25`).
pub fn yaml_language_server() -> Option<PathBuf> {
    tool("yaml-language-server", tools_dir().join("node_modules/.bin/yaml-language-server"))
}

/// The `orchgen` executable under test: `CARGO_BIN_EXE_orchgen` when set, else the one next to the
/// test executable (`target/<profile>/orchgen`), refused when missing or older than one of its
/// sources (Cargo does not build a dependency's binary for `cargo test -p orchgen-tests`).
pub fn orchgen_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = option_env!("CARGO_BIN_EXE_orchgen") {
            return PathBuf::from(path);
        }
        if let Some(path) = std::env::var_os("CARGO_BIN_EXE_orchgen") {
            return PathBuf::from(path);
        }
        let exe = std::env::current_exe().expect("the test executable has a path");
        let mut dir = exe.parent().expect("the test executable is in a directory").to_path_buf();
        if dir.ends_with("deps") {
            dir.pop();
        }
        let bin = dir.join(format!("orchgen{}", std::env::consts::EXE_SUFFIX));
        let build = "build it first with `cargo build -p orchgen` (with `--release` for a release test run); \
                     Cargo does not build a dependency's binary for `cargo test -p orchgen-tests`";
        let Ok(built) = std::fs::metadata(&bin).and_then(|m| m.modified()) else {
            panic!("the orchgen binary {} does not exist: {build}", bin.display());
        };
        if let Some(input) = changed_input(&bin, built) {
            panic!("the orchgen binary {} is older than its source {}: {build}", bin.display(), input.display());
        }
        bin
    })
}

/// An input of `bin` (as listed by Cargo's dep-info file `<bin>.d`) changed or removed after `built`.
fn changed_input(bin: &Path, built: SystemTime) -> Option<PathBuf> {
    let dep_info = std::fs::read_to_string(bin.with_extension("d")).ok()?;
    let (_, inputs) = dep_info.lines().next()?.split_once(": ")?;
    let mut paths = vec![String::new()];
    let mut chars = inputs.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => paths.last_mut()?.push(chars.next()?),
            ' ' => paths.push(String::new()),
            c => paths.last_mut()?.push(c),
        }
    }
    paths
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|p| workspace_root().join(p))
        .find(|path| std::fs::metadata(path).and_then(|m| m.modified()).map_or(true, |modified| modified > built))
}
