//! DynamoDB request units of one order, sized from the [`Trace`] of the runtime's real calls.
//!
//! For orchgen the requests are exactly those `DynamoStore` sends (runtime/src/store/dynamodb):
//! - creation: a conditional PutItem of the order item (`item::encode_order`), or with an
//!   `Idempotency-Key` a TransactWriteItems of the key's record and the order;
//! - each committed transition whose merged effects (`effects::merge`) touch other items: one
//!   TransactWriteItems of the order's Put (conditioned on its version) plus one Update per inventory
//!   item and per ledger item; a transition without such effects (`Merged::is_empty`, the store's own
//!   test): one conditional PutItem of the order, at standard (not transactional) units;
//! - each change record the engine acts on: one consistent GetItem of the order; `GET {path}/{id}`: the
//!   same.
//!
//! Units follow DynamoDB's documented rules (`capacity::item_size`, `write_units`, `read_units`): a
//! write costs 1 WCU per started KB of the larger of the item's sizes before and after it (the order
//! item as `item::encode_order` writes it), twice that inside a transaction; each global secondary index whose key attributes a write sets or changes costs
//! 1 WCU per KB of index entry (keys plus 100 bytes), 2 when an existing entry moves (delete + put);
//! index writes are propagated outside the transaction and charged as standard writes; TTL deletions
//! are free; a consistent read costs 1 RCU per started 4 KB, an eventually consistent one half.
//!
//! **Why this differs from what DynamoDB Local reports** (BENCHMARKS.md: 107 WCU per order with every
//! move a transaction; `dynamodb_engine`'s `moves_without_effects_are_plain_puts_and_cost_fewer_write_units`
//! prints 82 WCU with the moves without effects as PutItems): the request count is the same (7 writes
//! and 6 engine reads on the reference plan), but DynamoDB Local's `ConsumedCapacity` for
//! TransactWriteItems does not follow the documented rules — it charges a transactional write of a
//! 1–2 KB order with its index changes far more than 2 WCU per KB (12–20 WCU each). AWS bills by the
//! rules above, so the model uses them rather than Local's accounting; the direction of a change
//! (fewer units for a PutItem than for a transaction, for a smaller item) is what Local confirms.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use orchgen_runtime::order::Order;
use orchgen_runtime::plan::{IndexPlan, TablesPlan};
use orchgen_runtime::store::Transition;
use orchgen_runtime::store::dynamodb::capacity::{
    INDEX_ENTRY_OVERHEAD_BYTES, item_size, read_units, value_size, write_units,
};
use orchgen_runtime::store::dynamodb::effects::{self, LedgerCondition};
use orchgen_runtime::store::dynamodb::item::{self, Item, OrderAttributes};
use serde::Serialize;

use super::simulate::Trace;

/// The outbox sequence number written on notifications: the store's clock in nanoseconds (19 digits).
const SEQ_NANOS: u128 = 1_800_000_000_000_000_000;

/// How a design writes and reads its tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Each transition with effects on other items is one TransactWriteItems (twice the units) and
    /// one without is a conditional PutItem, as `DynamoStore` commits them, rather than separate
    /// writes.
    pub transactional: bool,
    /// The orders table has orchgen's status and recent indexes.
    pub indexes: bool,
    /// How each processed change record reads the order: `None` when nothing reads it.
    pub processing_read: Option<Consistency>,
    /// How `GET {path}/{id}` reads the order.
    pub api_read: Consistency,
    /// The order is packed in its item as `DynamoStore` writes it (`store::packed`); otherwise its
    /// JSON is stored as text, as a design that writes the order from Python or from a state
    /// machine's DynamoDB task would.
    pub packed: bool,
}

/// Read consistency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Consistency {
    /// Strongly consistent: 1 RCU per 4 KB.
    Strong,
    /// Eventually consistent: half of that.
    Eventual,
}

/// One request to DynamoDB and what it costs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    /// What it does, e.g. `TransactWriteItems: reserve-inventory (order + 2 items)`.
    pub what: String,
    /// Write units of the table items.
    pub write_units: f64,
    /// Write units of index entries.
    pub index_write_units: f64,
    /// Read units.
    pub read_units: f64,
}

