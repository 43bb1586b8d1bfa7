//! The engine: executes a [`Plan`] one change record at a time.
//!
//! [`Engine::process`] is THE processing function, shared by the local `processor` (feature `local`)
//! and the Lambda stream processor. A record drives its order one move forward, written as exactly one
//! [`Transition`]: run the step at the order's cursor (with `stream.chain_steps`, the steps from the
//! cursor on, as far as the chain goes), complete the order, or run its next pending compensation.
//! The new order version produces the next change record, which drives the next move.
//!
//! Exactly-once effects follow from the version condition: every transition is conditioned on the
//! version the decision was made from, so processing a record twice, concurrently, or after a newer
//! one, commits at most once; a losing commit (`Conflict`) means another delivery already did it.
//!
//! Modules: `attempt` (attempts, timeouts, panics, backoff), `step` (a step and its failure
//! policy), `compensate` (compensations), [`metrics`], `processor` (the local change-feed processor,
//! feature `local`), [`redrive`] (an order driven again from its current state, for `orchgen
//! redrive`). Everything else needs no feature.

mod attempt;
mod compensate;
pub mod metrics;
#[cfg(feature = "local")]
pub mod processor;
pub mod redrive;
mod step;

use std::sync::Arc;

use tracing::Instrument;

use crate::order::{Order, is_terminal_status, transition_allowed};
use crate::plan::{CompensationAction, Plan, StepAction, status};
pub use crate::steps::idempotency_key;
use crate::steps::util::now_rfc3339;
use crate::steps::{Registry, StepError, StepHandler};
use crate::store::{ChangeKind, ChangeRecord, CommitError, Effect, EffectError, Store, StoreError, Transition};
use crate::telemetry::{Observer, Observers};

pub use compensate::COMPENSATION_FAILED;
pub use metrics::{Metrics, MetricsSnapshot};
#[cfg(feature = "local")]
pub use processor::{Processor, ProcessorConfig, ProcessorHandle};
pub use redrive::{Redriven, open_orders};

/// Executes a plan against a store.
pub struct Engine {
    plan: Arc<Plan>,
    store: Arc<dyn Store>,
    registry: Registry,
    metrics: Arc<Metrics>,
    observers: Observers,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("plan", &self.plan.name)
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

/// Why a record could not be processed. The record must be delivered again (the local processor
/// does so after a delay; on Lambda the batch fails and is retried).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProcessError {
    /// The store failed; nothing was written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store returned an order older than the record (a lagging replica): try later.
    #[error("order {order_id}: the store has version {stored}, the record version {record}")]
    StoreBehind {
        /// The order.
        order_id: String,
        /// The version read from the store.
        stored: u64,
        /// The version of the record's image.
        record: u64,
    },
    /// The engine computed a move the plan forbids: a bug, nothing was written.
    #[error("order {order_id}: the plan does not allow {from} → {to}")]
    TransitionNotAllowed {
        /// The order.
        order_id: String,
        /// Current status.
        from: String,
        /// Refused status.
        to: String,
    },
    /// The stored order cannot be driven (a bug or a manual edit), nothing was written.
    #[error("order {order_id}: {reason}")]
    InvalidState {
        /// The order.
        order_id: String,
        /// What is wrong.
        reason: String,
    },
}

/// What a commit did.
pub(crate) enum Committed {
    /// The transition is stored.
    Done,
    /// Another delivery moved the order first; nothing was written.
    Conflict,
    /// An effect's condition failed; nothing was written.
    Effect(EffectError),
}

impl Engine {
    /// An engine with the built-in handlers.
    pub fn new(plan: Arc<Plan>, store: Arc<dyn Store>) -> Engine {
        Engine::with_registry(plan, store, Registry::new())
    }

    /// An engine with the given handlers.
    pub fn with_registry(plan: Arc<Plan>, store: Arc<dyn Store>, registry: Registry) -> Engine {
        Engine { plan, store, registry, metrics: Arc::new(Metrics::default()), observers: Observers::default() }
    }

