//! DynamoDB Streams records ↔ the runtime's [`ChangeRecord`]s.
//!
//! **Item layout of the orders table** (the contract with the DynamoDB store): `order_id` (S, the
//! key), `status` (S), `created_at` (S, RFC 3339), `version` (N), `expires_at` (N, epoch seconds, the
//! TTL attribute, once terminal) and `order` (B), the whole [`Order`] packed
//! ([`crate::store::packed`]; JSON text of type S in items written before orders were packed). The
//! image of a record is decoded from `order` and checked against `order_id` (and `version` when
//! present).
//!
//! Records that need no processing are [`Decoded::Ignored`]: removals by TTL (`userIdentity` of type
//! `Service`, principal `dynamodb.amazonaws.com`), every other `REMOVE`, and a `MODIFY` whose new image
//! has the version of its old image (a write that did not change the order).
//!
//! No feature needed.

use std::collections::HashMap;

use aws_lambda_events::dynamodb::EventRecord;
use serde_dynamo::{AttributeValue, Item};

use crate::order::Order;
use crate::store::{ChangeKind, ChangeRecord};

/// Attribute holding the key.
pub const ORDER_ID_ATTRIBUTE: &str = "order_id";
/// Attribute holding the whole order, packed (or as JSON text).
pub const ORDER_ATTRIBUTE: &str = "order";
/// Attribute holding the order's version.
pub const VERSION_ATTRIBUTE: &str = "version";
/// Attribute holding the order's status.
pub const STATUS_ATTRIBUTE: &str = "status";
/// Attribute holding the order's creation time.
pub const CREATED_AT_ATTRIBUTE: &str = "created_at";
/// The TTL attribute (epoch seconds).
pub const EXPIRES_AT_ATTRIBUTE: &str = "expires_at";

/// `userIdentity.principalId` of the records DynamoDB writes when TTL removes an item.
pub const TTL_PRINCIPAL: &str = "dynamodb.amazonaws.com";

/// Why an image or a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The image has no such attribute.
    #[error("the image has no `{0}` attribute")]
    Missing(&'static str),
    /// The attribute has another DynamoDB type.
    #[error("the `{attribute}` attribute is not of type {expected}")]
    WrongType {
        /// The attribute.
        attribute: &'static str,
        /// The type it should have (`S`, `N`).
        expected: &'static str,
    },
    /// The `order` attribute is not an order.
    #[error("the `order` attribute is not a valid order: {0}")]
    Order(String),
    /// The image contradicts itself.
    #[error("the image is inconsistent: {0}")]
    Inconsistent(String),
    /// The record has no sequence number.
    #[error("the record has no SequenceNumber")]
    NoSequenceNumber,
    /// The record's eventName is not INSERT, MODIFY or REMOVE.
    #[error("unknown eventName `{0}`")]
    EventName(String),
}

/// What a stream record means to the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A change to process.
    Change(Box<ChangeRecord>),
    /// Nothing to do.
    Ignored(Ignored),
}

/// Why a record needs no processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// TTL removed the item.
    TtlRemoval,
    /// The item was deleted.
    Removal,
    /// A MODIFY that kept the version (no change of the order).
    NoOp,
}

/// Decodes the order from an orders-table image (see the module docs for the layout).
pub fn order_from_image(image: &Item) -> Result<Order, DecodeError> {
    let order: Order = match image.get(ORDER_ATTRIBUTE) {
        Some(AttributeValue::B(packed)) => {
            crate::store::packed::unpack(packed).map_err(|e| DecodeError::Order(e.to_string()))?
        }
        Some(AttributeValue::S(json)) => serde_json::from_str(json).map_err(|e| DecodeError::Order(e.to_string()))?,
        Some(_) => return Err(DecodeError::WrongType { attribute: ORDER_ATTRIBUTE, expected: "B" }),
        None => return Err(DecodeError::Missing(ORDER_ATTRIBUTE)),
    };
    let order_id = string_attribute(image, ORDER_ID_ATTRIBUTE)?;
    if order.order_id != order_id {
        return Err(DecodeError::Inconsistent(format!("`order_id` is {order_id} but the order is {}", order.order_id)));
    }
    if let Some(version) = version_attribute(image)?
        && version != order.version
    {
        return Err(DecodeError::Inconsistent(format!(
            "`version` is {version} but the order has version {}",
            order.version
        )));
    }
    Ok(order)
}

/// The orders-table image of an order, in the layout of the module docs (what the DynamoDB store
/// writes; used to build events in tests and tools).
pub fn image_from_order(order: &Order) -> Item {
    let packed = crate::store::packed::pack(order).expect("an Order always serialises");
    let mut item: HashMap<String, AttributeValue> = HashMap::from([
        (ORDER_ID_ATTRIBUTE.to_owned(), AttributeValue::S(order.order_id.clone())),
        (STATUS_ATTRIBUTE.to_owned(), AttributeValue::S(order.status.clone())),
        (CREATED_AT_ATTRIBUTE.to_owned(), AttributeValue::S(order.created_at.clone())),
        (VERSION_ATTRIBUTE.to_owned(), AttributeValue::N(order.version.to_string())),
        (ORDER_ATTRIBUTE.to_owned(), AttributeValue::B(packed)),
    ]);
    if let Some(expires_at) = order.expires_at {
        item.insert(EXPIRES_AT_ATTRIBUTE.to_owned(), AttributeValue::N(expires_at.to_string()));
    }
    Item::from(item)
}

