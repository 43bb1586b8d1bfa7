//! The one process harness of the external servers the tests start (DynamoDB Local in
//! [`crate::dynamodb_local`], moto in [`crate::moto`]): a [`Launcher`] describes the command, and
//! [`Launcher::start`] runs it on a free loopback port and waits, bounded, until it answers HTTP; the
//! [`Process`] it returns has the server's log file and stops it when dropped.
//!
//! The server runs under a small shell watchdog that also stops it when the test process goes away
//! without dropping the handle (a `static` shared by the tests of a binary is never dropped), so no
//! JVM or Python server outlives a test run.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Attempts of [`Launcher::start`], each on a new free port (another process may take a port
/// between the moment it is found free and the server's bind).
const START_ATTEMPTS: usize = 3;

/// How long [`Process::stop`] gives the watchdog to stop the server before killing it.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The watchdog: `$1` the log file, `$2` the test process, the rest the server's command line. It
/// runs the server in the background and stops it when the test process is gone or when the
/// watchdog itself is told to stop (TERM), whichever comes first.
const WATCHDOG: &str = r#"
log=$1
parent=$2
shift 2
"$@" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; exit 0' TERM INT HUP
while kill -0 "$parent" 2>/dev/null && kill -0 $pid 2>/dev/null; do sleep 0.5 & wait $!; done
kill $pid 2>/dev/null
wait $pid 2>/dev/null
"#;

/// How to start a server: its command line (the port is appended after [`Launcher::port_flag`]),
/// its folder, the HTTP path that tells it is ready and how long it may take.
#[derive(Debug, Clone)]
pub struct Launcher {
    name: String,
    program: OsString,
    args: Vec<OsString>,
    port_flag: OsString,
    current_dir: Option<PathBuf>,
    probe_path: String,
    ready_timeout: Duration,
}

impl Launcher {
    /// A server named `name` (in messages and its log file's name, e.g. `dynamodb-local`) started
    /// as `program`, given its port as `--port <port>`, ready when `GET /` gets an HTTP answer
    /// within 60 s; the builder methods change each of these.
    pub fn new(name: &str, program: impl Into<OsString>) -> Launcher {
        Launcher {
            name: name.to_owned(),
            program: program.into(),
            args: Vec::new(),
            port_flag: "--port".into(),
            current_dir: None,
            probe_path: "/".to_owned(),
            ready_timeout: Duration::from_secs(60),
        }
    }

    /// Appends arguments (before the port).
    pub fn args<I, S>(mut self, args: I) -> Launcher
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The flag before the port, the command line's last two arguments (`-port`, `-p`, ...).
    pub fn port_flag(mut self, flag: &str) -> Launcher {
        self.port_flag = flag.into();
        self
    }

    /// The folder it runs in.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Launcher {
        self.current_dir = Some(dir.into());
        self
    }

    /// The path of the request that tells it is ready (any HTTP answer will do).
    pub fn probe_path(mut self, path: &str) -> Launcher {
        self.probe_path = path.to_owned();
        self
    }

    /// How long it may take to answer its first request.
    pub fn ready_timeout(mut self, timeout: Duration) -> Launcher {
        self.ready_timeout = timeout;
        self
    }

    /// Starts it on a free loopback port and waits until it answers; after three failed attempts
    /// (each on a new port), the last one's error with the server's output.
    pub fn start(&self) -> Result<Process, String> {
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            match free_port() {
                Ok(port) => match self.start_on(port) {
                    Ok(process) => return Ok(process),
                    Err(e) => last_error = e,
                },
                Err(e) => last_error = format!("no free port: {e}"),
            }
        }
        Err(last_error)
    }

    /// Starts it on `port` and waits until it answers (at most the ready timeout); the error tells
    /// why it did not, with the server's output.
    pub fn start_on(&self, port: u16) -> Result<Process, String> {
        static LAUNCHES: AtomicUsize = AtomicUsize::new(0);
        let launch = LAUNCHES.fetch_add(1, Ordering::Relaxed);
        let log =
            std::env::temp_dir().join(format!("orchgen-{}-{}-{port}-{launch}.log", self.name, std::process::id()));
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(WATCHDOG)
            .arg(&self.name)
            .arg(&log)
            .arg(std::process::id().to_string())
            .arg(&self.program)
            .args(&self.args)
            .arg(&self.port_flag)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        let watchdog = command.spawn().map_err(|e| format!("cannot start sh: {e}"))?;
        let mut process = Process { watchdog: Some(watchdog), port, log, probe_path: self.probe_path.clone() };
        let deadline = Instant::now() + self.ready_timeout;
        loop {
            if process.answers() {
                return Ok(process);
            }
            if let Some(Ok(Some(status))) = process.watchdog.as_mut().map(Child::try_wait) {
                return Err(format!("it exited ({status}) on port {port}:\n{}", process.log()));
            }
            if Instant::now() >= deadline {
                process.stop();
                return Err(format!(
                    "no answer on port {port} after {} s:\n{}",
                    self.ready_timeout.as_secs(),
                    process.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A server started by a [`Launcher`], listening on 127.0.0.1; stopped (and its log file removed)
/// when dropped.
#[derive(Debug)]
pub struct Process {
    /// `None` once stopped ([`Process::stop`]).
    watchdog: Option<Child>,
    port: u16,
    log: PathBuf,
    probe_path: String,
}

impl Process {
    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its endpoint, e.g. `http://127.0.0.1:41234`.
    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What it printed so far (kept after [`Process::stop`], until dropped).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The file its output goes to.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Whether it was not [`Process::stop`]ped (it may have exited on its own).
    pub fn is_running(&self) -> bool {
        self.watchdog.is_some()
    }

    /// Whether something answers its readiness request on its port.
    pub fn answers(&self) -> bool {
        answers_http(self.port, &self.probe_path)
    }

    /// Asks the watchdog to stop the server (TERM) and waits for it; kills the watchdog after 10 s.
    /// Stopping a stopped process does nothing.
    pub fn stop(&mut self) {
        let Some(mut watchdog) = self.watchdog.take() else { return };
        let _ = Command::new("kill").arg("-TERM").arg(watchdog.id().to_string()).status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = watchdog.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = watchdog.kill();
        let _ = watchdog.wait();
    }

    /// The process id of the watchdog's child named `comm` (the server: `java`, `python3`, ...), to
    /// measure its CPU time; `None` once stopped or when `/proc` does not tell.
    pub fn child_pid(&self, comm: &str) -> Option<u32> {
        let watchdog = self.watchdog.as_ref()?.id();
        let children = std::fs::read_to_string(format!("/proc/{watchdog}/task/{watchdog}/children")).ok()?;
        children
            .split_whitespace()
            .filter_map(|pid| pid.parse::<u32>().ok())
            .find(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// Whether something answers `GET path` with HTTP on the loopback port (any status).
pub fn answers_http(port: u16, path: &str) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}
