//! The per-function Lambda glue (`orchgen_generator::build::glue`): generated for `pipelines/orders.yaml` and
//! for a pipeline with custom steps, built for real with cargo (offline, dependencies reused in
//! `target/nested`), and its binaries run against a local Lambda Runtime API served by the test
//! (`/2018-06-01/runtime/invocation/next`, `/response`, `/error`) — proof that the glue works.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use orchgen_generator::build::glue::{GlueError, GlueOptions, files};
use orchgen_runtime::lambda::{self, Function};
use orchgen_runtime::plan::{HandlerPlan, Plan, StepAction};
use orchgen_runtime::steps::StepInput;
use orchgen_tests::fixtures;
use orchgen_tests::lambda_local::{build_glue, invoke};
use orchgen_tests::workspace_root;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Generating
// ---------------------------------------------------------------------------------------------

fn plan_of(path: &Path) -> Plan {
    let checked = orchgen_generator::check_file(path).expect("the pipeline file reads");
    checked.plan.unwrap_or_else(|| panic!("{} is valid:\n{}", path.display(), checked.report.render(100)))
}

fn orders() -> Plan {
    plan_of(&workspace_root().join("pipelines/orders.yaml"))
}

fn custom() -> Plan {
    plan_of(&workspace_root().join("tests/corpus/valid/custom-step.yaml"))
}

/// Options of a glue at `build/<pipeline>/glue` of the workspace.
fn in_tree() -> GlueOptions {
    GlueOptions {
        runtime_path: "../../../runtime".to_owned(),
        pipeline_dir: "../../../pipelines".to_owned(),
        packages: Default::default(),
    }
}

fn text<'a>(files: &'a BTreeMap<PathBuf, String>, path: &str) -> &'a str {
    files.get(Path::new(path)).unwrap_or_else(|| panic!("the glue has {path}: {:?}", files.keys().collect::<Vec<_>>()))
}

#[test]
fn the_glue_has_one_binary_per_function_and_renders_byte_identically() {
    let plan = orders();
    let first = files(&plan, &in_tree()).expect("the glue renders");
    let second = files(&plan, &in_tree()).expect("the glue renders");
    assert_eq!(first, second);

    let mut expected: Vec<String> = vec![".gitignore".into(), "Cargo.toml".into(), "plan.json".into()];
    let names = ["api", "stream-processor", "step-validate", "step-reserve-inventory", "step-charge-payment"];
    let names = names.into_iter().chain(["step-fulfil", "step-notify"]);
    let names: Vec<&str> = names.chain(["compensation-refund-payment", "compensation-release-inventory"]).collect();
    expected.extend(names.iter().map(|n| format!("src/bin/{n}.rs")));
    expected.sort();
    let got: Vec<String> = first.keys().map(|p| p.to_string_lossy().into_owned()).collect();
    assert_eq!(got, expected);
    assert_eq!(lambda::functions(&plan).iter().map(Function::name).collect::<Vec<_>>(), names);

    // The plan.json each function reads is the plan.
    assert_eq!(Plan::from_json(text(&first, "plan.json")).expect("plan.json reads"), plan);
    let cargo = text(&first, "Cargo.toml");
    assert!(cargo.contains("[workspace]"), "{cargo}");
    assert!(
        cargo.contains(
            r#"orchgen-runtime = { path = "../../../runtime", default-features = false, features = ["lambda"] }"#
        ),
        "{cargo}"
    );
    for name in &names {
        assert!(cargo.contains(&format!("[[bin]]\nname = \"{name}\"\npath = \"src/bin/{name}.rs\"\n")), "{cargo}");
    }

    let mut shown = String::new();
    for path in ["Cargo.toml", "src/bin/api.rs", "src/bin/stream-processor.rs", "src/bin/step-validate.rs"] {
        shown.push_str(&format!("===== {path}\n{}", text(&first, path)));
    }
    shown.push_str(&format!(
        "===== src/bin/compensation-refund-payment.rs\n{}",
        text(&first, "src/bin/compensation-refund-payment.rs")
    ));
    insta::assert_snapshot!("orders_glue", shown);
}

