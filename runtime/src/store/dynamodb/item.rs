//! Item codecs: how orders, stock, ledger entries, notifications and idempotency records are laid
//! out as DynamoDB items, and the opaque listing cursor.
//!
//! # Orders (a contract: the stream processor decodes exactly this)
//!
//! | attribute              | type | value                                                         |
//! |------------------------|------|---------------------------------------------------------------|
//! | `order_id` (table key) | S    | the order id                                                  |
//! | `kind`                 | S    | always `order`: the partition key of the recent index         |
//! | `status`               | S    | the order's status: the partition key of the status index     |
//! | `created_at`           | S    | RFC 3339, as on the order: the sort key of both indexes       |
//! | `version`              | N    | the order's version (the condition of every write)            |
//! | `expires_at`           | N    | epoch seconds, the TTL attribute, once the order is terminal  |
//! | `order`                | B    | the whole [`Order`], packed ([`crate::store::packed`])        |
//!
//! The key, TTL and index attribute names are read from the plan (they are the names above in every
//! plan orchgen produces); `version` and `order` are fixed. Items written before orders were packed
//! hold `order` as JSON text (S); [`decode_order`] reads both.
//!
//! # Inventory
//! `product_id` (key, S), `available` (N), `reserved` (N).
//!
//! # Ledger: one item per order
//! `order_id` (key, S); once charged: `charge_id` (S), `amount_cents` (N), `currency` (S),
//! `refunded` (BOOL). The order's notification outbox lives on the same item, one attribute per
//! step, `notification:<step>` (M: `order_id`, `step`, `to`, `subject`, `at`, `seq`), written with
//! `if_not_exists` so that the first message of an (order, step) is kept and a repeat is a no-op.
//! `seq` (N) is the store's clock in nanoseconds (strictly increasing per process) and orders the
//! outbox. An item with notifications but no `charge_id` is not a ledger entry.
//!
//! # Idempotency records
//! `key` (key, S), `request_hash` (S), `order_id` (S), `created_at` (S) and the TTL attribute (N) when
//! the plan gives the table one.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::order::{Charge, Order};
use crate::plan::TablePlan;
use crate::store::{LedgerEntry, Notification, Stock, StoreError};

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// The fixed value of the recent index's partition key on every order.
pub const ORDER_KIND: &str = "order";
/// The attribute holding the order's version.
pub const VERSION: &str = "version";
/// The attribute holding the whole order as JSON.
pub const ORDER: &str = "order";
/// Inventory: units that can be reserved.
pub const AVAILABLE: &str = "available";
/// Inventory: units reserved by orders.
pub const RESERVED: &str = "reserved";
/// Ledger: the charge id (present once the order is charged).
pub const CHARGE_ID: &str = "charge_id";
/// Ledger: the amount charged, in cents.
pub const AMOUNT_CENTS: &str = "amount_cents";
/// Ledger: the currency.
pub const CURRENCY: &str = "currency";
/// Ledger: whether the charge was refunded.
pub const REFUNDED: &str = "refunded";
/// Ledger: prefix of the outbox attributes, one per step.
pub const NOTIFICATION_PREFIX: &str = "notification:";
/// Idempotency: the hash of the request body.
pub const REQUEST_HASH: &str = "request_hash";
/// Idempotency: the order the key created.
pub const KEY_ORDER_ID: &str = "order_id";
/// Idempotency: when the key was first used.
pub const KEY_CREATED_AT: &str = "created_at";

/// Attribute names of the orders table, from the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderAttributes {
    /// The table key (`order_id`).
    pub key: String,
    /// The status index's partition key (`status`).
    pub status: String,
    /// The indexes' sort key (`created_at`).
    pub created_at: String,
    /// The recent index's partition key (`kind`).
    pub kind: String,
    /// The TTL attribute (`expires_at`).
    pub expires_at: String,
}

