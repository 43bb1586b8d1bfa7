//! The embedded backend: SQLite (WAL mode) in a data directory, implementing [`Store`] and
//! [`ChangeFeed`]. Feature `local` (`orchgen dev`).
//!
//! # Design
//!
//! SQLite allows one writer at a time, so every write goes to **one dedicated writer thread** that
//! owns the only write connection. Callers send it a job over a bounded channel and await the
//! reply on a oneshot; nothing blocks the tokio runtime. The writer takes whatever jobs are queued
//! (up to [`MAX_BATCH`]) and runs them in **one SQLite transaction** (`BEGIN IMMEDIATE` …
//! `COMMIT`), each job inside its own `SAVEPOINT`: a job that fails (a version conflict, an effect
//! condition, a bad request) rolls back to its savepoint and only its own writes disappear.
//! Replies are sent only once the group's `COMMIT` returned, so an acknowledged write is in the
//! WAL and survives a crash of the process; if the `COMMIT` fails, every job of the group is told
//! [`StoreError::Unavailable`]. Group commit is what makes thousands of transitions per second
//! possible: the per-transaction cost (WAL frame writes, lock handling) is shared by the group.
//!
//! Because all writes are serialised through that thread (and `BEGIN IMMEDIATE` serialises them
//! with any other process), read-then-write logic such as idempotency keys and effect conditions
//! is race-free.
//!
//! Reads run on a small pool of read connections through `spawn_blocking`, bounded by a
//! semaphore; in WAL mode they never wait for the writer and see committed data only. An
//! in-memory store ([`SqliteStore::open_in_memory`]) has a single connection, so its reads go
//! through the writer thread as well.
//!
//! A third thread checkpoints the WAL into the database file (passive checkpoints, on its own
//! connection), so the writer does not spend its time copying pages and syncing the file; SQLite's
//! own auto-checkpoint stays on, with a high threshold, as a backstop. Under a steady load that
//! alone never lets the WAL start over: the writer appends frames while the checkpointer copies,
//! so the copy never reaches the end and the file grows. When the checkpointer sees more than
//! [`WAL_RESTART_FRAMES`] frames, it asks the writer to finish the copy itself between two groups
//! (a passive checkpoint with no write running catches up, copying only what the checkpointer had
//! not), after which the next write starts the WAL over and [`WAL_SIZE_LIMIT`] truncates the file.
//! Nothing ever waits for readers: an earlier version truncated the WAL with
//! `wal_checkpoint(TRUNCATE)` past 64 MB, which held the writer (and every POST behind it) for
//! 80 ms to 2.4 s each time under load.
//!
//! Durability: `synchronous=NORMAL` in WAL mode means a committed transaction survives a crash of
//! the process (SIGKILL included); a power loss may lose the last transactions, never corrupt.
//!
//! Every state change of an order is written with its change record (the `changes` table, whose
//! `seq` is the sequence number of the [`ChangeFeed`]) in the same transaction.
//!
//! # Growth and compaction
//!
//! An order keeps its row (with the status and creation-time index entries), its ledger and outbox
//! rows and, while consumers need them, one change record per stored version. Change records are
//! the bulk of what a busy store writes (each carries the whole order), so the writer **prunes**
//! them ([`Compaction`]): at most once per [`Compaction::every`], in its own short transaction, it
//! deletes the records that every consumer's checkpoint has passed, except the last
//! [`Compaction::keep_consumed`] of them (a tail to look at, as a stream keeps its recent records).
//! A store whose feed nobody consumes keeps every record. SQLite reuses the freed pages for new
//! rows, so under a steady load the file grows by the orders kept, not by their history of
//! changes. Orders themselves are kept until `--reset` (DynamoDB's TTL is AWS's deletion; the
//! embedded store does not expire orders).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{
    ChangeFeed, ChangeKind, ChangeRecord, CommitError, Created, Effect, EffectError, IdempotencyKey, LedgerEntry,
    ListQuery, Notification, Page, Stock, Store, StoreError, Transition, Units,
};
use crate::order::{Charge, Order};

/// Name of the database file inside the data directory.
pub const DB_FILE: &str = "orchgen.db";

/// Version of the schema, kept in `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 1;

/// Most jobs the writer commits in one transaction.
pub const MAX_BATCH: usize = 512;

/// Jobs that may wait for the writer before senders wait for room.
const QUEUE_DEPTH: usize = 8192;

/// Read connections kept open (and concurrent reads).
const READERS: usize = 4;

