//! Running the pipeline on AWS Lambda: what each generated glue binary calls.
//!
//! A pipeline runs as several functions ([`Function`], listed by [`functions`]): the API, the stream
//! processor, and one per step and per compensation (`http` ones excepted: the runtime runs them in
//! the processor, see [`functions`]). The stream processor runs `Engine::process` on every change
//! record and calls each step's own function synchronously through [`invoke::LambdaStepHandler`];
//! a step's function answers with [`step::StepFunction`].
//!
//! The functions of a plan and their environment conventions live in [`crate::functions`] (no
//! feature: `orchgen build` reads them too) and are re-exported here. This module applies them:
//! - the plan is the file `plan.json` shipped next to the binary in the function's zip (not compiled
//!   in: a pipeline edit that changes no code rebuilds nothing, it only zips again), read once at
//!   start-up ([`read_plan`], [`plan_path`]) and checked with [`Plan::from_json`] ([`load_plan`]);
//! - environment variables: [`ENV_STAGE`], [`ENV_LOG_LEVEL`], one per table ([`table_env_var`]) and
//!   one per step function ([`Function::env_var`], with [`ENV_FUNCTION_PREFIX`] as a fallback);
//! - JSON logs on stdout ([`init_tracing`]) and EMF metrics on stdout ([`emf`]: cold starts, orders
//!   created by the API, the stream processor's transitions and failed records);
//! - the AWS SDK configuration: [`crate::aws::sdk_config`] of [`AwsOptions::from_env`] (rustls
//!   with ring, no aws-lc; standard retries; time-outs), one for every client of a function;
//! - `lambda_runtime` wiring, so that a generated `main` is one call: [`run_step`],
//!   [`run_api_on_dynamodb`] ([`run_api`] over any store), [`run_stream_processor`].
//!
//! Modules: [`step`] (a step function's handler), [`invoke`] (calling a step function),
//! [`api`] (the API function's handler).
//!
//! Feature `lambda` (it brings `lambda_runtime` and `aws-sdk-lambda`). [`FnStep`], which the glue
//! registers custom handlers with, lives in [`crate::steps::custom`] (no feature) and is re-exported
//! here.

pub mod api;
pub mod invoke;
pub mod step;

use std::sync::Arc;

use tracing::Instrument;

use crate::aws::{AwsOptions, sdk_config};
use crate::engine::Engine;
use crate::plan::{Plan, PlanError};
use crate::steps::Registry;
use crate::store::Store;
use crate::store::dynamodb::DynamoStore;
use crate::telemetry::Emf;

pub use crate::functions::{
    ENV_FUNCTION_PREFIX, ENV_LOG_LEVEL, ENV_PLAN, ENV_STAGE, Function, PLAN_FILE, functions, stage, step_functions,
    table_env_var, table_names, tables_from_env,
};
pub use invoke::{LambdaStepHandler, invoker_registry};
pub use step::{FnStep, StepFunction, StepResponse};

/// The error type of a glue binary's `main`.
pub type Error = lambda_runtime::Error;

/// Why a Lambda function cannot start. Its `Debug` is its message: a glue `main` returning it prints
/// `Error: <message>` to the function's log.
#[derive(thiserror::Error)]
pub enum LambdaError {
    /// The plan file cannot be read.
    #[error(
        "cannot read the plan {}: {source} (it ships next to `bootstrap` in the function's zip; set {ENV_PLAN} to read another file)",
        path.display()
    )]
    PlanFile {
        /// Where it was looked for.
        path: std::path::PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The plan cannot be read.
    #[error("the plan of this function cannot be read: {0}")]
    Plan(#[from] PlanError),
    /// The function runs a step or compensation the plan does not have.
    #[error("this function runs {function}, which the plan `{pipeline}` does not have")]
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

impl std::fmt::Debug for LambdaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Reads a plan's JSON, refusing one written for another runtime.
pub fn load_plan(json: &str) -> Result<Arc<Plan>, LambdaError> {
    Ok(Arc::new(Plan::from_json(json)?))
}

/// Where this function's plan is: [`ENV_PLAN`] when set; else [`PLAN_FILE`] in the folder Lambda
/// unpacked the zip to (`LAMBDA_TASK_ROOT`, `/var/task`); else next to the running executable (a
/// binary run by hand or by a local Lambda Runtime API).
pub fn plan_path() -> std::path::PathBuf {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(std::path::PathBuf::from);
    if let Some(path) = set(ENV_PLAN) {
        return path;
    }
    if let Some(root) = set("LAMBDA_TASK_ROOT") {
        return root.join(PLAN_FILE);
    }
    let exe = std::env::current_exe().ok();
    exe.as_deref().and_then(std::path::Path::parent).unwrap_or(std::path::Path::new(".")).join(PLAN_FILE)
}

/// The JSON text of this function's plan, from [`plan_path`].
pub fn read_plan() -> Result<String, LambdaError> {
    let path = plan_path();
    std::fs::read_to_string(&path).map_err(|source| LambdaError::PlanFile { path, source })
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

/// The `main` of an `http` step or compensation function: [`run_step`] with the `http` handler
/// reading `${ssm:…}` and `${secretsmanager:…}` secrets from AWS with the function's role
/// ([`crate::secrets::aws`]). A function of its own, so that the other step functions' binaries
/// carry none of the SSM and Secrets Manager clients (feature `aws-secrets`, which the glue asks for
/// only when the pipeline has `http` steps).
#[cfg(feature = "aws-secrets")]
pub async fn run_http_step(plan_json: &str, function: Function, mut registry: Registry) -> Result<(), Error> {
    let sdk = sdk_config(&AwsOptions::from_env()).await;
    let secrets = crate::secrets::aws::AwsSecrets::new(&sdk);
    let source = crate::steps::http::SecretSource::Aws(Arc::new(secrets));
    registry.set_http(Arc::new(crate::steps::http::HttpStep::with_secrets(source)));
    run_step(plan_json, function, registry).await
}

/// The `main` of a step or compensation function: logs, the plan, then answers
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
/// by the environment ([`tables_from_env`]), its client configured by [`AwsOptions::from_env`].
pub async fn run_api_on_dynamodb(plan_json: &str) -> Result<(), Error> {
    let plan = load_plan(plan_json)?;
    let sdk = sdk_config(&AwsOptions::from_env()).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &tables_from_env(&plan));
    run_api(plan_json, Arc::new(store)).await
}

/// The `main` of the stream processor on AWS: logs, the plan, an [`Engine`] over a
/// [`DynamoStore`] (tables from [`tables_from_env`]) whose steps and compensations run in their own
/// functions ([`LambdaStepHandler::from_env`]), then answers DynamoDB Streams batches with
/// [`crate::streams::handle_event`] (partial batch responses) until the runtime stops. Both clients
/// share one configuration ([`AwsOptions::from_env`]); the Lambda client's own retries and
/// operation time-outs are off ([`invoke::lambda_client`]).
pub async fn run_stream_processor(plan_json: &str) -> Result<(), Error> {
    init_tracing();
    let plan = load_plan(plan_json)?;
    let sdk = sdk_config(&AwsOptions::from_env()).await;
    let invoker = LambdaStepHandler::from_env(invoke::lambda_client(&sdk), &plan)?;
    let registry = invoker_registry(&plan, Arc::new(invoker));
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &tables_from_env(&plan));
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

/// The `main` of the API function: logs, the plan, then answers API Gateway proxy events
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
