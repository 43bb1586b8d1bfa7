//! A step's own Lambda function (`lambda::step`): a step input as JSON in, `{"ok": ...}` or
//! `{"error": {"class", "code", ...}}` out, for built-in steps, compensations and custom handlers
//! (the reference plan, `fixtures/orders.plan.json`).

use std::sync::Arc;

use orchgen_runtime::lambda::{FnStep, Function, StepFunction, StepResponse};
use orchgen_runtime::order::Order;
use orchgen_runtime::plan::{HandlerPlan, Plan, StepAction};
use orchgen_runtime::steps::{CustomContext, Registry, StepError, StepInput};
use serde_json::{Value, json};

const PLAN_JSON: &str = include_str!("../fixtures/orders.plan.json");

fn plan() -> Arc<Plan> {
    Arc::new(Plan::from_json(PLAN_JSON).expect("the fixture plan reads"))
}

/// The seed's sample order (two units of product-1 at 29.99, one of product-2 at 49.99: 109.97) just
/// received as `01HZX3J4K5M6N7P8Q9R0S1T2V3`, shipped to `country`, paid with `payment_method`, as JSON.
fn order(country: &str, payment_method: &str) -> Value {
    let mut order = Order::example();
    order.order_id = "01HZX3J4K5M6N7P8Q9R0S1T2V3".to_owned();
    order.created_at = "2024-05-01T12:00:00.000Z".to_owned();
    order.updated_at = order.created_at.clone();
    order.shipping_address.country = country.to_owned();
    order.payment_method = payment_method.to_owned();
    serde_json::to_value(order).expect("an order serialises")
}

/// The request the stream processor sends for `step` (and `compensation`), as JSON.
fn request(plan: &Plan, step: &str, compensation: Option<&str>, order: Value) -> Value {
    json!({
        "order": order,
        "step": plan.step(step).expect("the step exists"),
        "compensation": compensation.map(|c| &plan.compensations[c]),
        "attempt": 1,
        "idempotency_key": format!("01HZX3J4K5M6N7P8Q9R0S1T2V3:{}", compensation.unwrap_or(step)),
    })
}

fn function(plan: &Arc<Plan>, function: Function) -> StepFunction {
    StepFunction::new(plan.clone(), function, &Registry::new()).expect("the plan has the function")
}

/// The response as the JSON the function writes.
async fn answer(f: &StepFunction, request: Value) -> Value {
    serde_json::to_value(f.handle(request).await).expect("a response serialises")
}

#[tokio::test]
async fn a_successful_step_answers_ok_with_its_effects() {
    let plan = plan();
    let reserve = function(&plan, Function::step("reserve-inventory"));
    let out = answer(&reserve, request(&plan, "reserve-inventory", None, order("GB", "credit_card"))).await;
    assert_eq!(
        out,
        json!({ "ok": {
            "effects": [{ "effect": "reserve_stock", "units": [
                { "product_id": "product-1", "quantity": 2 },
                { "product_id": "product-2", "quantity": 1 }
            ]}],
            "charge": null, "shipment": null, "output": null
        }})
    );
}

#[tokio::test]
async fn a_charge_answers_with_the_charge_and_its_ledger_effect() {
    let plan = plan();
    let charge = function(&plan, Function::step("charge-payment"));
    let out = answer(&charge, request(&plan, "charge-payment", None, order("GB", "credit_card"))).await;
    let ok = &out["ok"];
    assert_eq!(ok["charge"]["amount_cents"], 10997, "{out}");
    assert_eq!(ok["charge"]["currency"], "USD", "{out}");
    assert_eq!(ok["effects"][0]["effect"], "record_charge", "{out}");
    assert_eq!(ok["effects"][0]["order_id"], "01HZX3J4K5M6N7P8Q9R0S1T2V3");
}

#[tokio::test]
async fn a_validation_failure_is_a_refusal_with_its_fields() {
    let plan = plan();
    let validate = function(&plan, Function::step("validate"));
    let out = answer(&validate, request(&plan, "validate", None, order("JP", "credit_card"))).await;
    let error = &out["error"];
    assert_eq!(error["class"], "rejected", "{out}");
    assert_eq!(error["code"], "VALIDATION_FAILED");
    let fields = error["fields"].as_array().expect("fields");
    assert!(fields.iter().any(|f| f.to_string().contains("country")), "{out}");

    // The same answer decodes back to the engine's error.
    let decoded: StepResponse = serde_json::from_value(out).expect("the response decodes");
    let error = decoded.into_result().expect_err("a failure");
    assert!(!error.is_retryable() && error.is_refusal());
    assert_eq!(error.code(), "VALIDATION_FAILED");
    assert!(!error.fields().is_empty());
}

