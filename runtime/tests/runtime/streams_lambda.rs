//! The Lambda stream processor (`streams::handle_event`) against the in-memory store with the
//! reference plan: real DynamoDB Streams event fixtures (`fixtures/streams/`), and the store's own
//! change records turned into Lambda events (NEW_AND_OLD_IMAGES, long decimal sequence numbers) and
//! fed back until the orders finish.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::DynamoDbEventResponse;
use orchgen_runtime::Engine;
use orchgen_runtime::order::{Item, Order};
use orchgen_runtime::plan::{Plan, status};
use orchgen_runtime::store::memory::MemoryStore;
use orchgen_runtime::store::{
    ChangeFeed, ChangeKind, ChangeRecord, CommitError, Created, IdempotencyKey, LedgerEntry, ListQuery, Notification,
    Page, Stock, Store, StoreError, Transition,
};
use orchgen_runtime::streams::{handle_event, image_from_order, order_from_image, process_event};
use serde_json::json;

const PLAN_JSON: &str = include_str!("../fixtures/orders.plan.json");
const INSERT_MODIFY_TTL_REMOVE: &str = include_str!("../fixtures/streams/insert_modify_ttl_remove.json");
const UNDECODABLE_IMAGE: &str = include_str!("../fixtures/streams/undecodable_image.json");
const STREAM_ARN: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/shop-orders/stream/2024-05-01T12:00:00.000";

/// The reference plan with 1–4 ms retry delays.
fn plan() -> Plan {
    let mut plan = Plan::from_json(PLAN_JSON).expect("the fixture plan reads");
    for step in &mut plan.steps {
        step.retry.base_delay_ms = 1;
        step.retry.max_delay_ms = 4;
    }
    plan
}

async fn engine_on(store: Arc<dyn Store>) -> Engine {
    let engine = Engine::new(Arc::new(plan()), store);
    engine.seed_local_inventory().await.expect("seed");
    engine
}

fn new_order(quantity: i64) -> Order {
    let mut order = Order::example();
    order.order_id = ulid::Ulid::new().to_string();
    order.items = vec![Item { product_id: "product-1".to_owned(), quantity, unit_price: 19.99 }];
    order.total_cents = quantity * 1999;
    order
}

fn failures(response: &DynamoDbEventResponse) -> Vec<String> {
    response.batch_item_failures.iter().map(|f| f.item_identifier.clone().unwrap_or_default()).collect()
}

/// Turns the memory store's change records into Lambda DynamoDB events, the way DynamoDB Streams
/// would show them: sequence numbers are long decimal strings whose length grows (21 → 22 digits),
/// MODIFY records carry the previous image.
#[derive(Default)]
struct Streamer {
    after: Option<String>,
    images: HashMap<String, Order>,
}

impl Streamer {
    fn sequence(memory_sequence: &str) -> String {
        let n: u128 = memory_sequence.parse().expect("memory sequence numbers are decimal");
        (99_999_999_999_999_999_995u128 + n).to_string()
    }

    /// The records not streamed yet, as one event (`None` when there are none).
    async fn next_event(&mut self, store: &MemoryStore) -> Option<Event> {
        let changes = store.read_changes(self.after.as_deref(), 100).await.expect("read");
        let last = changes.last()?;
        self.after = Some(last.sequence_number.clone());
        let records: Vec<serde_json::Value> = changes.iter().map(|c| self.record(c)).collect();
        Some(serde_json::from_value(json!({ "Records": records })).expect("an event"))
    }

