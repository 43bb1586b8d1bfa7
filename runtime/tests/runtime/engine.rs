//! The engine and the processor on [`MemoryStore`] with the reference plan
//! (`fixtures/orders.plan.json`, produced by `orchgen plan --format json pipelines/orders.yaml`),
//! retry delays shortened so that tests run fast.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use orchgen_runtime::dead_letter::{self, RETRIES_EXHAUSTED};
use orchgen_runtime::engine::{COMPENSATION_FAILED, Processor, ProcessorConfig};
use orchgen_runtime::order::{Address, FailureKind, Item, Order, Outcome, transition_allowed};
use orchgen_runtime::plan::{
    CompensationAction, CompensationPlan, HandlerPlan, Jitter, OnFailure, Plan, RetryPlan, StepAction, StepPlan, status,
};
use orchgen_runtime::steps::{CustomContext, CustomStep, StepError, StepHandler, StepInput, StepOutput};
use orchgen_runtime::store::memory::MemoryStore;
use orchgen_runtime::store::{
    ChangeFeed, ChangeKind, ChangeRecord, CommitError, Created, IdempotencyKey, LedgerEntry, ListQuery, Notification,
    Page, Stock, Store, StoreError, Transition, compare_sequence,
};
use orchgen_runtime::{Engine, ProcessError};
use serde::Serialize;

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

const PLAN_JSON: &str = include_str!("../fixtures/orders.plan.json");

fn fast(retry: &mut RetryPlan) {
    retry.base_delay_ms = 1;
    retry.max_delay_ms = 4;
}

/// The reference plan with 1–4 ms retry delays.
pub(crate) fn plan() -> Plan {
    let mut plan = Plan::from_json(PLAN_JSON).expect("the fixture plan reads");
    for step in &mut plan.steps {
        fast(&mut step.retry);
    }
    for compensation in plan.compensations.values_mut() {
        fast(&mut compensation.retry);
    }
    plan
}

fn handler(function: &str) -> HandlerPlan {
    HandlerPlan {
        function: function.to_owned(),
        crate_name: "tests".to_owned(),
        crate_path: "tests".to_owned(),
        side_effects: false,
    }
}

/// Inserts a custom step at `at`, with the compensations of the steps before it (newest first).
pub(crate) fn insert_custom<'p>(
    plan: &'p mut Plan,
    at: usize,
    name: &str,
    function: &str,
    step_status: &str,
) -> &'p mut StepPlan {
    let compensate_on_failure = plan.steps[..at].iter().rev().filter_map(|s| s.compensation.clone()).collect();
    plan.steps.insert(
        at,
        StepPlan {
            name: name.to_owned(),
            description: format!("custom step {name}"),
            action: StepAction::Custom(handler(function)),
            status: step_status.to_owned(),
            next: None,
            retry: RetryPlan { max_attempts: 3, base_delay_ms: 1, max_delay_ms: 4, jitter: Jitter::Full },
            timeout_ms: 1_000,
            memory_mb: 256,
            reserved_concurrency: None,
            on_failure: OnFailure::Compensate,
            compensation: None,
            compensate_on_failure,
        },
    );
    let completed = plan.statuses.iter().position(|s| s == status::COMPLETED).expect("COMPLETED is a status");
    plan.statuses.insert(completed, step_status.to_owned());
    &mut plan.steps[at]
}

pub(crate) fn index_of(plan: &Plan, step: &str) -> usize {
    plan.step_index(step).expect("the step exists")
}

/// A valid order of `items` (product, quantity, unit price) for the reference plan.
pub(crate) fn new_order(items: &[(&str, i64, f64)]) -> Order {
    let mut order = Order::example();
    order.order_id = ulid::Ulid::new().to_string();
    order.items = items
        .iter()
        .map(|(product_id, quantity, unit_price)| Item {
            product_id: (*product_id).to_owned(),
            quantity: *quantity,
            unit_price: *unit_price,
        })
        .collect();
    order.total_cents = items.iter().map(|(_, q, p)| q * (p * 100.0).round() as i64).sum();
    order
}

fn stock(list: &[(&str, u64)]) -> BTreeMap<String, u64> {
    list.iter().map(|(p, q)| ((*p).to_owned(), *q)).collect()
}

/// A store, an engine (built by `setup` before it is shared) and a sequential driver of the feed.
pub(crate) struct Harness {
    pub(crate) store: Arc<MemoryStore>,
    pub(crate) engine: Arc<Engine>,
    after: Option<String>,
    delivered: Vec<ChangeRecord>,
}

impl Harness {
    pub(crate) async fn new(plan: Plan, inventory: &[(&str, u64)], setup: impl FnOnce(&mut Engine)) -> Harness {
        let store = Arc::new(MemoryStore::new());
        store.seed_inventory(&stock(inventory)).await.expect("seed");
        let mut engine = Engine::new(Arc::new(plan), store.clone());
        setup(&mut engine);
        Harness { store, engine: Arc::new(engine), after: None, delivered: Vec::new() }
    }

    pub(crate) async fn submit(&self, order: &Order) {
        let created = self.store.create_order(order, None).await.expect("create");
        assert_eq!(created, Created::New);
    }

    /// Processes every record of the feed, in order, until no new record appears.
    pub(crate) async fn drain(&mut self) {
        loop {
            let records = self.store.read_changes(self.after.as_deref(), 1_000).await.expect("read");
            if records.is_empty() {
                return;
            }
            for record in records {
                self.engine.process(&record).await.expect("process");
                self.after = Some(record.sequence_number.clone());
                self.delivered.push(record);
            }
        }
    }

    /// Submits `order`, processes the feed until it is quiet, and returns the order as it ended.
    pub(crate) async fn run(&mut self, order: &Order) -> Order {
        self.submit(order).await;
        self.drain().await;
        self.order(&order.order_id).await
    }

    pub(crate) async fn order(&self, order_id: &str) -> Order {
        self.store.get_order(order_id).await.expect("get").expect("the order exists")
    }

    pub(crate) async fn stock(&self, product_id: &str) -> Stock {
        self.store.inventory().await.expect("inventory").get(product_id).copied().expect("the product exists")
    }

    /// The statuses the order went through, from the feed.
    pub(crate) fn statuses(&self, order_id: &str) -> Vec<String> {
        self.delivered
            .iter()
            .filter(|r| r.order_id == order_id)
            .filter_map(|r| r.new_image.as_ref().map(|o| o.status.clone()))
            .collect()
    }
}

pub(crate) fn outcomes(order: &Order, step: &str) -> Vec<Outcome> {
    order.history.iter().filter(|h| h.step == step).map(|h| h.outcome).collect()
}

// ---------------------------------------------------------------------------------------------
// Custom handlers used by the tests
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Serialize)]
struct Score {
    score: u32,
    items: usize,
    idempotency_key: String,
}

/// A typed custom step.
struct FraudScore;

impl CustomStep for FraudScore {
    type Output = Score;
    async fn run(&self, ctx: CustomContext) -> Result<Score, StepError> {
        Ok(Score { score: 7, items: ctx.order.items.len(), idempotency_key: ctx.idempotency_key })
    }
}

/// Never finishes within any reasonable time limit.
struct Sleepy;

impl CustomStep for Sleepy {
    type Output = ();
    async fn run(&self, _ctx: CustomContext) -> Result<(), StepError> {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(())
    }
}

/// Panics.
struct Panicky;

impl CustomStep for Panicky {
    type Output = ();
    async fn run(&self, _ctx: CustomContext) -> Result<(), StepError> {
        panic!("the fraud model is missing")
    }
}

/// Fails retryably `failures` times per order, then succeeds.
struct Flaky {
    failures: u32,
    calls: Mutex<HashMap<String, u32>>,
}

impl Flaky {
    fn new(failures: u32) -> Flaky {
        Flaky { failures, calls: Mutex::new(HashMap::new()) }
    }
}

impl CustomStep for Flaky {
    type Output = u32;
    async fn run(&self, ctx: CustomContext) -> Result<u32, StepError> {
        let call = {
            let mut calls = self.calls.lock().expect("lock");
            let call = calls.entry(ctx.order.order_id.clone()).or_default();
            *call += 1;
            *call
        };
        assert_eq!(call, ctx.attempt, "attempts count from 1");
        if call <= self.failures {
            return Err(StepError::retryable("FLAKY", format!("call {call} failed")));
        }
        Ok(call)
    }
}

