//! The order: what a customer submits ([`OrderRequest`]), what the pipeline keeps ([`Order`]), and
//! its lifecycle. An order moves `RECEIVED → <step statuses> → COMPLETED`, or ends `REJECTED`
//! (validation), `FAILED` (a terminal failure with nothing to undo, or `on_failure: fail`), or
//! `COMPENSATING → CANCELLED`. Every stored change bumps [`Order::version`] (optimistic concurrency).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::plan::{Plan, status};

/// The seed's sample order as the JSON body of `POST /orders`: two units of `product-1` at 29.99 and
/// one of `product-2` at 49.99 (109.97), shipped to Seattle, paid by credit card. `orchgen dev`
/// prints it in its sample `curl`; the tests start from it ([`OrderRequest::example`]).
pub const EXAMPLE_ORDER_JSON: &str = r#"{"customer":{"customer_id":"cust-12345","email":"customer@example.com","name":"John Doe"},"items":[{"product_id":"product-1","quantity":2,"unit_price":29.99},{"product_id":"product-2","quantity":1,"unit_price":49.99}],"shipping_address":{"street":"123 Main St","city":"Seattle","state":"WA","postal_code":"98101","country":"US"},"payment":{"payment_method":"credit_card"}}"#;

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

impl OrderRequest {
    /// The seed's sample order ([`EXAMPLE_ORDER_JSON`]).
    pub fn example() -> OrderRequest {
        serde_json::from_str(EXAMPLE_ORDER_JSON).expect("the example order is a valid request")
    }
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
    /// Where it goes (empty fields are left out of the stored JSON).
    #[serde(serialize_with = "compact::address")]
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
    /// The charge, once payment succeeded (`refunded` is left out of the stored JSON while false).
    #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "compact::charge")]
    pub charge: Option<Charge>,
    /// The shipment, once fulfilled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment: Option<Shipment>,
    /// Outputs of custom steps, by step name.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub outputs: std::collections::BTreeMap<String, serde_json::Value>,
    /// Every attempt of every step and compensation, in order (`attempt` is left out of the stored
    /// JSON when it is 1).
    #[serde(default, serialize_with = "compact::history", deserialize_with = "compact::read_history")]
    pub history: Vec<HistoryEntry>,
    /// When the order may be deleted (epoch seconds), set once it is terminal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl Order {
    /// A new order as `POST /orders` stores it: `RECEIVED`, version 1, created `at`.
    pub fn received(
        order_id: String,
        request: OrderRequest,
        total_cents: i64,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Order {
        let at = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        Order {
            order_id,
            status: crate::plan::status::RECEIVED.to_owned(),
            version: 1,
            created_at: at.clone(),
            updated_at: at,
            customer: request.customer,
            items: request.items,
            shipping_address: request.shipping_address,
            payment_method: request.payment.payment_method,
            total_cents,
            cursor: 0,
            pending_compensations: Vec::new(),
            failure: None,
            charge: None,
            shipment: None,
            outputs: Default::default(),
            history: Vec::new(),
            expires_at: None,
        }
    }

    /// The seed's sample order ([`OrderRequest::example`], $109.97) just received, with the id
    /// `01JEXAMPLE0000000000000000`: what a custom step's unit test starts from.
    pub fn example() -> Order {
        let request = OrderRequest::example();
        let total_cents = request.items.iter().map(|i| i.quantity * (i.unit_price * 100.0).round() as i64).sum();
        Order::received("01JEXAMPLE0000000000000000".to_owned(), request, total_cents, chrono::Utc::now())
    }

    /// Whether the order reached a status it never leaves.
    pub fn is_terminal(&self) -> bool {
        is_terminal_status(&self.status)
    }

    /// The order total in currency units.
    pub fn total(&self) -> f64 {
        self.total_cents as f64 / 100.0
    }
}

/// The statuses an order never leaves.
pub const TERMINAL_STATUSES: [&str; 4] = [status::COMPLETED, status::REJECTED, status::FAILED, status::CANCELLED];

/// Whether `status` is terminal (one of [`TERMINAL_STATUSES`]).
pub fn is_terminal_status(s: &str) -> bool {
    TERMINAL_STATUSES.contains(&s)
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
    /// Whether a step refused the order (`refusal`: the order ends `REJECTED`, or `CANCELLED` after
    /// its compensations) or something broke (`fault`: it ends `FAILED`).
    #[serde(default)]
    pub kind: FailureKind,
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

/// The two kinds of [`Failure`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// A step decided the order does not go on: invalid, out of stock, payment declined, a
    /// service's refusal.
    Refusal,
    /// Something broke: retries exhausted, a timeout, a panic, a service unreachable or
    /// misconfigured, a compensation that could not run.
    #[default]
    Fault,
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

/// How an [`Order`] serialises the parts it shares with other types (the API's views among them)
/// without the bytes that carry no information, every one of which reads back as it was: empty
/// address fields (`#[serde(default)]` on [`Address`]), a charge's `refunded` while false (its
/// default) and a history entry's `attempt` when it is 1 (the default of `compact::read_history`). The
/// stored order (DynamoDB's `order` attribute, SQLite's body, stream images) is smaller; those types'
/// own JSON, and so the API's, is unchanged. Orders written before still read.
mod compact {
    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Address, Charge, HistoryEntry, Outcome};

    /// The address's non-empty fields, in declaration order.
    pub fn address<S: Serializer>(address: &Address, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = [
            ("street", &address.street),
            ("city", &address.city),
            ("state", &address.state),
            ("postal_code", &address.postal_code),
            ("country", &address.country),
        ];
        let mut map = serializer.serialize_map(Some(fields.iter().filter(|(_, v)| !v.is_empty()).count()))?;
        for (name, value) in fields.into_iter().filter(|(_, v)| !v.is_empty()) {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }

    /// A charge as [`Charge`] writes it, without `refunded` while it is false.
    #[derive(Serialize)]
    struct ChargeOut<'a> {
        charge_id: &'a str,
        amount_cents: i64,
        currency: &'a str,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        refunded: bool,
    }

    /// The charge (only called when there is one: the field skips `None`).
    pub fn charge<S: Serializer>(charge: &Option<Charge>, serializer: S) -> Result<S::Ok, S::Error> {
        charge
            .as_ref()
            .map(|c| ChargeOut {
                charge_id: &c.charge_id,
                amount_cents: c.amount_cents,
                currency: &c.currency,
                refunded: c.refunded,
            })
            .serialize(serializer)
    }

    fn is_first(attempt: &u32) -> bool {
        *attempt == 1
    }

    fn first() -> u32 {
        1
    }

    /// A history entry as [`HistoryEntry`] writes it, without `attempt` when it is 1.
    #[derive(Serialize)]
    struct EntryOut<'a> {
        step: &'a str,
        #[serde(skip_serializing_if = "is_first")]
        attempt: u32,
        outcome: Outcome,
        duration_ms: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: &'a Option<String>,
        at: &'a str,
    }

