//! The engine end to end on DynamoDB Local: orders driven through [`Engine::process`] against a
//! [`DynamoStore`], with the reference plan (`runtime/tests/fixtures/orders.plan.json`).
//!
//! The DynamoDB stream is not read here (that is the stream processor's job): each change record is
//! built from the order as committed, read back from the table — what a stream record's new image
//! holds. One DynamoDB Local serves the whole binary; every test has its own tables.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnConsumedCapacity, TransactWriteItem};
use orchgen_runtime::Engine;
use orchgen_runtime::order::{Order, Outcome};
use orchgen_runtime::plan::{Jitter, OnFailure, Plan, RetryPlan, StepAction, StepPlan, status};
use orchgen_runtime::steps::{StepError, StepHandler, StepInput, StepOutput};
use orchgen_runtime::store::dynamodb::capacity::item_size;
use orchgen_runtime::store::dynamodb::item::{OrderAttributes, decode_order, encode_order};
use orchgen_runtime::store::dynamodb::{
    CapacitySnapshot, DynamoStore, client_for_endpoint, ensure_tables, with_prefix,
};
use orchgen_runtime::store::{ChangeKind, ChangeRecord, Stock, Store};
use orchgen_tests::dynamodb_local::DynamoDbLocal;
use orchgen_tests::fixtures;

/// The reference plan with 1–4 ms retry delays.
fn plan() -> Plan {
    let mut plan = Plan::from_json(fixtures::ORDERS_PLAN_JSON).expect("the fixture plan reads");
    let fast = |retry: &mut RetryPlan| {
        retry.base_delay_ms = 1;
        retry.max_delay_ms = 4;
    };
    for step in &mut plan.steps {
        fast(&mut step.retry);
    }
    for compensation in plan.compensations.values_mut() {
        fast(&mut compensation.retry);
    }
    plan
}

/// The sample order with these lines (and no state in its address), just received.
fn new_order(items: &[(&str, i64, f64)]) -> Order {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    fixtures::order().items(items).address("state", "").received(&ulid::Ulid::new().to_string(), &now)
}

/// A store on tables of its own, an engine, and the records delivered so far.
struct Harness {
    store: Arc<DynamoStore>,
    engine: Arc<Engine>,
    sequence: AtomicUsize,
}

