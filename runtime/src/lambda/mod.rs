//! Running the pipeline on AWS Lambda: what each generated glue binary calls.
//!
//! A pipeline runs as several functions ([`Function`], listed by [`functions`]): the API, the stream
//! processor, and one per step and per compensation (`http` ones excepted: the runtime runs them in
//! the processor, see [`functions`]). The stream processor runs `Engine::process` on every change
//! record and calls each step's own function synchronously through [`invoke::LambdaStepHandler`];
//! a step's function answers with [`step::StepFunction`].
//!
//! This module owns the conventions every function shares, so that the generated glue, the
//! CloudFormation template and the runtime cannot disagree:
//! - the plan is embedded in the binary (`include_str!` of the glue's `plan.json`) and checked with
//!   [`Plan::from_json`] at start-up ([`load_plan`]);
//! - environment variables: [`ENV_STAGE`], [`ENV_LOG_LEVEL`], one per table ([`table_env_var`]) and
//!   one per step function ([`Function::env_var`], with [`ENV_FUNCTION_PREFIX`] as a fallback);
//! - JSON logs on stdout ([`init_tracing`]) and EMF metrics on stdout ([`emf`]: cold starts, orders
//!   created by the API, the stream processor's transitions and failed records);
//! - the AWS SDK configuration: rustls with ring, no aws-lc ([`aws_config`]);
//! - `lambda_runtime` wiring, so that a generated `main` is one call: [`run_step`],
//!   [`run_api_on_dynamodb`] ([`run_api`] over any store), [`run_stream_processor`].
//!
//! Modules: [`step`] (a step function's handler), [`invoke`] (calling a step function),
//! [`api`] (the API function's handler).

pub mod api;
pub mod invoke;
pub mod step;

use std::collections::BTreeMap;
use std::sync::Arc;

use tracing::Instrument;

use crate::engine::Engine;
use crate::plan::{CompensationAction, Plan, PlanError, StepAction, TablesPlan};
use crate::steps::Registry;
use crate::store::Store;
use crate::store::dynamodb::{DynamoStore, client_from_env};
use crate::telemetry::Emf;

pub use invoke::{LambdaStepHandler, invoker_registry};
pub use step::{FnStep, StepFunction, StepResponse};

/// The error type of a glue binary's `main`.
pub type Error = lambda_runtime::Error;

/// Deployment stage (e.g. `prod`), for logs and metrics; empty when not set.
pub const ENV_STAGE: &str = "ORCHGEN_STAGE";
/// Log filter of the function (`info` when not set), in `tracing_subscriber::EnvFilter` syntax:
/// `debug`, `warn,orchgen_runtime=debug`, ...
pub const ENV_LOG_LEVEL: &str = "ORCHGEN_LOG_LEVEL";
/// Prefix of the step functions' names, used for a step whose own variable ([`Function::env_var`])
/// is not set: the function name is the prefix followed by [`Function::name`]. Lambda limits a
/// function's environment to 4 KB, so large pipelines set this instead of one variable per step.
pub const ENV_FUNCTION_PREFIX: &str = "ORCHGEN_FUNCTION_PREFIX";

/// Why a Lambda function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    /// The embedded plan cannot be read.
    #[error("the plan embedded in this function cannot be read: {0}")]
    Plan(#[from] PlanError),
    /// The function runs a step or compensation the plan does not have.
    #[error("this function runs {function}, which the embedded plan `{pipeline}` does not have")]
    UnknownFunction {
        /// The function.
        function: String,
        /// The plan's name.
        pipeline: String,
    },
    /// Step functions have no name to invoke.
    #[error(
        "no function name for {}: set {} (or {ENV_FUNCTION_PREFIX})",
        missing.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>().join(", "),
        missing.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(", ")
    )]
    MissingFunctionNames {
        /// The functions and the variable each one needs.
        missing: Vec<(String, String)>,
    },
}

