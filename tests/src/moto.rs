//! [`MotoServer`]: the moto AWS API emulator (`python3 -m moto.server`), started for a test on a
//! free loopback port and stopped when dropped.
//!
//! moto is the Python package `moto[server]` (`scripts/install-test-tools` installs it with pip).
//! When it cannot be imported, [`MotoServer::start`] returns `None` after a loud skip message, or
//! panics when `ORCHGEN_REQUIRE_TOOLS=1`. Like DynamoDB Local, the server runs under a small shell
//! watchdog that also stops it when the test process goes away without dropping the handle.
//!
//! It runs through `moto_server.py`, which corrects one behaviour of moto's DynamoDB Streams: moto
//! gives each new record to the table's Lambda event source mappings (even deleted ones) and then
//! drops the shard's records, where AWS keeps them 24 hours for every reader.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tools_required;

/// The launcher: `moto.server.main` with DynamoDB stream records kept for every reader, as AWS keeps
/// them (moto drops them once its Lambda mappings got them); see the file.
const LAUNCHER: &str = include_str!("moto_server.py");

/// How long moto may take to answer its first request.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running moto server.
#[derive(Debug)]
pub struct MotoServer {
    watchdog: Child,
    port: u16,
    log: PathBuf,
    launcher: PathBuf,
}

/// The Python interpreter used (`ORCHGEN_PYTHON`, else `python3`).
pub fn python() -> String {
    std::env::var("ORCHGEN_PYTHON").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "python3".to_owned())
}

/// Whether `python3 -c "import moto.server"` works.
pub fn moto_available() -> bool {
    Command::new(python())
        .args(["-c", "import moto, moto.server, flask"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// Whether moto answers its health endpoint.
fn ready(port: u16) -> bool {
    use std::io::{Read, Write};
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

impl MotoServer {
    /// Starts moto on a free loopback port and waits until it answers; `None` (after a loud skip
    /// message) when moto is not installed.
    pub fn start() -> Option<MotoServer> {
        if !moto_available() {
            let message = format!(
                "moto (Python package `moto[server]`) is not importable by {}; run `scripts/install-test-tools`",
                python()
            );
            if tools_required() {
                panic!("{message}");
            }
            eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
            return None;
        }
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::launch() {
                Ok(server) => return Some(server),
                Err(e) => last_error = e,
            }
        }
        panic!("moto did not start: {last_error}");
    }

    fn launch() -> Result<MotoServer, String> {
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let log = std::env::temp_dir().join(format!("orchgen-moto-{}-{port}.log", std::process::id()));
        let launcher = std::env::temp_dir().join(format!("orchgen-moto-{}-{port}.py", std::process::id()));
        std::fs::write(&launcher, LAUNCHER).map_err(|e| format!("cannot write {}: {e}", launcher.display()))?;
        let script = r#"
"$4" "$5" -H 127.0.0.1 -p "$1" >"$2" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; exit 0' TERM INT HUP
while kill -0 "$3" 2>/dev/null && kill -0 $pid 2>/dev/null; do sleep 0.5 & wait $!; done
kill $pid 2>/dev/null
wait $pid 2>/dev/null
"#;
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("moto")
            .arg(port.to_string())
            .arg(&log)
            .arg(std::process::id().to_string())
            .arg(python())
            .arg(&launcher)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start sh: {e}"))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if ready(port) {
                return Ok(MotoServer { watchdog, port, log, launcher });
            }
            if let Ok(Some(status)) = watchdog.try_wait() {
                let output = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("it exited ({status}) on port {port}:\n{output}"));
            }
            if Instant::now() >= deadline {
                let output = std::fs::read_to_string(&log).unwrap_or_default();
                stop(&mut watchdog);
                return Err(format!("no answer on port {port} after {} s:\n{output}", READY_TIMEOUT.as_secs()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The port (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its endpoint, e.g. `http://127.0.0.1:41234`.
    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What it printed so far (its request log).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Asks the watchdog to stop moto (TERM), then waits; kills it if it does not stop.
fn stop(watchdog: &mut Child) {
    let _ = Command::new("kill").arg("-TERM").arg(watchdog.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = watchdog.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = watchdog.kill();
    let _ = watchdog.wait();
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        stop(&mut self.watchdog);
        let _ = std::fs::remove_file(&self.log);
        let _ = std::fs::remove_file(&self.launcher);
    }
}
