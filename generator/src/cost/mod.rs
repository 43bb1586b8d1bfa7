//! `orchgen cost`: the monthly AWS cost of a pipeline, from its [`Plan`], and of two alternatives
//! under the same model.
//!
//! The model has three inputs:
//! 1. **what one order does**, measured, not guessed: [`simulate`] drives a representative order
//!    through the runtime (API, engine, memory store) and records every store call; [`dynamo`] sizes
//!    the DynamoDB requests `DynamoStore` sends for those calls by DynamoDB's documented rules;
//! 2. **the prices**, dated, in one table: [`prices::PRICES`];
//! 3. **the assumptions** nothing can measure offline (durations, log volume, API traffic), named
//!    constants in [`assumptions`], each with its reason.
//!
//! It is applied to five designs of the same pipeline:
//! - **orchgen**: API Gateway (the plan's REST or HTTP API) → the API Lambda → DynamoDB; the
//!   stream processor Lambda per batch of stream records, calling each step's Lambda synchronously
//!   and committing each move as one TransactWriteItems when it has effects on other items (stock,
//!   ledger, outbox), else as one conditional PutItem;
//! - **the seed's design** (the Python/CDK app orchgen descends from, /work/shared/seed): a REST API,
//!   Python Lambdas for the API, the stream processor and every step, a plain write per status change
//!   and per effect, no indexes (listing scans the table);
//! - **AWS Step Functions Standard** orchestrating the same Rust step Lambdas behind the plan's kind
//!   of API: the API Lambda starts
//!   an execution, each step is a Lambda task followed by a DynamoDB UpdateItem task;
//! - **AWS Step Functions Express**, the same state machine as an Express workflow: billed per
//!   execution and per GB-second of its duration instead of per state transition; it gives up
//!   exactly-once execution, the service-kept history and runs longer than 5 minutes
//!   ([`Design::gives_up`]);
//! - **AWS Lambda durable functions**: one durable function running the steps in process, a
//!   checkpoint per step, the order written to DynamoDB after each step: durable operations,
//!   checkpoint data written and retained, the function's own Lambda time.
//!
//! Each design gets a line per service, a monthly total, the cost per million orders, and the ratios
//! against the targets. [`render`] prints it as text or JSON; [`budget`] checks a pipeline's
//! declared budget (its `cost:` section) against orchgen's design, and [`diff`] compares orchgen's
//! design of two versions of a pipeline line by line (`--against`).

pub mod assumptions;
pub mod budget;
pub mod diff;
pub mod dynamo;
pub mod prices;
pub mod render;
pub mod simulate;

use orchgen_runtime::plan::{ApiKind, Architecture, AuthMode, Plan, StepAction};
use serde::Serialize;

use self::assumptions as a;
use self::dynamo::{Access, Consistency, Usage};
use self::prices::{PRICES, PriceTable};
use self::simulate::Trace;

pub use simulate::SimulateError;

/// Target of the issue: orchgen costs at most this fraction of the seed's design.
pub const TARGET_VS_SEED: f64 = 0.5;
/// Target of the issue: orchgen costs at most this fraction of Step Functions Standard.
pub const TARGET_VS_STEP_FUNCTIONS: f64 = 0.05;
/// Target of the issue: orchgen costs at most as much as Step Functions Express all-in.
pub const TARGET_VS_STEP_FUNCTIONS_EXPRESS: f64 = 1.0;
/// Target of the issue: orchgen costs at most a third of Lambda durable functions.
pub const TARGET_VS_DURABLE_FUNCTIONS: f64 = 1.0 / 3.0;

/// How a line's cost grows with the number of orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scaling {
    /// Proportional to orders.
    Linear,
    /// Grows more slowly (stream batches fill up as the rate rises).
    Sublinear,
    /// Independent of orders.
    Fixed,
}

/// One priced quantity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// The service, e.g. `Lambda compute`.
    pub service: &'static str,
    /// What is counted, e.g. `steps: 5 × 3 ms at 256 MB`.
    pub item: String,
    /// How many units a month.
    pub quantity: f64,
    /// The unit, e.g. `requests`, `GB-s`, `WCU`.
    pub unit: &'static str,
    /// The price of one unit, in USD.
    pub unit_price: f64,
    /// `quantity × unit_price`, in USD per month.
    pub monthly_usd: f64,
    /// How it grows with orders.
    pub scaling: Scaling,
}

/// One design's monthly cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Design {
    /// `orchgen`, `seed`, `step_functions`, `step_functions_express` or `durable_functions`.
    pub id: &'static str,
    /// Its description.
    pub name: String,
    /// Line per service.
    pub lines: Vec<Line>,
    /// Sum of the lines, USD per month.
    pub total_monthly_usd: f64,
    /// The total for one million orders.
    pub per_million_orders_usd: f64,
    /// What one order does in this design.
    pub per_order: PerOrder,
    /// The guarantees this design gives up against orchgen's (and what its figures assume about
    /// them); empty when it gives up none the model knows of.
    pub gives_up: Vec<String>,
}

/// What one order does in a design.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerOrder {
    /// API Gateway requests.
    pub api_requests: u32,
    /// Lambda invocations of the API function.
    pub api_invocations: u32,
    /// Stream records the processor receives (one per stored version; for the seed also the TTL
    /// removal, which orchgen's mapping filters out).
    pub stream_records: u32,
    /// Step function invocations.
    pub step_invocations: u32,
    /// Step Functions state transitions.
    pub state_transitions: u32,
    /// Workflow executions (Step Functions) or durable executions started.
    pub executions: u32,
    /// Durable operations (Lambda durable functions).
    pub durable_operations: u32,
    /// Billed duration of one execution in ms (Step Functions Express: rounded up to 100 ms; durable
    /// functions: the durable function's time).
    pub execution_billed_ms: f64,
    /// Checkpoint data written (Lambda durable functions), in bytes.
    pub checkpoint_bytes: u64,
    /// DynamoDB write requests.
    pub dynamodb_write_requests: u32,
    /// DynamoDB write units, indexes included.
    pub dynamodb_write_units: f64,
    /// DynamoDB read requests.
    pub dynamodb_read_requests: u32,
    /// DynamoDB read units.
    pub dynamodb_read_units: f64,
    /// Every DynamoDB request with its units.
    pub dynamodb_requests: Vec<dynamo::Request>,
}

