//! A user's own project, with the binary as installed: `orchgen init`, `orchgen new step`, the
//! step's unit tests with cargo, `orchgen validate` (and its located errors for a missing function
//! or crate), `orchgen dev` running the step — a small order completes with its output, a large one
//! is rejected by it — and `orchgen build` giving the step its Lambda and the glue its crate.
//!
//! The binary is a copy of the one under test in a folder of its own, run from the project (outside
//! the checkout) with no variable pointing at orchgen's sources: what it compiles comes from the SDK
//! it carries. Builds go to `target/nested`, shared with the other tests that compile.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use orchgen_tests::dev_server::Dev;
use orchgen_tests::fixtures;
use serde_json::json;

/// Until `listening on …`: the first dev host build compiles the runtime and the dev server.
const START_TIMEOUT: Duration = Duration::from_secs(1200);

/// The binary under test copied into `<dir>/bin/`, as `cargo install` would put it.
fn install(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("create bin/");
    let installed = bin.join("orchgen");
    std::fs::copy(crate::orchgen_bin(), &installed).expect("copy the orchgen binary");
    installed
}

/// `orchgen ARGS` run in `cwd` with a user's environment.
fn orchgen(bin: &Path, cwd: &Path, args: &[&str]) -> Command {
    user(Command::new(bin), cwd, args)
}

/// `command ARGS` run in `cwd` with a user's environment: PATH, HOME, the toolchain settings of
/// this run (so nested builds share `target/nested`), nothing about orchgen.
fn user(mut command: Command, cwd: &Path, args: &[&str]) -> Command {
    command.args(args).current_dir(cwd).env_clear().stdin(Stdio::null());
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let toolchain = (name.starts_with("CARGO") || name.starts_with("RUST"))
            && name != "CARGO_TARGET_DIR"
            && !orchgen_generator::cargo::is_crate_variable(name);
        if toolchain || name == "PATH" || name == "HOME" {
            command.env(name, value);
        }
    }
    command
        .env("CARGO_TARGET_DIR", orchgen_tests::nested_target())
        .env("CARGO_NET_OFFLINE", "true")
        .env("CARGO_INCREMENTAL", "0")
        .env("CARGO_PROFILE_DEV_DEBUG", "line-tables-only");
    command
}

