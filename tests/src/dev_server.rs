//! `orchgen dev` as a child process of a test: started on a free loopback port (`--port 0`), ready
//! once it prints `listening on http://127.0.0.1:PORT`, its stdout kept line by line and its stderr
//! (the JSON log) in a file; killed (SIGKILL), stopped (SIGTERM) or, when dropped, killed.
//!
//! The command carries the environment a dev host build needs (a pipeline with custom steps is
//! compiled with cargo into `target/dev-host`, offline, with the suite's debug settings); a
//! pipeline without custom steps ignores it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use crate::{orchgen_bin, workspace_root};

/// A running `orchgen dev`.
pub struct DevProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    log: PathBuf,
    stdout: Arc<Mutex<Vec<String>>>,
}

/// `orchgen dev <pipeline> --port 0 --data-dir <data_dir>`, run from the workspace root with
/// `RUST_LOG=info` and the dev host's build settings; add arguments and environment, then
/// [`DevProcess::spawn`] it.
pub fn dev_command(pipeline: &Path, data_dir: &Path) -> Command {
    let mut command = Command::new(orchgen_bin());
    command
        .current_dir(workspace_root())
        .arg("dev")
        .arg(pipeline)
        .args(["--port", "0", "--data-dir"])
        .arg(data_dir)
        .env("CARGO_TARGET_DIR", workspace_root().join("target/dev-host"))
        .env("CARGO_NET_OFFLINE", "true")
        .env("CARGO_INCREMENTAL", "0")
        .env("CARGO_PROFILE_DEV_DEBUG", "line-tables-only")
        .env("RUST_LOG", "info");
    command
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

/// [`DevProcess::spawn`] of a pipeline with custom steps: when the dev host's cargo build fails,
/// the start is tried once more (announced loudly, with the first failure's errors) before the
/// error is returned. A compile error in the user's crate fails both times; a cargo build that
/// failed once for a reason outside the project (seen once in CI, never reproduced from a clean
/// clone) does not fail the suite.
pub fn spawn_host(make: impl Fn() -> Command, data_dir: &Path, timeout: Duration) -> Result<DevProcess, String> {
    match DevProcess::spawn(make(), &log_path(data_dir), timeout) {
        Err(first) if first.contains("the dev host for the custom steps did not build") => {
            let errors = first.rsplit("errors in the log:\n").next().unwrap_or_default();
            eprintln!(
                "\n!!!!!!!! the dev host build failed; starting once more. The first build's errors:\n{errors}\n!!!!!!!!\n"
            );
            DevProcess::spawn(make(), &log_path(data_dir), timeout)
        }
        outcome => outcome,
    }
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
    pub fn spawn(mut command: Command, log: &Path, timeout: Duration) -> Result<DevProcess, String> {
        let stderr =
            std::fs::File::create(log).map_err(|e| format!("cannot create the server log {}: {e}", log.display()))?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("orchgen dev does not start: {e}"))?;
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
    use super::{error_excerpt, spawn_host};
    use std::process::Command;
    use std::time::Duration;

    /// A stand-in for `orchgen dev` whose host build fails on the first start only.
    fn flaky_start(marker: &std::path::Path) -> Command {
        let mut command = Command::new("sh");
        command.arg("-c").arg(format!(
            "if [ -e '{0}' ]; then echo 'listening on http://127.0.0.1:9'; sleep 30; \
             else touch '{0}'; echo 'error: could not compile `x` (bin \"x\")' >&2; \
             echo 'error: the dev host for the custom steps did not build (cargo: exit status: 101)' >&2; exit 1; fi",
            marker.display()
        ));
        command
    }

    #[test]
    fn a_failed_host_build_is_tried_once_more() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let marker = dir.path().join("built-once");
        let process = spawn_host(|| flaky_start(&marker), &dir.path().join("data"), Duration::from_secs(10))
            .expect("the second start listens");
        assert_eq!(process.base, "http://127.0.0.1:9");
    }

    #[test]
    fn a_host_build_that_always_fails_is_an_error_with_cargos_errors_last() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let always = || {
            let mut command = Command::new("sh");
            command.arg("-c").arg(
                "echo 'error[E0308]: mismatched types' >&2; echo 'error: the dev host for the custom steps did not build' >&2; exit 1",
            );
            command
        };
        let Err(e) = spawn_host(always, &dir.path().join("data"), Duration::from_secs(10)) else {
            panic!("a build that always fails is an error")
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
