//! Counters for dashboards and benchmarks, shared by the [`Engine`](super::Engine) and the
//! local `Processor` (feature `local`). Relaxed atomics: each counter is exact, a
//! [`Metrics::snapshot`] is not a consistent cut across counters.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Live counters.
#[derive(Debug, Default)]
pub struct Metrics {
    pub(crate) records_processed: AtomicU64,
    pub(crate) records_failed: AtomicU64,
    pub(crate) redeliveries: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    pub(crate) step_retries: AtomicU64,
    pub(crate) compensations: AtomicU64,
    pub(crate) orders_completed: AtomicU64,
    pub(crate) orders_rejected: AtomicU64,
    pub(crate) orders_failed: AtomicU64,
    pub(crate) orders_cancelled: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MetricsSnapshot {
    /// Change records processed successfully (including those that needed nothing done).
    pub records_processed: u64,
    /// Change records whose processing returned an error (each is delivered again).
    pub records_failed: u64,
    /// Deliveries of a record after its processing failed.
    pub redeliveries: u64,
    /// Records being processed now.
    pub in_flight: u64,
    /// Step or compensation attempts that failed retryably and were tried again.
    pub step_retries: u64,
    /// Compensations that succeeded.
    pub compensations: u64,
    /// Orders this engine moved to COMPLETED.
    pub orders_completed: u64,
    /// Orders this engine moved to REJECTED.
    pub orders_rejected: u64,
    /// Orders this engine moved to FAILED.
    pub orders_failed: u64,
    /// Orders this engine moved to CANCELLED.
    pub orders_cancelled: u64,
}

impl Metrics {
    /// The counters now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            records_processed: get(&self.records_processed),
            records_failed: get(&self.records_failed),
            redeliveries: get(&self.redeliveries),
            in_flight: get(&self.in_flight),
            step_retries: get(&self.step_retries),
            compensations: get(&self.compensations),
            orders_completed: get(&self.orders_completed),
            orders_rejected: get(&self.orders_rejected),
            orders_failed: get(&self.orders_failed),
            orders_cancelled: get(&self.orders_cancelled),
        }
    }
}

/// Adds one.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Removes one (gauges).
#[cfg(feature = "local")]
pub(crate) fn drop_one(counter: &AtomicU64) {
    counter.fetch_sub(1, Ordering::Relaxed);
}
