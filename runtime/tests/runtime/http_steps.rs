//! `http` steps and compensations against a real HTTP provider on a loopback port (an axum
//! server started by each test): what the provider receives, and what the order becomes for each
//! kind of answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use orchgen_runtime::order::{FailureKind, Order, Outcome};
use orchgen_runtime::plan::{
    CompensationAction, CompensationPlan, DEFAULT_MAX_RESPONSE_BYTES, HttpHeaderPlan, HttpPlan, Jitter, Plan,
    RetryPlan, SigningPlan, StepAction, status,
};
use orchgen_runtime::steps::http::{HttpStepRequest, signature};
use orchgen_runtime::store::{Stock, Store};

use super::engine::{Harness, drain_with_duplicates, index_of, insert_custom, new_order, outcomes, plan};

const SIGNING_KEY: &str = "whsec_test_0123456789";

/// One request the provider received.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    method: String,
    at: Instant,
    headers: HeaderMap,
    body: HttpStepRequest,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct ProviderState {
    seen: Mutex<Vec<Seen>>,
    /// Requests per path and idempotency key, for answers that change on a second call.
    calls: Mutex<HashMap<(String, String), u32>>,
}

/// A payment/notification provider on 127.0.0.1, answering by path.
struct Provider {
    base: String,
    state: Arc<ProviderState>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Provider {
    async fn start() -> Provider {
        let state = Arc::new(ProviderState::default());
        let app = axum::Router::new().route("/{*path}", axum::routing::any(answer)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Provider { base, state, server }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    fn seen(&self, path: &str) -> Vec<Seen> {
        self.state.seen.lock().expect("lock").iter().filter(|s| s.path == path).cloned().collect()
    }
}

async fn answer(
    State(state): State<Arc<ProviderState>>,
    Path(path): Path<String>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: HttpStepRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return (StatusCode::UNPROCESSABLE_ENTITY, format!("not a step request: {e}")).into_response(),
    };
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let call = {
        let mut calls = state.calls.lock().expect("lock");
        let n = calls.entry((path.clone(), key)).or_default();
        *n += 1;
        *n
    };
    state.seen.lock().expect("lock").push(Seen {
        path: path.clone(),
        method: method.to_string(),
        at: Instant::now(),
        headers: headers.clone(),
        body: request.clone(),
    });
    let json = |status: StatusCode, value: serde_json::Value| (status, axum::Json(value)).into_response();
    match path.as_str() {
        "charges" => json(
            StatusCode::CREATED,
            serde_json::json!({"charge_id": format!("ch_{}", request.order.order_id), "amount_cents": request.order.total_cents}),
        ),
        "refunds" | "notify" => StatusCode::NO_CONTENT.into_response(),
        "flaky" if call == 1 => json(StatusCode::INTERNAL_SERVER_ERROR, serde_json::json!({"error": "database down"})),
        "flaky" => json(StatusCode::OK, serde_json::json!({"ok": true, "call": call})),
        "busy" if call == 1 => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "slow down").into_response(),
        "busy" => json(StatusCode::OK, serde_json::json!({"ok": true})),
        "declined" => json(
            StatusCode::PAYMENT_REQUIRED,
            serde_json::json!({"error": "card_declined", "message": "Your card was declined."}),
        ),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            StatusCode::OK.into_response()
        }
        "huge" => json(StatusCode::OK, serde_json::json!({"blob": "x".repeat(100_000)})),
        "text" => (StatusCode::OK, "accepted").into_response(),
        "moved" => (StatusCode::TEMPORARY_REDIRECT, [("location", "/charges")]).into_response(),
        "signed" => {
            let verified = headers
                .get("x-shop-signature")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    let (t, _) = v.strip_prefix("t=")?.split_once(',')?;
                    let t: u64 = t.parse().ok()?;
                    Some(signature(SIGNING_KEY.as_bytes(), t, &body) == v)
                })
                .unwrap_or(false);
            if verified {
                json(StatusCode::OK, serde_json::json!({"verified": true}))
            } else {
                json(StatusCode::UNAUTHORIZED, serde_json::json!({"error": "bad signature"}))
            }
        }
        other => (StatusCode::NOT_FOUND, format!("no route {other}")).into_response(),
    }
}

