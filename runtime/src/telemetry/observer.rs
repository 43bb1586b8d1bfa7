//! What the engine and the API report to telemetry: an [`Observer`] sees every order created and
//! every committed transition, and nothing else.
//!
//! Only committed work is reported: a delivery that loses the version race, or whose effect the
//! store refuses before a retry, reports nothing, so a re-delivered record is never counted twice.
//! The attempts a transition adds are `after.history[before.history.len()..]`
//! ([`Transition::new_attempts`]); the move is `before.status → after.status`.
//!
//! Observers run inline on the processing path: they must be quick and must not block (count,
//! push to a bounded buffer, write a line).

use std::sync::Arc;

use crate::order::{HistoryEntry, Order};

/// One committed move of an order.
#[derive(Debug, Clone, Copy)]
pub struct Transition<'a> {
    /// The order as it was read before the move.
    pub before: &'a Order,
    /// The order as committed.
    pub after: &'a Order,
}

impl<'a> Transition<'a> {
    /// The attempts (of steps and compensations) this move recorded, oldest first.
    pub fn new_attempts(&self) -> &'a [HistoryEntry] {
        self.after.history.get(self.before.history.len()..).unwrap_or(&[])
    }

    /// Whether this move made the order terminal (it was not before).
    pub fn became_terminal(&self) -> bool {
        self.after.is_terminal() && !self.before.is_terminal()
    }
}

/// Receives the pipeline's telemetry events.
pub trait Observer: Send + Sync + 'static {
    /// The API accepted a new order (not an idempotent replay).
    fn order_created(&self, order: &Order) {
        let _ = order;
    }

    /// The engine committed a move of an order.
    fn transition(&self, transition: &Transition<'_>) {
        let _ = transition;
    }
}

/// A set of observers, called in the order they were added.
#[derive(Clone, Default)]
pub struct Observers(Vec<Arc<dyn Observer>>);

impl std::fmt::Debug for Observers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observers").field("count", &self.0.len()).finish()
    }
}

impl Observers {
    /// Adds an observer.
    pub fn push(&mut self, observer: Arc<dyn Observer>) {
        self.0.push(observer);
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reports a created order to every observer.
    pub fn order_created(&self, order: &Order) {
        for o in &self.0 {
            o.order_created(order);
        }
    }

    /// Reports a committed transition to every observer.
    pub fn transition(&self, before: &Order, after: &Order) {
        let t = Transition { before, after };
        for o in &self.0 {
            o.transition(&t);
        }
    }
}
