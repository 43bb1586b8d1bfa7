//! Fault injection against the real `orchgen dev` binary (issue 8, item 1), driven over HTTP as a
//! client would drive it:
//!
//! - SIGKILL at random moments (seeded; the seed is printed, `ORCHGEN_FAULT_SEED` replays it) of a
//!   2,000-order run on the embedded store, restarted each time, and of a smaller run on DynamoDB
//!   Local: every accepted order ends terminal, none is stored twice, charged twice or oversold.
//!   Clients send every order with an `Idempotency-Key` and retry what was refused while the server
//!   was down (a realistic client): a retry of an order stored before the crash is replayed (200).
//! - Custom steps that panic, always fail (retryable) or overrun their timeout
//!   (`tests/fixtures/faulty-steps/`): retried as the plan declares, then compensated (charge
//!   refunded, stock released) and CANCELLED with the failure code; the other orders complete. On
//!   DynamoDB a stream record the processor cannot decode reaches the dead-letter file after the
//!   stream's declared retries.
//! - The store unreachable for a while: a private, persistent DynamoDB Local stopped for a few
//!   seconds mid-run and restarted on its port: the API answers 503 meanwhile, then the pipeline
//!   resumes with nothing lost and nothing dead-lettered.
//!
//! The tests run one at a time (they share 2 CPUs). The custom-step tests build the dev host in
//! `target/nested` like `dev_custom.rs` (the first build takes minutes). DynamoDB Local tests skip
//! loudly without it (see `orchgen_tests::dynamodb_local`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use orchgen_tests::dev_server::{Dev, DevServer, TERMINAL, pipeline_with_inventory};
use orchgen_tests::dynamodb_local::DynamoDbLocal;
use orchgen_tests::{fixtures, workspace_root};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

/// Longest wait for `listening on …` when no dev host has to be built.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for `listening on …` of a pipeline with custom steps (a cold dev host build).
const HOST_START_TIMEOUT: Duration = Duration::from_secs(1500);
/// Longest wait for every order to be terminal once the faults stopped.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest time a client keeps retrying one order.
const SUBMIT_DEADLINE: Duration = Duration::from_secs(240);

/// One test at a time: each one loads both CPUs.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The seed of this run: `ORCHGEN_FAULT_SEED`, else the clock. Printed so that a failure replays.
fn seed(test: &str) -> u64 {
    let seed = std::env::var("ORCHGEN_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
    });
    eprintln!("[{test}] seed {seed} (replay with ORCHGEN_FAULT_SEED={seed})");
    seed
}

// ------------------------------------------------------------------------------------------------
// Pipelines and bodies
// ------------------------------------------------------------------------------------------------

/// A copy of the reference pipeline in `dir` with `local.inventory` replaced.
fn reference_pipeline(dir: &Path, inventory: &[(&str, u64)]) -> PathBuf {
    pipeline_with_inventory(dir, inventory).expect("the test pipeline is written")
}

fn faulty_pipeline() -> PathBuf {
    workspace_root().join("tests/fixtures/faulty-steps/pipeline.yaml")
}

/// An order of one unit of product-1 for `customer_id`.
fn one_unit(customer_id: &str, payment_method: &str) -> Value {
    fixtures::order().one_unit("product-1").customer_id(customer_id).payment_method(payment_method).json()
}

// ------------------------------------------------------------------------------------------------
// The server
// ------------------------------------------------------------------------------------------------

/// Starts `orchgen dev <pipeline> --port 0 --data-dir <data> <args>` and waits until it listens.
/// A pipeline with custom steps builds its dev host in `target/nested` (shared with
/// `dev_custom.rs`).
fn start(pipeline: &Path, data: &Path, args: &[&str], timeout: Duration) -> DevServer {
    Dev::new(crate::orchgen_bin(), pipeline, data)
        .args(args)
        .start_timeout(timeout)
        .settle_timeout(SETTLE_TIMEOUT)
        .start()
}

