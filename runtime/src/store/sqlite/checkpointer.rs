//! The WAL checkpointer: a thread with its own connection that copies the WAL into the database
//! file, and asks the writer to complete a checkpoint when the WAL keeps growing.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::WAL_RESTART_FRAMES;
use super::schema::{BUSY_TIMEOUT, Db};
use crate::store::StoreError;

/// How often the checkpointer copies the WAL into the database file (when there were writes).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// A thread that checkpoints the WAL on its own connection, so that the writer never spends its
/// time copying pages into the database file and syncing it. Passive checkpoints never block the
/// writer; when the WAL has grown past [`WAL_RESTART_FRAMES`] (writes never paused long enough for
/// a passive checkpoint to catch up) it asks the writer to complete one between two groups.
/// Dropping it stops the thread.
pub(super) struct Checkpointer {
    pub(super) state: Arc<CheckpointState>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
pub(super) struct CheckpointState {
    /// Set by the writer after each group.
    pub(super) dirty: AtomicBool,
    /// Set by the checkpointer when the WAL keeps growing: the writer completes a checkpoint.
    pub(super) restart: AtomicBool,
    /// Set when the store closes.
    stop: Mutex<bool>,
    wake: Condvar,
}

impl Checkpointer {
    pub(super) fn start(db: &Path) -> Result<Checkpointer, StoreError> {
        let conn =
            Connection::open(db).map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", db.display())))?;
        conn.busy_timeout(BUSY_TIMEOUT).db()?;
        let state = Arc::new(CheckpointState::default());
        let shared = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("orchgen-sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(&conn, &shared))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer { state, thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        *self.state.stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.state.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn checkpoint_loop(conn: &Connection, state: &CheckpointState) {
    let mut stop = state.stop.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        stop = match state.wake.wait_timeout(stop, CHECKPOINT_EVERY) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        };
        if *stop {
            return;
        }
        if !state.dirty.swap(false, Ordering::AcqRel) {
            continue;
        }
        drop(stop);
        // (busy, frames in the WAL, frames copied); a checkpoint that cannot finish now (busy, I/O)
        // is tried again after the next write.
        let frames = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get::<_, i64>(1)).unwrap_or(0);
        if frames > WAL_RESTART_FRAMES {
            state.restart.store(true, Ordering::Release);
        }
        stop = state.stop.lock().unwrap_or_else(|e| e.into_inner());
    }
}
