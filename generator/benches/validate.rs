//! How long `orchgen validate` takes per pipeline: load + schema + semantics + resolve, through
//! [`orchgen_generator::check_source`], for the committed `pipelines/orders.yaml` and for a generated 500-step
//! pipeline; with, as a baseline in the same run, `serde_json::from_str` of the same pipelines' JSON
//! form (into a `serde_json::Value` and into the typed `Spec`), so that validate/parse ratios print.
//!
//! A plain program (`harness = false`) on std's `Instant`; it prints figures and asserts nothing about
//! time. Run it with `cargo bench -p orchgen --bench validate`; `ORCHGEN_BENCH_SCALE=0.1` runs a tenth
//! of the iterations. Results are recorded in BENCHMARKS.md.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use orchgen_generator::source::SourceFile;
use orchgen_generator::spec::Spec;

/// Summary of one measured operation.
struct Stats {
    mean: Duration,
    p50: Duration,
    p99: Duration,
    per_second: f64,
}

/// Runs `op` `warmup` times unmeasured, then `iterations` times, each timed on its own.
fn measure(warmup: usize, iterations: usize, mut op: impl FnMut()) -> Stats {
    for _ in 0..warmup {
        op();
    }
    let mut times = Vec::with_capacity(iterations);
    let total = Instant::now();
    for _ in 0..iterations {
        let start = Instant::now();
        op();
        times.push(start.elapsed());
    }
    let total = total.elapsed();
    times.sort_unstable();
    let at = |q: f64| times[((q * iterations as f64).ceil() as usize).clamp(1, iterations) - 1];
    let mean = times.iter().sum::<Duration>() / iterations as u32;
    Stats { mean, p50: at(0.50), p99: at(0.99), per_second: iterations as f64 / total.as_secs_f64() }
}

fn fmt_duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 10_000.0 { format!("{:.2} ms", us / 1000.0) } else { format!("{us:.1} µs") }
}

fn row(what: &str, s: &Stats) -> String {
    format!(
        "  {what:<38} mean {:>10}  p50 {:>10}  p99 {:>10}  {:>10.0} /s",
        fmt_duration(s.mean),
        fmt_duration(s.p50),
        fmt_duration(s.p99),
        s.per_second
    )
}

/// Validates `yaml` (which must be a valid pipeline) and its JSON form, and prints the figures.
fn bench(title: &str, file_name: &str, yaml: &str, iterations: usize) {
    // The pipeline must be valid, or the benchmark would time the error path.
    let checked = orchgen_generator::check_source(SourceFile::new(file_name, yaml));
    assert!(
        !checked.report.has_errors() && checked.plan.is_some(),
        "{title} must be a valid pipeline:\n{}",
        checked.report.render(120)
    );
    let warnings = checked.report.diagnostics().len();
    let root = orchgen_generator::yaml::load(&SourceFile::new(file_name, yaml)).root.expect("a valid pipeline loads");
    let json = serde_json::to_string(&root.to_json()).expect("JSON serialises");
    serde_json::from_str::<Spec>(&json).expect("the JSON form is a Spec");

    let warmup = (iterations / 10).max(3);
    // The SourceFile is built inside the timed closure (a copy of the text, as `orchgen validate` reads
    // a file); that copy is well under 1% of a validation.
    let validate = measure(warmup, iterations, || {
        let checked = orchgen_generator::check_source(SourceFile::new(file_name, black_box(yaml)));
        black_box(checked.plan);
    });
    let parse_value = measure(warmup, iterations, || {
        black_box(serde_json::from_str::<serde_json::Value>(black_box(&json)).unwrap());
    });
    let parse_spec = measure(warmup, iterations, || {
        black_box(serde_json::from_str::<Spec>(black_box(&json)).unwrap());
    });

    let mut out = String::new();
    let _ = writeln!(
        out,
        "{title}: {} bytes of YAML, {} bytes of JSON, {} steps, {warnings} warnings; {iterations} iterations",
        yaml.len(),
        json.len(),
        checked.spec.as_ref().map_or(0, |s| s.steps.len())
    );
    let _ = writeln!(out, "{}", row("validate (check_source)", &validate));
    let _ = writeln!(out, "{}", row("serde_json::from_str::<Value> (JSON)", &parse_value));
    let _ = writeln!(out, "{}", row("serde_json::from_str::<Spec> (JSON)", &parse_spec));
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let _ = writeln!(
        out,
        "  validate / parse Value: {:.1}x (means), {:.1}x (p50s); validate / parse Spec: {:.1}x (means), {:.1}x (p50s)",
        ratio(validate.mean, parse_value.mean),
        ratio(validate.p50, parse_value.p50),
        ratio(validate.mean, parse_spec.mean),
        ratio(validate.p50, parse_spec.p50),
    );
    println!("{out}");
}

