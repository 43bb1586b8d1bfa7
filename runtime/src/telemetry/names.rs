//! The names of the pipeline's business metrics in CloudWatch, defined once.
//!
//! The runtime publishes these metrics (counts and step latencies) under [`namespace`]; the
//! generated dashboard and alarms read the same names, so the two cannot drift apart.

/// Prefix of the metric namespace: the namespace of pipeline `shop` is `orchgen/shop`.
pub const NAMESPACE_PREFIX: &str = "orchgen/";

/// The metric namespace of a pipeline: [`NAMESPACE_PREFIX`] followed by the pipeline's name.
pub fn namespace(pipeline: &str) -> String {
    format!("{NAMESPACE_PREFIX}{pipeline}")
}

/// Orders accepted by the API (count, no dimension).
pub const ORDERS_CREATED: &str = "OrdersCreated";
/// Orders that reached `COMPLETED` (count, no dimension).
pub const ORDERS_COMPLETED: &str = "OrdersCompleted";
/// Orders that reached `FAILED` (count, no dimension).
pub const ORDERS_FAILED: &str = "OrdersFailed";
/// Orders that reached `CANCELLED` after their compensations (count, no dimension).
pub const ORDERS_CANCELLED: &str = "OrdersCancelled";
/// Duration of one step attempt, in milliseconds (dimension [`DIMENSION_STEP`]).
pub const STEP_DURATION: &str = "StepDuration";
/// Step attempts that failed retryably and were tried again (count, dimension [`DIMENSION_STEP`]).
pub const STEP_RETRIES: &str = "StepRetries";
/// Compensations that ran to success (count, dimension [`DIMENSION_STEP`]: the compensation's name).
pub const COMPENSATIONS: &str = "Compensations";

/// The dimension naming the step (or compensation) a metric is about.
pub const DIMENSION_STEP: &str = "Step";

/// The order-outcome metrics, without dimension, in lifecycle order.
pub const ORDER_METRICS: [&str; 4] = [ORDERS_CREATED, ORDERS_COMPLETED, ORDERS_FAILED, ORDERS_CANCELLED];

/// The per-step metrics, with the [`DIMENSION_STEP`] dimension.
pub const STEP_METRICS: [&str; 3] = [STEP_DURATION, STEP_RETRIES, COMPENSATIONS];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_carries_the_pipeline_name() {
        assert_eq!(namespace("shop"), "orchgen/shop");
        assert!(ORDER_METRICS.iter().chain(STEP_METRICS.iter()).all(|m| m.chars().all(|c| c.is_ascii_alphanumeric())));
    }
}