/// The DynamoDB usage of one order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    /// Write requests (a transaction counts once).
    pub write_requests: u32,
    /// Read requests.
    pub read_requests: u32,
    /// Write units, indexes included.
    pub write_units: f64,
    /// Read units.
    pub read_units: f64,
    /// Every request.
    pub requests: Vec<Request>,
    /// Bytes of the order's items once it is terminal (order, its index entries, ledger): what it
    /// stores until its TTL removes it.
    pub stored_bytes: u64,
    /// Bytes of the terminal order item alone.
    pub order_item_bytes: u64,
}

/// Sizes of index entries and stock/ledger items, as the store would write them.
struct Sizer<'a> {
    tables: &'a TablesPlan,
    names: OrderAttributes,
    access: Access,
}

impl Sizer<'_> {
    fn order_item(&self, order: &Order) -> Item {
        let order = representative(order);
        // Encoding an order that the runtime just stored cannot fail; an empty item sizes as 0.
        let mut item = item::encode_order(&order, &self.names).unwrap_or_default();
        if !self.access.packed {
            item.insert(item::ORDER.to_owned(), AttributeValue::S(serde_json::to_string(&order).unwrap_or_default()));
        }
        item
    }

    fn indexes(&self) -> Vec<&IndexPlan> {
        if !self.access.indexes {
            return Vec::new();
        }
        let orders = &self.tables.orders;
        orders.status_index.iter().chain(orders.recent_index.iter()).collect()
    }

    /// Bytes of an item's entry in `index`: the table key, the index keys and 100 bytes.
    fn index_entry(&self, index: &IndexPlan, item: &Item) -> u64 {
        let key = &self.tables.orders.key;
        let mut names = vec![key.as_str(), index.partition_key.as_str(), index.sort_key.as_str()];
        names.dedup();
        let attrs: u64 = names.iter().filter_map(|n| item.get(*n).map(|v| n.len() as u64 + value_size(v))).sum();
        attrs + INDEX_ENTRY_OVERHEAD_BYTES
    }

    /// Index write units of replacing `before` (absent: a new item) by `after`.
    fn index_writes(&self, before: Option<&Item>, after: &Item) -> f64 {
        let mut units = 0;
        for index in self.indexes() {
            let key_of = |item: &Item| (item.get(&index.partition_key).cloned(), item.get(&index.sort_key).cloned());
            let (new_pk, new_sk) = key_of(after);
            let present_after = new_pk.is_some() && new_sk.is_some();
            match before.map(key_of) {
                None if present_after => units += write_units(self.index_entry(index, after)),
                Some((old_pk, old_sk)) if (old_pk.clone(), old_sk.clone()) != (new_pk.clone(), new_sk.clone()) => {
                    if old_pk.is_some() && old_sk.is_some() {
                        units += write_units(self.index_entry(index, before.unwrap_or(after)));
                    }
                    if present_after {
                        units += write_units(self.index_entry(index, after));
                    }
                }
                _ => {}
            }
        }
        units as f64
    }

    fn entries_bytes(&self, item: &Item) -> u64 {
        self.indexes().into_iter().map(|ix| self.index_entry(ix, item)).sum()
    }
}

/// The order with its generated values (ids, times, durations, expiry, charge and tracking ids) replaced by
/// fixed ones of the same length and kind: the store packs the order, so its size depends a little on these
/// values, and the same pipeline must always be given the same estimate.
pub(crate) fn representative(order: &Order) -> Order {
    const ID: &str = "01KC3Y8T5QW2N7R4MZ6HJ9VXBD";
    const AT: &str = "2026-11-27T14:03:52.418Z";
    let same_length = |value: &str, pattern: &str| -> String { pattern.chars().cycle().take(value.len()).collect() };
    let mut order = order.clone();
    order.order_id = same_length(&order.order_id, ID);
    order.created_at = same_length(&order.created_at, AT);
    order.updated_at = same_length(&order.updated_at, AT);
    for entry in &mut order.history {
        entry.at = same_length(&entry.at, AT);
        // The simulation's own durations (0 or 1 ms) vary from run to run.
        entry.duration_ms = super::assumptions::RUST_STEP_MS as u64;
    }
    if let Some(charge) = &mut order.charge {
        charge.charge_id = same_length(&charge.charge_id, "ch_7f3a9c21e84b56d0fa12c9e3");
    }
    // DynamoDB sizes a number by its significant digits: a TTL ending in zeros would be smaller.
    if let Some(expires_at) = &mut order.expires_at {
        *expires_at = 1_811_234_567;
    }
    if let Some(shipment) = &mut order.shipment {
        shipment.tracking_id = same_length(&shipment.tracking_id, "TRK-4QZ8XM2V7PLD");
    }
    order
}

