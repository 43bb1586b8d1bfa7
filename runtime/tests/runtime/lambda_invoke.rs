//! The step invoker (`lambda::invoke`) against a local server that plays the Lambda Invoke API
//! (`POST /2015-03-31/functions/{name}/invocations`) on 127.0.0.1: success, function errors,
//! throttling and other refusals, and the engine running the reference plan with every step in
//! "its own function" (the server answers with the real step functions of `lambda::step`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use orchgen_runtime::Engine;
use orchgen_runtime::aws::{AwsOptions, sdk_config};
use orchgen_runtime::lambda::invoke::{function_names, lambda_client};
use orchgen_runtime::lambda::{
    Function, LambdaStepHandler, StepFunction, StepResponse, invoker_registry, step_functions,
};
use orchgen_runtime::order::{Item, Order};
use orchgen_runtime::plan::{Plan, status};
use orchgen_runtime::steps::{Registry, StepError, StepHandler, StepInput, StepOutput};
use orchgen_runtime::store::memory::MemoryStore;
use orchgen_runtime::store::{ChangeFeed, Store};
use serde_json::json;

const PLAN_JSON: &str = include_str!("../fixtures/orders.plan.json");

fn plan() -> Arc<Plan> {
    let mut plan = Plan::from_json(PLAN_JSON).expect("the fixture plan reads");
    for retry in
        plan.steps.iter_mut().map(|s| &mut s.retry).chain(plan.compensations.values_mut().map(|c| &mut c.retry))
    {
        retry.base_delay_ms = 1;
        retry.max_delay_ms = 2;
    }
    Arc::new(plan)
}

/// What the fake Lambda service saw and how it answers.
#[derive(Default)]
struct Service {
    /// Step functions by Lambda function name, answering like the deployed ones.
    functions: BTreeMap<String, StepFunction>,
    /// Every call: function name, invocation type header.
    calls: Mutex<Vec<(String, String)>>,
}

