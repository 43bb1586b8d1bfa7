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
//! It is applied to five designs of the same pipeline, a module each in `designs/`, built from the
//! quantities they share (`designs::Context`, computed once per estimate):
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
mod designs;
pub mod diff;
pub mod dynamo;
pub mod prices;
pub mod render;
pub mod simulate;

use orchgen_runtime::plan::{ApiKind, AuthMode, Plan, StepAction};
use serde::Serialize;

use self::assumptions as a;
use self::designs::Context;
use self::dynamo::Usage;
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
    let ctx = Context::new(plan, trace, per_step, orders_per_month, list_requests_per_month);
    let orchgen = designs::orchgen::build(&ctx);
    let seed = designs::seed::build(&ctx);
    let sfn = designs::step_functions::build(&ctx);
    let express = designs::express::build(&ctx);
    let durable = designs::durable::build(&ctx);
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
    let notes = notes(&ctx, &orchgen);
    Estimate {
        pipeline: plan.name.clone(),
        orders_per_month,
        list_requests_per_month,
        prices: PRICES,
        designs: vec![orchgen, seed, sfn, express, durable],
        ratios,
        batch_fill: ctx.fill,
        assumptions: a::all(),
        notes,
    }
}

/// The estimate's remarks: what the other kind of API would cost, how DynamoDB is sized, what is
/// left out.
fn notes(ctx: &Context, orchgen: &Design) -> Vec<String> {
    let (p, plan, trace, api_invocations) = (&PRICES, ctx.plan, ctx.trace, ctx.api_invocations);
    let http_saving = api_invocations * (p.api_rest_request - p.api_http_request);
    let api_note = match plan.api.kind {
        ApiKind::Rest => format!(
            "The plan declares a REST API. An HTTP API (`api.kind: http`) would cost ${:.2} a month instead of ${:.2} for the order requests (${:.2} less; orchgen per million orders: ${:.2}).",
            api_invocations * p.api_http_request,
            api_invocations * p.api_rest_request,
            http_saving,
            (orchgen.total_monthly_usd - http_saving) / ctx.n * 1e6,
        ),
        ApiKind::Http => format!(
            "The plan declares an HTTP API ({}); the Step Functions design is given the same API, the seed's design keeps its REST API. A REST API would cost ${:.2} more a month.",
            if plan.api.auth == AuthMode::None { "public" } else { "IAM auth" },
            http_saving,
        ),
    };
    vec![
        api_note,
        format!(
            "DynamoDB units per order are sized from the runtime's own calls for one representative order ({} versions, {} committed transitions, {} engine reads) by DynamoDB's documented rules; DynamoDB Local reports more for transactions, because its accounting does not follow those rules (BENCHMARKS.md; tests/tests/dynamodb_engine.rs prints its figures for a reference order).",
            trace.records,
            trace.transitions.len(),
            trace.engine_reads.len(),
        ),
        "Not included: fixed monthly costs of the same order for every design (dashboard $3, alarms $0.10 each, custom metrics $0.30 each), data transfer, the free tier, retries and failed orders.".into(),
    ]
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
    use crate::cost::dynamo::{Access, Consistency};

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
