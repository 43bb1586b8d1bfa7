//! [`MemoryStore`]: the in-memory [`Store`] and [`ChangeFeed`], the reference backend of the tests.
//!
//! One mutex around plain maps, never held across an `.await`. It has the semantics the traits
//! document: a transition commits only at the expected version and only if every effect's condition
//! holds (effects are staged on an overlay, then applied together); each state change appends one
//! change record with a decimal sequence number; idempotency keys remember the body hash; listing
//! is newest first (by `created_at`, then order id) with an opaque base64 cursor.
//!
//! A panic while the lock is held cannot leave half a commit behind (nothing is applied before every
//! condition passed), so a poisoned lock is recovered rather than propagated.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::sync::Notify;

use crate::order::Order;
use crate::plan::status;

use super::{
    ChangeFeed, ChangeKind, ChangeRecord, CommitError, Created, Effect, EffectError, IdempotencyKey, LedgerEntry,
    ListQuery, Notification, Page, Stock, Store, StoreError, Transition, Units, compare_sequence,
};

/// An in-memory store with a change feed.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    changed: Arc<Notify>,
}

#[derive(Debug, Default)]
struct State {
    orders: HashMap<String, Order>,
    /// `(created_at, order_id)` of every order: the listing order.
    by_created: BTreeSet<(String, String)>,
    inventory: BTreeMap<String, Stock>,
    ledger: BTreeMap<String, LedgerEntry>,
    outbox: Vec<Notification>,
    /// `(order_id, step)` of every notification in the outbox.
    sent: HashSet<(String, String)>,
    /// Idempotency key → (request hash, order id).
    keys: HashMap<String, (String, String)>,
    changes: Vec<ChangeRecord>,
    last_sequence: u64,
    checkpoints: HashMap<String, String>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Woken (`notify_one`) whenever a change record is appended: a processor can wait on it
    /// instead of polling.
    pub fn change_notifier(&self) -> Arc<Notify> {
        self.changed.clone()
    }

    /// Removes the orders whose `expires_at` is at or before `now` (epoch seconds), like DynamoDB's
    /// TTL, each with a `REMOVE` change record; returns how many were removed.
    pub fn remove_expired(&self, now: i64) -> usize {
        let mut state = self.lock();
        let mut expired: Vec<Order> =
            state.orders.values().filter(|o| o.expires_at.is_some_and(|e| e <= now)).cloned().collect();
        expired.sort_by(|a, b| a.order_id.cmp(&b.order_id));
        for order in &expired {
            state.orders.remove(&order.order_id);
            state.by_created.remove(&(order.created_at.clone(), order.order_id.clone()));
            state.append(ChangeKind::Remove, &order.order_id, None);
        }
        drop(state);
        if !expired.is_empty() {
            self.changed.notify_one();
        }
        expired.len()
    }

    /// Number of change records appended so far.
    pub fn change_count(&self) -> usize {
        self.lock().changes.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // See the module docs: the state is consistent even if a holder panicked.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn append(&mut self, kind: ChangeKind, order_id: &str, new_image: Option<Order>) {
        self.last_sequence += 1;
        self.changes.push(ChangeRecord {
            sequence_number: self.last_sequence.to_string(),
            kind,
            order_id: order_id.to_owned(),
            new_image,
        });
    }
}

/// Effects applied to a copy of what they touch, merged into the state only when all succeed.
#[derive(Default)]
struct Staged {
    stock: BTreeMap<String, Stock>,
    ledger: BTreeMap<String, LedgerEntry>,
    outbox: Vec<Notification>,
}

