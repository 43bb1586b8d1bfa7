//! The schema, the set-up of the store's connections, migrations, and SQLite errors as
//! [`StoreError`]s (the [`Db`] extension of rusqlite results every other module uses).

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use super::SCHEMA_VERSION;
use crate::store::StoreError;

/// How long a connection waits for a lock held by another connection or process.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

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

pub(super) fn configure_writer(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT).db()?;
    // In memory the journal mode stays "memory"; on a file it must become WAL.
    let _mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).db()?;
    conn.pragma_update(None, "synchronous", "NORMAL").db()?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

pub(super) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn =
        Connection::open(path).map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(BUSY_TIMEOUT).db()?;
    conn.pragma_update(None, "query_only", "ON").db()?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Creates the schema (idempotent), or refuses a database written by a newer version.
pub(super) fn migrate(conn: &Connection) -> Result<(), StoreError> {
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

pub(super) trait Db<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> Db<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(sql_error)
    }
}