/// Always refuses with `code`.
struct Refuses(&'static str);

#[async_trait]
impl StepHandler for Refuses {
    async fn call(&self, _plan: &Plan, _input: StepInput) -> Result<StepOutput, StepError> {
        Err(StepError::reject(self.0, "this step refuses every order"))
    }
}

/// Always fails terminally with `code`.
struct Fails(&'static str);

#[async_trait]
impl StepHandler for Fails {
    async fn call(&self, _plan: &Plan, _input: StepInput) -> Result<StepOutput, StepError> {
        Err(StepError::terminal(self.0, "this step always fails"))
    }
}

/// Sleeps, then succeeds (and counts): keeps records in flight.
struct Slow(Duration, Arc<AtomicUsize>);

impl CustomStep for Slow {
    type Output = ();
    async fn run(&self, _ctx: CustomContext) -> Result<(), StepError> {
        tokio::time::sleep(self.0).await;
        self.1.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The engine, one record at a time
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn happy_path_completes_with_a_shipment_one_charge_and_one_message() {
    let mut h = Harness::new(plan(), &[("product-1", 10), ("product-2", 5)], |_| {}).await;
    let order = new_order(&[("product-1", 2, 12.5), ("product-2", 1, 3.0), ("product-1", 1, 12.5)]);
    h.submit(&order).await;
    h.drain().await;

    let done = h.order(&order.order_id).await;
    assert_eq!(done.status, status::COMPLETED);
    assert_eq!(
        h.statuses(&order.order_id),
        ["RECEIVED", "VALIDATED", "RESERVED", "PAID", "FULFILLED", "NOTIFIED", "COMPLETED"]
    );
    assert_eq!(done.version, 7);
    assert_eq!(done.cursor, 5);
    assert!(done.failure.is_none());
    assert!(done.expires_at.is_some_and(|e| e > chrono::Utc::now().timestamp() + 89 * 86_400));
    for step in ["validate", "reserve-inventory", "charge-payment", "fulfil", "notify"] {
        assert_eq!(outcomes(&done, step), [Outcome::Succeeded], "{step}");
    }

    let shipment = done.shipment.expect("a shipment");
    assert_eq!(shipment.carrier, "mock-carrier");
    let suffix = shipment.tracking_id.strip_prefix("TRK-").expect("the tracking prefix");
    assert_eq!(suffix.len(), 10);
    assert!(suffix.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()), "{suffix}");
    assert_eq!(shipment.tracking_id, orchgen_runtime::steps::fulfil::tracking_id("TRK", &order.order_id));

    let charge = done.charge.expect("a charge");
    assert_eq!(charge.amount_cents, 3_750 + 300);
    assert_eq!(charge.currency, "USD");
    assert!(!charge.refunded);
    assert_eq!(h.store.ledger_count().await.expect("ledger"), 1);
    let entry = h.store.ledger_entry(&order.order_id).await.expect("ledger").expect("an entry");
    assert_eq!(entry.charge, charge);

    let outbox = h.store.outbox(None).await.expect("outbox");
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].to, order.customer.email);
    assert_eq!(outbox[0].subject, format!("Your order {} is confirmed", order.order_id));

    // Stock moved from available to committed (gone), nothing left reserved.
    assert_eq!(h.stock("product-1").await, Stock { available: 7, reserved: 0 });
    assert_eq!(h.stock("product-2").await, Stock { available: 4, reserved: 0 });
    assert_eq!(h.engine.metrics().snapshot().orders_completed, 1);
}

#[tokio::test]
async fn out_of_stock_rejects_naming_the_product_and_leaves_stock_alone() {
    // A move per step, and chained (the refused chain is done again a step per move): the same outcome.
    for plan in [plan(), chained(plan(), 30_000)] {
        let chain = plan.stream.chain_steps;
        let mut h = Harness::new(plan, &[("product-1", 10), ("product-4", 10)], |_| {}).await;
        let order = new_order(&[("product-1", 3, 1.0), ("product-4", 11, 1.0)]);
        let failed = h.run(&order).await;
        assert_eq!(failed.status, status::REJECTED, "a refusal with nothing to undo; chain {chain}");
        let failure = failed.failure.as_ref().expect("a failure");
        assert_eq!(failure.code, "OUT_OF_STOCK");
        assert_eq!(failure.kind, FailureKind::Refusal);
        assert_eq!(failure.step, "reserve-inventory");
        assert!(failure.message.contains("product-4"), "{}", failure.message);
        assert_eq!(outcomes(&failed, "reserve-inventory"), [Outcome::Failed]);
        assert!(outcomes(&failed, "charge-payment").is_empty(), "no trace of later steps (chain {chain})");
        assert!(failed.expires_at.is_some());
        assert_eq!(h.statuses(&order.order_id), ["RECEIVED", "VALIDATED", "REJECTED"], "chain {chain}");

        // All or nothing: product-1 was not reserved either.
        assert_eq!(h.stock("product-1").await, Stock { available: 10, reserved: 0 });
        assert_eq!(h.stock("product-4").await, Stock { available: 10, reserved: 0 });
        assert_eq!(h.store.ledger_count().await.expect("ledger"), 0);
        assert!(h.store.outbox(None).await.expect("outbox").is_empty());
    }
}

#[tokio::test]
async fn unknown_product_rejects_with_its_code() {
    let mut h = Harness::new(plan(), &[("product-1", 10)], |_| {}).await;
    let order = new_order(&[("no-such-product", 1, 1.0)]);
    h.submit(&order).await;
    h.drain().await;
    let failed = h.order(&order.order_id).await;
    assert_eq!(failed.status, status::REJECTED);
    let failure = failed.failure.expect("a failure");
    assert_eq!(failure.code, "UNKNOWN_PRODUCT");
    assert!(failure.message.contains("no-such-product"));
}

#[tokio::test]
async fn validation_rejects_with_every_field_error() {
    let mut h = Harness::new(plan(), &[("product-1", 1000)], |_| {}).await;
    let mut order = new_order(&[("product-1", 101, 1.0), ("product-1", 0, 1.0), ("product-1", 1, -2.0), ("", 1, 1.0)]);
    order.customer.customer_id = " ".to_owned();
    order.customer.name = String::new();
    order.customer.email = "ada-at-example.com".to_owned();
    order.shipping_address.city = String::new();
    order.shipping_address.country = "XX".to_owned();
    order.payment_method = "bitcoin".to_owned();
    order.total_cents = 2_000_000;
    h.submit(&order).await;
    h.drain().await;

    let rejected = h.order(&order.order_id).await;
    assert_eq!(rejected.status, status::REJECTED);
    assert_eq!(h.statuses(&order.order_id), ["RECEIVED", "REJECTED"]);
    let failure = rejected.failure.expect("a failure");
    assert_eq!(failure.code, "VALIDATION_FAILED");
    assert_eq!(failure.step, "validate");
    let paths: Vec<&str> = failure.fields.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "customer.customer_id",
            "customer.email",
            "customer.name",
            "items[0].quantity",
            "items[1].quantity",
            "items[2].unit_price",
            "items[3].product_id",
            "total",
            "shipping_address.city",
            "shipping_address.country",
            "payment.payment_method",
        ]
    );
    assert!(rejected.expires_at.is_some());
    assert_eq!(h.stock("product-1").await, Stock { available: 1000, reserved: 0 });
}

#[tokio::test]
async fn item_count_and_required_fields_are_checked() {
    let mut h = Harness::new(plan(), &[("product-1", 10)], |_| {}).await;
    let mut order = new_order(&[]);
    order.shipping_address = Address::default();
    h.submit(&order).await;
    h.drain().await;
    let rejected = h.order(&order.order_id).await;
    assert_eq!(rejected.status, status::REJECTED);
    let paths: Vec<String> = rejected.failure.expect("a failure").fields.into_iter().map(|f| f.path).collect();
    assert_eq!(
        paths,
        [
            "items",
            "shipping_address.street",
            "shipping_address.city",
            "shipping_address.postal_code",
            "shipping_address.country"
        ]
    );
}