/// Every order (all pages of `GET /orders`), as summaries by id; none listed twice.
fn listed(server: &DevServer) -> BTreeMap<String, Value> {
    let mut orders = BTreeMap::new();
    for order in server.all_orders() {
        let id = order["order_id"].as_str().expect("order_id").to_owned();
        assert!(orders.insert(id, order.clone()).is_none(), "an order is listed twice: {order}");
    }
    orders
}

/// Orders not terminal yet, from the store's status index (`/_orchgen/status`; each count is
/// capped at 1,000).
fn pending(server: &DevServer) -> u64 {
    let (status, body) = server.get("/_orchgen/status");
    assert_eq!(status, StatusCode::OK, "{body}");
    let counts = body["statuses"].as_array().expect("statuses").iter();
    counts
        .filter(|c| !TERMINAL.contains(&c["status"].as_str().unwrap_or_default()))
        .map(|c| c["count"].as_u64().unwrap_or_default())
        .sum()
}

/// Waits until every listed order is terminal and `ids` are all listed; returns the listing.
fn wait_all_terminal(server: &DevServer, ids: &BTreeSet<String>) -> BTreeMap<String, Value> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let all = listed(server);
        let missing: Vec<&String> = ids.iter().filter(|id| !all.contains_key(*id)).collect();
        assert!(missing.is_empty(), "accepted orders are missing: {missing:?}\n{}", server.log_tail());
        let pending: Vec<(&String, &Value)> = all
            .iter()
            .filter(|(_, o)| !TERMINAL.contains(&o["status"].as_str().unwrap_or_default()))
            .map(|(id, o)| (id, &o["status"]))
            .collect();
        if pending.is_empty() {
            return all;
        }
        assert!(
            Instant::now() < deadline,
            "{} orders are not terminal after {SETTLE_TIMEOUT:?}, e.g. {:?}\nlog:\n{}",
            pending.len(),
            &pending[..pending.len().min(5)],
            server.log_tail()
        );
        thread::sleep(Duration::from_millis(250));
    }
}

// ------------------------------------------------------------------------------------------------
// Clients that keep submitting while the server (or its store) comes and goes
// ------------------------------------------------------------------------------------------------

/// `total` orders submitted by `threads` clients, each with an `Idempotency-Key`, retried until
/// accepted (refusals and connection errors while the server or its store is down are not
/// acceptances).
struct Load {
    total: usize,
    /// The server's base URL; `None` while it is down.
    base: RwLock<Option<String>>,
    next: AtomicUsize,
    /// Accepted orders: id → the answer (201 created, or 200 replayed: stored before a crash that
    /// lost the first answer).
    accepted: Mutex<BTreeMap<String, u16>>,
    /// Requests not accepted: connection errors and 5xx answers.
    refused: AtomicUsize,
    /// Of those, 503 answers (the store unavailable).
    unavailable: AtomicUsize,
    seed: u64,
}

impl Load {
    fn new(total: usize, seed: u64) -> Arc<Load> {
        Arc::new(Load {
            total,
            base: RwLock::new(None),
            next: AtomicUsize::new(0),
            accepted: Mutex::new(BTreeMap::new()),
            refused: AtomicUsize::new(0),
            unavailable: AtomicUsize::new(0),
            seed,
        })
    }

    fn set_base(&self, base: Option<&str>) {
        *self.base.write().expect("base") = base.map(str::to_owned);
    }

    fn accepted(&self) -> usize {
        self.accepted.lock().expect("accepted").len()
    }

    /// The `i`-th order: one unit of product-1, every 7th with a card the mock provider declines.
    fn body(i: usize) -> Value {
        one_unit(&format!("cust-{i}"), if i.is_multiple_of(7) { "declined_card" } else { "credit_card" })
    }

    /// Starts the clients.
    fn spawn(self: &Arc<Load>, threads: usize) -> Vec<thread::JoinHandle<()>> {
        (0..threads)
            .map(|_| {
                let load = self.clone();
                thread::spawn(move || load.client())
            })
            .collect()
    }