/// One Lambda function of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Function {
    /// The order API.
    Api,
    /// The consumer of the orders change stream.
    StreamProcessor,
    /// A step, by name.
    Step(String),
    /// A compensation, by name.
    Compensation(String),
}

impl Function {
    /// A step's function.
    pub fn step(name: impl Into<String>) -> Function {
        Function::Step(name.into())
    }

    /// A compensation's function.
    pub fn compensation(name: impl Into<String>) -> Function {
        Function::Compensation(name.into())
    }

    /// The function's name in the glue and the template: its binary's name, and the suffix of its
    /// Lambda function name. `api`, `stream-processor`, `step-<step>`, `compensation-<compensation>`
    /// (the prefixes keep steps, compensations and the fixed functions apart: they may share names).
    pub fn name(&self) -> String {
        match self {
            Function::Api => "api".to_owned(),
            Function::StreamProcessor => "stream-processor".to_owned(),
            Function::Step(name) => format!("step-{name}"),
            Function::Compensation(name) => format!("compensation-{name}"),
        }
    }

    /// The environment variable of the stream processor that holds the Lambda function name (or
    /// ARN) to invoke for this step or compensation: `ORCHGEN_FUNCTION_` followed by [`Function::name`]
    /// in upper case with `-` as `_` (`step-charge-payment` → `ORCHGEN_FUNCTION_STEP_CHARGE_PAYMENT`).
    /// Step and compensation names are `[a-z][a-z0-9-]*`, so distinct functions get distinct variables.
    pub fn env_var(&self) -> String {
        format!("ORCHGEN_FUNCTION_{}", env_suffix(&self.name()))
    }

    /// What the function runs, for messages: `step \`validate\``, `the API`, ...
    pub fn describe(&self) -> String {
        match self {
            Function::Api => "the API".to_owned(),
            Function::StreamProcessor => "the stream processor".to_owned(),
            Function::Step(name) => format!("step `{name}`"),
            Function::Compensation(name) => format!("compensation `{name}`"),
        }
    }

    /// Whether the plan has this function's step or compensation (always true for the API and the
    /// stream processor).
    pub fn in_plan(&self, plan: &Plan) -> bool {
        match self {
            Function::Api | Function::StreamProcessor => true,
            Function::Step(name) => plan.step(name).is_some(),
            Function::Compensation(name) => plan.compensations.contains_key(name),
        }
    }
}

impl std::fmt::Display for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// Every Lambda function of the plan, in a stable order: the API, the stream processor, the steps in
/// execution order, then the compensations by name.
///
/// `http` steps and compensations have no function of their own: the registry runs them in the
/// stream processor (today as `NOT_SUPPORTED`, see `steps::custom::HttpNotSupported`).
pub fn functions(plan: &Plan) -> Vec<Function> {
    let steps =
        plan.steps.iter().filter(|s| !matches!(s.action, StepAction::Http(_))).map(|s| Function::Step(s.name.clone()));
    let compensations = plan
        .compensations
        .values()
        .filter(|c| !matches!(c.action, CompensationAction::Http(_)))
        .map(|c| Function::Compensation(c.name.clone()));
    [Function::Api, Function::StreamProcessor].into_iter().chain(steps).chain(compensations).collect()
}

/// The step and compensation functions of the plan (those the stream processor invokes).
pub fn step_functions(plan: &Plan) -> Vec<Function> {
    functions(plan).into_iter().filter(|f| matches!(f, Function::Step(_) | Function::Compensation(_))).collect()
}

/// The environment variable holding the physical name of a table: `ORCHGEN_TABLE_` followed by the
/// table's logical name in upper case (`orders` → `ORCHGEN_TABLE_ORDERS`).
pub fn table_env_var(logical: &str) -> String {
    format!("ORCHGEN_TABLE_{}", env_suffix(logical))
}

