//! [`LiveStats`]: an [`Observer`] that keeps what a live dashboard shows — per step and per
//! compensation the orders in flight there and the outcomes of their attempts, step latency
//! percentiles, order outcomes, throughput over the last ten minutes and the latest failures — and
//! hands it out as a serialisable [`LiveSnapshot`].
//!
//! Cost on the processing path: the order-outcome counters are relaxed atomics; everything else is
//! updated under one mutex held for a few map and ring-buffer operations (no allocation in the
//! steady state except the failure record of a failed order), never across an `await`. A
//! [`LiveStats::snapshot`] copies the state under the lock and sorts the latency windows outside it.
//!
//! Latency percentiles come from a **bounded window of the most recent [`LATENCY_WINDOW`] attempt
//! durations per step** (a ring buffer), not an all-time HDR histogram: a live dashboard must show
//! how the step behaves *now* (a slow-down after an hour of fast attempts shows within a few hundred
//! attempts, where an all-time histogram would hide it), the window's memory is fixed (8 KiB per
//! step), and its percentiles are exact over the window (nearest rank). This is also what a
//! Prometheus summary means: quantiles over recent observations, `_sum` and `_count` over all of
//! them (kept here as [`NodeStats::latency`]'s `count` and `sum_ms`).
//!
//! "In flight" counts the orders this process has seen (created, or moved by the engine) that are
//! not terminal, at the step at their cursor — or, while `COMPENSATING`, at their next compensation.
//! An order left in flight by an earlier run is counted from its first move in this one.
//!
//! Feature `local` (`orchgen dev`'s dashboard).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::order::{Order, Outcome};
use crate::plan::{Plan, status};

use super::observer::{Observer, Transition};

/// Attempt durations kept per step for the latency percentiles.
pub const LATENCY_WINDOW: usize = 1024;
/// Width of a throughput bucket, in seconds.
pub const BUCKET_SECONDS: i64 = 10;
/// Throughput buckets kept (10 minutes of 10-second buckets).
pub const BUCKETS: usize = 60;
/// Failed orders kept, newest first.
pub const RECENT_FAILURES: usize = 50;

/// Whether a node of the pipeline is a step or a compensation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// A step of `plan.steps`.
    Step,
    /// A compensation of `plan.compensations`.
    Compensation,
}

/// Counters of one step or compensation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStats {
    /// The step's or compensation's name.
    pub name: String,
    /// Step or compensation.
    pub kind: NodeKind,
    /// Orders waiting at it or running it now.
    pub in_flight: u64,
    /// Attempts that succeeded.
    pub succeeded: u64,
    /// Attempts that failed for good (terminal failure or the last attempt).
    pub failed: u64,
    /// Attempts that failed retryably and were tried again.
    pub retried: u64,
    /// Compensations that ran to success (compensations only).
    pub compensated: u64,
    /// Attempt durations.
    pub latency: Latency,
}

/// Attempt durations of one step: percentiles over the last [`LATENCY_WINDOW`] attempts, count and
/// sum over all of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Attempts in the window the percentiles were computed from.
    pub window: usize,
    /// Median, in milliseconds (`None` before the first attempt).
    pub p50_ms: Option<u64>,
    /// 90th percentile, in milliseconds.
    pub p90_ms: Option<u64>,
    /// 99th percentile, in milliseconds.
    pub p99_ms: Option<u64>,
    /// Slowest attempt of the window, in milliseconds.
    pub max_ms: Option<u64>,
    /// Attempts since start.
    pub count: u64,
    /// Sum of every attempt's duration since start, in milliseconds.
    pub sum_ms: u64,
}

/// Order outcomes since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCounts {
    /// Orders accepted by the API.
    pub created: u64,
    /// Orders that reached `COMPLETED`.
    pub completed: u64,
    /// Orders that reached `REJECTED`.
    pub rejected: u64,
    /// Orders that reached `FAILED`.
    pub failed: u64,
    /// Orders that reached `CANCELLED`.
    pub cancelled: u64,
    /// Orders seen and not terminal.
    pub in_flight: u64,
}