/// The order id a record is about: from its keys, else from its images (`None` when none says).
pub fn record_order_id(record: &EventRecord) -> Option<String> {
    let change = &record.change;
    [&change.keys, &change.new_image, &change.old_image]
        .into_iter()
        .find_map(|item| string_attribute(item, ORDER_ID_ATTRIBUTE).ok().map(str::to_owned))
}

/// Whether the record is a removal by DynamoDB's TTL process.
pub fn is_ttl_removal(record: &EventRecord) -> bool {
    record.event_name == "REMOVE"
        && record.user_identity.as_ref().is_some_and(|u| u.type_ == "Service" && u.principal_id == TTL_PRINCIPAL)
}

/// Decodes a stream record of the orders table (NEW_AND_OLD_IMAGES).
pub fn decode_record(record: &EventRecord) -> Result<Decoded, DecodeError> {
    let sequence_number = record.change.sequence_number.clone().ok_or(DecodeError::NoSequenceNumber)?;
    let kind = match record.event_name.as_str() {
        "INSERT" => ChangeKind::Insert,
        "MODIFY" => ChangeKind::Modify,
        "REMOVE" if is_ttl_removal(record) => return Ok(Decoded::Ignored(Ignored::TtlRemoval)),
        "REMOVE" => return Ok(Decoded::Ignored(Ignored::Removal)),
        other => return Err(DecodeError::EventName(other.to_owned())),
    };
    let order = order_from_image(&record.change.new_image)?;
    if kind == ChangeKind::Modify && image_version(&record.change.old_image) == Some(order.version) {
        return Ok(Decoded::Ignored(Ignored::NoOp));
    }
    if let Ok(key) = string_attribute(&record.change.keys, ORDER_ID_ATTRIBUTE)
        && key != order.order_id
    {
        return Err(DecodeError::Inconsistent(format!("the key is {key} but the new image is {}", order.order_id)));
    }
    Ok(Decoded::Change(Box::new(ChangeRecord {
        sequence_number,
        kind,
        order_id: order.order_id.clone(),
        new_image: Some(order),
    })))
}

/// The version of an image: its `version` attribute, else the version of its `order`.
fn image_version(image: &Item) -> Option<u64> {
    if image.is_empty() {
        return None;
    }
    match version_attribute(image) {
        Ok(Some(version)) => Some(version),
        Ok(None) => order_from_image(image).ok().map(|o| o.version),
        Err(_) => None,
    }
}

fn string_attribute<'a>(item: &'a Item, attribute: &'static str) -> Result<&'a str, DecodeError> {
    match item.get(attribute) {
        Some(AttributeValue::S(s)) => Ok(s),
        Some(_) => Err(DecodeError::WrongType { attribute, expected: "S" }),
        None => Err(DecodeError::Missing(attribute)),
    }
}

fn version_attribute(item: &Item) -> Result<Option<u64>, DecodeError> {
    match item.get(VERSION_ATTRIBUTE) {
        Some(AttributeValue::N(n)) => n
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| DecodeError::Inconsistent(format!("`version` is {n}, not a whole number"))),
        Some(_) => Err(DecodeError::WrongType { attribute: VERSION_ATTRIBUTE, expected: "N" }),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's sample order, just received, its address reduced to the country (empty fields are
    /// left out of the stored JSON and come back empty).
    fn order() -> Order {
        let mut order = Order::example();
        order.shipping_address = crate::order::Address { country: "US".to_owned(), ..Default::default() };
        order
    }

    #[test]
    fn an_image_round_trips() {
        let order = order();
        assert_eq!(order_from_image(&image_from_order(&order)), Ok(order));
    }

    #[test]
    fn a_packed_image_survives_the_lambda_event_json_and_a_text_image_still_decodes() {
        let order = order();
        // Lambda delivers binary attributes base64-encoded: {"order": {"B": "AR..."}}.
        let json = serde_json::to_value(image_from_order(&order)).expect("serialises");
        let encoded = json["order"]["B"].as_str().expect("B as base64 text");
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded).expect("base64");
        assert_eq!(bytes.first(), Some(&crate::store::packed::FORMAT_DEFLATE_JSON));
        let image: Item = serde_json::from_value(json).expect("the event image parses");
        assert_eq!(order_from_image(&image), Ok(order.clone()));
        // An item written before orders were packed: the JSON as text.
        let mut image = image_from_order(&order);
        image.insert(ORDER_ATTRIBUTE.to_owned(), AttributeValue::S(serde_json::to_string(&order).expect("serialises")));
        assert_eq!(order_from_image(&image), Ok(order));
    }

    #[test]
    fn a_mismatched_key_or_version_is_refused() {
        let order = order();
        let mut image = image_from_order(&order);
        image.insert(ORDER_ID_ATTRIBUTE.to_owned(), AttributeValue::S("other".to_owned()));
        assert!(matches!(order_from_image(&image), Err(DecodeError::Inconsistent(_))));
        let mut image = image_from_order(&order);
        image.insert(VERSION_ATTRIBUTE.to_owned(), AttributeValue::N("7".to_owned()));
        assert!(matches!(order_from_image(&image), Err(DecodeError::Inconsistent(_))));
        let mut image = image_from_order(&order);
        image.insert(ORDER_ATTRIBUTE.to_owned(), AttributeValue::N("1".to_owned()));
        assert_eq!(order_from_image(&image), Err(DecodeError::WrongType { attribute: ORDER_ATTRIBUTE, expected: "B" }));
        image.remove(ORDER_ATTRIBUTE);
        assert_eq!(order_from_image(&image), Err(DecodeError::Missing(ORDER_ATTRIBUTE)));
    }
}
