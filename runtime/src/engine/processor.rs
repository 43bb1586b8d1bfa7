//! [`Processor`]: drives a [`ChangeFeed`] through [`Engine::process`], the way a Lambda event source
//! mapping drives a DynamoDB stream. Feature `local`.
//!
//! - Starts after the consumer's checkpoint and reads batches of `batch_size` records.
//! - Records of different orders run concurrently (at most `concurrency` at once); records of one
//!   order run one after the other, in sequence order.
//! - A record whose processing returns `Err` (or panics) is delivered again after an exponential
//!   delay; the records of its order behind it wait. With a `dead_letter_file` and `max_retries`,
//!   a record still failing after `max_retries` re-deliveries is appended to that file (one JSON
//!   line, a [`DeadLetter`] of that one record, see [`crate::dead_letter`]) and counts as done, like
//!   a Lambda event source mapping's on-failure destination; otherwise (or when the file cannot be
//!   written) it is never skipped.
//! - The checkpoint advances to the highest sequence number below which every record succeeded, so a
//!   restart re-delivers only what may not have run (re-delivery is harmless: see [`Engine`]).
//! - Idle, it polls every `poll_interval`, or sooner when a [`Notify`] it was given fires.
//! - On shutdown it stops reading and starting records, waits for the in-flight ones and saves the
//!   checkpoint.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::{Notify, watch};
use tokio::task::{Id, JoinError, JoinHandle, JoinSet};
use tokio::time::Instant;
use tracing::Instrument;

use crate::dead_letter::{self, BatchInfo, DeadLetter, RETRIES_EXHAUSTED};
use crate::plan::Plan;
use crate::store::{ChangeFeed, ChangeRecord, compare_sequence};

use super::Engine;
use super::attempt::panic_message;
use super::metrics::{Metrics, bump, drop_one};

/// How a [`Processor`] consumes the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessorConfig {
    /// Name of the checkpoint in the feed.
    pub consumer: String,
    /// Records per read.
    pub batch_size: usize,
    /// Records processed at once, at most (one per order).
    pub concurrency: usize,
    /// Records read but not yet processed, at most (back-pressure on reading).
    pub max_buffered: usize,
    /// Wait between reads when the feed is idle.
    pub poll_interval: Duration,
    /// Delay before the first re-delivery of a failed record; doubled each time.
    pub retry_base: Duration,
    /// Largest delay before a re-delivery (or a read after the feed failed).
    pub retry_max: Duration,
    /// Shortest time between two checkpoint writes (the final one is always written).
    pub checkpoint_interval: Duration,
    /// Re-deliveries of a failing record before it is dead-lettered (only with a
    /// `dead_letter_file`); `None` re-delivers forever.
    pub max_retries: Option<u32>,
    /// The JSON-lines file of the records given up on after `max_retries` ([`crate::dead_letter`]);
    /// `None`: never give up.
    pub dead_letter_file: Option<PathBuf>,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            consumer: "orders-processor".to_owned(),
            batch_size: 100,
            concurrency: 256,
            max_buffered: 10_000,
            poll_interval: Duration::from_millis(50),
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_secs(10),
            checkpoint_interval: Duration::from_millis(100),
            max_retries: None,
            dead_letter_file: None,
        }
    }
}

impl ProcessorConfig {
    /// The defaults, with the plan's batch size and retries (`stream.max_retries`, effective once a
    /// `dead_letter_file` is set) and a consumer named after the pipeline.
    pub fn from_plan(plan: &Plan) -> ProcessorConfig {
        ProcessorConfig {
            consumer: format!("{}-processor", plan.name),
            batch_size: (plan.stream.batch_size as usize).max(1),
            max_retries: Some(plan.stream.max_retries),
            ..ProcessorConfig::default()
        }
    }

    fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(20);
        self.retry_base.saturating_mul(factor).min(self.retry_max)
    }
}

/// Drives a change feed with an engine. See the module docs.
pub struct Processor {
    engine: Arc<Engine>,
    feed: Arc<dyn ChangeFeed>,
    config: ProcessorConfig,
    wake: Option<Arc<Notify>>,
}

/// A processor running in a task.
#[derive(Debug)]
pub struct ProcessorHandle {
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
    metrics: Arc<Metrics>,
}

