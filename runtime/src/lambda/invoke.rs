//! Calling a step's own Lambda function from the stream processor.
//!
//! [`LambdaStepHandler`] is a [`StepHandler`] that sends the [`StepInput`] to the function of the
//! step (or compensation) with a synchronous `Invoke` (`RequestResponse`) and reads the
//! [`StepResponse`] back (the contract is in [`super::step`]). [`invoker_registry`] makes it the
//! handler of every step and compensation of a plan, so the engine runs unchanged on Lambda.
//!
//! Failures of the call itself are classified for the engine's retry policy:
//! - the function broke (`FunctionError`: a crash, its own timeout) → retryable `FUNCTION_ERROR`;
//! - Lambda throttled the call (`TooManyRequestsException`) → retryable `THROTTLED`;
//! - the function does not exist → terminal `FUNCTION_NOT_FOUND`;
//! - Lambda refused the request as such (too large, invalid) → terminal `INVOKE_REJECTED`;
//! - anything else (network, service errors, time-outs) → retryable `INVOKE_FAILED`;
//! - an answer that is not a [`StepResponse`] → terminal `INVALID_STEP_RESPONSE`.
//!
//! The SDK's own retries are turned off ([`lambda_client`]): the step's retry policy in the plan
//! decides how often and when to try again; so are its operation time-outs: the step's `timeout`
//! bounds the call (a step function may run far longer than any one DynamoDB request).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata as _, SdkError};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;

use crate::plan::Plan;
use crate::steps::{Registry, StepError, StepHandler, StepInput, StepOutput};

use super::step::StepResponse;
use super::{ENV_FUNCTION_PREFIX, Function, LambdaError, step_functions};

/// Code of a function that broke while running the step.
pub const FUNCTION_ERROR: &str = "FUNCTION_ERROR";
/// Code of a call Lambda throttled.
pub const THROTTLED: &str = "THROTTLED";
/// Code of a call to a function that does not exist.
pub const FUNCTION_NOT_FOUND: &str = "FUNCTION_NOT_FOUND";
/// Code of a request Lambda refused as such.
pub const INVOKE_REJECTED: &str = "INVOKE_REJECTED";
/// Code of a call that failed otherwise.
pub const INVOKE_FAILED: &str = "INVOKE_FAILED";
/// Code of an answer that is not a step response.
pub const INVALID_RESPONSE: &str = "INVALID_STEP_RESPONSE";
/// Code of a step or compensation with no function configured.
pub const NO_FUNCTION: &str = "NO_FUNCTION";

/// Lambda error codes after which another attempt would fail the same way.
const REJECTED: [&str; 4] = [
    "InvalidParameterValueException",
    "InvalidRequestContentException",
    "RequestTooLargeException",
    "UnsupportedMediaTypeException",
];

