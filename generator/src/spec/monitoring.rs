//! The `monitoring:` section: alarms, where they are sent, and how long logs are kept.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Alarms, notifications and logs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitoringSpec {
    /// E-mail address subscribed to the alarm topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(email, example = &"ops@example.com")]
    pub alarm_email: Option<String>,
    /// Days log groups keep their events (default 30); one of CloudWatch's allowed values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]))]
    pub log_retention_days: Option<u32>,
    /// Alarm thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms: Option<AlarmsSpec>,
}

/// Alarm thresholds; an alarm fires when its metric reaches the threshold.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlarmsSpec {
    /// Errors of one function in 5 minutes (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub function_errors: Option<u32>,
    /// Throttles of one function in 5 minutes (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub function_throttles: Option<u32>,
    /// Age of the oldest unprocessed stream record (default `60s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterator_age: Option<super::Duration>,
    /// Messages waiting in the dead-letter queue (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub dlq_messages: Option<u32>,
    /// API 5xx responses in percent of requests (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub api_5xx_percent: Option<f64>,
    /// API p99 latency (default `1s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_p99_latency: Option<super::Duration>,
    /// `FAILED` orders (faults, not refusals) in percent of the orders that finished (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub failed_orders_percent: Option<f64>,
}
