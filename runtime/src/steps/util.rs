//! Helpers shared by the built-in steps: per-product aggregation of an order's items and a
//! deterministic hash of an order id.

use sha2::{Digest, Sha256};

use crate::order::Order;
use crate::store::Units;

use super::StepError;

/// The order's items summed per product, in order of first appearance.
///
/// A quantity that is not a positive integer is an `INVALID_QUANTITY` refusal (the validate step
/// rejects such orders first; this guards pipelines without one).
pub(crate) fn units_of(order: &Order) -> Result<Vec<Units>, StepError> {
    let mut units: Vec<Units> = Vec::with_capacity(order.items.len());
    for (i, item) in order.items.iter().enumerate() {
        let quantity = u64::try_from(item.quantity).ok().filter(|q| *q > 0).ok_or_else(|| {
            StepError::reject(
                "INVALID_QUANTITY",
                format!("items[{i}].quantity is {}: it must be a positive integer", item.quantity),
            )
        })?;
        match units.iter_mut().find(|u| u.product_id == item.product_id) {
            Some(u) => u.quantity = u.quantity.saturating_add(quantity),
            None => units.push(Units { product_id: item.product_id.clone(), quantity }),
        }
    }
    Ok(units)
}

/// SHA-256 of `purpose` and `order_id`: the seed of the deterministic ids (charge, tracking).
pub(crate) fn digest(purpose: &str, order_id: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(purpose.as_bytes());
    hasher.update([0u8]);
    hasher.update(order_id.as_bytes());
    hasher.finalize().into()
}

/// `len` characters of `[0-9A-Z]` drawn from `bytes` (cycled when `len` exceeds 32).
pub(crate) fn alphanumerics(bytes: &[u8; 32], len: usize) -> String {
    const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    bytes.iter().cycle().take(len).map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect()
}

/// Lowercase hex of the first `len` bytes.
pub(crate) fn hex(bytes: &[u8; 32], len: usize) -> String {
    bytes.iter().take(len).map(|b| format!("{b:02x}")).collect()
}

/// At most 200 characters of `text`, `…` when cut, `empty` when there is nothing: a service's answer
/// quoted in a message.
pub(crate) fn excerpt(text: &str, empty: &str) -> String {
    const CHARS: usize = 200;
    let mut out: String = text.chars().take(CHARS).collect();
    if text.chars().count() > CHARS {
        out.push('…');
    }
    if out.is_empty() { empty.to_owned() } else { out }
}

/// The current time, RFC 3339 UTC with milliseconds (the format of the order's timestamps).
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A terminal error for a handler given a step of another kind (a registry bug).
pub(crate) fn wrong_kind(handler: &str, found: &str) -> StepError {
    StepError::terminal("MISCONFIGURED", format!("the {handler} handler was given a `{found}` step"))
}