fn stock_item(key: &str, product: &str, available: i128, reserved: i128) -> Item {
    HashMap::from([
        (key.to_owned(), AttributeValue::S(product.to_owned())),
        (item::AVAILABLE.to_owned(), AttributeValue::N(available.to_string())),
        (item::RESERVED.to_owned(), AttributeValue::N(reserved.to_string())),
    ])
}

/// ` after <steps>`: the attempts a transition added to the order's history (empty when none).
fn after_steps(transition: &Transition, previous_attempts: usize) -> String {
    let history = &transition.order.history;
    let ran: Vec<&str> =
        history.get(history.len().min(previous_attempts)..).unwrap_or(&[]).iter().map(|h| h.step.as_str()).collect();
    if ran.is_empty() { String::new() } else { format!(" after {}", ran.join(", ")) }
}

/// Sizes the requests of the traced order for a design that accesses its tables as `access` says.
pub fn usage(trace: &Trace, access: Access) -> Usage {
    let tables = &trace.plan.tables;
    let sizer = Sizer { tables, names: OrderAttributes::of(&tables.orders), access };
    let factor = if access.transactional { 2 } else { 1 };
    let mut requests = Vec::new();

    // Creation.
    let created = sizer.order_item(&trace.created);
    let created_units = write_units(item_size(&created));
    let index_units = sizer.index_writes(None, &created);
    if trace.created_with_key && access.transactional {
        let record = tables.idempotency.key.len() as u64 + 64 + 2 * 40 + 60;
        requests.push(Request {
            what: "TransactWriteItems: create (idempotency record + order)".into(),
            write_units: (2 * (write_units(record) + created_units)) as f64,
            index_write_units: index_units,
            read_units: 0.0,
        });
    } else {
        requests.push(Request {
            what: "PutItem: create the order".into(),
            write_units: created_units as f64,
            index_write_units: index_units,
            read_units: 0.0,
        });
    }

    // Processing: reads and transitions interleave, one read per record acted on.
    let mut stock: BTreeMap<String, (i128, i128)> =
        trace.initial_stock.iter().map(|(p, q)| (p.clone(), (i128::from(*q), 0))).collect();
    let mut ledger: Item = Item::new();
    let mut ledger_exists = false;
    if let Some(consistency) = access.processing_read {
        for order in &trace.engine_reads {
            requests.push(Request {
                what: format!("GetItem: the order at version {} ({})", order.version, order.status),
                write_units: 0.0,
                index_write_units: 0.0,
                read_units: read_units(item_size(&sizer.order_item(order)), consistency == Consistency::Strong),
            });
        }
    }
    let mut previous = created;
    let mut previous_attempts = trace.created.history.len();
    for transition in &trace.transitions {
        let after = sizer.order_item(&transition.order);
        let mut items: Vec<(String, u64)> =
            vec![("order".into(), write_units(item_size(&previous).max(item_size(&after))))];
        let merged = effects::merge(&transition.effects).unwrap_or_default();
        for op in &merged.stock {
            let (available, reserved) = stock.entry(op.product_id.clone()).or_insert((0, 0));
            let key = &tables.inventory.key;
            let before = item_size(&stock_item(key, &op.product_id, *available, *reserved));
            *available += op.delta_available;
            *reserved += op.delta_reserved;
            let after = item_size(&stock_item(key, &op.product_id, *available, *reserved));
            items.push((format!("stock {}", op.product_id), write_units(before.max(after))));
        }
        for op in &merged.ledger {
            let before = if ledger_exists { item_size(&ledger) } else { 0 };
            ledger.insert(tables.ledger.key.clone(), AttributeValue::S(op.order_id.clone()));
            if let Some(charge) = &op.charge {
                for (name, value) in item::charge_values(charge) {
                    ledger.insert(name.to_owned(), value);
                }
            } else if op.refund || op.condition == LedgerCondition::ChargedNotRefunded {
                ledger.insert(item::REFUNDED.to_owned(), AttributeValue::Bool(true));
            }
            for n in &op.notifications {
                ledger
                    .entry(item::notification_attribute(&n.step))
                    .or_insert_with(|| item::encode_notification(n, SEQ_NANOS));
            }
            ledger_exists = true;
            items.push(("ledger".into(), write_units(before.max(item_size(&ledger)))));
        }
        let index_units = sizer.index_writes(Some(&previous), &after);
        let version = transition.order.version;
        let status = &transition.order.status;
        if access.transactional && merged.is_empty() {
            requests.push(Request {
                what: format!("PutItem: version {version} ({status}){}", after_steps(transition, previous_attempts)),
                write_units: items.iter().map(|(_, u)| u).sum::<u64>() as f64,
                index_write_units: index_units,
                read_units: 0.0,
            });
        } else if access.transactional {
            let after_step = after_steps(transition, previous_attempts);
            let count = items.len();
            requests.push(Request {
                what: format!(
                    "TransactWriteItems: version {version} ({status}){after_step}, {count} item{}",
                    if count == 1 { "" } else { "s" }
                ),
                write_units: (factor * items.iter().map(|(_, u)| u).sum::<u64>()) as f64,
                index_write_units: index_units,
                read_units: 0.0,
            });
        } else {
            for (i, (name, units)) in items.iter().enumerate() {
                requests.push(Request {
                    what: format!("UpdateItem: {name} at version {version} ({status})"),
                    write_units: *units as f64,
                    index_write_units: if i == 0 { index_units } else { 0.0 },
                    read_units: 0.0,
                });
            }
        }
        previous_attempts = transition.order.history.len();
        previous = after;
    }

    // Reading the order back through the API.
    for order in &trace.api_reads {
        requests.push(Request {
            what: format!("GetItem: GET of the order ({})", order.status),
            write_units: 0.0,
            index_write_units: 0.0,
            read_units: read_units(item_size(&sizer.order_item(order)), access.api_read == Consistency::Strong),
        });
    }

    let order_item_bytes = item_size(&previous);
    let stored_bytes =
        order_item_bytes + sizer.entries_bytes(&previous) + if ledger_exists { item_size(&ledger) } else { 0 };
    Usage {
        write_requests: requests.iter().filter(|r| r.write_units > 0.0).count() as u32,
        read_requests: requests.iter().filter(|r| r.read_units > 0.0).count() as u32,
        write_units: requests.iter().map(|r| r.write_units + r.index_write_units).sum(),
        read_units: requests.iter().map(|r| r.read_units).sum(),
        requests,
        stored_bytes,
        order_item_bytes,
    }
}

