//! The resolved pipeline: the runtime's contract.
//!
//! A [`Plan`] is what `orchgen` produces from a validated pipeline file: every default applied, every
//! reference resolved, step order and compensation order explicit. It is plain data, serialisable to
//! JSON, so the generated Lambda glue embeds it and the runtime executes it. Nothing here knows about
//! YAML; the generator owns the language, the runtime owns this.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of the plan format. Bumped whenever a change would make an older runtime misread a plan.
pub const PLAN_FORMAT: u32 = 1;

/// A complete, resolved pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Plan format version ([`PLAN_FORMAT`]).
    pub format: u32,
    /// Pipeline name: a lowercase identifier used to name resources.
    pub name: String,
    /// Human description of the pipeline.
    pub description: String,
    /// The order API.
    pub api: ApiPlan,
    /// The tables the pipeline uses, declared or derived.
    pub tables: TablesPlan,
    /// The steps, in execution order (`steps[0]` runs first).
    pub steps: Vec<StepPlan>,
    /// Compensations, by name.
    pub compensations: BTreeMap<String, CompensationPlan>,
    /// Every status an order can have, in lifecycle order.
    pub statuses: Vec<String>,
    /// How the change stream is consumed.
    pub stream: StreamPlan,
    /// Lambda settings shared by all functions.
    pub functions: FunctionsPlan,
    /// Alarms, notifications and logs.
    pub monitoring: MonitoringPlan,
    /// Settings for local runs (`orchgen dev`).
    pub local: LocalPlan,
}

/// Well-known order statuses (the step statuses come from the plan).
pub mod status {
    /// The order was accepted by the API and waits for its first step.
    pub const RECEIVED: &str = "RECEIVED";
    /// Every step succeeded.
    pub const COMPLETED: &str = "COMPLETED";
    /// A step refused the order (invalid, out of stock, payment declined, a service's refusal) and
    /// there was nothing to undo.
    pub const REJECTED: &str = "REJECTED";
    /// Something broke (retries exhausted, a timeout, a panic, a service unreachable or
    /// misconfigured, a compensation that could not run); the compensations of the completed steps
    /// ran first when the step's policy is `compensate`.
    pub const FAILED: &str = "FAILED";
    /// A step failed terminally; the compensations of the completed steps are running.
    pub const COMPENSATING: &str = "COMPENSATING";
    /// A step refused the order and the compensations of the completed steps ran.
    pub const CANCELLED: &str = "CANCELLED";
}

impl Plan {
    /// The environment variables every `http` step and compensation reads secrets from, sorted,
    /// without duplicates (see [`HttpPlan::secret_env`]).
    pub fn secret_env(&self) -> Vec<String> {
        let steps = self.steps.iter().filter_map(|s| s.action.http());
        let compensations = self.compensations.values().filter_map(|c| c.action.http());
        let mut names: Vec<String> = steps.chain(compensations).flat_map(HttpPlan::secret_env).collect();
        names.sort();
        names.dedup();
        names
    }

    /// Every secret an `http` step or compensation reads, sorted, without duplicates.
    pub fn secret_refs(&self) -> Vec<crate::secrets::SecretRef> {
        let steps = self.steps.iter().filter_map(|s| s.action.http());
        let compensations = self.compensations.values().filter_map(|c| c.action.http());
        let mut refs: Vec<_> = steps.chain(compensations).flat_map(HttpPlan::secret_refs).collect();
        refs.sort();
        refs.dedup();
        refs
    }

    /// The step with this name.
    pub fn step(&self, name: &str) -> Option<&StepPlan> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// The position of the step with this name in [`Plan::steps`].
    pub fn step_index(&self, name: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.name == name)
    }

    /// Whether `status` is one of this plan's statuses.
    pub fn has_status(&self, status: &str) -> bool {
        self.statuses.iter().any(|s| s == status)
    }

    /// The plan as pretty JSON (what the generated glue embeds).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a Plan always serialises")
    }

    /// Reads a plan from JSON, refusing formats this runtime does not know.
    pub fn from_json(json: &str) -> Result<Plan, PlanError> {
        let plan: Plan = serde_json::from_str(json).map_err(PlanError::Json)?;
        if plan.format != PLAN_FORMAT {
            return Err(PlanError::Format { found: plan.format, expected: PLAN_FORMAT });
        }
        Ok(plan)
    }
}

