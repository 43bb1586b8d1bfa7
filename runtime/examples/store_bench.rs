//! Raw write rate of the embedded store ([`SqliteStore`]): how many write transactions per second
//! it commits when many tasks write at once. This is the "raw rate" baseline the engine's
//! throughput is compared with.
//!
//! ```text
//! cargo run --release -p orchgen-runtime --example store_bench [-- --orders N --concurrency C]
//! ```
//!
//! Each order goes through `create_order` and three `commit`s (reserve stock, record a charge, put a
//! notification in the outbox), each a separate transaction with its change record.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use orchgen_runtime::order::{Address, Charge, Customer, HistoryEntry, Item, Order, Outcome};
use orchgen_runtime::store::sqlite::SqliteStore;
use orchgen_runtime::store::{Effect, Notification, Store, Transition, Units};

fn order(i: usize) -> Order {
    let created_at = format!("2024-05-01T12:{:02}:{:02}.{:03}Z", (i / 60_000) % 60, (i / 1000) % 60, i % 1000);
    Order {
        order_id: format!("01HZBENCH{i:017}"),
        status: "RECEIVED".into(),
        version: 1,
        created_at: created_at.clone(),
        updated_at: created_at,
        customer: Customer {
            customer_id: format!("cust-{}", i % 5000),
            email: "ada@example.com".into(),
            name: "Ada Lovelace".into(),
        },
        items: vec![
            Item { product_id: format!("product-{}", i % 50), quantity: 2, unit_price: 19.99 },
            Item { product_id: format!("product-{}", (i + 7) % 50), quantity: 1, unit_price: 5.0 },
        ],
        shipping_address: Address {
            street: "1 Analytical Way".into(),
            city: "London".into(),
            state: "".into(),
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

fn next(order: &Order, status: &str, effects: Vec<Effect>) -> Transition {
    let mut new = order.clone();
    new.status = status.into();
    new.version += 1;
    new.cursor += 1;
    new.history.push(HistoryEntry {
        step: status.to_lowercase(),
        attempt: 1,
        outcome: Outcome::Succeeded,
        duration_ms: 3,
        error: None,
        at: "2024-05-01T12:00:00.000Z".into(),
    });
    Transition { expected_version: order.version, order: new, effects }
}

/// One order's lifecycle: 4 write transactions.
async fn lifecycle(store: &SqliteStore, i: usize) {
    let o = order(i);
    store.create_order(&o, None).await.expect("create");
    let units = o.items.iter().map(|it| Units { product_id: it.product_id.clone(), quantity: 2 }).collect();
    let t = next(&o, "INVENTORY_RESERVED", vec![Effect::ReserveStock { units }]);
    store.commit(&t).await.expect("reserve");
    let charge =
        Charge { charge_id: format!("ch_{i}"), amount_cents: o.total_cents, currency: "USD".into(), refunded: false };
    let t = next(&t.order, "PAYMENT_CHARGED", vec![Effect::RecordCharge { order_id: o.order_id.clone(), charge }]);
    store.commit(&t).await.expect("charge");
    let notification = Notification {
        order_id: o.order_id.clone(),
        step: "notify".into(),
        to: o.customer.email.clone(),
        subject: "Your order".into(),
        at: "2024-05-01T12:00:00.000Z".into(),
    };
    let t = next(&t.order, "COMPLETED", vec![Effect::SendNotification { notification }]);
    store.commit(&t).await.expect("notify");
}

/// Runs `orders` lifecycles (starting at `first`) with `concurrency` tasks; returns the time taken.
async fn run(store: &Arc<SqliteStore>, first: usize, orders: usize, concurrency: usize) -> Duration {
    let counter = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let store = Arc::clone(store);
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                loop {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    if n >= orders {
                        break;
                    }
                    lifecycle(&store, first + n).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("worker");
    }
    start.elapsed()
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number")))
        .unwrap_or(default)
}

fn report(label: &str, orders: usize, elapsed: Duration) -> f64 {
    let transactions = orders * 4;
    let rate = transactions as f64 / elapsed.as_secs_f64();
    println!(
        "{label:<28} {orders:>7} orders, {transactions:>7} transactions in {:>6.2} s: {rate:>8.0} transactions/s ({:.0} orders/s)",
        elapsed.as_secs_f64(),
        orders as f64 / elapsed.as_secs_f64()
    );
    rate
}

#[tokio::main]
async fn main() {
    let orders = arg("--orders", 20_000);
    let concurrency = arg("--concurrency", 64);
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Arc::new(SqliteStore::open(dir.path()).expect("open the store"));
    let stock = (0..50).map(|p| (format!("product-{p}"), u64::MAX / 4)).collect();
    store.seed_inventory(&stock).await.expect("seed");

    println!("SqliteStore (WAL, synchronous=NORMAL, group commit) in {}", dir.path().display());
    println!(
        "each order: create_order + 3 commits (reserve stock, record charge, notification), \
         every one a transaction with its change record"
    );
    // Warm-up (page cache, prepared statements).
    run(&store, 0, 500, concurrency).await;

    let serial_orders = (orders / 10).max(100);
    let serial = run(&store, 1_000, serial_orders, 1).await;
    report("concurrency 1", serial_orders, serial);
    let elapsed = run(&store, 1_000 + serial_orders, orders, concurrency).await;
    let rate = report(&format!("concurrency {concurrency}"), orders, elapsed);

    let feed_rows =
        orchgen_runtime::store::ChangeFeed::read_changes(&*store, None, usize::MAX).await.expect("feed").len();
    println!("change records written: {feed_rows}");
    if let Some(db) = store.path() {
        let size = |suffix: &str| {
            let mut file = db.as_os_str().to_owned();
            file.push(suffix);
            std::fs::metadata(file).map(|m| m.len() / (1 << 20)).unwrap_or(0)
        };
        println!("database file: {} MiB, WAL: {} MiB", size(""), size("-wal"));
    }
    println!("raw write rate: {rate:.0} transactions/s");
}
