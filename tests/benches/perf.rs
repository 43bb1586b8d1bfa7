//! The performance figures of `orchgen dev` on the embedded store side by side, each with its
//! baseline from the same run and the ratio (the issue "Performance at the machine's limit").
//!
//! ```text
//! scripts/bench-perf            # installs wrk and hey when missing, then runs this
//! cargo bench -p orchgen-tests --bench perf [-- --seconds S --memory-minutes M]
//! ```
//!
//! 1. the store's ceiling: raw SQLite through rusqlite (not orchgen's store) — two-statement
//!    transactions, one per commit and grouped by 64 (WAL, `synchronous = NORMAL`);
//! 2. the HTTP layer alone: `GET /_orchgen/health` under wrk (16 connections);
//! 3. throughput: wrk posting the seed order (16 connections, S seconds), then the time until every
//!    order is terminal: orders/s end to end, against the SQLite ceiling ÷ the writes per order;
//! 4. POST latency: p99 under wrk at saturation, and at a steady 1,000/s (hey, 10 workers × 100/s);
//! 5. idle latency: one order at a time, submit → terminal by the order's own clock; the database
//!    file's size per order after the load (orders kept, change records pruned);
//! 6. `orchgen build` of a generated 500-step pipeline as a process (median of 10);
//! 7. with `--memory-minutes M`: resident memory at a steady 1,000 orders/s, sampled every 10 s.
//!
//! Figures only, no assertion on time: the machine is shared and the load generator runs on the
//! same CPUs as the server.

use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use orchgen_tests::dev_server::{Dev, DevServer, wait_terminal};
use orchgen_tests::fixtures::SAMPLE_ORDER_JSON;
use orchgen_tests::load::{arg, hey, release_binary, tool, wrk};
use serde_json::Value;

/// The longest wait for one order of the idle part to be terminal.
const IDLE_SETTLE: Duration = Duration::from_secs(30);

/// The release `orchgen dev` on `pipeline`, logging warnings only (echoed on stderr).
fn start(bin: &Path, pipeline: &Path, data: &Path) -> DevServer {
    Dev::new(bin, pipeline, data).args(["--log-level", "warn"]).on_log_line(|line| eprintln!("{line}")).start()
}

/// GET `path`, as JSON.
fn get(server: &DevServer, path: &str) -> Value {
    server.get(path).1
}

/// Orders created and finished since the server started (its live stats).
fn counts(server: &DevServer) -> (u64, u64) {
    let live = &get(server, "/_orchgen/status")["live"]["orders"];
    let n = |k: &str| live[k].as_u64().unwrap_or(0);
    (n("created"), n("completed") + n("rejected") + n("failed") + n("cancelled"))
}