impl ProcessorHandle {
    /// The engine's counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Asks the processor to stop, then waits until the in-flight records are done and the
    /// checkpoint is saved.
    pub async fn shutdown(self) -> Result<(), JoinError> {
        // The processor may have stopped already (then nobody listens): fine.
        let _ = self.shutdown.send(true);
        self.task.await
    }
}

impl Processor {
    /// A processor of `feed` running `engine`.
    pub fn new(engine: Arc<Engine>, feed: Arc<dyn ChangeFeed>, config: ProcessorConfig) -> Processor {
        Processor { engine, feed, config, wake: None }
    }

    /// Also reads as soon as `notify` fires (e.g. [`MemoryStore::change_notifier`]).
    ///
    /// [`MemoryStore::change_notifier`]: crate::store::memory::MemoryStore::change_notifier
    pub fn wake_on(mut self, notify: Arc<Notify>) -> Processor {
        self.wake = Some(notify);
        self
    }

    /// Runs the processor in a new task. Dropping the handle stops it too (gracefully).
    pub fn spawn(self) -> ProcessorHandle {
        let (shutdown, signal) = watch::channel(false);
        let metrics = self.engine.metrics().clone();
        let task = tokio::spawn(self.run(signal));
        ProcessorHandle { shutdown, task, metrics }
    }

    /// Runs until `shutdown` becomes `true` (or its sender is dropped).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let config = &self.config;
        let batch_size = config.batch_size.max(1);
        let Some(start) = self.initial_checkpoint(&mut shutdown).await else { return };
        let mut state = State::new(start);
        let mut stopping = *shutdown.borrow();
        let mut read_failures = 0u32;
        let mut read_again_at = Instant::now();
        let mut last_save = Instant::now();
        loop {
            // Also seen here: under load the loop may not reach the `select!` for a while.
            stopping = stopping || *shutdown.borrow();
            let now = Instant::now();
            state.promote_delayed(now);
            let mut full_batch = false;
            if !stopping && state.outstanding.len() < config.max_buffered && read_again_at <= now {
                match self.feed.read_changes(state.read_after.as_deref(), batch_size).await {
                    Ok(records) => {
                        read_failures = 0;
                        full_batch = records.len() == batch_size;
                        for record in records {
                            state.enqueue(record);
                        }
                    }
                    Err(e) => {
                        read_failures += 1;
                        read_again_at = now + config.backoff(read_failures);
                        tracing::warn!(error = %e, "reading the change feed failed");
                    }
                }
            }
            if !stopping {
                state.dispatch(&self.engine, config.concurrency.max(1));
            }
            if last_save.elapsed() >= config.checkpoint_interval {
                self.save_checkpoint(&mut state).await;
                last_save = Instant::now();
            }
            if stopping && state.tasks.is_empty() {
                break;
            }
            if full_batch && state.outstanding.len() < config.max_buffered {
                while let Some(done) = state.tasks.try_join_next_with_id() {
                    state.finish(done, config, &self.engine.metrics);
                }
                continue;
            }

            let mut wake_at = now + config.poll_interval;
            if let Some(Reverse((at, _))) = state.delayed.peek() {
                wake_at = wake_at.min(*at);
            }
            let notified = async {
                match &self.wake {
                    Some(notify) => notify.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(done) = state.tasks.join_next_with_id(), if !state.tasks.is_empty() => {
                    state.finish(done, config, &self.engine.metrics);
                    while let Some(done) = state.tasks.try_join_next_with_id() {
                        state.finish(done, config, &self.engine.metrics);
                    }
                }
                changed = shutdown.changed(), if !stopping => {
                    stopping = changed.is_err() || *shutdown.borrow();
                }
                () = tokio::time::sleep_until(wake_at), if !stopping => {}
                () = notified, if !stopping => {}
            }
        }
        self.save_checkpoint(&mut state).await;
        tracing::info!(checkpoint = ?state.saved, "processor stopped");
    }

