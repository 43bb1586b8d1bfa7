//! Steps: the [`StepHandler`] trait that built-in and custom steps implement, and the built-ins.
//!
//! A handler decides; it does not write. It returns the [`Effect`]s of its decision and the engine
//! commits them with the order's transition, conditioned on the order's version — so a handler
//! may run more than once for one order (re-delivery, crash) and still act once.
//!
//! Built-ins, one module each: [`validate`], [`reserve`] (`reserve_inventory`), [`release`]
//! (`release_inventory`), [`charge`] (`charge_payment`), [`refund`] (`refund_payment`), [`fulfil`],
//! [`notify`]. User code plugs in through [`custom`] ([`CustomStep`], or [`StepHandler`] directly);
//! the [`registry`] maps every step and compensation of a plan to its handler.

pub mod charge;
pub mod custom;
pub mod fulfil;
pub mod http;
pub mod notify;
pub mod refund;
pub mod registry;
pub mod release;
pub mod reserve;
pub(crate) mod util;
pub mod validate;

use async_trait::async_trait;

use crate::order::{Charge, FieldError, Order, Shipment};
use crate::plan::{CompensationPlan, Plan, StepPlan};
use crate::store::Effect;

pub use custom::{CustomContext, CustomStep, FnStep};
pub use registry::Registry;

/// The key a step passes to external services ([`StepInput::idempotency_key`]): stable for one
/// order and step (or compensation).
pub fn idempotency_key(order_id: &str, name: &str) -> String {
    format!("{order_id}:{name}")
}

/// What a step receives. It travels as JSON to a step's own Lambda function (see `lambda::step`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepInput {
    /// The order as it is before the step.
    pub order: Order,
    /// The step's settings. For a compensation, the step it undoes (the one declaring it).
    pub step: StepPlan,
    /// The compensation being run, `None` for a step.
    pub compensation: Option<CompensationPlan>,
    /// The attempt, from 1.
    pub attempt: u32,
    /// Stable for one order and step across attempts and re-deliveries: pass it to external
    /// services so that they act once.
    pub idempotency_key: String,
}

/// What a successful step produces. Missing fields read as empty when decoded from JSON.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct StepOutput {
    /// Changes to commit with the order's transition.
    pub effects: Vec<Effect>,
    /// The charge, for payment steps.
    pub charge: Option<Charge>,
    /// The shipment, for fulfilment steps.
    pub shipment: Option<Shipment>,
    /// A custom step's typed output, kept on the order under the step's name.
    pub output: Option<serde_json::Value>,
}

/// How a step failed. As JSON: `{"class": "retryable" | "terminal" | "rejected", "code", "message",
/// "fields"}`.
///
/// `Rejected` is a refusal: the step decided, deliberately and for good, that this order does not go
/// on (an invalid order, stock that is not there, a declined payment, a service saying no). The
/// order ends `REJECTED` when nothing is to undo and `CANCELLED` after its compensations. `Terminal`
/// and an exhausted `Retryable` are faults — something broke — and end the order `FAILED` (after its
/// compensations, when the step's policy is `compensate`).
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "class", rename_all = "snake_case")]
pub enum StepError {
    /// Worth another attempt (a timeout, a flaky dependency).
    #[error("{code}: {message}")]
    Retryable {
        /// Machine-readable code.
        code: String,
        /// Explanation.
        message: String,
        /// The least wait before the next attempt that the failing service asked for (an HTTP
        /// `Retry-After`), in milliseconds; the engine waits the longer of it (bounded by the
        /// step's timeout) and the retry policy's delay.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    /// A fault another attempt would not fix (a misconfiguration, a handler that is not there, an
    /// answer the step cannot keep).
    #[error("{code}: {message}")]
    Terminal {
        /// Machine-readable code.
        code: String,
        /// Explanation.
        message: String,
        /// Field-level reasons.
        #[serde(default)]
        fields: Vec<FieldError>,
    },
    /// A refusal: the order does not go on, by decision (an invalid order, out of stock, a declined
    /// payment, a service's 4xx refusal). Never retried.
    #[error("{code}: {message}")]
    Rejected {
        /// Machine-readable code, e.g. `OUT_OF_STOCK`, `CARD_DECLINED`.
        code: String,
        /// Explanation.
        message: String,
        /// Field-level reasons (validation).
        #[serde(default)]
        fields: Vec<FieldError>,
    },
}

impl StepError {
    /// A retryable error.
    pub fn retryable(code: impl Into<String>, message: impl Into<String>) -> StepError {
        StepError::Retryable { code: code.into(), message: message.into(), retry_after_ms: None }
    }

    /// A retryable error after which the next attempt should wait at least `after`.
    pub fn retryable_after(
        code: impl Into<String>,
        message: impl Into<String>,
        after: std::time::Duration,
    ) -> StepError {
        StepError::Retryable {
            code: code.into(),
            message: message.into(),
            retry_after_ms: Some(u64::try_from(after.as_millis()).unwrap_or(u64::MAX)),
        }
    }

    /// The least wait before the next attempt the failing service asked for, if any.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            StepError::Retryable { retry_after_ms, .. } => retry_after_ms.map(std::time::Duration::from_millis),
            StepError::Terminal { .. } | StepError::Rejected { .. } => None,
        }
    }

    /// A terminal fault.
    pub fn terminal(code: impl Into<String>, message: impl Into<String>) -> StepError {
        StepError::Terminal { code: code.into(), message: message.into(), fields: Vec::new() }
    }

    /// A refusal: the order does not go on, by the step's decision (see [`StepError::Rejected`]).
    ///
    /// ```
    /// use orchgen_runtime::steps::{CustomContext, StepError};
    ///
    /// pub async fn credit_check(ctx: CustomContext) -> Result<(), StepError> {
    ///     if ctx.order.total_cents > 100_000 {
    ///         return Err(StepError::reject("CREDIT_LIMIT", "orders above $1,000 need a credit check"));
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub fn reject(code: impl Into<String>, message: impl Into<String>) -> StepError {
        StepError::Rejected { code: code.into(), message: message.into(), fields: Vec::new() }
    }

    /// Whether this is a refusal rather than a fault.
    pub fn is_refusal(&self) -> bool {
        matches!(self, StepError::Rejected { .. })
    }

    /// The error's code.
    pub fn code(&self) -> &str {
        match self {
            StepError::Retryable { code, .. } | StepError::Terminal { code, .. } | StepError::Rejected { code, .. } => {
                code
            }
        }
    }

    /// The error's explanation.
    pub fn message(&self) -> &str {
        match self {
            StepError::Retryable { message, .. }
            | StepError::Terminal { message, .. }
            | StepError::Rejected { message, .. } => message,
        }
    }

    /// Field-level reasons (empty unless a terminal validation error).
    pub fn fields(&self) -> &[FieldError] {
        match self {
            StepError::Retryable { .. } => &[],
            StepError::Terminal { fields, .. } | StepError::Rejected { fields, .. } => fields,
        }
    }

    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StepError::Retryable { .. })
    }
}

impl StepInput {
    /// The name of what runs: the compensation's name for a compensation, else the step's.
    pub fn name(&self) -> &str {
        self.compensation.as_ref().map_or(&self.step.name, |c| &c.name)
    }
}

/// A step (or compensation) implementation.
#[async_trait]
pub trait StepHandler: Send + Sync + 'static {
    /// Runs one attempt.
    async fn call(&self, plan: &Plan, input: StepInput) -> Result<StepOutput, StepError>;
}