async fn invoke(
    State(service): State<Arc<Service>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let invocation_type =
        headers.get("x-amz-invocation-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    service.calls.lock().expect("lock").push((name.clone(), invocation_type));
    let error = |status: StatusCode, kind: &str, message: &str| {
        (status, [("x-amzn-errortype", kind.to_owned())], json!({ "Type": "User", "message": message }).to_string())
            .into_response()
    };
    match name.as_str() {
        "crashing" => (
            StatusCode::OK,
            [("x-amz-function-error", "Unhandled")],
            json!({ "errorType": "Runtime.ExitError", "errorMessage": "RequestId: 1 Error: Runtime exited with error: signal: killed" })
                .to_string(),
        )
            .into_response(),
        "throttled" => error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException", "Rate Exceeded."),
        "overloaded" => error(StatusCode::INTERNAL_SERVER_ERROR, "ServiceException", "internal failure"),
        "too-large" => error(StatusCode::PAYLOAD_TOO_LARGE, "RequestTooLargeException", "request must be smaller"),
        "garbage" => (StatusCode::OK, "hello").into_response(),
        "declining" => {
            let answer = StepResponse::Error(StepError::terminal("CARD_DECLINED", "declined by the bank"));
            (StatusCode::OK, serde_json::to_string(&answer).expect("serialises")).into_response()
        }
        "echo" => {
            let input: StepInput = match serde_json::from_slice(&body) {
                Ok(input) => input,
                Err(e) => return error(StatusCode::BAD_REQUEST, "InvalidRequestContentException", &e.to_string()),
            };
            let output = StepOutput { output: Some(json!({ "ran": input.name(), "attempt": input.attempt })), ..StepOutput::default() };
            (StatusCode::OK, serde_json::to_string(&StepResponse::Ok(output)).expect("serialises")).into_response()
        }
        _ => match service.functions.get(&name) {
            Some(function) => {
                let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let answer = function.handle(request).await;
                (StatusCode::OK, serde_json::to_string(&answer).expect("serialises")).into_response()
            }
            None => error(StatusCode::NOT_FOUND, "ResourceNotFoundException", &format!("Function not found: {name}")),
        },
    }
}

/// Starts the fake service on a free loopback port; it stops with the test's runtime.
async fn serve(service: Arc<Service>) -> String {
    let app = Router::new().route("/2015-03-31/functions/{name}/invocations", post(invoke)).with_state(service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{address}")
}

async fn client(endpoint: &str) -> aws_sdk_lambda::Client {
    lambda_client(&sdk_config(&AwsOptions::local_endpoint(endpoint, "us-east-1")).await)
}

fn order(payment_method: &str) -> Order {
    let mut order = Order::example();
    order.order_id = ulid::Ulid::new().to_string();
    order.items = vec![Item { product_id: "product-1".to_owned(), quantity: 2, unit_price: 29.99 }];
    order.total_cents = 5998;
    order.payment_method = payment_method.to_owned();
    order
}

fn input(plan: &Plan, step: &str) -> StepInput {
    StepInput {
        order: order("credit_card"),
        step: plan.step(step).expect("step").clone(),
        compensation: None,
        attempt: 2,
        idempotency_key: format!("o:{step}"),
    }
}

/// Calls step `validate` through a handler that maps it to the Lambda function `target`.
async fn call_as(target: &str) -> (Result<StepOutput, StepError>, Arc<Service>) {
    let service = Arc::new(Service::default());
    let endpoint = serve(service.clone()).await;
    let plan = plan();
    let names = BTreeMap::from([(Function::step("validate"), target.to_owned())]);
    let handler = LambdaStepHandler::new(client(&endpoint).await, names);
    (handler.call(&plan, input(&plan, "validate")).await, service)
}

#[tokio::test]
async fn a_successful_invocation_returns_the_step_output() {
    let (result, service) = call_as("echo").await;
    assert_eq!(
        result,
        Ok(StepOutput { output: Some(json!({ "ran": "validate", "attempt": 2 })), ..StepOutput::default() })
    );
    assert_eq!(*service.calls.lock().expect("lock"), vec![("echo".to_owned(), "RequestResponse".to_owned())]);
}

#[tokio::test]
async fn a_function_error_is_retryable_and_says_why() {
    let (result, _) = call_as("crashing").await;
    let error = result.expect_err("a function error");
    assert!(error.is_retryable(), "{error}");
    assert_eq!(error.code(), "FUNCTION_ERROR");
    assert!(error.message().contains("Runtime.ExitError") && error.message().contains("`crashing`"), "{error}");
}

#[tokio::test]
async fn throttling_is_retryable() {
    let (result, service) = call_as("throttled").await;
    let error = result.expect_err("throttled");
    assert!(error.is_retryable(), "{error}");
    assert_eq!(error.code(), "THROTTLED");
    // The SDK's own retries are off: the plan's retry policy decides.
    assert_eq!(service.calls.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn a_service_failure_is_retryable() {
    let (result, _) = call_as("overloaded").await;
    let error = result.expect_err("a service error");
    assert!(error.is_retryable(), "{error}");
    assert_eq!(error.code(), "INVOKE_FAILED");
}

#[tokio::test]
async fn a_missing_function_and_a_refused_request_are_terminal() {
    let (result, _) = call_as("nobody").await;
    let error = result.expect_err("not found");
    assert!(!error.is_retryable(), "{error}");
    assert_eq!(error.code(), "FUNCTION_NOT_FOUND");

    let (result, _) = call_as("too-large").await;
    let error = result.expect_err("refused");
    assert!(!error.is_retryable(), "{error}");
    assert_eq!(error.code(), "INVOKE_REJECTED");
}

#[tokio::test]
async fn a_step_error_passes_through_and_garbage_is_refused() {
    let (result, _) = call_as("declining").await;
    assert_eq!(result, Err(StepError::terminal("CARD_DECLINED", "declined by the bank")));

    let (result, _) = call_as("garbage").await;
    let error = result.expect_err("not a step response");
    assert!(!error.is_retryable(), "{error}");
    assert_eq!(error.code(), "INVALID_STEP_RESPONSE");
    assert!(error.message().contains("hello"), "{error}");
}

#[tokio::test]
async fn an_unreachable_service_is_retryable() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let plan = plan();
    let names = BTreeMap::from([(Function::step("validate"), "echo".to_owned())]);
    let handler = LambdaStepHandler::new(client(&format!("http://127.0.0.1:{port}")).await, names);
    let error = handler.call(&plan, input(&plan, "validate")).await.expect_err("nothing listens");
    assert!(error.is_retryable(), "{error}");
    assert_eq!(error.code(), "INVOKE_FAILED");
}

/// The engine on a memory store with every step invoked through the fake service, which runs the
/// real step functions: the service is what the deployed pipeline looks like from the processor.
async fn pipeline() -> (Arc<Engine>, Arc<MemoryStore>, Arc<Service>) {
    let plan = plan();
    let mut service = Service::default();
    let mut names = BTreeMap::new();
    for function in step_functions(&plan) {
        let lambda_name = format!("shop-prod-{}", function.name());
        service.functions.insert(
            lambda_name.clone(),
            StepFunction::new(plan.clone(), function.clone(), &Registry::new()).expect("a step function"),
        );
        names.insert(function, lambda_name);
    }
    let service = Arc::new(service);
    let endpoint = serve(service.clone()).await;
    let invoker = Arc::new(LambdaStepHandler::new(client(&endpoint).await, names));
    let store = Arc::new(MemoryStore::new());
    store.seed_inventory(&BTreeMap::from([("product-1".to_owned(), 10)])).await.expect("seed");
    let engine = Engine::with_registry(plan.clone(), store.clone(), invoker_registry(&plan, invoker));
    (Arc::new(engine), store, service)
}

async fn drain(engine: &Engine, store: &MemoryStore) {
    let mut after: Option<String> = None;
    loop {
        let records = store.read_changes(after.as_deref(), 1_000).await.expect("read");
        if records.is_empty() {
            return;
        }
        for record in records {
            engine.process(&record).await.expect("process");
            after = Some(record.sequence_number.clone());
        }
    }
}

#[tokio::test]
async fn the_engine_runs_every_step_in_its_own_function() {
    let (engine, store, service) = pipeline().await;
    let order = order("credit_card");
    store.create_order(&order, None).await.expect("create");
    drain(&engine, &store).await;

    let done = store.get_order(&order.order_id).await.expect("get").expect("exists");
    assert_eq!(done.status, status::COMPLETED, "{:?}", done.failure);
    assert_eq!(done.charge.as_ref().map(|c| c.amount_cents), Some(5998));
    assert!(done.shipment.is_some());
    let stock = store.inventory().await.expect("inventory")["product-1"];
    assert_eq!((stock.available, stock.reserved), (8, 0));
    let called: Vec<String> = service.calls.lock().expect("lock").iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(
        called,
        [
            "shop-prod-step-validate",
            "shop-prod-step-reserve-inventory",
            "shop-prod-step-charge-payment",
            "shop-prod-step-fulfil",
            "shop-prod-step-notify"
        ]
    );
}

#[tokio::test]
async fn a_declined_order_is_compensated_through_the_compensation_functions() {
    let (engine, store, service) = pipeline().await;
    let order = order("declined_card");
    store.create_order(&order, None).await.expect("create");
    drain(&engine, &store).await;

    let done = store.get_order(&order.order_id).await.expect("get").expect("exists");
    assert_eq!(done.status, status::CANCELLED);
    assert_eq!(done.failure.as_ref().map(|f| f.code.as_str()), Some("CARD_DECLINED"));
    let stock = store.inventory().await.expect("inventory")["product-1"];
    assert_eq!((stock.available, stock.reserved), (10, 0), "the reservation was released");
    let called: Vec<String> = service.calls.lock().expect("lock").iter().map(|(n, _)| n.clone()).collect();
    assert!(called.contains(&"shop-prod-compensation-release-inventory".to_owned()), "{called:?}");
}

#[test]
fn function_names_come_from_one_variable_per_function_or_a_prefix() {
    let plan = plan();
    let vars = BTreeMap::from([
        ("ORCHGEN_FUNCTION_STEP_VALIDATE".to_owned(), "arn:aws:lambda:us-east-1:1:function:v".to_owned()),
        ("ORCHGEN_FUNCTION_PREFIX".to_owned(), "shop-prod-".to_owned()),
    ]);
    let names = function_names(&plan, |v| vars.get(v).cloned()).expect("every function has a name");
    assert_eq!(names[&Function::step("validate")], "arn:aws:lambda:us-east-1:1:function:v");
    assert_eq!(names[&Function::step("charge-payment")], "shop-prod-step-charge-payment");
    assert_eq!(names[&Function::compensation("refund-payment")], "shop-prod-compensation-refund-payment");
    assert_eq!(names.len(), 7);

    let only_one = BTreeMap::from([("ORCHGEN_FUNCTION_STEP_VALIDATE".to_owned(), "v".to_owned())]);
    let error = function_names(&plan, |v| only_one.get(v).cloned()).expect_err("names are missing");
    let message = error.to_string();
    assert!(message.starts_with("no function name for step `reserve-inventory`, "), "{message}");
    assert!(message.contains("ORCHGEN_FUNCTION_COMPENSATION_REFUND_PAYMENT"), "{message}");
    assert!(message.ends_with("(or ORCHGEN_FUNCTION_PREFIX)"), "{message}");
}
