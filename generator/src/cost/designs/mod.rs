//! The five designs `orchgen cost` prices, a module each, and what they share: the [`Context`] of
//! quantities computed once from the traced order, and the lines more than one design has (the
//! front door, the step functions, the listing through the index, ...).

pub(super) mod durable;
pub(super) mod express;
pub(super) mod orchgen;
pub(super) mod seed;
pub(super) mod step_functions;

use orchgen_runtime::plan::{ApiKind, Architecture, Plan};

use super::assumptions as a;
use super::dynamo::{self, Access, Consistency, Usage};
use super::prices::PRICES;
use super::simulate::Trace;
use super::{Line, Scaling, batch_fill, dynamodb_lines, gb_seconds, line, memory_of, state_transitions};

/// The quantities of one estimate more than one design uses.
pub(super) struct Context<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// The order as the plan runs it.
    pub trace: &'a Trace,
    /// The order as it runs with a move per step, which the alternatives' writes follow.
    pub per_step: &'a Trace,
    /// Orders a month.
    pub n: f64,
    /// `GET {path}` listing requests a month.
    pub list_requests_per_month: u64,
    /// The same, as a quantity.
    pub lists: f64,
    /// API requests per order: the `POST` and each `GET` of the order.
    pub api_requests: u32,
    /// API function invocations a month for the orders.
    pub api_invocations: f64,
    /// Step attempts per order.
    pub steps: u32,
    /// GB-seconds a month of the Rust step functions, each at its memory.
    pub step_gb_s: f64,
    /// Months an order is kept (the orders TTL).
    pub retention_months: f64,
    /// The plan's Lambda architecture and its price per GB-second.
    pub arch: &'static str,
    /// See `arch`.
    pub gb_s: f64,
    /// The plan's kind of API and its price per request: the front door of orchgen and of the
    /// designs that start an execution (the same, so that the comparison is of the orchestration);
    /// the seed's design keeps its REST API.
    pub api_kind: &'static str,
    /// See `api_kind`.
    pub api_price: f64,
    /// The listing's page size.
    pub page: u32,
    /// Read units of one listing through the keys-only index.
    pub index_list_units: f64,
    /// Stream records per orchgen processor invocation.
    pub fill: f64,
    /// The DynamoDB usage of a state machine's tasks, which write the order's JSON as it is
    /// (Step Functions Standard and Express).
    pub sfn_usage: Usage,
    /// Step Functions state transitions per order (Standard and Express).
    pub sfn_transitions: u32,
}

impl<'a> Context<'a> {
    /// The context of the estimate for `orders` and `lists` listing requests a month.
    pub fn new(plan: &'a Plan, trace: &'a Trace, per_step: &'a Trace, orders: u64, lists: u64) -> Self {
        let p = &PRICES;
        let n = orders as f64;
        let api_requests = 1 + trace.api_reads.len() as u32;
        // orchgen's event source mapping filters out the records of TTL removals and those whose new
        // image is terminal (build/cloudformation.rs `stream_filter_patterns`): its processor gets one
        // record per stored version that is not terminal.
        let stream_records = trace.processed_records();
        let fill = batch_fill(n * f64::from(stream_records), plan.stream.batch_size, plan.stream.batching_window_s);
        let attempts = trace.attempts();
        let arch = match plan.functions.architecture {
            Architecture::Arm64 => "arm64",
            Architecture::X86_64 => "x86_64",
        };
        let (api_kind, api_price) = match plan.api.kind {
            ApiKind::Rest => ("REST API", p.api_rest_request),
            ApiKind::Http => ("HTTP API", p.api_http_request),
        };
        let ttl_days = plan.tables.orders.ttl.as_ref().map_or(a::RETENTION_WITHOUT_TTL_DAYS, |t| f64::from(t.days));
        let retention_months = ttl_days / (a::SECONDS_PER_MONTH / 86_400.0);
        let page = plan.api.default_limit.max(1);
        let sfn_access = Access {
            transactional: false,
            indexes: true,
            processing_read: None,
            api_read: Consistency::Strong,
            packed: false,
        };
        Context {
            plan,
            trace,
            per_step,
            n,
            list_requests_per_month: lists,
            lists: lists as f64,
            api_requests,
            api_invocations: n * f64::from(api_requests),
            steps: attempts.len() as u32,
            step_gb_s: attempts.iter().map(|s| gb_seconds(n, a::RUST_STEP_MS, memory_of(plan, s))).sum(),
            retention_months,
            arch,
            gb_s: p.lambda_gb_second(plan.functions.architecture),
            api_kind,
            api_price,
            page,
            index_list_units: dynamo::index_listing_units(trace, page),
            fill,
            sfn_usage: dynamo::usage(per_step, sfn_access),
            sfn_transitions: state_transitions(plan, per_step),
        }
    }

    /// A status written after each step and the move to COMPLETED, as Step Functions writes them.
    pub fn status_writes(&self) -> u32 {
        self.per_step.transitions.len() as u32
    }

    /// Log bytes a month of the API function and the Rust step functions.
    pub fn function_log_bytes(&self) -> f64 {
        self.n * self.trace.api_log_bytes as f64 + self.n * f64::from(self.steps) * a::RUST_STEP_LOG_BYTES
    }