/// Orders created and finished (became terminal) in one bucket of [`BUCKET_SECONDS`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThroughputBucket {
    /// Start of the bucket, seconds since the Unix epoch (a multiple of [`BUCKET_SECONDS`]).
    pub start: i64,
    /// Orders created in it.
    pub created: u64,
    /// Orders that became terminal in it.
    pub finished: u64,
}

/// Throughput over the last [`BUCKETS`] × [`BUCKET_SECONDS`] seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throughput {
    /// Width of a bucket, in seconds.
    pub bucket_seconds: i64,
    /// Every bucket of the window, oldest first; the last one is the current, partial bucket.
    pub buckets: Vec<ThroughputBucket>,
}

/// An order that did not complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// The order.
    pub order_id: String,
    /// Its terminal status (`FAILED`, `CANCELLED`, `REJECTED`).
    pub status: String,
    /// The step that failed.
    pub step: String,
    /// Machine-readable code (`OUT_OF_STOCK`, `CARD_DECLINED`, …).
    pub code: String,
    /// Human-readable reason.
    pub message: String,
    /// When the order became terminal (RFC 3339).
    pub at: String,
}

/// Everything [`LiveStats`] knows, at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveSnapshot {
    /// The pipeline.
    pub pipeline: String,
    /// Seconds since the stats started.
    pub uptime_seconds: u64,
    /// Order outcomes.
    pub orders: OrderCounts,
    /// Per step, in the plan's order.
    pub steps: Vec<NodeStats>,
    /// Per compensation, by name.
    pub compensations: Vec<NodeStats>,
    /// Orders created and finished per bucket.
    pub throughput: Throughput,
    /// The latest failed, cancelled or rejected orders, newest first.
    pub failures: Vec<FailureRecord>,
}

/// Live statistics of one pipeline; register it with `Engine::observe` and `Api::observe`.
pub struct LiveStats {
    pipeline: String,
    started: Instant,
    steps: Vec<String>,
    created: AtomicU64,
    completed: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for LiveStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveStats").field("pipeline", &self.pipeline).finish_non_exhaustive()
    }
}

struct Node {
    name: String,
    kind: NodeKind,
    in_flight: u64,
    succeeded: u64,
    failed: u64,
    retried: u64,
    compensated: u64,
    count: u64,
    sum_ms: u64,
    window: VecDeque<u64>,
}

impl Node {
    fn new(name: &str, kind: NodeKind) -> Node {
        Node {
            name: name.to_owned(),
            kind,
            in_flight: 0,
            succeeded: 0,
            failed: 0,
            retried: 0,
            compensated: 0,
            count: 0,
            sum_ms: 0,
            window: VecDeque::with_capacity(LATENCY_WINDOW),
        }
    }
}

#[derive(Default)]
struct Inner {
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
    /// Orders seen and not terminal → the node they are at (`None`: past the last step).
    positions: HashMap<String, Option<usize>>,
    /// Orders that a move made terminal before their creation was reported (the API reports it
    /// after the commit, and the processor, woken by that commit, may finish the order first): the
    /// creation must not place them again. The most recent [`EARLY_FINISHES`] are kept.
    finished_early: HashSet<String>,
    finished_early_order: VecDeque<String>,
    buckets: VecDeque<ThroughputBucket>,
    failures: VecDeque<FailureRecord>,
}

/// Orders remembered as finished before their creation was reported (the race lasts microseconds).
const EARLY_FINISHES: usize = 4_096;

