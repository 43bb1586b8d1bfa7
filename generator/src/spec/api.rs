//! The `api:` section: the order API served by API Gateway (and by `orchgen dev` locally).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The order API.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiSpec {
    /// The kind of API Gateway API: `rest` (default; API keys, usage plans) or `http` (an HTTP API:
    /// $1.00 instead of $3.50 per million requests, lower latency; IAM or no auth, no API keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ApiKindSpec>,
    /// Path of the orders collection. Default `/orders`; one order is at `<path>/{orderId}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(/[A-Za-z0-9._-]+)+$"), example = &"/orders")]
    pub path: Option<String>,
    /// Routes to serve. Default: all three.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<RouteSpec>>,
    /// How callers authenticate. Default `api_key` (`iam` for an HTTP API, which has no API keys);
    /// `none` makes the API public and must be said explicitly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSpec>,
    /// Largest accepted request body, in bytes (default 16384, at most 10 MB, API Gateway's limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 256, max = 10485760))]
    pub max_request_bytes: Option<u64>,
    /// Request throttling of the API stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<ThrottleSpec>,
    /// Cross-origin access from browsers. Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<CorsSpec>,
    /// Paging of `GET /orders`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<ListSpec>,
}

/// The kind of API Gateway API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiKindSpec {
    /// An API Gateway REST API.
    Rest,
    /// An API Gateway HTTP API.
    Http,
}

/// A route of the order API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RouteSpec {
    /// `POST /orders`: submit an order.
    Create,
    /// `GET /orders`: list orders, newest first, with `status`, `limit` and `next`.
    List,
    /// `GET /orders/{orderId}`: one order with its history.
    Get,
}

/// How callers authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthSpec {
    /// An API key in the `x-api-key` header, with a usage plan.
    ApiKey,
    /// AWS Signature V4 with IAM permissions.
    Iam,
    /// No authentication: anyone on the internet can call the API.
    None,
}

/// Request throttling.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSpec {
    /// Steady-state requests per second (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub rate: Option<u32>,
    /// Burst capacity in requests (default 2 × rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 5000))]
    pub burst: Option<u32>,
}

/// Cross-origin access.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorsSpec {
    /// Origins allowed to call the API from a browser, e.g. `https://shop.example.com`.
    pub origins: Vec<String>,
}

/// Paging of `GET /orders`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListSpec {
    /// Page size when the request gives no `limit` (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub default_limit: Option<u32>,
    /// Largest `limit` a request may ask for (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_limit: Option<u32>,
}
