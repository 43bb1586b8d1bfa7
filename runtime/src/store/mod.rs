//! Persistence: the [`Store`] trait every backend implements, and the [`ChangeFeed`] of the embedded
//! backend.
//!
//! The trait is shaped for DynamoDB as much as for SQLite: a state change is one [`Transition`] —
//! the new order conditioned on the version it replaces, plus its [`Effect`]s on other tables — that
//! commits all-or-nothing (TransactWriteItems on DynamoDB, or one conditional PutItem when no effect
//! touches another item; one transaction on SQLite). Because every effect rides on the order's
//! version condition, a re-delivered change record can never apply an effect twice. Listing goes
//! through a status index, never a scan; cursors and sequence numbers are opaque strings.
//!
//! Backends: [`dynamodb`] (production) and [`memory`] (the tests' reference) need no feature;
//! `sqlite` (the embedded backend of `orchgen dev`) needs feature `local`.

pub mod dynamodb;
pub mod memory;
pub mod packed;
#[cfg(feature = "local")]
pub mod sqlite;

use std::collections::BTreeMap;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::order::{Charge, Order};

/// Why the store could not do something.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached or is overloaded; trying again later may work.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back (a bug or a manual edit).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A request the store refuses (e.g. a malformed cursor).
    #[error("invalid request: {0}")]
    Invalid(String),
}

/// Why a [`Transition`] did not commit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommitError {
    /// The order is not at the expected version: another delivery of the same change already
    /// moved it on. Nothing was written.
    #[error("order {order_id} is not at version {expected}")]
    Conflict {
        /// The order.
        order_id: String,
        /// The version the transition expected.
        expected: u64,
    },
    /// An effect's condition failed. Nothing was written.
    #[error(transparent)]
    Effect(#[from] EffectError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A failed effect condition, mapped to the domain.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EffectError {
    /// Not enough stock for one product (the first one found short).
    #[error("out of stock: {product_id} has {available} available, {requested} requested")]
    OutOfStock {
        /// The product.
        product_id: String,
        /// Units asked for.
        requested: u64,
        /// Units available.
        available: u64,
    },
    /// The product is not in the inventory.
    #[error("unknown product: {product_id}")]
    UnknownProduct {
        /// The product.
        product_id: String,
    },
    /// The order already has a charge in the ledger.
    #[error("order {order_id} is already charged")]
    AlreadyCharged {
        /// The order.
        order_id: String,
    },
    /// There is no charge to refund, or it was refunded already.
    #[error("order {order_id} has no charge to refund")]
    NothingToRefund {
        /// The order.
        order_id: String,
    },
    /// Releasing or committing more stock than is reserved.
    #[error("{product_id} has only {reserved} reserved, {requested} requested")]
    NotReserved {
        /// The product.
        product_id: String,
        /// Units asked for.
        requested: u64,
        /// Units reserved.
        reserved: u64,
    },
}

/// A product's stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Stock {
    /// Units that can be reserved.
    pub available: u64,
    /// Units reserved by orders not yet fulfilled.
    pub reserved: u64,
}

/// A number of units of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Units {
    /// The product.
    pub product_id: String,
    /// How many.
    pub quantity: u64,
}

/// A change to a table other than orders, committed with the order's transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Move units from available to reserved, for every product or none
    /// (fails with `OutOfStock` / `UnknownProduct`). The same product may appear more than once.
    ReserveStock {
        /// What to reserve.
        units: Vec<Units>,
    },
    /// Move reserved units back to available (compensation of a reservation).
    ReleaseStock {
        /// What to release.
        units: Vec<Units>,
    },
    /// Remove reserved units for good (fulfilment).
    CommitStock {
        /// What to commit.
        units: Vec<Units>,
    },
    /// Record the order's one charge in the ledger (fails with `AlreadyCharged`).
    RecordCharge {
        /// The order.
        order_id: String,
        /// The charge.
        charge: Charge,
    },
    /// Mark the order's charge refunded (fails with `NothingToRefund`).
    RefundCharge {
        /// The order.
        order_id: String,
    },
    /// Put a message in the notification outbox, once per order and step.
    SendNotification {
        /// The message.
        notification: Notification,
    },
}

/// A notification recorded by the mock channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Notification {
    /// The order.
    pub order_id: String,
    /// The step that sent it (with the order id, its identity).
    pub step: String,
    /// Recipient.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// When it was recorded.
    pub at: String,
}

/// A ledger entry: an order's charge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LedgerEntry {
    /// The order.
    pub order_id: String,
    /// The charge (with its refunded flag).
    pub charge: Charge,
}

/// One atomic state change of an order.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The order's version before the change; the commit fails with `Conflict` unless it matches.
    pub expected_version: u64,
    /// The order after the change; its `version` must be `expected_version + 1`.
    pub order: Order,
    /// Changes to other tables, all-or-nothing with the order.
    pub effects: Vec<Effect>,
}

