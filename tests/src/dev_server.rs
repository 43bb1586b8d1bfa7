//! `orchgen dev` as a child process of a test: every test that starts it goes through [`Dev`].
//!
//! [`Dev::new`] is `orchgen dev <pipeline> --port 0 --data-dir <data_dir>` run by the `orchgen`
//! binary the caller names (the CLI tests pass `env!("CARGO_BIN_EXE_orchgen")`); add arguments, then
//! [`Dev::start`] it: ready once it prints `listening on http://127.0.0.1:PORT`, its stdout kept line
//! by line and its stderr (the JSON log) in a file. The [`DevServer`] it gives speaks the order API
//! over HTTP (submit, get, list, wait until terminal, stock) and is killed (SIGKILL), stopped
//! (SIGTERM) or, when dropped, killed. The load benchmarks start the release binary the same way,
//! with their own `--log-level` and, to count what the engine logs, [`Dev::on_log_line`].
//!
//! The command carries the environment a dev host build needs (a pipeline with custom steps is
//! compiled with cargo into `target/nested`, offline, with the suite's debug settings); a
//! pipeline without custom steps ignores it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::workspace_root;

/// The statuses an order never leaves.
pub const TERMINAL: [&str; 4] = ["COMPLETED", "REJECTED", "FAILED", "CANCELLED"];
/// Default longest wait for `listening on …` (no dev host to build).
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Default longest wait for an order to be terminal.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(45);
/// Longest wait for the server to exit after SIGTERM.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

/// What is called with each line of the server's log as it is written.
pub type LogWatcher = Box<dyn FnMut(&str) + Send>;

/// `orchgen dev` to start: the command, where its log goes and how long to wait.
pub struct Dev {
    command: Command,
    log: PathBuf,
    watcher: Option<LogWatcher>,
    start_timeout: Duration,
    settle_timeout: Duration,
}

impl Dev {
    /// `<bin> dev <pipeline> --port 0 --data-dir <data_dir>`, run from the workspace root with
    /// `RUST_LOG=info` and the dev host's build settings; the log in [`log_path`]`(data_dir)`.
    pub fn new(bin: &Path, pipeline: &Path, data_dir: &Path) -> Dev {
        let mut command = Command::new(bin);
        command
            .current_dir(workspace_root())
            .env("CARGO_TARGET_DIR", crate::nested_target())
            .env("CARGO_NET_OFFLINE", "true")
            .env("CARGO_INCREMENTAL", "0")
            .env("CARGO_PROFILE_DEV_DEBUG", "line-tables-only")
            .env("RUST_LOG", "info");
        Dev::with_command(command, pipeline, data_dir)
    }

    /// `command` (an `orchgen` command with its directory and environment set) followed by
    /// `dev <pipeline> --port 0 --data-dir <data_dir>`; the log in [`log_path`]`(data_dir)`.
    pub fn with_command(mut command: Command, pipeline: &Path, data_dir: &Path) -> Dev {
        command.arg("dev").arg(pipeline).args(["--port", "0", "--data-dir"]).arg(data_dir);
        Dev {
            command,
            log: log_path(data_dir),
            watcher: None,
            start_timeout: START_TIMEOUT,
            settle_timeout: SETTLE_TIMEOUT,
        }
    }

    /// An environment variable of the `orchgen dev` process (e.g. a secret an `http` step reads).
    pub fn env(mut self, key: &str, value: &str) -> Dev {
        self.command.env(key, value);
        self
    }

    /// More arguments for `orchgen dev`.
    pub fn args<I, S>(mut self, args: I) -> Dev
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.command.args(args);
        self
    }

    /// Where the server's stderr goes.
    pub fn log(mut self, log: &Path) -> Dev {
        self.log = log.to_path_buf();
        self
    }

    /// Calls `watch` with each line of the server's log (its stderr) as it is written, from a thread
    /// of its own; the line still goes to the log file.
    pub fn on_log_line(mut self, watch: impl FnMut(&str) + Send + 'static) -> Dev {
        self.watcher = Some(Box::new(watch));
        self
    }

    /// The longest wait for `listening on …` (a pipeline with custom steps builds its dev host first).
    pub fn start_timeout(mut self, timeout: Duration) -> Dev {
        self.start_timeout = timeout;
        self
    }

    /// The longest wait of [`DevServer::wait_terminal`].
    pub fn settle_timeout(mut self, timeout: Duration) -> Dev {
        self.settle_timeout = timeout;
        self
    }

    /// Starts it and waits until it listens; an error with its output and log when it does not.
    pub fn spawn(self) -> Result<DevServer, String> {
        let process = DevProcess::spawn_watched(self.command, &self.log, self.watcher, self.start_timeout)?;
        let client = Client::builder()
            .timeout(Duration::from_secs(15))
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| format!("the HTTP client does not build: {e}"))?;
        Ok(DevServer { base: process.base.clone(), process, client, settle_timeout: self.settle_timeout })
    }

    /// Starts it and waits until it listens; panics with its output and log when it does not.
    pub fn start(self) -> DevServer {
        self.spawn().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs it to its end (for a server that must not start), standard input closed.
    pub fn output(mut self) -> Output {
        self.command.stdin(Stdio::null()).output().expect("orchgen dev runs")
    }
}