/// Read units of one `GET {path}` page of `limit` orders through a keys-only index (Query, eventually
/// consistent, entries summed then rounded up per 4 KB) then a consistent BatchGetItem of the page
/// (each item rounded up per 4 KB): what `DynamoStore::list_orders` sends.
pub fn index_listing_units(trace: &Trace, limit: u32) -> f64 {
    let tables = &trace.plan.tables;
    let sizer = Sizer {
        tables,
        names: OrderAttributes::of(&tables.orders),
        access: Access {
            transactional: true,
            indexes: true,
            processing_read: None,
            api_read: Consistency::Strong,
            packed: true,
        },
    };
    let last = sizer.order_item(trace.final_order());
    let entry = tables
        .orders
        .recent_index
        .as_ref()
        .or(tables.orders.status_index.as_ref())
        .map_or(0, |ix| sizer.index_entry(ix, &last));
    let query = read_units(entry * (u64::from(limit) + 1), false);
    query + f64::from(limit) * read_units(item_size(&last), true)
}

/// Read units of a Scan (eventually consistent, boto3's default) of `items` items of `bytes` each:
/// 0.5 RCU per 4 KB of the data read (a Scan sums the sizes of the items it reads and rounds each
/// 1 MB page up to 4 KB, a rounding left out here).
pub fn scan_units(items: f64, bytes: u64) -> f64 {
    items * bytes as f64 / 4096.0 / 2.0
}