/// How long a connection waits for a lock held by another connection or process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the checkpointer copies the WAL into the database file (when there were writes).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// WAL frames (pages) past which the checkpointer asks the writer to complete a checkpoint, so
/// that the WAL starts over (4,096 frames: 16 MB of 4 KB pages).
pub const WAL_RESTART_FRAMES: i64 = 4_096;

/// Bytes the WAL file is truncated to when it starts over.
pub const WAL_SIZE_LIMIT: i64 = 64 << 20;

/// WAL pages past which the writer checkpoints by itself (a backstop for the checkpointer).
const WAL_AUTOCHECKPOINT_PAGES: i64 = 32_768;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS orders (
    order_id   TEXT PRIMARY KEY NOT NULL,
    status     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    version    INTEGER NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_status ON orders (status, created_at DESC, order_id DESC);
CREATE INDEX IF NOT EXISTS orders_by_created ON orders (created_at DESC, order_id DESC);

CREATE TABLE IF NOT EXISTS inventory (
    product_id TEXT PRIMARY KEY NOT NULL,
    available  INTEGER NOT NULL CHECK (available >= 0),
    reserved   INTEGER NOT NULL CHECK (reserved >= 0)
);

CREATE TABLE IF NOT EXISTS ledger (
    order_id     TEXT PRIMARY KEY NOT NULL,
    charge_id    TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    currency     TEXT NOT NULL,
    refunded     INTEGER NOT NULL DEFAULT 0 CHECK (refunded IN (0, 1))
);

CREATE TABLE IF NOT EXISTS outbox (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id  TEXT NOT NULL,
    step      TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject   TEXT NOT NULL,
    at        TEXT NOT NULL,
    UNIQUE (order_id, step)
);

CREATE TABLE IF NOT EXISTS idempotency (
    key          TEXT PRIMARY KEY NOT NULL,
    request_hash TEXT NOT NULL,
    order_id     TEXT NOT NULL,
    created_at   TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id  TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('INSERT', 'MODIFY', 'REMOVE')),
    new_image TEXT
);

CREATE TABLE IF NOT EXISTS checkpoints (
    consumer TEXT PRIMARY KEY NOT NULL,
    seq      TEXT NOT NULL
);
";

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

/// The embedded store: SQLite in a data directory (or in memory, for tests).
///
/// Dropping it stops the writer thread once the jobs already queued are done.
pub struct SqliteStore {
    writer: mpsc::Sender<Box<dyn Job>>,
    /// Fired after every group commit of the writer.
    committed: Arc<tokio::sync::Notify>,
    thread: Option<JoinHandle<()>>,
    checkpointer: Option<Checkpointer>,
    readers: Readers,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

enum Readers {
    /// Read connections on the database file.
    Pool(Arc<ReadPool>),
    /// No separate connections (in memory): reads are jobs of the writer.
    Writer,
}

impl SqliteStore {
    /// Opens (creating it if needed) the store in `dir`, in the file [`DB_FILE`]; creates `dir` too.
    /// The change feed is pruned as [`Compaction::default`] says.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        Self::open_with(dir, Compaction::default())
    }