/// A valid pipeline of `n` steps of every kind, chained with explicit `next`, each effectful step
/// compensated by its own compensation.
fn generated_pipeline(n: usize) -> String {
    let mut steps = String::new();
    let mut comps = String::new();
    let kinds = ["reserve_inventory", "charge_payment", "fulfil", "notify", "custom", "http"];
    for i in 0..n {
        let kind = if i == 0 { "validate" } else { kinds[(i - 1) % kinds.len()] };
        let name = format!("s{i:03}-{}", kind.replace('_', "-"));
        let next = if i + 1 == n {
            "end".to_owned()
        } else {
            let k = kinds[i % kinds.len()];
            format!("s{:03}-{}", i + 1, k.replace('_', "-"))
        };
        let _ = writeln!(steps, "  - name: {name}\n    kind: {kind}\n    status: S{i:03}_DONE\n    next: {next}");
        match kind {
            "validate" => steps.push_str("    rules: { min_items: 1, max_items: 50, allowed_countries: [US, CA] }\n"),
            "reserve_inventory" => {
                let _ = writeln!(steps, "    compensate: release-{i:03}");
                let _ = writeln!(comps, "  - {{ name: release-{i:03}, kind: release_inventory }}");
            }
            "charge_payment" => {
                let _ = writeln!(
                    steps,
                    "    compensate: refund-{i:03}\n    timeout: 15s\n    memory: 512\n    decline:\n      - {{ amount_above: 5000, reason: AMOUNT_LIMIT_EXCEEDED }}"
                );
                let _ = writeln!(comps, "  - {{ name: refund-{i:03}, kind: refund_payment }}");
            }
            "fulfil" => steps.push_str("    carrier: mock-carrier\n    tracking_prefix: TRK\n"),
            "notify" => steps.push_str(
                "    channel: mock\n    subject: \"Order {order_id}\"\n    on_failure: continue\n    retry: { max_attempts: 5, backoff: 1s }\n",
            ),
            "custom" => {
                let _ = writeln!(steps, "    handler: {{ function: step_{i:03}::run }}\n    compensate: undo-{i:03}");
                let _ = writeln!(comps, "  - name: undo-{i:03}\n    kind: custom\n    handler: {{ function: step_{i:03}::undo }}");
            }
            "http" => {
                let _ = writeln!(
                    steps,
                    "    url: https://svc{i:03}.example.com/check\n    method: PUT\n    compensate: cancel-{i:03}"
                );
                let _ = writeln!(
                    comps,
                    "  - {{ name: cancel-{i:03}, kind: http, url: \"https://svc{i:03}.example.com/cancel\" }}"
                );
            }
            _ => unreachable!(),
        }
    }
    format!(
        "name: big\ndescription: A generated pipeline of {n} steps.\n\ndefaults:\n  retry: {{ max_attempts: 3, backoff: 200ms, max_backoff: 5s, jitter: full }}\n  timeout: 10s\n  memory: 256\n  on_failure: compensate\n\nsteps:\n{steps}\ncompensations:\n{comps}"
    )
}

fn main() {
    // `cargo bench` passes `--bench`; with harness = false the arguments are ours to ignore.
    let scale: f64 = std::env::var("ORCHGEN_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let iterations = |n: usize| ((n as f64 * scale) as usize).max(10);
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    println!(
        "orchgen validate benchmark — {} {}, {cpus} CPUs available ({cpu_model}), profile {}\n",
        std::env::consts::OS,
        std::env::consts::ARCH,
        if cfg!(debug_assertions) { "debug" } else { "optimised" }
    );

    let load =
        || std::fs::read_to_string("/proc/loadavg").ok().map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" "));
    if let Some(load) = load() {
        println!("load average before: {load}\n");
    }

    let orders_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../pipelines/orders.yaml");
    let orders = std::fs::read_to_string(orders_path).unwrap_or_else(|e| panic!("cannot read {orders_path}: {e}"));
    bench("pipelines/orders.yaml", "pipelines/orders.yaml", &orders, iterations(5_000));

    let big = generated_pipeline(500);
    bench("generated 500-step pipeline", "big.yaml", &big, iterations(200));

    if let Some(load) = load() {
        println!("load average after: {load} (figures from a busy machine are noisier, p50 the least)");
    }
}
