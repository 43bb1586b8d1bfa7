//! Running cargo from orchgen (`orchgen package`, the dev host): the nested build sees the
//! environment of a plain `cargo build`, however orchgen itself was started.
//!
//! When orchgen runs under cargo (`cargo run`, a test, a build script), cargo has set variables that
//! describe *that* crate (`CARGO_PKG_NAME`, `CARGO_MANIFEST_DIR`, `OUT_DIR`, ...). Build scripts of
//! dependencies watch some of them (ring's watches `CARGO_PKG_NAME` and `CARGO_MANIFEST_DIR` through
//! `rerun-if-env-changed`), so a nested build that inherited them would rerun those build scripts and
//! recompile everything above them each time it is started from somewhere else — for a release build,
//! minutes of link-time optimisation for nothing. Settings meant for builds (`CARGO_HOME`,
//! `CARGO_TARGET_DIR`, `CARGO_PROFILE_*`, `CARGO_INCREMENTAL`, `RUSTFLAGS`, ...) are kept.

use std::ffi::OsStr;
use std::process::Command;

/// Variables cargo sets for the crate it compiles or runs, by exact name.
const CRATE_VARIABLES: [&str; 9] = [
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "OUT_DIR",
    "CARGO_RUSTC_CURRENT_DIR",
];

/// Prefixes of the variables cargo sets for the crate it compiles or runs (package metadata, the
/// paths of an integration test's binaries, a build script's view of the target).
const CRATE_PREFIXES: [&str; 3] = ["CARGO_PKG_", "CARGO_BIN_EXE_", "CARGO_CFG_"];

/// Whether `name` is a variable cargo sets to describe the crate it compiles or runs, as opposed to
/// a setting for builds.
pub fn is_crate_variable(name: &str) -> bool {
    CRATE_VARIABLES.contains(&name) || CRATE_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// `cargo` as a command without the variables of the crate orchgen may be running as.
pub fn command(cargo: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(cargo);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_crate_variable) {
            command.env_remove(&name);
        }
    }
    command
}

/// The cargo to run: the one that started orchgen when there is one (`CARGO`), else `cargo`.
pub fn program() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_variables_are_told_from_build_settings() {
        for name in
            ["CARGO_PKG_NAME", "CARGO_PKG_VERSION_MAJOR", "CARGO_MANIFEST_DIR", "OUT_DIR", "CARGO_BIN_EXE_orchgen"]
        {
            assert!(is_crate_variable(name), "{name}");
        }
        for name in
            ["CARGO_HOME", "CARGO_TARGET_DIR", "CARGO_INCREMENTAL", "CARGO_PROFILE_DEV_DEBUG", "CARGO", "RUSTFLAGS"]
        {
            assert!(!is_crate_variable(name), "{name}");
        }
    }

    #[test]
    fn the_command_drops_the_crate_variables_it_inherits() {
        // This test runs under cargo, which set CARGO_PKG_NAME and CARGO_MANIFEST_DIR for it.
        assert!(std::env::var_os("CARGO_PKG_NAME").is_some());
        let command = command("cargo");
        let removed: Vec<_> =
            command.get_envs().filter(|(_, value)| value.is_none()).map(|(name, _)| name.to_owned()).collect();
        assert!(removed.iter().any(|n| n == "CARGO_PKG_NAME"), "{removed:?}");
        assert!(removed.iter().any(|n| n == "CARGO_MANIFEST_DIR"), "{removed:?}");
        assert!(!removed.iter().any(|n| n == "CARGO_HOME" || n == "PATH"), "{removed:?}");
    }
}
