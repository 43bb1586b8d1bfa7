//! orchgen's design: API Gateway (the plan's REST or HTTP API) → the API Lambda → DynamoDB; the
//! stream processor Lambda per batch of stream records, calling each step's Lambda synchronously and
//! committing each move as one TransactWriteItems when it has effects on other items, else as one
//! conditional PutItem.

use super::{Context, stream_reads};
use crate::cost::assumptions as a;
use crate::cost::dynamo::{self, Access, Consistency};
use crate::cost::prices::PRICES;
use crate::cost::{Design, Scaling, design, dynamodb_lines, gb_seconds, line, per_order};

/// orchgen's design of the traced order.
pub(in crate::cost) fn build(ctx: &Context) -> Design {
    let p = &PRICES;
    let (plan, trace, n) = (ctx.plan, ctx.trace, ctx.n);
    let usage = dynamo::usage(
        trace,
        Access {
            transactional: true,
            indexes: true,
            processing_read: Some(Consistency::Strong),
            api_read: Consistency::Strong,
            packed: true,
        },
    );
    let (steps, fill) = (ctx.steps, ctx.fill);
    let stream_records = trace.processed_records();
    let processor_invocations = n * f64::from(stream_records) / fill;
    let step_ms: f64 = trace.attempts().iter().map(|_| a::RUST_STEP_MS).sum();
    let engine_reads = trace.engine_reads.len() as f64;
    let transitions = trace.transitions.len() as f64;
    let processor_ms_per_order = engine_reads * a::DYNAMODB_READ_MS
        + transitions * a::DYNAMODB_TRANSACTION_MS
        + f64::from(steps) * a::LAMBDA_INVOKE_OVERHEAD_MS
        + step_ms;
    let processor_gb_s =
        processor_invocations * a::RUST_PROCESSOR_BATCH_MS / 1000.0 * f64::from(plan.functions.memory_mb) / 1024.0
            + gb_seconds(n, processor_ms_per_order, plan.functions.memory_mb);

    let mut lines = ctx.front_door_requests(ctx.api_kind, ctx.api_price, " (POST + GET)");
    lines.push(line(
        "Lambda requests",
        format!(
            "stream processor: {stream_records} of {} records per order (terminal ones filtered out), {fill:.2} per batch",
            trace.records
        ),
        processor_invocations,
        "requests",
        p.lambda_request,
        Scaling::Sublinear,
    ));
    lines.push(ctx.step_requests());
    lines.extend(ctx.front_door_compute(None));
    lines.push(line(
        "Lambda compute",
        format!(
            "stream processor: {processor_ms_per_order:.0} ms per order + {} ms per batch at {} MB",
            a::RUST_PROCESSOR_BATCH_MS,
            plan.functions.memory_mb
        ),
        processor_gb_s,
        "GB-s",
        ctx.gb_s,
        Scaling::Sublinear,
    ));
    lines.push(ctx.step_compute());
    lines.extend(dynamodb_lines(
        &usage,
        n,
        ctx.retention_months,
        "PutItem without effects, else TransactWriteItems at 2 × per KB",
    ));
    lines.push(ctx.index_listing());
    lines.push(stream_reads(processor_invocations));
    lines.push(line(
        "SQS",
        "dead-letter queue: messages only for failed batches".into(),
        0.0,
        "requests",
        p.sqs_request,
        Scaling::Linear,
    ));
    // No platform lines: the functions' system log level is WARN (see LAMBDA_PLATFORM_LOG_BYTES).
    let log_bytes = n * trace.api_log_bytes as f64
        + processor_invocations * a::RUST_PROCESSOR_BATCH_LOG_BYTES
        + n * trace.engine_log_bytes as f64
        + n * f64::from(steps) * a::RUST_STEP_LOG_BYTES;
    lines.push(line(
        "CloudWatch Logs",
        format!(
            "ingestion: {} B per order of JSON logs + EMF (measured), no platform lines (system log level WARN)",
            trace.api_log_bytes + trace.engine_log_bytes
        ),
        log_bytes / 1e9,
        "GB",
        p.cloudwatch_logs_ingestion_gb,
        Scaling::Sublinear,
    ));
    design(
        "orchgen",
        format!(
            "orchgen (Rust, {}): API + stream processor + a Lambda per step, one conditional write per move",
            ctx.arch
        ),
        lines,
        n,
        per_order(ctx.api_requests, stream_records, steps, 0, &usage),
    )
}