    /// A history entry as stored, `attempt` 1 when absent.
    #[derive(Deserialize)]
    struct EntryIn {
        step: String,
        #[serde(default = "first")]
        attempt: u32,
        outcome: Outcome,
        duration_ms: u64,
        #[serde(default)]
        error: Option<String>,
        at: String,
    }

    /// The history, each entry without `attempt` 1.
    pub fn history<S: Serializer>(history: &[HistoryEntry], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(history.iter().map(|h| EntryOut {
            step: &h.step,
            attempt: h.attempt,
            outcome: h.outcome,
            duration_ms: h.duration_ms,
            error: &h.error,
            at: &h.at,
        }))
    }

    /// Reads the history, with or without `attempt` 1.
    pub fn read_history<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<HistoryEntry>, D::Error> {
        let entries = Vec::<EntryIn>::deserialize(deserializer)?;
        Ok(entries
            .into_iter()
            .map(|e| HistoryEntry {
                step: e.step,
                attempt: e.attempt,
                outcome: e.outcome,
                duration_ms: e.duration_ms,
                error: e.error,
                at: e.at,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_is_the_seed_order() {
        let order = OrderRequest::example();
        assert_eq!(order.customer.customer_id, "cust-12345");
        assert_eq!(order.items.len(), 2);
        assert!(!EXAMPLE_ORDER_JSON.contains('\''), "it is pasted between single quotes in a shell");
    }

    fn completed() -> Order {
        let entry = |step: &str, attempt: u32, error: Option<&str>| HistoryEntry {
            step: step.into(),
            attempt,
            outcome: if error.is_some() { Outcome::Retried } else { Outcome::Succeeded },
            duration_ms: 3,
            error: error.map(str::to_owned),
            at: "2026-01-01T00:00:00.000Z".into(),
        };
        Order {
            order_id: "01J".into(),
            status: status::COMPLETED.into(),
            version: 4,
            created_at: "2026-01-01T00:00:00.000Z".into(),
            updated_at: "2026-01-01T00:00:01.000Z".into(),
            customer: Customer { customer_id: "c".into(), email: "c@example.com".into(), name: "C".into() },
            items: vec![Item { product_id: "p".into(), quantity: 1, unit_price: 2.5 }],
            shipping_address: Address { street: "1 A St".into(), country: "US".into(), ..Address::default() },
            payment_method: "credit_card".into(),
            total_cents: 250,
            cursor: 2,
            pending_compensations: Vec::new(),
            failure: None,
            charge: Some(Charge { charge_id: "ch".into(), amount_cents: 250, currency: "USD".into(), refunded: false }),
            shipment: None,
            outputs: std::collections::BTreeMap::new(),
            history: vec![entry("charge", 1, Some("timeout")), entry("charge", 2, None)],
            expires_at: Some(1),
        }
    }

    #[test]
    fn the_stored_order_leaves_out_only_what_reads_back_the_same() {
        let order = completed();
        let json = serde_json::to_value(&order).unwrap();
        assert_eq!(json["shipping_address"], serde_json::json!({"street": "1 A St", "country": "US"}));
        assert_eq!(json["charge"], serde_json::json!({"charge_id": "ch", "amount_cents": 250, "currency": "USD"}));
        assert_eq!(json["history"][0].get("attempt"), None);
        assert_eq!(json["history"][1]["attempt"], 2);
        assert_eq!(serde_json::from_value::<Order>(json).unwrap(), order);

        let mut refunded = order.clone();
        refunded.charge.as_mut().unwrap().refunded = true;
        let json = serde_json::to_value(&refunded).unwrap();
        assert_eq!(json["charge"]["refunded"], true);
        assert_eq!(serde_json::from_value::<Order>(json).unwrap(), refunded);

        // The shared types' own JSON (what the API's views embed) keeps every field.
        let entry = serde_json::to_value(&order.history[0]).unwrap();
        assert_eq!(entry["attempt"], 1);
        assert_eq!(serde_json::to_value(&order.shipping_address).unwrap()["state"], "");
    }

    #[test]
    fn an_order_stored_with_every_field_still_reads() {
        let order = completed();
        let mut full = serde_json::to_value(&order).unwrap();
        full["shipping_address"] = serde_json::to_value(&order.shipping_address).unwrap();
        full["charge"] = serde_json::to_value(order.charge.as_ref().unwrap()).unwrap();
        full["history"] = serde_json::to_value(&order.history).unwrap();
        assert_eq!(full["history"][0]["attempt"], 1);
        assert_eq!(full["charge"]["refunded"], false);
        assert_eq!(serde_json::from_value::<Order>(full).unwrap(), order);
    }
}
