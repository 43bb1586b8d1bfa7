//! Running the step at an order's cursor, and what its terminal failure does to the order.
//!
//! Success: one transition with the step's status, the cursor moved on, the attempts in the
//! history, the charge / shipment / custom output set, and the step's effects. An effect the store
//! refuses (`OUT_OF_STOCK`, ...) is a terminal failure of the step.
//!
//! Terminal failure (a terminal error, or a retryable one on the last attempt):
//! - a `validate` step with nothing to undo and `on_failure` other than `continue` → `REJECTED`;
//! - `continue` → the failure stays in the history, the cursor moves on, the status is unchanged;
//! - `compensate` with compensations to run → `COMPENSATING` with `compensate_on_failure` pending;
//! - `compensate` with nothing to undo, or `fail` → `FAILED`.
//!
//! `failure` is set on every outcome but `continue`.

use crate::order::{Failure, HistoryEntry, Order, Outcome};
use crate::plan::{OnFailure, StepAction, StepPlan, status};
use crate::steps::{StepError, StepInput};

use tracing::Instrument;

use super::attempt::{Attempts, Run};
use super::{Committed, Engine, ProcessError, effect_error_code, idempotency_key, next_version};

impl Engine {
    /// Runs `plan.steps[index]` for the order (the caller checked `index < steps.len()`).
    pub(super) async fn run_step(&self, order: Order, index: usize) -> Result<(), ProcessError> {
        let Some(step) = self.plan.steps.get(index) else {
            return Err(ProcessError::InvalidState {
                reason: format!("no step at cursor {index}"),
                order_id: order.order_id,
            });
        };
        tracing::Span::current().record("step", step.name.as_str());
        let handler = self.registry.step(step);
        let key = idempotency_key(&order.order_id, &step.name);
        let run = Run {
            plan: &self.plan,
            handler: &*handler,
            name: &step.name,
            retry: &step.retry,
            timeout_ms: step.timeout_ms,
            metrics: &self.metrics,
        };
        let attempts = run
            .attempts(|attempt| StepInput {
                order: order.clone(),
                step: step.clone(),
                compensation: None,
                attempt,
                idempotency_key: key.clone(),
            })
            .await;
        let span = attempts.span.clone();
        self.finish_step(&order, step, index, attempts).instrument(span).await
    }

    /// Commits the step's outcome (in the span of its last attempt).
    async fn finish_step(
        &self,
        order: &Order,
        step: &StepPlan,
        index: usize,
        attempts: Attempts,
    ) -> Result<(), ProcessError> {
        let mut history = attempts.history;
        let output = match attempts.result {
            Ok(output) => output,
            Err(error) => return self.fail_step(order, step, index, error, history).await,
        };

        let mut next = next_version(order);
        next.status = step.status.clone();
        next.cursor = index + 1;
        next.history.extend(history.iter().cloned());
        if let Some(charge) = output.charge {
            next.charge = Some(charge);
        }
        if let Some(shipment) = output.shipment {
            next.shipment = Some(shipment);
        }
        if let Some(value) = output.output {
            next.outputs.insert(step.name.clone(), value);
        }
        match self.commit(order, next, output.effects).await? {
            Committed::Done | Committed::Conflict => Ok(()),
            Committed::Effect(e) => {
                let error = StepError::terminal(effect_error_code(&e), e.to_string());
                tracing::warn!(%error, "the store refused the step's effect");
                mark_last_failed(&mut history, &error);
                self.fail_step(order, step, index, error, history).await
            }
        }
    }

    /// Applies the step's failure policy in one transition.
    async fn fail_step(
        &self,
        order: &Order,
        step: &StepPlan,
        index: usize,
        error: StepError,
        history: Vec<HistoryEntry>,
    ) -> Result<(), ProcessError> {
        let mut next = next_version(order);
        next.history.extend(history);
        let failure = Failure {
            step: step.name.clone(),
            code: error.code().to_owned(),
            message: error.message().to_owned(),
            fields: error.fields().to_vec(),
        };
        let rejects = matches!(step.action, StepAction::Validate(_))
            && step.compensate_on_failure.is_empty()
            && step.on_failure != OnFailure::Continue;
        if rejects {
            next.status = status::REJECTED.to_owned();
            next.failure = Some(failure);
        } else {
            match step.on_failure {
                OnFailure::Continue => {
                    tracing::info!(order_id = %order.order_id, step = %step.name, %error, "step failed, continuing");
                    next.cursor = index + 1;
                }
                OnFailure::Compensate if !step.compensate_on_failure.is_empty() => {
                    next.status = status::COMPENSATING.to_owned();
                    next.pending_compensations = step.compensate_on_failure.clone();
                    next.failure = Some(failure);
                }
                OnFailure::Compensate | OnFailure::Fail => {
                    next.status = status::FAILED.to_owned();
                    next.failure = Some(failure);
                }
            }
        }
        self.commit_without_effects(order, next).await
    }
}

/// Turns the last attempt (which succeeded before its commit was refused) into a failure.
pub(super) fn mark_last_failed(history: &mut [HistoryEntry], error: &StepError) {
    if let Some(last) = history.last_mut() {
        last.outcome = Outcome::Failed;
        last.error = Some(error.to_string());
    }
}