impl Inner {
    fn node(&mut self, name: &str, kind: NodeKind) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.nodes.push(Node::new(name, kind));
        self.index.insert(name.to_owned(), self.nodes.len() - 1);
        self.nodes.len() - 1
    }

    /// Applies `count` to the throughput bucket of `now`, dropping buckets older than the window.
    fn count(&mut self, now: i64, count: impl FnOnce(&mut ThroughputBucket)) {
        let start = now - now.rem_euclid(BUCKET_SECONDS);
        while self.buckets.front().is_some_and(|b| b.start <= start - BUCKET_SECONDS * BUCKETS as i64) {
            self.buckets.pop_front();
        }
        match self.buckets.back_mut() {
            // A clock that went back lands in the newest bucket.
            Some(newest) if newest.start >= start => count(newest),
            _ => {
                let mut bucket = ThroughputBucket { start, created: 0, finished: 0 };
                count(&mut bucket);
                self.buckets.push_back(bucket);
            }
        }
    }

    fn finished_early(&mut self, order_id: &str) {
        if self.finished_early_order.len() == EARLY_FINISHES
            && let Some(oldest) = self.finished_early_order.pop_front()
        {
            self.finished_early.remove(&oldest);
        }
        self.finished_early.insert(order_id.to_owned());
        self.finished_early_order.push_back(order_id.to_owned());
    }

    /// Moves `order_id` to `to` (or out, when `None` and `remove`).
    fn place(&mut self, order_id: &str, to: Option<Option<usize>>) {
        let from = match to {
            Some(to) => self.positions.insert(order_id.to_owned(), to),
            None => self.positions.remove(order_id),
        };
        if let Some(Some(i)) = from {
            self.nodes[i].in_flight = self.nodes[i].in_flight.saturating_sub(1);
        }
        if let Some(Some(i)) = to {
            self.nodes[i].in_flight += 1;
        }
    }
}

impl LiveStats {
    /// Empty statistics of `plan`'s steps and compensations.
    pub fn new(plan: &Plan) -> LiveStats {
        let mut inner = Inner::default();
        for step in &plan.steps {
            inner.node(&step.name, NodeKind::Step);
        }
        for name in plan.compensations.keys() {
            inner.node(name, NodeKind::Compensation);
        }
        LiveStats {
            pipeline: plan.name.clone(),
            started: Instant::now(),
            steps: plan.steps.iter().map(|s| s.name.clone()).collect(),
            created: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            inner: Mutex::new(inner),
        }
    }

