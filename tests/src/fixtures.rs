//! The one sample order of the tests: the seed order ([`EXAMPLE_ORDER_JSON`], what `orchgen dev`
//! prints as its sample) and the few variants tests need, made with [`OrderBody`]'s builder methods
//! (`order().one_unit("product-5").payment_method("declined_card").json()`).

use orchgen_runtime::order::{EXAMPLE_ORDER_JSON, Order, OrderRequest};
use serde_json::{Value, json};
use std::fmt::Write as _;

/// The reference plan as JSON (`runtime/tests/fixtures/orders.plan.json`).
pub const ORDERS_PLAN_JSON: &str = include_str!("../../runtime/tests/fixtures/orders.plan.json");

/// The seed order as the text of a `POST /orders` body (the runtime's [`EXAMPLE_ORDER_JSON`]):
/// what the load generators post.
pub const SAMPLE_ORDER_JSON: &str = EXAMPLE_ORDER_JSON;

/// The seed order, as the body of `POST /orders`: two units of product-1 at 29.99 and one of
/// product-2 at 49.99 (109.97), for `cust-12345` in Seattle, paid by `credit_card`.
pub fn sample_order() -> Value {
    serde_json::from_str(SAMPLE_ORDER_JSON).expect("the example order is JSON")
}

/// The seed order, edited by the builder methods of [`OrderBody`].
pub fn order() -> OrderBody {
    OrderBody(sample_order())
}

/// An order body: the sample order with some fields changed.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBody(Value);

impl OrderBody {
    /// Replaces the lines with these `(product, quantity, unit price)`.
    pub fn items(mut self, items: &[(&str, i64, f64)]) -> OrderBody {
        self.0["items"] = items
            .iter()
            .map(|(product, quantity, unit_price)| {
                json!({ "product_id": product, "quantity": quantity, "unit_price": unit_price })
            })
            .collect();
        self
    }

    /// One line only: `quantity` units of `product` at `unit_price`.
    pub fn item(self, product: &str, quantity: i64, unit_price: f64) -> OrderBody {
        self.items(&[(product, quantity, unit_price)])
    }

    /// One line only: one unit of `product` at 10.00.
    pub fn one_unit(self, product: &str) -> OrderBody {
        self.item(product, 1, 10.0)
    }

    /// Another customer id.
    pub fn customer_id(mut self, customer_id: &str) -> OrderBody {
        self.0["customer"]["customer_id"] = json!(customer_id);
        self
    }

    /// Another payment method (`declined_card` is declined by the mock provider).
    pub fn payment_method(mut self, payment_method: &str) -> OrderBody {
        self.0["payment"]["payment_method"] = json!(payment_method);
        self
    }

    /// Another country to ship to.
    pub fn country(self, country: &str) -> OrderBody {
        self.address("country", country)
    }

    /// Another value of one field of the shipping address (`""`: the field left empty).
    pub fn address(mut self, field: &str, value: &str) -> OrderBody {
        self.0["shipping_address"][field] = json!(value);
        self
    }

    /// The body as JSON.
    pub fn json(self) -> Value {
        self.0
    }

    /// The body as the runtime reads it.
    pub fn request(self) -> OrderRequest {
        serde_json::from_value(self.0).expect("the order body is a valid request")
    }

    /// The order as stored on creation: `order_id`, version 1, `RECEIVED` since `created_at`, nothing
    /// run yet.
    pub fn received(self, order_id: &str, created_at: &str) -> Order {
        let request = self.request();
        let total_cents: i64 =
            request.items.iter().map(|item| item.quantity * (item.unit_price * 100.0).round() as i64).sum();
        serde_json::from_value(json!({
            "order_id": order_id,
            "status": "RECEIVED",
            "version": 1,
            "created_at": created_at,
            "updated_at": created_at,
            "customer": request.customer,
            "items": request.items,
            "shipping_address": request.shipping_address,
            "payment_method": request.payment.payment_method,
            "total_cents": total_cents,
            "cursor": 0,
            "history": []
        }))
        .expect("a received order")
    }
}

impl From<OrderBody> for Value {
    fn from(body: OrderBody) -> Value {
        body.0
    }
}

/// A generated pipeline of `n` steps (the built-in kinds in turn, each `next:` the following one,
/// reservations and charges with their compensations): what the build benchmarks time.
pub fn generated_pipeline(n: usize) -> String {
    let mut steps = String::new();
    let mut comps = String::new();
    let kinds = ["reserve_inventory", "charge_payment", "fulfil", "notify"];
    let name = |i: usize| {
        let kind = if i == 0 { "validate" } else { kinds[(i - 1) % kinds.len()] };
        (format!("s{i:03}-{}", kind.replace('_', "-")), kind)
    };
    for i in 0..n {
        let (step, kind) = name(i);
        let next = if i + 1 == n { "end".to_owned() } else { name(i + 1).0 };
        let _ = writeln!(steps, "  - name: {step}\n    kind: {kind}\n    status: S{i:03}_DONE\n    next: {next}");
        match kind {
            "validate" => steps.push_str("    rules: { min_items: 1, max_items: 50, allowed_countries: [US, CA] }\n"),
            "reserve_inventory" => {
                let _ = writeln!(steps, "    compensate: release-{i:03}");
                let _ = writeln!(comps, "  - {{ name: release-{i:03}, kind: release_inventory }}");
            }
            "charge_payment" => {
                let _ = writeln!(steps, "    compensate: refund-{i:03}\n    timeout: 15s\n    memory: 512");
                let _ = writeln!(comps, "  - {{ name: refund-{i:03}, kind: refund_payment }}");
            }
            "fulfil" => steps.push_str("    carrier: mock-carrier\n    tracking_prefix: TRK\n"),
            _ => steps.push_str("    channel: mock\n    subject: \"Order {order_id}\"\n    on_failure: continue\n"),
        }
    }
    format!(
        "name: big\ndescription: A generated pipeline of {n} steps.\n\ndefaults:\n  timeout: 10s\n  memory: 256\n  on_failure: compensate\n\nsteps:\n{steps}\ncompensations:\n{comps}"
    )
}

/// The reference pipeline (`pipelines/orders.yaml`) written into `dir` with every product stocked
/// by the billion: what the load benchmarks run.
pub fn stocked_reference_pipeline(dir: &std::path::Path) -> std::path::PathBuf {
    let stock = [("product-1", 1_000_000_000), ("product-2", 1_000_000_000)];
    crate::dev_server::pipeline_with_inventory(dir, &stock).expect("the stocked pipeline is written")
}

#[cfg(test)]
mod tests {
    use super::{order, sample_order};
    use orchgen_runtime::order::OrderRequest;

    #[test]
    fn the_sample_is_the_seed_order_and_its_variants_stay_valid() {
        assert_eq!(order().request(), OrderRequest::example());
        assert_eq!(sample_order()["items"].as_array().map(Vec::len), Some(2));
        let variant = order().one_unit("product-5").customer_id("c-1").payment_method("declined_card").country("ZZ");
        let request = variant.clone().request();
        assert_eq!(request.items.len(), 1);
        assert_eq!((request.items[0].quantity, request.items[0].unit_price), (1, 10.0));
        assert_eq!(request.customer.customer_id, "c-1");
        assert_eq!(request.payment.payment_method, "declined_card");
        assert_eq!(request.shipping_address.country, "ZZ");
        let stored = variant.received("01J", "2026-01-01T00:00:00.000Z");
        assert_eq!((stored.version, stored.status.as_str(), stored.total_cents), (1, "RECEIVED", 1000));
        assert_eq!(order().address("state", "").request().shipping_address.state, "");
    }
}
