//! The packed form of an order in the DynamoDB orders table: the `order` attribute of type B.
//!
//! DynamoDB bills a write by the started KB of the item (twice inside a transaction) and storage by
//! the byte, and an order's JSON (customer, items, address, charge, shipment, the history of every
//! attempt, step outputs) passes 1 KB once it has gone through a few steps. Packed, the reference
//! order's item stays under 1 KB: the terminal item of `pipelines/orders.yaml` is 1,300 B with the
//! JSON as text and about 650 B packed. This is DynamoDB's own advice for large attributes
//! ("compress large attribute values", Best practices for storing large items).
//!
//! Layout: one format byte, [`FORMAT_DEFLATE_JSON`], then the raw DEFLATE (RFC 1951) of the order's
//! JSON as `serde_json` writes it. The attributes that DynamoDB itself reads (key, status, creation
//! time, version, TTL) stay plain beside it, so indexes, conditions, TTL and the stream mapping's
//! filter see them. Items written before packing existed hold the JSON as text (type S); readers
//! accept both, so a stack updated in place keeps reading its orders.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;

use crate::order::Order;

/// The format byte of a packed order: raw DEFLATE of the JSON.
pub const FORMAT_DEFLATE_JSON: u8 = 1;

/// The most bytes an order unpacks to: DynamoDB items are at most 400 KB, and an order's JSON is
/// far below; anything larger is refused instead of being inflated into memory.
pub const MAX_UNPACKED_BYTES: u64 = 4 * 1024 * 1024;

/// Why packed bytes are not an order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnpackError {
    /// No bytes at all.
    #[error("the packed order is empty")]
    Empty,
    /// A format byte this runtime does not know (written by a newer orchgen).
    #[error("the packed order has format {0}, which this runtime does not read (it reads format 1)")]
    Format(u8),
    /// The DEFLATE stream is damaged or too large.
    #[error("the packed order does not inflate: {0}")]
    Inflate(String),
    /// It inflates, but not to an order.
    #[error("the packed order is not an order: {0}")]
    Json(String),
}

/// Packs an order: the format byte, then its JSON deflated.
pub fn pack(order: &Order) -> Result<Vec<u8>, serde_json::Error> {
    let json = serde_json::to_vec(order)?;
    let mut packed = Vec::with_capacity(json.len() / 2 + 16);
    packed.push(FORMAT_DEFLATE_JSON);
    let mut encoder = DeflateEncoder::new(packed, Compression::default());
    encoder.write_all(&json).map_err(serde_json::Error::io)?;
    encoder.finish().map_err(serde_json::Error::io)
}

/// Unpacks what [`pack`] wrote.
pub fn unpack(bytes: &[u8]) -> Result<Order, UnpackError> {
    let (&format, deflated) = bytes.split_first().ok_or(UnpackError::Empty)?;
    if format != FORMAT_DEFLATE_JSON {
        return Err(UnpackError::Format(format));
    }
    let mut json = Vec::with_capacity(deflated.len() * 3);
    DeflateDecoder::new(deflated)
        .take(MAX_UNPACKED_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|e| UnpackError::Inflate(e.to_string()))?;
    if json.len() as u64 > MAX_UNPACKED_BYTES {
        return Err(UnpackError::Inflate(format!("it inflates to more than {MAX_UNPACKED_BYTES} bytes")));
    }
    serde_json::from_slice(&json).map_err(|e| UnpackError::Json(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> Order {
        let mut order = Order::example();
        order.history = (0..5)
            .map(|i| crate::order::HistoryEntry {
                step: format!("step-{i}"),
                attempt: 1,
                outcome: crate::order::Outcome::Succeeded,
                duration_ms: 3,
                error: None,
                at: "2026-12-07T16:28:07.151Z".into(),
            })
            .collect();
        order
    }

    #[test]
    fn an_order_round_trips_and_packs_to_about_half_its_json() {
        let order = order();
        let packed = pack(&order).expect("packs");
        assert_eq!(packed[0], FORMAT_DEFLATE_JSON);
        assert_eq!(unpack(&packed), Ok(order.clone()));
        let json = serde_json::to_vec(&order).expect("serialises").len();
        assert!(packed.len() * 10 < json * 6, "{} B packed from {json} B", packed.len());
    }

    #[test]
    fn damaged_unknown_and_oversized_packs_are_refused() {
        let packed = pack(&order()).expect("packs");
        assert_eq!(unpack(&[]), Err(UnpackError::Empty));
        assert_eq!(unpack(&[2, 0, 0]), Err(UnpackError::Format(2)));
        assert!(matches!(unpack(&packed[..packed.len() / 2]), Err(UnpackError::Inflate(_))));
        let mut not_an_order = vec![FORMAT_DEFLATE_JSON];
        let mut encoder = DeflateEncoder::new(&mut not_an_order, Compression::default());
        encoder.write_all(b"{\"hello\":1}").expect("writes");
        encoder.finish().expect("finishes");
        assert!(matches!(unpack(&not_an_order), Err(UnpackError::Json(_))));
        // A small bomb: 5 MB of zeros deflate to a few KB.
        let mut bomb = vec![FORMAT_DEFLATE_JSON];
        let mut encoder = DeflateEncoder::new(&mut bomb, Compression::best());
        encoder.write_all(&vec![b' '; 5 * 1024 * 1024]).expect("writes");
        encoder.finish().expect("finishes");
        assert!(bomb.len() < 50_000);
        assert!(matches!(unpack(&bomb), Err(UnpackError::Inflate(_))));
    }
}
