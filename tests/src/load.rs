//! What the load benchmarks (`tests/benches/perf.rs`, `tests/benches/dynamodb.rs`,
//! `tests/benches/dev_throughput.rs`) share: their arguments, the release `orchgen` they start (as
//! `orchgen dev` through [`crate::dev_server::Dev`], like every test), and the load generators they
//! drive it with (wrk and hey, from Debian; `scripts/bench-perf` installs them), posting the one
//! sample order. Benchmark support: it panics with a message when a tool misbehaves.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fixtures::SAMPLE_ORDER_JSON;

/// The number after `name` on the command line, else `default`.
pub fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number")))
        .unwrap_or(default)
}

/// An executable on the `PATH`.
pub fn tool(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

/// The machine's load average (1, 5, 15 minutes).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".into())
}

/// Builds the release `orchgen` and returns its path.
pub fn release_binary() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(crate::workspace_root())
        .args(["build", "--release", "-q", "-p", "orchgen", "--bin", "orchgen"])
        .status();
    assert!(status.is_ok_and(|s| s.success()), "cargo build --release -p orchgen failed");
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"))
        .join("release/orchgen")
}

/// wrk's summary.
#[derive(Debug, Clone, Copy)]
pub struct Wrk {
    /// Requests per second.
    pub rate: f64,
    /// Requests sent.
    pub requests: u64,
    /// Answers that were not 2xx or 3xx.
    pub errors: u64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
}

/// wrk with `connections` connections for `seconds`: GETs of `url`, or POSTs of the seed order
/// ([`SAMPLE_ORDER_JSON`]).
pub fn wrk(wrk: &Path, url: &str, connections: usize, seconds: u64, post: bool) -> Wrk {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("post.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.headers[\"content-type\"] = \"application/json\"\nwrk.body = '{SAMPLE_ORDER_JSON}'\n"
        ),
    )
    .expect("write the wrk script");
    let threads = connections.clamp(1, 2);
    let mut command = Command::new(wrk);
    command.args([format!("-t{threads}"), format!("-c{connections}"), "--latency".into(), format!("-d{seconds}s")]);
    if post {
        command.arg("-s").arg(&script);
    }
    let output = command.arg(url).output().expect("wrk runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let line = |prefix: &str| text.lines().find_map(|l| l.trim().strip_prefix(prefix).map(str::trim));
    let rate =
        line("Requests/sec:").and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("wrk printed no rate:\n{text}"));
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let errors = line("Non-2xx or 3xx responses:").and_then(|v| v.parse().ok()).unwrap_or(0);
    Wrk {
        rate,
        requests,
        errors,
        p50_ms: line("50%").map_or(f64::NAN, duration_ms),
        p99_ms: line("99%").map_or(f64::NAN, duration_ms),
    }
}

/// `1.23ms`, `456.00us`, `1.02s`, `1.5m` → milliseconds.
pub fn duration_ms(text: &str) -> f64 {
    let number = |suffix: &str| text.strip_suffix(suffix).and_then(|v| v.parse::<f64>().ok());
    number("us")
        .map(|v| v / 1000.0)
        .or_else(|| number("ms"))
        .or_else(|| number("s").map(|v| v * 1000.0))
        .or_else(|| number("m").map(|v| v * 60_000.0))
        .unwrap_or(f64::NAN)
}

/// hey posting the seed order ([`SAMPLE_ORDER_JSON`]) at `rate` requests/s for `seconds` with `workers` workers:
/// (requests/s, p50 ms, p99 ms).
pub fn hey(hey: &Path, url: &str, rate: u64, workers: u64, seconds: u64) -> (f64, f64, f64) {
    let per_worker = (rate as f64 / workers.max(1) as f64).max(1.0);
    let output = Command::new(hey)
        .args(["-z", &format!("{seconds}s"), "-c", &workers.to_string(), "-q", &format!("{per_worker}")])
        .args(["-m", "POST", "-T", "application/json", "-d", SAMPLE_ORDER_JSON, url])
        .output()
        .expect("hey runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let find = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (find("Requests/sec:"), find("50% in") * 1000.0, find("99% in") * 1000.0)
}