impl Transition {
    /// Refuses a transition whose order's version is not `expected_version + 1` (every backend checks
    /// it before writing anything).
    pub fn check_version(&self) -> Result<(), StoreError> {
        let order = &self.order;
        if self.expected_version.checked_add(1) == Some(order.version) {
            return Ok(());
        }
        Err(StoreError::Invalid(format!(
            "order {} at version {} cannot follow version {}",
            order.order_id, order.version, self.expected_version
        )))
    }
}

/// An `Idempotency-Key` of `POST /orders`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The key the client sent.
    pub key: String,
    /// A hash of the request body, to tell a retry from a different request under the same key.
    pub request_hash: String,
}

/// What creating an order did.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// The order was stored (with its first change record).
    New,
    /// The idempotency key was seen with the same body: this is the order it created.
    Existing(Order),
    /// The idempotency key was seen with another body; nothing was stored.
    KeyReused {
        /// The order the key created.
        order_id: String,
    },
}

/// A page request of `GET /orders`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListQuery {
    /// Only orders with this status.
    pub status: Option<String>,
    /// At most this many orders.
    pub limit: u32,
    /// Where the previous page stopped (opaque, from [`Page::next`]).
    pub cursor: Option<String>,
}

/// A page of orders, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The orders.
    pub orders: Vec<Order>,
    /// Cursor of the next page, when there is one.
    pub next: Option<String>,
}

/// Persistence of orders, inventory, ledger, outbox and idempotency keys.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a new order (version 1, status RECEIVED) with its first change record. With an
    /// idempotency key, a repeated request returns the order the key created instead.
    async fn create_order(&self, order: &Order, key: Option<&IdempotencyKey>) -> Result<Created, StoreError>;

    /// One order.
    async fn get_order(&self, order_id: &str) -> Result<Option<Order>, StoreError>;

    /// Orders newest first, optionally of one status (through the status index). An order whose
    /// stored form cannot be read is left out of its page (and logged), not an error of the whole
    /// listing: `get_order` reports it.
    async fn list_orders(&self, query: &ListQuery) -> Result<Page, StoreError>;

    /// Commits a transition atomically: the order if still at `expected_version`, and its effects.
    async fn commit(&self, transition: &Transition) -> Result<(), CommitError>;

    /// Adds the products that are missing from the inventory (existing stock is never changed);
    /// returns how many were added.
    async fn seed_inventory(&self, stock: &BTreeMap<String, u64>) -> Result<usize, StoreError>;

    /// The stock of every product.
    async fn inventory(&self) -> Result<BTreeMap<String, Stock>, StoreError>;

    /// The ledger entry of an order.
    async fn ledger_entry(&self, order_id: &str) -> Result<Option<LedgerEntry>, StoreError>;

    /// Number of ledger entries (charges), refunded or not.
    async fn ledger_count(&self) -> Result<u64, StoreError>;

    /// Notifications recorded for an order (all orders when `None`), oldest first.
    async fn outbox(&self, order_id: Option<&str>) -> Result<Vec<Notification>, StoreError>;

    /// Notified after each order this store created or moved (a hint for a change-feed reader in
    /// the same process — the SQLite processor or the DynamoDB Streams consumer of `orchgen dev` —
    /// to read now rather than at its next poll); `None` (the default) when the store gives no such
    /// hint.
    fn write_notifier(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }
}

/// What a change record says happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeKind {
    /// The order was created.
    Insert,
    /// The order changed.
    Modify,
    /// The order was removed (TTL expiry).
    Remove,
}

/// One record of the orders change stream (DynamoDB Streams semantics: ordered per order,
/// delivered at least once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// Position in the stream: decimal digits, compared by (length, text), never parsed.
    pub sequence_number: String,
    /// What happened.
    pub kind: ChangeKind,
    /// The order's id.
    pub order_id: String,
    /// The order after the change (absent for removals).
    pub new_image: Option<Order>,
}

/// Compares two sequence numbers (decimal strings of any length).
pub fn compare_sequence(a: &str, b: &str) -> std::cmp::Ordering {
    (a.len(), a).cmp(&(b.len(), b))
}

/// The ordered change feed of the embedded store (what DynamoDB Streams is on AWS).
#[async_trait]
pub trait ChangeFeed: Send + Sync + 'static {
    /// Up to `limit` records after `after` (from the start when `None`), in sequence order.
    async fn read_changes(&self, after: Option<&str>, limit: usize) -> Result<Vec<ChangeRecord>, StoreError>;

    /// The last sequence number `consumer` finished with.
    async fn checkpoint(&self, consumer: &str) -> Result<Option<String>, StoreError>;

    /// Records that `consumer` finished with every record up to `sequence_number`.
    async fn save_checkpoint(&self, consumer: &str, sequence_number: &str) -> Result<(), StoreError>;
}