    fn record(&mut self, change: &ChangeRecord) -> serde_json::Value {
        let old = self.images.get(&change.order_id).cloned();
        let event_name = match change.kind {
            ChangeKind::Insert => "INSERT",
            ChangeKind::Modify => "MODIFY",
            ChangeKind::Remove => "REMOVE",
        };
        let mut dynamodb = json!({
            "ApproximateCreationDateTime": 1714564800,
            "Keys": { "order_id": { "S": change.order_id } },
            "SequenceNumber": Streamer::sequence(&change.sequence_number),
            "SizeBytes": 1024,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        });
        if let Some(new) = &change.new_image {
            dynamodb["NewImage"] = serde_json::to_value(image_from_order(new)).expect("an image");
            self.images.insert(change.order_id.clone(), new.clone());
        }
        if let Some(old) = old.filter(|_| change.kind != ChangeKind::Insert) {
            dynamodb["OldImage"] = serde_json::to_value(image_from_order(&old)).expect("an image");
        }
        json!({
            "eventID": format!("{:032x}", rand::random::<u128>()),
            "eventName": event_name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": dynamodb,
            "eventSourceARN": STREAM_ARN,
        })
    }
}

#[test]
fn the_fixtures_round_trip_through_the_event_types() {
    for fixture in [INSERT_MODIFY_TTL_REMOVE, UNDECODABLE_IMAGE] {
        let event: Event = serde_json::from_str(fixture).expect("a DynamoDB event");
        let again: Event = serde_json::from_str(&serde_json::to_string(&event).expect("serialises")).expect("reads");
        assert_eq!(event, again);
    }
    let event: Event = serde_json::from_str(INSERT_MODIFY_TTL_REMOVE).expect("a DynamoDB event");
    let ttl = event.records[2].user_identity.as_ref().expect("the TTL removal names its identity");
    assert_eq!((ttl.type_.as_str(), ttl.principal_id.as_str()), ("Service", "dynamodb.amazonaws.com"));
    let order = order_from_image(&event.records[0].change.new_image).expect("the INSERT image decodes");
    assert_eq!(order.order_id, "01HWZ8Y0A2B3C4D5E6F7G8H9JA");
    assert_eq!(order.total_cents, 3998);
}

#[tokio::test]
async fn insert_is_processed_while_ttl_removals_removals_and_no_op_modifies_are_ignored() {
    let event: Event = serde_json::from_str(INSERT_MODIFY_TTL_REMOVE).expect("a DynamoDB event");
    let store = Arc::new(MemoryStore::new());
    let engine = engine_on(store.clone()).await;
    // A and B are stored at version 1; the fixture's MODIFY of B keeps version 1 (a no-op).
    for record in &event.records[..2] {
        let mut order = order_from_image(&record.change.new_image).expect("decodes");
        order.updated_at = order.created_at.clone();
        assert_eq!(store.create_order(&order, None).await.expect("create"), Created::New);
    }
    let report = process_event(&engine, &event).await;
    assert_eq!(report.failures, []);
    assert_eq!((report.processed, report.ignored), (1, 3));
    let a = store.get_order("01HWZ8Y0A2B3C4D5E6F7G8H9JA").await.expect("get").expect("A exists");
    assert_eq!((a.status.as_str(), a.version), ("VALIDATED", 2));
    let b = store.get_order("01HWZ8Y0A2B3C4D5E6F7G8H9JB").await.expect("get").expect("B exists");
    assert_eq!((b.status.as_str(), b.version), ("RECEIVED", 1), "the no-op MODIFY must not drive B");

    let response = handle_event(&engine, event).await;
    assert_eq!(
        serde_json::to_value(&response).expect("serialises"),
        json!({ "batchItemFailures": [] }),
        "the partial batch response of a clean batch"
    );
}

#[tokio::test]
async fn an_undecodable_image_fails_its_record_and_the_later_records_of_its_order_only() {
    let event: Event = serde_json::from_str(UNDECODABLE_IMAGE).expect("a DynamoDB event");
    let store = Arc::new(MemoryStore::new());
    let engine = engine_on(store.clone()).await;
    let e = order_from_image(&event.records[1].change.new_image).expect("E decodes");
    store.create_order(&e, None).await.expect("create");
    let response = handle_event(&engine, event).await;
    assert_eq!(
        serde_json::to_value(&response).expect("serialises"),
        json!({ "batchItemFailures": [
            { "itemIdentifier": "9100000000000000000001" },
            { "itemIdentifier": "91000000000000000000003" },
        ] })
    );
    let e = store.get_order(&e.order_id).await.expect("get").expect("E exists");
    assert_eq!(e.status, "VALIDATED", "the other order went on");
}