impl OrderAttributes {
    /// The names used by `table` (the defaults above where the plan has no index or TTL).
    pub fn of(table: &TablePlan) -> OrderAttributes {
        let status = table.status_index.as_ref();
        let recent = table.recent_index.as_ref();
        OrderAttributes {
            key: table.key.clone(),
            status: status.map_or_else(|| "status".to_owned(), |i| i.partition_key.clone()),
            created_at: status.or(recent).map_or_else(|| "created_at".to_owned(), |i| i.sort_key.clone()),
            kind: recent.map_or_else(|| "kind".to_owned(), |i| i.partition_key.clone()),
            expires_at: table.ttl.as_ref().map_or_else(|| "expires_at".to_owned(), |t| t.attribute.clone()),
        }
    }
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn corrupt(what: &str, item: &Item) -> StoreError {
    let key: Vec<&String> = item.keys().collect();
    StoreError::Corrupt(format!("{what} (item with attributes {key:?})"))
}

pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(corrupt(&format!("attribute `{name}` is missing or not a string"), item)),
    }
}

pub(crate) fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => {
            v.parse().map_err(|_| corrupt(&format!("attribute `{name}` = {v} is out of range"), item))
        }
        _ => Err(corrupt(&format!("attribute `{name}` is missing or not a number"), item)),
    }
}

/// The order as an item of the orders table.
pub fn encode_order(order: &Order, names: &OrderAttributes) -> Result<Item, StoreError> {
    let packed = crate::store::packed::pack(order)
        .map_err(|e| StoreError::Invalid(format!("order {} cannot be serialised: {e}", order.order_id)))?;
    let mut item = Item::with_capacity(7);
    item.insert(names.key.clone(), s(&order.order_id));
    item.insert(names.kind.clone(), s(ORDER_KIND));
    item.insert(names.status.clone(), s(&order.status));
    item.insert(names.created_at.clone(), s(&order.created_at));
    item.insert(VERSION.to_owned(), n(order.version));
    if let Some(expires_at) = order.expires_at {
        item.insert(names.expires_at.clone(), n(expires_at));
    }
    item.insert(ORDER.to_owned(), AttributeValue::B(packed.into()));
    Ok(item)
}

/// The order of an item of the orders table.
pub fn decode_order(item: &Item, names: &OrderAttributes) -> Result<Order, StoreError> {
    let order: Order = match item.get(ORDER) {
        Some(AttributeValue::B(packed)) => crate::store::packed::unpack(packed.as_ref())
            .map_err(|e| corrupt(&format!("attribute `{ORDER}`: {e}"), item))?,
        Some(AttributeValue::S(json)) => serde_json::from_str(json)
            .map_err(|e| corrupt(&format!("attribute `{ORDER}` is not an order: {e}"), item))?,
        _ => return Err(corrupt(&format!("attribute `{ORDER}` is missing or neither binary nor a string"), item)),
    };
    let version: u64 = get_n(item, VERSION)?;
    let key = get_s(item, &names.key)?;
    if version != order.version || key != order.order_id {
        return Err(corrupt(
            &format!(
                "the item of order {key} at version {version} holds order {} at version {}",
                order.order_id, order.version
            ),
            item,
        ));
    }
    Ok(order)
}

/// A product's stock from an inventory item.
pub fn decode_stock(item: &Item) -> Result<Stock, StoreError> {
    Ok(Stock { available: get_n(item, AVAILABLE)?, reserved: get_n(item, RESERVED)? })
}

/// The charge of a ledger item, if the order was charged.
pub fn decode_ledger(item: &Item, key: &str) -> Result<Option<LedgerEntry>, StoreError> {
    if !item.contains_key(CHARGE_ID) {
        return Ok(None);
    }
    let refunded = match item.get(REFUNDED) {
        Some(AttributeValue::Bool(b)) => *b,
        None => false,
        Some(_) => return Err(corrupt(&format!("attribute `{REFUNDED}` is not a boolean"), item)),
    };
    Ok(Some(LedgerEntry {
        order_id: get_s(item, key)?.to_owned(),
        charge: Charge {
            charge_id: get_s(item, CHARGE_ID)?.to_owned(),
            amount_cents: get_n(item, AMOUNT_CENTS)?,
            currency: get_s(item, CURRENCY)?.to_owned(),
            refunded,
        },
    }))
}

