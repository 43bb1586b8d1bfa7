//! [`DynamoStore`]: the [`Store`] on Amazon DynamoDB (or any compatible endpoint, such as DynamoDB
//! Local), the production backend.
//!
//! - Tables, keys, TTL attribute and indexes come from the plan's [`TablesPlan`]; the item layouts
//!   are in [`item`] (the orders layout is a contract with the stream processor). [`ensure_tables`]
//!   creates missing tables.
//! - [`Store::commit`] of a transition whose effects touch other items is **one
//!   TransactWriteItems**: the order's Put conditioned on `version = expected`, plus one write per
//!   item the effects touch (merged per item, see [`effects`]). Cancellation reasons map to
//!   [`CommitError::Conflict`] (the order's condition) or to the
//!   [`EffectError`](crate::store::EffectError) found by replaying the effects on the items read
//!   after the failure. Concurrent writers of one item
//!   (`TransactionConflict`) are retried with backoff.
//! - A transition with no effect on another item (no stock, ledger or outbox write: e.g. after
//!   `validate`, or the final move to `COMPLETED`) is **one conditional PutItem** of the order with
//!   the same `version = expected` condition, at half the write units of a transaction. A failed
//!   condition is the same [`CommitError::Conflict`] as the transaction's (and the reference
//!   stores'), which the engine takes as "another delivery did it": so is the rare SDK retry of a
//!   put that had in fact succeeded (a transaction's client request token would have made that
//!   retry succeed instead; either way the order is stored once). A `TransactionConflict` is
//!   retried with backoff.
//! - [`Store::create_order`] is a conditional PutItem (`attribute_not_exists`) or, with an
//!   idempotency key, one transaction of the key's record (conditional put, with its own TTL) and
//!   the order; on a failed key condition the key's record decides between `Existing` and
//!   `KeyReused`.
//! - `GET /orders` never scans: with a status it queries the status index, without one the recent
//!   index (partition `kind` = `order`), both newest first; both project keys only, so the page's
//!   orders are then read with one BatchGetItem (consistent). The cursor is the last index entry
//!   as base64url JSON. Orders created in the same millisecond come in DynamoDB's index order,
//!   not by id (pagination still returns each exactly once). An entry whose order changed status
//!   since the index was read is left out, so a page of a status listing can be short under
//!   concurrent writes.
//! - Inspection helpers **scan**: [`Store::inventory`] (the inventory table), [`Store::ledger_count`]
//!   and [`Store::outbox`] with `None` (the ledger table). They serve tests and the local dashboard,
//!   never a request path. `outbox(Some(order))` and `ledger_entry` are single GetItems.
//! - Every call asks for `ReturnConsumedCapacity = TOTAL`; the units are added up in
//!   [`DynamoStore::capacity`] (what `orchgen cost` estimates from).
//! - Throttling and unavailability are retried by the SDK (standard mode, [`client::MAX_ATTEMPTS`]
//!   attempts); what still fails is [`StoreError::Unavailable`].
//! - Expressions only ever use `#name` / `:value` placeholders.

pub mod capacity;
pub mod client;
pub mod effects;
pub mod errors;
pub mod item;
pub mod tables;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnConsumedCapacity, Select, TransactWriteItem, Update,
};
use tokio::sync::Notify;

/// The SDK's DynamoDB client, for callers that make one from a shared configuration.
pub use aws_sdk_dynamodb::Client;
pub use capacity::{Capacity, CapacitySnapshot};
pub use client::{client_for_endpoint, client_from_env};
pub use tables::{ensure_tables, with_prefix};

use self::effects::{LedgerCondition, LedgerOp, Merged, StockOp};
use self::errors::{CONDITIONAL_CHECK_FAILED, TRANSACTION_CONFLICT, build_error, store_error};
use self::item::{Cursor, Item, OrderAttributes, n, s};
use super::{
    CommitError, Created, IdempotencyKey, LedgerEntry, ListQuery, Notification, Page, Stock, Store, StoreError,
    Transition,
};
use crate::order::Order;
use crate::plan::{TablesPlan, status};