impl Staged {
    fn stock<'a>(&'a mut self, state: &State, product_id: &str) -> Result<&'a mut Stock, EffectError> {
        match self.stock.entry(product_id.to_owned()) {
            Entry::Occupied(staged) => Ok(staged.into_mut()),
            Entry::Vacant(slot) => {
                let stock = state
                    .inventory
                    .get(product_id)
                    .copied()
                    .ok_or_else(|| EffectError::UnknownProduct { product_id: product_id.to_owned() })?;
                Ok(slot.insert(stock))
            }
        }
    }

    fn ledger(&self, state: &State, order_id: &str) -> Option<LedgerEntry> {
        self.ledger.get(order_id).or_else(|| state.ledger.get(order_id)).cloned()
    }

    fn apply(&mut self, state: &State, effect: &Effect) -> Result<(), EffectError> {
        match effect {
            Effect::ReserveStock { units } => self.each(state, units, |stock, u| {
                if stock.available < u.quantity {
                    return Err(EffectError::OutOfStock {
                        product_id: u.product_id.clone(),
                        requested: u.quantity,
                        available: stock.available,
                    });
                }
                stock.available -= u.quantity;
                stock.reserved += u.quantity;
                Ok(())
            }),
            Effect::ReleaseStock { units } => self.each(state, units, |stock, u| {
                take_reserved(stock, u)?;
                stock.available = stock.available.saturating_add(u.quantity);
                Ok(())
            }),
            Effect::CommitStock { units } => self.each(state, units, take_reserved),
            Effect::RecordCharge { order_id, charge } => {
                if self.ledger(state, order_id).is_some() {
                    return Err(EffectError::AlreadyCharged { order_id: order_id.clone() });
                }
                self.ledger
                    .insert(order_id.clone(), LedgerEntry { order_id: order_id.clone(), charge: charge.clone() });
                Ok(())
            }
            Effect::RefundCharge { order_id } => match self.ledger(state, order_id) {
                Some(mut entry) if !entry.charge.refunded => {
                    entry.charge.refunded = true;
                    self.ledger.insert(order_id.clone(), entry);
                    Ok(())
                }
                _ => Err(EffectError::NothingToRefund { order_id: order_id.clone() }),
            },
            Effect::SendNotification { notification } => {
                let id = (notification.order_id.clone(), notification.step.clone());
                let staged = self.outbox.iter().any(|n| n.order_id == id.0 && n.step == id.1);
                if !staged && !state.sent.contains(&id) {
                    self.outbox.push(notification.clone());
                }
                Ok(())
            }
        }
    }

    /// Applies `f` to each product's stock with the units summed per product (first appearance
    /// first), so that an error reports the whole request for the product.
    fn each(
        &mut self,
        state: &State,
        units: &[Units],
        mut f: impl FnMut(&mut Stock, &Units) -> Result<(), EffectError>,
    ) -> Result<(), EffectError> {
        let mut summed: Vec<Units> = Vec::with_capacity(units.len());
        for u in units {
            match summed.iter_mut().find(|s| s.product_id == u.product_id) {
                Some(s) => s.quantity = s.quantity.saturating_add(u.quantity),
                None => summed.push(u.clone()),
            }
        }
        for u in &summed {
            f(self.stock(state, &u.product_id)?, u)?;
        }
        Ok(())
    }

    fn merge(self, state: &mut State) {
        state.inventory.extend(self.stock);
        state.ledger.extend(self.ledger);
        for n in self.outbox {
            state.sent.insert((n.order_id.clone(), n.step.clone()));
            state.outbox.push(n);
        }
    }
}

fn take_reserved(stock: &mut Stock, u: &Units) -> Result<(), EffectError> {
    if stock.reserved < u.quantity {
        return Err(EffectError::NotReserved {
            product_id: u.product_id.clone(),
            requested: u.quantity,
            reserved: stock.reserved,
        });
    }
    stock.reserved -= u.quantity;
    Ok(())
}

fn encode_cursor(order: &Order) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}\n{}", order.created_at, order.order_id))
}

fn decode_cursor(cursor: &str) -> Result<(String, String), StoreError> {
    let invalid = || StoreError::Invalid(format!("malformed cursor `{cursor}`"));
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (created_at, order_id) = text.split_once('\n').ok_or_else(invalid)?;
    Ok((created_at.to_owned(), order_id.to_owned()))
}

#[async_trait]
impl Store for MemoryStore {
    async fn create_order(&self, order: &Order, key: Option<&IdempotencyKey>) -> Result<Created, StoreError> {
        if order.version != 1 || order.status != status::RECEIVED {
            return Err(StoreError::Invalid(format!(
                "a new order has version 1 and status RECEIVED, not version {} and status {}",
                order.version, order.status
            )));
        }
        let mut state = self.lock();
        if let Some(key) = key
            && let Some((hash, order_id)) = state.keys.get(&key.key)
        {
            if *hash != key.request_hash {
                return Ok(Created::KeyReused { order_id: order_id.clone() });
            }
            if let Some(existing) = state.orders.get(order_id) {
                return Ok(Created::Existing(existing.clone()));
            }
            // The order the key created expired: the key is forgotten with it.
        }
        if state.orders.contains_key(&order.order_id) {
            return Err(StoreError::Invalid(format!("order {} already exists", order.order_id)));
        }
        if let Some(key) = key {
            state.keys.insert(key.key.clone(), (key.request_hash.clone(), order.order_id.clone()));
        }
        state.orders.insert(order.order_id.clone(), order.clone());
        state.by_created.insert((order.created_at.clone(), order.order_id.clone()));
        state.append(ChangeKind::Insert, &order.order_id, Some(order.clone()));
        drop(state);
        self.changed.notify_one();
        Ok(Created::New)
    }

