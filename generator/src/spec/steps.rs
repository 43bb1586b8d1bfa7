//! The `steps:`, `compensations:`, `defaults:`, `stream:` and `functions:` sections.
//!
//! A step is one flat mapping: `name`, `kind`, the settings every step has, and the settings of its
//! kind. Keys that belong to another kind are reported by validation, not by the schema, so that
//! editors complete every key with its description.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Duration;

/// The kinds of step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Check the order against declarative `rules`; a failure rejects the order with field-level reasons.
    Validate,
    /// Reserve the stock of every item, all or nothing; OUT_OF_STOCK names the product.
    ReserveInventory,
    /// Charge the order total (mock provider with `decline` rules); one charge per order at most.
    ChargePayment,
    /// Commit the reserved stock and create a shipment with a tracking id.
    Fulfil,
    /// Notify the customer (mock channel recording an outbox).
    Notify,
    /// Run your own Rust function, named by `handler`.
    Custom,
    /// POST the order to an HTTP endpoint (`url`).
    Http,
}

impl StepKind {
    /// Whether a step of this kind changes something outside the order (and so may need a compensation).
    /// A custom step says so itself with `side_effects`.
    pub fn has_side_effects(self) -> bool {
        !matches!(self, StepKind::Validate | StepKind::Notify)
    }
}

/// One step of the pipeline.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Unique step name: lowercase letters, digits and dashes.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9-]{0,47}$"), example = &"charge-payment")]
    pub name: String,
    /// What the step does.
    pub kind: StepKind,
    /// A sentence about the step, shown in graphs and dashboards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Status the order takes when the step succeeds (default derived from the kind, e.g. `PAID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Z][A-Z0-9_]{0,39}$"))]
    pub status: Option<String>,
    /// The step that runs next, or `end` to complete the order (default: the next step in the list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Retries of a failed attempt (default from `defaults.retry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
    /// Time limit of one attempt, at most `15m` (Lambda's limit). Default from `defaults.timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Lambda memory in MB, 128–10240 (default from `defaults.memory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = 256)]
    pub memory: Option<i64>,
    /// Reserved concurrency of the step's Lambda (default: none reserved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub reserved_concurrency: Option<u32>,
    /// What a terminal failure does (default from `defaults.on_failure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailureSpec>,
    /// Name of the compensation (from `compensations:`) that undoes this step when a later step fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensate: Option<String>,

    /// `validate` steps: the rules an order must pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<RulesSpec>,
    /// `charge_payment` steps: the payment provider (only `mock`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderSpec>,
    /// `charge_payment` steps: ISO 4217 currency of the charges (default `USD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Z]{3}$"))]
    pub currency: Option<String>,
    /// `charge_payment` steps: when the mock provider declines, checked in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline: Option<Vec<DeclineRuleSpec>>,
    /// `fulfil` steps: carrier of the shipments (default `mock-carrier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    /// `fulfil` steps: prefix of tracking ids (default `TRK`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Z0-9-]{1,12}$"))]
    pub tracking_prefix: Option<String>,
    /// `notify` steps: the channel (only `mock`, which records an outbox).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<ChannelSpec>,
    /// `notify` steps: subject line; `{order_id}`, `{status}` and `{customer_name}` are replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// `custom` steps: your Rust function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<HandlerSpec>,
    /// `http` steps: the URL the order is sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"https://fraud.example.com/check")]
    pub url: Option<String>,
    /// `http` steps: the HTTP method (default `POST`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<HttpMethodSpec>,
    /// `http` steps: request headers. Values may read secrets — `${env:NAME}`, `${ssm:/param/name}`,
    /// `${secretsmanager:secret-name}` (never write a secret itself here); `Content-Type`, `Idempotency-Key`, `Host` and `Content-Length` are set by orchgen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &http_headers_example())]
    pub headers: Option<std::collections::BTreeMap<String, String>>,
    /// `http` steps: sign each request with HMAC-SHA256 (`t=<unix seconds>,v1=<hex>` over `<t>.<body>`,
    /// Stripe's webhook scheme) so that the service can check it came from this pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing: Option<SigningSpec>,
    /// `http` steps: follow redirects, at most 5 (default false: a 3xx answer fails the step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_redirects: Option<bool>,
    /// `http` steps: largest response body kept as the step's output, in bytes, 1–262144 (default 16384);
    /// a larger answer fails the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 262144))]
    pub max_response_bytes: Option<u32>,
}

fn http_headers_example() -> std::collections::BTreeMap<String, String> {
    [("Authorization".to_owned(), "Bearer ${env:PAYMENTS_TOKEN}".to_owned())].into()
}

/// How an `http` step or compensation signs its requests.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SigningSpec {
    /// The signing key, read from a secret: `${env:NAME}`, `${ssm:/param/name}` or
    /// `${secretsmanager:secret-name}`.
    #[schemars(example = &"${env:PAYMENTS_SIGNING_KEY}")]
    pub secret: String,
    /// The header carrying the signature (default `X-Orchgen-Signature`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
}