/// Why a plan could not be read.
#[derive(Debug)]
pub enum PlanError {
    /// The JSON is malformed or does not match the plan types.
    Json(serde_json::Error),
    /// The plan was written for another runtime version.
    Format {
        /// The format the plan declares.
        found: u32,
        /// The format this runtime reads.
        expected: u32,
    },
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::Json(e) => write!(f, "the plan is not valid: {e}"),
            PlanError::Format { found, expected } => write!(
                f,
                "the plan has format {found}, this runtime reads format {expected}: rebuild with a matching orchgen"
            ),
        }
    }
}

impl std::error::Error for PlanError {}

/// The order API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiPlan {
    /// Which kind of API Gateway API serves the routes.
    #[serde(default)]
    pub kind: ApiKind,
    /// Resource path of the collection, e.g. `/orders`.
    pub path: String,
    /// Name of the path parameter that identifies one order, e.g. `orderId`.
    pub id_param: String,
    /// Routes served, in a stable order.
    pub routes: Vec<RoutePlan>,
    /// How callers authenticate.
    pub auth: AuthMode,
    /// Largest accepted request body, in bytes.
    pub max_request_bytes: u64,
    /// Steady-state request rate per second.
    pub throttle_rate: u32,
    /// Burst capacity in requests.
    pub throttle_burst: u32,
    /// Origins allowed by CORS; empty means CORS is off.
    pub cors_origins: Vec<String>,
    /// Page size of `GET /orders` when `limit` is not given.
    pub default_limit: u32,
    /// Largest `limit` accepted by `GET /orders`.
    pub max_limit: u32,
}

/// The kind of API Gateway API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiKind {
    /// A REST API: API keys and usage plans, request validation; $3.50 per million requests.
    #[default]
    Rest,
    /// An HTTP API: IAM or no auth, lower latency; $1.00 per million requests.
    Http,
}

/// One API route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutePlan {
    /// What the route does.
    pub action: RouteAction,
    /// HTTP method.
    pub method: String,
    /// Full path template, e.g. `/orders/{orderId}`.
    pub path: String,
}

/// What an API route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RouteAction {
    /// `POST /orders`: submit an order.
    Create,
    /// `GET /orders`: list orders, newest first.
    List,
    /// `GET /orders/{orderId}`: one order with its history.
    Get,
}

/// How API callers authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// An API key in the `x-api-key` header, with a usage plan.
    ApiKey,
    /// AWS Signature V4 (IAM).
    Iam,
    /// Anonymous: anyone can call the API.
    None,
}

/// The tables of the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TablesPlan {
    /// Orders, with their state, history and change stream.
    pub orders: TablePlan,
    /// Stock per product.
    pub inventory: TablePlan,
    /// Payments ledger: at most one charge per order.
    pub ledger: TablePlan,
    /// Idempotency keys of API requests and step effects.
    pub idempotency: TablePlan,
}

impl TablesPlan {
    /// All tables, in a stable order.
    pub fn all(&self) -> [&TablePlan; 4] {
        [&self.orders, &self.inventory, &self.ledger, &self.idempotency]
    }
}

/// One DynamoDB table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TablePlan {
    /// Logical name (`orders`, `inventory`, `ledger`, `idempotency`).
    pub logical: String,
    /// Physical table name (before any stage prefix).
    pub name: String,
    /// Partition key attribute.
    pub key: String,
    /// Expiry of items, when the table has one.
    pub ttl: Option<TtlPlan>,
    /// Index for listing by status, newest first, when the table has one.
    pub status_index: Option<IndexPlan>,
    /// Index for listing every order newest first (`GET /orders` without a status), when the table
    /// has one. Its partition key holds one constant value per item kind and it projects keys only,
    /// so an order writes to it once, when created.
    pub recent_index: Option<IndexPlan>,
    /// Whether the table carries a change stream (NEW_AND_OLD_IMAGES).
    pub stream: bool,
    /// Point-in-time recovery.
    pub point_in_time_recovery: bool,
    /// Whether the table is kept when the stack is deleted.
    pub retain: bool,
}

/// Item expiry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TtlPlan {
    /// Attribute holding the expiry time (epoch seconds).
    pub attribute: String,
    /// Items expire this many days after they reach a terminal state.
    pub days: u32,
}

