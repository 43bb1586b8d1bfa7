//! The `cost:` section: what the pipeline may cost, checked against `orchgen cost`'s estimate of
//! orchgen's design.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A cost budget: `orchgen validate` warns, and `orchgen build --check` and `orchgen cost` fail, when
/// orchgen's estimate per million orders (as `orchgen cost` computes it) at the expected volume is
/// above the budget.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostSpec {
    /// The most the pipeline may cost per million orders, in US dollars (AWS on-demand prices, no
    /// free tier).
    #[schemars(range(min = 0), example = 15.0)]
    pub budget_per_million_orders: f64,
    /// The orders a month the budget is checked at (default 1,000,000): some costs per order fall
    /// as the volume rises (stream batches fill up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1), example = 1_000_000)]
    pub orders_per_month: Option<u64>,
}
