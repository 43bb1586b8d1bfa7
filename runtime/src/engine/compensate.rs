//! Running an order's compensations, first pending first, one per processed record.
//!
//! A pending compensation whose step never succeeded (it failed with `on_failure: continue`) has
//! nothing to undo and is dropped without running. A compensation that succeeds is dropped from
//! `pending_compensations` (its last attempt is recorded `compensated`); when none remain the order
//! goes in the same transition to `CANCELLED` when a step had refused it, to `FAILED` when a fault
//! had stopped it (its `failure.kind`). A compensation that fails terminally or
//! exhausts its attempts (or whose effect the store refuses) makes the order `FAILED` with code
//! `COMPENSATION_FAILED`, the original failure quoted in the message and the compensations left
//! undone kept in `pending_compensations`: an order is never stuck in `COMPENSATING`.

use crate::order::{Failure, FailureKind, HistoryEntry, Order, Outcome};
use crate::plan::status;
use crate::steps::{StepError, StepInput};

use tracing::Instrument;

use super::attempt::{Attempts, Run};
use super::metrics::bump;
use super::step::mark_last_failed;
use super::{Committed, Engine, ProcessError, effect_error_code, idempotency_key, next_version};

/// The code of an order whose compensation failed.
pub const COMPENSATION_FAILED: &str = "COMPENSATION_FAILED";

impl Engine {
    /// Runs the order's first pending compensation (or cancels the order when none is left).
    pub(super) async fn compensate(&self, order: Order) -> Result<(), ProcessError> {
        let mut pending = order.pending_compensations.clone();
        while let Some(first) = pending.first()
            && !self.has_something_to_undo(&order, first)
        {
            tracing::info!(step = %first, attempt = 0u32, "compensation has nothing to undo, skipped");
            pending.remove(0);
        }
        let Some(name) = pending.first().cloned() else {
            let mut next = next_version(&order);
            next.status = undone_status(&order).to_owned();
            next.pending_compensations.clear();
            return self.commit_without_effects(&order, next).await;
        };
        let compensation = self.plan.compensations.get(&name);
        let step = self.plan.steps.iter().find(|s| s.compensation.as_deref() == Some(name.as_str()));
        let (Some(compensation), Some(step)) = (compensation, step) else {
            let error = StepError::terminal("UNKNOWN_COMPENSATION", format!("no step of the plan declares `{name}`"));
            return self.compensation_failed(&order, &name, &error, Vec::new()).await;
        };

        tracing::Span::current().record("step", name.as_str());
        let handler = self.registry.compensation(compensation);
        let key = idempotency_key(&order.order_id, &name);
        let run = Run {
            plan: &self.plan,
            handler: &*handler,
            name: &name,
            retry: &compensation.retry,
            timeout_ms: compensation.timeout_ms,
            metrics: &self.metrics,
        };
        let attempts = run
            .attempts(|attempt| StepInput {
                order: order.clone(),
                step: step.clone(),
                compensation: Some(compensation.clone()),
                attempt,
                idempotency_key: key.clone(),
            })
            .await;
        let span = attempts.span.clone();
        self.finish_compensation(&order, &name, pending, attempts).instrument(span).await
    }

    /// Commits the compensation's outcome (in the span of its last attempt).
    async fn finish_compensation(
        &self,
        order: &Order,
        name: &str,
        mut pending: Vec<String>,
        attempts: Attempts,
    ) -> Result<(), ProcessError> {
        let mut history = attempts.history;
        let output = match attempts.result {
            Ok(output) => output,
            Err(error) => return self.compensation_failed(order, name, &error, history).await,
        };
        if let Some(last) = history.last_mut() {
            last.outcome = Outcome::Compensated;
        }

        pending.remove(0);
        let mut next = next_version(order);
        next.history.extend(history.iter().cloned());
        next.status = if pending.is_empty() { undone_status(order) } else { status::COMPENSATING }.to_owned();
        next.pending_compensations = pending;
        if let Some(charge) = output.charge {
            next.charge = Some(charge);
        }
        if let Some(shipment) = output.shipment {
            next.shipment = Some(shipment);
        }
        match self.commit(order, next, output.effects).await? {
            Committed::Done => {
                bump(&self.metrics.compensations);
                Ok(())
            }
            Committed::Conflict => Ok(()),
            Committed::Effect(e) => {
                let error = StepError::terminal(effect_error_code(&e), e.to_string());
                mark_last_failed(&mut history, &error);
                self.compensation_failed(order, name, &error, history).await
            }
        }
    }

    /// Whether the step(s) declaring `compensation` succeeded for this order (unknown compensations
    /// count as having something to undo, so that they fail loudly).
    fn has_something_to_undo(&self, order: &Order, compensation: &str) -> bool {
        let mut steps = self.plan.steps.iter().filter(|s| s.compensation.as_deref() == Some(compensation)).peekable();
        if steps.peek().is_none() {
            return true;
        }
        steps.any(|s| order.history.iter().any(|h| h.step == s.name && h.outcome == Outcome::Succeeded))
    }

    /// The order is FAILED: a compensation could not run.
    async fn compensation_failed(
        &self,
        order: &Order,
        name: &str,
        error: &StepError,
        history: Vec<HistoryEntry>,
    ) -> Result<(), ProcessError> {
        let attempts = history.len();
        let mut next = next_version(order);
        next.history.extend(history);
        next.status = status::FAILED.to_owned();
        let original = order
            .failure
            .as_ref()
            .map(|f| format!("; the order had failed at step `{}`: {}: {}", f.step, f.code, f.message))
            .unwrap_or_default();
        next.failure = Some(Failure {
            kind: FailureKind::Fault,
            step: name.to_owned(),
            code: COMPENSATION_FAILED.to_owned(),
            message: format!("compensation `{name}` failed after {attempts} attempt(s): {error}{original}"),
            fields: Vec::new(),
        });
        tracing::error!(order_id = %order.order_id, compensation = %name, %error, "compensation failed");
        self.commit_without_effects(order, next).await
    }
}

/// The status of an order whose compensations all ran: `CANCELLED` after a refusal, `FAILED` after a
/// fault.
fn undone_status(order: &Order) -> &'static str {
    match order.failure.as_ref().map(|f| f.kind) {
        Some(FailureKind::Refusal) => status::CANCELLED,
        Some(FailureKind::Fault) | None => status::FAILED,
    }
}