/// A cost ratio against its target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ratio {
    /// E.g. `orchgen / seed`.
    pub name: &'static str,
    /// The ratio of the totals.
    pub value: f64,
    /// The target (at most).
    pub target: f64,
    /// Whether the target is met.
    pub met: bool,
}

/// The estimate for one pipeline and volume.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// The pipeline.
    pub pipeline: String,
    /// Orders per month.
    pub orders_per_month: u64,
    /// `GET {path}` listing requests per month.
    pub list_requests_per_month: u64,
    /// The prices used.
    pub prices: PriceTable,
    /// The five designs: `orchgen`, `seed`, `step_functions`, `step_functions_express`,
    /// `durable_functions`.
    pub designs: Vec<Design>,
    /// `orchgen` against each of the other designs.
    pub ratios: Vec<Ratio>,
    /// Stream records per orchgen processor invocation at this volume.
    pub batch_fill: f64,
    /// The assumptions, by name.
    pub assumptions: Vec<a::Assumption>,
    /// Remarks: what the model leaves out, alternatives (HTTP API).
    pub notes: Vec<String>,
}

impl Estimate {
    /// The design with this id.
    pub fn design(&self, id: &str) -> Option<&Design> {
        self.designs.iter().find(|d| d.id == id)
    }
}

/// Why no estimate could be made.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    /// No orders.
    #[error("--orders-per-month must be at least 1")]
    NoOrders,
    /// The simulation failed.
    #[error(transparent)]
    Simulate(#[from] SimulateError),
}

/// Stream records per processor invocation (see [`a::STREAM_POLLS_PER_SECOND`]): with a batching
/// window `W`, what arrives in `W` (at least 1); without one, the mean number of records of a poll
/// that finds any, `λT / (1 − e^(−λT))` for Poisson arrivals at `λ` records/s per shard and a poll
/// every `T`; at most the batch size. Shards: one per [`a::STREAM_RECORDS_PER_SHARD_PER_SECOND`].
pub fn batch_fill(records_per_month: f64, batch_size: u32, batching_window_s: u32) -> f64 {
    let rate = records_per_month / a::SECONDS_PER_MONTH;
    let shards = (rate / a::STREAM_RECORDS_PER_SHARD_PER_SECOND).ceil().max(1.0);
    let per_shard = rate / shards;
    let fill = if batching_window_s > 0 {
        per_shard * f64::from(batching_window_s)
    } else {
        let x = per_shard / a::STREAM_POLLS_PER_SECOND;
        if x < 1e-9 { 1.0 } else { x / (1.0 - (-x).exp()) }
    };
    fill.clamp(1.0, f64::from(batch_size.max(1)))
}

/// GB-seconds of `invocations` of `ms` each at `memory_mb` (Lambda bills per 1 ms, at least 1 ms).
pub fn gb_seconds(invocations: f64, ms: f64, memory_mb: u32) -> f64 {
    invocations * ms.max(1.0).ceil() / 1000.0 * f64::from(memory_mb) / 1024.0
}

fn line(
    service: &'static str,
    item: String,
    quantity: f64,
    unit: &'static str,
    unit_price: f64,
    scaling: Scaling,
) -> Line {
    Line { service, item, quantity, unit, unit_price, monthly_usd: quantity * unit_price, scaling }
}

fn design(id: &'static str, name: String, lines: Vec<Line>, orders: f64, per_order: PerOrder) -> Design {
    let total: f64 = lines.iter().map(|l| l.monthly_usd).sum();
    Design {
        id,
        name,
        total_monthly_usd: total,
        per_million_orders_usd: total / orders * 1e6,
        lines,
        per_order,
        gives_up: Vec::new(),
    }
}

/// The memory of the function running `name` (a step's own, else the shared setting).
fn memory_of(plan: &Plan, name: &str) -> u32 {
    plan.step(name).map_or(plan.functions.memory_mb, |s| s.memory_mb)
}

/// Estimates the monthly cost of `plan` for `orders_per_month` orders.
pub fn estimate(plan: &Plan, orders_per_month: u64, list_requests_per_month: u64) -> Result<Estimate, CostError> {
    if orders_per_month == 0 {
        return Err(CostError::NoOrders);
    }
    let trace = simulate::simulate(plan)?;
    let per_step = if plan.stream.chain_steps { simulate::simulate(&unchained(plan))? } else { trace.clone() };
    Ok(estimate_from_trace(plan, &trace, &per_step, orders_per_month, list_requests_per_month))
}

/// `plan` with a move per step: the order of writes the seed's design and Step Functions make (a
/// status written after each step), whatever orchgen's plan chains.
pub fn unchained(plan: &Plan) -> Plan {
    let mut plan = plan.clone();
    plan.stream.chain_steps = false;
    plan.stream.chain_budget_ms = 0;
    plan
}