/// The attributes of a charge on a ledger item (without the key).
pub fn charge_values(charge: &Charge) -> [(&'static str, AttributeValue); 4] {
    [
        (CHARGE_ID, s(&charge.charge_id)),
        (AMOUNT_CENTS, n(charge.amount_cents)),
        (CURRENCY, s(&charge.currency)),
        (REFUNDED, AttributeValue::Bool(charge.refunded)),
    ]
}

/// The attribute name of a step's notification on the ledger item.
pub fn notification_attribute(step: &str) -> String {
    format!("{NOTIFICATION_PREFIX}{step}")
}

/// A notification as a map attribute, with its outbox sequence number.
pub fn encode_notification(notification: &Notification, seq: u128) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("order_id".to_owned(), s(&notification.order_id)),
        ("step".to_owned(), s(&notification.step)),
        ("to".to_owned(), s(&notification.to)),
        ("subject".to_owned(), s(&notification.subject)),
        ("at".to_owned(), s(&notification.at)),
        ("seq".to_owned(), n(seq)),
    ]))
}

/// The notifications of a ledger item, with their sequence numbers.
pub fn decode_notifications(item: &Item) -> Result<Vec<(u128, Notification)>, StoreError> {
    let mut found = Vec::new();
    for (name, value) in item {
        if !name.starts_with(NOTIFICATION_PREFIX) {
            continue;
        }
        let AttributeValue::M(map) = value else {
            return Err(corrupt(&format!("attribute `{name}` is not a map"), item));
        };
        let field = |f: &str| get_s(map, f).map(str::to_owned);
        found.push((
            get_n(map, "seq")?,
            Notification {
                order_id: field("order_id")?,
                step: field("step")?,
                to: field("to")?,
                subject: field("subject")?,
                at: field("at")?,
            },
        ));
    }
    Ok(found)
}

/// Where a page of orders stopped: the index entry of its last order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// `created_at` of the last order.
    pub created_at: String,
    /// Its id.
    pub order_id: String,
}

impl Cursor {
    /// The opaque form: base64url of a small JSON object.
    pub fn encode(&self) -> String {
        // Serialising two strings cannot fail.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads an opaque cursor; anything malformed is [`StoreError::Invalid`].
    pub fn decode(text: &str) -> Result<Cursor, StoreError> {
        let invalid = || StoreError::Invalid(format!("malformed cursor {text:?}"));
        let json = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let cursor: Cursor = serde_json::from_slice(&json).map_err(|_| invalid())?;
        if cursor.created_at.is_empty() || cursor.order_id.is_empty() {
            return Err(invalid());
        }
        Ok(cursor)
    }

    /// The `ExclusiveStartKey` of a query of the index whose partition key is `partition` = `value`.
    pub fn start_key(&self, names: &OrderAttributes, partition: &str, value: &str) -> Item {
        HashMap::from([
            (partition.to_owned(), s(value)),
            (names.created_at.clone(), s(&self.created_at)),
            (names.key.clone(), s(&self.order_id)),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> OrderAttributes {
        OrderAttributes {
            key: "order_id".into(),
            status: "status".into(),
            created_at: "created_at".into(),
            kind: "kind".into(),
            expires_at: "expires_at".into(),
        }
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = Cursor { created_at: "2024-01-01T00:00:00.000Z".into(), order_id: "01HZ".into() };
        assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
        for bad in ["", "%%%", "bm90IGpzb24", "W10", &URL_SAFE_NO_PAD.encode(r#"{"created_at":"","order_id":"x"}"#)] {
            assert!(matches!(Cursor::decode(bad), Err(StoreError::Invalid(_))), "{bad:?}");
        }
    }

    #[test]
    fn a_tampered_order_item_is_corrupt() {
        let mut item = Item::new();
        item.insert("order_id".into(), s("a"));
        item.insert(VERSION.into(), n(2));
        item.insert(ORDER.into(), s("{not json"));
        assert!(matches!(decode_order(&item, &names()), Err(StoreError::Corrupt(_))));
        item.remove(ORDER);
        assert!(matches!(decode_order(&item, &names()), Err(StoreError::Corrupt(_))));
    }
}
