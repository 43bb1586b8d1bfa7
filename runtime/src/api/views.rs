//! What the API returns: the bodies of `POST`, `GET {path}` and `GET {path}/{id}`, built from the
//! stored [`Order`]. Amounts are in currency units here (the store keeps cents).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::order::{Address, Customer, Failure, HistoryEntry, Order, Shipment};

/// Links of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Links {
    /// Path of the order, e.g. `/orders/01J…`.
    #[serde(rename = "self")]
    pub self_: String,
}

/// The body of a successful `POST`: the order was accepted (201) or an idempotent retry found it (200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CreatedBody {
    /// The order's id.
    pub order_id: String,
    /// Its current status (`RECEIVED` when just created).
    pub status: String,
    /// Where to follow it.
    pub links: Links,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ItemView {
    /// Product id.
    pub product_id: String,
    /// Units ordered.
    pub quantity: i64,
    /// Price of one unit, as submitted.
    pub unit_price: f64,
    /// quantity × unit price (rounded to cents), in currency units.
    pub line_total: f64,
}

/// A charge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChargeView {
    /// Provider's charge id.
    pub charge_id: String,
    /// Amount charged, in currency units.
    pub amount: f64,
    /// ISO 4217 currency.
    pub currency: String,
    /// Whether the charge was refunded.
    pub refunded: bool,
}

/// An order with everything that happened to it (`GET {path}/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderView {
    /// Order id (a ULID).
    pub order_id: String,
    /// Current status.
    pub status: String,
    /// Whether the status is final (`COMPLETED`, `REJECTED`, `FAILED`, `CANCELLED`).
    pub terminal: bool,
    /// Incremented by every change.
    pub version: u64,
    /// Creation time (RFC 3339 UTC).
    pub created_at: String,
    /// Time of the last change.
    pub updated_at: String,
    /// Who ordered.
    pub customer: Customer,
    /// What was ordered.
    pub items: Vec<ItemView>,
    /// Where it goes.
    pub shipping_address: Address,
    /// Payment method chosen.
    pub payment_method: String,
    /// Order total, in currency units.
    pub total: f64,
    /// Currency of the total, when the pipeline charges payments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Why the order did not complete (`code` is the reason, e.g. `CARD_DECLINED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// The charge, once payment succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge: Option<ChargeView>,
    /// The shipment, once fulfilled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment: Option<Shipment>,
    /// Outputs of custom steps, by step name.
    #[serde(default)]
    pub outputs: BTreeMap<String, serde_json::Value>,
    /// Every attempt of every step and compensation, in order.
    pub history: Vec<HistoryEntry>,
    /// Links.
    pub links: Links,
}

/// One order in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderSummary {
    /// Order id.
    pub order_id: String,
    /// Current status.
    pub status: String,
    /// Creation time.
    pub created_at: String,
    /// Time of the last change.
    pub updated_at: String,
    /// Customer id.
    pub customer_id: String,
    /// Number of lines.
    pub item_count: usize,
    /// Order total, in currency units.
    pub total: f64,
    /// Why the order did not complete, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<String>,
    /// Links.
    pub links: Links,
}

/// A page of `GET {path}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ListBody {
    /// The orders, newest first.
    pub orders: Vec<OrderSummary>,
    /// Pass as `next` to get the following page; `null` on the last page.
    pub next: Option<String>,
    /// Number of orders in this page.
    pub count: usize,
}

/// Cents → currency units.
pub fn units(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// Unit price → cents, rounded half away from zero. `None` when not a finite, non-negative amount
/// that fits.
pub fn price_cents(unit_price: f64) -> Option<i64> {
    let cents = (unit_price * 100.0).round();
    (0.0..9.0e15).contains(&cents).then_some(cents as i64)
}

/// The path of an order.
pub fn order_path(collection: &str, order_id: &str) -> String {
    format!("{}/{order_id}", collection.trim_end_matches('/'))
}

impl OrderView {
    /// The view of a stored order.
    pub fn new(order: &Order, collection: &str, currency: Option<&str>) -> OrderView {
        let items = order
            .items
            .iter()
            .map(|i| ItemView {
                product_id: i.product_id.clone(),
                quantity: i.quantity,
                unit_price: i.unit_price,
                line_total: units(price_cents(i.unit_price).unwrap_or(0).saturating_mul(i.quantity)),
            })
            .collect();
        OrderView {
            order_id: order.order_id.clone(),
            status: order.status.clone(),
            terminal: order.is_terminal(),
            version: order.version,
            created_at: order.created_at.clone(),
            updated_at: order.updated_at.clone(),
            customer: order.customer.clone(),
            items,
            shipping_address: order.shipping_address.clone(),
            payment_method: order.payment_method.clone(),
            total: units(order.total_cents),
            currency: currency.map(str::to_owned),
            failure: order.failure.clone(),
            charge: order.charge.as_ref().map(|c| ChargeView {
                charge_id: c.charge_id.clone(),
                amount: units(c.amount_cents),
                currency: c.currency.clone(),
                refunded: c.refunded,
            }),
            shipment: order.shipment.clone(),
            outputs: order.outputs.clone(),
            history: order.history.clone(),
            links: Links { self_: order_path(collection, &order.order_id) },
        }
    }
}

impl OrderSummary {
    /// The summary of a stored order.
    pub fn new(order: &Order, collection: &str) -> OrderSummary {
        OrderSummary {
            order_id: order.order_id.clone(),
            status: order.status.clone(),
            created_at: order.created_at.clone(),
            updated_at: order.updated_at.clone(),
            customer_id: order.customer.customer_id.clone(),
            item_count: order.items.len(),
            total: units(order.total_cents),
            failure_code: order.failure.as_ref().map(|f| f.code.clone()),
            links: Links { self_: order_path(collection, &order.order_id) },
        }
    }
}