/// Most items in one TransactWriteItems.
pub const MAX_TRANSACTION_ITEMS: usize = 100;

/// Attempts of a transaction that keeps meeting concurrent writers of its items.
const CONFLICT_ATTEMPTS: u32 = 12;

/// Most keys in one BatchGetItem.
const BATCH_GET_KEYS: usize = 100;

/// The DynamoDB store. Cheap to share behind an `Arc`; the client is cloned from the caller's.
#[derive(Debug)]
pub struct DynamoStore {
    client: Client,
    tables: TablesPlan,
    names: OrderAttributes,
    capacity: Arc<Capacity>,
    last_seq: AtomicU64,
    /// Notified after every order created or moved ([`Store::write_notifier`]).
    written: Arc<Notify>,
}

/// Why a transaction did not commit.
enum TxError {
    /// Cancelled, with the reason code of every item, in order.
    Cancelled(Vec<String>),
    /// Any other failure.
    Store(StoreError),
}

/// Placeholders of one expression: `#n<i>` names and `:v<i>` values.
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn name(&mut self, attribute: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, a)| *a == attribute) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

fn backoff(attempt: u32) -> Duration {
    let base = 5u64 << attempt.min(6);
    Duration::from_millis(base + rand::random::<u64>() % base)
}

/// Waits before the next attempt of a write another writer got in the way of (`TransactionConflict`,
/// or a condition that held again when diagnosed), logging it at debug level.
async fn retry_after_conflict(op: &str, order_id: &str, attempt: u32) {
    let wait = backoff(attempt);
    tracing::debug!(
        op,
        order_id,
        attempt = attempt + 1,
        wait_ms = wait.as_millis() as u64,
        "write cancelled by a concurrent writer; retrying"
    );
    tokio::time::sleep(wait).await;
}

fn now_epoch() -> i64 {
    chrono::Utc::now().timestamp()
}

