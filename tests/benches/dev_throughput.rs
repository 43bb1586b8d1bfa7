//! End-to-end throughput and latency of `orchgen dev` on the embedded store, over real HTTP.
//!
//! ```text
//! cargo bench -p orchgen-tests --bench dev_throughput [-- --orders N --concurrency C]
//! ```
//!
//! It builds and starts the release `orchgen dev` on the reference pipeline (with enough stock),
//! submits `N` seed orders from `C` client threads, waits until every order is terminal and prints:
//! orders/s end to end, POST latency p50/p99 (client side), submit → COMPLETED latency p50/p99 (from
//! the order's own `created_at` / `updated_at`), store writes per order (the final order version:
//! one write per transition). Baselines measured in the same run, at the same concurrency: the
//! HTTP layer alone (`GET /_orchgen/health`), and the store's raw write rate (the `store_bench`
//! example), with the ratio of orders/s to (raw writes/s ÷ writes per order).
//!
//! Figures only, no assertion on time: machines are shared and noisy. Client, server and engine
//! share the same cores, so the figures are a lower bound of what the server does alone.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use chrono::DateTime;
use orchgen_tests::dev_server::{self, Dev};
use orchgen_tests::fixtures::{self, OrderBody};
use orchgen_tests::load::release_binary;
use reqwest::blocking::Client;
use serde_json::Value;

/// The longest wait for a submitted order to be terminal once every order is submitted.
const SETTLE: Duration = Duration::from_secs(300);

fn arg(name: &str, default: usize) -> usize {
    orchgen_tests::load::arg(name, default as u64) as usize
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(orchgen_tests::workspace_root());
    command
}

/// The seed order of the `i`-th client call: the sample order for one of 1,000 customers.
fn seed_order(sample: &OrderBody, i: usize) -> Value {
    sample.clone().customer_id(&format!("cust-{}", i % 1000)).json()
}

/// Runs `work(i)` for i in 0..n on `threads` threads; returns each call's duration and the wall time.
fn drive<T: Send + 'static>(
    n: usize,
    threads: usize,
    work: impl Fn(usize) -> T + Send + Sync + 'static,
) -> (Vec<(Duration, T)>, Duration) {
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (work, next) = (work.clone(), next.clone());
            thread::spawn(move || {
                let mut out = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break out;
                    }
                    let t = Instant::now();
                    let value = work(i);
                    out.push((t.elapsed(), value));
                }
            })
        })
        .collect();
    let results = handles.into_iter().flat_map(|h| h.join().expect("client thread")).collect();
    (results, start.elapsed())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn millis(mut values: Vec<f64>) -> String {
    values.sort_by(f64::total_cmp);
    format!(
        "p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        percentile(&values, 0.5),
        percentile(&values, 0.99),
        values.last().copied().unwrap_or(f64::NAN)
    )
}

fn client() -> Client {
    Client::builder().timeout(Duration::from_secs(30)).build().expect("HTTP client")
}

/// The raw write rate of the embedded store at `concurrency`, from the `store_bench` example.
fn raw_store_rate(concurrency: usize, orders: usize) -> f64 {
    let output = cargo()
        .args(["run", "--release", "-q", "-p", "orchgen-runtime", "--example", "store_bench", "--"])
        .args(["--orders", &orders.to_string(), "--concurrency", &concurrency.to_string()])
        .output()
        .expect("cargo run store_bench");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "store_bench failed:\n{text}\n{}", String::from_utf8_lossy(&output.stderr));
    text.lines()
        .find_map(|l| l.strip_prefix("raw write rate: "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("store_bench printed no raw write rate:\n{text}"))
}