/// The estimate from an already simulated order (see [`estimate`]): `trace` as the plan runs it,
/// `per_step` as it runs with a move per step (the same trace when the plan does not chain steps),
/// which the alternatives' writes follow.
pub fn estimate_from_trace(
    plan: &Plan,
    trace: &Trace,
    per_step: &Trace,
    orders_per_month: u64,
    list_requests_per_month: u64,
) -> Estimate {
    let p = &PRICES;
    let n = orders_per_month as f64;
    let lists = list_requests_per_month as f64;
    let api_requests = 1 + trace.api_reads.len() as u32;
    // orchgen's event source mapping filters out the records of TTL removals and those whose new image
    // is terminal (build/cloudformation.rs `stream_filter_patterns`): its processor gets one record
    // per stored version that is not terminal. The seed's mapping has no filter: it also gets the
    // terminal version and the removal of every expired order.
    let stream_records = trace.processed_records();
    let seed_stream_records = per_step.records + u32::from(plan.tables.orders.ttl.is_some());
    let fill = batch_fill(n * f64::from(stream_records), plan.stream.batch_size, plan.stream.batching_window_s);
    let seed_fill =
        batch_fill(n * f64::from(seed_stream_records), plan.stream.batch_size, plan.stream.batching_window_s);
    let attempts = trace.attempts();
    let steps = attempts.len() as u32;
    let retention_months = plan.tables.orders.ttl.as_ref().map_or(a::RETENTION_WITHOUT_TTL_DAYS, |t| f64::from(t.days))
        / (a::SECONDS_PER_MONTH / 86_400.0);
    let gb_s = p.lambda_gb_second(plan.functions.architecture);
    let arch = match plan.functions.architecture {
        Architecture::Arm64 => "arm64",
        Architecture::X86_64 => "x86_64",
    };

    let orchgen_usage = dynamo::usage(
        trace,
        Access {
            transactional: true,
            indexes: true,
            processing_read: Some(Consistency::Strong),
            api_read: Consistency::Strong,
            packed: true,
        },
    );
    let seed_usage = dynamo::usage(
        per_step,
        Access {
            transactional: false,
            indexes: false,
            processing_read: Some(Consistency::Eventual),
            api_read: Consistency::Eventual,
            packed: false,
        },
    );
    // A state machine's DynamoDB tasks write the order's JSON as it is.
    let sfn_usage = dynamo::usage(
        per_step,
        Access {
            transactional: false,
            indexes: true,
            processing_read: None,
            api_read: Consistency::Strong,
            packed: false,
        },
    );
    // The durable function runs the same Rust code, which can pack the order as orchgen's store does.
    let durable_usage = dynamo::usage(
        per_step,
        Access {
            transactional: false,
            indexes: true,
            processing_read: None,
            api_read: Consistency::Strong,
            packed: true,
        },
    );
    let page = plan.api.default_limit.max(1);
    let index_list_units = dynamo::index_listing_units(trace, page);
    let retained_orders = n * retention_months;
    let scan_units = dynamo::scan_units(retained_orders, seed_usage.order_item_bytes);

    // ---------------------------------------------------------------- orchgen
    let processor_invocations = n * f64::from(stream_records) / fill;
    let step_ms: f64 = attempts.iter().map(|_| a::RUST_STEP_MS).sum();
    let engine_reads = trace.engine_reads.len() as f64;
    let transitions = trace.transitions.len() as f64;
    let processor_ms_per_order = engine_reads * a::DYNAMODB_READ_MS
        + transitions * a::DYNAMODB_TRANSACTION_MS
        + f64::from(steps) * a::LAMBDA_INVOKE_OVERHEAD_MS
        + step_ms;
    let processor_gb_s =
        processor_invocations * a::RUST_PROCESSOR_BATCH_MS / 1000.0 * f64::from(plan.functions.memory_mb) / 1024.0
            + gb_seconds(n, processor_ms_per_order, plan.functions.memory_mb);
    let step_gb_s: f64 = attempts.iter().map(|s| gb_seconds(n, a::RUST_STEP_MS, memory_of(plan, s))).sum();
    let api_invocations = n * f64::from(api_requests);
    // The plan's kind of API, for orchgen and for Step Functions (the same front door, so that the
    // comparison is of the orchestration); the seed's design keeps its REST API.
    let (api_kind, api_price) = match plan.api.kind {
        ApiKind::Rest => ("REST API", p.api_rest_request),
        ApiKind::Http => ("HTTP API", p.api_http_request),
    };
    let mut orchgen_lines = vec![
        line(
            "API Gateway",
            format!("{api_kind}: {api_requests} requests per order (POST + GET)"),
            api_invocations,
            "requests",
            api_price,
            Scaling::Linear,
        ),
        line(
            "API Gateway",
            format!("{api_kind}: {list_requests_per_month} listings"),
            lists,
            "requests",
            api_price,
            Scaling::Fixed,
        ),
        line(
            "Lambda requests",
            "API function: orders".into(),
            api_invocations,
            "requests",
            p.lambda_request,
            Scaling::Linear,
        ),
        line("Lambda requests", "API function: listings".into(), lists, "requests", p.lambda_request, Scaling::Fixed),
        line(
            "Lambda requests",
            format!(
                "stream processor: {stream_records} of {} records per order (terminal ones filtered out), {fill:.2} per batch",
                trace.records
            ),
            processor_invocations,
            "requests",
            p.lambda_request,
            Scaling::Sublinear,
        ),
        line(
            "Lambda requests",
            format!("step functions: {steps} per order"),
            n * f64::from(steps),
            "requests",
            p.lambda_request,
            Scaling::Linear,
        ),
        line(
            "Lambda compute",
            format!("API function: {} ms at {} MB ({arch})", a::RUST_API_MS, plan.functions.memory_mb),
            gb_seconds(api_invocations, a::RUST_API_MS, plan.functions.memory_mb),
            "GB-s",
            gb_s,
            Scaling::Linear,
        ),
        line(
            "Lambda compute",
            format!("API function: listings, {} ms each", a::RUST_LIST_MS),
            gb_seconds(lists, a::RUST_LIST_MS, plan.functions.memory_mb),
            "GB-s",
            gb_s,
            Scaling::Fixed,
        ),
        line(
            "Lambda compute",
            format!(
                "stream processor: {processor_ms_per_order:.0} ms per order + {} ms per batch at {} MB",
                a::RUST_PROCESSOR_BATCH_MS,
                plan.functions.memory_mb
            ),
            processor_gb_s,
            "GB-s",
            gb_s,
            Scaling::Sublinear,
        ),
        line(
            "Lambda compute",
            format!("step functions: {steps} × {} ms at their memory", a::RUST_STEP_MS),
            step_gb_s,
            "GB-s",
            gb_s,
            Scaling::Linear,
        ),
    ];
    orchgen_lines.extend(dynamodb_lines(
        &orchgen_usage,
        n,
        retention_months,
        "PutItem without effects, else TransactWriteItems at 2 × per KB",
    ));
    orchgen_lines.push(line(
        "DynamoDB reads",
        format!("listing: Query of a keys-only index + BatchGetItem of {page}"),
        lists * index_list_units,
        "RCU",
        p.dynamodb_read_unit,
        Scaling::Fixed,
    ));
    orchgen_lines.push(line(
        "DynamoDB Streams",
        "GetRecords by the Lambda trigger (free)".into(),
        processor_invocations,
        "requests",
        p.dynamodb_stream_read_by_lambda,
        Scaling::Sublinear,
    ));
    orchgen_lines.push(line(
        "SQS",
        "dead-letter queue: messages only for failed batches".into(),
        0.0,
        "requests",
        p.sqs_request,
        Scaling::Linear,
    ));
    // No platform lines: the functions' system log level is WARN (see LAMBDA_PLATFORM_LOG_BYTES).
    let orchgen_log_bytes = n * trace.api_log_bytes as f64
        + processor_invocations * a::RUST_PROCESSOR_BATCH_LOG_BYTES
        + n * trace.engine_log_bytes as f64
        + n * f64::from(steps) * a::RUST_STEP_LOG_BYTES;
    orchgen_lines.push(line(
        "CloudWatch Logs",
        format!(
            "ingestion: {} B per order of JSON logs + EMF (measured), no platform lines (system log level WARN)",
            trace.api_log_bytes + trace.engine_log_bytes
        ),
        orchgen_log_bytes / 1e9,
        "GB",
        p.cloudwatch_logs_ingestion_gb,
        Scaling::Sublinear,
    ));
    let orchgen = design(
        "orchgen",
        format!("orchgen (Rust, {arch}): API + stream processor + a Lambda per step, one conditional write per move"),
        orchgen_lines,
        n,
        per_order(api_requests, stream_records, steps, 0, &orchgen_usage),
    );

    // ---------------------------------------------------------------- seed
    let seed_processor_invocations = n * f64::from(seed_stream_records) / seed_fill;
    let seed_mb = a::SEED_MEMORY_MB;
    let mut seed_lines = vec![
        line(
            "API Gateway",
            format!("REST API: {api_requests} requests per order"),
            api_invocations,
            "requests",
            p.api_rest_request,
            Scaling::Linear,
        ),
        line(
            "API Gateway",
            format!("REST API: {list_requests_per_month} listings"),
            lists,
            "requests",
            p.api_rest_request,
            Scaling::Fixed,
        ),
        line(
            "Lambda requests",
            "API function: orders".into(),
            api_invocations,
            "requests",
            p.lambda_request,
            Scaling::Linear,
        ),
        line("Lambda requests", "API function: listings".into(), lists, "requests", p.lambda_request, Scaling::Fixed),
        line(
            "Lambda requests",
            format!("stream processor: {seed_stream_records} records per order, {seed_fill:.2} per batch"),
            seed_processor_invocations,
            "requests",
            p.lambda_request,
            Scaling::Sublinear,
        ),
        line(
            "Lambda requests",
            format!("step functions: {steps} per order"),
            n * f64::from(steps),
            "requests",
            p.lambda_request,
            Scaling::Linear,
        ),
        line(
            "Lambda compute",
            format!("API function (Python): {} ms at {seed_mb} MB (x86_64)", a::PYTHON_API_MS),
            gb_seconds(api_invocations, a::PYTHON_API_MS, seed_mb),
            "GB-s",
            p.lambda_gb_second_x86,
            Scaling::Linear,
        ),
        line(
            "Lambda compute",
            format!("API function (Python): listings, {} ms each (the Scan's time excluded)", a::PYTHON_API_MS),
            gb_seconds(lists, a::PYTHON_API_MS, seed_mb),
            "GB-s",
            p.lambda_gb_second_x86,
            Scaling::Fixed,
        ),
        line(
            "Lambda compute",
            format!(
                "stream processor (Python): {} ms per record + {} ms per batch at {seed_mb} MB",
                a::PYTHON_PROCESSOR_RECORD_MS,
                a::PYTHON_PROCESSOR_BATCH_MS
            ),
            seed_processor_invocations * a::PYTHON_PROCESSOR_BATCH_MS / 1000.0 * f64::from(seed_mb) / 1024.0
                + gb_seconds(n, per_step.engine_reads.len() as f64 * a::PYTHON_PROCESSOR_RECORD_MS, seed_mb),
            "GB-s",
            p.lambda_gb_second_x86,
            Scaling::Sublinear,
        ),
        line(
            "Lambda compute",
            format!("step functions (Python): {steps} × {} ms at {seed_mb} MB", a::PYTHON_STEP_MS),
            gb_seconds(n * f64::from(steps), a::PYTHON_STEP_MS, seed_mb),
            "GB-s",
            p.lambda_gb_second_x86,
            Scaling::Linear,
        ),
    ];
    seed_lines.extend(dynamodb_lines(&seed_usage, n, retention_months, "a write per status change and per effect"));
    seed_lines.push(line(
        "DynamoDB reads",
        format!(
            "listing: Scan of {} retained orders of {} B each",
            render::quantity(retained_orders),
            seed_usage.order_item_bytes
        ),
        lists * scan_units,
        "RCU",
        p.dynamodb_read_unit,
        Scaling::Linear,
    ));
    seed_lines.push(line(
        "DynamoDB Streams",
        "GetRecords by the Lambda trigger (free)".into(),
        seed_processor_invocations,
        "requests",
        p.dynamodb_stream_read_by_lambda,
        Scaling::Sublinear,
    ));
    seed_lines.push(line("SQS", "none".into(), 0.0, "requests", p.sqs_request, Scaling::Linear));
    let seed_log_bytes = (api_invocations + seed_processor_invocations + n * f64::from(steps))
        * (a::LAMBDA_PLATFORM_LOG_BYTES + a::PYTHON_LOG_BYTES);
    seed_lines.push(line(
        "CloudWatch Logs",
        "ingestion: function logs + Lambda platform lines".into(),
        seed_log_bytes / 1e9,
        "GB",
        p.cloudwatch_logs_ingestion_gb,
        Scaling::Sublinear,
    ));
    let seed = design(
        "seed",
        format!("the seed's design (Python {seed_mb} MB Lambdas, REST API, Scan-based listing)"),
        seed_lines,
        n,
        per_order(api_requests, seed_stream_records, steps, 0, &seed_usage),
    );

    // ---------------------------------------------------------------- Step Functions Standard
    let sfn_transitions = state_transitions(plan, per_step);
    let mut sfn_lines = vec![
        line(
            "API Gateway",
            format!("{api_kind}: {api_requests} requests per order"),
            api_invocations,
            "requests",
            api_price,
            Scaling::Linear,
        ),
        line(
            "API Gateway",
            format!("{api_kind}: {list_requests_per_month} listings"),
            lists,
            "requests",
            api_price,
            Scaling::Fixed,
        ),
        line(
            "Lambda requests",
            "API function: orders".into(),
            api_invocations,
            "requests",
            p.lambda_request,
            Scaling::Linear,
        ),
        line("Lambda requests", "API function: listings".into(), lists, "requests", p.lambda_request, Scaling::Fixed),
        line(
            "Lambda requests",
            format!("step functions: {steps} per order"),
            n * f64::from(steps),
            "requests",
            p.lambda_request,
            Scaling::Linear,
        ),
        line(
            "Lambda compute",
            format!(
                "API function: {} ms (with StartExecution) at {} MB ({arch})",
                a::RUST_API_MS + a::START_EXECUTION_MS,
                plan.functions.memory_mb
            ),
            gb_seconds(n, a::RUST_API_MS + a::START_EXECUTION_MS, plan.functions.memory_mb)
                + gb_seconds(api_invocations - n, a::RUST_API_MS, plan.functions.memory_mb),
            "GB-s",
            gb_s,
            Scaling::Linear,
        ),
        line(
            "Lambda compute",
            format!("API function: listings, {} ms each", a::RUST_LIST_MS),
            gb_seconds(lists, a::RUST_LIST_MS, plan.functions.memory_mb),
            "GB-s",
            gb_s,
            Scaling::Fixed,
        ),
        line(
            "Lambda compute",
            format!("step functions: {steps} × {} ms at their memory", a::RUST_STEP_MS),
            step_gb_s,
            "GB-s",
            gb_s,
            Scaling::Linear,
        ),
        line(
            "Step Functions",
            format!("Standard: {sfn_transitions} state transitions per order"),
            n * f64::from(sfn_transitions),
            "transitions",
            p.sfn_standard_transition,
            Scaling::Linear,
        ),
    ];
    sfn_lines.extend(dynamodb_lines(&sfn_usage, n, retention_months, "UpdateItem tasks, no transactions"));
    sfn_lines.push(line(
        "DynamoDB reads",
        format!("listing: Query of a keys-only index + BatchGetItem of {page}"),
        lists * index_list_units,
        "RCU",
        p.dynamodb_read_unit,
        Scaling::Fixed,
    ));
    sfn_lines.push(line("SQS", "none".into(), 0.0, "requests", p.sqs_request, Scaling::Linear));
    let sfn_log_bytes = n * trace.api_log_bytes as f64 + n * f64::from(steps) * a::RUST_STEP_LOG_BYTES;
    sfn_lines.push(line(
        "CloudWatch Logs",
        "ingestion: the same functions' logs (execution history is free, no log group)".into(),
        sfn_log_bytes / 1e9,
        "GB",
        p.cloudwatch_logs_ingestion_gb,
        Scaling::Linear,
    ));
    let mut sfn = design(
        "step_functions",
        "AWS Step Functions Standard orchestrating the same Rust step Lambdas".into(),
        sfn_lines,
        n,
        per_order(api_requests, 0, steps, sfn_transitions, &sfn_usage),
    );
    sfn.per_order.executions = 1;

    // The front door of the designs that start an execution from the API function: the plan's API,
    // the API function (its order requests, `start_ms` longer for the one that starts the execution)
    // and its listings.
    let front_door = |start: &str, start_ms: f64| {
        vec![
            line(
                "API Gateway",
                format!("{api_kind}: {api_requests} requests per order"),
                api_invocations,
                "requests",
                api_price,
                Scaling::Linear,
            ),
            line(
                "API Gateway",
                format!("{api_kind}: {list_requests_per_month} listings"),
                lists,
                "requests",
                api_price,
                Scaling::Fixed,
            ),
            line(
                "Lambda requests",
                "API function: orders".into(),
                api_invocations,
                "requests",
                p.lambda_request,
                Scaling::Linear,
            ),
            line(
                "Lambda requests",
                "API function: listings".into(),
                lists,
                "requests",
                p.lambda_request,
                Scaling::Fixed,
            ),
            line(
                "Lambda compute",
                format!(
                    "API function: {} ms (with {start}) at {} MB ({arch})",
                    a::RUST_API_MS + start_ms,
                    plan.functions.memory_mb
                ),
                gb_seconds(n, a::RUST_API_MS + start_ms, plan.functions.memory_mb)
                    + gb_seconds(api_invocations - n, a::RUST_API_MS, plan.functions.memory_mb),
                "GB-s",
                gb_s,
                Scaling::Linear,
            ),
            line(
                "Lambda compute",
                format!("API function: listings, {} ms each", a::RUST_LIST_MS),
                gb_seconds(lists, a::RUST_LIST_MS, plan.functions.memory_mb),
                "GB-s",
                gb_s,
                Scaling::Fixed,
            ),
        ]
    };
    let listing_line = || {
        line(
            "DynamoDB reads",
            format!("listing: Query of a keys-only index + BatchGetItem of {page}"),
            lists * index_list_units,
            "RCU",
            p.dynamodb_read_unit,
            Scaling::Fixed,
        )
    };
    // A status written after each step and the move to COMPLETED, as the Standard design writes them.
    let status_writes = per_step.transitions.len() as u32;

    // ---------------------------------------------------------------- Step Functions Express
    let express_ms = f64::from(steps) * (a::LAMBDA_INVOKE_OVERHEAD_MS + a::RUST_STEP_MS)
        + f64::from(status_writes) * a::DYNAMODB_WRITE_MS;
    let express_billed_ms = (express_ms / p.sfn_express_billing_ms).ceil().max(1.0) * p.sfn_express_billing_ms;
    let express_memory_mb =
        (a::EXPRESS_MEMORY_MB / p.sfn_express_memory_step_mb).ceil().max(1.0) * p.sfn_express_memory_step_mb;
    let mut express_lines = front_door("StartExecution", a::START_EXECUTION_MS);
    express_lines.extend([
        line(
            "Lambda requests",
            format!("step functions: {steps} per order"),
            n * f64::from(steps),
            "requests",
            p.lambda_request,
            Scaling::Linear,
        ),
        line(
            "Lambda compute",
            format!("step functions: {steps} × {} ms at their memory", a::RUST_STEP_MS),
            step_gb_s,
            "GB-s",
            gb_s,
            Scaling::Linear,
        ),
        line(
            "Step Functions",
            "Express: 1 execution per order".into(),
            n,
            "requests",
            p.sfn_express_request,
            Scaling::Linear,
        ),
        line(
            "Step Functions",
            format!(
                "Express duration: {steps} Lambda tasks × ({} + {} ms) + {status_writes} UpdateItem tasks × {} ms = {express_ms:.0} ms, billed {express_billed_ms:.0} ms at {express_memory_mb:.0} MB",
                a::LAMBDA_INVOKE_OVERHEAD_MS,
                a::RUST_STEP_MS,
                a::DYNAMODB_WRITE_MS
            ),
            n * express_billed_ms / 1000.0 * express_memory_mb / 1024.0,
            "GB-s",
            p.sfn_express_gb_second,
            Scaling::Linear,
        ),
    ]);
    express_lines.extend(dynamodb_lines(&sfn_usage, n, retention_months, "UpdateItem tasks, no transactions"));
    express_lines.push(listing_line());
    express_lines.push(line("SQS", "none".into(), 0.0, "requests", p.sqs_request, Scaling::Linear));
    express_lines.push(line(
        "CloudWatch Logs",
        "ingestion: the same functions' logs; execution logging at level ERROR (none for executions that succeed)"
            .into(),
        sfn_log_bytes / 1e9,
        "GB",
        p.cloudwatch_logs_ingestion_gb,
        Scaling::Linear,
    ));
    let mut express = design(
        "step_functions_express",
        "AWS Step Functions Express orchestrating the same Rust step Lambdas".into(),
        express_lines,
        n,
        per_order(api_requests, 0, steps, sfn_transitions, &sfn_usage),
    );
    express.per_order.executions = 1;
    express.per_order.execution_billed_ms = express_billed_ms;
    let express_history_bytes = f64::from(sfn_transitions) * a::EXPRESS_LOG_BYTES_PER_STATE;
    express.gives_up = vec![
        "exactly-once execution: an asynchronous Express execution runs at least once, so a step and its UpdateItem task may run twice (each would need its own idempotency condition; Standard runs exactly once)".into(),
        format!(
            "the execution history: the service keeps none beyond what it sends to CloudWatch Logs; this estimate assumes logging level ERROR (nothing for executions that succeed); level ALL without execution data adds about {} B per order ({} per million orders)",
            express_history_bytes,
            render::usd(express_history_bytes / 1e9 * p.cloudwatch_logs_ingestion_gb * 1e6),
        ),
        "executions longer than 5 minutes: an order's steps, retries and backoff included, must end within 5 minutes".into(),
    ];

    // ---------------------------------------------------------------- Lambda durable functions
    let durable_operations = a::DURABLE_OPERATIONS_PER_EXECUTION + steps;
    let json_bytes = |o: &orchgen_runtime::order::Order| serde_json::to_vec(o).map_or(0, |v| v.len() as u64);
    // What is checkpointed: the execution's input (the order as created), each step's result (the
    // order as the step leaves it) and the execution's result (the completed order).
    let checkpoint_bytes =
        json_bytes(&per_step.created) + per_step.transitions.iter().map(|t| json_bytes(&t.order)).sum::<u64>();
    let (durable_retention_days, retention_source) = match &plan.tables.orders.ttl {
        Some(ttl) if f64::from(ttl.days) > a::DURABLE_RETENTION_MAX_DAYS => {
            (a::DURABLE_RETENTION_MAX_DAYS, "the orders TTL capped to Lambda's maximum")
        }
        Some(ttl) => (f64::from(ttl.days), "the orders TTL"),
        None => (a::DURABLE_RETENTION_DEFAULT_DAYS, "Lambda's default; the orders table has no TTL"),
    };
    let durable_retention_months = durable_retention_days / (a::SECONDS_PER_MONTH / 86_400.0);
    let durable_ms = f64::from(steps) * (a::RUST_STEP_MS + a::DURABLE_CHECKPOINT_MS)
        + f64::from(status_writes) * a::DYNAMODB_WRITE_MS;
    let mut durable_lines = front_door("the asynchronous Invoke", a::START_EXECUTION_MS);
    durable_lines.extend([
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
                "durable function: {steps} steps × ({} + {} ms checkpoint) + {status_writes} order writes × {} ms = {durable_ms:.0} ms at {} MB",
                a::RUST_STEP_MS,
                a::DURABLE_CHECKPOINT_MS,
                a::DYNAMODB_WRITE_MS,
                plan.functions.memory_mb
            ),
            gb_seconds(n, durable_ms, plan.functions.memory_mb),
            "GB-s",
            gb_s,
            Scaling::Linear,
        ),
        line(
            "Lambda durable",
            format!(
                "durable operations: {durable_operations} per order (the execution + a step per attempt)"
            ),
            n * f64::from(durable_operations),
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
            format!("checkpoint data retained {durable_retention_days:.0} days ({retention_source})"),
            n * checkpoint_bytes as f64 / 1e9 * durable_retention_months,
            "GB-month",
            p.durable_data_retained_gb_month,
            Scaling::Linear,
        ),
    ]);
    durable_lines.extend(dynamodb_lines(
        &durable_usage,
        n,
        retention_months,
        "the steps write the order: a write per status change, no transactions",
    ));
    durable_lines.push(listing_line());
    durable_lines.push(line("SQS", "none".into(), 0.0, "requests", p.sqs_request, Scaling::Linear));
    durable_lines.push(line(
        "CloudWatch Logs",
        "ingestion: the same functions' logs (the checkpoint log is priced above)".into(),
        sfn_log_bytes / 1e9,
        "GB",
        p.cloudwatch_logs_ingestion_gb,
        Scaling::Linear,
    ));
    let mut durable = design(
        "durable_functions",
        "AWS Lambda durable functions: one durable function running the same Rust steps, a checkpoint per step".into(),
        durable_lines,
        n,
        per_order(api_requests, 0, 0, 0, &durable_usage),
    );
    durable.per_order.executions = 1;
    durable.per_order.durable_operations = durable_operations;
    durable.per_order.execution_billed_ms = durable_ms.max(1.0).ceil();
    durable.per_order.checkpoint_bytes = checkpoint_bytes;
    durable.gives_up = vec![
        "one transaction per move: a step's effects (stock, charge, outbox) and the order's new status are separate writes; a step replayed from its last checkpoint relies on its own idempotency".into(),
        "a function per step: the steps share the durable function's memory, timeout and role".into(),
        format!(
            "history beyond {} days: a closed execution's checkpoints are kept at most that long (this estimate: {durable_retention_days:.0} days)",
            a::DURABLE_RETENTION_MAX_DAYS
        ),
    ];

    let ratio = |name, a: &Design, b: &Design, target: f64| {
        let value = if b.total_monthly_usd > 0.0 { a.total_monthly_usd / b.total_monthly_usd } else { f64::INFINITY };
        Ratio { name, value, target, met: value <= target }
    };
    let ratios = vec![
        ratio("orchgen / seed", &orchgen, &seed, TARGET_VS_SEED),
        ratio("orchgen / step_functions", &orchgen, &sfn, TARGET_VS_STEP_FUNCTIONS),
        ratio("orchgen / step_functions_express", &orchgen, &express, TARGET_VS_STEP_FUNCTIONS_EXPRESS),
        ratio("orchgen / durable_functions", &orchgen, &durable, TARGET_VS_DURABLE_FUNCTIONS),
    ];
    let http_saving = api_invocations * (p.api_rest_request - p.api_http_request);
    let api_note = match plan.api.kind {
        ApiKind::Rest => format!(
            "The plan declares a REST API. An HTTP API (`api.kind: http`) would cost ${:.2} a month instead of ${:.2} for the order requests (${:.2} less; orchgen per million orders: ${:.2}).",
            api_invocations * p.api_http_request,
            api_invocations * p.api_rest_request,
            http_saving,
            (orchgen.total_monthly_usd - http_saving) / n * 1e6,
        ),
        ApiKind::Http => format!(
            "The plan declares an HTTP API ({}); the Step Functions design is given the same API, the seed's design keeps its REST API. A REST API would cost ${:.2} more a month.",
            if plan.api.auth == AuthMode::None { "public" } else { "IAM auth" },
            http_saving,
        ),
    };
    let notes = vec![
        api_note,
        format!(
            "DynamoDB units per order are sized from the runtime's own calls for one representative order ({} versions, {} committed transitions, {} engine reads) by DynamoDB's documented rules; DynamoDB Local reports more for transactions, because its accounting does not follow those rules (BENCHMARKS.md; tests/tests/dynamodb_engine.rs prints its figures for a reference order).",
            trace.records,
            trace.transitions.len(),
            trace.engine_reads.len(),
        ),
        "Not included: fixed monthly costs of the same order for every design (dashboard $3, alarms $0.10 each, custom metrics $0.30 each), data transfer, the free tier, retries and failed orders.".into(),
    ];
    Estimate {
        pipeline: plan.name.clone(),
        orders_per_month,
        list_requests_per_month,
        prices: *p,
        designs: vec![orchgen, seed, sfn, express, durable],
        ratios,
        batch_fill: fill,
        assumptions: a::all(),
        notes,
    }
}