    /// Registers the handler of the custom steps and compensations whose `function` is
    /// `function_path` (e.g. `fraud_check::score`). Any [`StepHandler`] or
    /// [`CustomStep`](crate::steps::CustomStep) will do.
    pub fn register(&mut self, function_path: impl Into<String>, handler: impl StepHandler) -> &mut Engine {
        self.registry.register(function_path, Arc::new(handler));
        self
    }

    /// Adds an observer of every committed transition (dashboards, metrics).
    pub fn observe(&mut self, observer: Arc<dyn Observer>) -> &mut Engine {
        self.observers.push(observer);
        self
    }

    /// The plan.
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The handlers.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The function paths of the plan's custom steps and compensations that have no handler: check
    /// it at start-up (such steps fail with `HANDLER_NOT_REGISTERED`).
    pub fn unregistered_handlers(&self) -> Vec<String> {
        let steps = self.plan.steps.iter().filter_map(|s| match &s.action {
            StepAction::Custom(h) => Some(&h.function),
            _ => None,
        });
        let compensations = self.plan.compensations.values().filter_map(|c| match &c.action {
            CompensationAction::Custom(h) => Some(&h.function),
            _ => None,
        });
        let mut missing: Vec<String> =
            steps.chain(compensations).filter(|f| !self.registry.is_registered(f)).cloned().collect();
        missing.sort();
        missing.dedup();
        missing
    }

    /// Loads the plan's local inventory into the store (existing products are left alone).
    pub async fn seed_local_inventory(&self) -> Result<usize, StoreError> {
        self.store.seed_inventory(&self.plan.local.inventory).await
    }

    /// Processes one change record: moves its order one step forward, in one transition.
    ///
    /// `Ok` when the order moved, when there was nothing to do (a removal, a terminal order, a
    /// record older than the stored order, another delivery that won the race), or when the order's
    /// move is recorded as a failure of the order. `Err` only when the record must be delivered
    /// again (nothing was written).
    ///
    /// Runs in a span `order{order_id, step}` (`step` recorded once the step or compensation to run
    /// is known), so that every log line about the order carries them.
    pub async fn process(&self, record: &ChangeRecord) -> Result<(), ProcessError> {
        let span = tracing::info_span!("order", order_id = %record.order_id, step = tracing::field::Empty);
        self.process_in_span(record).instrument(span).await
    }

    async fn process_in_span(&self, record: &ChangeRecord) -> Result<(), ProcessError> {
        if record.kind == ChangeKind::Remove || record.new_image.as_ref().is_some_and(Order::is_terminal) {
            return Ok(());
        }
        let Some(order) = self.store.get_order(&record.order_id).await? else {
            return Ok(());
        };
        if let Some(image) = &record.new_image {
            if image.version < order.version {
                // A later record exists and drives the order.
                return Ok(());
            }
            if image.version > order.version {
                return Err(ProcessError::StoreBehind {
                    order_id: order.order_id,
                    stored: order.version,
                    record: image.version,
                });
            }
        }
        if order.is_terminal() {
            return Ok(());
        }
        if order.status == status::COMPENSATING {
            return self.compensate(order).await;
        }
        let steps = self.plan.steps.len();
        match order.cursor {
            cursor if cursor < steps => self.run_step(order, cursor).await,
            cursor if cursor == steps => self.complete(order).await,
            cursor => Err(ProcessError::InvalidState {
                reason: format!("cursor {cursor} is past the plan's {steps} steps"),
                order_id: order.order_id,
            }),
        }
    }

    /// Every step ran: the order is COMPLETED.
    async fn complete(&self, order: Order) -> Result<(), ProcessError> {
        let mut next = next_version(&order);
        next.status = status::COMPLETED.to_owned();
        self.commit_without_effects(&order, next).await
    }

    /// Commits `next` over `current` with `effects`, after the bug guard. Sets `expires_at` when the
    /// order becomes terminal and counts terminal moves.
    pub(crate) async fn commit(
        &self,
        current: &Order,
        next: Order,
        effects: Vec<Effect>,
    ) -> Result<Committed, ProcessError> {
        let path = [current.status.clone(), next.status.clone()];
        self.commit_path(current, next, effects, &path).await
    }