/// The physical table names by logical name: each from its variable ([`table_env_var`]), or the
/// plan's name when the variable is not set (local runs).
pub fn table_names(plan: &Plan) -> BTreeMap<String, String> {
    plan.tables
        .all()
        .iter()
        .map(|t| {
            let name = std::env::var(table_env_var(&t.logical)).ok().filter(|v| !v.is_empty());
            (t.logical.clone(), name.unwrap_or_else(|| t.name.clone()))
        })
        .collect()
}

/// The plan's tables with the physical names of [`table_names`].
pub fn tables_from_env(plan: &Plan) -> TablesPlan {
    let names = table_names(plan);
    let mut tables = plan.tables.clone();
    for table in [&mut tables.orders, &mut tables.inventory, &mut tables.ledger, &mut tables.idempotency] {
        if let Some(name) = names.get(&table.logical) {
            table.name.clone_from(name);
        }
    }
    tables
}

/// The deployment stage ([`ENV_STAGE`]), empty when not set.
pub fn stage() -> String {
    std::env::var(ENV_STAGE).unwrap_or_default()
}

fn env_suffix(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

/// Reads the plan a glue binary embeds, refusing one written for another runtime.
pub fn load_plan(json: &str) -> Result<Arc<Plan>, LambdaError> {
    Ok(Arc::new(Plan::from_json(json)?))
}

/// Starts JSON logs on stdout: one flat object per line, the fields of the enclosing spans
/// (`request_id`, `order_id`, `step`, `attempt`, ...) included ([`crate::telemetry::logs::FlatJson`]),
/// filtered by [`ENV_LOG_LEVEL`] (what the template's `LogLevel` parameter sets), else `RUST_LOG`,
/// else `info`. Does nothing when a subscriber is already installed.
pub fn init_tracing() {
    let filter = crate::telemetry::logs::filter_from_env(&[ENV_LOG_LEVEL, "RUST_LOG"]);
    let _ = tracing::subscriber::set_global_default(crate::telemetry::logs::json_subscriber(filter, std::io::stdout));
}

/// The metrics of this function: EMF lines on stdout, for the plan's pipeline and [`stage`].
pub fn emf(plan: &Plan) -> Arc<Emf> {
    Arc::new(Emf::stdout(&plan.name, &stage()))
}

/// The AWS SDK configuration from the environment, over rustls with the ring provider (no aws-lc,
/// no second HTTP stack).
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config_loader().load().await
}

/// The loader behind [`aws_config`], to adjust before loading (an endpoint, credentials, ...).
pub fn aws_config_loader() -> aws_config::ConfigLoader {
    use aws_smithy_http_client::tls;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http)
}

/// The `main` of a step or compensation function: logs, the embedded plan, then answers
/// invocations with the handler `registry` gives the function until the runtime stops.
pub async fn run_step(plan_json: &str, function: Function, registry: Registry) -> Result<(), Error> {
    init_tracing();
    let plan = load_plan(plan_json)?;
    let metrics = emf(&plan);
    let handler = Arc::new(StepFunction::new(plan, function, &registry)?);
    tracing::info!(function = %handler.function(), stage = %stage(), "step function ready");
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
        let handler = handler.clone();
        let metrics = metrics.clone();
        async move {
            metrics.invocation(&handler.function().name());
            let span = tracing::info_span!("invocation", request_id = %event.context.request_id);
            Ok::<StepResponse, Error>(handler.handle(event.payload).instrument(span).await)
        }
    }))
    .await
}

/// The `main` of the API function on AWS: [`run_api`] over a [`DynamoStore`] of the tables named
/// by the environment ([`tables_from_env`]).
pub async fn run_api_on_dynamodb(plan_json: &str) -> Result<(), Error> {
    let plan = load_plan(plan_json)?;
    let store = DynamoStore::new(client_from_env().await, &tables_from_env(&plan));
    run_api(plan_json, Arc::new(store)).await
}