    /// [`SqliteStore::open`] with another [`Compaction`].
    pub fn open_with(dir: &Path, compaction: Compaction) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("cannot create data directory {}: {e}", dir.display())))?;
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        configure_writer(&conn)?;
        conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES).db()?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT).db()?;
        let checkpointer = Checkpointer::start(&path)?;
        let pool =
            ReadPool { path: path.clone(), idle: Mutex::new(Vec::new()), permits: Arc::new(Semaphore::new(READERS)) };
        Self::start(conn, Readers::Pool(Arc::new(pool)), Some(checkpointer), Some(path), Some(compaction))
    }

    /// A store that lives in memory only, for tests (reads go through the writer thread; the change
    /// feed is never pruned).
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let conn = Connection::open_in_memory().db()?;
        configure_writer(&conn)?;
        Self::start(conn, Readers::Writer, None, None, None)
    }

    /// The database file (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Fires after every commit of the writer (a new order, a transition, a checkpoint): given to
    /// the processor (`Processor::wake_on`), it reads the change feed as soon as a record is
    /// durable instead of at its next poll. A commit while nobody waits leaves one wake-up behind,
    /// so none is lost.
    pub fn change_notifier(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.committed)
    }

    fn start(
        conn: Connection,
        readers: Readers,
        checkpointer: Option<Checkpointer>,
        path: Option<PathBuf>,
        compaction: Option<Compaction>,
    ) -> Result<SqliteStore, StoreError> {
        migrate(&conn)?;
        let (writer, jobs) = mpsc::channel(QUEUE_DEPTH);
        let state = checkpointer.as_ref().map(|c| Arc::clone(&c.state));
        let committed = Arc::new(tokio::sync::Notify::new());
        let notify = Arc::clone(&committed);
        let thread = std::thread::Builder::new()
            .name("orchgen-sqlite-writer".into())
            .spawn(move || writer_loop(conn, jobs, state, &notify, compaction))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore { writer, committed, thread: Some(thread), checkpointer, readers, path })
    }

    /// Runs `f` on the writer thread, inside its own savepoint of a group transaction; its writes
    /// are kept when it returns `Ok`. Resolves once the transaction committed.
    async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Call { f: Some(f), outcome: None, reply });
        if self.writer.send(job).await.is_err() {
            return Err(E::from(writer_gone()));
        }
        answer.await.unwrap_or_else(|_| Err(E::from(writer_gone())))
    }

    /// Runs `f` on a read connection (off the runtime), seeing committed data.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        match &self.readers {
            Readers::Writer => self.write(f).await,
            Readers::Pool(pool) => {
                let permit = pool
                    .permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| StoreError::Unavailable("the read pool is closed".into()))?;
                let pool = Arc::clone(pool);
                tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    pool.with(f)
                })
                .await
                .map_err(|e| StoreError::Unavailable(format!("read task failed: {e}")))?
            }
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Close the queue (the writer finishes what is queued, then stops) and wait for it, so that
        // reopening the same directory right after sees a closed database.
        let (closed, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.writer, closed));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // Then the checkpointer (SQLite checkpoints what is left when the last connection closes).
        drop(self.checkpointer.take());
    }
}

fn writer_gone() -> StoreError {
    StoreError::Unavailable("the store's writer thread has stopped".into())
}

// ---------------------------------------------------------------------------------------------
// Connections and schema
// ---------------------------------------------------------------------------------------------