/// A Lambda client for invoking steps, from a shared configuration ([`crate::aws::sdk_config`]):
/// the SDK's retries off (the plan's retry policy applies) and no operation or attempt time-out (the
/// step's `timeout` applies); the connect time-out stays.
pub fn lambda_client(config: &aws_config::SdkConfig) -> aws_sdk_lambda::Client {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .disable_operation_timeout()
        .disable_operation_attempt_timeout()
        .build();
    let config = aws_sdk_lambda::config::Builder::from(config)
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
        .timeout_config(timeouts)
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

/// The Lambda function name (or ARN) of every step function of the plan ([`step_functions`]),
/// read with `lookup` (e.g. `|v| std::env::var(v).ok()`): the function's own variable
/// ([`Function::env_var`]), else [`ENV_FUNCTION_PREFIX`] followed by [`Function::name`]. Fails
/// listing every function that has neither.
pub fn function_names(
    plan: &Plan,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<BTreeMap<Function, String>, LambdaError> {
    let get = |var: &str| lookup(var).filter(|v| !v.trim().is_empty());
    let prefix = get(ENV_FUNCTION_PREFIX);
    let mut names = BTreeMap::new();
    let mut missing = Vec::new();
    for function in step_functions(plan) {
        let var = function.env_var();
        match get(&var).or_else(|| prefix.as_ref().map(|p| format!("{p}{}", function.name()))) {
            Some(name) => {
                names.insert(function, name);
            }
            None => missing.push((function.describe(), var)),
        }
    }
    if missing.is_empty() { Ok(names) } else { Err(LambdaError::MissingFunctionNames { missing }) }
}

/// Runs steps and compensations in their own Lambda functions.
#[derive(Debug, Clone)]
pub struct LambdaStepHandler {
    client: aws_sdk_lambda::Client,
    names: BTreeMap<Function, String>,
}

impl LambdaStepHandler {
    /// Invokes the functions `names` (function → Lambda function name or ARN) with `client`.
    pub fn new(client: aws_sdk_lambda::Client, names: BTreeMap<Function, String>) -> LambdaStepHandler {
        LambdaStepHandler { client, names }
    }

    /// Invokes the plan's step functions under the names in the environment ([`function_names`]).
    pub fn from_env(client: aws_sdk_lambda::Client, plan: &Plan) -> Result<LambdaStepHandler, LambdaError> {
        Ok(LambdaStepHandler::new(client, function_names(plan, |v| std::env::var(v).ok())?))
    }

    /// The Lambda function name invoked for `function`.
    pub fn function_name(&self, function: &Function) -> Option<&str> {
        self.names.get(function).map(String::as_str)
    }

    async fn invoke(&self, function_name: &str, payload: Vec<u8>) -> Result<StepOutput, StepError> {
        let sent = self
            .client
            .invoke()
            .function_name(function_name)
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(payload))
            .send()
            .await;
        let output = match sent {
            Ok(output) => output,
            Err(SdkError::ServiceError(e)) => {
                let err = e.err();
                let code = err.code().unwrap_or("unknown");
                let detail = format!("{code}: {}", err.message().unwrap_or("no message"));
                return Err(match code {
                    "TooManyRequestsException" => StepError::retryable(
                        THROTTLED,
                        format!("Lambda throttled the call to `{function_name}`: {detail}"),
                    ),
                    "ResourceNotFoundException" => StepError::terminal(
                        FUNCTION_NOT_FOUND,
                        format!("the function `{function_name}` does not exist: {detail}"),
                    ),
                    c if REJECTED.contains(&c) => StepError::terminal(
                        INVOKE_REJECTED,
                        format!("Lambda refused the call to `{function_name}`: {detail}"),
                    ),
                    _ => StepError::retryable(INVOKE_FAILED, format!("calling `{function_name}` failed: {detail}")),
                });
            }
            Err(e) => {
                return Err(StepError::retryable(
                    INVOKE_FAILED,
                    format!("calling `{function_name}` failed: {}", DisplayErrorContext(&e)),
                ));
            }
        };
        let body = output.payload().map(|b| b.as_ref()).unwrap_or_default();
        if let Some(kind) = output.function_error() {
            return Err(StepError::retryable(
                FUNCTION_ERROR,
                format!("the function `{function_name}` failed ({kind}): {}", function_error_message(body)),
            ));
        }
        match serde_json::from_slice::<StepResponse>(body) {
            Ok(response) => response.into_result(),
            Err(e) => Err(StepError::terminal(
                INVALID_RESPONSE,
                format!(
                    "the function `{function_name}` answered something that is not a step response ({e}): {}",
                    snippet(body)
                ),
            )),
        }
    }
}

#[async_trait]
impl StepHandler for LambdaStepHandler {
    async fn call(&self, _plan: &Plan, input: StepInput) -> Result<StepOutput, StepError> {
        let function = match &input.compensation {
            Some(c) => Function::Compensation(c.name.clone()),
            None => Function::Step(input.step.name.clone()),
        };
        let Some(function_name) = self.names.get(&function) else {
            return Err(StepError::terminal(
                NO_FUNCTION,
                format!("no Lambda function is configured for {}", function.describe()),
            ));
        };
        let payload = serde_json::to_vec(&input)
            .map_err(|e| StepError::terminal(INVOKE_REJECTED, format!("the step input does not serialise: {e}")))?;
        self.invoke(function_name, payload).await
    }
}

/// A registry in which every step and compensation of the plan runs through `handler` (custom
/// and `http` ones included: each runs in its own function, which holds its secrets).
pub fn invoker_registry(plan: &Plan, handler: Arc<LambdaStepHandler>) -> Registry {
    let handler: Arc<dyn StepHandler> = handler;
    let mut registry = Registry::uniform(handler.clone());
    let steps = plan.steps.iter().filter_map(|s| match &s.action {
        crate::plan::StepAction::Custom(h) => Some(h.function.clone()),
        _ => None,
    });
    let compensations = plan.compensations.values().filter_map(|c| match &c.action {
        crate::plan::CompensationAction::Custom(h) => Some(h.function.clone()),
        _ => None,
    });
    for function in steps.chain(compensations) {
        registry.register(function, handler.clone());
    }
    registry
}

/// The message of a Lambda function error payload (`{"errorType", "errorMessage"}`), or the raw text.
fn function_error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Payload {
        #[serde(rename = "errorType", default)]
        error_type: String,
        #[serde(rename = "errorMessage", default)]
        error_message: String,
    }
    match serde_json::from_slice::<Payload>(body) {
        Ok(p) if !p.error_type.is_empty() || !p.error_message.is_empty() => {
            format!("{} {}", p.error_type, p.error_message).trim().to_owned()
        }
        _ => snippet(body),
    }
}

/// At most 200 characters of a body, for messages.
fn snippet(body: &[u8]) -> String {
    crate::steps::util::excerpt(&String::from_utf8_lossy(body), "(empty)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::{AwsOptions, DEFAULT_CONNECT_TIMEOUT, sdk_config};

    #[tokio::test]
    async fn the_lambda_client_leaves_retries_and_time_limits_to_the_plan() {
        let shared = sdk_config(&AwsOptions::local_endpoint("http://127.0.0.1:9", "us-east-1")).await;
        let client = lambda_client(&shared);
        let config = client.config();
        assert_eq!(config.retry_config().map(|r| r.max_attempts()), Some(1));
        let timeouts = config.timeout_config().expect("time-outs");
        assert_eq!(timeouts.operation_attempt_timeout(), None);
        assert_eq!(timeouts.operation_timeout(), None);
        assert_eq!(timeouts.connect_timeout(), Some(DEFAULT_CONNECT_TIMEOUT));
    }
}
