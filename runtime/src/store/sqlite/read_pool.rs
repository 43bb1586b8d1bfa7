//! The read pool: connections on the database file (query-only) for reads that never wait for the
//! writer, bounded by a semaphore.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::schema::open_reader;
use crate::store::StoreError;

/// Read connections kept open (and concurrent reads).
pub(super) const READERS: usize = 4;

pub(super) struct ReadPool {
    pub(super) path: PathBuf,
    pub(super) idle: Mutex<Vec<Connection>>,
    pub(super) permits: Arc<Semaphore>,
}

impl ReadPool {
    /// Runs `f` on a read connection on the calling task: for point reads by key (an order: tens of
    /// microseconds), where handing the call to the blocking pool and waking the task again costs
    /// more than the read itself (thread wake-ups were the largest item of `orchgen dev`'s profile
    /// under load). In WAL mode a reader never waits for the writer.
    pub(super) async fn read_now<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _permit =
            self.permits.acquire().await.map_err(|_| StoreError::Unavailable("the read pool is closed".into()))?;
        self.with(f)
    }

    pub(super) fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_reader(&self.path)?,
        };
        let result = f(&conn);
        // A connection whose last call failed at the SQLite level is dropped rather than reused.
        if !matches!(result, Err(StoreError::Unavailable(_))) {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < READERS {
                idle.push(conn);
            }
        }
        result
    }
}