    /// The consumer's checkpoint, retried until read; `None` when asked to stop first.
    async fn initial_checkpoint(&self, shutdown: &mut watch::Receiver<bool>) -> Option<Option<String>> {
        let mut failures = 0;
        loop {
            match self.feed.checkpoint(&self.config.consumer).await {
                Ok(checkpoint) => return Some(checkpoint),
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %e, "reading the checkpoint failed");
                    tokio::select! {
                        () = tokio::time::sleep(self.config.backoff(failures)) => {}
                        changed = shutdown.changed() => {
                            if changed.is_err() || *shutdown.borrow() {
                                return None;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Advances the checkpoint over the finished prefix and saves it when it moved.
    async fn save_checkpoint(&self, state: &mut State) {
        state.advance_checkpoint();
        if state.checkpoint == state.saved {
            return;
        }
        let Some(checkpoint) = state.checkpoint.clone() else { return };
        match self.feed.save_checkpoint(&self.config.consumer, &checkpoint).await {
            Ok(()) => state.saved = Some(checkpoint),
            Err(e) => tracing::warn!(error = %e, "saving the checkpoint failed; will retry"),
        }
    }
}

/// A sequence number, ordered as the feed orders them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seq(String);

impl Ord for Seq {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_sequence(&self.0, &other.0)
    }
}

impl PartialOrd for Seq {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Where an order's queue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// In `State::ready`.
    Ready,
    /// Its first record is being processed.
    Running,
    /// Its first record failed: in `State::delayed`.
    Waiting,
}

/// The records of one order not yet processed, oldest first.
struct OrderQueue {
    records: VecDeque<ChangeRecord>,
    phase: Phase,
    failures: u32,
}

/// What a record's task reports.
struct Finished {
    order_id: String,
    sequence_number: String,
    /// When the change was written (the image's `updated_at`), empty when unknown.
    changed_at: String,
    result: Result<(), String>,
}

/// The processor's bookkeeping.
struct State {
    queues: HashMap<String, OrderQueue>,
    ready: VecDeque<String>,
    delayed: BinaryHeap<Reverse<(Instant, String)>>,
    /// Read, not yet processed.
    outstanding: BTreeSet<Seq>,
    /// Processed, not yet covered by the checkpoint.
    done: BTreeSet<Seq>,
    read_after: Option<String>,
    checkpoint: Option<String>,
    saved: Option<String>,
    tasks: JoinSet<Finished>,
    /// Task id → (order id, sequence number, change time), to recover from a task that could not
    /// finish.
    running: HashMap<Id, (String, String, String)>,
}

impl State {
    fn new(checkpoint: Option<String>) -> State {
        State {
            queues: HashMap::new(),
            ready: VecDeque::new(),
            delayed: BinaryHeap::new(),
            outstanding: BTreeSet::new(),
            done: BTreeSet::new(),
            read_after: checkpoint.clone(),
            saved: checkpoint.clone(),
            checkpoint,
            tasks: JoinSet::new(),
            running: HashMap::new(),
        }
    }

    fn enqueue(&mut self, record: ChangeRecord) {
        self.read_after = Some(record.sequence_number.clone());
        self.outstanding.insert(Seq(record.sequence_number.clone()));
        let order_id = record.order_id.clone();
        match self.queues.get_mut(&order_id) {
            Some(queue) => queue.records.push_back(record),
            None => {
                let queue = OrderQueue { records: VecDeque::from([record]), phase: Phase::Ready, failures: 0 };
                self.queues.insert(order_id.clone(), queue);
                self.ready.push_back(order_id);
            }
        }
    }

    fn promote_delayed(&mut self, now: Instant) {
        while let Some(Reverse((at, _))) = self.delayed.peek()
            && *at <= now
        {
            if let Some(Reverse((_, order_id))) = self.delayed.pop()
                && let Some(queue) = self.queues.get_mut(&order_id)
            {
                queue.phase = Phase::Ready;
                self.ready.push_back(order_id);
            }
        }
    }

    fn dispatch(&mut self, engine: &Arc<Engine>, concurrency: usize) {
        while self.tasks.len() < concurrency
            && let Some(order_id) = self.ready.pop_front()
        {
            let Some(queue) = self.queues.get_mut(&order_id) else { continue };
            let Some(record) = queue.records.front().cloned() else {
                self.queues.remove(&order_id);
                continue;
            };
            queue.phase = Phase::Running;
            let sequence_number = record.sequence_number.clone();
            let changed_at = record.new_image.as_ref().map(|o| o.updated_at.clone()).unwrap_or_default();
            let reported_changed_at = changed_at.clone();
            let engine = engine.clone();
            bump(&engine.metrics().in_flight);
            let task = self.tasks.spawn(async move {
                let span = tracing::info_span!("record", sequence_number = %record.sequence_number);
                let outcome = AssertUnwindSafe(engine.process(&record)).catch_unwind().instrument(span).await;
                drop_one(&engine.metrics().in_flight);
                let result = match outcome {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(panic) => Err(format!("processing panicked: {}", panic_message(&*panic))),
                };
                Finished {
                    order_id: record.order_id,
                    sequence_number: record.sequence_number,
                    changed_at: reported_changed_at,
                    result,
                }
            });
            self.running.insert(task.id(), (order_id, sequence_number, changed_at));
        }
    }

    fn finish(&mut self, joined: Result<(Id, Finished), JoinError>, config: &ProcessorConfig, metrics: &Metrics) {
        let mut finished = match joined {
            Ok((id, finished)) => {
                self.running.remove(&id);
                finished
            }
            Err(e) => {
                let Some((order_id, sequence_number, changed_at)) = self.running.remove(&e.id()) else { return };
                Finished { order_id, sequence_number, changed_at, result: Err(format!("the task did not finish: {e}")) }
            }
        };
        let Some(queue) = self.queues.get_mut(&finished.order_id) else { return };
        let result = match std::mem::replace(&mut finished.result, Ok(())) {
            Err(error)
                if config.dead_letter_file.is_some() && config.max_retries.is_some_and(|max| queue.failures >= max) =>
            {
                match dead_letter(config, &finished, queue.failures + 1, &error) {
                    Ok(()) => {
                        bump(&metrics.records_failed);
                        Ok(())
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "writing the dead-letter file failed; the record stays");
                        Err(error)
                    }
                }
            }
            Ok(()) => {
                bump(&metrics.records_processed);
                Ok(())
            }
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => {
                queue.records.pop_front();
                queue.failures = 0;
                let seq = Seq(finished.sequence_number);
                self.outstanding.remove(&seq);
                self.done.insert(seq);
                if queue.records.is_empty() {
                    self.queues.remove(&finished.order_id);
                } else {
                    queue.phase = Phase::Ready;
                    self.ready.push_back(finished.order_id);
                }
            }
            Err(error) => {
                bump(&metrics.records_failed);
                bump(&metrics.redeliveries);
                queue.failures += 1;
                queue.phase = Phase::Waiting;
                let delay = config.backoff(queue.failures);
                tracing::warn!(
                    order_id = %finished.order_id,
                    sequence_number = %finished.sequence_number,
                    failures = queue.failures,
                    %error,
                    "processing failed; the record will be delivered again in {delay:?}"
                );
                self.delayed.push(Reverse((Instant::now() + delay, finished.order_id)));
            }
        }
    }

    /// Moves the checkpoint to the highest processed record with nothing unprocessed before it.
    fn advance_checkpoint(&mut self) {
        let lowest_outstanding = self.outstanding.first().cloned();
        while let Some(first) = self.done.first() {
            if lowest_outstanding.as_ref().is_some_and(|low| first > low) {
                break;
            }
            if let Some(seq) = self.done.pop_first() {
                self.checkpoint = Some(seq.0);
            }
        }
    }
}

/// Appends the record to `config.dead_letter_file` (an error when there is none: keep the record).
fn dead_letter(config: &ProcessorConfig, record: &Finished, deliveries: u32, reason: &str) -> std::io::Result<()> {
    let Some(path) = &config.dead_letter_file else {
        return Err(std::io::Error::other("no dead-letter file is configured"));
    };
    let batch = BatchInfo {
        shard_id: String::new(),
        start_sequence_number: record.sequence_number.clone(),
        end_sequence_number: record.sequence_number.clone(),
        approximate_arrival_of_first_record: record.changed_at.clone(),
        approximate_arrival_of_last_record: record.changed_at.clone(),
        batch_size: 1,
        stream_arn: String::new(),
    };
    let mut letter = DeadLetter::new(RETRIES_EXHAUSTED, deliveries, reason, batch);
    letter.order_ids = vec![record.order_id.clone()];
    letter.consumer = Some(config.consumer.clone());
    dead_letter::append(path, &letter)?;
    tracing::error!(
        order_id = %record.order_id,
        sequence_number = %record.sequence_number,
        deliveries,
        %reason,
        file = %path.display(),
        "the record failed after every retry; sent to the dead-letter file (once its cause is fixed: `orchgen redrive --local`)"
    );
    Ok(())
}