/// The reference plan with an `http` step calling `url` right after `after`.
fn plan_with_http(after: &str, name: &str, url: &str, step_status: &str) -> Plan {
    let mut plan = plan();
    let at = index_of(&plan, after) + 1;
    let step = insert_custom(&mut plan, at, name, "unused", step_status);
    step.action = StepAction::Http(http(url));
    plan
}

fn http(url: &str) -> HttpPlan {
    HttpPlan {
        url: url.to_owned(),
        method: "POST".to_owned(),
        headers: Vec::new(),
        signing: None,
        follow_redirects: false,
        max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
    }
}

fn step_mut<'p>(plan: &'p mut Plan, name: &str) -> &'p mut orchgen_runtime::plan::StepPlan {
    let i = index_of(plan, name);
    &mut plan.steps[i]
}

fn http_mut<'p>(plan: &'p mut Plan, name: &str) -> &'p mut HttpPlan {
    match &mut step_mut(plan, name).action {
        StepAction::Http(http) => http,
        _ => panic!("{name} is not an http step"),
    }
}

async fn run(plan: Plan, items: &[(&str, i64, f64)]) -> (Harness, Order) {
    let mut h = Harness::new(plan, &[("product-1", 10)], |_| {}).await;
    let order = h.run(&new_order(items)).await;
    (h, order)
}

#[tokio::test]
async fn a_successful_call_sends_the_order_and_keeps_the_answer_as_output() {
    let provider = Provider::start().await;
    let mut plan = plan_with_http("reserve-inventory", "charge-card", &provider.url("charges"), "CARD_CHARGED");
    http_mut(&mut plan, "charge-card").headers =
        vec![HttpHeaderPlan { name: "X-Shop".to_owned(), value: "orchgen-tests".to_owned() }];
    let (_h, order) = run(plan, &[("product-1", 2, 12.5)]).await;

    assert_eq!(order.status, status::COMPLETED, "{:?}", order.failure);
    assert_eq!(
        order.outputs.get("charge-card"),
        Some(&serde_json::json!({"charge_id": format!("ch_{}", order.order_id), "amount_cents": 2500}))
    );
    let seen = provider.seen("charges");
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-shop"), Some("orchgen-tests"));
    assert_eq!(request.header("idempotency-key"), Some(format!("{}:charge-card", order.order_id).as_str()));
    assert!(request.header("user-agent").is_some_and(|ua| ua.starts_with("orchgen/")));
    assert_eq!(request.body.order.order_id, order.order_id);
    assert_eq!(request.body.order.status, "RESERVED", "the order as it was before the step");
    assert_eq!(request.body.context.step, "charge-card");
    assert_eq!(request.body.context.attempt, 1);
    assert_eq!(request.body.context.compensation, None);
    assert_eq!(request.body.context.idempotency_key, format!("{}:charge-card", order.order_id));
}

#[tokio::test]
async fn a_server_error_is_retried_with_the_same_idempotency_key() {
    let provider = Provider::start().await;
    let (_h, order) =
        run(plan_with_http("validate", "screen", &provider.url("flaky"), "SCREENED"), &[("product-1", 1, 5.0)]).await;
    assert_eq!(order.status, status::COMPLETED, "{:?}", order.failure);
    assert_eq!(outcomes(&order, "screen"), [Outcome::Retried, Outcome::Succeeded]);
    let retried = order.history.iter().find(|h| h.step == "screen").expect("an entry");
    assert!(retried.error.as_deref().is_some_and(|e| e.starts_with("HTTP_500") && e.contains("database down")));
    assert_eq!(order.outputs.get("screen"), Some(&serde_json::json!({"ok": true, "call": 2})));
    let seen = provider.seen("flaky");
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].header("idempotency-key"), seen[1].header("idempotency-key"));
    assert_eq!([seen[0].body.context.attempt, seen[1].body.context.attempt], [1, 2]);
}