/// The DynamoDB lines of one design.
fn dynamodb_lines(usage: &Usage, orders: f64, retention_months: f64, how: &str) -> Vec<Line> {
    let p = &PRICES;
    vec![
        line(
            "DynamoDB writes",
            format!("{} requests per order ({how}), {} WCU", usage.write_requests, usage.write_units),
            orders * usage.write_units,
            "WCU",
            p.dynamodb_write_unit,
            Scaling::Linear,
        ),
        line(
            "DynamoDB reads",
            format!("{} requests per order, {} RCU", usage.read_requests, usage.read_units),
            orders * usage.read_units,
            "RCU",
            p.dynamodb_read_unit,
            Scaling::Linear,
        ),
        line(
            "DynamoDB storage",
            format!("{} B per order kept {:.1} months (TTL)", usage.stored_bytes, retention_months),
            orders * retention_months * usage.stored_bytes as f64 / 1e9,
            "GB-month",
            p.dynamodb_storage_gb_month,
            Scaling::Linear,
        ),
    ]
}

fn per_order(api: u32, records: u32, steps: u32, transitions: u32, usage: &Usage) -> PerOrder {
    PerOrder {
        api_requests: api,
        api_invocations: api,
        stream_records: records,
        step_invocations: steps,
        state_transitions: transitions,
        executions: 0,
        durable_operations: 0,
        execution_billed_ms: 0.0,
        checkpoint_bytes: 0,
        dynamodb_write_requests: usage.write_requests,
        dynamodb_write_units: usage.write_units,
        dynamodb_read_requests: usage.read_requests,
        dynamodb_read_units: usage.read_units,
        dynamodb_requests: usage.requests.clone(),
    }
}