fn rss_kib(server: &DevServer) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Two-statement transactions per second on a WAL database with `synchronous = NORMAL`, `group`
/// per commit, for `seconds`.
fn sqlite_rate(dir: &Path, group: usize, seconds: f64) -> f64 {
    let path = dir.join(format!("raw-{group}.db"));
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL").expect("WAL");
    conn.pragma_update(None, "synchronous", "NORMAL").expect("synchronous");
    // The shape of orchgen's own tables: the order with its status index, and the change feed.
    conn.execute_batch(
        "CREATE TABLE orders (id TEXT PRIMARY KEY, status TEXT, created_at TEXT, version INTEGER, body TEXT);
         CREATE INDEX by_status ON orders (status, created_at);
         CREATE TABLE changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT, version INTEGER, body TEXT);",
    )
    .expect("schema");
    // About an order as stored (≈ 1 KB with its history).
    let body = SAMPLE_ORDER_JSON.repeat(3);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        conn.execute_batch("BEGIN").expect("begin");
        for _ in 0..group {
            let id = format!("{n:020}");
            conn.prepare_cached(
                "INSERT INTO orders (id, status, created_at, version, body) VALUES (?1, 'RECEIVED', '2026-12-07T00:00:00.000Z', 1, ?2)",
            )
            .and_then(|mut s| s.execute(rusqlite::params![id, body]))
            .expect("insert");
            conn.prepare_cached("INSERT INTO changes (id, version, body) VALUES (?1, 1, ?2)")
                .and_then(|mut s| s.execute(rusqlite::params![id, body]))
                .expect("insert");
            n += 1;
        }
        conn.execute_batch("COMMIT").expect("commit");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let seconds = arg("--seconds", 10);
    let memory_minutes = arg("--memory-minutes", 0);
    let (Some(wrk_bin), hey_bin) = (tool("wrk"), tool("hey")) else {
        eprintln!("wrk is not installed: run scripts/bench-perf (it installs wrk and hey with apt-get)");
        std::process::exit(2);
    };
    let bin = release_binary();
    let dir = tempfile::tempdir().expect("temp dir");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "orchgen performance — {} CPUs, load average {}, load generator on the same CPUs",
        thread::available_parallelism().map_or(1, |n| n.get()),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );

    // 1. The store's ceiling.
    let single = sqlite_rate(dir.path(), 1, 3.0);
    let grouped = sqlite_rate(dir.path(), 64, 3.0);
    println!("raw SQLite (rusqlite)       {single:>9.0} tx/s one per commit   {grouped:>9.0} tx/s grouped by 64");

    // 2–4. HTTP, throughput and latency under load.
    let pipeline = orchgen_tests::fixtures::stocked_reference_pipeline(dir.path());
    let server = start(&bin, &pipeline, &dir.path().join("data"));
    let health_run = wrk(&wrk_bin, &format!("{}/_orchgen/health", server.base), 16, 5, false);
    let (health, health_p99) = (health_run.rate, health_run.p99_ms);
    println!("GET /_orchgen/health (wrk)  {health:>9.0} req/s   p99 {health_p99:>7.2} ms   (the HTTP layer alone)");
    let started = Instant::now();
    let post_run = wrk(&wrk_bin, &format!("{}/orders", server.base), 16, seconds, true);
    let (posts, post_p99) = (post_run.rate, post_run.p99_ms);
    let deadline = Instant::now() + Duration::from_secs(300);
    let (created, finished) = loop {
        let (created, finished) = counts(&server);
        if finished >= created || Instant::now() > deadline {
            break (created, finished);
        }
        thread::sleep(Duration::from_millis(50));
    };
    let all_done = started.elapsed().as_secs_f64();
    let rate = finished as f64 / all_done;
    let listed = get(&server, "/orders?status=COMPLETED&limit=1");
    let sample = get(&server, &format!("/orders/{}", listed["orders"][0]["order_id"].as_str().expect("an order")));
    // One store write per version.
    let writes_per_order = sample["version"].as_u64().expect("version") as f64;
    let ceiling = grouped / writes_per_order;
    println!("POST /orders (wrk, 16 conn) {posts:>9.0} req/s   p99 {post_p99:>7.2} ms   at saturation");
    println!(
        "orders end to end           {rate:>9.0} orders/s   {finished}/{created} terminal {all_done:.1} s after the load began"
    );
    println!(
        "  against the store ceiling {ceiling:>9.0} orders/s   (grouped SQLite {grouped:.0} ÷ {writes_per_order} writes per order): {:.0} %",
        100.0 * rate / ceiling
    );
    println!("  against the HTTP layer    POST {:.0} % of GET /_orchgen/health", 100.0 * posts / health);
    // The file's growth: what is left once the orders are terminal and the writer pruned the change
    // records the processor is done with (after a commit, at most every 100 ms, keeping 10,000).
    thread::sleep(Duration::from_millis(1500));
    let size = |name: &str| std::fs::metadata(dir.path().join("data").join(name)).map_or(0, |m| m.len());
    let (db, wal) = (size("orchgen.db"), size("orchgen.db-wal"));
    println!(
        "database file               {:>9.0} B per order   ({:.1} MB + {:.1} MB WAL for {created} orders; consumed change records pruned)",
        (db + wal) as f64 / created.max(1) as f64,
        db as f64 / 1e6,
        wal as f64 / 1e6
    );
    match &hey_bin {
        Some(hey_bin) => {
            let (steady, p50, p99) = hey(hey_bin, &format!("{}/orders", server.base), 1000, 10, seconds);
            println!("POST /orders at 1,000/s     {steady:>9.0} req/s   p50 {p50:>7.2} ms   p99 {p99:>7.2} ms (hey)");
        }
        None => println!("POST /orders at 1,000/s     skipped: hey is not installed (scripts/bench-perf installs it)"),
    }

    // 5. Idle latency: one order at a time.
    let client = reqwest::blocking::Client::new();
    let mut idle = Vec::new();
    for _ in 0..50 {
        thread::sleep(Duration::from_millis(100));
        let created: Value = client
            .post(format!("{}/orders", server.base))
            .header("content-type", "application/json")
            .body(SAMPLE_ORDER_JSON)
            .send()
            .and_then(|r| r.json())
            .expect("POST /orders");
        let id = created["order_id"].as_str().expect("order_id").to_owned();
        let fetch = || get(&server, &format!("/orders/{id}"));
        let order = wait_terminal(&id, IDLE_SETTLE, Duration::from_millis(1), fetch, || server.log_tail());
        let at = |k: &str| chrono::DateTime::parse_from_rfc3339(order[k].as_str().expect(k)).expect(k);
        idle.push((at("updated_at") - at("created_at")).as_seconds_f64() * 1000.0);
    }
    idle.sort_by(f64::total_cmp);
    println!(
        "idle submit → terminal      p50 {:>6.1} ms   p90 {:>6.1} ms   (the order's clock, ms resolution; the store wakes the processor on commit)",
        idle[idle.len() / 2],
        idle[idle.len() * 9 / 10]
    );

    // 7. Memory at a steady rate (opt-in: it takes minutes).
    if memory_minutes > 0 {
        match &hey_bin {
            Some(hey_bin) => {
                let url = format!("{}/orders", server.base);
                let mut samples = Vec::new();
                let end = Instant::now() + Duration::from_secs(memory_minutes * 60);
                while Instant::now() < end {
                    hey(hey_bin, &url, 1000, 10, 10);
                    samples.push(rss_kib(&server));
                }
                let after_first_minute = samples.get(5).copied().unwrap_or(samples[0]);
                let last = *samples.last().expect("samples");
                println!(
                    "resident memory at 1,000/s  {} MiB after 1 min, {} MiB after {memory_minutes} min: {:+.1} %",
                    after_first_minute / 1024,
                    last / 1024,
                    100.0 * (last as f64 - after_first_minute as f64) / after_first_minute as f64
                );
            }
            None => println!("resident memory             skipped: hey is not installed"),
        }
    }
    drop(server);

    // 6. orchgen build of 500 steps, as a process.
    let big = dir.path().join("big.yaml");
    std::fs::write(&big, orchgen_tests::fixtures::generated_pipeline(500)).expect("write the 500-step pipeline");
    let mut builds = Vec::new();
    for i in 0..10 {
        let out = dir.path().join(format!("build-{i}"));
        let start = Instant::now();
        let status = Command::new(&bin).arg("build").arg(&big).arg("--out").arg(&out).stdout(Stdio::null()).status();
        assert!(status.is_ok_and(|s| s.success()), "orchgen build of 500 steps");
        builds.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    builds.sort_by(f64::total_cmp);
    let start = Instant::now();
    let status = Command::new(&bin).arg("--version").stdout(Stdio::null()).status();
    assert!(status.is_ok_and(|s| s.success()));
    let bare = start.elapsed().as_secs_f64() * 1000.0;
    println!(
        "orchgen build, 500 steps    median {:>6.0} ms as a process (fresh output folder each time; `orchgen --version` {bare:.0} ms)",
        builds[5]
    );
}