#[tokio::test]
async fn too_many_requests_waits_as_long_as_retry_after_asks() {
    let provider = Provider::start().await;
    let mut plan = plan_with_http("validate", "screen", &provider.url("busy"), "SCREENED");
    // The policy alone would retry after 1–4 ms; the provider asks for a second.
    step_mut(&mut plan, "screen").timeout_ms = 3_000;
    let (_h, order) = run(plan, &[("product-1", 1, 5.0)]).await;
    assert_eq!(order.status, status::COMPLETED, "{:?}", order.failure);
    assert_eq!(outcomes(&order, "screen"), [Outcome::Retried, Outcome::Succeeded]);
    let seen = provider.seen("busy");
    assert_eq!(seen.len(), 2);
    let waited = seen[1].at - seen[0].at;
    assert!(waited >= Duration::from_millis(950), "the retry came after {waited:?}, before Retry-After's 1 s");
}

#[tokio::test]
async fn a_refusal_is_terminal_and_the_earlier_http_step_is_compensated_once() {
    let provider = Provider::start().await;
    let mut plan = plan_with_http("reserve-inventory", "charge-card", &provider.url("charges"), "CARD_CHARGED");
    plan.compensations.insert(
        "refund-card".to_owned(),
        CompensationPlan {
            name: "refund-card".to_owned(),
            action: CompensationAction::Http(http(&provider.url("refunds"))),
            retry: RetryPlan { max_attempts: 3, base_delay_ms: 1, max_delay_ms: 2, jitter: Jitter::None },
            timeout_ms: 1_000,
        },
    );
    step_mut(&mut plan, "charge-card").compensation = Some("refund-card".to_owned());
    let at = index_of(&plan, "charge-card") + 1;
    let step = insert_custom(&mut plan, at, "authorise", "unused", "AUTHORISED");
    step.action = StepAction::Http(http(&provider.url("declined")));
    let (h, order) = run(plan, &[("product-1", 3, 5.0)]).await;

    assert_eq!(order.status, status::CANCELLED);
    let failure = order.failure.as_ref().expect("a failure");
    assert_eq!((failure.step.as_str(), failure.code.as_str()), ("authorise", "HTTP_402"));
    assert_eq!(failure.kind, FailureKind::Refusal, "402: the service said no");
    assert!(failure.message.contains("Your card was declined."), "{}", failure.message);
    assert_eq!(outcomes(&order, "authorise"), [Outcome::Failed], "a refusal is not retried");
    assert_eq!(provider.seen("declined").len(), 1);
    let refunds = provider.seen("refunds");
    assert_eq!(refunds.len(), 1, "the compensation called once");
    assert_eq!(refunds[0].body.context.compensation.as_deref(), Some("refund-card"));
    assert_eq!(refunds[0].body.context.step, "charge-card");
    assert_eq!(refunds[0].header("idempotency-key"), Some(format!("{}:refund-card", order.order_id).as_str()));
    assert_eq!(h.stock("product-1").await, Stock { available: 10, reserved: 0 }, "the reservation released");
}