/// A running `orchgen dev` with an HTTP client (killed when dropped).
pub struct DevServer {
    process: DevProcess,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// A blocking HTTP client (15 s timeout).
    pub client: Client,
    settle_timeout: Duration,
}

impl DevServer {
    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        self.process.url(path)
    }

    /// The log file (the server's stderr).
    pub fn log(&self) -> &Path {
        self.process.log()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The whole log (a cold build of a dev host prints hundreds of `Compiling` lines before it).
    pub fn log_all(&self) -> String {
        std::fs::read_to_string(self.process.log()).unwrap_or_default()
    }

    /// The last 60 lines of the log.
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    /// Waits up to `timeout` until stdout satisfies `ready`; returns it, panics with what it printed.
    pub fn wait_stdout(&self, ready: impl Fn(&str) -> bool, timeout: Duration) -> String {
        self.process.wait_stdout(ready, timeout).unwrap_or_else(|e| panic!("{e}"))
    }

    /// GET `path`: the status and the body as JSON (`{"unparsed": text}` when it is not JSON).
    pub fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .unwrap_or_else(|e| panic!("GET {path} failed: {e}\n{}", self.log_tail()));
        let (status, body, _) = split(response);
        (status, body)
    }

    /// POST /orders with `body` as it is, an optional content type and idempotency key.
    pub fn post_raw(
        &self,
        body: String,
        content_type: Option<&str>,
        key: Option<&str>,
    ) -> (StatusCode, Value, HeaderMap) {
        let mut request = self.client.post(self.url("/orders")).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().unwrap_or_else(|e| panic!("POST /orders failed: {e}\n{}", self.log_tail()));
        split(response)
    }

    /// POST /orders with a JSON body.
    pub fn post(&self, body: &Value) -> (StatusCode, Value) {
        let (status, body, _) = self.post_raw(body.to_string(), Some("application/json"), None);
        (status, body)
    }

    /// POSTs an order that must be accepted (201); returns its id.
    pub fn submit(&self, body: &Value) -> String {
        let (status, reply) = self.post(body);
        assert_eq!(status, StatusCode::CREATED, "POST /orders: {reply}\n{}", self.log_tail());
        reply["order_id"].as_str().expect("order_id").to_owned()
    }

    /// `GET /orders/{id}`, which must answer 200.
    pub fn order(&self, id: &str) -> Value {
        let (status, order) = self.get(&format!("/orders/{id}"));
        assert_eq!(status, StatusCode::OK, "GET /orders/{id}: {order}\n{}", self.log_tail());
        order
    }

    /// Polls `GET /orders/{id}` until the order is terminal (one of [`TERMINAL`]); returns it.
    pub fn wait_terminal(&self, id: &str) -> Value {
        let order =
            wait_terminal(id, self.settle_timeout, Duration::from_millis(50), || self.order(id), || self.log_tail());
        assert!(TERMINAL.contains(&order["status"].as_str().unwrap_or_default()), "{order}");
        order
    }

    /// `GET /_orchgen/inventory`.
    pub fn inventory(&self) -> Value {
        let (status, inventory) = self.get("/_orchgen/inventory");
        assert_eq!(status, StatusCode::OK, "{inventory}");
        inventory
    }

    /// `(available, reserved)` of a product now.
    pub fn stock(&self, product: &str) -> (u64, u64) {
        stock(&self.inventory(), product)
    }

    /// Ledger entries (charges, refunded or not), from `GET /_orchgen/health`.
    pub fn charges(&self) -> u64 {
        let (status, health) = self.get("/_orchgen/health");
        assert_eq!(status, StatusCode::OK, "{health}");
        health["charges"].as_u64().unwrap_or_else(|| panic!("no charges in {health}"))
    }

    /// Every order (all pages of `GET /orders?limit=100`), newest first, as summaries.
    pub fn all_orders(&self) -> Vec<Value> {
        let mut orders = Vec::new();
        let mut path = "/orders?limit=100".to_owned();
        loop {
            let (status, page) = self.get(&path);
            assert_eq!(status, StatusCode::OK, "GET {path}: {page}");
            orders.extend(page["orders"].as_array().expect("orders").iter().cloned());
            match page["next"].as_str() {
                Some(next) => path = format!("/orders?limit=100&next={next}"),
                None => return orders,
            }
        }
    }

    /// Waits until every order in `ids` is listed and terminal; returns them by id (summaries).
    pub fn wait_all_terminal(&self, ids: &BTreeSet<String>) -> BTreeMap<String, Value> {
        let deadline = Instant::now() + self.settle_timeout;
        loop {
            let all: BTreeMap<String, Value> = self
                .all_orders()
                .into_iter()
                .map(|o| (o["order_id"].as_str().unwrap_or_default().to_owned(), o))
                .collect();
            let missing: Vec<&String> = ids.iter().filter(|id| !all.contains_key(*id)).collect();
            assert!(
                missing.is_empty(),
                "accepted orders are missing from GET /orders: {missing:?}\n{}",
                self.log_tail()
            );
            let pending: Vec<(&String, &Value)> = ids
                .iter()
                .filter_map(|id| all.get(id).map(|o| (id, &o["status"])))
                .filter(|(_, s)| !TERMINAL.contains(&s.as_str().unwrap_or_default()))
                .collect();
            if pending.is_empty() {
                return all.into_iter().filter(|(id, _)| ids.contains(id)).collect();
            }
            assert!(
                Instant::now() < deadline,
                "{} orders are not terminal after {:?}, e.g. {:?}\nlog:\n{}",
                pending.len(),
                self.settle_timeout,
                &pending[..pending.len().min(5)],
                self.log_tail()
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Sends SIGTERM (a graceful stop) and returns at once.
    pub fn send_term(&self) {
        self.process.send_term().expect("SIGTERM is sent");
    }

    /// Sends SIGTERM and waits for the exit ([`DevServer::wait_exit`]).
    pub fn terminate(self) -> ExitStatus {
        self.send_term();
        self.wait_exit()
    }

    /// Waits up to [`EXIT_TIMEOUT`] for the server to exit; its exit status.
    pub fn wait_exit(mut self) -> ExitStatus {
        let exited = self.process.wait_exit(EXIT_TIMEOUT).expect("the server can be waited for");
        exited.unwrap_or_else(|| {
            panic!("orchgen dev did not exit within {EXIT_TIMEOUT:?} of SIGTERM\nlog:\n{}", self.log_tail())
        })
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(mut self) {
        self.process.kill().expect("the server is killed");
    }
}

/// A response's status, its body as JSON (`{"unparsed": text}` when it is not JSON) and its headers.
pub fn split(response: Response) -> (StatusCode, Value, HeaderMap) {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "unparsed": text }));
    (status, body, headers)
}