#[tokio::test]
async fn declined_payment_compensates_then_cancels_keeping_the_reason() {
    let mut h = Harness::new(plan(), &[("product-2", 5)], |_| {}).await;
    let mut order = new_order(&[("product-2", 2, 10.0)]);
    order.customer.customer_id = "cust-fraud".to_owned();
    h.submit(&order).await;
    h.drain().await;

    let cancelled = h.order(&order.order_id).await;
    assert_eq!(cancelled.status, status::CANCELLED);
    assert_eq!(h.statuses(&order.order_id), ["RECEIVED", "VALIDATED", "RESERVED", "COMPENSATING", "CANCELLED"]);
    let failure = cancelled.failure.as_ref().expect("the reason is kept");
    assert_eq!(failure.code, "SUSPECTED_FRAUD");
    assert_eq!(failure.step, "charge-payment");
    assert!(cancelled.pending_compensations.is_empty());
    assert_eq!(outcomes(&cancelled, "release-inventory"), [Outcome::Compensated]);
    assert!(cancelled.expires_at.is_some());
    assert_eq!(h.stock("product-2").await, Stock { available: 5, reserved: 0 });
    assert_eq!(h.store.ledger_count().await.expect("ledger"), 0);
    assert!(cancelled.charge.is_none());
    assert_eq!(h.engine.metrics().snapshot().compensations, 1);
}

