//! The one test harness of the workspace: the integration tests of `orchgen` (one test binary,
//! `cli/tests/cli/`) and of this crate (`tests/tests/e2e/`) share it. `dev_server` starts `orchgen dev`
//! (the caller passes the binary: `env!("CARGO_BIN_EXE_orchgen")`, which Cargo builds before the
//! binary's own integration tests), `dynamodb_local` and `moto` the external services (both through
//! `process`, the one harness of a server process: free port, watchdog, bounded wait until it is
//! ready, stop on drop), `lambda_local` runs generated Lambda binaries, `fixtures` holds the one
//! sample order; waits are on observable conditions ([`wait_until`]), never fixed sleeps.
//!
//! External components (yaml-language-server, DynamoDB Local, …) are installed by `scripts/test` into
//! `.tools/`. When one is missing, a plain `cargo test` skips the test that needs it with a loud
//! message; under `scripts/test` (which sets `ORCHGEN_REQUIRE_TOOLS=1`) a missing tool fails the test.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub mod dev_server;
pub mod dynamodb_local;
pub mod fixtures;
pub mod lambda_local;
pub mod load;
pub mod moto;
pub mod process;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace").to_path_buf()
}

/// The one target folder of the cargo builds the tests start — the generated Lambda glue (debug
/// and release) and the dev hosts of pipelines with custom steps — so that the crates they share
/// (tokio, serde, the DynamoDB SDK, …) are compiled once.
pub fn nested_target() -> PathBuf {
    workspace_root().join("target/nested")
}

/// The build folder of the tests that release-build the reference pipeline's glue (`orchgen
/// package` and `orchgen deploy`), held by one test at a time. A cargo package's path is part of its
/// identity: the same glue written into two temporary folders compiles and link-time-optimises its
/// nine binaries twice (about 3 minutes here); written into this one folder it is built once.
pub struct ReleaseGlue {
    out: PathBuf,
    _lock: std::fs::File,
}

impl ReleaseGlue {
    /// Waits for the folder (`target/test-artefacts/release-glue/`) and holds it until dropped.
    pub fn lock() -> ReleaseGlue {
        let dir = workspace_root().join("target/test-artefacts");
        std::fs::create_dir_all(&dir).expect("create target/test-artefacts");
        let lock = std::fs::File::create(dir.join("release-glue.lock")).expect("create the release glue lock");
        lock.lock().expect("take the release glue lock");
        ReleaseGlue { out: dir.join("release-glue"), _lock: lock }
    }

    /// The build folder (`--out`).
    pub fn out(&self) -> &Path {
        &self.out
    }
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

/// Polls `ready` every `every` until it holds or `timeout` has passed; whether it held.
pub fn wait_until(timeout: Duration, every: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(every);
    }
}

/// [`wait_until`] for async tests and conditions: polls `ready` every `every` (sleeping on the
/// tokio timer, not the thread) until it holds or `timeout` has passed; whether it held.
pub async fn wait_until_async(timeout: Duration, every: Duration, mut ready: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if ready().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(every).await;
    }
}
