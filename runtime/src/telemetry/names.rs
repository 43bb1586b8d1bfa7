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

/// Orders accepted by the API (count, dimensions [`ORDER_DIMENSIONS`]).
pub const ORDERS_CREATED: &str = "OrdersCreated";
/// Orders that reached `COMPLETED` (count, dimensions [`ORDER_DIMENSIONS`]).
pub const ORDERS_COMPLETED: &str = "OrdersCompleted";
/// Orders that reached `FAILED` (count, dimensions [`ORDER_DIMENSIONS`]).
pub const ORDERS_FAILED: &str = "OrdersFailed";
/// Orders that reached `CANCELLED` after their compensations (count, dimensions [`ORDER_DIMENSIONS`]).
pub const ORDERS_CANCELLED: &str = "OrdersCancelled";
/// Orders that reached `REJECTED` (validation failed; count, dimensions [`ORDER_DIMENSIONS`]).
pub const ORDERS_REJECTED: &str = "OrdersRejected";
/// Duration of one step attempt, in milliseconds (dimensions [`STEP_DIMENSIONS`]).
pub const STEP_DURATION: &str = "StepDuration";
/// Step attempts that failed retryably and were tried again (count, dimensions [`STEP_DIMENSIONS`]).
pub const STEP_RETRIES: &str = "StepRetries";
/// Compensations that ran to success (count, dimensions [`STEP_DIMENSIONS`], `Step` being the
/// compensation's name).
pub const COMPENSATIONS: &str = "Compensations";
/// Cold starts: one per function process, at its first invocation (count, dimensions
/// [`FUNCTION_DIMENSIONS`]).
pub const COLD_STARTS: &str = "ColdStarts";
/// Stream records the stream processor reported failed in its partial batch responses (count,
/// dimensions [`ORDER_DIMENSIONS`]). No code of orchgen sends to the dead-letter queue: the event
/// source mapping does, once a record's retries or age run out; its depth is the SQS metric
/// `ApproximateNumberOfMessagesVisible` of the queue, and this count is what leads there.
pub const BATCH_ITEM_FAILURES: &str = "BatchItemFailures";

/// The dimension naming the pipeline (the namespace names it too; the dimension keeps it in
/// cross-namespace queries).
pub const DIMENSION_PIPELINE: &str = "Pipeline";
/// The dimension naming the deployment stage (`ORCHGEN_STAGE`; `local` when not set).
pub const DIMENSION_STAGE: &str = "Stage";
/// The dimension naming the step (or compensation) a metric is about.
pub const DIMENSION_STEP: &str = "Step";
/// The dimension naming the Lambda function (`api`, `stream-processor`, `step-<name>`, ...).
pub const DIMENSION_FUNCTION: &str = "Function";

/// The stage dimension's value when no stage is set.
pub const LOCAL_STAGE: &str = "local";

/// The dimension set of the order metrics ([`ORDER_METRICS`], [`BATCH_ITEM_FAILURES`]).
pub const ORDER_DIMENSIONS: [&str; 2] = [DIMENSION_PIPELINE, DIMENSION_STAGE];
/// The dimension set of the per-step metrics ([`STEP_METRICS`]).
pub const STEP_DIMENSIONS: [&str; 3] = [DIMENSION_PIPELINE, DIMENSION_STAGE, DIMENSION_STEP];
/// The dimension set of [`COLD_STARTS`].
pub const FUNCTION_DIMENSIONS: [&str; 3] = [DIMENSION_PIPELINE, DIMENSION_STAGE, DIMENSION_FUNCTION];

/// The order-outcome metrics (dimensions [`ORDER_DIMENSIONS`]), in lifecycle order.
pub const ORDER_METRICS: [&str; 5] =
    [ORDERS_CREATED, ORDERS_COMPLETED, ORDERS_FAILED, ORDERS_CANCELLED, ORDERS_REJECTED];

/// The per-step metrics (dimensions [`STEP_DIMENSIONS`]).
pub const STEP_METRICS: [&str; 3] = [STEP_DURATION, STEP_RETRIES, COMPENSATIONS];

/// The value of the stage dimension for a stage name (`ORCHGEN_STAGE`): the name, or [`LOCAL_STAGE`]
/// when it is empty (CloudWatch refuses empty dimension values).
pub fn stage_dimension(stage: &str) -> &str {
    if stage.trim().is_empty() { LOCAL_STAGE } else { stage }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_carries_the_pipeline_name() {
        assert_eq!(namespace("shop"), "orchgen/shop");
        assert_eq!(stage_dimension(""), "local");
        assert_eq!(stage_dimension("prod"), "prod");
        assert!(
            ORDER_METRICS
                .iter()
                .chain(STEP_METRICS.iter())
                .chain([COLD_STARTS, BATCH_ITEM_FAILURES].iter())
                .all(|m| m.chars().all(|c| c.is_ascii_alphanumeric()))
        );
    }
}