#[test]
fn a_custom_step_binary_registers_the_users_function_from_its_crate() {
    let plan = custom();
    let options = GlueOptions {
        runtime_path: "/opt/orchgen/runtime".to_owned(),
        pipeline_dir: "../../../tests/corpus/valid".to_owned(),
        packages: Default::default(),
    };
    let glue = files(&plan, &options).expect("the glue renders");
    let cargo = text(&glue, "Cargo.toml");
    assert!(
        cargo.contains(
            r#"fraud_check = { path = "../../../tests/corpus/valid/steps/fraud_check", package = "fraud_check" }"#
        ),
        "{cargo}"
    );
    assert_eq!(cargo.matches("fraud_check =").count(), 1, "one dependency for both handlers: {cargo}");
    let score = text(&glue, "src/bin/step-fraud-score.rs");
    assert!(
        score.contains(r#"registry.register("fraud_check::score", std::sync::Arc::new(orchgen_runtime::lambda::FnStep(fraud_check::score)));"#),
        "{score}"
    );
    assert!(score.contains(r#"Function::step("fraud-score")"#), "{score}");
    let forget = text(&glue, "src/bin/compensation-forget-score.rs");
    assert!(forget.contains("FnStep(fraud_check::forget)"), "{forget}");
    assert!(forget.contains(r#"Function::compensation("forget-score")"#), "{forget}");
    let validate = text(&glue, "src/bin/step-validate.rs");
    assert!(!validate.contains("fraud_check"), "{validate}");
}

#[test]
fn http_steps_and_compensations_get_a_function_that_runs_the_runtimes_http_call() {
    let plan = plan_of(&workspace_root().join("tests/corpus/valid/http-step.yaml"));
    let glue = files(&plan, &in_tree()).expect("the glue renders");
    let bins: Vec<String> =
        glue.keys().filter_map(|p| p.strip_prefix("src/bin").ok()).map(|p| p.to_string_lossy().into_owned()).collect();
    assert_eq!(
        bins,
        [
            "api.rs",
            "compensation-recall-order.rs",
            "compensation-release-inventory.rs",
            "step-reserve-inventory.rs",
            "step-validate.rs",
            "step-warehouse.rs",
            "stream-processor.rs"
        ]
    );
    let warehouse = text(&glue, "src/bin/step-warehouse.rs");
    assert!(warehouse.contains(r#"Function::step("warehouse")"#), "{warehouse}");
    assert!(!warehouse.contains("register("), "no user handler: the runtime makes the call\n{warehouse}");
    // Its secrets come from AWS; the other step binaries carry no SSM or Secrets Manager client.
    assert!(warehouse.contains("orchgen_runtime::lambda::run_http_step(&plan, function, registry)"), "{warehouse}");
    let recall = text(&glue, "src/bin/compensation-recall-order.rs");
    assert!(recall.contains("lambda::run_http_step("), "{recall}");
    let validate = text(&glue, "src/bin/step-validate.rs");
    assert!(validate.contains("orchgen_runtime::lambda::run_step(&plan, function, registry)"), "{validate}");
}

#[test]
fn bad_handlers_and_options_are_refused_with_where_and_why() {
    let mut plan = custom();
    let set = |plan: &mut Plan, function: &str, crate_path: &str| {
        let step = plan.steps.iter_mut().find(|s| s.name == "fraud-score").expect("fraud-score");
        step.action = StepAction::Custom(HandlerPlan {
            function: function.to_owned(),
            crate_name: function.split("::").next().unwrap_or_default().to_owned(),
            crate_path: crate_path.to_owned(),
            side_effects: true,
        });
    };
    set(&mut plan, "fraud_check::fn", "steps/fraud_check");
    let error = files(&plan, &in_tree()).expect_err("a keyword");
    assert!(matches!(error, GlueError::InvalidHandler { .. }));
    assert_eq!(
        error.to_string(),
        "step `fraud-score`: the handler function `fraud_check::fn` has `fn`, which is not a Rust identifier"
    );

    set(&mut plan, "fraud_check::score", "elsewhere/fraud_check");
    let error = files(&plan, &in_tree()).expect_err("two directories for one crate");
    assert_eq!(
        error.to_string(),
        "compensation `forget-score`: the crate `fraud_check` is at `../../../pipelines/steps/fraud_check`, but step `fraud-score` has it at `../../../pipelines/elsewhere/fraud_check`: one crate name needs one directory"
    );

    let error = files(
        &orders(),
        &GlueOptions { runtime_path: " ".to_owned(), pipeline_dir: ".".to_owned(), packages: Default::default() },
    )
    .expect_err("no runtime path");
    assert_eq!(error.to_string(), "glue option `runtime_path`: it is empty");
}

/// Two units of product-1 at 29.99 paid with `payment_method`, just received, as JSON.
fn order(payment_method: &str) -> Value {
    let order = fixtures::order().item("product-1", 2, 29.99).payment_method(payment_method);
    serde_json::to_value(order.received("01HZX3J4K5M6N7P8Q9R0S1T2V3", "2024-05-01T12:00:00.000Z")).expect("serialises")
}

/// The invocation the stream processor sends to `step`'s function.
fn step_event(plan: &Plan, step: &str, compensation: Option<&str>, order: Value) -> Value {
    let input = StepInput {
        order: serde_json::from_value(order).expect("an order"),
        step: plan.step(step).expect("the step exists").clone(),
        compensation: compensation.map(|c| plan.compensations[c].clone()),
        attempt: 1,
        idempotency_key: format!("01HZX3J4K5M6N7P8Q9R0S1T2V3:{}", compensation.unwrap_or(step)),
    };
    serde_json::to_value(input).expect("serialises")
}

#[test]
fn the_orders_glue_builds_and_its_step_binaries_answer_the_runtime_api() {
    let plan = orders();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let bin = build_glue(&plan, &dir.path().join("build/shop/glue"), &workspace_root().join("pipelines"));

    let answers = invoke(
        &bin.join("step-charge-payment"),
        &[],
        vec![
            ("req-ok", step_event(&plan, "charge-payment", None, order("credit_card"))),
            ("req-declined", step_event(&plan, "charge-payment", None, order("declined_card"))),
            ("req-bad", json!({ "not": "a step input" })),
        ],
    );
    let (kind, ok) = &answers["req-ok"];
    assert_eq!(kind, "response", "{ok}");
    assert_eq!(ok["ok"]["charge"]["amount_cents"], 5998, "{ok}");
    assert_eq!(ok["ok"]["effects"][0]["effect"], "record_charge", "{ok}");
    let (kind, declined) = &answers["req-declined"];
    assert_eq!(kind, "response", "{declined}");
    assert_eq!(
        declined["error"],
        json!({ "class": "rejected", "code": "CARD_DECLINED", "message": declined["error"]["message"], "fields": [] })
    );
    let (kind, bad) = &answers["req-bad"];
    assert_eq!(kind, "response", "{bad}");
    assert_eq!(bad["error"]["code"], "INVALID_STEP_REQUEST", "{bad}");

    let answers = invoke(
        &bin.join("compensation-release-inventory"),
        &[],
        vec![("req-release", step_event(&plan, "reserve-inventory", Some("release-inventory"), order("credit_card")))],
    );
    let (kind, released) = &answers["req-release"];
    assert_eq!(kind, "response", "{released}");
    assert_eq!(
        released["ok"]["effects"],
        json!([{ "effect": "release_stock", "units": [{ "product_id": "product-1", "quantity": 2 }] }])
    );

    // Without its plan a function does not start, and says which file it looked for.
    let missing = dir.path().join("nowhere/plan.json");
    let output = std::process::Command::new(bin.join("step-charge-payment"))
        .env("ORCHGEN_PLAN", &missing)
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("cannot read the plan {}", missing.display())), "{stderr}");
    assert!(stderr.contains("set ORCHGEN_PLAN"), "{stderr}");
}

/// What the API and stream-processor functions need to start; nothing answers on the endpoint, so
/// no call can leave the machine (the invocations below never reach DynamoDB).
const AWS_ENV: [(&str, &str); 6] = [
    ("AWS_REGION", "us-east-1"),
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
    ("ORCHGEN_FUNCTION_PREFIX", "shop-test-"),
];

/// The orders-stream record of an order image that cannot be decoded, and a TTL removal.
fn stream_event() -> Value {
    let arn = "arn:aws:dynamodb:us-east-1:123456789012:table/shop-orders/stream/2024-05-01T12:00:00.000";
    json!({ "Records": [
        {
            "eventID": "1", "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1", "eventSourceARN": arn,
            "dynamodb": {
                "ApproximateCreationDateTime": 1714564800,
                "Keys": { "order_id": { "S": "01HWZ8Y0A2B3C4D5E6F7G8H9JF" } },
                "NewImage": {
                    "order_id": { "S": "01HWZ8Y0A2B3C4D5E6F7G8H9JF" },
                    "version": { "N": "1" },
                    "order": { "S": "{\"order_id\":\"01HWZ8Y0A2B3C4D5E6F7G8H9JF\",\"stat" }
                },
                "SequenceNumber": "9100000000000000000001", "SizeBytes": 120, "StreamViewType": "NEW_AND_OLD_IMAGES"
            }
        },
        {
            "eventID": "2", "eventName": "REMOVE", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1", "eventSourceARN": arn,
            "userIdentity": { "type": "Service", "principalId": "dynamodb.amazonaws.com" },
            "dynamodb": {
                "ApproximateCreationDateTime": 1714564800,
                "Keys": { "order_id": { "S": "01HWZ8Y0A2B3C4D5E6F7G8H9JA" } },
                "SequenceNumber": "9100000000000000000002", "SizeBytes": 40, "StreamViewType": "NEW_AND_OLD_IMAGES"
            }
        }
    ]})
}

#[test]
fn the_orders_glue_api_and_stream_processor_binaries_start_and_answer() {
    let plan = orders();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let bin = build_glue(&plan, &dir.path().join("build/shop/glue"), &workspace_root().join("pipelines"));

    let answers = invoke(&bin.join("stream-processor"), &AWS_ENV, vec![("req-batch", stream_event())]);
    let (kind, batch) = &answers["req-batch"];
    assert_eq!(kind, "response", "{batch}");
    assert_eq!(*batch, json!({ "batchItemFailures": [{ "itemIdentifier": "9100000000000000000001" }] }));

    let unknown_route = json!({
        "resource": "/nowhere", "path": "/nowhere", "httpMethod": "GET", "headers": {}, "multiValueHeaders": {},
        "requestContext": { "requestId": "apigw-1", "stage": "prod", "httpMethod": "GET", "path": "/prod/nowhere" },
        "body": null, "isBase64Encoded": false
    });
    let answers = invoke(&bin.join("api"), &AWS_ENV, vec![("req-api", unknown_route)]);
    let (kind, reply) = &answers["req-api"];
    assert_eq!(kind, "response", "{reply}");
    assert_eq!(reply["statusCode"], 404, "{reply}");
    let body: Value = serde_json::from_str(reply["body"].as_str().unwrap_or_default()).expect("a JSON body");
    assert_eq!(body["error"]["code"], "ROUTE_NOT_FOUND", "{body}");
    assert_eq!(body["error"]["request_id"], "apigw-1", "{body}");
}

#[test]
fn the_custom_step_glue_builds_against_the_users_crate_and_runs_its_function() {
    let plan = custom();
    let dir = tempfile::tempdir().expect("a temporary folder");
    // The user's project: the pipeline file and, beside it, the crate its custom steps name.
    let project = dir.path().join("project");
    let crate_dir = project.join("steps/fraud_check");
    std::fs::create_dir_all(crate_dir.join("src")).expect("create the crate");
    std::fs::copy(workspace_root().join("tests/corpus/valid/custom-step.yaml"), project.join("custom-step.yaml"))
        .expect("copy the pipeline");
    let runtime = workspace_root().join("runtime");
    std::fs::write(
        crate_dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"fraud_check\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\norchgen-runtime = {{ path = {:?} }}\n",
            runtime.to_string_lossy()
        ),
    )
    .expect("write the crate's manifest");
    std::fs::write(
        crate_dir.join("src/lib.rs"),
        r#"//! A fraud model: ten points per item, a hundred for cust-fraud.
use orchgen_runtime::steps::{CustomContext, StepError};

pub async fn score(ctx: CustomContext) -> Result<u32, StepError> {
    if ctx.order.customer.customer_id == "cust-broken" {
        panic!("the model file is missing");
    }
    let base = if ctx.order.customer.customer_id == "cust-fraud" { 100 } else { 0 };
    Ok(base + 10 * ctx.order.items.len() as u32)
}

pub async fn forget(ctx: CustomContext) -> Result<(), StepError> {
    if ctx.attempt < 2 {
        return Err(StepError::retryable("STORE_BUSY", "the score store is busy"));
    }
    Ok(())
}
"#,
    )
    .expect("write the crate");

    let bin = build_glue(&plan, &dir.path().join("out/shop/glue"), &project);
    let mut broken = order("credit_card");
    broken["customer"]["customer_id"] = json!("cust-broken");
    let answers = invoke(
        &bin.join("step-fraud-score"),
        &[],
        vec![
            ("req-score", step_event(&plan, "fraud-score", None, order("credit_card"))),
            ("req-panic", step_event(&plan, "fraud-score", None, broken)),
        ],
    );
    let (kind, scored) = &answers["req-score"];
    assert_eq!(kind, "response", "{scored}");
    assert_eq!(scored["ok"]["output"], 10, "{scored}");
    let (kind, panicked) = &answers["req-panic"];
    assert_eq!(kind, "response", "a panic is an answer, not a crash: {panicked}");
    assert_eq!(panicked["error"]["class"], "retryable", "{panicked}");
    assert_eq!(panicked["error"]["code"], "PANIC", "{panicked}");

    let answers = invoke(
        &bin.join("compensation-forget-score"),
        &[],
        vec![("req-forget", step_event(&plan, "fraud-score", Some("forget-score"), order("credit_card")))],
    );
    let (kind, forgot) = &answers["req-forget"];
    assert_eq!(kind, "response", "{forgot}");
    assert_eq!(
        forgot["error"],
        json!({ "class": "retryable", "code": "STORE_BUSY", "message": "the score store is busy" })
    );
}