/// A global secondary index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IndexPlan {
    /// Index name.
    pub name: String,
    /// Partition key attribute of the index.
    pub partition_key: String,
    /// Sort key attribute of the index.
    pub sort_key: String,
}

/// One step of the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepPlan {
    /// Unique step name (kebab-case).
    pub name: String,
    /// What the step does.
    pub description: String,
    /// The step's behaviour and its settings.
    pub action: StepAction,
    /// Status the order takes when this step succeeds.
    pub status: String,
    /// The step that runs after this one; `None` completes the order.
    pub next: Option<String>,
    /// Retry policy.
    pub retry: RetryPlan,
    /// Time limit of one attempt, in milliseconds.
    pub timeout_ms: u64,
    /// Lambda memory, in MB.
    pub memory_mb: u32,
    /// Lambda reserved concurrency, when declared.
    pub reserved_concurrency: Option<u32>,
    /// What a terminal failure of this step does.
    pub on_failure: OnFailure,
    /// Compensation undoing this step's effect, when it has one.
    pub compensation: Option<String>,
    /// The compensations to run, in order, when this step fails terminally and
    /// `on_failure` is `compensate`: those of the completed steps, newest first.
    pub compensate_on_failure: Vec<String>,
}

/// What a terminal step failure does to the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Run the compensations of the completed steps in reverse order, then cancel the order.
    Compensate,
    /// Mark the order failed without compensating.
    Fail,
    /// Record the failure in the history and go on with the next step.
    Continue,
}

/// Retry policy of a step or compensation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPlan {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the first retry, in milliseconds; doubled at each retry.
    pub base_delay_ms: u64,
    /// Largest delay between attempts, in milliseconds.
    pub max_delay_ms: u64,
    /// Randomisation of the delay.
    pub jitter: Jitter,
}

impl RetryPlan {
    /// The delay before attempt `attempt + 1` (attempts count from 1), before jitter.
    pub fn delay_ms(&self, attempt: u32) -> u64 {
        let exp = attempt.saturating_sub(1).min(63);
        self.base_delay_ms.saturating_mul(1u64 << exp).min(self.max_delay_ms)
    }
}

/// Randomisation of retry delays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    /// The exact exponential delay.
    None,
    /// A uniform delay between 0 and the exponential delay.
    Full,
    /// Half the exponential delay plus a uniform part of the other half.
    Equal,
}

/// A step's behaviour and its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepAction {
    /// Check the order against declarative rules.
    Validate(ValidationRules),
    /// Reserve the stock of every item, all or nothing.
    ReserveInventory,
    /// Charge the order total through the payment provider.
    ChargePayment(PaymentPlan),
    /// Commit the reserved stock and create a shipment.
    Fulfil(FulfilmentPlan),
    /// Send a notification to the customer.
    Notify(NotifyPlan),
    /// Run a user-supplied Rust handler.
    Custom(HandlerPlan),
    /// Call an HTTP endpoint with the order.
    Http(HttpPlan),
}

impl StepAction {
    /// The HTTP call, for `http` steps.
    pub fn http(&self) -> Option<&HttpPlan> {
        match self {
            StepAction::Http(http) => Some(http),
            _ => None,
        }
    }

    /// Whether the step is built in: it decides in process and its only lasting effects are the
    /// store effects it returns (nothing outside the store happens when it runs).
    pub fn is_builtin(&self) -> bool {
        !matches!(self, StepAction::Custom(_) | StepAction::Http(_))
    }

    /// The kind's name as written in pipeline files.
    pub fn kind(&self) -> &'static str {
        match self {
            StepAction::Validate(_) => "validate",
            StepAction::ReserveInventory => "reserve_inventory",
            StepAction::ChargePayment(_) => "charge_payment",
            StepAction::Fulfil(_) => "fulfil",
            StepAction::Notify(_) => "notify",
            StepAction::Custom(_) => "custom",
            StepAction::Http(_) => "http",
        }
    }
}

/// Declarative validation rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidationRules {
    /// Fewest items an order may have.
    pub min_items: u32,
    /// Most items an order may have.
    pub max_items: u32,
    /// Largest quantity of one item.
    pub max_quantity: u32,
    /// Largest order total, in the currency's units.
    pub max_order_total: f64,
    /// ISO 3166-1 alpha-2 codes of the countries shipped to; empty allows all.
    pub allowed_countries: Vec<String>,
    /// Shipping address fields that must be present and non-empty.
    pub required_address_fields: Vec<String>,
    /// Payment methods accepted.
    pub payment_methods: Vec<String>,
}