    async fn get_order(&self, order_id: &str) -> Result<Option<Order>, StoreError> {
        Ok(self.lock().orders.get(order_id).cloned())
    }

    async fn list_orders(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
        let limit = query.limit.max(1) as usize;
        let state = self.lock();
        let keys = state.by_created.iter().rev().filter(|k| after.as_ref().is_none_or(|a| *k < a));
        let mut matching = keys
            .filter_map(|(_, id)| state.orders.get(id))
            .filter(|o| query.status.as_ref().is_none_or(|s| *s == o.status));
        let orders: Vec<Order> = matching.by_ref().take(limit).cloned().collect();
        let next = match (orders.last(), matching.next()) {
            (Some(last), Some(_)) => Some(encode_cursor(last)),
            _ => None,
        };
        Ok(Page { orders, next })
    }

    async fn commit(&self, transition: &Transition) -> Result<(), CommitError> {
        transition.check_version()?;
        let order = &transition.order;
        let mut state = self.lock();
        let current = state.orders.get(&order.order_id).map(|o| o.version);
        if current != Some(transition.expected_version) {
            return Err(CommitError::Conflict {
                order_id: order.order_id.clone(),
                expected: transition.expected_version,
            });
        }
        let mut staged = Staged::default();
        for effect in &transition.effects {
            staged.apply(&state, effect)?;
        }
        staged.merge(&mut state);
        state.orders.insert(order.order_id.clone(), order.clone());
        state.append(ChangeKind::Modify, &order.order_id, Some(order.clone()));
        drop(state);
        self.changed.notify_one();
        Ok(())
    }

    async fn seed_inventory(&self, stock: &BTreeMap<String, u64>) -> Result<usize, StoreError> {
        let mut state = self.lock();
        let mut added = 0;
        for (product_id, units) in stock {
            if !state.inventory.contains_key(product_id) {
                state.inventory.insert(product_id.clone(), Stock { available: *units, reserved: 0 });
                added += 1;
            }
        }
        Ok(added)
    }

    async fn inventory(&self) -> Result<BTreeMap<String, Stock>, StoreError> {
        Ok(self.lock().inventory.clone())
    }

    async fn ledger_entry(&self, order_id: &str) -> Result<Option<LedgerEntry>, StoreError> {
        Ok(self.lock().ledger.get(order_id).cloned())
    }

    async fn ledger_count(&self) -> Result<u64, StoreError> {
        Ok(self.lock().ledger.len() as u64)
    }

    async fn outbox(&self, order_id: Option<&str>) -> Result<Vec<Notification>, StoreError> {
        let state = self.lock();
        Ok(state.outbox.iter().filter(|n| order_id.is_none_or(|id| n.order_id == id)).cloned().collect())
    }
}

#[async_trait]
impl ChangeFeed for MemoryStore {
    async fn read_changes(&self, after: Option<&str>, limit: usize) -> Result<Vec<ChangeRecord>, StoreError> {
        if let Some(after) = after
            && (after.is_empty() || !after.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(StoreError::Invalid(format!("`{after}` is not a sequence number")));
        }
        let state = self.lock();
        let start = match after {
            None => 0,
            Some(after) => state
                .changes
                .partition_point(|r| compare_sequence(&r.sequence_number, after) != std::cmp::Ordering::Greater),
        };
        Ok(state.changes.iter().skip(start).take(limit).cloned().collect())
    }

    async fn checkpoint(&self, consumer: &str) -> Result<Option<String>, StoreError> {
        Ok(self.lock().checkpoints.get(consumer).cloned())
    }

    async fn save_checkpoint(&self, consumer: &str, sequence_number: &str) -> Result<(), StoreError> {
        self.lock().checkpoints.insert(consumer.to_owned(), sequence_number.to_owned());
        Ok(())
    }
}
