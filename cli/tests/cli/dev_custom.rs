//! `orchgen dev` on a pipeline with a custom Rust step (`tests/fixtures/custom-dev/`): the dev host
//! is generated and built with cargo, then runs in place of `orchgen dev`, end to end over HTTP —
//! the custom step's output lands on the order, its terminal error compensates and cancels, and a
//! compile error in the user's crate exits 1 with cargo's message.
//!
//! The host build compiles orchgen: `CARGO_TARGET_DIR` is `<workspace>/target/nested` so that
//! repeated runs reuse it (the first run takes minutes).

use std::path::{Path, PathBuf};
use std::time::Duration;

use orchgen_tests::dev_server::{Dev, DevServer};
use orchgen_tests::{fixtures, workspace_root};
use serde_json::{Value, json};

/// Until `listening on …`: generous, the first host build compiles orchgen and its dependencies.
const START_TIMEOUT: Duration = Duration::from_secs(1200);

fn fixture() -> PathBuf {
    workspace_root().join("tests/fixtures/custom-dev/pipeline.yaml")
}

/// Starts `orchgen dev <fixture>` (its dev host built in `target/nested`) and waits until it listens.
fn start(data_dir: &Path) -> DevServer {
    Dev::new(crate::orchgen_bin(), &fixture(), data_dir).start_timeout(START_TIMEOUT).start()
}

/// Two units of product-1 at 29.99 (59.98: 59 points) for `customer_id`.
fn order_for(customer_id: &str) -> Value {
    fixtures::order().item("product-1", 2, 29.99).customer_id(customer_id).json()
}

fn history_of<'a>(order: &'a Value, step: &str) -> Vec<&'a Value> {
    order["history"].as_array().expect("history").iter().filter(|h| h["step"] == step).collect()
}

#[test]
fn a_custom_step_runs_in_its_place_and_its_terminal_error_compensates() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let data = dir.path().join("data");
    let server = start(&data);
    let log = server.log_all();
    assert!(
        log.contains("building the dev host for the custom steps: step `award-points` (loyalty::award)"),
        "{}",
        server.log_tail()
    );
    assert!(!log.contains("HANDLER_NOT_REGISTERED"), "every custom step has its handler: {}", server.log_tail());
    assert!(data.join("host/Cargo.toml").is_file() && data.join("host/Cargo.lock").is_file());
    assert_eq!(server.stock("product-1"), (100, 0));

    // The custom step runs between the reservation and the charge; its output is kept on the order.
    let id = server.submit(&order_for("cust-12345"));
    let order = server.wait_terminal(&id);
    assert_eq!(order["status"], "COMPLETED", "{order:#}\n{}", server.log_tail());
    assert_eq!(
        order["outputs"]["award-points"],
        json!({ "customer_id": "cust-12345", "points": 59, "tier": "standard" }),
        "{order:#}"
    );
    let awards = history_of(&order, "award-points");
    assert_eq!(awards.len(), 1, "{order:#}");
    assert_eq!(awards[0]["outcome"], "succeeded", "{order:#}");
    assert_eq!(awards[0]["attempt"], 1, "{order:#}");
    assert_eq!(history_of(&order, "charge-payment")[0]["outcome"], "succeeded", "{order:#}");
    assert_eq!(server.stock("product-1"), (98, 0));

    // A refusal from the custom step (`StepError::reject`): not retried, the reservation released,
    // CANCELLED.
    let id = server.submit(&order_for("blocked-7"));
    let order = server.wait_terminal(&id);
    assert_eq!(order["status"], "CANCELLED", "{order:#}");
    assert_eq!(order["failure"]["code"], "LOYALTY_BLOCKED", "{order:#}");
    assert_eq!(order["failure"]["kind"], "refusal", "{order:#}");
    assert_eq!(order["failure"]["step"], "award-points", "{order:#}");
    let awards = history_of(&order, "award-points");
    assert_eq!(awards.len(), 1, "a refusal is not retried: {order:#}");
    assert_eq!(awards[0]["outcome"], "failed", "{order:#}");
    let released = history_of(&order, "release-inventory");
    assert_eq!(released.last().map(|h| &h["outcome"]), Some(&json!("compensated")), "{order:#}");
    assert!(history_of(&order, "charge-payment").is_empty(), "no charge after the failure: {order:#}");
    assert!(order.get("outputs").and_then(|o| o.get("award-points")).is_none(), "{order:#}");
    assert_eq!(server.stock("product-1"), (98, 0));
}

#[test]
fn a_compile_error_in_the_users_crate_exits_1_with_cargos_message() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let fixture_dir = workspace_root().join("tests/fixtures/custom-dev");
    std::fs::create_dir_all(dir.path().join("loyalty/src")).expect("create the crate");
    std::fs::copy(fixture_dir.join("pipeline.yaml"), dir.path().join("pipeline.yaml")).expect("copy the pipeline");
    let manifest = std::fs::read_to_string(fixture_dir.join("loyalty/Cargo.toml")).expect("the fixture's manifest");
    let runtime = serde_json::to_string(&workspace_root().join("runtime").to_string_lossy()).expect("a string");
    let manifest = manifest.replace(r#""../../../../runtime""#, &runtime);
    assert!(manifest.contains(&runtime), "{manifest}");
    std::fs::write(dir.path().join("loyalty/Cargo.toml"), manifest).expect("write the manifest");
    let source = std::fs::read_to_string(fixture_dir.join("loyalty/src/lib.rs")).expect("the fixture's source");
    let broken = source.replace("let points = ctx.order.total_cents / 100;", "let points: i64 = \"many\";");
    assert_ne!(broken, source);
    std::fs::write(dir.path().join("loyalty/src/lib.rs"), broken).expect("write the source");

    let output = Dev::new(crate::orchgen_bin(), &dir.path().join("pipeline.yaml"), &dir.path().join("data")).output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("building the dev host for the custom steps: step `award-points` (loyalty::award)"),
        "{stderr}"
    );
    assert!(stderr.contains("error[E0308]: mismatched types"), "cargo's message is shown: {stderr}");
    assert!(stderr.contains("the dev host for the custom steps did not build"), "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("listening on"));
}
