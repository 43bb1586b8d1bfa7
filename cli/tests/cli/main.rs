//! The integration tests of `orchgen`, one test binary (as `just` and cargo-dist do: every extra
//! binary relinks the AWS SDKs): the command line in-process (`orchgen::run`) and the real binary,
//! `env!("CARGO_BIN_EXE_orchgen")`, which Cargo builds before this binary and passes to the shared
//! harness of `orchgen-tests` (`orchgen_tests::dev_server::Dev::new(orchgen_bin(), …)`).
//!
//! Run one module with a filter: `cargo test -p orchgen --test cli -- graph::`.

use std::path::Path;

mod api_conformance;
mod build_cli;
mod cli;
mod cost_against;
mod cost_budget;
mod cost_cli;
mod dashboard_browser;
mod dashboard_http;
mod dashboard_support;
mod deploy_moto;
mod dev_custom;
mod dev_e2e;
mod fault_injection;
mod graph;
mod orders_cli;
mod package_release;
mod redrive_local;
mod robustness;
mod user_project;

/// The `orchgen` executable under test, built by Cargo for this test binary.
pub fn orchgen_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_orchgen"))
}

/// `orchgen ARGS` in this process (`orchgen::run`): the exit code, stdout and stderr.
pub fn orchgen(args: &[&str]) -> (u8, String, String) {
    use clap::Parser as _;
    let cli =
        orchgen::Cli::try_parse_from(std::iter::once("orchgen").chain(args.iter().copied())).expect("valid arguments");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = orchgen::run(cli, &mut out, &mut err);
    (code, String::from_utf8(out).expect("utf-8"), String::from_utf8(err).expect("utf-8"))
}