    /// The pipeline's name.
    pub fn pipeline(&self) -> &str {
        &self.pipeline
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The state stays consistent even if a holder panicked: every update is a few assignments.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Where a non-terminal order waits: `Some(node)` or `Some(None)` past the last step; `None`
    /// when terminal.
    fn position(&self, inner: &mut Inner, order: &Order) -> Option<Option<usize>> {
        if order.is_terminal() {
            return None;
        }
        if order.status == status::COMPENSATING {
            return Some(order.pending_compensations.first().map(|c| inner.node(c, NodeKind::Compensation)));
        }
        Some(self.steps.get(order.cursor).map(|s| inner.node(s, NodeKind::Step)))
    }

    fn created_at(&self, order: &Order, now: i64) {
        self.created.fetch_add(1, Ordering::Relaxed);
        let mut inner = self.lock();
        inner.count(now, |b| b.created += 1);
        // A move reported first already placed the order (or saw it finish): it stays where it is.
        if inner.positions.contains_key(&order.order_id) || inner.finished_early.remove(&order.order_id) {
            return;
        }
        let at = self.position(&mut inner, order);
        inner.place(&order.order_id, at);
    }

    fn transition_at(&self, t: &Transition<'_>, now: i64) {
        let after = t.after;
        let mut inner = self.lock();
        for attempt in t.new_attempts() {
            // Names of the plan are known already; an unknown one is a step only if the plan says so.
            let kind = if self.steps.contains(&attempt.step) { NodeKind::Step } else { NodeKind::Compensation };
            let i = inner.node(&attempt.step, kind);
            let node = &mut inner.nodes[i];
            match attempt.outcome {
                Outcome::Succeeded => node.succeeded += 1,
                Outcome::Failed => node.failed += 1,
                Outcome::Retried => node.retried += 1,
                Outcome::Compensated => node.compensated += 1,
            }
            node.count += 1;
            node.sum_ms = node.sum_ms.saturating_add(attempt.duration_ms);
            if node.window.len() == LATENCY_WINDOW {
                node.window.pop_front();
            }
            node.window.push_back(attempt.duration_ms);
        }
        let at = self.position(&mut inner, after);
        if at.is_none() && t.before.version == 1 && !inner.positions.contains_key(&after.order_id) {
            // Finished by its first move before the API reported its creation.
            inner.finished_early(&after.order_id);
        }
        inner.place(&after.order_id, at);
        if t.became_terminal() {
            inner.count(now, |b| b.finished += 1);
            let counter = match after.status.as_str() {
                status::COMPLETED => &self.completed,
                status::REJECTED => &self.rejected,
                status::FAILED => &self.failed,
                _ => &self.cancelled,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            if let Some(failure) = &after.failure {
                if inner.failures.len() == RECENT_FAILURES {
                    inner.failures.pop_back();
                }
                inner.failures.push_front(FailureRecord {
                    order_id: after.order_id.clone(),
                    status: after.status.clone(),
                    step: failure.step.clone(),
                    code: failure.code.clone(),
                    message: failure.message.clone(),
                    at: after.updated_at.clone(),
                });
            }
        }
    }

    /// The statistics now.
    pub fn snapshot(&self) -> LiveSnapshot {
        self.snapshot_at(chrono::Utc::now().timestamp())
    }

    fn snapshot_at(&self, now: i64) -> LiveSnapshot {
        let (mut nodes, buckets, failures, in_flight) = {
            let inner = self.lock();
            let nodes: Vec<(NodeStats, Vec<u64>)> = inner
                .nodes
                .iter()
                .map(|n| {
                    let stats = NodeStats {
                        name: n.name.clone(),
                        kind: n.kind,
                        in_flight: n.in_flight,
                        succeeded: n.succeeded,
                        failed: n.failed,
                        retried: n.retried,
                        compensated: n.compensated,
                        latency: Latency { count: n.count, sum_ms: n.sum_ms, ..Latency::default() },
                    };
                    (stats, n.window.iter().copied().collect())
                })
                .collect();
            let failures: Vec<FailureRecord> = inner.failures.iter().cloned().collect();
            (nodes, inner.buckets.clone(), failures, inner.positions.len() as u64)
        };
        for (stats, window) in &mut nodes {
            window.sort_unstable();
            stats.latency.window = window.len();
            stats.latency.p50_ms = percentile(window, 0.50);
            stats.latency.p90_ms = percentile(window, 0.90);
            stats.latency.p99_ms = percentile(window, 0.99);
            stats.latency.max_ms = window.last().copied();
        }
        let (steps, compensations): (Vec<NodeStats>, Vec<NodeStats>) =
            nodes.into_iter().map(|(s, _)| s).partition(|s| s.kind == NodeKind::Step);
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LiveSnapshot {
            pipeline: self.pipeline.clone(),
            uptime_seconds: self.started.elapsed().as_secs(),
            orders: OrderCounts {
                created: get(&self.created),
                completed: get(&self.completed),
                rejected: get(&self.rejected),
                failed: get(&self.failed),
                cancelled: get(&self.cancelled),
                in_flight,
            },
            steps,
            compensations,
            throughput: throughput(&buckets, now),
            failures,
        }
    }
}

/// Every bucket of the window ending with the one holding `now`, zeros where nothing happened.
fn throughput(buckets: &VecDeque<ThroughputBucket>, now: i64) -> Throughput {
    let current = now - now.rem_euclid(BUCKET_SECONDS);
    let first = current - BUCKET_SECONDS * (BUCKETS as i64 - 1);
    let buckets = (0..BUCKETS as i64)
        .map(|i| {
            let start = first + i * BUCKET_SECONDS;
            buckets.iter().find(|b| b.start == start).copied().unwrap_or(ThroughputBucket {
                start,
                created: 0,
                finished: 0,
            })
        })
        .collect();
    Throughput { bucket_seconds: BUCKET_SECONDS, buckets }
}

/// The nearest-rank percentile `q` (0 < q ≤ 1) of sorted `values`.
fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

impl Observer for LiveStats {
    fn order_created(&self, order: &Order) {
        self.created_at(order, chrono::Utc::now().timestamp());
    }

    fn transition(&self, transition: &Transition<'_>) {
        self.transition_at(transition, chrono::Utc::now().timestamp());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{Customer, Failure, HistoryEntry};

    fn plan() -> Plan {
        let json = include_str!("../../tests/fixtures/orders.plan.json");
        Plan::from_json(json).expect("the fixture plan reads")
    }

    fn order(id: &str) -> Order {
        Order {
            order_id: id.to_owned(),
            status: status::RECEIVED.to_owned(),
            version: 1,
            created_at: "2026-01-01T00:00:00.000Z".to_owned(),
            updated_at: "2026-01-01T00:00:00.000Z".to_owned(),
            customer: Customer { customer_id: "c".into(), email: "c@example.com".into(), name: "C".into() },
            items: Vec::new(),
            shipping_address: Default::default(),
            payment_method: "credit_card".to_owned(),
            total_cents: 100,
            cursor: 0,
            pending_compensations: Vec::new(),
            failure: None,
            charge: None,
            shipment: None,
            outputs: Default::default(),
            history: Vec::new(),
            expires_at: None,
        }
    }

    fn attempt(step: &str, attempt: u32, outcome: Outcome, ms: u64) -> HistoryEntry {
        HistoryEntry {
            step: step.to_owned(),
            attempt,
            outcome,
            duration_ms: ms,
            error: None,
            at: "2026-01-01T00:00:01.000Z".to_owned(),
        }
    }

    /// `order` moved to `status` at `cursor` with `attempts` added.
    fn moved(order: &Order, status: &str, cursor: usize, attempts: Vec<HistoryEntry>) -> Order {
        let mut next = order.clone();
        next.version += 1;
        next.status = status.to_owned();
        next.cursor = cursor;
        next.history.extend(attempts);
        next
    }

    fn node<'a>(snapshot: &'a LiveSnapshot, name: &str) -> &'a NodeStats {
        snapshot.steps.iter().chain(&snapshot.compensations).find(|n| n.name == name).expect(name)
    }

    #[test]
    fn counts_follow_an_order_through_its_steps() {
        let plan = plan();
        let first = plan.steps[0].name.clone();
        let second = plan.steps[1].name.clone();
        let live = LiveStats::new(&plan);
        let o = order("o1");
        live.created_at(&o, 1_000);
        let s = live.snapshot_at(1_000);
        assert_eq!(s.orders.created, 1);
        assert_eq!(s.orders.in_flight, 1);
        assert_eq!(node(&s, &first).in_flight, 1);
        assert_eq!(s.steps.len(), plan.steps.len(), "every step is listed, in the plan's order");
        assert_eq!(s.steps[0].name, first);

        let o2 = moved(&o, &plan.steps[0].status, 1, vec![attempt(&first, 1, Outcome::Succeeded, 12)]);
        live.transition_at(&Transition { before: &o, after: &o2 }, 1_001);
        let o3 = moved(
            &o2,
            &plan.steps[1].status,
            2,
            vec![attempt(&second, 1, Outcome::Retried, 30), attempt(&second, 2, Outcome::Succeeded, 40)],
        );
        live.transition_at(&Transition { before: &o2, after: &o3 }, 1_002);
        let s = live.snapshot_at(1_002);
        assert_eq!(node(&s, &first).in_flight, 0);
        assert_eq!(node(&s, &first).succeeded, 1);
        assert_eq!(node(&s, &second).retried, 1);
        assert_eq!(node(&s, &second).succeeded, 1);
        assert_eq!(node(&s, &second).latency.count, 2);
        assert_eq!(node(&s, &second).latency.sum_ms, 70);
        assert_eq!(node(&s, &second).latency.p50_ms, Some(30));
        assert_eq!(node(&s, &second).latency.p99_ms, Some(40));
        let third = &plan.steps[2].name;
        assert_eq!(node(&s, third).in_flight, 1);

        // Done: nothing in flight, one completed, one finished in the current bucket.
        let mut done = moved(&o3, status::COMPLETED, plan.steps.len(), Vec::new());
        done.updated_at = "2026-01-01T00:00:03.000Z".to_owned();
        live.transition_at(&Transition { before: &o3, after: &done }, 1_003);
        let s = live.snapshot_at(1_003);
        assert_eq!(s.orders.completed, 1);
        assert_eq!(s.orders.in_flight, 0);
        assert!(s.steps.iter().all(|n| n.in_flight == 0), "{:?}", s.steps);
        let last = s.throughput.buckets.last().expect("buckets");
        assert_eq!((last.start, last.created, last.finished), (1_000, 1, 1));
        assert!(s.failures.is_empty());
    }

    #[test]
    fn moves_reported_before_the_creation_leave_nothing_in_flight() {
        // The API reports a creation after its commit; the processor, woken by that commit, may
        // report the order's moves first.
        let plan = plan();
        let first = plan.steps[0].name.clone();
        let live = LiveStats::new(&plan);
        let fast = order("fast");
        let done = moved(&fast, status::COMPLETED, plan.steps.len(), vec![attempt(&first, 1, Outcome::Succeeded, 1)]);
        live.transition_at(&Transition { before: &fast, after: &done }, 1_000);
        live.created_at(&fast, 1_000);
        let slow = order("slow");
        let moved_once = moved(&slow, &plan.steps[0].status, 1, vec![attempt(&first, 1, Outcome::Succeeded, 1)]);
        live.transition_at(&Transition { before: &slow, after: &moved_once }, 1_000);
        live.created_at(&slow, 1_000);
        let s = live.snapshot_at(1_000);
        assert_eq!((s.orders.created, s.orders.completed), (2, 1));
        assert_eq!(s.orders.in_flight, 1, "only `slow`, at its second step");
        assert_eq!(node(&s, &first).in_flight, 0);
        assert_eq!(node(&s, &plan.steps[1].name).in_flight, 1);
        // `fast` is gone for good: a later creation report of another order is placed as usual.
        live.created_at(&order("next"), 1_001);
        assert_eq!(live.snapshot_at(1_001).orders.in_flight, 2);
    }

    #[test]
    fn compensations_and_failures_are_recorded() {
        let plan = plan();
        let live = LiveStats::new(&plan);
        let (comp, _) = plan.compensations.iter().next().expect("the fixture has a compensation");
        let failing = &plan.steps[1].name;
        let o = order("o2");
        live.created_at(&o, 50);
        let mut compensating = moved(&o, status::COMPENSATING, 1, vec![attempt(failing, 1, Outcome::Failed, 5)]);
        compensating.pending_compensations = vec![comp.clone()];
        live.transition_at(&Transition { before: &o, after: &compensating }, 51);
        let s = live.snapshot_at(51);
        assert_eq!(node(&s, comp).in_flight, 1);
        assert_eq!(node(&s, comp).kind, NodeKind::Compensation);
        assert_eq!(node(&s, failing).failed, 1);

        let mut cancelled = moved(&compensating, status::CANCELLED, 1, vec![attempt(comp, 1, Outcome::Compensated, 2)]);
        cancelled.pending_compensations.clear();
        cancelled.failure = Some(Failure {
            kind: crate::order::FailureKind::Refusal,
            step: failing.clone(),
            code: "CARD_DECLINED".into(),
            message: "declined".into(),
            fields: Vec::new(),
        });
        cancelled.updated_at = "2026-01-01T00:01:00.000Z".to_owned();
        live.transition_at(&Transition { before: &compensating, after: &cancelled }, 52);
        let s = live.snapshot_at(52);
        assert_eq!(node(&s, comp).in_flight, 0);
        assert_eq!(node(&s, comp).compensated, 1);
        assert_eq!(s.orders.cancelled, 1);
        assert_eq!(s.failures.len(), 1);
        let f = &s.failures[0];
        assert_eq!((f.order_id.as_str(), f.code.as_str(), f.step.as_str()), ("o2", "CARD_DECLINED", failing.as_str()));
        assert_eq!(f.at, "2026-01-01T00:01:00.000Z");
        // Serialisable: what the status endpoint sends.
        let json = serde_json::to_value(&s).expect("serialises");
        assert_eq!(json["orders"]["cancelled"], 1);
        let back: LiveSnapshot = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, s);
    }