/// The payment step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentPlan {
    /// Payment provider.
    pub provider: PaymentProvider,
    /// ISO 4217 currency of the charges.
    pub currency: String,
    /// Rules under which the mock provider declines, checked in order.
    pub decline: Vec<DeclineRule>,
}

/// Payment providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentProvider {
    /// A deterministic in-process provider.
    Mock,
}

/// When the mock provider declines a charge. Every condition given must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineRule {
    /// Decline when the order total is above this amount.
    pub amount_above: Option<f64>,
    /// Decline this payment method.
    pub payment_method: Option<String>,
    /// Decline this customer id.
    pub customer_id: Option<String>,
    /// Decline code reported on the order.
    pub reason: String,
}

/// The fulfilment step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FulfilmentPlan {
    /// Carrier of the shipments.
    pub carrier: String,
    /// Prefix of the tracking ids.
    pub tracking_prefix: String,
}

/// The notification step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyPlan {
    /// Channel of the notification.
    pub channel: NotifyChannel,
    /// Subject line; `{order_id}`, `{status}` and `{customer_name}` are replaced.
    pub subject: String,
}

/// Notification channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotifyChannel {
    /// A mock channel that records each message in an outbox.
    Mock,
}

/// A user-supplied Rust handler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HandlerPlan {
    /// Full Rust path of the handler function, e.g. `fraud_check::score`.
    pub function: String,
    /// Crate name (the first segment of `function`).
    pub crate_name: String,
    /// Path of the crate's directory, relative to the pipeline file.
    pub crate_path: String,
    /// Whether the handler changes something outside the order.
    pub side_effects: bool,
}

/// An HTTP call-out: the order and the step's context are sent as JSON (see `steps::http`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpPlan {
    /// URL called with the order as JSON.
    pub url: String,
    /// HTTP method (`POST` or `PUT`).
    pub method: String,
    /// Extra request headers, in order. Values may reference secrets (`${env:NAME}`, `${ssm:NAME}`,
    /// `${secretsmanager:NAME}`): the plan holds
    /// the reference, never the value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HttpHeaderPlan>,
    /// HMAC-SHA256 signing of each request, when declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing: Option<SigningPlan>,
    /// Whether redirects are followed (at most 5); otherwise a 3xx answer is a terminal error.
    #[serde(default)]
    pub follow_redirects: bool,
    /// Largest response body kept, in bytes; a larger 2xx body is a terminal error.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u32,
}

/// [`HttpPlan::max_response_bytes`] when the pipeline does not say.
pub const DEFAULT_MAX_RESPONSE_BYTES: u32 = 16 * 1024;

fn default_max_response_bytes() -> u32 {
    DEFAULT_MAX_RESPONSE_BYTES
}

impl HttpPlan {
    /// The secrets the call reads (in header values and in the signing secret), sorted, without
    /// duplicates.
    pub fn secret_refs(&self) -> Vec<crate::secrets::SecretRef> {
        let templates =
            self.headers.iter().map(|h| h.value.as_str()).chain(self.signing.iter().map(|s| s.secret.as_str()));
        let mut refs: Vec<_> = templates.filter_map(|t| crate::secrets::references(t).ok()).flatten().collect();
        refs.sort();
        refs.dedup();
        refs
    }

    /// The names of the environment variables the call reads its `${env:NAME}` secrets from, sorted,
    /// without duplicates (on AWS: its function's variables, fed by NoEcho stack parameters).
    pub fn secret_env(&self) -> Vec<String> {
        self.secret_refs().iter().filter_map(|r| r.env_name().map(str::to_owned)).collect()
    }
}

/// One request header of an [`HttpPlan`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpHeaderPlan {
    /// Header name.
    pub name: String,
    /// Header value; may reference secrets (`${env:NAME}`, `${ssm:NAME}`, `${secretsmanager:NAME}`).
    pub value: String,
}

/// Request signing: header `<header>: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (the
/// webhook convention of Stripe), so that the provider can check who sent the request and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SigningPlan {
    /// The signing key: a secret reference (`${env:NAME}`, `${ssm:NAME}`, `${secretsmanager:NAME}`).
    pub secret: String,
    /// The header carrying the signature.
    pub header: String,
}