    /// The front door's requests: API Gateway (`api` at `price` a request) for the orders (`what`
    /// after their count) and the listings, and the API function's invocations for each.
    pub fn front_door_requests(&self, api: &str, price: f64, what: &str) -> Vec<Line> {
        let p = &PRICES;
        vec![
            line(
                "API Gateway",
                format!("{api}: {} requests per order{what}", self.api_requests),
                self.api_invocations,
                "requests",
                price,
                Scaling::Linear,
            ),
            line(
                "API Gateway",
                format!("{api}: {} listings", self.list_requests_per_month),
                self.lists,
                "requests",
                price,
                Scaling::Fixed,
            ),
            line(
                "Lambda requests",
                "API function: orders".into(),
                self.api_invocations,
                "requests",
                p.lambda_request,
                Scaling::Linear,
            ),
            line(
                "Lambda requests",
                "API function: listings".into(),
                self.lists,
                "requests",
                p.lambda_request,
                Scaling::Fixed,
            ),
        ]
    }

    /// The Rust API function's time: its order requests (`start`: what the one that creates the
    /// order also does, and how long it takes) and its listings.
    pub fn front_door_compute(&self, start: Option<(&str, f64)>) -> Vec<Line> {
        let memory = self.plan.functions.memory_mb;
        let orders = match start {
            None => line(
                "Lambda compute",
                format!("API function: {} ms at {memory} MB ({})", a::RUST_API_MS, self.arch),
                gb_seconds(self.api_invocations, a::RUST_API_MS, memory),
                "GB-s",
                self.gb_s,
                Scaling::Linear,
            ),
            Some((start, start_ms)) => line(
                "Lambda compute",
                format!("API function: {} ms (with {start}) at {memory} MB ({})", a::RUST_API_MS + start_ms, self.arch),
                gb_seconds(self.n, a::RUST_API_MS + start_ms, memory)
                    + gb_seconds(self.api_invocations - self.n, a::RUST_API_MS, memory),
                "GB-s",
                self.gb_s,
                Scaling::Linear,
            ),
        };
        vec![
            orders,
            line(
                "Lambda compute",
                format!("API function: listings, {} ms each", a::RUST_LIST_MS),
                gb_seconds(self.lists, a::RUST_LIST_MS, memory),
                "GB-s",
                self.gb_s,
                Scaling::Fixed,
            ),
        ]
    }

    /// The whole front door of a design whose API function starts an execution (`start`, taking
    /// `start_ms`) on the plan's kind of API.
    pub fn front_door(&self, start: &str, start_ms: f64) -> Vec<Line> {
        let mut lines = self.front_door_requests(self.api_kind, self.api_price, "");
        lines.extend(self.front_door_compute(Some((start, start_ms))));
        lines
    }

    /// The step functions' invocations.
    pub fn step_requests(&self) -> Line {
        line(
            "Lambda requests",
            format!("step functions: {} per order", self.steps),
            self.n * f64::from(self.steps),
            "requests",
            PRICES.lambda_request,
            Scaling::Linear,
        )
    }

    /// The Rust step functions' time.
    pub fn step_compute(&self) -> Line {
        line(
            "Lambda compute",
            format!("step functions: {} × {} ms at their memory", self.steps, a::RUST_STEP_MS),
            self.step_gb_s,
            "GB-s",
            self.gb_s,
            Scaling::Linear,
        )
    }

    /// The back end of a design that starts an execution: its DynamoDB lines (`usage`, `how` it
    /// writes), the listing through the index, no queue, and the logs of the API function and the
    /// step functions (`logs`: what else is or is not logged).
    pub fn execution_back_end(&self, usage: &Usage, how: &str, logs: &str) -> Vec<Line> {
        let mut lines = dynamodb_lines(usage, self.n, self.retention_months, how);
        lines.push(self.index_listing());
        lines.push(no_queue());
        lines.push(line(
            "CloudWatch Logs",
            format!("ingestion: the same functions' logs{logs}"),
            self.function_log_bytes() / 1e9,
            "GB",
            PRICES.cloudwatch_logs_ingestion_gb,
            Scaling::Linear,
        ));
        lines
    }

    /// A listing through orchgen's keys-only index.
    pub fn index_listing(&self) -> Line {
        line(
            "DynamoDB reads",
            format!("listing: Query of a keys-only index + BatchGetItem of {}", self.page),
            self.lists * self.index_list_units,
            "RCU",
            PRICES.dynamodb_read_unit,
            Scaling::Fixed,
        )
    }
}

/// The stream reads of a processor invoked `invocations` times by its Lambda trigger.
pub(super) fn stream_reads(invocations: f64) -> Line {
    line(
        "DynamoDB Streams",
        "GetRecords by the Lambda trigger (free)".into(),
        invocations,
        "requests",
        PRICES.dynamodb_stream_read_by_lambda,
        Scaling::Sublinear,
    )
}

/// No queue.
pub(super) fn no_queue() -> Line {
    line("SQS", "none".into(), 0.0, "requests", PRICES.sqs_request, Scaling::Linear)
}