/// Step Functions Standard state transitions of the traced order: the execution's start, per step a
/// Lambda task and a DynamoDB UpdateItem task recording the status (catches lead to compensation
/// states only on failure), a Choice after each `validate` step (valid or rejected), the final
/// UpdateItem to COMPLETED and the Succeed state.
pub fn state_transitions(plan: &Plan, trace: &Trace) -> u32 {
    let choices = trace
        .attempts()
        .iter()
        .filter(|s| plan.step(s).is_some_and(|st| matches!(st.action, StepAction::Validate(_))))
        .count() as u32;
    1 + 2 * trace.attempts().len() as u32 + choices + 1 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_plan() -> Plan {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../pipelines/orders.yaml");
        crate::check_file(std::path::Path::new(path)).expect("readable").plan.expect("the reference plan is valid")
    }

    #[test]
    fn batches_fill_with_the_rate_up_to_the_batch_size() {
        // A trickle: every poll that finds a record finds one.
        assert!((batch_fill(1.0, 100, 0) - 1.0).abs() < 1e-6);
        // λT = 1 record per poll: 1 / (1 − e^−1) ≈ 1.582.
        let one_per_poll = a::STREAM_POLLS_PER_SECOND * a::SECONDS_PER_MONTH;
        assert!((batch_fill(one_per_poll, 100, 0) - 1.0 / (1.0 - (-1.0f64).exp())).abs() < 1e-9);
        // A batching window collects what arrives in it.
        assert!((batch_fill(10.0 * a::SECONDS_PER_MONTH, 100, 2) - 20.0).abs() < 1e-9);
        // Never more than the batch size; more shards spread the records.
        assert_eq!(batch_fill(500.0 * a::SECONDS_PER_MONTH, 10, 1), 10.0);
        assert!(batch_fill(5000.0 * a::SECONDS_PER_MONTH, 10_000, 1) <= 1000.0);
    }

    #[test]
    fn gb_seconds_bill_whole_milliseconds() {
        assert!((gb_seconds(1000.0, 3.0, 1024) - 3.0).abs() < 1e-12);
        assert!((gb_seconds(1000.0, 2.2, 512) - 1.5).abs() < 1e-12);
        assert!((gb_seconds(1.0, 0.1, 1024) - 0.001).abs() < 1e-12);
    }

    #[test]
    fn the_totals_are_the_sums_of_the_lines_and_scale_with_orders() {
        let plan = reference_plan();
        let trace = simulate::simulate(&plan).expect("the reference order completes");
        let small = estimate_from_trace(&plan, &trace, &trace, 1_000_000, 720);
        let large = estimate_from_trace(&plan, &trace, &trace, 2_000_000, 720);
        for (s, l) in small.designs.iter().zip(&large.designs) {
            let sum: f64 = s.lines.iter().map(|l| l.monthly_usd).sum();
            assert!((s.total_monthly_usd - sum).abs() < 1e-9, "{}", s.id);
            assert!((s.per_million_orders_usd - s.total_monthly_usd).abs() < 1e-9);
            for (a, b) in s.lines.iter().zip(&l.lines) {
                assert!((a.monthly_usd - a.quantity * a.unit_price).abs() < 1e-9);
                match a.scaling {
                    Scaling::Linear => assert!((b.monthly_usd - 2.0 * a.monthly_usd).abs() < 1e-9, "{}", a.item),
                    Scaling::Fixed => assert!((b.monthly_usd - a.monthly_usd).abs() < 1e-12, "{}", a.item),
                    Scaling::Sublinear => assert!(b.monthly_usd <= 2.0 * a.monthly_usd + 1e-9, "{}", a.item),
                }
            }
        }
        let ratio = &small.ratios[0];
        assert_eq!(ratio.met, ratio.value <= TARGET_VS_SEED);
    }

    #[test]
    fn moves_without_effects_are_priced_as_plain_puts_and_the_others_as_transactions() {
        use orchgen_runtime::store::dynamodb::capacity::{item_size, write_units};
        use orchgen_runtime::store::dynamodb::effects;
        use orchgen_runtime::store::dynamodb::item::{OrderAttributes, encode_order};

        // A move per step, so that both kinds of writes occur.
        let plan = unchained(&reference_plan());
        let trace = simulate::simulate(&plan).expect("the reference order completes");
        let access = Access {
            transactional: true,
            indexes: true,
            processing_read: None,
            api_read: Consistency::Strong,
            packed: true,
        };
        let usage = dynamo::usage(&trace, access);
        let writes: Vec<&dynamo::Request> = usage.requests.iter().filter(|r| r.write_units > 0.0).skip(1).collect();
        assert_eq!(writes.len(), trace.transitions.len());
        let names = OrderAttributes::of(&plan.tables.orders);
        let size = |o: &orchgen_runtime::order::Order| item_size(&encode_order(o, &names).expect("encodes"));
        let mut previous = &trace.created;
        let mut plain = 0;
        for (transition, request) in trace.transitions.iter().zip(writes) {
            let merged = effects::merge(&transition.effects).expect("mergeable");
            if merged.is_empty() {
                plain += 1;
                assert!(request.what.starts_with("PutItem: "), "{}", request.what);
                let units = write_units(size(previous).max(size(&transition.order)));
                assert_eq!(request.write_units, units as f64, "{}", request.what);
            } else {
                assert!(request.what.starts_with("TransactWriteItems: "), "{}", request.what);
            }
            previous = &transition.order;
        }
        // On the reference plan: after validate, and the move to COMPLETED.
        assert_eq!(plain, 2);
    }

    #[test]
    fn step_functions_count_start_tasks_choice_completion_and_end() {
        let plan = reference_plan();
        let trace = simulate::simulate(&plan).expect("the reference order completes");
        // start + 5 × (Lambda task + UpdateItem task) + 1 Choice (validate) + UpdateItem COMPLETED + Succeed.
        assert_eq!(state_transitions(&plan, &trace), 1 + 10 + 1 + 1 + 1);
    }

    #[test]
    fn express_bills_whole_100_ms_at_64_mb_and_durable_functions_an_operation_per_step() {
        let plan = reference_plan();
        let trace = simulate::simulate(&plan).expect("the reference order completes");
        let per_step = simulate::simulate(&unchained(&plan)).expect("the reference order completes");
        let e = estimate_from_trace(&plan, &trace, &per_step, 1_000_000, 0);
        assert_eq!(
            e.designs.iter().map(|d| d.id).collect::<Vec<_>>(),
            ["orchgen", "seed", "step_functions", "step_functions_express", "durable_functions"]
        );
        let express = e.design("step_functions_express").expect("Express");
        let billed = express.per_order.execution_billed_ms;
        assert!(billed >= 100.0 && billed % 100.0 == 0.0, "{billed}");
        let duration = express.lines.iter().find(|l| l.item.starts_with("Express duration")).expect("a duration line");
        assert!((duration.quantity - 1e6 * billed / 1000.0 * 64.0 / 1024.0).abs() < 1e-6);
        let requests = express.lines.iter().find(|l| l.item.starts_with("Express: ")).expect("a request line");
        assert_eq!(requests.quantity, 1e6);
        assert!((requests.monthly_usd - 1.0).abs() < 1e-9, "$1.00 per million executions");
        assert_eq!(express.gives_up.len(), 3);
        assert!(express.gives_up.iter().any(|g| g.contains("at least once")));
        assert!(express.gives_up.iter().any(|g| g.contains("5 minutes")));

        let durable = e.design("durable_functions").expect("durable functions");
        let attempts = trace.attempts().len() as u32;
        assert_eq!(durable.per_order.durable_operations, attempts + a::DURABLE_OPERATIONS_PER_EXECUTION);
        let json = |o: &orchgen_runtime::order::Order| serde_json::to_vec(o).expect("serialises").len() as u64;
        let written = json(&per_step.created) + per_step.transitions.iter().map(|t| json(&t.order)).sum::<u64>();
        assert_eq!(durable.per_order.checkpoint_bytes, written);
        let operations = durable.lines.iter().find(|l| l.item.starts_with("durable operations")).expect("operations");
        assert!((operations.monthly_usd - 8.0 * f64::from(attempts + 1)).abs() < 1e-9);
        let names: Vec<&str> = e.ratios.iter().map(|r| r.name).collect();
        assert_eq!(
            names,
            [
                "orchgen / seed",
                "orchgen / step_functions",
                "orchgen / step_functions_express",
                "orchgen / durable_functions"
            ]
        );
        for r in &e.ratios {
            assert_eq!(r.met, r.value <= r.target, "{}", r.name);
        }
    }

    #[test]
    fn no_orders_is_refused() {
        assert!(matches!(estimate(&reference_plan(), 0, 0), Err(CostError::NoOrders)));
    }
}