#[tokio::test]
async fn a_provider_slower_than_the_timeout_fails_with_timeout() {
    let provider = Provider::start().await;
    let mut plan = plan_with_http("validate", "screen", &provider.url("slow"), "SCREENED");
    let step = step_mut(&mut plan, "screen");
    step.timeout_ms = 200;
    step.retry.max_attempts = 2;
    let (_h, order) = run(plan, &[("product-1", 1, 5.0)]).await;
    assert_eq!(order.status, status::FAILED, "nothing to undo after validation");
    assert_eq!(order.failure.as_ref().expect("a failure").code, "TIMEOUT");
    assert_eq!(outcomes(&order, "screen"), [Outcome::Retried, Outcome::Failed]);
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_fails_as_unreachable() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address")
    };
    let (_h, order) = run(
        plan_with_http("validate", "screen", &format!("http://{closed}/screen"), "SCREENED"),
        &[("product-1", 1, 5.0)],
    )
    .await;
    assert_eq!(order.status, status::FAILED);
    let failure = order.failure.as_ref().expect("a failure");
    assert_eq!(failure.code, "HTTP_UNREACHABLE");
    assert!(failure.message.contains(&closed.to_string()), "{}", failure.message);
    assert_eq!(outcomes(&order, "screen"), [Outcome::Retried, Outcome::Retried, Outcome::Failed]);
}

#[tokio::test]
async fn an_oversized_answer_is_a_terminal_error_that_says_so() {
    let provider = Provider::start().await;
    let (_h, order) =
        run(plan_with_http("validate", "screen", &provider.url("huge"), "SCREENED"), &[("product-1", 1, 5.0)]).await;
    assert_eq!(order.status, status::FAILED);
    let failure = order.failure.as_ref().expect("a failure");
    assert_eq!(failure.code, "HTTP_RESPONSE_TOO_LARGE");
    assert!(failure.message.contains("16384 bytes"), "{}", failure.message);
    assert!(order.outputs.is_empty());
}

#[tokio::test]
async fn a_text_answer_is_kept_as_a_string_and_an_empty_one_not_at_all() {
    let provider = Provider::start().await;
    let mut plan = plan_with_http("validate", "screen", &provider.url("text"), "SCREENED");
    let at = index_of(&plan, "screen") + 1;
    insert_custom(&mut plan, at, "tell-crm", "unused", "CRM_TOLD").action =
        StepAction::Http(http(&provider.url("notify")));
    let (_h, order) = run(plan, &[("product-1", 1, 5.0)]).await;
    assert_eq!(order.status, status::COMPLETED, "{:?}", order.failure);
    assert_eq!(order.outputs.get("screen"), Some(&serde_json::json!("accepted")));
    assert_eq!(order.outputs.get("tell-crm"), None, "204: no output");
}

#[tokio::test]
async fn redirects_are_refused_unless_the_step_follows_them() {
    let provider = Provider::start().await;
    let (_h, refused) =
        run(plan_with_http("validate", "screen", &provider.url("moved"), "SCREENED"), &[("product-1", 1, 5.0)]).await;
    assert_eq!(refused.status, status::FAILED);
    let failure = refused.failure.as_ref().expect("a failure");
    assert_eq!(failure.code, "HTTP_REDIRECT");
    assert!(failure.message.contains("follow_redirects: true"), "{}", failure.message);

    let mut plan = plan_with_http("validate", "screen", &provider.url("moved"), "SCREENED");
    http_mut(&mut plan, "screen").follow_redirects = true;
    let (_h, followed) = run(plan, &[("product-1", 1, 5.0)]).await;
    assert_eq!(followed.status, status::COMPLETED, "{:?}", followed.failure);
    assert!(followed.outputs["screen"]["charge_id"].is_string());
}

#[tokio::test]
async fn a_record_delivered_twice_calls_with_one_key_and_applies_once() {
    let provider = Provider::start().await;
    let plan = plan_with_http("reserve-inventory", "charge-card", &provider.url("charges"), "CARD_CHARGED");
    let mut h = Harness::new(plan, &[("product-1", 10)], |_| {}).await;
    let order = new_order(&[("product-1", 2, 5.0)]);
    h.submit(&order).await;
    drain_with_duplicates(&mut h).await;
    let done = h.order(&order.order_id).await;
    assert_eq!(done.status, status::COMPLETED, "{:?}", done.failure);
    assert_eq!(outcomes(&done, "charge-card"), [Outcome::Succeeded], "one attempt recorded");
    let seen = provider.seen("charges");
    assert!(!seen.is_empty());
    let key = format!("{}:charge-card", order.order_id);
    assert!(seen.iter().all(|s| s.header("idempotency-key") == Some(key.as_str())), "one key for every delivery");
    assert_eq!(h.stock("product-1").await, Stock { available: 8, reserved: 0 }, "stock committed once");
    assert_eq!(h.store.ledger_count().await.expect("ledger"), 1, "one charge");
}