    fn client(&self) {
        let client = Client::builder().timeout(Duration::from_secs(10)).build().expect("the HTTP client builds");
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.total {
                return;
            }
            let body = Load::body(i).to_string();
            let key = format!("fault-{}-{i}", self.seed);
            let deadline = Instant::now() + SUBMIT_DEADLINE;
            loop {
                assert!(Instant::now() < deadline, "order {i} was not accepted within {SUBMIT_DEADLINE:?}");
                let base = self.base.read().expect("base").clone();
                let Some(base) = base else {
                    thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let sent = client
                    .post(format!("{base}/orders"))
                    .header("content-type", "application/json")
                    .header("idempotency-key", &key)
                    .body(body.clone())
                    .send();
                match sent {
                    Ok(response) if matches!(response.status().as_u16(), 200 | 201) => {
                        let status = response.status().as_u16();
                        let reply: Value = response.json().expect("a JSON answer");
                        let id = reply["order_id"].as_str().expect("order_id").to_owned();
                        self.accepted.lock().expect("accepted").insert(id, status);
                        break;
                    }
                    Ok(response) if response.status().is_server_error() => {
                        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
                            self.unavailable.fetch_add(1, Ordering::Relaxed);
                        }
                        self.refused.fetch_add(1, Ordering::Relaxed);
                        thread::sleep(Duration::from_millis(50));
                    }
                    Ok(response) => {
                        let status = response.status();
                        panic!("order {i}: unexpected {status}: {}", response.text().unwrap_or_default());
                    }
                    Err(_) => {
                        self.refused.fetch_add(1, Ordering::Relaxed);
                        thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        }
    }
}

fn join(clients: Vec<thread::JoinHandle<()>>) {
    for client in clients {
        if let Err(panic) = client.join() {
            std::panic::resume_unwind(panic);
        }
    }
}

/// Runs `check` on every id with 8 threads.
fn for_each_order(ids: Vec<String>, check: impl Fn(&str) + Send + Sync + 'static) {
    let queue = Arc::new(Mutex::new(ids));
    let check = Arc::new(check);
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (queue, check) = (queue.clone(), check.clone());
            thread::spawn(move || {
                loop {
                    let Some(id) = queue.lock().expect("queue").pop() else { return };
                    check(&id);
                }
            })
        })
        .collect();
    join(workers);
}

/// After the faults: every logical order stored exactly once, every accepted one (and every stored
/// one) terminal; COMPLETED orders charged exactly once, CANCELLED ones (declined cards) charged
/// never; ledger entries = completed orders; stock = initial − completed, nothing reserved.
/// Returns `(completed, cancelled)`.
fn check_consistency(server: &Arc<DevServer>, load: &Load, initial_stock: u64) -> (u64, u64) {
    let accepted = load.accepted.lock().expect("accepted").clone();
    assert_eq!(accepted.len(), load.total, "every order was accepted once (retries were replayed, not duplicated)");
    let ids: BTreeSet<String> = accepted.keys().cloned().collect();
    let all = wait_all_terminal(server, &ids);
    let strays: Vec<&String> = all.keys().filter(|id| !ids.contains(*id)).collect();
    assert!(strays.is_empty(), "orders stored without being accepted (duplicates of a retried request?): {strays:?}");

    let completed = Arc::new(AtomicUsize::new(0));
    let cancelled = Arc::new(AtomicUsize::new(0));
    {
        let (server, completed, cancelled) = (server.clone(), completed.clone(), cancelled.clone());
        for_each_order(ids.into_iter().collect(), move |id| {
            let order = server.order(id);
            let kept_charge = order.get("charge").is_some_and(|c| c["refunded"] == false);
            let charges = order["history"].as_array().expect("history").iter();
            let succeeded = charges.filter(|h| h["step"] == "charge-payment" && h["outcome"] == "succeeded").count();
            match order["status"].as_str() {
                Some("COMPLETED") => {
                    completed.fetch_add(1, Ordering::Relaxed);
                    assert!(kept_charge, "a COMPLETED order without a charge: {order:#}");
                    assert_eq!(succeeded, 1, "charged {succeeded} times: {order:#}");
                }
                Some("CANCELLED") => {
                    cancelled.fetch_add(1, Ordering::Relaxed);
                    assert!(!kept_charge && succeeded == 0, "a CANCELLED order was charged: {order:#}");
                    assert_eq!(order["failure"]["code"], "CARD_DECLINED", "{order:#}");
                    assert_eq!(order["payment_method"], "declined_card", "{order:#}");
                }
                other => panic!("unexpected status {other:?}: {order:#}"),
            }
        });
    }
    let completed = completed.load(Ordering::Relaxed) as u64;
    let cancelled = cancelled.load(Ordering::Relaxed) as u64;
    assert_eq!(completed + cancelled, load.total as u64);
    assert_eq!(cancelled, load.total.div_ceil(7) as u64, "exactly the declined cards are cancelled");
    assert_eq!(server.charges(), completed, "ledger entries ≠ completed orders");
    assert_eq!(server.stock("product-1"), (initial_stock - completed, 0), "stock ≠ initial − completed");
    (completed, cancelled)
}

