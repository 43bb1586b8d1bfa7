//! A step's (or compensation's) own Lambda function: one [`StepInput`] in, one [`StepResponse`] out.
//!
//! The wire contract, shared with [`super::invoke`]:
//! - request: a [`StepInput`] as JSON (`order`, `step`, `compensation`, `attempt`,
//!   `idempotency_key`); `step` and `compensation` carry the caller's plan of them;
//! - response: `{"ok": StepOutput}` or `{"error": StepError}`, with the error's class
//!   (`"class": "retryable" | "terminal" | "rejected"`), code and message.
//!
//! A step's failure is an answer, not a function error: Lambda reports a function error only when
//! the function itself broke (a crash, a timeout), which the caller treats as retryable. A panic of
//! the handler becomes a retryable `PANIC` answer; the function keeps serving.
//!
//! The function checks that the request is for it and that the caller's plan of the step equals its
//! own: a request for another step is a terminal `WRONG_FUNCTION`, a plan that differs a retryable
//! `PLAN_MISMATCH` (the functions of one pipeline are updated one by one during a deployment).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt as _;
use serde::{Deserialize, Serialize};

use crate::plan::Plan;
use crate::steps::{Registry, StepError, StepHandler, StepInput, StepOutput};

use super::{Function, LambdaError};

/// Moved to [`crate::steps::custom`] (the local dev host registers custom steps with it too);
/// still reachable here.
pub use crate::steps::custom::FnStep;

/// Code of a request that is not a step input.
pub const INVALID_REQUEST: &str = "INVALID_STEP_REQUEST";
/// Code of a request for another step or compensation.
pub const WRONG_FUNCTION: &str = "WRONG_FUNCTION";
/// Code of a request whose plan of the step differs from the function's.
pub const PLAN_MISMATCH: &str = "PLAN_MISMATCH";
/// Code of a handler that panicked.
pub const PANIC: &str = "PANIC";

/// What a step function answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepResponse {
    /// The step succeeded.
    Ok(StepOutput),
    /// The step failed.
    Error(StepError),
}

impl StepResponse {
    /// The step's result.
    pub fn into_result(self) -> Result<StepOutput, StepError> {
        match self {
            StepResponse::Ok(output) => Ok(output),
            StepResponse::Error(error) => Err(error),
        }
    }
}

impl From<Result<StepOutput, StepError>> for StepResponse {
    fn from(result: Result<StepOutput, StepError>) -> StepResponse {
        match result {
            Ok(output) => StepResponse::Ok(output),
            Err(error) => StepResponse::Error(error),
        }
    }
}

/// The handler of one step or compensation function.
pub struct StepFunction {
    plan: Arc<Plan>,
    function: Function,
    handler: Arc<dyn StepHandler>,
}

impl std::fmt::Debug for StepFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepFunction").field("pipeline", &self.plan.name).field("function", &self.function).finish()
    }
}

impl StepFunction {
    /// The function running `function` (a step or compensation of `plan`) with the handler
    /// `registry` has for it. Fails when the plan has no such step or compensation.
    pub fn new(plan: Arc<Plan>, function: Function, registry: &Registry) -> Result<StepFunction, LambdaError> {
        let unknown = || LambdaError::UnknownFunction { function: function.describe(), pipeline: plan.name.clone() };
        let handler = match &function {
            Function::Step(name) => registry.step(plan.step(name).ok_or_else(unknown)?),
            Function::Compensation(name) => registry.compensation(plan.compensations.get(name).ok_or_else(unknown)?),
            Function::Api | Function::StreamProcessor => return Err(unknown()),
        };
        Ok(StepFunction { plan, function, handler })
    }

    /// The function this handler runs.
    pub fn function(&self) -> &Function {
        &self.function
    }

    /// Answers one invocation. Never fails and never panics.
    pub async fn handle(&self, request: serde_json::Value) -> StepResponse {
        let input: StepInput = match serde_json::from_value(request) {
            Ok(input) => input,
            Err(e) => {
                return StepResponse::Error(StepError::terminal(
                    INVALID_REQUEST,
                    format!("{} received a request that is not a step input: {e}", self.function.describe()),
                ));
            }
        };
        let input = match self.check(input) {
            Ok(input) => input,
            Err(error) => return StepResponse::Error(error),
        };
        let name = input.name().to_owned();
        let attempt = input.attempt;
        let order_id = input.order.order_id.clone();
        let outcome = AssertUnwindSafe(self.handler.call(&self.plan, input)).catch_unwind().await;
        let result = match outcome {
            Ok(result) => result,
            Err(panic) => Err(StepError::retryable(PANIC, format!("the handler panicked: {}", panic_message(&*panic)))),
        };
        match &result {
            // The stream processor logs the move that records the success (`order moved`, naming the
            // steps): a successful attempt repeats it at debug only, as the engine does.
            Ok(_) => tracing::debug!(target: "orchgen::step", step = %name, %order_id, attempt, "step succeeded"),
            Err(e) => tracing::warn!(
                target: "orchgen::step",
                step = %name,
                %order_id,
                attempt,
                code = e.code(),
                retryable = e.is_retryable(),
                error = e.message(),
                "step failed"
            ),
        }
        result.into()
    }

    /// The input, when it is for this function and carries the same plan of the step.
    fn check(&self, mut input: StepInput) -> Result<StepInput, StepError> {
        let asked = match &input.compensation {
            Some(c) => Function::Compensation(c.name.clone()),
            None => Function::Step(input.step.name.clone()),
        };
        if asked != self.function {
            return Err(StepError::terminal(
                WRONG_FUNCTION,
                format!(
                    "{} was asked to run {}: check the function names given to the stream processor",
                    self.function.describe(),
                    asked.describe()
                ),
            ));
        }
        let mismatch = |what: &str| {
            StepError::retryable(
                PLAN_MISMATCH,
                format!(
                    "the caller's plan of {what} differs from the plan of `{}` in this function: deploy the same build to every function",
                    self.plan.name
                ),
            )
        };
        // The step (for a compensation, the step it undoes) must be the one of this function's plan.
        match self.plan.step(&input.step.name) {
            Some(step) if *step == input.step => {}
            _ => return Err(mismatch(&format!("step `{}`", input.step.name))),
        }
        if let Some(compensation) = &input.compensation {
            match self.plan.compensations.get(&compensation.name) {
                Some(own) if own == compensation => {}
                _ => return Err(mismatch(&format!("compensation `{}`", compensation.name))),
            }
        }
        // Identical by the checks above; the function's own plan is authoritative.
        if let Some(step) = self.plan.step(&input.step.name) {
            input.step = step.clone();
        }
        Ok(input)
    }
}

/// The message of a panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}