    /// [`Engine::commit`] of a move that went through the statuses of `path` (the current one first,
    /// `next`'s last): each step of the path must be allowed.
    pub(crate) async fn commit_path(
        &self,
        current: &Order,
        mut next: Order,
        effects: Vec<Effect>,
        path: &[String],
    ) -> Result<Committed, ProcessError> {
        for hop in path.windows(2) {
            let [from, to] = hop else { continue };
            let same = from == to && !is_terminal_status(from);
            if !same && !transition_allowed(&self.plan, from, to) {
                return Err(ProcessError::TransitionNotAllowed {
                    order_id: current.order_id.clone(),
                    from: from.clone(),
                    to: to.clone(),
                });
            }
        }
        if next.is_terminal() && next.expires_at.is_none() {
            next.expires_at = self.expiry();
        }
        let terminal = next.is_terminal().then(|| next.status.clone());
        let transition = Transition { expected_version: current.version, order: next, effects };
        match self.store.commit(&transition).await {
            Ok(()) => {
                let ran = transition.order.history.get(current.history.len()..).unwrap_or_default();
                let mut steps: Vec<&str> = ran.iter().map(|h| h.step.as_str()).collect();
                steps.dedup();
                tracing::info!(
                    from = %current.status,
                    to = %transition.order.status,
                    version = transition.order.version,
                    steps = %steps.join(","),
                    "order moved"
                );
                if let Some(terminal) = terminal {
                    self.count_terminal(&terminal);
                }
                self.observers.transition(current, &transition.order);
                Ok(Committed::Done)
            }
            Err(CommitError::Conflict { .. }) => {
                tracing::debug!(version = current.version, "another delivery moved the order first; nothing written");
                Ok(Committed::Conflict)
            }
            Err(CommitError::Effect(e)) => Ok(Committed::Effect(e)),
            Err(CommitError::Store(e)) => Err(e.into()),
        }
    }

    /// Commits a transition that has no effect (so no effect can fail).
    pub(crate) async fn commit_without_effects(&self, current: &Order, next: Order) -> Result<(), ProcessError> {
        match self.commit(current, next, Vec::new()).await? {
            Committed::Done | Committed::Conflict => Ok(()),
            Committed::Effect(e) => Err(ProcessError::InvalidState {
                order_id: current.order_id.clone(),
                reason: format!("a transition without effects failed an effect: {e}"),
            }),
        }
    }

    fn expiry(&self) -> Option<i64> {
        let days = self.plan.tables.orders.ttl.as_ref()?.days;
        Some(chrono::Utc::now().timestamp().saturating_add(i64::from(days) * 86_400))
    }

    fn count_terminal(&self, terminal: &str) {
        let m = &self.metrics;
        let counter = match terminal {
            status::COMPLETED => &m.orders_completed,
            status::REJECTED => &m.orders_rejected,
            status::FAILED => &m.orders_failed,
            _ => &m.orders_cancelled,
        };
        metrics::bump(counter);
    }
}

/// The order's next version: a copy with the version bumped and `updated_at` now.
pub(crate) fn next_version(order: &Order) -> Order {
    let mut next = order.clone();
    next.version += 1;
    next.updated_at = now_rfc3339();
    next
}

/// The code of an effect's failure (`OUT_OF_STOCK`, `UNKNOWN_PRODUCT`, ...).
pub fn effect_error_code(error: &EffectError) -> &'static str {
    match error {
        EffectError::OutOfStock { .. } => "OUT_OF_STOCK",
        EffectError::UnknownProduct { .. } => "UNKNOWN_PRODUCT",
        EffectError::AlreadyCharged { .. } => "ALREADY_CHARGED",
        EffectError::NothingToRefund { .. } => "NOTHING_TO_REFUND",
        EffectError::NotReserved { .. } => "NOT_RESERVED",
    }
}

/// A store's refusal of a step's effect as the step's error: stock that is not there and a product
/// the inventory does not know are refusals of the order; the others (a second charge, a refund of
/// nothing, a commit of stock never reserved) are faults.
pub(crate) fn effect_error(error: &EffectError) -> StepError {
    match error {
        EffectError::OutOfStock { .. } | EffectError::UnknownProduct { .. } => {
            StepError::reject(effect_error_code(error), error.to_string())
        }
        _ => StepError::terminal(effect_error_code(error), error.to_string()),
    }
}
