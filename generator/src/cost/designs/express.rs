//! AWS Step Functions Express: the Standard design's state machine as an Express workflow, billed per
//! execution and per GB-second of its duration instead of per state transition; it gives up
//! exactly-once execution, the service-kept history and runs longer than 5 minutes.

use super::Context;
use super::step_functions::state_machine_design;
use crate::cost::assumptions as a;
use crate::cost::prices::PRICES;
use crate::cost::{Design, Scaling, line, render};

/// The Step Functions Express design of the order as it runs with a move per step.
pub(in crate::cost) fn build(ctx: &Context) -> Design {
    let p = &PRICES;
    let (n, steps, status_writes) = (ctx.n, ctx.steps, ctx.status_writes());
    let ms = f64::from(steps) * (a::LAMBDA_INVOKE_OVERHEAD_MS + a::RUST_STEP_MS)
        + f64::from(status_writes) * a::DYNAMODB_WRITE_MS;
    let billed_ms = (ms / p.sfn_express_billing_ms).ceil().max(1.0) * p.sfn_express_billing_ms;
    let memory_mb =
        (a::EXPRESS_MEMORY_MB / p.sfn_express_memory_step_mb).ceil().max(1.0) * p.sfn_express_memory_step_mb;
    let mut lines = ctx.front_door("StartExecution", a::START_EXECUTION_MS);
    lines.extend([
        ctx.step_requests(),
        ctx.step_compute(),
        line("Step Functions", "Express: 1 execution per order".into(), n, "requests", p.sfn_express_request, Scaling::Linear),
        line(
            "Step Functions",
            format!(
                "Express duration: {steps} Lambda tasks × ({} + {} ms) + {status_writes} UpdateItem tasks × {} ms = {ms:.0} ms, billed {billed_ms:.0} ms at {memory_mb:.0} MB",
                a::LAMBDA_INVOKE_OVERHEAD_MS,
                a::RUST_STEP_MS,
                a::DYNAMODB_WRITE_MS
            ),
            n * billed_ms / 1000.0 * memory_mb / 1024.0,
            "GB-s",
            p.sfn_express_gb_second,
            Scaling::Linear,
        ),
    ]);
    let mut express = state_machine_design(
        ctx,
        "step_functions_express",
        "AWS Step Functions Express orchestrating the same Rust step Lambdas",
        lines,
        "; execution logging at level ERROR (none for executions that succeed)",
    );
    express.per_order.execution_billed_ms = billed_ms;
    let history_bytes = f64::from(ctx.sfn_transitions) * a::EXPRESS_LOG_BYTES_PER_STATE;
    express.gives_up = vec![
        "exactly-once execution: an asynchronous Express execution runs at least once, so a step and its UpdateItem task may run twice (each would need its own idempotency condition; Standard runs exactly once)".into(),
        format!(
            "the execution history: the service keeps none beyond what it sends to CloudWatch Logs; this estimate assumes logging level ERROR (nothing for executions that succeed); level ALL without execution data adds about {} B per order ({} per million orders)",
            history_bytes,
            render::usd(history_bytes / 1e9 * p.cloudwatch_logs_ingestion_gb * 1e6),
        ),
        "executions longer than 5 minutes: an order's steps, retries and backoff included, must end within 5 minutes".into(),
    ];
    express
}