#[tokio::test]
async fn an_order_completes_when_its_records_are_fed_back_and_duplicates_are_harmless() {
    let store = Arc::new(MemoryStore::new());
    let engine = engine_on(store.clone()).await;
    let orders = [new_order(2), new_order(1)];
    for order in &orders {
        store.create_order(order, None).await.expect("create");
    }
    let mut streamer = Streamer::default();
    let mut batches = 0;
    while let Some(event) = streamer.next_event(&store).await {
        batches += 1;
        assert!(batches < 50, "the orders never finish");
        // Every record twice in the batch, and the whole batch delivered twice (at least once).
        let mut doubled = event.clone();
        doubled.records = event.records.iter().flat_map(|r| [r.clone(), r.clone()]).collect();
        assert_eq!(failures(&handle_event(&engine, doubled.clone()).await), Vec::<String>::new());
        assert_eq!(failures(&handle_event(&engine, doubled).await), Vec::<String>::new());
    }
    for order in &orders {
        let stored = store.get_order(&order.order_id).await.expect("get").expect("stored");
        assert_eq!(stored.status, status::COMPLETED, "{stored:?}");
        assert!(stored.expires_at.is_some(), "a terminal order gets its TTL");
        assert_eq!(store.outbox(Some(&order.order_id)).await.expect("outbox").len(), 1, "one notification");
        let charge = store.ledger_entry(&order.order_id).await.expect("ledger").expect("charged");
        assert_eq!(charge.charge.amount_cents, order.total_cents);
    }
    assert_eq!(store.ledger_count().await.expect("ledger"), 2, "one charge per order");
    assert_eq!(store.inventory().await.expect("inventory")["product-1"], Stock { available: 97, reserved: 0 });
}

/// A store whose reads of one order always fail.
struct Failing {
    inner: Arc<MemoryStore>,
    order_id: String,
}

#[async_trait]
impl Store for Failing {
    async fn create_order(&self, order: &Order, key: Option<&IdempotencyKey>) -> Result<Created, StoreError> {
        self.inner.create_order(order, key).await
    }
    async fn get_order(&self, order_id: &str) -> Result<Option<Order>, StoreError> {
        if order_id == self.order_id {
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

#[tokio::test]
async fn a_failing_order_reports_only_its_own_sequence_numbers() {
    let memory = Arc::new(MemoryStore::new());
    let bad = new_order(1);
    let good = new_order(1);
    let engine = engine_on(Arc::new(Failing { inner: memory.clone(), order_id: bad.order_id.clone() })).await;
    memory.create_order(&bad, None).await.expect("create");
    memory.create_order(&good, None).await.expect("create");
    let mut streamer = Streamer::default();
    let mut event = streamer.next_event(&memory).await.expect("two INSERTs");
    // A later record of the failing order in the same batch (its next version), after the good one.
    let mut bad_v2 = bad.clone();
    bad_v2.version = 2;
    bad_v2.status = "VALIDATED".to_owned();
    bad_v2.cursor = 1;
    let mut later = event.records[0].clone();
    later.event_name = "MODIFY".to_owned();
    later.change.old_image = later.change.new_image.clone();
    later.change.new_image = image_from_order(&bad_v2);
    later.change.sequence_number = Some("100000000000000000000042".to_owned());
    event.records.push(later);
    let bad_first = event.records[0].change.sequence_number.clone().expect("a sequence number");
    assert_eq!(event.records[1].change.keys["order_id"], serde_dynamo::AttributeValue::S(good.order_id.clone()));

    let response = handle_event(&engine, event).await;
    assert_eq!(failures(&response), [bad_first, "100000000000000000000042".to_owned()]);
    let good = memory.get_order(&good.order_id).await.expect("get").expect("stored");
    assert_eq!(good.status, "VALIDATED", "the other order went on");
    let bad = memory.get_order(&bad.order_id).await.expect("get").expect("stored");
    assert_eq!(bad.version, 1, "the failing order did not move");
}
