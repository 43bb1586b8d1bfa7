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

mod checkpointer;
mod encoding;
mod queries;
mod read_pool;
mod schema;
mod writer;
mod writes;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{Semaphore, mpsc, oneshot};

use self::checkpointer::Checkpointer;
use self::encoding::{decode_cursor, encode_order, parse_sequence, to_i64, to_u64};
use self::queries::{changes_after, list, load_order};
use self::read_pool::{READERS, ReadPool};
use self::schema::{Db, configure_writer, migrate};
pub use self::writer::Compaction;
use self::writer::{Call, Job, writer_loop};
use self::writes::{NewOrder, commit, create_order, prepare, seed};
use super::{
    ChangeFeed, ChangeRecord, CommitError, Created, IdempotencyKey, LedgerEntry, ListQuery, Notification, Page, Stock,
    Store, StoreError, Transition,
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

/// WAL frames (pages) past which the checkpointer asks the writer to complete a checkpoint, so
/// that the WAL starts over (4,096 frames: 16 MB of 4 KB pages).
pub const WAL_RESTART_FRAMES: i64 = 4_096;

/// Bytes the WAL file is truncated to when it starts over.
pub const WAL_SIZE_LIMIT: i64 = 64 << 20;

/// WAL pages past which the writer checkpoints by itself (a backstop for the checkpointer).
const WAL_AUTOCHECKPOINT_PAGES: i64 = 32_768;

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