/// `(available, reserved)` of a product in an inventory as `GET /_orchgen/inventory` gives it.
pub fn stock(inventory: &Value, product: &str) -> (u64, u64) {
    let s = &inventory[product];
    (
        s["available"].as_u64().unwrap_or_else(|| panic!("no stock for {product}: {inventory}")),
        s["reserved"].as_u64().unwrap_or_else(|| panic!("no stock for {product}: {inventory}")),
    )
}

/// A running `orchgen dev` process (or any command that prints `listening on …` when ready).
pub struct DevProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    log: PathBuf,
    stdout: Arc<Mutex<Vec<String>>>,
}

/// A fresh log file next to `data_dir` (`data.0.log`, `data.1.log`, … : one per start, so that a
/// restarted server does not overwrite the log of the one before).
pub fn log_path(data_dir: &Path) -> PathBuf {
    static STARTS: AtomicUsize = AtomicUsize::new(0);
    data_dir.with_extension(format!("{}.log", STARTS.fetch_add(1, Ordering::Relaxed)))
}

/// The last `lines` lines of a file ("" when it cannot be read).
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The log's error lines (cargo's and rustc's `error…`, `ERROR` log lines) with the few lines that
/// follow each, long lines cut: what explains a failed start, put last in the failure message so
/// that a shortened CI report still shows it.
pub fn error_excerpt(log: &str) -> String {
    const AFTER: usize = 12;
    const WIDTH: usize = 400;
    let lines: Vec<&str> = log.lines().collect();
    let mut keep = vec![false; lines.len()];
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim_start();
        if line.starts_with("error") || line.contains("\"level\":\"ERROR\"") {
            for k in keep.iter_mut().skip(i).take(AFTER + 1) {
                *k = true;
            }
        }
    }
    let excerpt: Vec<String> = lines
        .iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(line, _)| match line.char_indices().nth(WIDTH) {
            Some((cut, _)) => format!("{}…", &line[..cut]),
            None => (*line).to_owned(),
        })
        .collect();
    let last = excerpt.len().saturating_sub(60);
    excerpt[last..].join("\n")
}

