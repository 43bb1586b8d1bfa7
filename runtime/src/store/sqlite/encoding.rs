//! How values are stored: numbers between `u64` and SQLite's `i64`, an order as JSON, a change
//! kind as text, a listing cursor (base64 of JSON), a sequence number as decimal text.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::order::Order;
use crate::store::{ChangeKind, StoreError};

pub(super) fn to_i64(what: &str, n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Invalid(format!("{what} {n} is too large")))
}

pub(super) fn to_u64(what: &str, n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what} is negative: {n}")))
}

pub(super) fn decode_order(body: &str) -> Result<Order, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("an order cannot be read: {e}")))
}

pub(super) fn encode_order(order: &Order) -> Result<String, StoreError> {
    serde_json::to_string(order).map_err(|e| StoreError::Invalid(format!("the order cannot be encoded: {e}")))
}

pub(super) fn kind_name(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Insert => "INSERT",
        ChangeKind::Modify => "MODIFY",
        ChangeKind::Remove => "REMOVE",
    }
}

pub(super) fn parse_kind(kind: &str) -> Result<ChangeKind, StoreError> {
    match kind {
        "INSERT" => Ok(ChangeKind::Insert),
        "MODIFY" => Ok(ChangeKind::Modify),
        "REMOVE" => Ok(ChangeKind::Remove),
        other => Err(StoreError::Corrupt(format!("unknown change kind {other:?}"))),
    }
}

pub(super) fn encode_cursor(created_at: &str, order_id: &str) -> String {
    // Serialising two strings cannot fail.
    let json = serde_json::to_vec(&(created_at, order_id)).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

pub(super) fn decode_cursor(cursor: &str) -> Result<(String, String), StoreError> {
    let invalid = || StoreError::Invalid(format!("malformed cursor {cursor:?}"));
    let json = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    serde_json::from_slice(&json).map_err(|_| invalid())
}

fn is_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

pub(super) fn parse_sequence(s: &str) -> Result<i64, StoreError> {
    if !is_decimal(s) {
        return Err(StoreError::Invalid(format!("{s:?} is not a sequence number")));
    }
    s.parse().map_err(|_| StoreError::Invalid(format!("sequence number {s} is out of range")))
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
    fn sequence_numbers_are_decimal() {
        assert_eq!(parse_sequence("42").ok(), Some(42));
        assert!(parse_sequence("").is_err());
        assert!(parse_sequence("-1").is_err());
        assert!(parse_sequence("1e3").is_err());
        assert!(parse_sequence("99999999999999999999999").is_err());
    }
}
