//! The writer thread: the jobs callers send it, the loop that takes them in groups of up to
//! [`MAX_BATCH`], the group commit (one transaction, a savepoint per job), and the pruning of the
//! change feed ([`Compaction`]) between two groups.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rusqlite::{Connection, params};
use tokio::sync::{mpsc, oneshot};

use super::MAX_BATCH;
use super::checkpointer::CheckpointState;
use super::schema::Db;
use crate::store::StoreError;

/// How the writer prunes the change feed (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compaction {
    /// Change records that every consumer finished with but that are kept anyway, newest first.
    pub keep_consumed: u64,
    /// Least time between two prunes (pruning happens after a group commit).
    pub every: Duration,
    /// Most records deleted by one prune, so that a backlog never holds the writer for long.
    pub most_per_prune: u64,
}

impl Default for Compaction {
    /// Keep the last 10,000 consumed records; prune at most every 100 ms, 20,000 records at a time
    /// (more than the store commits in that time): small prunes often, so that none holds the
    /// writer (and the API's writes behind it) for more than a few milliseconds.
    fn default() -> Compaction {
        Compaction { keep_consumed: 10_000, every: Duration::from_millis(100), most_per_prune: 20_000 }
    }
}

/// A unit of work for the writer thread.
pub(super) trait Job: Send {
    /// Runs inside a savepoint; returns whether its writes are kept.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Delivers the outcome once the group transaction ended (`Err` when it did not commit).
    fn finish(self: Box<Self>, committed: Result<(), StoreError>);
}

pub(super) struct Call<T, E, F> {
    pub(super) f: Option<F>,
    pub(super) outcome: Option<Result<T, E>>,
    pub(super) reply: oneshot::Sender<Result<T, E>>,
}

impl<T, E, F> Job for Call<T, E, F>
where
    T: Send,
    E: From<StoreError> + Send,
    F: FnOnce(&Connection) -> Result<T, E> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(f) = self.f.take() else { return false };
        let outcome = f(conn);
        let keep = outcome.is_ok();
        self.outcome = Some(outcome);
        keep
    }

    fn finish(self: Box<Self>, committed: Result<(), StoreError>) {
        let this = *self;
        let result = match (committed, this.outcome) {
            (Err(e), _) => Err(E::from(e)),
            (Ok(()), Some(outcome)) => outcome,
            (Ok(()), None) => Err(E::from(StoreError::Unavailable("the write was not run".into()))),
        };
        // The caller may have gone away; its write still stands.
        let _ = this.reply.send(result);
    }
}

pub(super) fn writer_loop(
    conn: Connection,
    mut jobs: mpsc::Receiver<Box<dyn Job>>,
    checkpoint: Option<Arc<CheckpointState>>,
    committed: &tokio::sync::Notify,
    compaction: Option<Compaction>,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    let mut last_prune = std::time::Instant::now();
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_group(&conn, &mut batch);
        committed.notify_one();
        if let Some(state) = &checkpoint {
            state.dirty.store(true, Ordering::Release);
            if state.restart.swap(false, Ordering::AcqRel) {
                let started = std::time::Instant::now();
                // Passive: it waits for nobody; what a reader still uses is copied next time.
                let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                tracing::debug!(ms, "the writer completed a checkpoint so that the WAL starts over");
            }
        }
        if let Some(compaction) = compaction
            && last_prune.elapsed() >= compaction.every
        {
            last_prune = std::time::Instant::now();
            // A prune that fails (busy, I/O) leaves the records for the next one.
            let _ = prune_changes(&conn, &compaction);
        }
    }
}

/// Deletes the change records every consumer's checkpoint has passed, but the last
/// `keep_consumed` of them and at most `most_per_prune`, in one transaction; returns how many.
/// Nothing is deleted while no consumer has a checkpoint.
fn prune_changes(conn: &Connection, compaction: &Compaction) -> Result<u64, StoreError> {
    let done: Option<i64> = conn
        .prepare_cached("SELECT MIN(CAST(seq AS INTEGER)) FROM checkpoints")
        .and_then(|mut s| s.query_row([], |row| row.get(0)))
        .db()?;
    let Some(done) = done else { return Ok(0) };
    let upto = done.saturating_sub(i64::try_from(compaction.keep_consumed).unwrap_or(i64::MAX));
    if upto <= 0 {
        return Ok(0);
    }
    let most = i64::try_from(compaction.most_per_prune).unwrap_or(i64::MAX);
    exec(conn, "BEGIN IMMEDIATE")?;
    let deleted = conn
        .prepare_cached(
            "DELETE FROM changes WHERE seq <= ?1 AND seq < (SELECT COALESCE(MIN(seq), 0) FROM changes) + ?2",
        )
        .and_then(|mut s| s.execute(params![upto, most]))
        .db();
    let ended = match &deleted {
        Ok(_) => exec(conn, "COMMIT"),
        Err(_) => exec(conn, "ROLLBACK"),
    };
    if ended.is_err() && !conn.is_autocommit() {
        let _ = exec(conn, "ROLLBACK");
    }
    ended?;
    Ok(deleted? as u64)
}

fn exec(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(|_| ()).db()
}

/// Runs `batch` as one transaction, a savepoint per job, and delivers every outcome.
fn run_group(conn: &Connection, batch: &mut Vec<Box<dyn Job>>) {
    let mut done: Vec<Box<dyn Job>> = Vec::with_capacity(batch.len());
    let mut open = false;
    for mut job in batch.drain(..) {
        if !open {
            if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
                job.finish(Err(e));
                continue;
            }
            open = true;
        }
        let ended = exec(conn, "SAVEPOINT job").and_then(|()| {
            if job.run(conn) {
                exec(conn, "RELEASE job")
            } else {
                exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job"))
            }
        });
        let lost = match ended {
            // Some errors (disk full, I/O) make SQLite roll the whole transaction back.
            Ok(()) if conn.is_autocommit() => Some(StoreError::Unavailable("the transaction was rolled back".into())),
            Ok(()) => None,
            Err(e) => Some(e),
        };
        match lost {
            None => done.push(job),
            Some(e) => {
                // The group's earlier writes are gone or in doubt: fail them all and start afresh.
                if !conn.is_autocommit() {
                    let _ = exec(conn, "ROLLBACK");
                }
                open = false;
                job.finish(Err(e.clone()));
                for earlier in done.drain(..) {
                    earlier.finish(Err(e.clone()));
                }
            }
        }
    }
    if !open {
        return;
    }
    let committed = exec(conn, "COMMIT");
    if committed.is_err() && !conn.is_autocommit() {
        let _ = exec(conn, "ROLLBACK");
    }
    for job in done {
        job.finish(committed.clone());
    }
}