fn configure_writer(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT).db()?;
    // In memory the journal mode stays "memory"; on a file it must become WAL.
    let _mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).db()?;
    conn.pragma_update(None, "synchronous", "NORMAL").db()?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn =
        Connection::open(path).map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(BUSY_TIMEOUT).db()?;
    conn.pragma_update(None, "query_only", "ON").db()?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Creates the schema (idempotent), or refuses a database written by a newer version.
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE").db()?;
    let result = (|| {
        let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).db()?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Invalid(format!(
                "the database has schema version {version}, this orchgen knows up to {SCHEMA_VERSION}: upgrade orchgen"
            )));
        }
        if version < SCHEMA_VERSION {
            conn.execute_batch(SCHEMA).db()?;
            conn.pragma_update(None, "user_version", SCHEMA_VERSION).db()?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT").db(),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// A thread that checkpoints the WAL on its own connection, so that the writer never spends its
/// time copying pages into the database file and syncing it. Passive checkpoints never block the
/// writer; when the WAL has grown past [`WAL_RESTART_FRAMES`] (writes never paused long enough for
/// a passive checkpoint to catch up) it asks the writer to complete one between two groups.
/// Dropping it stops the thread.
struct Checkpointer {
    state: Arc<CheckpointState>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct CheckpointState {
    /// Set by the writer after each group.
    dirty: AtomicBool,
    /// Set by the checkpointer when the WAL keeps growing: the writer completes a checkpoint.
    restart: AtomicBool,
    /// Set when the store closes.
    stop: Mutex<bool>,
    wake: Condvar,
}

impl Checkpointer {
    fn start(db: &Path) -> Result<Checkpointer, StoreError> {
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

struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl ReadPool {
    /// Runs `f` on a read connection on the calling task: for point reads by key (an order: tens of
    /// microseconds), where handing the call to the blocking pool and waking the task again costs
    /// more than the read itself (thread wake-ups were the largest item of `orchgen dev`'s profile
    /// under load). In WAL mode a reader never waits for the writer.
    async fn read_now<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let _permit =
            self.permits.acquire().await.map_err(|_| StoreError::Unavailable("the read pool is closed".into()))?;
        self.with(f)
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
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

/// Maps a SQLite error: corruption and undecodable values are `Corrupt`, everything else (busy,
/// locked, I/O, full disk…) is `Unavailable`.
fn sql_error(e: rusqlite::Error) -> StoreError {
    use rusqlite::Error as E;
    use rusqlite::ErrorCode as C;
    match &e {
        E::SqliteFailure(f, _) if matches!(f.code, C::DatabaseCorrupt | C::NotADatabase) => {
            StoreError::Corrupt(e.to_string())
        }
        E::FromSqlConversionFailure(..)
        | E::InvalidColumnType(..)
        | E::IntegralValueOutOfRange(..)
        | E::Utf8Error(..)
        | E::InvalidColumnIndex(..)
        | E::InvalidColumnName(..) => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

trait Db<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> Db<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(sql_error)
    }
}

// ---------------------------------------------------------------------------------------------
// The writer thread and group commit
// ---------------------------------------------------------------------------------------------

/// A unit of work for the writer thread.
trait Job: Send {
    /// Runs inside a savepoint; returns whether its writes are kept.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Delivers the outcome once the group transaction ended (`Err` when it did not commit).
    fn finish(self: Box<Self>, committed: Result<(), StoreError>);
}

struct Call<T, E, F> {
    f: Option<F>,
    outcome: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
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

fn writer_loop(
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

// ---------------------------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------------------------

fn to_i64(what: &str, n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Invalid(format!("{what} {n} is too large")))
}

fn to_u64(what: &str, n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what} is negative: {n}")))
}

fn decode_order(body: &str) -> Result<Order, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("an order cannot be read: {e}")))
}

fn encode_order(order: &Order) -> Result<String, StoreError> {
    serde_json::to_string(order).map_err(|e| StoreError::Invalid(format!("the order cannot be encoded: {e}")))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An order ready to be written (encoded off the writer thread).
struct NewOrder {
    order_id: String,
    status: String,
    created_at: String,
    version: i64,
    body: String,
    key: Option<IdempotencyKey>,
}

fn create_order(conn: &Connection, new: &NewOrder) -> Result<Created, StoreError> {
    if let Some(key) = &new.key {
        let seen: Option<(String, String)> = conn
            .prepare_cached("SELECT request_hash, order_id FROM idempotency WHERE key = ?1")
            .and_then(|mut s| s.query_row([&key.key], |row| Ok((row.get(0)?, row.get(1)?))).optional())
            .db()?;
        if let Some((hash, order_id)) = seen {
            if hash != key.request_hash {
                return Ok(Created::KeyReused { order_id });
            }
            return match load_order(conn, &order_id)? {
                Some(order) => Ok(Created::Existing(order)),
                None => Err(StoreError::Corrupt(format!(
                    "idempotency key {:?} names order {order_id}, which does not exist",
                    key.key
                ))),
            };
        }
    }
    let inserted = conn
        .prepare_cached(
            "INSERT INTO orders (order_id, status, created_at, version, body) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (order_id) DO NOTHING",
        )
        .and_then(|mut s| s.execute(params![new.order_id, new.status, new.created_at, new.version, new.body]))
        .db()?;
    if inserted == 0 {
        return Err(StoreError::Invalid(format!("order {} already exists", new.order_id)));
    }
    append_change(conn, &new.order_id, ChangeKind::Insert, Some(&new.body))?;
    if let Some(key) = &new.key {
        conn.prepare_cached(
            "INSERT INTO idempotency (key, request_hash, order_id, created_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut s| s.execute(params![key.key, key.request_hash, new.order_id, now()]))
        .db()?;
    }
    Ok(Created::New)
}

fn append_change(conn: &Connection, order_id: &str, kind: ChangeKind, image: Option<&str>) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT INTO changes (order_id, kind, new_image) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(params![order_id, kind_name(kind), image]))
        .map(|_| ())
        .db()
}

fn kind_name(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Insert => "INSERT",
        ChangeKind::Modify => "MODIFY",
        ChangeKind::Remove => "REMOVE",
    }
}

/// A transition ready to be written (encoded and checked off the writer thread).
struct Prepared {
    order_id: String,
    status: String,
    expected: u64,
    version: i64,
    body: String,
    effects: Vec<Effect>,
}

fn prepare(transition: &Transition) -> Result<Prepared, StoreError> {
    transition.check_version()?;
    let order = &transition.order;
    let version = to_i64("version", order.version)?;
    // Reject what cannot be stored before anything is queued.
    for effect in &transition.effects {
        if let Effect::ReserveStock { units } | Effect::ReleaseStock { units } | Effect::CommitStock { units } = effect
        {
            aggregate(units)?;
        }
    }
    Ok(Prepared {
        order_id: order.order_id.clone(),
        status: order.status.clone(),
        expected: transition.expected_version,
        version,
        body: encode_order(order)?,
        effects: transition.effects.clone(),
    })
}

fn commit(conn: &Connection, t: &Prepared) -> Result<(), CommitError> {
    let expected = t.version - 1;
    let updated = conn
        .prepare_cached("UPDATE orders SET status = ?2, version = ?3, body = ?4 WHERE order_id = ?1 AND version = ?5")
        .and_then(|mut s| s.execute(params![t.order_id, t.status, t.version, t.body, expected]))
        .db()?;
    if updated == 0 {
        return Err(CommitError::Conflict { order_id: t.order_id.clone(), expected: t.expected });
    }
    for effect in &t.effects {
        apply(conn, effect)?;
    }
    append_change(conn, &t.order_id, ChangeKind::Modify, Some(&t.body))?;
    Ok(())
}

/// Sums the units per product, in the order products first appear.
fn aggregate(units: &[Units]) -> Result<Vec<(&str, i64)>, StoreError> {
    let mut totals: Vec<(&str, u64)> = Vec::with_capacity(units.len());
    for unit in units {
        match totals.iter_mut().find(|(p, _)| *p == unit.product_id) {
            Some((_, total)) => {
                *total = total
                    .checked_add(unit.quantity)
                    .ok_or_else(|| StoreError::Invalid(format!("the quantity of {} is too large", unit.product_id)))?
            }
            None => totals.push((&unit.product_id, unit.quantity)),
        }
    }
    totals.into_iter().map(|(p, q)| Ok((p, to_i64("quantity", q)?))).collect()
}

fn stock_of(conn: &Connection, product_id: &str) -> Result<Option<(i64, i64)>, StoreError> {
    conn.prepare_cached("SELECT available, reserved FROM inventory WHERE product_id = ?1")
        .and_then(|mut s| s.query_row([product_id], |row| Ok((row.get(0)?, row.get(1)?))).optional())
        .db()
}

fn apply(conn: &Connection, effect: &Effect) -> Result<(), CommitError> {
    match effect {
        Effect::ReserveStock { units } => {
            let units = aggregate(units)?;
            for &(product_id, requested) in &units {
                let Some((available, _)) = stock_of(conn, product_id)? else {
                    return Err(EffectError::UnknownProduct { product_id: product_id.to_owned() }.into());
                };
                if available < requested {
                    return Err(EffectError::OutOfStock {
                        product_id: product_id.to_owned(),
                        requested: to_u64("quantity", requested)?,
                        available: to_u64("available stock", available)?,
                    }
                    .into());
                }
            }
            for &(product_id, quantity) in &units {
                conn.prepare_cached(
                    "UPDATE inventory SET available = available - ?2, reserved = reserved + ?2 WHERE product_id = ?1",
                )
                .and_then(|mut s| s.execute(params![product_id, quantity]))
                .db()?;
            }
        }
        Effect::ReleaseStock { units } | Effect::CommitStock { units } => {
            let units = aggregate(units)?;
            for &(product_id, requested) in &units {
                let Some((_, reserved)) = stock_of(conn, product_id)? else {
                    return Err(EffectError::UnknownProduct { product_id: product_id.to_owned() }.into());
                };
                if reserved < requested {
                    return Err(EffectError::NotReserved {
                        product_id: product_id.to_owned(),
                        requested: to_u64("quantity", requested)?,
                        reserved: to_u64("reserved stock", reserved)?,
                    }
                    .into());
                }
            }
            let sql = if matches!(effect, Effect::ReleaseStock { .. }) {
                "UPDATE inventory SET available = available + ?2, reserved = reserved - ?2 WHERE product_id = ?1"
            } else {
                "UPDATE inventory SET reserved = reserved - ?2 WHERE product_id = ?1"
            };
            for &(product_id, quantity) in &units {
                conn.prepare_cached(sql).and_then(|mut s| s.execute(params![product_id, quantity])).db()?;
            }
        }
        Effect::RecordCharge { order_id, charge } => {
            let inserted = conn
                .prepare_cached(
                    "INSERT INTO ledger (order_id, charge_id, amount_cents, currency, refunded) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (order_id) DO NOTHING",
                )
                .and_then(|mut s| {
                    s.execute(params![order_id, charge.charge_id, charge.amount_cents, charge.currency, charge.refunded])
                })
                .db()?;
            if inserted == 0 {
                return Err(EffectError::AlreadyCharged { order_id: order_id.clone() }.into());
            }
        }
        Effect::RefundCharge { order_id } => {
            let updated = conn
                .prepare_cached("UPDATE ledger SET refunded = 1 WHERE order_id = ?1 AND refunded = 0")
                .and_then(|mut s| s.execute([order_id]))
                .db()?;
            if updated == 0 {
                return Err(EffectError::NothingToRefund { order_id: order_id.clone() }.into());
            }
        }
        Effect::SendNotification { notification: n } => {
            conn.prepare_cached(
                "INSERT INTO outbox (order_id, step, recipient, subject, at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (order_id, step) DO NOTHING",
            )
            .and_then(|mut s| s.execute(params![n.order_id, n.step, n.to, n.subject, n.at]))
            .db()?;
        }
    }
    Ok(())
}

fn seed(conn: &Connection, stock: &[(String, i64)]) -> Result<usize, StoreError> {
    let mut added = 0;
    for (product_id, available) in stock {
        added += conn
            .prepare_cached(
                "INSERT INTO inventory (product_id, available, reserved) VALUES (?1, ?2, 0) ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| s.execute(params![product_id, available]))
            .db()?;
    }
    Ok(added)
}

fn is_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn parse_sequence(s: &str) -> Result<i64, StoreError> {
    if !is_decimal(s) {
        return Err(StoreError::Invalid(format!("{s:?} is not a sequence number")));
    }
    s.parse().map_err(|_| StoreError::Invalid(format!("sequence number {s} is out of range")))
}

// ---------------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------------

fn load_order(conn: &Connection, order_id: &str) -> Result<Option<Order>, StoreError> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM orders WHERE order_id = ?1")
        .and_then(|mut s| s.query_row([order_id], |row| row.get(0)).optional())
        .db()?;
    body.as_deref().map(decode_order).transpose()
}

fn encode_cursor(created_at: &str, order_id: &str) -> String {
    // Serialising two strings cannot fail.
    let json = serde_json::to_vec(&(created_at, order_id)).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor(cursor: &str) -> Result<(String, String), StoreError> {
    let invalid = || StoreError::Invalid(format!("malformed cursor {cursor:?}"));
    let json = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    serde_json::from_slice(&json).map_err(|_| invalid())
}

/// The listing query: through `orders_by_status` with a status, `orders_by_created` without.
fn list_sql(by_status: bool, after: bool) -> String {
    let filter = match (by_status, after) {
        (true, true) => "WHERE status = ?1 AND (created_at, order_id) < (?2, ?3)",
        (true, false) => "WHERE status = ?1",
        (false, true) => "WHERE (created_at, order_id) < (?2, ?3)",
        (false, false) => "",
    };
    format!("SELECT created_at, order_id, body FROM orders {filter} ORDER BY created_at DESC, order_id DESC LIMIT ?4")
}

fn list(
    conn: &Connection,
    status: Option<&str>,
    after: Option<&(String, String)>,
    limit: u32,
) -> Result<Page, StoreError> {
    if limit == 0 {
        return Ok(Page { orders: Vec::new(), next: None });
    }
    let fetch = i64::from(limit) + 1;
    let sql = list_sql(status.is_some(), after.is_some());
    let (created_at, order_id) = match after {
        Some((c, o)) => (Some(c.as_str()), Some(o.as_str())),
        None => (None, None),
    };
    let mut statement = conn.prepare_cached(&sql).db()?;
    let mut rows = statement.query(params![status, created_at, order_id, fetch]).db()?;
    let mut orders = Vec::new();
    let mut last: Option<(String, String)> = None;
    let mut more = false;
    while let Some(row) = rows.next().db()? {
        if orders.len() == limit as usize {
            more = true;
            break;
        }
        let created_at: String = row.get(0).db()?;
        let order_id: String = row.get(1).db()?;
        let body: String = row.get(2).db()?;
        orders.push(decode_order(&body)?);
        last = Some((created_at, order_id));
    }
    let next = if more { last.map(|(c, o)| encode_cursor(&c, &o)) } else { None };
    Ok(Page { orders, next })
}

fn parse_kind(kind: &str) -> Result<ChangeKind, StoreError> {
    match kind {
        "INSERT" => Ok(ChangeKind::Insert),
        "MODIFY" => Ok(ChangeKind::Modify),
        "REMOVE" => Ok(ChangeKind::Remove),
        other => Err(StoreError::Corrupt(format!("unknown change kind {other:?}"))),
    }
}

/// The change records after `after`. A record whose kind or image cannot be read is still
/// delivered, as a modification without an image: the engine then works from the stored order
/// (the image is only a staleness hint), so one damaged row never stops the feed — when the stored
/// order is damaged too, the record fails, is retried and dead-lettered like any failing record.
fn changes_after(conn: &Connection, after: i64, limit: i64) -> Result<Vec<ChangeRecord>, StoreError> {
    let mut statement = conn
        .prepare_cached("SELECT seq, order_id, kind, new_image FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2")
        .db()?;
    let mut rows = statement.query(params![after, limit]).db()?;
    let mut records = Vec::new();
    while let Some(row) = rows.next().db()? {
        let seq: i64 = row.get(0).db()?;
        let order_id: String = row.get(1).db()?;
        let kind: String = row.get(2).db()?;
        let image: Option<String> = row.get(3).db()?;
        let decoded = parse_kind(&kind).and_then(|kind| Ok((kind, image.as_deref().map(decode_order).transpose()?)));
        let (kind, new_image) = decoded.unwrap_or_else(|e| {
            tracing::warn!(
                sequence_number = seq,
                order_id = %order_id,
                error = %e,
                "a change record cannot be read; it is delivered without its image and the stored order drives it"
            );
            (ChangeKind::Modify, None)
        });
        records.push(ChangeRecord { sequence_number: seq.to_string(), kind, order_id, new_image });
    }
    Ok(records)
}

// ---------------------------------------------------------------------------------------------
// The traits
// ---------------------------------------------------------------------------------------------

#[async_trait]
impl Store for SqliteStore {
    /// The writer's commit notifier ([`SqliteStore::change_notifier`]).
    fn write_notifier(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(self.change_notifier())
    }

    async fn create_order(&self, order: &Order, key: Option<&IdempotencyKey>) -> Result<Created, StoreError> {
        let new = NewOrder {
            order_id: order.order_id.clone(),
            status: order.status.clone(),
            created_at: order.created_at.clone(),
            version: to_i64("version", order.version)?,
            body: encode_order(order)?,
            key: key.cloned(),
        };
        self.write(move |conn| create_order(conn, &new)).await
    }

    async fn get_order(&self, order_id: &str) -> Result<Option<Order>, StoreError> {
        match &self.readers {
            Readers::Pool(pool) => pool.read_now(|conn| load_order(conn, order_id)).await,
            Readers::Writer => {
                let order_id = order_id.to_owned();
                self.write(move |conn| load_order(conn, &order_id)).await
            }
        }
    }

    async fn list_orders(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
        let status = query.status.clone();
        let limit = query.limit;
        self.read(move |conn| list(conn, status.as_deref(), after.as_ref(), limit)).await
    }

    async fn commit(&self, transition: &Transition) -> Result<(), CommitError> {
        let prepared = prepare(transition)?;
        self.write(move |conn| commit(conn, &prepared)).await
    }

    async fn seed_inventory(&self, stock: &BTreeMap<String, u64>) -> Result<usize, StoreError> {
        let stock = stock
            .iter()
            .map(|(product_id, units)| Ok((product_id.clone(), to_i64("stock", *units)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.write(move |conn| seed(conn, &stock)).await
    }

    async fn inventory(&self) -> Result<BTreeMap<String, Stock>, StoreError> {
        self.read(|conn| {
            let mut statement = conn.prepare_cached("SELECT product_id, available, reserved FROM inventory").db()?;
            let mut rows = statement.query([]).db()?;
            let mut stock = BTreeMap::new();
            while let Some(row) = rows.next().db()? {
                let product_id: String = row.get(0).db()?;
                let available = to_u64("available stock", row.get(1).db()?)?;
                let reserved = to_u64("reserved stock", row.get(2).db()?)?;
                stock.insert(product_id, Stock { available, reserved });
            }
            Ok(stock)
        })
        .await
    }

    async fn ledger_entry(&self, order_id: &str) -> Result<Option<LedgerEntry>, StoreError> {
        let order_id = order_id.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT order_id, charge_id, amount_cents, currency, refunded FROM ledger WHERE order_id = ?1",
            )
            .and_then(|mut s| {
                s.query_row([&order_id], |row| {
                    Ok(LedgerEntry {
                        order_id: row.get(0)?,
                        charge: Charge {
                            charge_id: row.get(1)?,
                            amount_cents: row.get(2)?,
                            currency: row.get(3)?,
                            refunded: row.get(4)?,
                        },
                    })
                })
                .optional()
            })
            .db()
        })
        .await
    }

    async fn ledger_count(&self) -> Result<u64, StoreError> {
        self.read(|conn| {
            let count: i64 = conn
                .prepare_cached("SELECT COUNT(*) FROM ledger")
                .and_then(|mut s| s.query_row([], |row| row.get(0)))
                .db()?;
            to_u64("ledger count", count)
        })
        .await
    }

    async fn outbox(&self, order_id: Option<&str>) -> Result<Vec<Notification>, StoreError> {
        let order_id = order_id.map(str::to_owned);
        self.read(move |conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT order_id, step, recipient, subject, at FROM outbox
                     WHERE ?1 IS NULL OR order_id = ?1 ORDER BY id",
                )
                .db()?;
            let rows = statement
                .query_map([&order_id], |row| {
                    Ok(Notification {
                        order_id: row.get(0)?,
                        step: row.get(1)?,
                        to: row.get(2)?,
                        subject: row.get(3)?,
                        at: row.get(4)?,
                    })
                })
                .db()?;
            rows.collect::<rusqlite::Result<Vec<_>>>().db()
        })
        .await
    }
}