#[tokio::test]
async fn the_provider_verifies_the_signature_made_with_a_secret_from_the_environment() {
    let provider = Provider::start().await;
    // SAFETY: no other test reads or writes this variable.
    unsafe { std::env::set_var("ORCHGEN_TEST_SHOP_SIGNING_KEY", SIGNING_KEY) };
    let mut plan = plan_with_http("validate", "screen", &provider.url("signed"), "SCREENED");
    http_mut(&mut plan, "screen").signing = Some(SigningPlan {
        secret: "${env:ORCHGEN_TEST_SHOP_SIGNING_KEY}".to_owned(),
        header: "X-Shop-Signature".to_owned(),
    });
    let (_h, order) = run(plan.clone(), &[("product-1", 1, 5.0)]).await;
    assert_eq!(order.status, status::COMPLETED, "{:?}", order.failure);
    assert_eq!(order.outputs.get("screen"), Some(&serde_json::json!({"verified": true})));

    // Another key: the provider refuses (401, terminal).
    http_mut(&mut plan, "screen").signing.as_mut().expect("signing").secret = "not-the-key".to_owned();
    let (_h, refused) = run(plan, &[("product-1", 1, 5.0)]).await;
    assert_eq!(refused.failure.as_ref().expect("a failure").code, "HTTP_401");
    assert_eq!(refused.status, status::FAILED, "401: the call is wrong whatever the order, a fault");
}

#[tokio::test]
async fn a_missing_secret_fails_the_step_naming_the_reference_and_sends_nothing() {
    let provider = Provider::start().await;
    let mut plan = plan_with_http("validate", "screen", &provider.url("charges"), "SCREENED");
    http_mut(&mut plan, "screen").headers = vec![HttpHeaderPlan {
        name: "Authorization".to_owned(),
        value: "Bearer ${env:ORCHGEN_TEST_TOKEN_NOBODY_SETS}".to_owned(),
    }];
    let (_h, order) = run(plan, &[("product-1", 1, 5.0)]).await;
    assert_eq!(order.status, status::FAILED);
    let failure = order.failure.as_ref().expect("a failure");
    assert_eq!(failure.code, "SECRET_MISSING");
    assert!(failure.message.contains("${env:ORCHGEN_TEST_TOKEN_NOBODY_SETS}"), "{}", failure.message);
    assert!(provider.seen("charges").is_empty());
}

#[tokio::test]
async fn secret_header_values_reach_the_provider_and_never_the_order() {
    let provider = Provider::start().await;
    // SAFETY: no other test reads or writes this variable.
    unsafe { std::env::set_var("ORCHGEN_TEST_CRM_TOKEN", "tok_live_SECRET") };
    let mut plan = plan_with_http("validate", "screen", &provider.url("flaky"), "SCREENED");
    http_mut(&mut plan, "screen").headers = vec![HttpHeaderPlan {
        name: "Authorization".to_owned(),
        value: "Bearer ${env:ORCHGEN_TEST_CRM_TOKEN}".to_owned(),
    }];
    let (h, order) = run(plan, &[("product-1", 1, 5.0)]).await;
    assert_eq!(order.status, status::COMPLETED, "{:?}", order.failure);
    assert!(provider.seen("flaky").iter().all(|s| s.header("authorization") == Some("Bearer tok_live_SECRET")));
    let stored = serde_json::to_string(&h.order(&order.order_id).await).expect("json");
    assert!(!stored.contains("tok_live_SECRET"), "the secret is not on the order: {stored}");
    assert!(!serde_json::to_string(h.engine.plan()).expect("json").contains("tok_live_SECRET"));
}