#[tokio::test]
async fn a_declined_payment_is_a_refusal_with_its_reason() {
    let plan = plan();
    let charge = function(&plan, Function::step("charge-payment"));
    let out = answer(&charge, request(&plan, "charge-payment", None, order("GB", "declined_card"))).await;
    assert_eq!(out["error"]["class"], "rejected", "{out}");
    assert_eq!(out["error"]["code"], "CARD_DECLINED", "{out}");
}

#[tokio::test]
async fn a_compensation_function_runs_the_compensation() {
    let plan = plan();
    let release = function(&plan, Function::compensation("release-inventory"));
    let out =
        answer(&release, request(&plan, "reserve-inventory", Some("release-inventory"), order("GB", "credit_card")))
            .await;
    assert_eq!(out["ok"]["effects"][0]["effect"], "release_stock", "{out}");
    assert_eq!(out["ok"]["effects"][0]["units"][0]["product_id"], "product-1");
}

async fn score(ctx: CustomContext) -> Result<Value, StepError> {
    match ctx.order.payment_method.as_str() {
        "panic" => panic!("the fraud model is not loaded"),
        "flaky" => Err(StepError::retryable("MODEL_BUSY", "try again")),
        _ => Ok(json!({ "score": ctx.order.items.len() * 10, "attempt": ctx.attempt, "key": ctx.idempotency_key })),
    }
}

/// The reference plan with a custom step `fraud-score` (function `fraud_check::score`) after validate.
fn plan_with_custom() -> Arc<Plan> {
    let mut plan = (*plan()).clone();
    let mut step = plan.step("validate").expect("validate").clone();
    step.name = "fraud-score".to_owned();
    step.status = "SCORED".to_owned();
    step.action = StepAction::Custom(HandlerPlan {
        function: "fraud_check::score".to_owned(),
        crate_name: "fraud_check".to_owned(),
        crate_path: "steps/fraud_check".to_owned(),
        side_effects: false,
    });
    plan.steps.insert(1, step);
    Arc::new(plan)
}

fn custom_function(plan: &Arc<Plan>) -> StepFunction {
    let mut registry = Registry::new();
    registry.register("fraud_check::score", Arc::new(FnStep(score)));
    StepFunction::new(plan.clone(), Function::step("fraud-score"), &registry).expect("the plan has fraud-score")
}

#[tokio::test]
async fn a_custom_async_fn_answers_with_its_output() {
    let plan = plan_with_custom();
    let f = custom_function(&plan);
    let out = answer(&f, request(&plan, "fraud-score", None, order("GB", "credit_card"))).await;
    assert_eq!(
        out["ok"]["output"],
        json!({ "score": 20, "attempt": 1, "key": "01HZX3J4K5M6N7P8Q9R0S1T2V3:fraud-score" })
    );
}

#[tokio::test]
async fn a_panic_is_a_retryable_answer_and_the_function_keeps_serving() {
    let plan = plan_with_custom();
    let f = custom_function(&plan);
    let out = answer(&f, request(&plan, "fraud-score", None, order("GB", "panic"))).await;
    assert_eq!(out["error"]["class"], "retryable", "{out}");
    assert_eq!(out["error"]["code"], "PANIC");
    assert!(out["error"]["message"].as_str().unwrap_or_default().contains("the fraud model is not loaded"), "{out}");

    let again = answer(&f, request(&plan, "fraud-score", None, order("GB", "credit_card"))).await;
    assert_eq!(again["ok"]["output"]["score"], 20, "{again}");
}

#[tokio::test]
async fn a_retryable_error_of_the_handler_stays_retryable() {
    let plan = plan_with_custom();
    let f = custom_function(&plan);
    let out = answer(&f, request(&plan, "fraud-score", None, order("GB", "flaky"))).await;
    assert_eq!(out, json!({ "error": { "class": "retryable", "code": "MODEL_BUSY", "message": "try again" } }));
}

#[tokio::test]
async fn an_unregistered_custom_handler_is_terminal() {
    let plan = plan_with_custom();
    let f = function(&plan, Function::step("fraud-score"));
    let out = answer(&f, request(&plan, "fraud-score", None, order("GB", "credit_card"))).await;
    assert_eq!(out["error"]["class"], "terminal", "{out}");
    assert_eq!(out["error"]["code"], "HANDLER_NOT_REGISTERED");
}