#[async_trait]
impl ChangeFeed for SqliteStore {
    async fn read_changes(&self, after: Option<&str>, limit: usize) -> Result<Vec<ChangeRecord>, StoreError> {
        let after = after.map(parse_sequence).transpose()?.unwrap_or(0);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.read(move |conn| changes_after(conn, after, limit)).await
    }

    async fn checkpoint(&self, consumer: &str) -> Result<Option<String>, StoreError> {
        let consumer = consumer.to_owned();
        self.read(move |conn| {
            conn.prepare_cached("SELECT seq FROM checkpoints WHERE consumer = ?1")
                .and_then(|mut s| s.query_row([&consumer], |row| row.get(0)).optional())
                .db()
        })
        .await
    }

    async fn save_checkpoint(&self, consumer: &str, sequence_number: &str) -> Result<(), StoreError> {
        parse_sequence(sequence_number)?;
        let consumer = consumer.to_owned();
        let seq = sequence_number.to_owned();
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO checkpoints (consumer, seq) VALUES (?1, ?2) ON CONFLICT (consumer) DO UPDATE SET seq = ?2",
            )
            .and_then(|mut s| s.execute(params![consumer, seq]))
            .map(|_| ())
            .db()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = encode_cursor("2024-01-01T00:00:00.000Z", "01HZ");
        assert_eq!(decode_cursor(&cursor).ok(), Some(("2024-01-01T00:00:00.000Z".into(), "01HZ".into())));
        assert!(matches!(decode_cursor("not base64!"), Err(StoreError::Invalid(_))));
        assert!(matches!(decode_cursor(&URL_SAFE_NO_PAD.encode("[1,2]")), Err(StoreError::Invalid(_))));
    }

    #[test]
    fn a_damaged_change_row_is_delivered_without_its_image_and_the_feed_goes_on() {
        let conn = Connection::open_in_memory().expect("open");
        migrate(&conn).expect("migrate");
        conn.execute_batch(
            "INSERT INTO changes (order_id, kind, new_image) VALUES ('a', 'INSERT', '{ not an order');
             INSERT INTO changes (order_id, kind, new_image) VALUES ('b', 'MODIFY', '[]');
             INSERT INTO changes (order_id, kind, new_image) VALUES ('c', 'REMOVE', NULL);",
        )
        .expect("rows written");
        let records = changes_after(&conn, 0, 10).expect("the feed reads past damaged rows");
        let seen: Vec<(&str, &str, ChangeKind, bool)> = records
            .iter()
            .map(|r| (r.sequence_number.as_str(), r.order_id.as_str(), r.kind, r.new_image.is_some()))
            .collect();
        assert_eq!(
            seen,
            [
                ("1", "a", ChangeKind::Modify, false),
                ("2", "b", ChangeKind::Modify, false),
                ("3", "c", ChangeKind::Remove, false)
            ]
        );
    }

    #[test]
    fn sequence_numbers_are_decimal() {
        assert_eq!(parse_sequence("42").ok(), Some(42));
        assert!(parse_sequence("").is_err());
        assert!(parse_sequence("-1").is_err());
        assert!(parse_sequence("1e3").is_err());
        assert!(parse_sequence("99999999999999999999999").is_err());
    }

    #[test]
    fn listing_uses_the_indexes() {
        let conn = Connection::open_in_memory().expect("open");
        migrate(&conn).expect("migrate");
        migrate(&conn).expect("migrate is idempotent");
        for (by_status, after, index) in [
            (true, true, "orders_by_status"),
            (true, false, "orders_by_status"),
            (false, true, "orders_by_created"),
            (false, false, "orders_by_created"),
        ] {
            let sql = list_sql(by_status, after);
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("explain")
                .query_map(params!["A", "x", "y", 5], |row| row.get::<_, String>(3))
                .expect("plan")
                .collect::<Result<_, _>>()
                .expect("rows");
            let plan = plan.join("; ");
            assert!(plan.contains(index), "{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
            // A cursor or a status is a range of the index, not a scan from its start.
            assert_eq!(plan.contains("SEARCH"), by_status || after, "{plan}");
        }
    }
}