/// Polls `fetch` (which returns an order as the API shows it) every `every` until the order is
/// `terminal`, and returns it; panics after `timeout` with the order and `log_tail()`.
pub fn wait_terminal(
    id: &str,
    timeout: Duration,
    every: Duration,
    mut fetch: impl FnMut() -> serde_json::Value,
    log_tail: impl Fn() -> String,
) -> serde_json::Value {
    let deadline = Instant::now() + timeout;
    loop {
        let order = fetch();
        if order["terminal"] == true {
            return order;
        }
        assert!(
            Instant::now() < deadline,
            "order {id} is still {} after {timeout:?}:\n{order:#}\nlog:\n{}",
            order["status"],
            log_tail()
        );
        thread::sleep(every);
    }
}

impl DevProcess {
    /// Spawns `command` (stdout piped, stderr to `log`) and waits up to `timeout` for it to listen;
    /// an error with its output and log when it does not.
    pub fn spawn(command: Command, log: &Path, timeout: Duration) -> Result<DevProcess, String> {
        DevProcess::spawn_watched(command, log, None, timeout)
    }

    /// [`DevProcess::spawn`], with `watcher` (when given) called with each line of stderr on its way
    /// to `log`.
    pub fn spawn_watched(
        mut command: Command,
        log: &Path,
        watcher: Option<LogWatcher>,
        timeout: Duration,
    ) -> Result<DevProcess, String> {
        let file =
            std::fs::File::create(log).map_err(|e| format!("cannot create the server log {}: {e}", log.display()))?;
        // A watched log goes through a pipe and a thread of this process, else straight to the file.
        let (stderr, watched) = match watcher {
            Some(watch) => (Stdio::piped(), Some((watch, file))),
            None => (Stdio::from(file), None),
        };
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("orchgen dev does not start: {e}"))?;
        if let (Some((mut watch, mut file)), Some(stderr)) = (watched, child.stderr.take()) {
            thread::spawn(move || {
                let mut reader = BufReader::new(stderr);
                let mut line = Vec::new();
                while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                    // One write a line, so that the file is whole whenever a failure message reads it.
                    let _ = file.write_all(&line);
                    watch(String::from_utf8_lossy(&line).trim_end_matches(['\n', '\r']));
                    line.clear();
                }
            });
        }
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("orchgen dev has no piped stdout".to_owned());
        };
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        {
            let lines = lines.clone();
            thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(base) = line.strip_prefix("listening on ") {
                        let _ = tx.send(base.trim().to_owned());
                    }
                    lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            });
        }
        let base = match rx.recv_timeout(timeout) {
            Ok(base) if base.starts_with("http://127.0.0.1:") => base,
            outcome => {
                let _ = child.kill();
                let status = child.wait().ok();
                return Err(format!(
                    "orchgen dev did not print `listening on http://127.0.0.1:…` within {timeout:?} ({outcome:?}, exit: {status:?})\nstdout:\n{}\nlog:\n{}\nerrors in the log:\n{}",
                    lines.lock().unwrap_or_else(|p| p.into_inner()).join("\n"),
                    tail(log, 60),
                    error_excerpt(&std::fs::read_to_string(log).unwrap_or_default())
                ));
            }
        };
        Ok(DevProcess { child, base, log: log.to_path_buf(), stdout: lines })
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap_or_else(|p| p.into_inner()).join("\n")
    }

    /// Waits up to `timeout` until stdout satisfies `ready`; returns it, or an error with what it
    /// printed.
    pub fn wait_stdout(&self, ready: impl Fn(&str) -> bool, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.stdout();
            if ready(&out) {
                return Ok(out);
            }
            if Instant::now() >= deadline {
                return Err(format!("the server did not print what was expected:\n{out}"));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The log file (the server's stderr).
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The last 60 lines of the log.
    pub fn log_tail(&self) -> String {
        tail(&self.log, 60)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, then reaps it: no chance to clean up.
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()?;
        self.child.wait().map(|_| ())
    }

    /// Sends SIGTERM (a graceful stop).
    pub fn send_term(&self) -> std::io::Result<()> {
        let sent = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status()?;
        if sent.success() { Ok(()) } else { Err(std::io::Error::other(format!("kill -TERM {} failed", self.pid()))) }
    }

    /// Its exit status once it has exited, waiting up to `timeout`; `None` while it still runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() > deadline {
                return Ok(None);
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then [`DevProcess::wait_exit`].
    pub fn terminate(&mut self, timeout: Duration) -> std::io::Result<Option<ExitStatus>> {
        self.send_term()?;
        self.wait_exit(timeout)
    }
}

impl Drop for DevProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A copy of `pipelines/orders.yaml` in `dir` (as `orders.yaml`) with its `local.inventory` replaced.
pub fn pipeline_with_inventory(dir: &Path, inventory: &[(&str, u64)]) -> std::io::Result<PathBuf> {
    let text = std::fs::read_to_string(workspace_root().join("pipelines/orders.yaml"))?;
    let Some(start) = text.find("\nlocal:\n") else {
        return Err(std::io::Error::other("pipelines/orders.yaml has no top-level `local:` section"));
    };
    let mut text = text[..start + 1].to_owned();
    text.push_str("local:\n  inventory:\n");
    for (product, units) in inventory {
        text.push_str(&format!("    {product}: {units}\n"));
    }
    let path = dir.join("orders.yaml");
    std::fs::write(&path, text)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::{Dev, DevProcess, error_excerpt, log_path};
    use std::path::Path;
    use std::process::Command;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    #[test]
    fn a_watched_log_is_seen_line_by_line_and_kept_in_the_file() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut command = Command::new("sh");
        command.arg("-c").arg(
            "echo 'order moved to=COMPLETED' >&2; echo 'a warning' >&2; echo 'listening on http://127.0.0.1:9'; exec sleep 30",
        );
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let lines = seen.clone();
        let server = Dev::with_command(command, Path::new("orders.yaml"), &dir.path().join("data"))
            .on_log_line(move |line| lines.lock().expect("lines").push(line.to_owned()))
            .start();
        let both = || seen.lock().expect("lines").len() == 2;
        assert!(crate::wait_until(Duration::from_secs(10), Duration::from_millis(10), both), "{seen:?}");
        assert_eq!(*seen.lock().expect("lines"), ["order moved to=COMPLETED", "a warning"]);
        assert_eq!(server.log_all(), "order moved to=COMPLETED\na warning\n");
        assert_eq!(server.base, "http://127.0.0.1:9");
        assert!(std::fs::read_to_string(format!("/proc/{}/cmdline", server.pid())).is_ok_and(|c| c.contains("sleep")));
        server.kill();
    }

    #[test]
    fn a_failed_host_build_is_an_error_with_cargos_errors_last() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let always = || {
            let mut command = Command::new("sh");
            command.arg("-c").arg(
                "echo 'error[E0308]: mismatched types' >&2; echo 'error: the dev host for the custom steps did not build' >&2; exit 1",
            );
            command
        };
        let Err(e) = DevProcess::spawn(always(), &log_path(&dir.path().join("data")), Duration::from_secs(10)) else {
            panic!("a failed build is an error")
        };
        let last = e.rsplit("errors in the log:\n").next().unwrap_or_default();
        assert!(last.starts_with("error[E0308]: mismatched types"), "{e}");
    }

    #[test]
    fn the_error_excerpt_keeps_cargo_errors_and_their_notes() {
        let log = "   Compiling a v0.1.0\n   Compiling b v0.1.0\nerror: linking with `cc` failed: exit status: 1\n  |\n  = note: ld: No space left on device\n\nwarning: build failed, waiting for other jobs to finish...\n";
        let excerpt = error_excerpt(log);
        assert!(excerpt.starts_with("error: linking with `cc` failed"), "{excerpt}");
        assert!(excerpt.contains("No space left on device"), "{excerpt}");
        assert!(!excerpt.contains("Compiling"), "{excerpt}");
        assert_eq!(error_excerpt("   Compiling a v0.1.0\n"), "");
    }
}