impl Harness {
    async fn new(plan: Plan, inventory: &[(&str, u64)], setup: impl FnOnce(&mut Engine)) -> Option<Harness> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let local = DynamoDbLocal::shared()?;
        let client = client_for_endpoint(&local.endpoint_url());
        let tables = with_prefix(&plan.tables, &format!("e{}-", NEXT.fetch_add(1, Ordering::Relaxed)));
        ensure_tables(&client, &tables).await.expect("create the tables");
        let store = Arc::new(DynamoStore::new(client, &tables));
        let stock = inventory.iter().map(|(p, q)| ((*p).to_owned(), *q)).collect();
        store.seed_inventory(&stock).await.expect("seed");
        let mut engine = Engine::new(Arc::new(plan), store.clone());
        setup(&mut engine);
        Some(Harness { store, engine: Arc::new(engine), sequence: AtomicUsize::new(0) })
    }

    /// The record a stream would deliver for the order as stored now.
    fn record(&self, kind: ChangeKind, order: &Order) -> ChangeRecord {
        ChangeRecord {
            sequence_number: (self.sequence.fetch_add(1, Ordering::Relaxed) + 1).to_string(),
            kind,
            order_id: order.order_id.clone(),
            new_image: Some(order.clone()),
        }
    }

    async fn order(&self, order_id: &str) -> Order {
        self.store.get_order(order_id).await.expect("get").expect("the order exists")
    }

    /// The order's item as stored (a consistent read).
    async fn raw_item(&self, order_id: &str) -> std::collections::HashMap<String, AttributeValue> {
        self.store
            .client()
            .get_item()
            .table_name(&self.store.tables().orders.name)
            .key("order_id", AttributeValue::S(order_id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem")
            .item
            .expect("the item")
    }

    async fn stock(&self, product_id: &str) -> Stock {
        self.store.inventory().await.expect("inventory").get(product_id).copied().expect("the product exists")
    }

    /// Creates the order and drives it until it stops moving; returns every record delivered.
    async fn run(&self, order: &Order) -> Vec<ChangeRecord> {
        self.store.create_order(order, None).await.expect("create");
        let mut records = vec![self.record(ChangeKind::Insert, &self.order(&order.order_id).await)];
        loop {
            let record = records.last().expect("a record").clone();
            self.engine.process(&record).await.expect("process");
            let now = self.order(&order.order_id).await;
            if Some(now.version) == record.new_image.as_ref().map(|o| o.version) {
                return records;
            }
            records.push(self.record(ChangeKind::Modify, &now));
        }
    }
}

fn statuses(records: &[ChangeRecord]) -> Vec<&str> {
    records.iter().filter_map(|r| r.new_image.as_ref().map(|o| o.status.as_str())).collect()
}

fn outcomes(order: &Order, step: &str) -> Vec<Outcome> {
    order.history.iter().filter(|h| h.step == step).map(|h| h.outcome).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_completes_with_one_charge_one_message_and_the_contract_item_layout() {
    let Some(h) = Harness::new(plan(), &[("product-1", 10), ("product-2", 5)], |_| {}).await else { return };
    let order = new_order(&[("product-1", 2, 12.5), ("product-2", 1, 3.0), ("product-1", 1, 12.5)]);
    let records = h.run(&order).await;
    assert_eq!(statuses(&records), ["RECEIVED", "VALIDATED", "RESERVED", "PAID", "FULFILLED", "NOTIFIED", "COMPLETED"]);

    let done = h.order(&order.order_id).await;
    assert_eq!(done.status, status::COMPLETED);
    assert_eq!(done.version, 7);
    for step in ["validate", "reserve-inventory", "charge-payment", "fulfil", "notify"] {
        assert_eq!(outcomes(&done, step), [Outcome::Succeeded], "{step}");
    }
    let charge = done.charge.clone().expect("a charge");
    assert_eq!(charge.amount_cents, 3_750 + 300);
    let entry = h.store.ledger_entry(&order.order_id).await.expect("ledger").expect("an entry");
    assert_eq!(entry.charge, charge);
    assert_eq!(h.store.ledger_count().await.expect("ledger"), 1);
    let outbox = h.store.outbox(Some(&order.order_id)).await.expect("outbox");
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].subject, format!("Your order {} is confirmed", order.order_id));
    assert_eq!(h.store.outbox(None).await.expect("outbox"), outbox);
    assert_eq!(h.stock("product-1").await, Stock { available: 7, reserved: 0 });
    assert_eq!(h.stock("product-2").await, Stock { available: 4, reserved: 0 });
    let expires_at = done.expires_at.expect("a terminal order expires");
    assert!(expires_at > chrono::Utc::now().timestamp() + 89 * 86_400);

    // The item, as the stream processor will decode it.
    let item = h.raw_item(&order.order_id).await;
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let number = |name: &str| item.get(name).and_then(|v| v.as_n().ok()).cloned();
    assert_eq!(text("order_id").as_deref(), Some(order.order_id.as_str()));
    assert_eq!(text("kind").as_deref(), Some("order"));
    assert_eq!(text("status").as_deref(), Some("COMPLETED"));
    assert_eq!(text("created_at"), Some(order.created_at.clone()));
    assert_eq!(number("version").as_deref(), Some("7"));
    assert_eq!(number("expires_at"), Some(expires_at.to_string()));
    let packed = item.get("order").and_then(|v| v.as_b().ok()).expect("the order, packed");
    let stored = orchgen_runtime::store::packed::unpack(packed.as_ref()).expect("an order");
    assert_eq!(stored, done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_stock_rejects_naming_the_product_and_leaves_stock_alone() {
    let Some(h) = Harness::new(plan(), &[("product-1", 10), ("product-4", 10)], |_| {}).await else { return };
    let order = new_order(&[("product-1", 3, 1.0), ("product-4", 11, 1.0)]);
    let records = h.run(&order).await;
    assert_eq!(statuses(&records), ["RECEIVED", "VALIDATED", "REJECTED"]);
    let failed = h.order(&order.order_id).await;
    let failure = failed.failure.as_ref().expect("a failure");
    assert_eq!(failure.code, "OUT_OF_STOCK");
    assert_eq!(failure.step, "reserve-inventory");
    assert!(failure.message.contains("product-4") && failure.message.contains("10 available"), "{}", failure.message);
    assert_eq!(h.stock("product-1").await, Stock { available: 10, reserved: 0 });
    assert_eq!(h.stock("product-4").await, Stock { available: 10, reserved: 0 });
    assert_eq!(h.store.ledger_count().await.expect("ledger"), 0);
    assert!(h.store.outbox(None).await.expect("outbox").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_payment_releases_the_stock_and_cancels() {
    let Some(h) = Harness::new(plan(), &[("product-2", 5)], |_| {}).await else { return };
    let mut order = new_order(&[("product-2", 2, 10.0)]);
    order.customer.customer_id = "cust-fraud".to_owned();
    let records = h.run(&order).await;
    assert_eq!(statuses(&records), ["RECEIVED", "VALIDATED", "RESERVED", "COMPENSATING", "CANCELLED"]);
    let cancelled = h.order(&order.order_id).await;
    assert_eq!(cancelled.failure.as_ref().expect("a failure").code, "SUSPECTED_FRAUD");
    assert_eq!(outcomes(&cancelled, "release-inventory"), [Outcome::Compensated]);
    assert_eq!(h.stock("product-2").await, Stock { available: 5, reserved: 0 });
    assert_eq!(h.store.ledger_count().await.expect("ledger"), 0);
}

/// Always fails terminally.
struct Fails;

#[async_trait]
impl StepHandler for Fails {
    async fn call(&self, _plan: &Plan, _input: StepInput) -> Result<StepOutput, StepError> {
        Err(StepError::terminal("WAREHOUSE_DOWN", "this step always fails"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_after_the_charge_refunds_and_releases() {
    let mut plan = plan();
    let at = plan.step_index("fulfil").expect("a fulfil step");
    let compensate_on_failure = plan.steps[..at].iter().rev().filter_map(|s| s.compensation.clone()).collect();
    plan.steps.insert(
        at,
        StepPlan {
            name: "pack".to_owned(),
            description: "a custom step that fails".to_owned(),
            action: StepAction::Custom(orchgen_runtime::plan::HandlerPlan {
                function: "tests::fails".to_owned(),
                crate_name: "tests".to_owned(),
                crate_path: "tests".to_owned(),
                side_effects: false,
            }),
            status: "PACKED".to_owned(),
            next: None,
            retry: RetryPlan { max_attempts: 1, base_delay_ms: 1, max_delay_ms: 1, jitter: Jitter::None },
            timeout_ms: 1_000,
            memory_mb: 256,
            reserved_concurrency: None,
            on_failure: OnFailure::Compensate,
            compensation: None,
            compensate_on_failure,
        },
    );
    let completed = plan.statuses.iter().position(|s| s == status::COMPLETED).expect("COMPLETED");
    plan.statuses.insert(completed, "PACKED".to_owned());
    let Some(h) = Harness::new(plan, &[("product-1", 10)], |e| {
        e.register("tests::fails", Fails);
    })
    .await
    else {
        return;
    };
    let order = new_order(&[("product-1", 4, 5.0)]);
    let records = h.run(&order).await;
    assert_eq!(
        statuses(&records),
        ["RECEIVED", "VALIDATED", "RESERVED", "PAID", "COMPENSATING", "COMPENSATING", "FAILED"],
        "a fault: compensated, then FAILED"
    );
    let cancelled = h.order(&order.order_id).await;
    assert_eq!(outcomes(&cancelled, "refund-payment"), [Outcome::Compensated]);
    assert_eq!(outcomes(&cancelled, "release-inventory"), [Outcome::Compensated]);
    let entry = h.store.ledger_entry(&order.order_id).await.expect("ledger").expect("the charge stays recorded");
    assert!(entry.charge.refunded);
    assert_eq!(entry.charge.amount_cents, 2_000);
    assert_eq!(h.stock("product-1").await, Stock { available: 10, reserved: 0 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_deliveries_apply_every_effect_once() {
    let Some(h) = Harness::new(plan(), &[("product-1", 10)], |_| {}).await else { return };
    let order = new_order(&[("product-1", 2, 10.0)]);
    h.store.create_order(&order, None).await.expect("create");

    // Every record delivered twice at the same time, then once more after the next one.
    let mut previous: Option<ChangeRecord> = None;
    let mut record = h.record(ChangeKind::Insert, &h.order(&order.order_id).await);
    loop {
        let (a, b) = tokio::join!(h.engine.process(&record), h.engine.process(&record));
        a.expect("process");
        b.expect("process");
        if let Some(old) = previous.take() {
            h.engine.process(&old).await.expect("a stale record is ignored");
        }
        let now = h.order(&order.order_id).await;
        if Some(now.version) == record.new_image.as_ref().map(|o| o.version) {
            break;
        }
        previous = Some(record);
        record = h.record(ChangeKind::Modify, &now);
    }
    let done = h.order(&order.order_id).await;
    assert_eq!(done.status, status::COMPLETED);
    assert_eq!(done.version, 7, "one transition per step");
    for step in ["validate", "reserve-inventory", "charge-payment", "fulfil", "notify"] {
        assert_eq!(outcomes(&done, step), [Outcome::Succeeded], "{step} ran once");
    }
    assert_eq!(h.store.ledger_count().await.expect("ledger"), 1);
    assert_eq!(h.store.outbox(None).await.expect("outbox").len(), 1);
    assert_eq!(h.stock("product-1").await, Stock { available: 8, reserved: 0 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hundred_orders_for_fifty_units_complete_exactly_fifty() {
    let Some(h) = Harness::new(plan(), &[("widget", 50)], |_| {}).await else { return };
    let h = Arc::new(h);
    let limit = Arc::new(tokio::sync::Semaphore::new(32));
    let tasks: Vec<_> = (0..300)
        .map(|_| {
            let (h, limit) = (h.clone(), limit.clone());
            tokio::spawn(async move {
                let _permit = limit.acquire().await.expect("the semaphore stays open");
                let order = new_order(&[("widget", 1, 19.99)]);
                h.run(&order).await;
                h.order(&order.order_id).await
            })
        })
        .collect();
    let mut orders = Vec::new();
    for task in tasks {
        orders.push(task.await.expect("the order task"));
    }
    let completed: Vec<&Order> = orders.iter().filter(|o| o.status == status::COMPLETED).collect();
    let failed: Vec<&Order> = orders.iter().filter(|o| o.status == status::REJECTED).collect();
    assert_eq!((completed.len(), failed.len()), (50, 250));
    for order in &failed {
        let failure = order.failure.as_ref().expect("a failure");
        assert_eq!(failure.code, "OUT_OF_STOCK");
        assert!(failure.message.contains("widget"));
        assert_eq!(h.store.ledger_entry(&order.order_id).await.expect("ledger"), None, "no charge");
    }
    for order in &completed {
        let entry = h.store.ledger_entry(&order.order_id).await.expect("ledger").expect("one charge");
        assert_eq!(Some(&entry.charge), order.charge.as_ref());
    }
    assert_eq!(h.stock("widget").await, Stock { available: 0, reserved: 0 }, "0 oversold");
    assert_eq!(h.store.ledger_count().await.expect("ledger"), 50);
    assert_eq!(h.store.outbox(None).await.expect("outbox").len(), 50);
}

/// What one happy-path order's commits consume on DynamoDB Local, as the store records it
/// (`ReturnConsumedCapacity = TOTAL`, `DynamoStore::capacity`), against the same moves sent as the
/// single-Put TransactWriteItems the store used to send for them; and the stored order's size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_without_effects_are_plain_puts_and_cost_fewer_write_units() {
    let Some(h) = Harness::new(plan(), &[("product-1", 10), ("product-2", 5)], |_| {}).await else { return };
    let order = new_order(&[("product-1", 2, 12.5), ("product-2", 1, 3.0)]);
    let start = h.store.capacity();
    h.store.create_order(&order, None).await.expect("create");
    let mut total = (h.store.capacity() - start).write_units;
    let mut image = h.order(&order.order_id).await;
    // (order before, order after, what the commit consumed), per move.
    let mut moves: Vec<(Order, Order, CapacitySnapshot)> = Vec::new();
    loop {
        let record = h.record(if image.version == 1 { ChangeKind::Insert } else { ChangeKind::Modify }, &image);
        let before = h.store.capacity();
        h.engine.process(&record).await.expect("process");
        // The engine's own read is in the delta; the read-back below is not.
        let spent = h.store.capacity() - before;
        let now = h.order(&order.order_id).await;
        if now.version == image.version {
            break;
        }
        total += spent.write_units;
        moves.push((image, now.clone(), spent));
        image = now;
    }
    let statuses: Vec<&str> = moves.iter().map(|(_, after, _)| after.status.as_str()).collect();
    assert_eq!(statuses, ["VALIDATED", "RESERVED", "PAID", "FULFILLED", "NOTIFIED", "COMPLETED"]);
    for (before, after, spent) in &moves {
        assert_eq!(spent.write_requests, 1, "{} → {}: one write request", before.status, after.status);
        assert_eq!(spent.failed_writes, 0);
        assert!(spent.write_units > 0.0);
    }

    // The stored item: smaller JSON, the same order.
    let names = OrderAttributes::of(&h.store.tables().orders);
    let item = h.raw_item(&order.order_id).await;
    let packed = item.get("order").and_then(|v| v.as_b().ok()).expect("the order, packed").as_ref().to_vec();
    let json =
        serde_json::to_string(&orchgen_runtime::store::packed::unpack(&packed).expect("unpacks")).expect("serialises");
    let done = decode_order(&item, &names).expect("the item decodes");
    assert_eq!(done, image);
    assert_eq!(done.shipping_address.state, "");
    assert!(!json.contains("\"state\""), "an empty address field is left out: {json}");
    assert!(!json.contains("\"refunded\""), "a charge not refunded says nothing of it: {json}");
    assert!(!json.contains("\"attempt\":1"), "first attempts are not numbered: {json}");
    let full_json = {
        let mut value = serde_json::to_value(&done).expect("serialises");
        value["shipping_address"] = serde_json::to_value(&done.shipping_address).expect("address");
        value["charge"] = serde_json::to_value(done.charge.as_ref().expect("charged")).expect("charge");
        value["history"] = serde_json::to_value(&done.history).expect("history");
        value.to_string()
    };
    let mut full_item = item.clone();
    full_item.insert("order".into(), AttributeValue::S(full_json.clone()));
    assert_eq!(decode_order(&full_item, &names).expect("an item written with every field decodes"), done);
    eprintln!("stored order JSON ({} B): {json}", json.len());
    eprintln!(
        "terminal order item: {} B (with every field written: {} B; the order JSON {} B → {} B)",
        item_size(&item),
        item_size(&full_item),
        full_json.len(),
        json.len()
    );

    // The moves without effects (after validate, and to COMPLETED), replayed as the single-Put
    // TransactWriteItems the store sent before: the item is put back as it was before the move, then
    // the move is sent again as a transaction under the same version condition.
    let orders = &h.store.tables().orders.name;
    let client = h.store.client();
    let mut replayed_total = total;
    for (before, after, spent) in
        moves.iter().filter(|(_, a, _)| ["VALIDATED", "COMPLETED"].contains(&a.status.as_str()))
    {
        client
            .put_item()
            .table_name(orders)
            .set_item(Some(encode_order(before, &names).expect("encodes")))
            .send()
            .await
            .expect("restore the order before the move");
        let put = Put::builder()
            .table_name(orders)
            .set_item(Some(encode_order(after, &names).expect("encodes")))
            .condition_expression("#v = :v")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":v", AttributeValue::N(before.version.to_string()))
            .build()
            .expect("a Put");
        let out = client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .expect("the move as a transaction");
        let transaction: f64 = out.consumed_capacity().iter().filter_map(|c| c.capacity_units()).sum();
        eprintln!(
            "{} → {}: PutItem {} WCU, as a TransactWriteItems {transaction} WCU",
            before.status, after.status, spent.write_units
        );
        assert!(spent.write_units < transaction, "{} → {}", before.status, after.status);
        replayed_total += transaction - spent.write_units;
    }
    eprintln!("write units of the order: {total} WCU (every move a transaction: {replayed_total} WCU)");
    assert!(total < replayed_total);
}

/// Chained steps on DynamoDB Local: the whole order is one TransactWriteItems of the order, each
/// product's stock (reserved and committed in the same update) and the ledger item (charge and
/// notification together); an out-of-stock chain is refused as a whole and redone a step per move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chained_steps_commit_an_order_in_one_transaction() {
    let mut chained = plan();
    chained.stream.chain_steps = true;
    chained.stream.chain_budget_ms = 30_000;
    let Some(h) = Harness::new(chained, &[("product-1", 10), ("product-2", 5), ("product-4", 1)], |_| {}).await else {
        return;
    };
    let order = new_order(&[("product-1", 2, 12.5), ("product-2", 1, 3.0), ("product-1", 1, 12.5)]);
    let before = h.store.capacity();
    let records = h.run(&order).await;
    let spent = h.store.capacity() - before;
    assert_eq!(statuses(&records), ["RECEIVED", "COMPLETED"]);
    assert_eq!(spent.write_requests, 2, "the creation and one transaction");
    assert_eq!(spent.failed_writes, 0);
    let done = h.order(&order.order_id).await;
    assert_eq!((done.version, done.cursor), (2, 5));
    for step in ["validate", "reserve-inventory", "charge-payment", "fulfil", "notify"] {
        assert_eq!(outcomes(&done, step), [Outcome::Succeeded], "{step}");
    }
    let charge = done.charge.clone().expect("a charge");
    let entry = h.store.ledger_entry(&order.order_id).await.expect("ledger").expect("an entry");
    assert_eq!(entry.charge, charge);
    assert_eq!(h.store.outbox(Some(&order.order_id)).await.expect("outbox").len(), 1);
    assert_eq!(h.stock("product-1").await, Stock { available: 7, reserved: 0 });
    assert_eq!(h.stock("product-2").await, Stock { available: 4, reserved: 0 });
    eprintln!("chained order on DynamoDB Local: {} write requests, {} WCU", spent.write_requests, spent.write_units);
    // The terminal item, history of five steps included, is written and stored as less than 1 KB:
    // 1 WCU per write (2 in the transaction), whatever DynamoDB Local reports for transactions.
    let item = h.raw_item(&order.order_id).await;
    let json = serde_json::to_string(&done).expect("serialises").len();
    eprintln!("terminal order item: {} B (the order's JSON alone: {json} B)", item_size(&item));
    assert!(item_size(&item) < 1024, "{} B", item_size(&item));
    assert!(item_size(&item) < json as u64);

    let short = new_order(&[("product-1", 1, 1.0), ("product-4", 2, 1.0)]);
    let records = h.run(&short).await;
    assert_eq!(statuses(&records), ["RECEIVED", "VALIDATED", "REJECTED"]);
    let failed = h.order(&short.order_id).await;
    assert_eq!(failed.failure.as_ref().map(|f| f.code.as_str()), Some("OUT_OF_STOCK"));
    assert_eq!(h.stock("product-1").await, Stock { available: 7, reserved: 0 });
    assert_eq!(h.stock("product-4").await, Stock { available: 1, reserved: 0 });
    assert!(h.store.ledger_entry(&short.order_id).await.expect("ledger").is_none());
}
