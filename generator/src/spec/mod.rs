//! The pipeline language: what the user writes in `pipelines/*.yaml`.
//!
//! These types are the single source of the JSON Schema (`orchgen schema`): every doc comment becomes
//! a description editors show, every `Option` a key that may be left out. They are deliberately
//! unresolved: defaults and references are settled later, by [`crate::resolve`], into a
//! [`orchgen_runtime::Plan`].

mod api;
mod cost;
mod monitoring;
mod steps;
mod tables;

pub use api::{ApiKindSpec, ApiSpec, AuthSpec, CorsSpec, ListSpec, RouteSpec, ThrottleSpec};
pub use cost::CostSpec;
pub use monitoring::{AlarmsSpec, MonitoringSpec};
pub use steps::{
    AddressField, ArchitectureSpec, BackoffJitter, ChannelSpec, CompensationKind, CompensationSpec, CountryCode,
    DeclineRuleSpec, DefaultsSpec, FunctionsSpec, HandlerSpec, HttpMethodSpec, OnFailureSpec, ProviderSpec, RetrySpec,
    RulesSpec, SigningSpec, StepKind, StepSpec, StreamSpec, execution_order, success_status,
};
pub use tables::{OrdersTableSpec, TableSpec, TablesSpec};

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An orchgen pipeline: the order API, its tables and the steps every order goes through.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "orchgen pipeline")]
pub struct Spec {
    /// Pipeline name: lowercase letters, digits and dashes; it prefixes every resource name.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9-]{0,39}$"), example = &"orders")]
    pub name: String,
    /// What the pipeline is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The order API (POST, GET list, GET one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiSpec>,
    /// Table settings. The orders, inventory, payments-ledger and idempotency tables always exist;
    /// declare one here only to change its settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tables: Option<TablesSpec>,
    /// Settings every step inherits unless it says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<DefaultsSpec>,
    /// The steps every order goes through, in order.
    pub steps: Vec<StepSpec>,
    /// Actions that undo a step's effect after a later step fails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compensations: Vec<CompensationSpec>,
    /// How the orders change stream feeds the stream processor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamSpec>,
    /// Lambda settings of the API and stream-processor functions, and of all functions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functions: Option<FunctionsSpec>,
    /// Alarms, their notification address and log retention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<MonitoringSpec>,
    /// Settings for `orchgen dev`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalSpec>,
    /// A cost budget the pipeline must stay within (checked by `orchgen validate`, `orchgen build
    /// --check` and `orchgen cost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostSpec>,
}

/// Settings for local runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalSpec {
    /// Stock loaded into an empty inventory: product id → units in stock.
    #[serde(default)]
    #[schemars(example = example_inventory())]
    pub inventory: BTreeMap<String, u64>,
}

fn example_inventory() -> BTreeMap<String, u64> {
    BTreeMap::from([("product-1".to_owned(), 100), ("product-2".to_owned(), 50)])
}

/// A duration written with a unit: `250ms`, `10s`, `5m`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Duration(pub String);

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration with its unit: `ms`, `s` or `m` (e.g. `250ms`, `10s`, `2m`).",
            "pattern": DURATION_PATTERN,
            "examples": ["200ms", "10s"]
        })
    }
}

/// The pattern a [`Duration`] must match.
pub const DURATION_PATTERN: &str = r"^[0-9]{1,9}(ms|s|m)$";

/// Parses a [`Duration`] into milliseconds; `None` when it does not match [`DURATION_PATTERN`].
pub fn parse_duration_ms(text: &str) -> Option<u64> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() || digits.len() > 9 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    match unit {
        "ms" => Some(n),
        "s" => Some(n * 1_000),
        "m" => Some(n * 60_000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration_ms;

    #[test]
    fn durations_parse_with_their_unit() {
        assert_eq!(parse_duration_ms("250ms"), Some(250));
        assert_eq!(parse_duration_ms("10s"), Some(10_000));
        assert_eq!(parse_duration_ms("2m"), Some(120_000));
        assert_eq!(parse_duration_ms("10"), None);
        assert_eq!(parse_duration_ms("s"), None);
        assert_eq!(parse_duration_ms("1h"), None);
        assert_eq!(parse_duration_ms("9999999999s"), None);
    }
}