/// Payment providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderSpec {
    /// Deterministic in-process provider: approves unless a `decline` rule matches.
    Mock,
}

/// Notification channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelSpec {
    /// Records every notification in an outbox that can be read back.
    Mock,
}

/// HTTP methods of `http` steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethodSpec {
    /// POST the order as JSON.
    Post,
    /// PUT the order as JSON.
    Put,
}

/// Declarative validation rules. Customer id, e-mail and name are always required and checked.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesSpec {
    /// Fewest items an order may have (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_items: Option<u32>,
    /// Most items an order may have (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_items: Option<u32>,
    /// Largest quantity of one item (default 1000). Quantities must be positive integers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_quantity: Option<u32>,
    /// Largest order total (sum of quantity × unit price); prices must not be negative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_order_total: Option<f64>,
    /// Countries shipped to, as ISO 3166-1 alpha-2 codes (default: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = vec!["US", "CA"])]
    pub allowed_countries: Option<Vec<CountryCode>>,
    /// Shipping address fields that must be present (default: street, city, postal_code, country).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_address_fields: Option<Vec<AddressField>>,
    /// Payment methods accepted (default: credit_card, debit_card, paypal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_methods: Option<Vec<String>>,
}

/// An ISO 3166-1 alpha-2 country code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CountryCode(pub String);

impl JsonSchema for CountryCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CountryCode".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An ISO 3166-1 alpha-2 country code, e.g. `US`.",
            "pattern": "^[A-Z]{2}$"
        })
    }
}

/// A field of the shipping address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AddressField {
    /// Street and number.
    Street,
    /// City.
    City,
    /// State or region.
    State,
    /// Postal code.
    PostalCode,
    /// Country code.
    Country,
}

impl AddressField {
    /// The field's name in the order body.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressField::Street => "street",
            AddressField::City => "city",
            AddressField::State => "state",
            AddressField::PostalCode => "postal_code",
            AddressField::Country => "country",
        }
    }
}

/// When the mock payment provider declines. Every condition given must hold.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineRuleSpec {
    /// Decline when the order total is above this amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub amount_above: Option<f64>,
    /// Decline this payment method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<String>,
    /// Decline this customer id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// Decline code shown on the order, e.g. `CARD_DECLINED`.
    #[schemars(regex(pattern = r"^[A-Z][A-Z0-9_]{0,39}$"))]
    pub reason: String,
}

/// A Rust handler: `crate_name::path::to::function`, in the crate at `crate`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HandlerSpec {
    /// Rust path of the handler function; its first segment is the crate name.
    #[schemars(example = &"fraud_check::score")]
    pub function: String,
    /// Directory of the crate, relative to the pipeline file (default `steps/<crate name>`).
    #[serde(default, rename = "crate", skip_serializing_if = "Option::is_none")]
    pub crate_path: Option<String>,
    /// Whether the handler changes something outside the order (default true), so it may have a compensation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side_effects: Option<bool>,
}

/// What a terminal step failure does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnFailureSpec {
    /// Undo the completed steps (their compensations, newest first), then cancel the order.
    Compensate,
    /// Mark the order failed and undo nothing.
    Fail,
    /// Record the failure and go on with the next step (for steps nothing depends on, like notify).
    Continue,
}

/// Retry policy: exponential backoff with jitter.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Attempts in all, the first included (default 3; 1 means no retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub max_attempts: Option<u32>,
    /// Delay before the first retry, doubled at each retry (default `200ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Duration>,
    /// Longest delay between attempts (default `20s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_backoff: Option<Duration>,
    /// Randomisation of the delay (default `full`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<BackoffJitter>,
}

/// Randomisation of retry delays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackoffJitter {
    /// The exact exponential delay.
    None,
    /// Uniform between 0 and the delay (spreads retries best).
    Full,
    /// Half the delay plus a uniform part of the other half.
    Equal,
}

/// Settings every step inherits.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultsSpec {
    /// Retry policy (default 3 attempts, `200ms` doubling up to `20s`, full jitter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
    /// Time limit of one attempt (default `10s`, at most `15m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Lambda memory in MB, 128–10240 (default 256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    /// What a terminal failure does (default `compensate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailureSpec>,
}

/// The kinds of compensation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CompensationKind {
    /// Release the stock a `reserve_inventory` step reserved.
    ReleaseInventory,
    /// Refund the charge of a `charge_payment` step.
    RefundPayment,
    /// Run your own Rust function, named by `handler`.
    Custom,
    /// POST the order to an HTTP endpoint (`url`).
    Http,
}