#[tokio::test]
async fn amount_limit_declines_with_the_first_matching_rule() {
    let mut h = Harness::new(plan(), &[("product-1", 100)], |_| {}).await;
    let mut order = new_order(&[("product-1", 60, 100.0)]);
    order.customer.customer_id = "cust-fraud".to_owned(); // also matches a later rule
    h.submit(&order).await;
    h.drain().await;
    let cancelled = h.order(&order.order_id).await;
    assert_eq!(cancelled.status, status::CANCELLED);
    assert_eq!(cancelled.failure.expect("a failure").code, "AMOUNT_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn a_registered_custom_step_runs_and_its_output_is_kept() {
    let mut plan = plan();
    insert_custom(&mut plan, 1, "fraud-check", "fraud_check::score", "SCORED");
    let mut h = Harness::new(plan, &[("product-1", 10)], |e| {
        e.register("fraud_check::score", FraudScore);
    })
    .await;
    assert!(h.engine.unregistered_handlers().is_empty());
    let order = new_order(&[("product-1", 1, 5.0), ("product-1", 2, 5.0)]);
    h.submit(&order).await;
    h.drain().await;

    let done = h.order(&order.order_id).await;
    assert_eq!(done.status, status::COMPLETED);
    assert_eq!(
        done.outputs.get("fraud-check"),
        Some(&serde_json::json!({
            "score": 7,
            "items": 2,
            "idempotency_key": format!("{}:fraud-check", order.order_id),
        }))
    );
    assert_eq!(h.statuses(&order.order_id)[..3], ["RECEIVED", "VALIDATED", "SCORED"]);
}

#[tokio::test]
async fn an_unregistered_custom_step_fails_with_handler_not_registered() {
    let mut plan = plan();
    insert_custom(&mut plan, 2, "fraud-check", "fraud_check::score", "SCORED");
    let mut h = Harness::new(plan, &[("product-1", 10)], |_| {}).await;
    assert_eq!(h.engine.unregistered_handlers(), ["fraud_check::score"]);
    let order = new_order(&[("product-1", 1, 5.0)]);
    h.submit(&order).await;
    h.drain().await;
    let cancelled = h.order(&order.order_id).await;
    assert_eq!(cancelled.status, status::FAILED, "a fault, after the reservation was released");
    let failure = cancelled.failure.as_ref().expect("a failure");
    assert_eq!(failure.code, "HANDLER_NOT_REGISTERED");
    assert_eq!(failure.kind, FailureKind::Fault);
    assert!(failure.message.contains("fraud_check::score"));
    assert_eq!(outcomes(&cancelled, "fraud-check"), [Outcome::Failed], "terminal: no retry");
    assert_eq!(h.stock("product-1").await, Stock { available: 10, reserved: 0 });
}

/// Runs an order through a plan with a custom step after payment whose handler is `step`, and
/// returns it with the harness.
async fn with_step_after_payment(step: impl StepHandler, timeout_ms: u64) -> (Harness, Order) {
    let mut plan = plan();
    let at = index_of(&plan, "charge-payment") + 1;
    insert_custom(&mut plan, at, "fraud-check", "fraud_check::score", "SCORED").timeout_ms = timeout_ms;
    let mut h = Harness::new(plan, &[("product-1", 10)], |e| {
        e.register("fraud_check::score", step);
    })
    .await;
    let order = new_order(&[("product-1", 4, 2.5)]);
    h.submit(&order).await;
    h.drain().await;
    let order = h.order(&order.order_id).await;
    (h, order)
}

/// The order was charged, then the charge refunded and the stock released; it ended `end`
/// (`FAILED` after a fault, `CANCELLED` after a refusal).
async fn assert_fully_compensated(h: &Harness, order: &Order, code: &str, end: &str) {
    assert_eq!(order.status, end);
    let failure = order.failure.as_ref().expect("a failure");
    assert_eq!(failure.code, code);
    let kind = if end == status::CANCELLED { FailureKind::Refusal } else { FailureKind::Fault };
    assert_eq!(failure.kind, kind);
    assert_eq!(h.statuses(&order.order_id)[4..], ["COMPENSATING", "COMPENSATING", end]);
    assert_eq!(outcomes(order, "refund-payment"), [Outcome::Compensated]);
    assert_eq!(outcomes(order, "release-inventory"), [Outcome::Compensated]);
    assert!(order.charge.as_ref().expect("the charge").refunded);
    let entry: LedgerEntry = h.store.ledger_entry(&order.order_id).await.expect("ledger").expect("an entry");
    assert!(entry.charge.refunded, "no charge is left unrefunded");
    assert_eq!(h.stock("product-1").await, Stock { available: 10, reserved: 0 });
    assert!(h.store.outbox(None).await.expect("outbox").is_empty());
}

#[tokio::test]
async fn a_step_that_times_out_is_retried_then_compensated() {
    let (h, order) = with_step_after_payment(Sleepy, 20).await;
    assert_eq!(outcomes(&order, "fraud-check"), [Outcome::Retried, Outcome::Retried, Outcome::Failed]);
    assert!(
        order
            .history
            .iter()
            .filter(|e| e.step == "fraud-check")
            .all(|e| e.error.as_deref().is_some_and(|m| m.starts_with("TIMEOUT")))
    );
    assert_fully_compensated(&h, &order, "TIMEOUT", status::FAILED).await;
    assert!(h.engine.metrics().snapshot().step_retries >= 2);
}

#[tokio::test]
async fn a_step_that_panics_is_retried_then_compensated() {
    let (h, order) = with_step_after_payment(Panicky, 1_000).await;
    assert_eq!(outcomes(&order, "fraud-check"), [Outcome::Retried, Outcome::Retried, Outcome::Failed]);
    let failure = order.failure.as_ref().expect("a failure");
    assert!(failure.message.contains("the fraud model is missing"), "{}", failure.message);
    assert_fully_compensated(&h, &order, "PANIC", status::FAILED).await;
}

#[tokio::test]
async fn a_flaky_step_succeeds_on_the_third_attempt() {
    let (h, order) = with_step_after_payment(Flaky::new(2), 1_000).await;
    assert_eq!(order.status, status::COMPLETED);
    assert_eq!(outcomes(&order, "fraud-check"), [Outcome::Retried, Outcome::Retried, Outcome::Succeeded]);
    let attempts: Vec<u32> = order.history.iter().filter(|e| e.step == "fraud-check").map(|e| e.attempt).collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert_eq!(order.outputs.get("fraud-check"), Some(&serde_json::json!(3)));
    assert_eq!(h.store.ledger_count().await.expect("ledger"), 1);
}

#[tokio::test]
async fn a_terminal_error_is_not_retried() {
    let (h, order) = with_step_after_payment(Fails("MODEL_MISSING"), 1_000).await;
    assert_eq!(outcomes(&order, "fraud-check"), [Outcome::Failed]);
    assert_fully_compensated(&h, &order, "MODEL_MISSING", status::FAILED).await;
}

#[tokio::test]
async fn a_custom_steps_refusal_is_compensated_and_cancels_the_order() {
    let (h, order) = with_step_after_payment(Refuses("MODEL_SAYS_NO"), 1_000).await;
    assert_eq!(outcomes(&order, "fraud-check"), [Outcome::Failed], "a refusal is not retried");
    assert_fully_compensated(&h, &order, "MODEL_SAYS_NO", status::CANCELLED).await;
}

#[tokio::test]
async fn a_custom_steps_refusal_with_nothing_to_undo_rejects_the_order() {
    let mut plan = plan();
    insert_custom(&mut plan, 1, "fraud-check", "fraud_check::score", "SCORED");
    let mut h = Harness::new(plan, &[("product-1", 10)], |e| {
        e.register("fraud_check::score", Refuses("MODEL_SAYS_NO"));
    })
    .await;
    let order = h.run(&new_order(&[("product-1", 1, 5.0)])).await;
    assert_eq!(order.status, status::REJECTED);
    let failure = order.failure.as_ref().expect("a failure");
    assert_eq!((failure.step.as_str(), failure.code.as_str()), ("fraud-check", "MODEL_SAYS_NO"));
    assert_eq!(failure.kind, FailureKind::Refusal);
    assert_eq!(h.engine.metrics().snapshot().orders_rejected, 1);
}

/// Runs one order through `plan` with its `notify` step (`on_failure: continue`) replaced by a
/// custom step that always fails; returns the harness and the order as it ended.
async fn with_failing_notify(mut plan: Plan) -> (Harness, Order) {
    let notify = index_of(&plan, "notify");
    assert_eq!(plan.steps[notify].on_failure, OnFailure::Continue);
    plan.steps[notify].action = StepAction::Custom(handler("mailer::send"));
    let mut h = Harness::new(plan, &[("product-1", 10)], |e| {
        e.register("mailer::send", Fails("MAILBOX_FULL"));
    })
    .await;
    let done = h.run(&new_order(&[("product-1", 1, 5.0)])).await;
    (h, done)
}

#[tokio::test]
async fn notify_failing_terminally_with_continue_still_completes() {
    let (h, done) = with_failing_notify(plan()).await;
    assert_eq!(done.status, status::COMPLETED);
    assert_eq!(
        h.statuses(&done.order_id),
        ["RECEIVED", "VALIDATED", "RESERVED", "PAID", "FULFILLED", "FULFILLED", "COMPLETED"]
    );
    assert_eq!(outcomes(&done, "notify"), [Outcome::Failed]);
    assert!(done.failure.is_none());
    assert!(done.shipment.is_some());
    assert!(h.store.outbox(None).await.expect("outbox").is_empty());
}

#[tokio::test]
async fn a_retryable_failure_on_the_last_attempt_follows_on_failure() {
    let mut plan = plan();
    let notify = index_of(&plan, "notify");
    plan.steps[notify].action = StepAction::Custom(handler("mailer::send"));
    plan.steps[notify].retry.max_attempts = 2;
    let mut h = Harness::new(plan, &[("product-1", 10)], |e| {
        e.register("mailer::send", Flaky::new(5));
    })
    .await;
    let order = new_order(&[("product-1", 1, 5.0)]);
    h.submit(&order).await;
    h.drain().await;
    let done = h.order(&order.order_id).await;
    assert_eq!(done.status, status::COMPLETED);
    assert_eq!(outcomes(&done, "notify"), [Outcome::Retried, Outcome::Failed]);
}

#[tokio::test]
async fn a_failing_compensation_fails_the_order_instead_of_leaving_it_stuck() {
    let mut plan = plan();
    plan.compensations.insert(
        "undo-hold".to_owned(),
        CompensationPlan {
            name: "undo-hold".to_owned(),
            action: CompensationAction::Custom(handler("hold::undo")),
            retry: RetryPlan { max_attempts: 4, base_delay_ms: 1, max_delay_ms: 2, jitter: Jitter::Equal },
            timeout_ms: 1_000,
        },
    );
    let at = index_of(&plan, "charge-payment") + 1;
    insert_custom(&mut plan, at, "hold", "hold::place", "HELD").compensation = Some("undo-hold".to_owned());
    insert_custom(&mut plan, at + 1, "check", "check::run", "CHECKED");
    assert_eq!(plan.steps[at + 1].compensate_on_failure, ["undo-hold", "refund-payment", "release-inventory"]);
    let mut h = Harness::new(plan, &[("product-1", 10)], |e| {
        e.register("hold::place", FraudScore);
        e.register("check::run", Fails("CHECK_FAILED"));
        e.register("hold::undo", Flaky::new(100));
    })
    .await;
    let order = new_order(&[("product-1", 1, 5.0)]);
    h.submit(&order).await;
    h.drain().await;

    let failed = h.order(&order.order_id).await;
    assert_eq!(failed.status, status::FAILED);
    assert_eq!(h.statuses(&order.order_id)[5..], ["COMPENSATING", "FAILED"]);
    let failure = failed.failure.as_ref().expect("a failure");
    assert_eq!(failure.code, COMPENSATION_FAILED);
    assert_eq!(failure.step, "undo-hold");
    assert!(failure.message.contains("CHECK_FAILED"), "the original failure is quoted: {}", failure.message);
    assert_eq!(outcomes(&failed, "undo-hold"), [Outcome::Retried, Outcome::Retried, Outcome::Retried, Outcome::Failed]);
    assert_eq!(failed.pending_compensations, ["undo-hold", "refund-payment", "release-inventory"]);
    assert!(failed.expires_at.is_some());
}

#[tokio::test]
async fn a_flaky_compensation_is_retried_until_it_succeeds() {
    let mut plan = plan();
    plan.compensations.insert(
        "undo-hold".to_owned(),
        CompensationPlan {
            name: "undo-hold".to_owned(),
            action: CompensationAction::Custom(handler("hold::undo")),
            retry: RetryPlan { max_attempts: 5, base_delay_ms: 1, max_delay_ms: 2, jitter: Jitter::None },
            timeout_ms: 1_000,
        },
    );
    let at = index_of(&plan, "charge-payment") + 1;
    insert_custom(&mut plan, at, "hold", "hold::place", "HELD").compensation = Some("undo-hold".to_owned());
    insert_custom(&mut plan, at + 1, "check", "check::run", "CHECKED");
    let mut h = Harness::new(plan, &[("product-1", 10)], |e| {
        e.register("hold::place", FraudScore);
        e.register("check::run", Fails("CHECK_FAILED"));
        e.register("hold::undo", Flaky::new(2));
    })
    .await;
    let order = new_order(&[("product-1", 1, 5.0)]);
    h.submit(&order).await;
    h.drain().await;
    let cancelled = h.order(&order.order_id).await;
    assert_eq!(cancelled.status, status::FAILED, "compensated after a fault");
    assert_eq!(outcomes(&cancelled, "undo-hold"), [Outcome::Retried, Outcome::Retried, Outcome::Compensated]);
    assert_eq!(cancelled.failure.expect("the reason").code, "CHECK_FAILED");
    assert!(h.store.ledger_entry(&cancelled.order_id).await.expect("ledger").expect("entry").charge.refunded);
}

#[tokio::test]
async fn compensations_of_steps_that_did_not_succeed_are_skipped() {
    // Payment fails but `continue`s; a later failure must not try to refund a charge never made.
    let mut plan = plan();
    let charge = index_of(&plan, "charge-payment");
    plan.steps[charge].on_failure = OnFailure::Continue;
    let fulfil = index_of(&plan, "fulfil");
    plan.steps[fulfil].action = StepAction::Custom(handler("warehouse::ship"));
    let mut h = Harness::new(plan, &[("product-1", 10)], |e| {
        e.register("warehouse::ship", Fails("WAREHOUSE_CLOSED"));
    })
    .await;
    let mut order = new_order(&[("product-1", 1, 5.0)]);
    order.customer.customer_id = "cust-fraud".to_owned();
    h.submit(&order).await;
    h.drain().await;
    let cancelled = h.order(&order.order_id).await;
    assert_eq!(cancelled.status, status::FAILED, "compensated after a fault");
    assert_eq!(cancelled.failure.as_ref().expect("a failure").code, "WAREHOUSE_CLOSED");
    assert!(outcomes(&cancelled, "refund-payment").is_empty(), "nothing was charged: not run");
    assert_eq!(outcomes(&cancelled, "release-inventory"), [Outcome::Compensated]);
    assert_eq!(h.stock("product-1").await, Stock { available: 10, reserved: 0 });
}

// ---------------------------------------------------------------------------------------------
// Re-delivery
// ---------------------------------------------------------------------------------------------

/// Processes the feed delivering every record twice, and every older record again after each new
/// one.
pub(crate) async fn drain_with_duplicates(h: &mut Harness) {
    loop {
        let records = h.store.read_changes(h.after.as_deref(), 1_000).await.expect("read");
        if records.is_empty() {
            return;
        }
        for record in records {
            h.engine.process(&record).await.expect("process");
            h.engine.process(&record).await.expect("process again");
            for old in h.delivered.iter().rev() {
                h.engine.process(old).await.expect("process an old record");
            }
            h.after = Some(record.sequence_number.clone());
            h.delivered.push(record);
        }
    }
}

#[tokio::test]
async fn duplicate_and_stale_records_never_apply_an_effect_twice() {
    let mut h = Harness::new(plan(), &[("product-1", 10), ("product-2", 5)], |_| {}).await;
    let happy = new_order(&[("product-1", 2, 5.0)]);
    let mut declined = new_order(&[("product-2", 3, 5.0)]);
    declined.customer.customer_id = "cust-fraud".to_owned();
    h.submit(&happy).await;
    h.submit(&declined).await;
    drain_with_duplicates(&mut h).await;

    let happy = h.order(&happy.order_id).await;
    assert_eq!(happy.status, status::COMPLETED);
    assert_eq!(happy.version, 7, "one transition per state change");
    assert_eq!(happy.history.len(), 5);
    let declined = h.order(&declined.order_id).await;
    assert_eq!(declined.status, status::CANCELLED);
    assert_eq!(declined.version, 5);
    assert_eq!(h.store.change_count(), 7 + 5);

    assert_eq!(h.store.ledger_count().await.expect("ledger"), 1);
    assert_eq!(h.store.outbox(None).await.expect("outbox").len(), 1);
    assert_eq!(h.stock("product-1").await, Stock { available: 8, reserved: 0 });
    assert_eq!(h.stock("product-2").await, Stock { available: 5, reserved: 0 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_of_one_record_commit_once() {
    let mut h = Harness::new(plan(), &[("product-1", 10)], |_| {}).await;
    let order = new_order(&[("product-1", 3, 5.0)]);
    h.submit(&order).await;
    loop {
        let records = h.store.read_changes(h.after.as_deref(), 1_000).await.expect("read");
        if records.is_empty() {
            break;
        }
        for record in records {
            let deliveries: Vec<_> = (0..8)
                .map(|_| {
                    let engine = h.engine.clone();
                    let record = record.clone();
                    tokio::spawn(async move { engine.process(&record).await })
                })
                .collect();
            for delivery in deliveries {
                delivery.await.expect("join").expect("process");
            }
            h.after = Some(record.sequence_number.clone());
        }
    }
    let done = h.order(&order.order_id).await;
    assert_eq!(done.status, status::COMPLETED);
    assert_eq!(done.version, 7);
    assert_eq!(h.store.ledger_count().await.expect("ledger"), 1);
    assert_eq!(h.store.outbox(None).await.expect("outbox").len(), 1);
    assert_eq!(h.stock("product-1").await, Stock { available: 7, reserved: 0 });
}

#[tokio::test]
async fn removals_and_terminal_records_are_ignored() {
    let mut h = Harness::new(plan(), &[("product-1", 10)], |_| {}).await;
    let order = new_order(&[("product-1", 1, 5.0)]);
    h.submit(&order).await;
    h.drain().await;
    let done = h.order(&order.order_id).await;
    let expires_at = done.expires_at.expect("terminal orders expire");
    assert_eq!(h.store.remove_expired(expires_at), 1);
    let changes_before = h.store.change_count();
    h.drain().await;
    let removal = h.delivered.last().expect("a record");
    assert_eq!(removal.kind, ChangeKind::Remove);
    // Every record again, now that the order is gone: nothing happens.
    for record in h.delivered.clone() {
        h.engine.process(&record).await.expect("process");
    }
    assert_eq!(h.store.change_count(), changes_before);
}

#[tokio::test]
async fn the_engine_only_makes_moves_the_plan_allows() {
    // Every status pair the engine wrote in a varied run is allowed by the plan.
    let mut h = Harness::new(plan(), &[("product-1", 100)], |_| {}).await;
    let mut fraud = new_order(&[("product-1", 1, 5.0)]);
    fraud.customer.customer_id = "cust-fraud".to_owned();
    for order in [new_order(&[("product-1", 1, 5.0)]), fraud, new_order(&[("product-1", 1000, 5.0)])] {
        h.submit(&order).await;
    }
    h.drain().await;
    let plan = h.engine.plan().clone();
    let mut last: HashMap<String, String> = HashMap::new();
    for record in &h.delivered {
        let Some(image) = &record.new_image else { continue };
        if let Some(from) = last.insert(record.order_id.clone(), image.status.clone())
            && from != image.status
        {
            assert!(transition_allowed(&plan, &from, &image.status), "{from} → {}", image.status);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The processor
// ---------------------------------------------------------------------------------------------

fn config(consumer: &str) -> ProcessorConfig {
    ProcessorConfig {
        consumer: consumer.to_owned(),
        poll_interval: Duration::from_millis(5),
        retry_base: Duration::from_millis(2),
        retry_max: Duration::from_millis(20),
        checkpoint_interval: Duration::from_millis(5),
        ..ProcessorConfig::default()
    }
}

/// Waits until every order is terminal (or panics after 60 s); returns them.
async fn wait_terminal(store: &dyn Store, ids: &[String]) -> Vec<Order> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut orders = Vec::with_capacity(ids.len());
        for id in ids {
            orders.push(store.get_order(id).await.expect("get").expect("exists"));
        }
        if orders.iter().all(Order::is_terminal) {
            return orders;
        }
        assert!(tokio::time::Instant::now() < deadline, "orders still running after 60 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hundred_orders_for_fifty_units_complete_exactly_fifty() {
    let store = Arc::new(MemoryStore::new());
    store.seed_inventory(&stock(&[("widget", 50)])).await.expect("seed");
    let engine = Arc::new(Engine::new(Arc::new(plan()), store.clone()));

    // Watch the stock while the orders run: never more than 50 units out.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut samples = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let widget = store.inventory().await.expect("inventory")["widget"];
                assert!(widget.available + widget.reserved <= 50, "{widget:?}");
                samples += 1;
                tokio::task::yield_now().await;
            }
            samples
        })
    };

    let mut ids = Vec::new();
    for _ in 0..150 {
        let order = new_order(&[("widget", 1, 19.99)]);
        store.create_order(&order, None).await.expect("create");
        ids.push(order.order_id);
    }
    let processor =
        Processor::new(engine.clone(), store.clone(), config("stress")).wake_on(store.change_notifier()).spawn();
    for _ in 0..150 {
        let order = new_order(&[("widget", 1, 19.99)]);
        store.create_order(&order, None).await.expect("create");
        ids.push(order.order_id);
    }

    let orders = wait_terminal(&*store, &ids).await;
    stop.store(true, Ordering::Relaxed);
    assert!(watcher.await.expect("the stock watcher") > 0);
    let completed = orders.iter().filter(|o| o.status == status::COMPLETED).count();
    let out_of_stock: Vec<&Order> = orders.iter().filter(|o| o.status == status::REJECTED).collect();
    assert_eq!(completed, 50);
    assert_eq!(out_of_stock.len(), 250);
    for order in &out_of_stock {
        let failure = order.failure.as_ref().expect("a failure");
        assert_eq!(failure.code, "OUT_OF_STOCK");
        assert!(failure.message.contains("widget"));
    }
    assert_eq!(store.inventory().await.expect("inventory")["widget"], Stock { available: 0, reserved: 0 });
    assert_eq!(store.ledger_count().await.expect("ledger"), 50);
    assert_eq!(store.outbox(None).await.expect("outbox").len(), 50);

    processor.shutdown().await.expect("the processor stops");
    let checkpoint = store.checkpoint("stress").await.expect("checkpoint");
    assert_eq!(checkpoint, Some(store.change_count().to_string()), "everything processed is checkpointed");
    let metrics = engine.metrics().snapshot();
    assert_eq!(metrics.records_processed, store.change_count() as u64);
    assert_eq!(metrics.records_failed, 0);
    assert_eq!(metrics.in_flight, 0);
    assert_eq!((metrics.orders_completed, metrics.orders_rejected, metrics.orders_failed), (50, 250, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_processor_resumes_from_the_checkpoint_and_finishes_the_orders() {
    let mut plan = plan();
    insert_custom(&mut plan, 1, "slow", "tests::slow", "CHECKED");
    let store = Arc::new(MemoryStore::new());
    store.seed_inventory(&stock(&[("product-1", 1_000)])).await.expect("seed");
    let plan = Arc::new(plan);
    let slow_runs = Arc::new(AtomicUsize::new(0));
    let engine = |store: &Arc<MemoryStore>| {
        let mut engine = Engine::new(plan.clone(), store.clone());
        engine.register("tests::slow", Slow(Duration::from_millis(25), slow_runs.clone()));
        Arc::new(engine)
    };

    let mut ids = Vec::new();
    for _ in 0..40 {
        let order = new_order(&[("product-1", 2, 3.0)]);
        store.create_order(&order, None).await.expect("create");
        ids.push(order.order_id);
    }
    let first_engine = engine(&store);
    let first =
        Processor::new(first_engine.clone(), store.clone(), ProcessorConfig { concurrency: 4, ..config("shop") })
            .spawn();
    // Stop once a few orders passed the slow step (at most 4 more are in it).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while slow_runs.load(Ordering::SeqCst) < 8 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first processor ran the slow step {} times, not 8, within 30 s",
            slow_runs.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    first.shutdown().await.expect("the first processor stops");
    assert_eq!(first_engine.metrics().snapshot().in_flight, 0, "in-flight records finished before stopping");
    let checkpoint = store.checkpoint("shop").await.expect("checkpoint").expect("a checkpoint was saved");
    let mut unfinished = 0;
    for id in &ids {
        if !store.get_order(id).await.expect("get").expect("exists").is_terminal() {
            unfinished += 1;
        }
    }
    assert!(unfinished > 0, "the first processor was stopped before the end");

    let second_engine = engine(&store);
    let second = Processor::new(second_engine.clone(), store.clone(), config("shop")).spawn();
    let orders = wait_terminal(&*store, &ids).await;
    // The last change of an order (its COMPLETED write) is still to be read when the order is
    // terminal: stop once the processor has checkpointed the whole feed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.checkpoint("shop").await.expect("checkpoint") != Some(store.change_count().to_string()) {
        assert!(tokio::time::Instant::now() < deadline, "the second processor reads the whole feed within 10 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    second.shutdown().await.expect("the second processor stops");

    assert!(orders.iter().all(|o| o.status == status::COMPLETED));
    for order in &orders {
        for step in ["validate", "slow", "reserve-inventory", "charge-payment", "fulfil", "notify"] {
            assert_eq!(outcomes(order, step), [Outcome::Succeeded], "{step} ran once");
        }
    }
    assert_eq!(store.ledger_count().await.expect("ledger"), 40);
    assert_eq!(store.outbox(None).await.expect("outbox").len(), 40);
    assert_eq!(store.inventory().await.expect("inventory")["product-1"], Stock { available: 920, reserved: 0 });
    // The second processor started after the first one's checkpoint, not from the beginning.
    let resumed_from: u64 = checkpoint.parse().expect("memory sequence numbers are decimal");
    let total = store.change_count() as u64;
    assert_eq!(second_engine.metrics().snapshot().records_processed, total - resumed_from);
    assert_eq!(store.checkpoint("shop").await.expect("checkpoint"), Some(total.to_string()));
}

/// A store whose reads of orders fail now and then, and whose first read of the feed fails.
struct Unreliable {
    inner: Arc<MemoryStore>,
    gets: AtomicUsize,
    feed_failures: AtomicU32,
}

#[async_trait]
impl Store for Unreliable {
    async fn create_order(&self, order: &Order, key: Option<&IdempotencyKey>) -> Result<Created, StoreError> {
        self.inner.create_order(order, key).await
    }
    async fn get_order(&self, order_id: &str) -> Result<Option<Order>, StoreError> {
        if self.gets.fetch_add(1, Ordering::Relaxed) % 3 == 1 {
            return Err(StoreError::Unavailable("throttled".to_owned()));
        }
        self.inner.get_order(order_id).await
    }
    async fn list_orders(&self, query: &ListQuery) -> Result<Page, StoreError> {
        self.inner.list_orders(query).await
    }
    async fn commit(&self, transition: &Transition) -> Result<(), CommitError> {
        self.inner.commit(transition).await
    }
    async fn seed_inventory(&self, stock: &BTreeMap<String, u64>) -> Result<usize, StoreError> {
        self.inner.seed_inventory(stock).await
    }
    async fn inventory(&self) -> Result<BTreeMap<String, Stock>, StoreError> {
        self.inner.inventory().await
    }
    async fn ledger_entry(&self, order_id: &str) -> Result<Option<LedgerEntry>, StoreError> {
        self.inner.ledger_entry(order_id).await
    }
    async fn ledger_count(&self) -> Result<u64, StoreError> {
        self.inner.ledger_count().await
    }
    async fn outbox(&self, order_id: Option<&str>) -> Result<Vec<Notification>, StoreError> {
        self.inner.outbox(order_id).await
    }
}

#[async_trait]
impl ChangeFeed for Unreliable {
    async fn read_changes(&self, after: Option<&str>, limit: usize) -> Result<Vec<ChangeRecord>, StoreError> {
        if self.feed_failures.fetch_add(1, Ordering::Relaxed) == 0 {
            return Err(StoreError::Unavailable("the feed is warming up".to_owned()));
        }
        self.inner.read_changes(after, limit).await
    }
    async fn checkpoint(&self, consumer: &str) -> Result<Option<String>, StoreError> {
        self.inner.checkpoint(consumer).await
    }
    async fn save_checkpoint(&self, consumer: &str, sequence_number: &str) -> Result<(), StoreError> {
        self.inner.save_checkpoint(consumer, sequence_number).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn records_whose_processing_fails_are_delivered_again() {
    let inner = Arc::new(MemoryStore::new());
    inner.seed_inventory(&stock(&[("product-1", 100)])).await.expect("seed");
    let store =
        Arc::new(Unreliable { inner: inner.clone(), gets: AtomicUsize::new(0), feed_failures: AtomicU32::new(0) });
    let engine = Arc::new(Engine::new(Arc::new(plan()), store.clone()));
    let mut ids = Vec::new();
    for _ in 0..20 {
        let order = new_order(&[("product-1", 1, 5.0)]);
        store.create_order(&order, None).await.expect("create");
        ids.push(order.order_id);
    }
    let processor = Processor::new(engine.clone(), store.clone(), config("flaky")).spawn();
    let orders = wait_terminal(&*inner, &ids).await;
    processor.shutdown().await.expect("stops");

    assert!(orders.iter().all(|o| o.status == status::COMPLETED));
    let metrics = engine.metrics().snapshot();
    assert!(metrics.redeliveries > 0, "{metrics:?}");
    assert_eq!(metrics.records_failed, metrics.redeliveries);
    assert_eq!(inner.ledger_count().await.expect("ledger"), 20);
    assert_eq!(inner.outbox(None).await.expect("outbox").len(), 20);
    assert_eq!(inner.inventory().await.expect("inventory")["product-1"], Stock { available: 80, reserved: 0 });
    assert_eq!(inner.checkpoint("flaky").await.expect("checkpoint"), Some(inner.change_count().to_string()));
}

/// A feed of fixed records, its checkpoints kept in memory.
struct FixedFeed {
    records: Vec<ChangeRecord>,
    checkpoints: Mutex<HashMap<String, String>>,
}

#[async_trait]
impl ChangeFeed for FixedFeed {
    async fn read_changes(&self, after: Option<&str>, limit: usize) -> Result<Vec<ChangeRecord>, StoreError> {
        let after = |r: &&ChangeRecord| after.is_none_or(|a| compare_sequence(&r.sequence_number, a).is_gt());
        Ok(self.records.iter().filter(after).take(limit).cloned().collect())
    }
    async fn checkpoint(&self, consumer: &str) -> Result<Option<String>, StoreError> {
        Ok(self.checkpoints.lock().expect("lock").get(consumer).cloned())
    }
    async fn save_checkpoint(&self, consumer: &str, sequence_number: &str) -> Result<(), StoreError> {
        self.checkpoints.lock().expect("lock").insert(consumer.to_owned(), sequence_number.to_owned());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_still_failing_after_its_retries_is_dead_lettered_and_checkpointed() {
    let store = Arc::new(MemoryStore::new());
    let engine = Arc::new(Engine::new(Arc::new(plan()), store.clone()));
    let order = new_order(&[("product-1", 1, 5.0)]);
    store.create_order(&order, None).await.expect("create");
    // A record of a version the store never gets: every delivery fails (`StoreBehind`).
    let mut record = store.read_changes(None, 10).await.expect("read").remove(0);
    record.new_image.as_mut().expect("an image").version = 7;
    let sequence_number = record.sequence_number.clone();
    let feed = Arc::new(FixedFeed { records: vec![record], checkpoints: Mutex::new(HashMap::new()) });
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("data").join(dead_letter::DEAD_LETTER_FILE);
    let processor_config =
        ProcessorConfig { max_retries: Some(2), dead_letter_file: Some(file.clone()), ..config("dlq") };
    let processor = Processor::new(engine.clone(), feed.clone(), processor_config).spawn();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while feed.checkpoint("dlq").await.expect("checkpoint").as_ref() != Some(&sequence_number) {
        assert!(tokio::time::Instant::now() < deadline, "the record was not given up on within 30 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    processor.shutdown().await.expect("stops");

    let letters = dead_letter::read(&file).expect("the dead-letter file reads");
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter.request_context.condition, RETRIES_EXHAUSTED);
    assert_eq!(letter.request_context.approximate_invoke_count, 3, "one delivery and two retries");
    assert!(letter.request_context.reason.contains("the store has version 1"), "{}", letter.request_context.reason);
    assert_eq!(letter.order_ids, std::slice::from_ref(&order.order_id));
    assert_eq!(letter.consumer.as_deref(), Some("dlq"));
    let batch = &letter.batch_info;
    assert_eq!(
        (batch.start_sequence_number.as_str(), batch.end_sequence_number.as_str(), batch.batch_size),
        (sequence_number.as_str(), sequence_number.as_str(), 1)
    );
    assert_eq!(batch.approximate_arrival_of_first_record, order.updated_at);
    assert_eq!(store.get_order(&order.order_id).await.expect("get").expect("exists").version, 1, "nothing written");
}

#[tokio::test]
async fn a_store_error_is_returned_so_that_the_record_is_delivered_again() {
    let inner = Arc::new(MemoryStore::new());
    let store = Unreliable { inner: inner.clone(), gets: AtomicUsize::new(1), feed_failures: AtomicU32::new(1) };
    let engine = Engine::new(Arc::new(plan()), Arc::new(store));
    let order = new_order(&[("product-1", 1, 5.0)]);
    inner.create_order(&order, None).await.expect("create");
    let record = inner.read_changes(None, 10).await.expect("read").remove(0);
    let error = engine.process(&record).await.expect_err("the store is down");
    assert!(matches!(error, ProcessError::Store(StoreError::Unavailable(_))), "{error:?}");
    assert_eq!(inner.get_order(&order.order_id).await.expect("get").expect("exists").version, 1, "nothing written");
}

// ---------------------------------------------------------------------------------------------
// Chained steps (`stream.chain_steps`): one move, one write, as far as the chain goes
// ---------------------------------------------------------------------------------------------

/// The reference plan with chained steps and `budget_ms` of chain budget.
fn chained(mut plan: Plan, budget_ms: u64) -> Plan {
    plan.stream.chain_steps = true;
    plan.stream.chain_budget_ms = budget_ms;
    plan
}

#[tokio::test]
async fn chained_steps_complete_an_order_in_one_move_with_every_effect() {
    let mut h = Harness::new(chained(plan(), 30_000), &[("product-1", 10), ("product-2", 5)], |_| {}).await;
    let order = new_order(&[("product-1", 2, 12.5), ("product-2", 1, 3.0)]);
    let done = h.run(&order).await;
    assert_eq!(done.status, status::COMPLETED);
    assert_eq!(h.statuses(&order.order_id), ["RECEIVED", "COMPLETED"], "created, then stored once");
    assert_eq!(done.version, 2);
    assert_eq!(done.cursor, 5);
    for step in ["validate", "reserve-inventory", "charge-payment", "fulfil", "notify"] {
        assert_eq!(outcomes(&done, step), [Outcome::Succeeded], "{step}");
    }
    assert!(done.expires_at.is_some());
    assert!(done.shipment.is_some());
    let charge = done.charge.expect("a charge");
    assert_eq!(charge.amount_cents, 2_500 + 300);
    let entry = h.store.ledger_entry(&order.order_id).await.expect("ledger").expect("an entry");
    assert_eq!(entry.charge, charge);
    assert_eq!(h.store.outbox(None).await.expect("outbox").len(), 1);
    // Reserved then committed in the same write: the units are gone, none left reserved.
    assert_eq!(h.stock("product-1").await, Stock { available: 8, reserved: 0 });
    assert_eq!(h.stock("product-2").await, Stock { available: 4, reserved: 0 });
    assert_eq!(h.engine.metrics().snapshot().orders_completed, 1);
}

#[tokio::test]
async fn a_declined_payment_in_a_chain_commits_the_reservation_with_the_failure_then_compensates() {
    let mut h = Harness::new(chained(plan(), 30_000), &[("product-2", 5)], |_| {}).await;
    let mut order = new_order(&[("product-2", 2, 10.0)]);
    order.customer.customer_id = "cust-fraud".to_owned();
    let cancelled = h.run(&order).await;
    assert_eq!(cancelled.status, status::CANCELLED);
    assert_eq!(h.statuses(&order.order_id), ["RECEIVED", "COMPENSATING", "CANCELLED"]);
    assert_eq!(cancelled.failure.as_ref().expect("the reason").code, "SUSPECTED_FRAUD");
    assert_eq!(outcomes(&cancelled, "reserve-inventory"), [Outcome::Succeeded]);
    assert_eq!(outcomes(&cancelled, "release-inventory"), [Outcome::Compensated]);
    assert_eq!(h.stock("product-2").await, Stock { available: 5, reserved: 0 });
    assert_eq!(h.store.ledger_count().await.expect("ledger"), 0);
}

/// Runs one order through the chained reference plan (`budget_ms`) with a custom step `fraud-check`
/// (status SCORED) after `after`, which sleeps `sleep` then succeeds; returns the harness, the order
/// as it ended and how many calls of the custom step finished.
async fn chain_with_slow_step_after(after: &str, sleep: Duration, budget_ms: u64) -> (Harness, Order, usize) {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut plan = chained(plan(), budget_ms);
    let at = index_of(&plan, after) + 1;
    insert_custom(&mut plan, at, "fraud-check", "fraud_check::score", "SCORED").timeout_ms = 5_000;
    let slow = Slow(sleep, calls.clone());
    let mut h = Harness::new(plan, &[("product-1", 10)], |e| {
        e.register("fraud_check::score", slow);
    })
    .await;
    let order = new_order(&[("product-1", 1, 5.0)]);
    let done = h.run(&order).await;
    (h, done, calls.load(Ordering::SeqCst))
}

#[tokio::test]
async fn a_chain_stops_before_a_custom_step_while_store_effects_are_pending() {
    let (h, done, calls) = chain_with_slow_step_after("reserve-inventory", Duration::from_millis(1), 30_000).await;
    assert_eq!(done.status, status::COMPLETED);
    // The reservation is stored before the custom step runs; then the custom step starts a move that
    // chains the built-in steps after it.
    assert_eq!(h.statuses(&done.order_id), ["RECEIVED", "RESERVED", "COMPLETED"]);
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn a_chained_step_still_running_when_the_budget_ends_runs_again_in_the_next_move() {
    let (h, done, calls) = chain_with_slow_step_after("validate", Duration::from_millis(300), 50).await;
    assert_eq!(done.status, status::COMPLETED);
    // Move 1: validate, then fraud-check abandoned at the budget. Move 2: fraud-check (a move's first
    // step is never cut) outlasts the budget, so no step is chained after it. Move 3: the rest.
    assert_eq!(h.statuses(&done.order_id), ["RECEIVED", "VALIDATED", "SCORED", "COMPLETED"]);
    assert_eq!(calls, 1, "the abandoned attempt never finished; the next move's did");
    assert_eq!(outcomes(&done, "fraud-check"), [Outcome::Succeeded], "an abandoned attempt leaves no history");
    assert_eq!(h.stock("product-1").await, Stock { available: 9, reserved: 0 });
}

#[tokio::test]
async fn a_chain_with_a_continue_failure_still_completes_in_one_move() {
    let (h, done) = with_failing_notify(chained(plan(), 30_000)).await;
    assert_eq!(done.status, status::COMPLETED);
    assert_eq!(outcomes(&done, "notify"), [Outcome::Failed]);
    assert!(done.failure.is_none(), "a `continue` failure does not fail the order");
    // The custom notify runs after built-in steps with pending effects: the chain stops before it.
    assert_eq!(h.statuses(&done.order_id), ["RECEIVED", "FULFILLED", "COMPLETED"]);
}

#[tokio::test]
async fn duplicate_and_stale_records_of_chained_moves_never_apply_an_effect_twice() {
    let mut h = Harness::new(chained(plan(), 30_000), &[("product-1", 10), ("product-2", 5)], |_| {}).await;
    let happy = new_order(&[("product-1", 2, 5.0)]);
    let mut declined = new_order(&[("product-2", 3, 5.0)]);
    declined.customer.customer_id = "cust-fraud".to_owned();
    h.submit(&happy).await;
    h.submit(&declined).await;
    drain_with_duplicates(&mut h).await;

    let happy = h.order(&happy.order_id).await;
    assert_eq!((happy.status.as_str(), happy.version, happy.history.len()), (status::COMPLETED, 2, 5));
    let declined = h.order(&declined.order_id).await;
    assert_eq!((declined.status.as_str(), declined.version), (status::CANCELLED, 3));
    assert_eq!(h.store.change_count(), 2 + 3);
    assert_eq!(h.store.ledger_count().await.expect("ledger"), 1);
    assert_eq!(h.store.outbox(None).await.expect("outbox").len(), 1);
    assert_eq!(h.stock("product-1").await, Stock { available: 8, reserved: 0 });
    assert_eq!(h.stock("product-2").await, Stock { available: 5, reserved: 0 });
}

/// The embedded store wakes the processor when it commits: with a poll interval of an hour, an
/// order still goes through every step (each step's commit wakes the processor for the next).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_store_wakes_the_processor_on_every_commit() {
    let store = Arc::new(orchgen_runtime::store::sqlite::SqliteStore::open_in_memory().expect("open"));
    store.seed_inventory(&stock(&[("product-1", 100)])).await.expect("seed");
    let engine = Arc::new(Engine::new(Arc::new(plan()), store.clone()));
    let never_polls = ProcessorConfig { poll_interval: Duration::from_secs(3600), ..config("wake") };
    let processor = Processor::new(engine.clone(), store.clone(), never_polls).wake_on(store.change_notifier()).spawn();
    let mut ids = Vec::new();
    for _ in 0..3 {
        // One at a time, the processor idle in between: each order is woken for, not polled for.
        let order = new_order(&[("product-1", 1, 3.0)]);
        store.create_order(&order, None).await.expect("create");
        ids.push(order.order_id.clone());
        let done = wait_terminal(&*store, std::slice::from_ref(&order.order_id)).await;
        assert_eq!(done[0].status, status::COMPLETED, "{:?}", done[0]);
    }
    processor.shutdown().await.expect("the processor stops");
}

/// The change feed of a busy embedded store does not grow without bound: once the processor's
/// checkpoint has passed them, the writer deletes the change records but the last few, and a
/// restarted processor goes on from its checkpoint without losing or redoing an order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_store_prunes_the_change_records_its_processor_is_done_with() {
    use orchgen_runtime::store::sqlite::{Compaction, SqliteStore};
    let dir = tempfile::tempdir().expect("temp dir");
    let compaction = Compaction { keep_consumed: 50, every: Duration::ZERO, most_per_prune: 1_000_000 };
    let run = |count: usize| {
        let dir = dir.path().to_owned();
        async move {
            let store = Arc::new(SqliteStore::open_with(&dir, compaction).expect("open"));
            let engine = Arc::new(Engine::new(Arc::new(plan()), store.clone()));
            let processor =
                Processor::new(engine, store.clone(), config("pruned")).wake_on(store.change_notifier()).spawn();
            let mut ids = Vec::new();
            for _ in 0..count {
                let order = new_order(&[("product-1", 1, 3.0)]);
                store.create_order(&order, None).await.expect("create");
                ids.push(order.order_id);
            }
            let done = wait_terminal(&*store, &ids).await;
            assert!(done.iter().all(|o| o.status == status::COMPLETED), "{done:?}");
            // The orders are terminal before their last change record is read: stop once the
            // processor has checkpointed the whole feed (else the unread tail is rightly kept).
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                let checkpoint = store.checkpoint("pruned").await.expect("checkpoint");
                if store.read_changes(checkpoint.as_deref(), 1).await.expect("read").is_empty() {
                    break;
                }
                assert!(tokio::time::Instant::now() < deadline, "the processor reads the whole feed within 10 s");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            processor.shutdown().await.expect("the processor stops");
            // A commit after the processor's last checkpoint makes the writer prune up to it; the
            // next one is committed after that prune.
            for _ in 0..2 {
                store.seed_inventory(&stock(&[("product-9", 1)])).await.expect("a write");
            }
            let left = store.read_changes(None, 1_000_000).await.expect("read");
            (store, done, left)
        }
    };
    let seed = Arc::new(SqliteStore::open_with(dir.path(), compaction).expect("open"));
    seed.seed_inventory(&stock(&[("product-1", 1_000)])).await.expect("seed");
    drop(seed);

    // 300 orders make at least 600 change records, of which the last 50 are kept.
    let (store, first, left) = run(300).await;
    assert!(left.len() <= 50, "{} change records left", left.len());
    let newest: u64 = left.last().expect("the tail is kept").sequence_number.parse().expect("a number");
    assert!(newest >= 600, "the newest record is {newest}");
    // The orders are all there, completed, and the stock was taken once each.
    for order in &first {
        assert_eq!(store.get_order(&order.order_id).await.expect("read").as_ref(), Some(order));
    }
    let available = |store: Arc<SqliteStore>| async move {
        store.inventory().await.expect("inventory").get("product-1").map(|s| s.available)
    };
    assert_eq!(available(store.clone()).await, Some(700));
    drop(store);

    // A restart: the processor resumes after its checkpoint; only the new orders move.
    let (store, second, left) = run(100).await;
    assert!(left.len() <= 50, "{} change records left", left.len());
    for order in first.iter().chain(&second) {
        let stored = store.get_order(&order.order_id).await.expect("read").expect("kept");
        assert_eq!(stored.status, status::COMPLETED);
        assert_eq!(stored.history.len(), 5, "each step ran once: {:?}", stored.history);
    }
    assert_eq!(available(store.clone()).await, Some(600));
}
