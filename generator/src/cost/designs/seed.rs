//! The seed's design (the Python/CDK app orchgen descends from, /work/shared/seed): a REST API,
//! Python Lambdas for the API, the stream processor and every step, a plain write per status change
//! and per effect, no indexes (listing scans the table).

use super::{Context, no_queue, stream_reads};
use crate::cost::assumptions as a;
use crate::cost::dynamo::{self, Access, Consistency};
use crate::cost::prices::PRICES;
use crate::cost::{Design, Scaling, batch_fill, design, dynamodb_lines, gb_seconds, line, per_order, render};

/// The seed's design of the order as it runs with a move per step.
pub(in crate::cost) fn build(ctx: &Context) -> Design {
    let p = &PRICES;
    let (plan, per_step, n, lists, steps) = (ctx.plan, ctx.per_step, ctx.n, ctx.lists, ctx.steps);
    let usage = dynamo::usage(
        per_step,
        Access {
            transactional: false,
            indexes: false,
            processing_read: Some(Consistency::Eventual),
            api_read: Consistency::Eventual,
            packed: false,
        },
    );
    // The seed's mapping has no filter: unlike orchgen's, its processor also gets the terminal
    // version and the removal of every expired order.
    let stream_records = per_step.records + u32::from(plan.tables.orders.ttl.is_some());
    let fill = batch_fill(n * f64::from(stream_records), plan.stream.batch_size, plan.stream.batching_window_s);
    let processor_invocations = n * f64::from(stream_records) / fill;
    let retained_orders = n * ctx.retention_months;
    let scan_units = dynamo::scan_units(retained_orders, usage.order_item_bytes);
    let mb = a::SEED_MEMORY_MB;

    let mut lines = ctx.front_door_requests("REST API", p.api_rest_request, "");
    lines.push(line(
        "Lambda requests",
        format!("stream processor: {stream_records} records per order, {fill:.2} per batch"),
        processor_invocations,
        "requests",
        p.lambda_request,
        Scaling::Sublinear,
    ));
    lines.push(ctx.step_requests());
    lines.extend([
        line(
            "Lambda compute",
            format!("API function (Python): {} ms at {mb} MB (x86_64)", a::PYTHON_API_MS),
            gb_seconds(ctx.api_invocations, a::PYTHON_API_MS, mb),
            "GB-s",
            p.lambda_gb_second_x86,
            Scaling::Linear,
        ),
        line(
            "Lambda compute",
            format!("API function (Python): listings, {} ms each (the Scan's time excluded)", a::PYTHON_API_MS),
            gb_seconds(lists, a::PYTHON_API_MS, mb),
            "GB-s",
            p.lambda_gb_second_x86,
            Scaling::Fixed,
        ),
        line(
            "Lambda compute",
            format!(
                "stream processor (Python): {} ms per record + {} ms per batch at {mb} MB",
                a::PYTHON_PROCESSOR_RECORD_MS,
                a::PYTHON_PROCESSOR_BATCH_MS
            ),
            processor_invocations * a::PYTHON_PROCESSOR_BATCH_MS / 1000.0 * f64::from(mb) / 1024.0
                + gb_seconds(n, per_step.engine_reads.len() as f64 * a::PYTHON_PROCESSOR_RECORD_MS, mb),
            "GB-s",
            p.lambda_gb_second_x86,
            Scaling::Sublinear,
        ),
        line(
            "Lambda compute",
            format!("step functions (Python): {steps} × {} ms at {mb} MB", a::PYTHON_STEP_MS),
            gb_seconds(n * f64::from(steps), a::PYTHON_STEP_MS, mb),
            "GB-s",
            p.lambda_gb_second_x86,
            Scaling::Linear,
        ),
    ]);
    lines.extend(dynamodb_lines(&usage, n, ctx.retention_months, "a write per status change and per effect"));
    lines.push(line(
        "DynamoDB reads",
        format!(
            "listing: Scan of {} retained orders of {} B each",
            render::quantity(retained_orders),
            usage.order_item_bytes
        ),
        lists * scan_units,
        "RCU",
        p.dynamodb_read_unit,
        Scaling::Linear,
    ));
    lines.push(stream_reads(processor_invocations));
    lines.push(no_queue());
    let log_bytes = (ctx.api_invocations + processor_invocations + n * f64::from(steps))
        * (a::LAMBDA_PLATFORM_LOG_BYTES + a::PYTHON_LOG_BYTES);
    lines.push(line(
        "CloudWatch Logs",
        "ingestion: function logs + Lambda platform lines".into(),
        log_bytes / 1e9,
        "GB",
        p.cloudwatch_logs_ingestion_gb,
        Scaling::Sublinear,
    ));
    design(
        "seed",
        format!("the seed's design (Python {mb} MB Lambdas, REST API, Scan-based listing)"),
        lines,
        n,
        per_order(ctx.api_requests, stream_records, steps, 0, &usage),
    )
}
