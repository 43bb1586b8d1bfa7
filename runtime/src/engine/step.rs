//! Running the step at an order's cursor — or, with `stream.chain_steps`, a chain of steps — and
//! what a terminal failure does to the order.
//!
//! Success: one transition with the step's status, the cursor moved on, the attempts in the
//! history, the charge / shipment / custom output set, and the step's effects. An effect the store
//! refuses (`OUT_OF_STOCK`, ...) is a terminal failure of the step.
//!
//! Terminal failure (a refusal, a terminal fault, or a retryable fault on the last attempt):
//! - `continue` → the failure stays in the history, the cursor moves on, the status is unchanged;
//! - a refusal ([`StepError::Rejected`]) with nothing to undo → `REJECTED`;
//! - `compensate` with compensations to run → `COMPENSATING` with `compensate_on_failure` pending
//!   (they end the order `CANCELLED` after a refusal, `FAILED` after a fault: see `compensate.rs`);
//! - a fault with nothing to undo, or `fail` with something to undo → `FAILED`.
//!
//! `failure` is set on every outcome but `continue`.
//!
//! A chain runs the next step on the order as the previous one left it in memory, and goes on until
//! a step fails (other than `continue`), the last step (the order is then COMPLETED in the same
//! move), a `custom` or `http` step while store effects are pending (an external effect must not
//! happen before the store has accepted the effects it depends on), or the budget: a chained step
//! still running when the budget ends is abandoned and runs again in the next move. The chain is one
//! transition: its effects commit together or not at all. When the store refuses them, nothing was
//! written and only built-in steps (which act on nothing outside the store) ran after the first one,
//! so the move is done again without chaining, which attributes the refusal to its step.

use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;

use crate::order::{Failure, FailureKind, HistoryEntry, Order, Outcome};
use crate::plan::{OnFailure, StepPlan, status};
use crate::steps::{StepError, StepInput, StepOutput};
use crate::store::Effect;

use super::attempt::{Attempts, Run};
use super::{Committed, Engine, ProcessError, effect_error, idempotency_key, next_version};

impl Engine {
    /// Runs `plan.steps[index]` for the order, and the steps after it when the plan chains steps.
    pub(super) async fn run_step(&self, order: Order, index: usize) -> Result<(), ProcessError> {
        if self.plan.stream.chain_steps { self.run_chain(order, index).await } else { self.run_one(order, index).await }
    }

    /// Runs `plan.steps[index]` alone and commits its outcome.
    async fn run_one(&self, order: Order, index: usize) -> Result<(), ProcessError> {
        let step = self.step_at(&order, index)?;
        let attempts = self.attempts(&order, step).await;
        let span = attempts.span.clone();
        self.finish_step(&order, step, index, attempts).instrument(span).await
    }

    fn step_at(&self, order: &Order, index: usize) -> Result<&StepPlan, ProcessError> {
        self.plan.steps.get(index).ok_or_else(|| ProcessError::InvalidState {
            reason: format!("no step at cursor {index}"),
            order_id: order.order_id.clone(),
        })
    }

    /// Every attempt of `step` on `order` (in the order's span, which names the step).
    async fn attempts(&self, order: &Order, step: &StepPlan) -> Attempts {
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
        run.attempts(|attempt| StepInput {
            order: order.clone(),
            step: step.clone(),
            compensation: None,
            attempt,
            idempotency_key: key.clone(),
        })
        .await
    }

