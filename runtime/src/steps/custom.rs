//! User-supplied steps.
//!
//! A pipeline's `custom` steps and compensations name a Rust function (`HandlerPlan::function`);
//! the user registers a handler under that path (`Engine::register`). Any [`StepHandler`] will do;
//! [`CustomStep`] is the typed convenience: return any `Serialize` value and it is kept on the order
//! (`Order::outputs[step]`), and [`FnStep`] makes one of an `async fn`. A custom step that must
//! change other tables returns [`Effect`]s, so it implements [`StepHandler`] directly.
//!
//! Also here: [`NotRegistered`], the stand-in the registry uses for a function nobody registered
//! (`HANDLER_NOT_REGISTERED`).
//!
//! No feature needed.
//!
//! [`Effect`]: crate::store::Effect

use std::future::Future;

use async_trait::async_trait;
use serde::Serialize;

use crate::order::Order;
use crate::plan::Plan;

use super::{StepError, StepHandler, StepInput, StepOutput};

/// What a [`CustomStep`] receives.
#[derive(Debug, Clone)]
pub struct CustomContext {
    /// The order as it is before the step.
    pub order: Order,
    /// The step's name (for a compensation: the step it undoes).
    pub step: String,
    /// The compensation's name when this runs as a compensation.
    pub compensation: Option<String>,
    /// The attempt, from 1.
    pub attempt: u32,
    /// Stable for one order and step across attempts and re-deliveries.
    pub idempotency_key: String,
}

impl CustomContext {
    /// The context of the first attempt of `step` on `order`, as the engine builds it (the
    /// idempotency key is `<order id>:<step>`): what a custom step's unit test calls it with.
    ///
    /// ```
    /// use orchgen_runtime::order::Order;
    /// use orchgen_runtime::steps::CustomContext;
    ///
    /// let ctx = CustomContext::first_attempt("fraud-check", Order::example());
    /// assert_eq!(ctx.idempotency_key, "01JEXAMPLE0000000000000000:fraud-check");
    /// ```
    pub fn first_attempt(step: &str, order: Order) -> CustomContext {
        CustomContext {
            idempotency_key: super::idempotency_key(&order.order_id, step),
            order,
            step: step.to_owned(),
            compensation: None,
            attempt: 1,
        }
    }
}

/// A typed custom step. Implement it with an `async fn`:
///
/// ```
/// use orchgen_runtime::steps::{CustomContext, CustomStep, StepError};
///
/// struct FraudScore;
///
/// impl CustomStep for FraudScore {
///     type Output = u32;
///     async fn run(&self, ctx: CustomContext) -> Result<u32, StepError> {
///         Ok(ctx.order.items.len() as u32 * 10)
///     }
/// }
/// ```
///
/// Fail with [`StepError::reject`] when the step decides the order does not go on (the order ends
/// `REJECTED`, or `CANCELLED` after its compensations), with [`StepError::retryable`] when another
/// attempt may succeed, with [`StepError::terminal`] when something is broken for good (`FAILED`).
///
/// Every `CustomStep` is a [`StepHandler`]: its output, as JSON, becomes
/// [`StepOutput::output`] and is kept on the order under the step's name (a `null` output, e.g.
/// from `()`, is not kept).
pub trait CustomStep: Send + Sync + 'static {
    /// What the step produces.
    type Output: Serialize + Send;

    /// Runs one attempt.
    fn run(&self, ctx: CustomContext) -> impl Future<Output = Result<Self::Output, StepError>> + Send;
}

#[async_trait]
impl<T: CustomStep> StepHandler for T {
    async fn call(&self, _plan: &Plan, input: StepInput) -> Result<StepOutput, StepError> {
        let ctx = CustomContext {
            step: input.step.name,
            compensation: input.compensation.map(|c| c.name),
            order: input.order,
            attempt: input.attempt,
            idempotency_key: input.idempotency_key,
        };
        let output = self.run(ctx).await?;
        let value = serde_json::to_value(output).map_err(|e| {
            StepError::terminal("OUTPUT_NOT_SERIALIZABLE", format!("the step's output is not valid JSON: {e}"))
        })?;
        Ok(StepOutput { output: (!value.is_null()).then_some(value), ..StepOutput::default() })
    }
}

/// Stand-in for a `custom` handler nobody registered: a terminal `HANDLER_NOT_REGISTERED`.
#[derive(Debug, Clone)]
pub struct NotRegistered {
    /// The function path the plan names.
    pub function: String,
}

#[async_trait]
impl StepHandler for NotRegistered {
    async fn call(&self, _plan: &Plan, input: StepInput) -> Result<StepOutput, StepError> {
        Err(StepError::terminal(
            "HANDLER_NOT_REGISTERED",
            format!(
                "`{}` runs the custom handler `{}`, which is not registered: call Engine::register(\"{}\", handler)",
                input.name(),
                self.function,
                self.function
            ),
        ))
    }
}

/// A custom step written as an `async fn`: what a `custom` step's `handler.function` names. The
/// generated Lambda glue and `orchgen dev`'s host register each handler as `FnStep(path::to::fn)`.
///
/// The function takes a [`CustomContext`] and returns `Result<T, StepError>` for any `T: Serialize`;
/// its output is kept on the order under the step's name (see [`CustomStep`]):
///
/// ```
/// use orchgen_runtime::steps::{CustomContext, FnStep, Registry, StepError};
///
/// pub async fn score(ctx: CustomContext) -> Result<u32, StepError> {
///     Ok(ctx.order.items.len() as u32 * 10)
/// }
///
/// let mut registry = Registry::new();
/// registry.register("fraud_check::score", std::sync::Arc::new(FnStep(score)));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FnStep<F>(pub F);

impl<F, Fut, T> CustomStep for FnStep<F>
where
    F: Fn(CustomContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, StepError>> + Send,
    T: Serialize + Send,
{
    type Output = T;

    fn run(&self, ctx: CustomContext) -> impl Future<Output = Result<T, StepError>> + Send {
        (self.0)(ctx)
    }
}
