//! The `tables:` section: settings of the DynamoDB tables the pipeline uses.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Table settings. Every table exists whether or not it is declared here.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TablesSpec {
    /// Orders with their state and history; its change stream drives the pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orders: Option<OrdersTableSpec>,
    /// Stock per product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<TableSpec>,
    /// Payments ledger: at most one charge per order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger: Option<TableSpec>,
    /// Idempotency keys of API requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency: Option<TableSpec>,
}

/// The orders table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrdersTableSpec {
    /// Table name (default `<pipeline>-orders`): 3–255 of `A-Z a-z 0-9 _ - .`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_.-]{3,255}$"))]
    pub name: Option<String>,
    /// Days an order is kept after it reaches a terminal status (default 90). `0` is not allowed: leave it out to use the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 36500))]
    pub ttl_days: Option<i64>,
    /// Name of the index that lists orders by status, newest first (default `by-status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_.-]{3,255}$"))]
    pub status_index: Option<String>,
    /// Point-in-time recovery (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_in_time_recovery: Option<bool>,
    /// Keep the table when the stack is deleted (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain: Option<bool>,
}

/// A table other than orders.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    /// Table name (default `<pipeline>-<table>`): 3–255 of `A-Z a-z 0-9 _ - .`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_.-]{3,255}$"))]
    pub name: Option<String>,
    /// Point-in-time recovery (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_in_time_recovery: Option<bool>,
    /// Keep the table when the stack is deleted (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain: Option<bool>,
}
