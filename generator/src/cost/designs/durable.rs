//! AWS Lambda durable functions: one durable function running the steps in process, a checkpoint
//! per step, the order written to DynamoDB after each step: durable operations, checkpoint data
//! written and retained, the function's own Lambda time.

use orchgen_runtime::order::Order;

use super::Context;
use crate::cost::assumptions as a;
use crate::cost::dynamo::{self, Access, Consistency};
use crate::cost::prices::PRICES;
use crate::cost::{Design, Scaling, design, gb_seconds, line, per_order};

/// The durable functions design of the order as it runs with a move per step.
pub(in crate::cost) fn build(ctx: &Context) -> Design {
    let p = &PRICES;
    let (plan, per_step, n, steps, status_writes) = (ctx.plan, ctx.per_step, ctx.n, ctx.steps, ctx.status_writes());
    // The durable function runs the same Rust code, which can pack the order as orchgen's store does.
    let usage = dynamo::usage(
        per_step,
        Access {
            transactional: false,
            indexes: true,
            processing_read: None,
            api_read: Consistency::Strong,
            packed: true,
        },
    );
    let operations = a::DURABLE_OPERATIONS_PER_EXECUTION + steps;
    // Sized as the representative order (fixed ids, times and durations): the same every run.
    let json_bytes =
        |o: &Order| serde_json::to_vec(&crate::cost::dynamo::representative(o)).map_or(0, |v| v.len() as u64);
    // What is checkpointed: the execution's input (the order as created), each step's result (the
    // order as the step leaves it) and the execution's result (the completed order).
    let checkpoint_bytes =
        json_bytes(&per_step.created) + per_step.transitions.iter().map(|t| json_bytes(&t.order)).sum::<u64>();
    let (retention_days, retention_source) = match &plan.tables.orders.ttl {
        Some(ttl) if f64::from(ttl.days) > a::DURABLE_RETENTION_MAX_DAYS => {
            (a::DURABLE_RETENTION_MAX_DAYS, "the orders TTL capped to Lambda's maximum")
        }
        Some(ttl) => (f64::from(ttl.days), "the orders TTL"),
        None => (a::DURABLE_RETENTION_DEFAULT_DAYS, "Lambda's default; the orders table has no TTL"),
    };
    let retention_months = retention_days / (a::SECONDS_PER_MONTH / 86_400.0);
    let ms = f64::from(steps) * (a::RUST_STEP_MS + a::DURABLE_CHECKPOINT_MS)
        + f64::from(status_writes) * a::DYNAMODB_WRITE_MS;
    let mut lines = ctx.front_door("the asynchronous Invoke", a::START_EXECUTION_MS);
    lines.extend([
        line(
            "Lambda requests",
            "durable function: 1 invocation per order (no waits, so no replays)".into(),
            n,
            "requests",
            p.lambda_request,
            Scaling::Linear,
        ),
        line(
            "Lambda compute",
            format!(
                "durable function: {steps} steps × ({} + {} ms checkpoint) + {status_writes} order writes × {} ms = {ms:.0} ms at {} MB",
                a::RUST_STEP_MS,
                a::DURABLE_CHECKPOINT_MS,
                a::DYNAMODB_WRITE_MS,
                plan.functions.memory_mb
            ),
            gb_seconds(n, ms, plan.functions.memory_mb),
            "GB-s",
            ctx.gb_s,
            Scaling::Linear,
        ),
        line(
            "Lambda durable",
            format!("durable operations: {operations} per order (the execution + a step per attempt)"),
            n * f64::from(operations),
            "operations",
            p.durable_operation,
            Scaling::Linear,
        ),
        line(
            "Lambda durable",
            format!("checkpoint data written: {checkpoint_bytes} B per order (the order as input, after each step, as result)"),
            n * checkpoint_bytes as f64 / 1e9,
            "GB",
            p.durable_data_written_gb,
            Scaling::Linear,
        ),
        line(
            "Lambda durable",
            format!("checkpoint data retained {retention_days:.0} days ({retention_source})"),
            n * checkpoint_bytes as f64 / 1e9 * retention_months,
            "GB-month",
            p.durable_data_retained_gb_month,
            Scaling::Linear,
        ),
    ]);
    lines.extend(ctx.execution_back_end(
        &usage,
        "the steps write the order: a write per status change, no transactions",
        " (the checkpoint log is priced above)",
    ));
    let mut durable = design(
        "durable_functions",
        "AWS Lambda durable functions: one durable function running the same Rust steps, a checkpoint per step".into(),
        lines,
        n,
        per_order(ctx.api_requests, 0, 0, 0, &usage),
    );
    durable.per_order.executions = 1;
    durable.per_order.durable_operations = operations;
    durable.per_order.execution_billed_ms = ms.max(1.0).ceil();
    durable.per_order.checkpoint_bytes = checkpoint_bytes;
    durable.gives_up = vec![
        "one transaction per move: a step's effects (stock, charge, outbox) and the order's new status are separate writes; a step replayed from its last checkpoint relies on its own idempotency".into(),
        "a function per step: the steps share the durable function's memory, timeout and role".into(),
        format!(
            "history beyond {} days: a closed execution's checkpoints are kept at most that long (this estimate: {retention_days:.0} days)",
            a::DURABLE_RETENTION_MAX_DAYS
        ),
    ];
    durable
}