/// The `main` of the stream processor on AWS: logs, the embedded plan, an [`Engine`] over a
/// [`DynamoStore`] (tables from [`tables_from_env`]) whose steps and compensations run in their own
/// functions ([`LambdaStepHandler::from_env`]), then answers DynamoDB Streams batches with
/// [`crate::streams::handle_event`] (partial batch responses) until the runtime stops.
pub async fn run_stream_processor(plan_json: &str) -> Result<(), Error> {
    init_tracing();
    let plan = load_plan(plan_json)?;
    let invoker = LambdaStepHandler::from_env(invoke::lambda_client(&aws_config().await), &plan)?;
    let registry = invoker_registry(&plan, Arc::new(invoker));
    let store = DynamoStore::new(client_from_env().await, &tables_from_env(&plan));
    let metrics = emf(&plan);
    let mut engine = Engine::with_registry(plan, Arc::new(store), registry);
    engine.observe(metrics.clone());
    let engine = Arc::new(engine);
    tracing::info!(stage = %stage(), "stream processor ready");
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<aws_lambda_events::dynamodb::Event>| {
            let engine = engine.clone();
            let metrics = metrics.clone();
            async move { Ok::<_, Error>(handle_stream_invocation(&engine, &metrics, event).await) }
        },
    ))
    .await
}

/// One invocation of the stream processor: [`crate::streams::process_event`] in a span
/// `invocation{request_id}` (the Lambda request id; each record adds `record{event_id}`, the engine
/// `order{order_id, step}` and `attempt{step, attempt}`), the cold start and the failed records
/// counted in `metrics`, and the partial batch response. (The engine reports its transitions to
/// `metrics` itself when `metrics` observes it.)
pub async fn handle_stream_invocation(
    engine: &Engine,
    metrics: &Emf,
    event: lambda_runtime::LambdaEvent<aws_lambda_events::dynamodb::Event>,
) -> aws_lambda_events::streams::DynamoDbEventResponse {
    metrics.invocation(&Function::StreamProcessor.name());
    let span = tracing::info_span!("invocation", request_id = %event.context.request_id);
    let report = crate::streams::process_event(engine, &event.payload).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            records = report.records,
            processed = report.processed,
            ignored = report.ignored,
            failed = report.failures.len(),
            "batch processed"
        );
    });
    metrics.batch_item_failures(report.failures.len());
    report.response()
}

/// The `main` of the API function: logs, the embedded plan, then answers API Gateway proxy events
/// with `crate::api::Api` over `store` until the runtime stops.
pub async fn run_api(plan_json: &str, store: Arc<dyn Store>) -> Result<(), Error> {
    init_tracing();
    let plan = load_plan(plan_json)?;
    let metrics = emf(&plan);
    let mut api = crate::api::Api::new(plan, store);
    api.observe(metrics.clone());
    let api = Arc::new(api);
    tracing::info!(stage = %stage(), "API function ready");
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<aws_lambda_events::apigw::ApiGatewayProxyRequest>| {
            let api = api.clone();
            let metrics = metrics.clone();
            async move {
                metrics.invocation(&Function::Api.name());
                Ok::<_, Error>(api::handle(&api, event).await)
            }
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_variables_keep_functions_apart() {
        assert_eq!(Function::Api.name(), "api");
        assert_eq!(Function::StreamProcessor.name(), "stream-processor");
        assert_eq!(Function::step("charge-payment").name(), "step-charge-payment");
        assert_eq!(Function::step("charge-payment").env_var(), "ORCHGEN_FUNCTION_STEP_CHARGE_PAYMENT");
        assert_eq!(Function::compensation("charge-payment").env_var(), "ORCHGEN_FUNCTION_COMPENSATION_CHARGE_PAYMENT");
        assert_ne!(Function::step("api").name(), Function::Api.name());
        assert_eq!(table_env_var("orders"), "ORCHGEN_TABLE_ORDERS");
    }
}