/// [`SigningPlan::header`] when the pipeline does not say.
pub const DEFAULT_SIGNATURE_HEADER: &str = "X-Orchgen-Signature";

/// A compensation: undoes the effect of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompensationPlan {
    /// Unique compensation name.
    pub name: String,
    /// What the compensation does.
    pub action: CompensationAction,
    /// Retry policy (compensations must eventually succeed).
    pub retry: RetryPlan,
    /// Time limit of one attempt, in milliseconds.
    pub timeout_ms: u64,
}

/// What a compensation does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CompensationAction {
    /// Release the stock reserved for the order.
    ReleaseInventory,
    /// Refund the order's charge.
    RefundPayment,
    /// Run a user-supplied Rust handler.
    Custom(HandlerPlan),
    /// Call an HTTP endpoint with the order.
    Http(HttpPlan),
}

impl CompensationAction {
    /// The HTTP call, for `http` compensations.
    pub fn http(&self) -> Option<&HttpPlan> {
        match self {
            CompensationAction::Http(http) => Some(http),
            _ => None,
        }
    }

    /// The kind's name as written in pipeline files.
    pub fn kind(&self) -> &'static str {
        match self {
            CompensationAction::ReleaseInventory => "release_inventory",
            CompensationAction::RefundPayment => "refund_payment",
            CompensationAction::Custom(_) => "custom",
            CompensationAction::Http(_) => "http",
        }
    }
}

/// How the orders change stream is consumed (the event source mapping).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamPlan {
    /// Records per batch.
    pub batch_size: u32,
    /// Longest wait to fill a batch, in seconds.
    pub batching_window_s: u32,
    /// Retries of a failed batch before it goes to the dead-letter queue.
    pub max_retries: u32,
    /// Records older than this go to the dead-letter queue, in seconds.
    pub max_record_age_s: u32,
    /// Split a failing batch in two to isolate the bad record.
    pub bisect_on_error: bool,
    /// Concurrent batches per shard.
    pub parallelization: u32,
    /// Run consecutive steps in one move: after a step succeeds the next one runs at once, and the
    /// order is stored once, when the chain ends (the last step, a failure, a step with external
    /// effects after pending store effects, or the budget). Intermediate statuses then appear only
    /// in the history. Fewer writes, stream records and invocations per order.
    #[serde(default)]
    pub chain_steps: bool,
    /// How long one move may go on starting chained steps, in milliseconds (a chained step still
    /// running at this point is abandoned and runs in the next move); 0 with `chain_steps` false.
    #[serde(default)]
    pub chain_budget_ms: u64,
}

/// Lambda settings shared by all functions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FunctionsPlan {
    /// CPU architecture.
    pub architecture: Architecture,
    /// Memory of the API and stream-processor functions, in MB.
    pub memory_mb: u32,
    /// Timeout of the API function, in milliseconds.
    pub api_timeout_ms: u64,
    /// Timeout of the stream-processor function, in milliseconds.
    pub processor_timeout_ms: u64,
}

/// Lambda CPU architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// AWS Graviton.
    Arm64,
    /// Intel/AMD.
    X86_64,
}

/// Alarms, notifications and logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitoringPlan {
    /// Address subscribed to the alarm topic; empty for none.
    pub alarm_email: String,
    /// Days log groups keep their events.
    pub log_retention_days: u32,
    /// Alarm thresholds.
    pub alarms: AlarmsPlan,
}

/// Alarm thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlarmsPlan {
    /// Function errors per 5 minutes that raise an alarm.
    pub function_errors: u32,
    /// Function throttles per 5 minutes that raise an alarm.
    pub function_throttles: u32,
    /// Stream iterator age, in milliseconds, that raises an alarm.
    pub iterator_age_ms: u64,
    /// Messages in the dead-letter queue that raise an alarm.
    pub dlq_messages: u32,
    /// API 5xx responses, in percent of requests, that raise an alarm.
    pub api_5xx_percent: f64,
    /// API p99 latency, in milliseconds, that raises an alarm.
    pub api_p99_latency_ms: u64,
    /// `FAILED` orders (faults, not refusals), in percent of the orders that finished, that raise an alarm.
    pub failed_orders_percent: f64,
}

/// Settings for local runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalPlan {
    /// Stock loaded into an empty inventory: product id → units.
    pub inventory: BTreeMap<String, u64>,
}
