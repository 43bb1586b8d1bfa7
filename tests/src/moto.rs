//! [`MotoServer`]: the moto AWS API emulator (`python3 -m moto.server`), started for a test on a
//! free loopback port and stopped when dropped.
//!
//! moto is the Python package `moto[server]` (`scripts/install-test-tools` installs it with pip).
//! When it cannot be imported, [`MotoServer::start`] returns `None` after a loud skip message, or
//! panics when `ORCHGEN_REQUIRE_TOOLS=1`. Like DynamoDB Local, the server runs under the watchdog of
//! [`crate::process`], which also stops it when the test process goes away without dropping the
//! handle.
//!
//! It runs through `moto_server.py`, which corrects one behaviour of moto's DynamoDB Streams: moto
//! gives each new record to the table's Lambda event source mappings (even deleted ones) and then
//! drops the shard's records, where AWS keeps them 24 hours for every reader.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::process::{Launcher, Process};
use crate::tools_required;

/// The launcher: `moto.server.main` with DynamoDB stream records kept for every reader, as AWS keeps
/// them (moto drops them once its Lambda mappings got them); see the file.
const LAUNCHER: &str = include_str!("moto_server.py");

/// How long moto may take to answer its first request.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running moto server.
#[derive(Debug)]
pub struct MotoServer {
    process: Process,
    /// The launcher script, written for this server.
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
        static SERVERS: AtomicUsize = AtomicUsize::new(0);
        let server = SERVERS.fetch_add(1, Ordering::Relaxed);
        let launcher = std::env::temp_dir().join(format!("orchgen-moto-{}-{server}.py", std::process::id()));
        if let Err(e) = std::fs::write(&launcher, LAUNCHER) {
            panic!("cannot write {}: {e}", launcher.display());
        }
        let started = Launcher::new("moto", python())
            .args([launcher.as_os_str(), "-H".as_ref(), "127.0.0.1".as_ref()])
            .port_flag("-p")
            .probe_path("/moto-api/")
            .ready_timeout(READY_TIMEOUT)
            .start();
        match started {
            Ok(process) => Some(MotoServer { process, launcher }),
            Err(e) => {
                let _ = std::fs::remove_file(&launcher);
                panic!("moto did not start: {e}");
            }
        }
    }

    /// The port (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// Its endpoint, e.g. `http://127.0.0.1:41234`.
    pub fn endpoint_url(&self) -> String {
        self.process.endpoint_url()
    }

    /// What it printed so far (its request log).
    pub fn log(&self) -> String {
        self.process.log()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.process.stop();
        let _ = std::fs::remove_file(&self.launcher);
    }
}
