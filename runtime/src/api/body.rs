//! Structural checks of a `POST` body, before it becomes an [`OrderRequest`].
//!
//! The JSON value is walked by hand so that *every* problem is reported at once, each with its path
//! (`customer.email`, `items[2].quantity`): missing and unknown fields, wrong types, an empty or
//! oversized item list, non-integer or non-positive quantities, negative prices, over-long strings,
//! and a total too large to count in cents. Business rules (countries, payment methods, maximum
//! total…) belong to the pipeline's validate step, not here.

use serde_json::{Map, Value};

use crate::order::{FieldError, OrderRequest};

use super::views::price_cents;

/// Longest accepted string, in characters.
pub const MAX_STRING_CHARS: usize = 256;
/// Most items in one order.
pub const MAX_ITEMS: usize = 1000;
/// Largest quantity of one item.
pub const MAX_QUANTITY: i64 = 10_000;
/// Largest unit price, in currency units. With [`MAX_QUANTITY`] and [`MAX_ITEMS`] no order that
/// passes the per-field checks can have a total beyond `MAX_TOTAL_CENTS`: every limit is one the
/// OpenAPI document states, so a request valid against the document is never refused for its total.
pub const MAX_UNIT_PRICE: f64 = 1_000_000.0;
/// Largest order total, in cents (amounts stay exact as `f64` currency units below 2^53).
pub const MAX_TOTAL_CENTS: i64 = 9_000_000_000_000_000;

/// A checked body.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// The request.
    pub request: OrderRequest,
    /// Its total in cents: each unit price rounded to cents, times the quantity.
    pub total_cents: i64,
}

/// What a field may hold.
#[derive(Clone, Copy)]
enum Kind {
    /// A string; `non_empty` refuses `""`; `nullable` accepts `null`.
    Str { non_empty: bool, nullable: bool },
    /// An object with these fields.
    Object(&'static [Field]),
    /// The item list.
    Items,
    /// A positive integer.
    Quantity,
    /// A non-negative amount.
    Price,
}

/// A field of an object.
struct Field {
    name: &'static str,
    required: bool,
    kind: Kind,
}

const fn field(name: &'static str, required: bool, kind: Kind) -> Field {
    Field { name, required, kind }
}

const STR: Kind = Kind::Str { non_empty: false, nullable: false };
const ID: Kind = Kind::Str { non_empty: true, nullable: false };

const CUSTOMER: &[Field] = &[field("customer_id", true, STR), field("email", true, STR), field("name", true, STR)];
const ITEM: &[Field] =
    &[field("product_id", true, ID), field("quantity", true, Kind::Quantity), field("unit_price", true, Kind::Price)];
const ADDRESS: &[Field] = &[
    field("street", false, STR),
    field("city", false, STR),
    field("state", false, STR),
    field("postal_code", false, STR),
    field("country", false, STR),
];
const PAYMENT: &[Field] =
    &[field("payment_method", true, STR), field("token", false, Kind::Str { non_empty: false, nullable: true })];
const REQUEST: &[Field] = &[
    field("customer", true, Kind::Object(CUSTOMER)),
    field("items", true, Kind::Items),
    field("shipping_address", true, Kind::Object(ADDRESS)),
    field("payment", true, Kind::Object(PAYMENT)),
];

/// Checks a parsed body; on success, the request and its total.
pub fn check(value: &Value) -> Result<Checked, Vec<FieldError>> {
    let mut errors = Vec::new();
    walk(value, Kind::Object(REQUEST), "", &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let request: OrderRequest = serde_json::from_value(value.clone())
        .map_err(|e| vec![FieldError { path: "$".into(), message: e.to_string() }])?;
    let total = request.items.iter().try_fold(0i128, |sum, item| {
        let cents = price_cents(item.unit_price)?;
        Some(sum + i128::from(cents) * i128::from(item.quantity))
    });
    match total.and_then(|t| i64::try_from(t).ok()).filter(|t| *t <= MAX_TOTAL_CENTS) {
        Some(total_cents) => Ok(Checked { request, total_cents }),
        None => Err(vec![FieldError { path: "items".into(), message: "the order total is too large".into() }]),
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() { name.to_owned() } else { format!("{parent}.{name}") }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn push(errors: &mut Vec<FieldError>, path: &str, message: impl Into<String>) {
    let path = if path.is_empty() { "$" } else { path };
    errors.push(FieldError { path: path.to_owned(), message: message.into() });
}

fn wrong_type(errors: &mut Vec<FieldError>, path: &str, expected: &str, value: &Value) {
    push(errors, path, format!("must be {expected}, found {}", describe(value)));
}

fn walk(value: &Value, kind: Kind, path: &str, errors: &mut Vec<FieldError>) {
    match kind {
        Kind::Str { non_empty, nullable } => match value {
            Value::Null if nullable => {}
            Value::String(s) if non_empty && s.trim().is_empty() => push(errors, path, "must not be empty"),
            Value::String(s) if s.chars().count() > MAX_STRING_CHARS => {
                push(errors, path, format!("must be at most {MAX_STRING_CHARS} characters"))
            }
            Value::String(_) => {}
            other => wrong_type(errors, path, "a string", other),
        },
        Kind::Object(fields) => match value {
            Value::Object(map) => object(map, fields, path, errors),
            other => wrong_type(errors, path, "an object", other),
        },
        Kind::Items => match value {
            Value::Array(items) if items.is_empty() => push(errors, path, "must contain at least 1 item"),
            Value::Array(items) if items.len() > MAX_ITEMS => {
                push(errors, path, format!("must contain at most {MAX_ITEMS} items, found {}", items.len()))
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, Kind::Object(ITEM), &format!("{path}[{i}]"), errors);
                }
            }
            other => wrong_type(errors, path, "an array", other),
        },
        Kind::Quantity => match value {
            Value::Number(n) => match (n.as_i64(), n.is_u64()) {
                (Some(q), _) if q > MAX_QUANTITY => push(errors, path, format!("must be at most {MAX_QUANTITY}")),
                (Some(q), _) if q >= 1 => {}
                (Some(_), _) => push(errors, path, "must be a positive integer"),
                (None, true) => push(errors, path, format!("must be at most {MAX_QUANTITY}")),
                (None, false) => push(errors, path, "must be an integer"),
            },
            other => wrong_type(errors, path, "a positive integer", other),
        },
        Kind::Price => match value {
            Value::Number(n) => match n.as_f64() {
                Some(p) if !p.is_finite() => push(errors, path, "must be a finite number"),
                Some(p) if p < 0.0 => push(errors, path, "must not be negative"),
                Some(p) if p > MAX_UNIT_PRICE || price_cents(p).is_none() => {
                    push(errors, path, format!("must be at most {MAX_UNIT_PRICE}"))
                }
                Some(_) => {}
                None => push(errors, path, "must be a finite number"),
            },
            other => wrong_type(errors, path, "a number", other),
        },
    }
}

fn object(map: &Map<String, Value>, fields: &[Field], path: &str, errors: &mut Vec<FieldError>) {
    for f in fields {
        let here = join(path, f.name);
        match map.get(f.name) {
            Some(v) => walk(v, f.kind, &here, errors),
            None if f.required => push(errors, &here, "is required"),
            None => {}
        }
    }
    for key in map.keys().filter(|k| !fields.iter().any(|f| f.name == k.as_str())) {
        let expected = fields.iter().map(|f| f.name).collect::<Vec<_>>().join(", ");
        let shown: String = key.chars().take(64).collect();
        push(errors, &join(path, &shown), format!("is not a known field; expected one of: {expected}"));
    }
}