fn main() {
    let orders = arg("--orders", 3000);
    let concurrency = arg("--concurrency", 16);
    let bin = release_binary();
    let dir = tempfile::tempdir().expect("temporary directory");
    let pipeline = orchgen_tests::fixtures::stocked_reference_pipeline(dir.path());
    let server = Dev::new(&bin, &pipeline, &dir.path().join("data"))
        .args(["--log-level", "warn"])
        .on_log_line(|line| eprintln!("{line}"))
        .start();
    let base = Arc::new(server.base.clone());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "orchgen dev end-to-end benchmark — {} CPUs, {orders} orders, {concurrency} client threads, load average {}",
        thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );

    // Baseline 1: the HTTP layer alone.
    let http = client();
    let health = {
        let (base, http) = (base.clone(), http.clone());
        move |_| {
            let response = http.get(format!("{base}/_orchgen/health")).send().expect("GET health");
            assert!(response.status().is_success());
        }
    };
    drive(500, concurrency, health.clone());
    let (samples, wall) = drive(orders, concurrency, health);
    let health_rate = orders as f64 / wall.as_secs_f64();
    println!(
        "GET /_orchgen/health (HTTP only)   {health_rate:>8.0} req/s     {}",
        millis(samples.iter().map(|(d, _)| d.as_secs_f64() * 1e3).collect())
    );

    // The real thing: submit, then wait for every order to be terminal.
    let submit = {
        let (base, http, sample) = (base.clone(), http.clone(), fixtures::order());
        move |i| {
            let response =
                http.post(format!("{base}/orders")).json(&seed_order(&sample, i)).send().expect("POST /orders");
            assert_eq!(response.status().as_u16(), 201, "POST /orders");
            let body: Value = response.json().expect("JSON body");
            body["order_id"].as_str().expect("order_id").to_owned()
        }
    };
    let started = Instant::now();
    let (submitted, post_wall) = drive(orders, concurrency, submit);
    println!(
        "POST /orders                       {:>8.0} req/s     {}",
        orders as f64 / post_wall.as_secs_f64(),
        millis(submitted.iter().map(|(d, _)| d.as_secs_f64() * 1e3).collect())
    );
    let ids: Arc<Vec<String>> = Arc::new(submitted.into_iter().map(|(_, id)| id).collect());
    let fetch = {
        let (base, http, ids, log) = (base.clone(), http.clone(), ids.clone(), server.log().to_path_buf());
        move |i: usize| {
            let get = || -> Value {
                http.get(format!("{base}/orders/{}", ids[i])).send().expect("GET order").json().expect("JSON order")
            };
            dev_server::wait_terminal(&ids[i], SETTLE, Duration::from_millis(20), get, || dev_server::tail(&log, 60))
        }
    };
    let (finished, _) = drive(orders, concurrency, fetch);
    let all_done = started.elapsed();
    let finals: Vec<Value> = finished.into_iter().map(|(_, o)| o).collect();
    let completed = finals.iter().filter(|o| o["status"] == "COMPLETED").count();
    let time = |o: &Value, key: &str| DateTime::parse_from_rfc3339(o[key].as_str().expect(key)).expect(key);
    let first = finals.iter().map(|o| time(o, "created_at")).min().expect("orders");
    let last = finals.iter().map(|o| time(o, "updated_at")).max().expect("orders");
    let span = (last - first).as_seconds_f64();
    let rate = orders as f64 / span;
    let latencies = finals.iter().map(|o| (time(o, "updated_at") - time(o, "created_at")).as_seconds_f64() * 1e3);
    let writes: Vec<f64> = finals.iter().map(|o| o["version"].as_u64().unwrap_or(0) as f64).collect();
    let writes_per_order = writes.iter().sum::<f64>() / writes.len() as f64;
    println!(
        "orders end to end                  {rate:>8.0} orders/s  {completed}/{orders} COMPLETED, first created → last finished {span:.2} s (wall {:.2} s)",
        all_done.as_secs_f64()
    );
    println!("submit → terminal (server clock)             {}", millis(latencies.collect()));
    println!("store writes per order (transactions)        {writes_per_order:.2}");
    drop(server);

    // Baseline 2: the store's raw write rate at the same concurrency, measured now.
    let raw = raw_store_rate(concurrency, orders.max(2000));
    let ceiling = raw / writes_per_order;
    println!(
        "SqliteStore raw write rate                   {raw:>8.0} transactions/s (store_bench, concurrency {concurrency})"
    );
    println!(
        "ratio: {rate:.0} orders/s ÷ ({raw:.0} ÷ {writes_per_order:.2} = {ceiling:.0} orders/s store ceiling) = {:.0} %",
        100.0 * rate / ceiling
    );
}