#[tokio::test]
async fn a_request_for_another_step_is_refused() {
    let plan = plan();
    let validate = function(&plan, Function::step("validate"));
    let out = answer(&validate, request(&plan, "charge-payment", None, order("GB", "credit_card"))).await;
    assert_eq!(out["error"]["class"], "terminal", "{out}");
    assert_eq!(out["error"]["code"], "WRONG_FUNCTION");
    assert!(out["error"]["message"].as_str().unwrap_or_default().contains("`charge-payment`"), "{out}");

    let release = function(&plan, Function::compensation("release-inventory"));
    let as_step = answer(&release, request(&plan, "reserve-inventory", None, order("GB", "credit_card"))).await;
    assert_eq!(as_step["error"]["code"], "WRONG_FUNCTION", "{as_step}");
}

#[tokio::test]
async fn a_request_from_another_plan_is_a_retryable_mismatch() {
    let plan = plan();
    let charge = function(&plan, Function::step("charge-payment"));
    let mut req = request(&plan, "charge-payment", None, order("GB", "credit_card"));
    req["step"]["timeout_ms"] = json!(1);
    let out = answer(&charge, req).await;
    assert_eq!(out["error"]["class"], "retryable", "{out}");
    assert_eq!(out["error"]["code"], "PLAN_MISMATCH");
}

#[tokio::test]
async fn a_malformed_request_is_terminal_and_named() {
    let plan = plan();
    let validate = function(&plan, Function::step("validate"));
    let out = answer(&validate, json!({ "order": 42 })).await;
    assert_eq!(out["error"]["class"], "terminal", "{out}");
    assert_eq!(out["error"]["code"], "INVALID_STEP_REQUEST");
    assert!(out["error"]["message"].as_str().unwrap_or_default().contains("step `validate`"), "{out}");
}

#[test]
fn a_function_for_a_step_the_plan_lacks_does_not_start() {
    let error = StepFunction::new(plan(), Function::step("fraud-score"), &Registry::new()).expect_err("unknown step");
    assert_eq!(error.to_string(), "this function runs step `fraud-score`, which the plan `shop` does not have");
}

#[test]
fn step_inputs_round_trip_through_json() {
    let plan = plan();
    let req = request(&plan, "charge-payment", None, order("GB", "credit_card"));
    let input: StepInput = serde_json::from_value(req.clone()).expect("a step input");
    assert_eq!(input.attempt, 1);
    assert_eq!(serde_json::to_value(&input).expect("serialises")["step"], req["step"]);
}

/// The reference plan with an `http` step `screen` after validate, calling `url`.
fn plan_with_http(url: &str) -> Arc<Plan> {
    let mut plan = (*plan()).clone();
    let mut step = plan.step("validate").expect("validate").clone();
    step.name = "screen".to_owned();
    step.status = "SCREENED".to_owned();
    step.action = StepAction::Http(orchgen_runtime::plan::HttpPlan {
        url: url.to_owned(),
        method: "POST".to_owned(),
        headers: Vec::new(),
        signing: None,
        follow_redirects: false,
        max_response_bytes: orchgen_runtime::plan::DEFAULT_MAX_RESPONSE_BYTES,
    });
    plan.steps.insert(1, step);
    Arc::new(plan)
}

/// A provider on a loopback port: `/ok` answers `{"approved": true}`, `/busy` 429 with `Retry-After: 2`.
async fn provider() -> (String, tokio::task::JoinHandle<()>) {
    use axum::routing::post;
    let app = axum::Router::new().route("/ok", post(|| async { axum::Json(json!({ "approved": true })) })).route(
        "/busy",
        post(|| async { (axum::http::StatusCode::TOO_MANY_REQUESTS, [("retry-after", "2")], "slow down") }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    (base, tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") }))
}

#[tokio::test]
async fn an_http_step_function_calls_the_service_with_no_handler_registered() {
    let (base, server) = provider().await;
    let plan = plan_with_http(&format!("{base}/ok"));
    let f = function(&plan, Function::step("screen"));
    let out = answer(&f, request(&plan, "screen", None, order("GB", "credit_card"))).await;
    assert_eq!(out["ok"]["output"], json!({ "approved": true }), "{out}");

    // What the service asks for crosses the function's answer: the processor waits that long.
    let plan = plan_with_http(&format!("{base}/busy"));
    let f = function(&plan, Function::step("screen"));
    let out = answer(&f, request(&plan, "screen", None, order("GB", "credit_card"))).await;
    assert_eq!(out["error"]["class"], "retryable", "{out}");
    assert_eq!(out["error"]["code"], "HTTP_429");
    assert_eq!(out["error"]["retry_after_ms"], 2000);
    server.abort();
}