fn run(mut command: Command) -> (i32, String, String) {
    let Output { status, stdout, stderr } = command.output().expect("the command runs");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

#[test]
fn a_new_project_with_a_custom_step_runs_and_builds_with_the_installed_binary() {
    let home = tempfile::tempdir().expect("a temp dir");
    let bin = install(home.path());
    let workdir = home.path().join("work");
    std::fs::create_dir_all(&workdir).expect("create work/");

    // orchgen init shop
    let (code, stdout, stderr) = run(orchgen(&bin, &workdir, &["init", "shop"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let project = workdir.join("shop");
    for file in
        ["pipelines/orders.yaml", "schema/pipeline.schema.json", ".vscode/settings.json", "Cargo.toml", ".gitignore"]
    {
        assert!(project.join(file).is_file(), "init writes {file}:\n{stdout}");
    }
    assert!(std::fs::read_to_string(project.join(".gitignore")).unwrap().contains("/.orchgen/"));

    // orchgen new step order-limit --before reserve-inventory
    let (code, stdout, stderr) =
        run(orchgen(&bin, &project, &["new", "step", "order-limit", "--before", "reserve-inventory"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("added the step `order-limit` (order_limit::run) to pipelines/orders.yaml"), "{stdout}");
    let crate_dir = project.join("steps/order_limit");
    assert!(crate_dir.join("Cargo.toml").is_file() && crate_dir.join("src/lib.rs").is_file(), "{stdout}");
    assert!(!crate_dir.join(".git").exists(), "not a nested git repository");
    assert!(project.join(".orchgen/sdk/.orchgen-sdk").is_file(), "the SDK is in the project");
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains(r#"orchgen-runtime = { path = "../../.orchgen/sdk/runtime" }"#), "{manifest}");
    let pipeline = std::fs::read_to_string(project.join("pipelines/orders.yaml")).unwrap();
    let limit = pipeline.find("name: order-limit").expect("the entry is inserted");
    assert!(limit < pipeline.find("name: reserve-inventory").unwrap(), "before reserve-inventory:\n{pipeline}");
    assert!(pipeline.contains("function: order_limit::run") && pipeline.contains("crate: ../steps/order_limit"));

    let (code, stdout, stderr) = run(orchgen(&bin, &project, &["validate"]));
    assert_eq!((code, stdout.trim()), (0, "pipelines/orders.yaml: valid"), "{stderr}");

    // The skeleton's own unit tests pass.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let (code, stdout, stderr) =
        run(user(Command::new(cargo), &project, &["test", "--manifest-path", "steps/order_limit/Cargo.toml"]));
    assert_eq!(code, 0, "the step's tests pass:\n{stdout}\n{stderr}");
    assert!(stdout.contains("test result: ok. 2 passed"), "{stdout}");

    // orchgen dev: the step runs in the dev host built from the SDK.
    let data = project.join(".orchgen/shop");
    let server = Dev::with_command(orchgen(&bin, &project, &[]), Path::new("pipelines/orders.yaml"), &data)
        .log(&home.path().join("dev.log"))
        .start_timeout(START_TIMEOUT)
        .start();
    assert!(server.log_all().contains("building the dev host"), "{}", server.log_tail());
    let id = server.submit(&fixtures::order().json());
    let order = server.wait_terminal(&id);
    assert_eq!(order["status"], "COMPLETED", "{order:#}\n{}", server.log_tail());
    assert_eq!(order["outputs"]["order-limit"], json!({ "total_cents": 10_997, "limit_cents": 100_000 }), "{order:#}");
    let before = server.stock("product-2");
    let id = server.submit(&fixtures::order().item("product-2", 30, 49.99).json());
    let order = server.wait_terminal(&id);
    assert_eq!(order["status"], "REJECTED", "{order:#}\n{}", server.log_tail());
    assert_eq!(order["failure"]["step"], "order-limit", "{order:#}");
    assert_eq!(order["failure"]["code"], "ORDER_TOO_LARGE", "{order:#}");
    assert_eq!(order["failure"]["kind"], "refusal", "{order:#}");
    assert_eq!(server.stock("product-2"), before, "nothing was reserved for the rejected order");
    assert!(server.terminate().success(), "a graceful stop");

    // orchgen build: the step has its function; the glue depends on the crate and the project's SDK.
    let (code, stdout, stderr) = run(orchgen(&bin, &project, &["build"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let glue = std::fs::read_to_string(project.join("build/shop/glue/Cargo.toml")).unwrap();
    assert!(
        glue.contains(r#"order_limit = { path = "../../../steps/order_limit", package = "order_limit" }"#),
        "{glue}"
    );
    assert!(glue.contains(r#"orchgen-runtime = { path = "../../../.orchgen/sdk/runtime""#), "{glue}");
    let step_main = std::fs::read_to_string(project.join("build/shop/glue/src/bin/step-order-limit.rs")).unwrap();
    assert!(step_main.contains("order_limit::run"), "{step_main}");
    let template = std::fs::read_to_string(project.join("build/shop/template.json")).unwrap();
    assert!(template.contains("step-order-limit"), "the step's function is in the template");

    // A handler the crate does not export, then a crate that is not there: located errors, before
    // anything compiles.
    let lib = crate_dir.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, source.replace("pub async fn run(", "pub async fn check(")).unwrap();
    let (code, stdout, stderr) = run(orchgen(&bin, &project, &["validate"]));
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let shown = format!("{stdout}{stderr}");
    assert!(shown.contains("step `order-limit`: no `pub async fn run` in"), "{shown}");
    assert!(shown.contains("orders.yaml:"), "located: {shown}");
    std::fs::rename(&crate_dir, project.join("steps/moved")).unwrap();
    for command in ["validate", "build"] {
        let (code, stdout, stderr) = run(orchgen(&bin, &project, &[command]));
        assert_eq!(code, 1, "{stdout}\n{stderr}");
        let shown = format!("{stdout}{stderr}");
        let missing = std::fs::canonicalize(&project).unwrap().join("steps/order_limit");
        assert!(shown.contains(&format!("there is no crate folder at {}", missing.display())), "{shown}");
    }
}