    #[test]
    fn a_resumed_order_is_counted_from_its_first_move() {
        let plan = plan();
        let live = LiveStats::new(&plan);
        // Never seen created (an earlier run): its move out of step 1 must not go negative.
        let mut o = order("old");
        o.cursor = 1;
        o.status = plan.steps[0].status.clone();
        let next = moved(&o, &plan.steps[1].status, 2, vec![attempt(&plan.steps[1].name, 1, Outcome::Succeeded, 1)]);
        live.transition_at(&Transition { before: &o, after: &next }, 10);
        let s = live.snapshot_at(10);
        assert_eq!(node(&s, &plan.steps[1].name).in_flight, 0);
        assert_eq!(node(&s, &plan.steps[2].name).in_flight, 1);
        assert_eq!(s.orders.in_flight, 1);
        assert_eq!(s.orders.created, 0);
    }

    #[test]
    fn throughput_keeps_ten_minutes_of_ten_second_buckets() {
        let live = LiveStats::new(&plan());
        live.created_at(&order("a"), 995); // bucket 990
        live.created_at(&order("b"), 1_005); // bucket 1000
        live.created_at(&order("c"), 1_009);
        let s = live.snapshot_at(1_009);
        assert_eq!(s.throughput.buckets.len(), BUCKETS);
        assert_eq!(s.throughput.bucket_seconds, 10);
        let last = s.throughput.buckets[BUCKETS - 1];
        let before = s.throughput.buckets[BUCKETS - 2];
        assert_eq!((last.start, last.created), (1_000, 2));
        assert_eq!((before.start, before.created), (990, 1));
        assert_eq!(s.throughput.buckets[0].start, 1_000 - 590);
        // Ten minutes later the old buckets are gone.
        live.created_at(&order("d"), 1_000 + 600);
        let s = live.snapshot_at(1_600);
        assert_eq!(s.throughput.buckets.iter().map(|b| b.created).sum::<u64>(), 1);
        assert_eq!(live.lock().buckets.len(), 1, "old buckets are dropped, memory stays bounded");
    }