// ------------------------------------------------------------------------------------------------
// 1–2. SIGKILL at random moments, restarted each time
// ------------------------------------------------------------------------------------------------

/// Submits `total` orders from `threads` clients while killing the server `kills` times at random
/// moments (the last one after every order was accepted, while the backlog is processed),
/// restarting it each time, then checks the outcome.
fn sigkill_run(test: &str, pipeline: &Path, data: &Path, args: &[&str], total: usize, threads: usize, kills: usize) {
    let seed = seed(test);
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    // Kill k (but the last) once this many orders are accepted, plus 0–150 ms.
    let mut thresholds: Vec<usize> = (1..kills).map(|_| rng.random_range(total / 10..total * 9 / 10)).collect();
    thresholds.sort_unstable();
    let load = Load::new(total, seed);
    let mut server = start(pipeline, data, args, START_TIMEOUT);
    load.set_base(Some(&server.base));
    let clients = load.spawn(threads);
    let mut pending_at_restart = Vec::new();
    for kill in 0..kills {
        match thresholds.get(kill) {
            Some(&threshold) => {
                while load.accepted() < threshold && !clients.iter().all(|c| c.is_finished()) {
                    thread::sleep(Duration::from_millis(2));
                }
            }
            None => {
                while !clients.iter().all(|c| c.is_finished()) {
                    thread::sleep(Duration::from_millis(2));
                }
            }
        }
        thread::sleep(Duration::from_millis(rng.random_range(0..150)));
        let accepted = load.accepted();
        server.kill();
        load.set_base(None);
        let restart = Instant::now();
        server = start(pipeline, data, args, START_TIMEOUT);
        let restart_ms = restart.elapsed().as_millis();
        let pending = pending(&server);
        load.set_base(Some(&server.base));
        eprintln!(
            "[{test}] kill {}: SIGKILL at {accepted}/{total} accepted ({:.1} s into the run); restarted in {restart_ms} ms with {pending} orders not terminal",
            kill + 1,
            started.elapsed().as_secs_f64()
        );
        pending_at_restart.push(pending);
    }
    join(clients);
    let submitted = started.elapsed();
    let server = Arc::new(server);
    let (completed, cancelled) = check_consistency(&server, &load, 100_000);
    let replayed = load.accepted.lock().expect("accepted").values().filter(|s| **s == 200).count();
    eprintln!(
        "[{test}] {total} orders, {kills} SIGKILLs, not terminal at each restart {pending_at_restart:?}; {} requests refused while down, {replayed} retries replayed (200: stored before the kill); {completed} COMPLETED, {cancelled} CANCELLED (declined cards); all accepted after {:.1} s, all checked after {:.1} s",
        load.refused.load(Ordering::Relaxed),
        submitted.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn sigkill_at_random_moments_of_a_2000_order_run_loses_nothing() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("a temp dir");
    let pipeline = reference_pipeline(dir.path(), &[("product-1", 100_000)]);
    sigkill_run("embedded", &pipeline, &dir.path().join("data"), &[], 2_000, 8, 5);
}

#[test]
fn dynamodb_sigkill_at_random_moments_loses_nothing() {
    let _serial = serial();
    let Some(local) = DynamoDbLocal::shared() else { return };
    let dir = tempfile::tempdir().expect("a temp dir");
    let pipeline = reference_pipeline(dir.path(), &[("product-1", 100_000)]);
    let endpoint = local.endpoint_url();
    let args = ["--dynamodb-endpoint", endpoint.as_str(), "--table-prefix", "faults-kill-"];
    sigkill_run("dynamodb", &pipeline, &dir.path().join("data"), &args, 300, 8, 3);
    let dead = std::fs::read_to_string(dir.path().join("data/dead-letters.jsonl")).unwrap_or_default();
    assert!(dead.trim().is_empty(), "nothing is dead-lettered: {dead}");
}

// ------------------------------------------------------------------------------------------------
// 4. The store unreachable for a while
// ------------------------------------------------------------------------------------------------

#[test]
fn dynamodb_local_stopped_mid_run_then_restarted_loses_nothing() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("a temp dir");
    let Some(mut local) = DynamoDbLocal::start_persistent(&dir.path().join("dynamodb")) else { return };
    let seed = seed("outage");
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let total = 300;
    let pipeline = reference_pipeline(dir.path(), &[("product-1", 100_000)]);
    let data = dir.path().join("data");
    let endpoint = local.endpoint_url();
    let args = ["--dynamodb-endpoint", endpoint.as_str(), "--table-prefix", "faults-outage-"];
    let server = Arc::new(start(&pipeline, &data, &args, START_TIMEOUT));
    let load = Load::new(total, seed);
    load.set_base(Some(&server.base));
    let clients = load.spawn(8);

    // Stop the store once some orders are in, for 3–6 s.
    let at = rng.random_range(total / 5..total / 2);
    while load.accepted() < at {
        assert!(!clients.iter().all(|c| c.is_finished()), "the clients stopped early");
        thread::sleep(Duration::from_millis(2));
    }
    let outage = Duration::from_millis(rng.random_range(3_000..6_000));
    let (refused, unavailable) = (load.refused.load(Ordering::Relaxed), load.unavailable.load(Ordering::Relaxed));
    let accepted_before = load.accepted();
    local.stop();
    let down = Instant::now();
    // Meanwhile the API refuses to take orders: 503 (the store is unavailable), never a 500 or a hang.
    let (status, body) = server.get("/_orchgen/health");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    thread::sleep(outage.saturating_sub(down.elapsed()));
    let accepted_while_down = load.accepted() - accepted_before;
    let refused = load.refused.load(Ordering::Relaxed) - refused;
    let unavailable = load.unavailable.load(Ordering::Relaxed) - unavailable;
    local.restart();
    let restarted = down.elapsed();
    eprintln!(
        "[outage] DynamoDB Local stopped at {accepted_before}/{total} accepted for {:.1} s (back after {:.1} s); {refused} requests refused meanwhile ({unavailable} with 503), {accepted_while_down} accepted (answers in flight when it stopped)",
        outage.as_secs_f64(),
        restarted.as_secs_f64()
    );
    // Whether a client saw a 503 depends on timing (a request in flight may ride the outage out in
    // the SDK's retries and succeed): not asserted. The health check above is the API's answer.
    join(clients);
    let (completed, cancelled) = check_consistency(&server, &load, 100_000);
    let dead = std::fs::read_to_string(data.join("dead-letters.jsonl")).unwrap_or_default();
    assert!(dead.trim().is_empty(), "nothing is dead-lettered after the outage: {dead}");
    eprintln!(
        "[outage] {total} orders: {completed} COMPLETED, {cancelled} CANCELLED (declined cards), none lost or dead-lettered; {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
}

// ------------------------------------------------------------------------------------------------
// 3, 5. Steps that panic, always fail, or overrun their timeout
// ------------------------------------------------------------------------------------------------

/// The outcomes of `step`'s attempts in the order's history.
fn outcomes(order: &Value, step: &str) -> Vec<String> {
    let history = order["history"].as_array().expect("history");
    history.iter().filter(|h| h["step"] == step).map(|h| h["outcome"].as_str().unwrap_or_default().to_owned()).collect()
}

/// Orders through `tests/fixtures/faulty-steps/`: 12 ordinary ones and 3 for each faulty step.
/// The ordinary ones complete; the others are retried as the plan declares, then compensated
/// (charge refunded, stock released) and FAILED (faults, not refusals) with the step's failure code.
fn faulty_steps(test: &str, server: &DevServer) {
    let started = Instant::now();
    let mut ids: Vec<(String, String)> = Vec::new();
    for (prefix, n) in [("cust", 12), ("panic", 3), ("fail", 3), ("slow", 3)] {
        for i in 0..n {
            let customer = format!("{prefix}-{i}");
            let response = server
                .client
                .post(format!("{}/orders", server.base))
                .header("content-type", "application/json")
                .body(one_unit(&customer, "credit_card").to_string())
                .send()
                .expect("POST /orders");
            assert_eq!(response.status(), StatusCode::CREATED);
            let reply: Value = response.json().expect("JSON");
            ids.push((customer, reply["order_id"].as_str().expect("order_id").to_owned()));
        }
    }
    let mut completed = 0u64;
    let mut by_code: BTreeMap<String, usize> = BTreeMap::new();
    for (customer, id) in &ids {
        let order = server.wait_terminal(id);
        let charge = &order["charge"];
        if customer.starts_with("cust-") {
            assert_eq!(order["status"], "COMPLETED", "{order:#}\n{}", server.log_tail());
            for step in ["explode", "flaky", "slow"] {
                assert_eq!(order["outputs"][step], json!({ "attempt": 1 }), "{order:#}");
                assert_eq!(outcomes(&order, step), ["succeeded"], "{order:#}");
            }
            assert_eq!(charge["refunded"], false, "{order:#}");
            completed += 1;
            continue;
        }
        // (step, code, outcomes of its attempts as the plan declares them)
        let (step, code, attempts): (&str, &str, &[&str]) = match customer.split('-').next() {
            Some("panic") => ("explode", "PANIC", &["retried", "failed"]),
            Some("fail") => ("flaky", "CHAOS_UNAVAILABLE", &["retried", "retried", "failed"]),
            _ => ("slow", "TIMEOUT", &["retried", "failed"]),
        };
        assert_eq!(order["status"], "FAILED", "{order:#}\n{}", server.log_tail());
        assert_eq!(order["failure"]["kind"], "fault", "{order:#}");
        assert_eq!(order["failure"]["step"], step, "{order:#}");
        assert_eq!(order["failure"]["code"], code, "{order:#}");
        let message = order["failure"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(&format!("after {} attempts", attempts.len())), "{order:#}");
        assert_eq!(outcomes(&order, step), attempts, "{order:#}");
        // Compensated newest first: the charge refunded, then the stock released; nothing shipped.
        assert_eq!(outcomes(&order, "refund-payment"), ["compensated"], "{order:#}");
        assert_eq!(outcomes(&order, "release-inventory"), ["compensated"], "{order:#}");
        assert_eq!(charge["refunded"], true, "no charge is kept: {order:#}");
        assert!(order.get("shipment").is_none() && outcomes(&order, "fulfil").is_empty(), "{order:#}");
        match code {
            "PANIC" => assert!(message.contains("the handler panicked: chaos: explode refuses customer"), "{order:#}"),
            "TIMEOUT" => {
                let history = order["history"].as_array().expect("history");
                for attempt in history.iter().filter(|h| h["step"] == "slow") {
                    let ms = attempt["duration_ms"].as_u64().expect("duration_ms");
                    assert!((300..1_500).contains(&ms), "a timed-out attempt lasts its 300 ms limit: {attempt}");
                }
            }
            _ => {}
        }
        *by_code.entry(code.to_owned()).or_default() += 1;
    }
    assert_eq!(by_code.values().sum::<usize>(), 9, "{by_code:?}");
    // Every order was charged once; the cancelled ones were refunded. The stock of the cancelled
    // ones is back.
    assert_eq!(server.charges(), ids.len() as u64, "one ledger entry per charged order");
    assert_eq!(server.stock("product-1"), (1_000 - completed, 0));
    eprintln!(
        "[{test}] {} orders: {completed} COMPLETED, CANCELLED by code {by_code:?}, settled in {:.1} s",
        ids.len(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn steps_that_panic_fail_or_time_out_are_compensated_and_a_corrupt_record_is_dead_lettered() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("a temp dir");
    let data = dir.path().join("data");
    let server = start(&faulty_pipeline(), &data, &[], HOST_START_TIMEOUT);
    faulty_steps("faulty-steps", &server);
    // The panic is caught as a failed attempt; the server stays up and its log shows the panic.
    let log = server.log_all();
    assert!(log.contains("chaos: explode refuses customer panic-0"), "{}", server.log_tail());
    let (status, _) = server.get("/_orchgen/health");
    assert_eq!(status, StatusCode::OK);

    // A record the processor cannot handle: an order whose stored body is not an order, with a
    // change record whose image is not one either (written into the embedded store behind the
    // API's back). The feed reads past the damaged row; the record fails on every delivery.
    server.kill();
    {
        let db = rusqlite::Connection::open(data.join("orchgen.db")).expect("the embedded store opens");
        db.execute(
            "INSERT INTO orders (order_id, status, created_at, version, body) VALUES ('corrupt-1', 'RECEIVED', '2026-01-01T00:00:00Z', 1, '{ not an order')",
            [],
        )
        .expect("the corrupt order is written");
        db.execute(
            "INSERT INTO changes (order_id, kind, new_image) VALUES ('corrupt-1', 'INSERT', '{ not an order either')",
            [],
        )
        .expect("its change record is written");
    }
    let server = start(&faulty_pipeline(), &data, &[], HOST_START_TIMEOUT);
    // It does not hold the others up…
    let response = server
        .client
        .post(format!("{}/orders", server.base))
        .header("content-type", "application/json")
        .body(one_unit("cust-after", "credit_card").to_string())
        .send()
        .expect("POST /orders");
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = response.json::<Value>().expect("JSON")["order_id"].as_str().expect("order_id").to_owned();
    assert_eq!(server.wait_terminal(&id)["status"], "COMPLETED");
    // …and after the stream's declared retries (`max_retries: 2`: 3 deliveries) it is in the
    // dead-letter file.
    let letters = wait_dead_letters(&data, &server);
    assert_eq!(letters.len(), 1, "only the corrupt record: {letters:?}");
    // The dead-letter file's shape is the SQS on-failure message (`orchgen_runtime::dead_letter`).
    let letter = &letters[0];
    assert_eq!(letter["requestContext"]["condition"], "RetryAttemptsExhausted", "{letter:#}");
    assert_eq!(letter["requestContext"]["approximateInvokeCount"], 3, "{letter:#}");
    assert_eq!(letter["orderIds"], json!(["corrupt-1"]), "{letter:#}");
    let reason = letter["requestContext"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("an order cannot be read"), "{letter:#}");
    eprintln!("[faulty-steps] the corrupt record was dead-lettered after 3 deliveries: {reason}");

    // `orchgen redrive --local` (in the dev host, with the custom steps): the letter stays while
    // the order is damaged; once the user deleted it, the letter is handled and leaves the file.
    let (code, out) = redrive_local(&faulty_pipeline(), &data, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("1 kept") && out.contains("failed again") && out.contains("an order cannot be read"), "{out}");
    let db = rusqlite::Connection::open(data.join("orchgen.db")).expect("the embedded store opens");
    db.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
    db.execute("DELETE FROM orders WHERE order_id = 'corrupt-1'", []).expect("the damaged order is deleted");
    let (code, out) = redrive_local(&faulty_pipeline(), &data, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("1 handled and removed, 0 kept") && out.contains("corrupt-1: no such order any more"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(data.join("dead-letters.jsonl")).expect("the file"), "");
}

/// `orchgen redrive PIPELINE --local --data-dir DATA ARGS…` (the binary): its exit code, and its
/// stdout and stderr.
fn redrive_local(pipeline: &Path, data: &Path, args: &[&str]) -> (i32, String) {
    let output = std::process::Command::new(crate::orchgen_bin())
        .arg("redrive")
        .arg(pipeline)
        .arg("--local")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .expect("orchgen redrive runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), text)
}

/// Waits (60 s at most) until `<data>/dead-letters.jsonl` has a line; returns its lines.
fn wait_dead_letters(data: &Path, server: &DevServer) -> Vec<Value> {
    let file = data.join("dead-letters.jsonl");
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if !text.trim().is_empty() {
            break text;
        }
        assert!(Instant::now() < deadline, "nothing reached {} in 60 s\n{}", file.display(), server.log_tail());
        thread::sleep(Duration::from_millis(100));
    };
    text.lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect()
}

#[test]
fn dynamodb_faulty_steps_compensate_and_an_undecodable_record_is_dead_lettered() {
    let _serial = serial();
    let Some(local) = DynamoDbLocal::shared() else { return };
    let dir = tempfile::tempdir().expect("a temp dir");
    let data = dir.path().join("data");
    let endpoint = local.endpoint_url();
    let args = ["--dynamodb-endpoint", endpoint.as_str(), "--table-prefix", "faults-steps-"];
    let server = start(&faulty_pipeline(), &data, &args, HOST_START_TIMEOUT);

    // A record the processor cannot handle: an orders item whose `order` is not an order (written
    // behind the API's back). Its stream record fails to decode on every delivery.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let client = orchgen_runtime::store::dynamodb::client_for_endpoint(&endpoint);
    let put = client
        .put_item()
        .table_name("faults-steps-faulty-shop-orders")
        .item("order_id", aws_sdk_dynamodb::types::AttributeValue::S("corrupt-1".into()))
        .item("version", aws_sdk_dynamodb::types::AttributeValue::N("1".into()))
        .item("order", aws_sdk_dynamodb::types::AttributeValue::S("{ not an order".into()))
        .send();
    runtime.block_on(put).expect("the corrupt item is written");

    // The other orders are not held up by it.
    faulty_steps("dynamodb faulty-steps", &server);

    // After the stream's declared retries (`max_retries: 2`: 3 deliveries), alone in its batch
    // (bisected), it is in the dead-letter file.
    let letters = wait_dead_letters(&data, &server);
    assert_eq!(letters.len(), 1, "only the undecodable record: {letters:?}");
    let letter = &letters[0];
    assert_eq!(letter["requestContext"]["condition"], "RetryAttemptsExhausted", "{letter:#}");
    assert_eq!(letter["requestContext"]["approximateInvokeCount"], 3, "{letter:#}");
    let reason = letter["requestContext"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("not a valid order"), "{letter:#}");
    assert_eq!(letter["DDBStreamBatchInfo"]["batchSize"], 1, "{letter:#}");
    eprintln!("[dynamodb faulty-steps] dead-lettered after 3 deliveries: {reason}");
    assert_eq!(letter["orderIds"], json!(["corrupt-1"]), "{letter:#}");

    // `orchgen redrive --local` on the same tables: the letter stays while the item is damaged;
    // once the user deleted it, the letter is handled.
    let on_tables = ["--dynamodb-endpoint", endpoint.as_str(), "--table-prefix", "faults-steps-"];
    let (code, out) = redrive_local(&faulty_pipeline(), &data, &on_tables);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("1 kept") && out.contains("failed again"), "{out}");
    let delete = client
        .delete_item()
        .table_name("faults-steps-faulty-shop-orders")
        .key("order_id", aws_sdk_dynamodb::types::AttributeValue::S("corrupt-1".into()))
        .send();
    runtime.block_on(delete).expect("the damaged item is deleted");
    let (code, out) = redrive_local(&faulty_pipeline(), &data, &on_tables);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("corrupt-1: no such order any more"), "{out}");
    assert_eq!(std::fs::read_to_string(data.join("dead-letters.jsonl")).expect("the file"), "");
}