impl DynamoStore {
    /// A store on the plan's tables (they must exist: see [`ensure_tables`]).
    pub fn new(client: Client, tables: &TablesPlan) -> DynamoStore {
        DynamoStore {
            client,
            names: OrderAttributes::of(&tables.orders),
            tables: tables.clone(),
            capacity: Arc::new(Capacity::default()),
            last_seq: AtomicU64::new(0),
            written: Arc::new(Notify::new()),
        }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The tables.
    pub fn tables(&self) -> &TablesPlan {
        &self.tables
    }

    /// The consumed capacity and requests of every call so far.
    pub fn capacity(&self) -> CapacitySnapshot {
        self.capacity.snapshot()
    }

    /// The counters themselves (shared).
    pub fn capacity_counters(&self) -> &Arc<Capacity> {
        &self.capacity
    }

    /// The next outbox sequence number: the clock in nanoseconds, strictly increasing.
    fn next_seq(&self) -> u64 {
        let now = u64::try_from(chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)).unwrap_or(0);
        let previous = self
            .last_seq
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |last| Some(now.max(last + 1)))
            .unwrap_or(0);
        now.max(previous + 1)
    }

    fn order_key(&self, order_id: &str) -> Item {
        HashMap::from([(self.names.key.clone(), s(order_id))])
    }

    fn key_of(table_key: &str, value: &str) -> Item {
        HashMap::from([(table_key.to_owned(), s(value))])
    }

    // -----------------------------------------------------------------------------------------
    // Reads
    // -----------------------------------------------------------------------------------------

    async fn get_item(&self, table: &str, key: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(key))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| store_error("GetItem", &e))?;
        self.capacity.read(out.consumed_capacity());
        Ok(out.item)
    }

    /// Every item of a table (inspection helpers only: a Scan).
    async fn scan_all(&self, table: &str) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(table)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| store_error("Scan", &e))?;
            self.capacity.read(out.consumed_capacity());
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// Items of `table` by key value, with BatchGetItem (consistent), as a map key value → item.
    async fn batch_get(
        &self,
        table: &str,
        key_name: &str,
        ids: &[String],
    ) -> Result<HashMap<String, Item>, StoreError> {
        let mut found = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH_GET_KEYS) {
            let mut keys: Vec<Item> = chunk.iter().map(|id| Self::key_of(key_name, id)).collect();
            keys.dedup();
            let mut attempt = 0;
            while !keys.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut keys)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| build_error("a BatchGetItem request", e))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(table, request)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(|e| store_error("BatchGetItem", &e))?;
                self.capacity.read(out.consumed_capacity().iter());
                for item in out.responses.unwrap_or_default().remove(table).unwrap_or_default() {
                    if let Some(AttributeValue::S(id)) = item.get(key_name) {
                        found.insert(id.clone(), item);
                    }
                }
                if let Some(unprocessed) = out.unprocessed_keys.and_then(|mut u| u.remove(table)) {
                    keys = unprocessed.keys;
                    if !keys.is_empty() {
                        attempt += 1;
                        if attempt > CONFLICT_ATTEMPTS {
                            return Err(StoreError::Unavailable(format!(
                                "BatchGetItem on {table}: keys still unprocessed after {attempt} attempts"
                            )));
                        }
                        tokio::time::sleep(backoff(attempt)).await;
                    }
                }
            }
        }
        Ok(found)
    }

    /// One page of index entries (keys only), newest first: `(created_at, order_id)`, and whether
    /// more entries follow the page.
    async fn query_index(
        &self,
        index: &str,
        partition: &str,
        value: &str,
        limit: usize,
        after: Option<&Cursor>,
    ) -> Result<(Vec<(String, String)>, bool), StoreError> {
        let mut entries = Vec::new();
        let mut start = after.map(|c| c.start_key(&self.names, partition, value));
        loop {
            let mut expr = Expr::default();
            let condition = format!("{} = {}", expr.name(partition), expr.value(s(value)));
            let want = i32::try_from(limit + 1 - entries.len()).unwrap_or(i32::MAX);
            let out = self
                .client
                .query()
                .table_name(&self.tables.orders.name)
                .index_name(index)
                .key_condition_expression(condition)
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .scan_index_forward(false)
                .limit(want)
                .set_exclusive_start_key(start.take())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| store_error("Query", &e))?;
            self.capacity.read(out.consumed_capacity());
            for entry in out.items.unwrap_or_default() {
                let created_at = item::get_s(&entry, &self.names.created_at)?.to_owned();
                let order_id = item::get_s(&entry, &self.names.key)?.to_owned();
                entries.push((created_at, order_id));
            }
            if entries.len() > limit {
                entries.truncate(limit);
                return Ok((entries, true));
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok((entries, false)),
            }
        }
    }

    /// The stored stock of `products` (absent = unknown) and charges of `orders` (`Some(refunded)`).
    async fn read_effect_state(
        &self,
        products: &[String],
        orders: &[String],
    ) -> Result<(HashMap<String, Option<Stock>>, HashMap<String, Option<bool>>), StoreError> {
        let inventory = &self.tables.inventory;
        let mut stock_items = self.batch_get(&inventory.name, &inventory.key, products).await?;
        let mut stock = HashMap::with_capacity(products.len());
        for product in products {
            let value = stock_items.remove(product).map(|i| item::decode_stock(&i)).transpose()?;
            stock.insert(product.clone(), value);
        }
        let ledger = &self.tables.ledger;
        let mut ledger_items = self.batch_get(&ledger.name, &ledger.key, orders).await?;
        let mut charges = HashMap::with_capacity(orders.len());
        for order_id in orders {
            let entry = match ledger_items.remove(order_id) {
                Some(i) => item::decode_ledger(&i, &ledger.key)?,
                None => None,
            };
            charges.insert(order_id.clone(), entry.map(|e| e.charge.refunded));
        }
        Ok((stock, charges))
    }

    // -----------------------------------------------------------------------------------------
    // Writes
    // -----------------------------------------------------------------------------------------

    async fn transact(&self, op: &str, items: Vec<TransactWriteItem>) -> Result<(), TxError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(ulid::Ulid::new().to_string())
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(out) => {
                self.capacity.write(out.consumed_capacity().iter());
                Ok(())
            }
            Err(e) => {
                self.capacity.failed_write();
                if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = e.as_service_error() {
                    let codes = cancelled
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().unwrap_or("None").to_owned())
                        .collect();
                    return Err(TxError::Cancelled(codes));
                }
                Err(TxError::Store(store_error(op, &e)))
            }
        }
    }

    /// Commits a transition without effects on other items: one PutItem of the order conditioned on
    /// `version = expected` (see the module docs).
    async fn put_transition(&self, transition: &Transition) -> Result<(), CommitError> {
        let order = &transition.order;
        let item = item::encode_order(order, &self.names)?;
        for attempt in 0..CONFLICT_ATTEMPTS {
            let mut expr = Expr::default();
            let condition = format!("{} = {}", expr.name(item::VERSION), expr.value(n(transition.expected_version)));
            let result = self
                .client
                .put_item()
                .table_name(&self.tables.orders.name)
                .set_item(Some(item.clone()))
                .condition_expression(condition)
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await;
            let error = match result {
                Ok(out) => {
                    self.capacity.write(out.consumed_capacity());
                    return Ok(());
                }
                Err(e) => e,
            };
            self.capacity.failed_write();
            match error.as_service_error() {
                Some(e) if e.is_conditional_check_failed_exception() => {
                    return Err(CommitError::Conflict {
                        order_id: order.order_id.clone(),
                        expected: transition.expected_version,
                    });
                }
                Some(e) if e.is_transaction_conflict_exception() => {
                    retry_after_conflict("PutItem", &order.order_id, attempt).await;
                }
                _ => return Err(store_error("PutItem", &error).into()),
            }
        }
        Err(StoreError::Unavailable(format!(
            "the transition of order {} still conflicts after {CONFLICT_ATTEMPTS} attempts",
            order.order_id
        ))
        .into())
    }

    /// The Put of an order conditioned by `condition(expr, version placeholder)`.
    fn put_order(&self, order: &Order, expected_version: Option<u64>) -> Result<TransactWriteItem, StoreError> {
        let mut expr = Expr::default();
        let condition = match expected_version {
            Some(v) => format!("{} = {}", expr.name(item::VERSION), expr.value(n(v))),
            None => format!("attribute_not_exists({})", expr.name(&self.names.key)),
        };
        let put = Put::builder()
            .table_name(&self.tables.orders.name)
            .set_item(Some(item::encode_order(order, &self.names)?))
            .condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .build()
            .map_err(|e| build_error("the order's Put", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn stock_update(&self, op: &StockOp) -> Result<TransactWriteItem, StoreError> {
        let table = &self.tables.inventory;
        let mut expr = Expr::default();
        let (a, r) = (expr.name(item::AVAILABLE), expr.name(item::RESERVED));
        let update = format!(
            "SET {a} = {a} + {}, {r} = {r} + {}",
            expr.value(n(op.delta_available)),
            expr.value(n(op.delta_reserved))
        );
        let mut condition = format!("attribute_exists({})", expr.name(&table.key));
        if op.min_available > 0 {
            condition.push_str(&format!(" AND {a} >= {}", expr.value(n(op.min_available))));
        }
        if op.min_reserved > 0 {
            condition.push_str(&format!(" AND {r} >= {}", expr.value(n(op.min_reserved))));
        }
        let update = Update::builder()
            .table_name(&table.name)
            .set_key(Some(Self::key_of(&table.key, &op.product_id)))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .build()
            .map_err(|e| build_error("a stock Update", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn ledger_update(&self, op: &LedgerOp) -> Result<TransactWriteItem, StoreError> {
        let table = &self.tables.ledger;
        let mut expr = Expr::default();
        let mut sets = Vec::new();
        if let Some(charge) = &op.charge {
            for (attribute, value) in item::charge_values(charge) {
                sets.push(format!("{} = {}", expr.name(attribute), expr.value(value)));
            }
        } else if op.refund {
            sets.push(format!("{} = {}", expr.name(item::REFUNDED), expr.value(AttributeValue::Bool(true))));
        }
        for notification in &op.notifications {
            let attribute = expr.name(&item::notification_attribute(&notification.step));
            let value = expr.value(item::encode_notification(notification, u128::from(self.next_seq())));
            sets.push(format!("{attribute} = if_not_exists({attribute}, {value})"));
        }
        let condition = match op.condition {
            LedgerCondition::None => None,
            LedgerCondition::NotCharged => Some(format!("attribute_not_exists({})", expr.name(item::CHARGE_ID))),
            LedgerCondition::ChargedNotRefunded => Some(format!(
                "attribute_exists({}) AND {} = {}",
                expr.name(item::CHARGE_ID),
                expr.name(item::REFUNDED),
                expr.value(AttributeValue::Bool(false))
            )),
        };
        let update = Update::builder()
            .table_name(&table.name)
            .set_key(Some(Self::key_of(&table.key, &op.order_id)))
            .update_expression(format!("SET {}", sets.join(", ")))
            .set_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .build()
            .map_err(|e| build_error("a ledger Update", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn transition_items(&self, transition: &Transition, merged: &Merged) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut items = Vec::with_capacity(1 + merged.stock.len() + merged.ledger.len());
        items.push(self.put_order(&transition.order, Some(transition.expected_version))?);
        for op in &merged.stock {
            items.push(self.stock_update(op)?);
        }
        for op in &merged.ledger {
            items.push(self.ledger_update(op)?);
        }
        if items.len() > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::Invalid(format!(
                "the transition of order {} writes {} items; DynamoDB transactions hold at most {MAX_TRANSACTION_ITEMS}",
                transition.order.order_id,
                items.len()
            )));
        }
        Ok(items)
    }

    /// Why the transition cannot commit, from the stored items: `Conflict` when the order is not at
    /// the expected version, else the first effect that fails on the stored state; `None` when it
    /// could commit now (the state changed since the failure).
    async fn diagnose(&self, transition: &Transition) -> Result<Option<CommitError>, StoreError> {
        let order_id = &transition.order.order_id;
        let stored = self.get_item(&self.tables.orders.name, self.order_key(order_id)).await?;
        let version = stored.as_ref().map(|i| item::get_n::<u64>(i, item::VERSION)).transpose()?;
        if version != Some(transition.expected_version) {
            return Ok(Some(CommitError::Conflict {
                order_id: order_id.clone(),
                expected: transition.expected_version,
            }));
        }
        let (products, orders) = effects::touched(&transition.effects);
        let (stock, charges) = self.read_effect_state(&products, &orders).await?;
        Ok(effects::simulate(&transition.effects, stock, charges).err().map(CommitError::Effect))
    }

    /// Puts the idempotency record and the order in one transaction. `gone`: the order the key
    /// created earlier, known to have expired, so the record may be replaced.
    fn create_with_key_items(
        &self,
        order: &Order,
        key: &IdempotencyKey,
        gone: Option<&str>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let table = &self.tables.idempotency;
        let mut record = HashMap::from([
            (table.key.clone(), s(&key.key)),
            (item::REQUEST_HASH.to_owned(), s(&key.request_hash)),
            (item::KEY_ORDER_ID.to_owned(), s(&order.order_id)),
            (item::KEY_CREATED_AT.to_owned(), s(&order.created_at)),
        ]);
        let mut expr = Expr::default();
        let mut condition = format!("attribute_not_exists({})", expr.name(&table.key));
        if let Some(ttl) = &table.ttl {
            let now = now_epoch();
            record.insert(ttl.attribute.clone(), n(now.saturating_add(i64::from(ttl.days) * 86_400)));
            condition.push_str(&format!(" OR {} < {}", expr.name(&ttl.attribute), expr.value(n(now))));
        }
        if let Some(gone) = gone {
            condition.push_str(&format!(" OR {} = {}", expr.name(item::KEY_ORDER_ID), expr.value(s(gone))));
        }
        let put = Put::builder()
            .table_name(&table.name)
            .set_item(Some(record))
            .condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .build()
            .map_err(|e| build_error("the idempotency record's Put", e))?;
        Ok(vec![TransactWriteItem::builder().put(put).build(), self.put_order(order, None)?])
    }

    async fn create_with_key(&self, order: &Order, key: &IdempotencyKey) -> Result<Created, StoreError> {
        let mut gone: Option<String> = None;
        for attempt in 0..CONFLICT_ATTEMPTS {
            let items = self.create_with_key_items(order, key, gone.as_deref())?;
            let codes = match self.transact("TransactWriteItems", items).await {
                Ok(()) => return Ok(Created::New),
                Err(TxError::Store(e)) => return Err(e),
                Err(TxError::Cancelled(codes)) => codes,
            };
            let code = |i: usize| codes.get(i).map(String::as_str);
            if code(0) == Some(CONDITIONAL_CHECK_FAILED) {
                let table = &self.tables.idempotency;
                let Some(record) = self.get_item(&table.name, Self::key_of(&table.key, &key.key)).await? else {
                    continue;
                };
                let expired = table
                    .ttl
                    .as_ref()
                    .is_some_and(|ttl| item::get_n::<i64>(&record, &ttl.attribute).is_ok_and(|at| at < now_epoch()));
                if expired {
                    continue;
                }
                let order_id = item::get_s(&record, item::KEY_ORDER_ID)?.to_owned();
                if item::get_s(&record, item::REQUEST_HASH)? != key.request_hash {
                    return Ok(Created::KeyReused { order_id });
                }
                match self.get_order(&order_id).await? {
                    Some(existing) => return Ok(Created::Existing(existing)),
                    // The order the key created expired: the key is forgotten with it.
                    None => gone = Some(order_id),
                }
            } else if code(1) == Some(CONDITIONAL_CHECK_FAILED) {
                return Err(StoreError::Invalid(format!("order {} already exists", order.order_id)));
            } else if codes.iter().any(|c| c == TRANSACTION_CONFLICT) {
                retry_after_conflict("TransactWriteItems", &order.order_id, attempt).await;
            } else {
                return Err(StoreError::Unavailable(format!(
                    "creating order {} was cancelled: {codes:?}",
                    order.order_id
                )));
            }
        }
        Err(StoreError::Unavailable(format!(
            "creating order {} under key {}: still conflicting after {CONFLICT_ATTEMPTS} attempts",
            order.order_id, key.key
        )))
    }

    async fn create_without_key(&self, order: &Order) -> Result<Created, StoreError> {
        let mut expr = Expr::default();
        let condition = format!("attribute_not_exists({})", expr.name(&self.names.key));
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.orders.name)
            .set_item(Some(item::encode_order(order, &self.names)?))
            .condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(out) => {
                self.capacity.write(out.consumed_capacity());
                Ok(Created::New)
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                self.capacity.failed_write();
                // The SDK may have retried a put that had in fact succeeded: then the stored order
                // is this one.
                if self.get_order(&order.order_id).await?.as_ref() == Some(order) {
                    return Ok(Created::New);
                }
                Err(StoreError::Invalid(format!("order {} already exists", order.order_id)))
            }
            Err(e) => {
                self.capacity.failed_write();
                Err(store_error("PutItem", &e))
            }
        }
    }

    /// [`Store::commit`]: see the module docs.
    async fn commit_transition(&self, transition: &Transition) -> Result<(), CommitError> {
        transition.check_version()?;
        let order = &transition.order;
        let Some(merged) = effects::merge(&transition.effects) else {
            // The effects can never all succeed: report why without writing.
            return Err(self.diagnose(transition).await?.unwrap_or_else(|| {
                CommitError::Store(StoreError::Invalid("the transition's effects contradict each other".into()))
            }));
        };
        if merged.is_empty() {
            return self.put_transition(transition).await;
        }
        for attempt in 0..CONFLICT_ATTEMPTS {
            let items = self.transition_items(transition, &merged)?;
            let codes = match self.transact("TransactWriteItems", items).await {
                Ok(()) => return Ok(()),
                Err(TxError::Store(e)) => return Err(e.into()),
                Err(TxError::Cancelled(codes)) => codes,
            };
            if codes.first().map(String::as_str) == Some(CONDITIONAL_CHECK_FAILED) {
                return Err(CommitError::Conflict {
                    order_id: order.order_id.clone(),
                    expected: transition.expected_version,
                });
            }
            if codes.iter().any(|c| c == CONDITIONAL_CHECK_FAILED) {
                if let Some(error) = self.diagnose(transition).await? {
                    return Err(error);
                }
            } else if !codes.iter().any(|c| c == TRANSACTION_CONFLICT) {
                return Err(StoreError::Unavailable(format!(
                    "the transition of order {} was cancelled: {codes:?}",
                    order.order_id
                ))
                .into());
            }
            retry_after_conflict("TransactWriteItems", &order.order_id, attempt).await;
        }
        Err(StoreError::Unavailable(format!(
            "the transition of order {} still conflicts after {CONFLICT_ATTEMPTS} attempts",
            order.order_id
        ))
        .into())
    }

    async fn ledger_item(&self, order_id: &str) -> Result<Option<Item>, StoreError> {
        let ledger = &self.tables.ledger;
        self.get_item(&ledger.name, Self::key_of(&ledger.key, order_id)).await
    }
}

fn sorted_notifications(mut found: Vec<(u128, Notification)>) -> Vec<Notification> {
    found.sort_by_key(|(seq, _)| *seq);
    found.into_iter().map(|(_, n)| n).collect()
}

#[async_trait]
impl Store for DynamoStore {
    async fn create_order(&self, order: &Order, key: Option<&IdempotencyKey>) -> Result<Created, StoreError> {
        if order.version != 1 || order.status != status::RECEIVED {
            return Err(StoreError::Invalid(format!(
                "a new order has version 1 and status RECEIVED, not version {} and status {}",
                order.version, order.status
            )));
        }
        let created = match key {
            Some(key) => self.create_with_key(order, key).await,
            None => self.create_without_key(order).await,
        };
        if matches!(created, Ok(Created::New)) {
            self.written.notify_one();
        }
        created
    }

    async fn get_order(&self, order_id: &str) -> Result<Option<Order>, StoreError> {
        if order_id.is_empty() {
            return Ok(None);
        }
        let item = self.get_item(&self.tables.orders.name, self.order_key(order_id)).await?;
        item.map(|i| item::decode_order(&i, &self.names)).transpose()
    }

    async fn list_orders(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let after = query.cursor.as_deref().map(Cursor::decode).transpose()?;
        let limit = query.limit.max(1) as usize;
        let orders = &self.tables.orders;
        let (index, partition, value) = match &query.status {
            Some(wanted) => {
                let ix = orders.status_index.as_ref().ok_or_else(|| {
                    StoreError::Invalid(format!("table {} has no status index to list by status", orders.name))
                })?;
                (ix, &ix.partition_key, wanted.as_str())
            }
            None => {
                let ix = orders.recent_index.as_ref().ok_or_else(|| {
                    StoreError::Invalid(format!("table {} has no recent index to list orders", orders.name))
                })?;
                (ix, &ix.partition_key, item::ORDER_KIND)
            }
        };
        if value.is_empty() {
            return Ok(Page { orders: Vec::new(), next: None });
        }
        let (entries, more) = self.query_index(&index.name, partition, value, limit, after.as_ref()).await?;
        let ids: Vec<String> = entries.iter().map(|(_, id)| id.clone()).collect();
        let mut items = self.batch_get(&orders.name, &orders.key, &ids).await?;
        let mut page = Vec::with_capacity(ids.len());
        for id in &ids {
            let Some(found) = items.remove(id) else { continue };
            let order = match item::decode_order(&found, &self.names) {
                Ok(order) => order,
                // One damaged item does not take the listing down with it: it is left out and
                // logged; reading it alone (`get_order`) reports it.
                Err(e) => {
                    tracing::error!(order_id = %id, error = %e, "an order cannot be read: left out of the listing");
                    continue;
                }
            };
            if query.status.as_ref().is_none_or(|s| *s == order.status) {
                page.push(order);
            }
        }
        let next = match (more, entries.last()) {
            (true, Some((created_at, order_id))) => {
                Some(Cursor { created_at: created_at.clone(), order_id: order_id.clone() }.encode())
            }
            _ => None,
        };
        Ok(Page { orders: page, next })
    }

    async fn commit(&self, transition: &Transition) -> Result<(), CommitError> {
        let committed = self.commit_transition(transition).await;
        if committed.is_ok() {
            self.written.notify_one();
        }
        committed
    }

    fn write_notifier(&self) -> Option<Arc<Notify>> {
        Some(self.written.clone())
    }

    async fn seed_inventory(&self, stock: &BTreeMap<String, u64>) -> Result<usize, StoreError> {
        let table = &self.tables.inventory;
        let mut added = 0;
        for (product_id, units) in stock {
            let mut expr = Expr::default();
            let condition = format!("attribute_not_exists({})", expr.name(&table.key));
            let result = self
                .client
                .put_item()
                .table_name(&table.name)
                .item(&table.key, s(product_id))
                .item(item::AVAILABLE, n(units))
                .item(item::RESERVED, n(0))
                .condition_expression(condition)
                .set_expression_attribute_names(expr.names())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await;
            match result {
                Ok(out) => {
                    self.capacity.write(out.consumed_capacity());
                    added += 1;
                }
                Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                    self.capacity.failed_write();
                }
                Err(e) => return Err(store_error("PutItem", &e)),
            }
        }
        Ok(added)
    }

    /// Scans the inventory table (an inspection helper, never on a request path).
    async fn inventory(&self) -> Result<BTreeMap<String, Stock>, StoreError> {
        let table = &self.tables.inventory;
        let mut stock = BTreeMap::new();
        for found in self.scan_all(&table.name).await? {
            stock.insert(item::get_s(&found, &table.key)?.to_owned(), item::decode_stock(&found)?);
        }
        Ok(stock)
    }

    async fn ledger_entry(&self, order_id: &str) -> Result<Option<LedgerEntry>, StoreError> {
        if order_id.is_empty() {
            return Ok(None);
        }
        match self.ledger_item(order_id).await? {
            Some(found) => item::decode_ledger(&found, &self.tables.ledger.key),
            None => Ok(None),
        }
    }

    /// Counts the charged items of the ledger with a Scan (an inspection helper).
    async fn ledger_count(&self) -> Result<u64, StoreError> {
        let mut count = 0u64;
        let mut start: Option<Item> = None;
        loop {
            let mut expr = Expr::default();
            let filter = format!("attribute_exists({})", expr.name(item::CHARGE_ID));
            let out = self
                .client
                .scan()
                .table_name(&self.tables.ledger.name)
                .filter_expression(filter)
                .set_expression_attribute_names(expr.names())
                .select(Select::Count)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| store_error("Scan", &e))?;
            self.capacity.read(out.consumed_capacity());
            count += u64::try_from(out.count).unwrap_or(0);
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(count),
            }
        }
    }

    /// One GetItem for an order; a Scan of the ledger table for all orders (an inspection helper).
    async fn outbox(&self, order_id: Option<&str>) -> Result<Vec<Notification>, StoreError> {
        let mut found = Vec::new();
        match order_id {
            Some("") => {}
            Some(order_id) => {
                if let Some(ledger) = self.ledger_item(order_id).await? {
                    found = item::decode_notifications(&ledger)?;
                }
            }
            None => {
                for ledger in self.scan_all(&self.tables.ledger.name).await? {
                    found.extend(item::decode_notifications(&ledger)?);
                }
            }
        }
        Ok(sorted_notifications(found))
    }
}