    #[test]
    fn latency_uses_a_bounded_window_of_recent_attempts() {
        let plan = plan();
        let step = plan.steps[0].name.clone();
        let live = LiveStats::new(&plan);
        let mut o = order("slow");
        let attempts: Vec<HistoryEntry> = (1..=100).map(|ms| attempt(&step, 1, Outcome::Retried, ms)).collect();
        let next = moved(&o, &plan.steps[0].status, 0, attempts);
        live.transition_at(&Transition { before: &o, after: &next }, 1);
        let s = live.snapshot_at(1);
        let l = &node(&s, &step).latency;
        assert_eq!((l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms), (Some(50), Some(90), Some(99), Some(100)));
        // Many fast attempts push the slow ones out of the window; count and sum keep everything.
        o = next;
        let fast: Vec<HistoryEntry> = (0..LATENCY_WINDOW).map(|_| attempt(&step, 1, Outcome::Retried, 1)).collect();
        let next = moved(&o, &plan.steps[0].status, 0, fast);
        live.transition_at(&Transition { before: &o, after: &next }, 2);
        let s = live.snapshot_at(2);
        let l = &node(&s, &step).latency;
        assert_eq!(l.window, LATENCY_WINDOW);
        assert_eq!((l.p50_ms, l.p99_ms, l.max_ms), (Some(1), Some(1), Some(1)));
        assert_eq!(l.count, 100 + LATENCY_WINDOW as u64);
        assert_eq!(l.sum_ms, 5050 + LATENCY_WINDOW as u64);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7], 0.99), Some(7));
        assert_eq!(percentile(&[1, 2, 3, 4], 0.5), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 4], 0.9), Some(4));
    }
}