/// An action that undoes a step's effect.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompensationSpec {
    /// Unique compensation name, referred to by a step's `compensate`.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9-]{0,47}$"), example = &"refund-payment")]
    pub name: String,
    /// What the compensation does.
    pub kind: CompensationKind,
    /// Retries (default: 10 attempts, `200ms` doubling up to `20s`): a compensation must eventually succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
    /// Time limit of one attempt (default from `defaults.timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// `custom` compensations: your Rust function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<HandlerSpec>,
    /// `http` compensations: the URL the order is sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `http` compensations: the HTTP method (default `POST`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<HttpMethodSpec>,
    /// `http` compensations: request headers. Values may read secrets — `${env:NAME}`, `${ssm:/param/name}`,
    /// `${secretsmanager:secret-name}` (never write a secret itself here); `Content-Type`, `Idempotency-Key`, `Host` and `Content-Length` are set by orchgen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &http_headers_example())]
    pub headers: Option<std::collections::BTreeMap<String, String>>,
    /// `http` compensations: sign each request with HMAC-SHA256 (`t=<unix seconds>,v1=<hex>` over `<t>.<body>`,
    /// Stripe's webhook scheme) so that the service can check it came from this pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing: Option<SigningSpec>,
    /// `http` compensations: follow redirects, at most 5 (default false: a 3xx answer fails the compensation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_redirects: Option<bool>,
    /// `http` compensations: largest response body kept as the compensation's output, in bytes, 1–262144 (default 16384);
    /// a larger answer fails the compensation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 262144))]
    pub max_response_bytes: Option<u32>,
}

/// How the orders change stream feeds the stream processor (the event source mapping).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    /// Records per batch, 1–10000 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub batch_size: Option<u32>,
    /// Longest wait to fill a batch, at most `5m` (default `0s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batching_window: Option<Duration>,
    /// Retries of a failed batch before its records go to the dead-letter queue, 0–10000 (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub max_retries: Option<u32>,
    /// Records older than this go to the dead-letter queue, `60s`–`7d` in seconds or minutes (default `60m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_record_age: Option<Duration>,
    /// Split a failing batch to isolate the bad record (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bisect_on_error: Option<bool>,
    /// Concurrent batches per shard, 1–10 (default 1; >1 loses per-key ordering guarantees across keys only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub parallelization: Option<u32>,
    /// Run consecutive steps in one move and store the order once per move instead of after every
    /// step (default false): an order that goes through without failure is written twice (created,
    /// then COMPLETED) instead of once per step, with as many fewer stream records and
    /// invocations. Intermediate statuses are then seen only in the order's history. A chain stops
    /// at a failure, before a `custom` or `http` step when built-in steps have store effects pending,
    /// and after half the processor's timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_steps: Option<bool>,
}

/// Lambda settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FunctionsSpec {
    /// CPU architecture of every function (default `x86_64`, which `orchgen package` builds on the
    /// usual x86_64 machine; `arm64` costs 20% less per GB-second but needs the aarch64 Rust target and a
    /// cross linker, or an arm64 machine, to package).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<ArchitectureSpec>,
    /// Memory of the API and stream-processor functions in MB, 128–10240 (default 256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    /// Timeout of the API function, at most `29s` (API Gateway's limit; default `10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_timeout: Option<Duration>,
    /// Timeout of the stream-processor function, at most `15m` (default `60s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processor_timeout: Option<Duration>,
}

/// Lambda CPU architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArchitectureSpec {
    /// AWS Graviton (cheaper per GB-second).
    Arm64,
    /// Intel/AMD.
    X86_64,
}

/// The status an order takes when `step` succeeds.
pub fn success_status(step: &StepSpec) -> String {
    if let Some(s) = &step.status {
        return s.clone();
    }
    match step.kind {
        StepKind::Validate => "VALIDATED".to_owned(),
        StepKind::ReserveInventory => "RESERVED".to_owned(),
        StepKind::ChargePayment => "PAID".to_owned(),
        StepKind::Fulfil => "FULFILLED".to_owned(),
        StepKind::Notify => "NOTIFIED".to_owned(),
        StepKind::Custom | StepKind::Http => format!("{}_DONE", step.name.to_ascii_uppercase().replace('-', "_")),
    }
}

/// Step indexes in the order an order visits them, following `next` from the first step.
pub fn execution_order(steps: &[StepSpec]) -> Vec<usize> {
    // Linear in the number of steps: validation runs this on whatever it is given.
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, step) in steps.iter().enumerate() {
        index.entry(step.name.as_str()).or_insert(i);
    }
    let mut visited = vec![false; steps.len()];
    let mut order = Vec::new();
    let mut at = if steps.is_empty() { None } else { Some(0) };
    while let Some(i) = at {
        if visited[i] {
            break;
        }
        visited[i] = true;
        order.push(i);
        at = match steps[i].next.as_deref() {
            None => (i + 1 < steps.len()).then_some(i + 1),
            Some("end") => None,
            Some(name) => index.get(name).copied(),
        };
    }
    order
}
