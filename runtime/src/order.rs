//! The order: what a customer submits ([`OrderRequest`]), what the pipeline keeps ([`Order`]), and
//! its lifecycle. An order moves `RECEIVED → <step statuses> → COMPLETED`, or ends `REJECTED`
//! (validation), `FAILED` (a terminal failure with nothing to undo, or `on_failure: fail`), or
//! `COMPENSATING → CANCELLED`. Every stored change bumps [`Order::version`] (optimistic concurrency).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::plan::{Plan, status};

/// The body of `POST /orders` (the seed's request).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    /// Who orders.
    pub customer: Customer,
    /// What is ordered.
    pub items: Vec<Item>,
    /// Where it goes.
    pub shipping_address: Address,
    /// How it is paid.
    pub payment: Payment,
}

/// The customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    /// Customer id, e.g. `cust-12345`.
    pub customer_id: String,
    /// E-mail address for notifications.
    pub email: String,
    /// Full name.
    pub name: String,
}

/// One line of the order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Product id, e.g. `product-1`.
    pub product_id: String,
    /// Units ordered: a positive integer.
    pub quantity: i64,
    /// Price of one unit: not negative.
    pub unit_price: f64,
}

/// A shipping address. Which fields are required is declared by the pipeline's validate rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Street and number.
    #[serde(default)]
    pub street: String,
    /// City.
    #[serde(default)]
    pub city: String,
    /// State or region.
    #[serde(default)]
    pub state: String,
    /// Postal code.
    #[serde(default)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code.
    #[serde(default)]
    pub country: String,
}

impl Address {
    /// The value of a field by its name in the body.
    pub fn field(&self, name: &str) -> Option<&str> {
        Some(match name {
            "street" => &self.street,
            "city" => &self.city,
            "state" => &self.state,
            "postal_code" => &self.postal_code,
            "country" => &self.country,
            _ => return None,
        })
    }
}

/// How the order is paid. Card numbers are never accepted: a payment carries a method and,
/// optionally, a provider token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    /// Payment method, e.g. `credit_card`.
    pub payment_method: String,
    /// Opaque token from the payment provider's client side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// An order as stored and returned by the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Order {
    /// Order id (a ULID: ordered by creation time).
    pub order_id: String,
    /// Current status (one of the plan's statuses).
    pub status: String,
    /// Incremented by every stored change.
    pub version: u64,
    /// Creation time, RFC 3339 UTC with milliseconds.
    pub created_at: String,
    /// Time of the last change.
    pub updated_at: String,
    /// Who ordered.
    pub customer: Customer,
    /// What was ordered.
    pub items: Vec<Item>,
    /// Where it goes.
    pub shipping_address: Address,
    /// Payment method chosen by the customer.
    pub payment_method: String,
    /// Sum of quantity × unit price, in cents.
    pub total_cents: i64,
    /// Index in `plan.steps` of the next step to run (`steps.len()` when all have run).
    pub cursor: usize,
    /// Compensations still to run, in order, while `COMPENSATING`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_compensations: Vec<String>,
    /// Why the order did not complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// The charge, once payment succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge: Option<Charge>,
    /// The shipment, once fulfilled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment: Option<Shipment>,
    /// Outputs of custom steps, by step name.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub outputs: std::collections::BTreeMap<String, serde_json::Value>,
    /// Every attempt of every step and compensation, in order.
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    /// When the order may be deleted (epoch seconds), set once it is terminal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl Order {
    /// Whether the order reached a status it never leaves.
    pub fn is_terminal(&self) -> bool {
        is_terminal_status(&self.status)
    }

    /// The order total in currency units.
    pub fn total(&self) -> f64 {
        self.total_cents as f64 / 100.0
    }
}

/// Whether `status` is terminal.
pub fn is_terminal_status(s: &str) -> bool {
    matches!(s, status::COMPLETED | status::REJECTED | status::FAILED | status::CANCELLED)
}

/// Whether the plan allows moving from `from` to `to`.
pub fn transition_allowed(plan: &Plan, from: &str, to: &str) -> bool {
    if is_terminal_status(from) || !plan.has_status(to) {
        return false;
    }
    match to {
        status::RECEIVED => false,
        status::CANCELLED => from == status::COMPENSATING,
        status::COMPENSATING => true,
        status::COMPLETED | status::REJECTED | status::FAILED => from != status::COMPENSATING || to == status::FAILED,
        step_status => {
            // Forward only: a step status can follow RECEIVED or an earlier step's status.
            let index = |s: &str| plan.steps.iter().position(|p| p.status == s);
            match (from, index(step_status)) {
                (_, None) => false,
                (status::RECEIVED, Some(_)) => true,
                (f, Some(t)) => index(f).is_some_and(|fi| fi < t),
            }
        }
    }
}

/// Why an order did not complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Failure {
    /// The step that failed.
    pub step: String,
    /// Machine-readable code, e.g. `OUT_OF_STOCK`, `CARD_DECLINED`, `VALIDATION_FAILED`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// Field-level reasons (validation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

/// One invalid field of a request or an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FieldError {
    /// Path of the field, e.g. `items[0].quantity`.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

/// A payment charge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Charge {
    /// Provider's charge id.
    pub charge_id: String,
    /// Amount charged, in cents.
    pub amount_cents: i64,
    /// ISO 4217 currency.
    pub currency: String,
    /// Whether the charge was refunded.
    #[serde(default)]
    pub refunded: bool,
}

/// A shipment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Shipment {
    /// Carrier.
    pub carrier: String,
    /// Tracking id.
    pub tracking_id: String,
}

/// One attempt of a step or compensation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HistoryEntry {
    /// Step or compensation name.
    pub step: String,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// What happened.
    pub outcome: Outcome,
    /// How long the attempt took, in milliseconds.
    pub duration_ms: u64,
    /// The error of a failed attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the attempt ended.
    pub at: String,
}

/// The outcome of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The step succeeded.
    Succeeded,
    /// A retryable failure: another attempt follows.
    Retried,
    /// A terminal failure, or the last attempt failed.
    Failed,
    /// A compensation undid a step.
    Compensated,
}