    /// Runs steps from `first` on, as long as the chain may go on (see the module docs), and
    /// commits them as one transition.
    async fn run_chain(&self, order: Order, first: usize) -> Result<(), ProcessError> {
        let deadline = Instant::now() + Duration::from_millis(self.plan.stream.chain_budget_ms);
        let mut next = next_version(&order);
        let mut path = vec![order.status.clone()];
        let mut effects = Vec::new();
        let mut span = tracing::Span::current();
        let mut index = first;
        let mut stopped_by_failure = false;
        while let Some(step) = self.plan.steps.get(index) {
            let attempts = if index == first {
                self.attempts(&order, step).await
            } else if (!effects.is_empty() && !step.action.is_builtin()) || Instant::now() >= deadline {
                break;
            } else {
                match tokio::time::timeout_at(deadline, self.attempts(&next, step)).await {
                    Ok(attempts) => attempts,
                    Err(_) => {
                        tracing::info!(step = %step.name, "chain budget spent; the step runs in the next move");
                        break;
                    }
                }
            };
            span = attempts.span.clone();
            match attempts.result {
                Ok(output) => effects.extend(succeed(&mut next, step, index, attempts.history, output)),
                Err(error) => {
                    if !fail(&mut next, step, index, error, attempts.history) {
                        stopped_by_failure = true;
                    }
                }
            }
            if path.last() != Some(&next.status) {
                path.push(next.status.clone());
            }
            if stopped_by_failure {
                break;
            }
            index += 1;
        }
        if !stopped_by_failure && next.cursor == self.plan.steps.len() {
            next.status = status::COMPLETED.to_owned();
            path.push(next.status.clone());
        }
        match self.commit_path(&order, next, effects, &path).instrument(span).await? {
            Committed::Done | Committed::Conflict => Ok(()),
            Committed::Effect(e) => {
                tracing::info!(error = %e, "the store refused the chain's effects; running its first step alone");
                self.run_one(order, first).await
            }
        }
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
        let effects = succeed(&mut next, step, index, history.clone(), output);
        match self.commit(order, next, effects).await? {
            Committed::Done | Committed::Conflict => Ok(()),
            Committed::Effect(e) => {
                let error = effect_error(&e);
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
        fail(&mut next, step, index, error, history);
        self.commit_without_effects(order, next).await
    }
}

/// Applies a step's success to `next`: its status, the cursor past it, its attempts, its outputs.
/// Returns its effects.
fn succeed(
    next: &mut Order,
    step: &StepPlan,
    index: usize,
    history: Vec<HistoryEntry>,
    output: StepOutput,
) -> Vec<Effect> {
    next.status = step.status.clone();
    next.cursor = index + 1;
    next.history.extend(history);
    if let Some(charge) = output.charge {
        next.charge = Some(charge);
    }
    if let Some(shipment) = output.shipment {
        next.shipment = Some(shipment);
    }
    if let Some(value) = output.output {
        next.outputs.insert(step.name.clone(), value);
    }
    output.effects
}

/// Applies the step's failure policy to `next`. Returns whether the order goes on to the next step
/// (`on_failure: continue`).
fn fail(next: &mut Order, step: &StepPlan, index: usize, error: StepError, history: Vec<HistoryEntry>) -> bool {
    next.history.extend(history);
    let refusal = error.is_refusal();
    let failure = Failure {
        kind: if refusal { FailureKind::Refusal } else { FailureKind::Fault },
        step: step.name.clone(),
        code: error.code().to_owned(),
        message: error.message().to_owned(),
        fields: error.fields().to_vec(),
    };
    match step.on_failure {
        OnFailure::Continue => {
            tracing::info!(order_id = %next.order_id, step = %step.name, %error, "step failed, continuing");
            next.cursor = index + 1;
            true
        }
        _ if refusal && step.compensate_on_failure.is_empty() => {
            next.status = status::REJECTED.to_owned();
            next.failure = Some(failure);
            false
        }
        OnFailure::Compensate if !step.compensate_on_failure.is_empty() => {
            next.status = status::COMPENSATING.to_owned();
            next.pending_compensations = step.compensate_on_failure.clone();
            next.failure = Some(failure);
            false
        }
        OnFailure::Compensate | OnFailure::Fail => {
            next.status = status::FAILED.to_owned();
            next.failure = Some(failure);
            false
        }
    }
}

/// Turns the last attempt (which succeeded before its commit was refused) into a failure.
pub(super) fn mark_last_failed(history: &mut [HistoryEntry], error: &StepError) {
    if let Some(last) = history.last_mut() {
        last.outcome = Outcome::Failed;
        last.error = Some(error.to_string());
    }
}
