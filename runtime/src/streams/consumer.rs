//! [`StreamConsumer`]: reads the orders table's DynamoDB stream through the DynamoDB Streams API
//! (DynamoDB Local or any compatible endpoint) and feeds the Lambda handler with event-shaped
//! batches, the way a Lambda event source mapping does.
//!
//! - **Shards**: the stream is found with ListStreams (the newest stream of the table) and its shards
//!   with DescribeStream (paginated). Open and closed shards are read; a child shard starts only once
//!   its parent is finished (or trimmed away), so the records of a key stay in order across splits.
//!   Each eligible shard is read by its own task; the shard list is refreshed periodically.
//! - **Iterators and checkpoints**: a shard starts `AFTER_SEQUENCE_NUMBER` its checkpoint, or at
//!   `TRIM_HORIZON` without one (falling back to `TRIM_HORIZON` when the checkpoint was trimmed).
//!   Checkpoints are JSON files per shard ([`CheckpointDir`]), written after every batch, so a
//!   restart re-delivers nothing that finished. An expired iterator (`ExpiredIteratorException`) is
//!   replaced by a new one after the checkpoint; the records read but not finished are read again.
//! - **Polling**: an idle shard is polled every `poll_interval`, doubling up to `max_poll_interval`
//!   (from the plan: both [`LAMBDA_POLL_INTERVAL`], four reads a second, as Lambda polls a shard).
//! - **Batches** (the plan's `stream` settings): up to `batch_size` records, gathered for up to
//!   `batching_window`. The handler's `batchItemFailures` are honoured like Lambda does: the records
//!   before the lowest failed sequence number are finished, the batch is retried from it.
//!   With `bisect_on_error` a failing batch is split in two (not counted as a retry) until it holds
//!   one record. After `max_retries` retries the failing batch goes to the on-failure destination, a
//!   JSON-lines dead-letter file ([`DeadLetter`], the shape of the SQS message of a real mapping: see
//!   [`crate::dead_letter`]), and the shard goes on. Records older than `max_record_age` are not
//!   delivered but dead-lettered.
//!   Records of one shard are delivered one batch at a time (a parallelisation factor of 1), and
//!   at most `orders_at_once` orders of a batch are processed at the same time
//!   ([`LOCAL_ORDERS_AT_ONCE`]: fewer than the Lambda handler's
//!   [`ORDERS_AT_ONCE`](super::lambda::ORDERS_AT_ONCE), so that on one DynamoDB Local the engine
//!   leaves the API its share of the endpoint instead of queueing dozens of requests ahead of
//!   each POST).
//! - **Wake-up**: with a notifier ([`StreamConsumer::wake_on`]; [`StreamConsumer::new`] takes the
//!   engine's store's [`Store::write_notifier`](crate::store::Store::write_notifier)), an idle
//!   shard is read again as soon as this process wrote an order, instead of at its next poll: the
//!   order API and the consumer of `orchgen dev` share the process. The polling stays as it is for
//!   every other writer.
//! - **Stop**: [`StreamConsumerHandle::stop`] lets the batches in flight finish, saves the
//!   checkpoints and returns.
//!
//! Its SDK configuration comes from [`crate::aws::sdk_config`] (for DynamoDB Local:
//! [`AwsOptions::local_endpoint`](crate::aws::AwsOptions::local_endpoint)). Feature `local`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::error::DisplayErrorContext;
use aws_sdk_dynamodbstreams::types::{Shard, ShardIteratorType};
use chrono::Utc;
use futures::FutureExt;
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio::task::{JoinError, JoinHandle, JoinSet};

use crate::dead_letter::{self, BatchInfo, DeadLetter, RECORD_AGE_EXCEEDED, RETRIES_EXHAUSTED};
use crate::engine::Engine;
use crate::plan::Plan;
use crate::store::compare_sequence;

use super::checkpoint::{CheckpointDir, ShardCheckpoint};
use super::event::record_order_id;
use super::lambda::{BatchReport, process_event, process_event_with};
use super::records::event_record;

/// The most records one GetRecords call returns.
const GET_RECORDS_MAX: usize = 1_000;

/// How the consumer reads the stream and delivers batches.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamConsumerConfig {
    /// The table whose stream is read.
    pub table_name: String,
    /// Read this stream instead of looking the table's newest one up with ListStreams.
    pub stream_arn: Option<String>,
    /// Directory of the per-shard checkpoint files.
    pub checkpoint_dir: PathBuf,
    /// The on-failure destination: a JSON-lines file of [`DeadLetter`]s.
    pub dead_letter_file: PathBuf,
    /// Records per batch, at most (1–10,000).
    pub batch_size: usize,
    /// Longest wait to fill a batch.
    pub batching_window: Duration,
    /// Retries of a failing batch before it is dead-lettered; `None` retries forever.
    pub max_retries: Option<u32>,
    /// Records older than this are dead-lettered instead of delivered; `None`: no limit.
    pub max_record_age: Option<Duration>,
    /// Split a failing batch in two to isolate the bad record.
    pub bisect_on_error: bool,
    /// First wait when a shard has no new record.
    pub poll_interval: Duration,
    /// Longest wait when a shard stays idle (the wait doubles up to it).
    pub max_poll_interval: Duration,
    /// Delay before the first retry of a failing batch (or of a failed API call); doubled each time.
    pub retry_base: Duration,
    /// Longest delay between retries.
    pub retry_max: Duration,
    /// How often the shard list is refreshed.
    pub shard_refresh_interval: Duration,
    /// Orders of one batch processed at the same time, at least 1.
    pub orders_at_once: usize,
}

/// How often an idle shard is read: a Lambda event source mapping polls each shard of a DynamoDB
/// stream four times a second, and so does the consumer (never slower).
pub const LAMBDA_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Orders of one batch the consumer processes at the same time. A DynamoDB Local serves one
/// request after the other on the machine's CPUs: with 64 orders at once (the Lambda handler's
/// [`ORDERS_AT_ONCE`](super::lambda::ORDERS_AT_ONCE)) a POST waited behind up to 128 of the
/// engine's requests; 4 keep it busy without that queue (see BENCHMARKS.md, "DynamoDB path").
pub const LOCAL_ORDERS_AT_ONCE: usize = 4;

impl StreamConsumerConfig {
    /// The settings of a Lambda event source mapping with the plan's `stream` section, reading the
    /// plan's orders table (change `table_name` for a prefixed table).
    pub fn from_plan(plan: &Plan, checkpoint_dir: impl Into<PathBuf>, dead_letter_file: impl Into<PathBuf>) -> Self {
        let stream = &plan.stream;
        StreamConsumerConfig {
            table_name: plan.tables.orders.name.clone(),
            stream_arn: None,
            checkpoint_dir: checkpoint_dir.into(),
            dead_letter_file: dead_letter_file.into(),
            batch_size: (stream.batch_size as usize).clamp(1, 10_000),
            batching_window: Duration::from_secs(u64::from(stream.batching_window_s)),
            max_retries: Some(stream.max_retries),
            max_record_age: (stream.max_record_age_s > 0)
                .then(|| Duration::from_secs(u64::from(stream.max_record_age_s))),
            bisect_on_error: stream.bisect_on_error,
            poll_interval: LAMBDA_POLL_INTERVAL,
            max_poll_interval: LAMBDA_POLL_INTERVAL,
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_secs(10),
            shard_refresh_interval: Duration::from_secs(5),
            orders_at_once: LOCAL_ORDERS_AT_ONCE,
        }
    }

    fn retry_delay(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(20);
        self.retry_base.saturating_mul(factor).min(self.retry_max)
    }

    fn idle_delay(&self, idle_polls: u32) -> Duration {
        let factor = 1u32 << idle_polls.saturating_sub(1).min(20);
        self.poll_interval.saturating_mul(factor).min(self.max_poll_interval.max(self.poll_interval))
    }
}

/// What the consumer calls with each batch: the engine's Lambda handler, or a layer around it.
#[async_trait]
pub trait BatchHandler: Send + Sync + 'static {
    /// Processes a batch and reports the failed records.
    async fn handle(&self, event: Event) -> BatchReport;
}

/// The Lambda stream processor of an engine ([`process_event`]) as a [`BatchHandler`].
#[derive(Debug, Clone)]
pub struct EngineHandler(pub Arc<Engine>);

#[async_trait]
impl BatchHandler for EngineHandler {
    async fn handle(&self, event: Event) -> BatchReport {
        process_event(&self.0, &event).await
    }
}

/// [`EngineHandler`] with at most `orders_at_once` orders of a batch at the same time.
#[derive(Debug, Clone)]
struct BoundedEngineHandler {
    engine: Arc<Engine>,
    orders_at_once: usize,
}

#[async_trait]
impl BatchHandler for BoundedEngineHandler {
    async fn handle(&self, event: Event) -> BatchReport {
        process_event_with(&self.engine, &event, self.orders_at_once).await
    }
}

/// Counters of a consumer.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    batches: AtomicU64,
    records_delivered: AtomicU64,
    records_finished: AtomicU64,
    records_dead_lettered: AtomicU64,
    shards_finished: AtomicU64,
    expired_iterators: AtomicU64,
}

/// A copy of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ConsumerStatsSnapshot {
    /// Handler invocations.
    pub batches: u64,
    /// Records given to the handler (retries included).
    pub records_delivered: u64,
    /// Records finished: processed, ignored or dead-lettered (covered by a checkpoint).
    pub records_finished: u64,
    /// Records sent to the dead-letter file.
    pub records_dead_lettered: u64,
    /// Closed shards read to their end.
    pub shards_finished: u64,
    /// Shard iterators replaced after they expired.
    pub expired_iterators: u64,
}

impl ConsumerStats {
    /// The current values.
    pub fn snapshot(&self) -> ConsumerStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ConsumerStatsSnapshot {
            batches: get(&self.batches),
            records_delivered: get(&self.records_delivered),
            records_finished: get(&self.records_finished),
            records_dead_lettered: get(&self.records_dead_lettered),
            shards_finished: get(&self.shards_finished),
            expired_iterators: get(&self.expired_iterators),
        }
    }
}

fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}

/// Reads a table's stream and feeds a [`BatchHandler`]. See the module docs.
pub struct StreamConsumer {
    client: Client,
    handler: Arc<dyn BatchHandler>,
    config: StreamConsumerConfig,
    wake: Option<Arc<Notify>>,
}

impl std::fmt::Debug for StreamConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamConsumer").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A consumer running in a task.
#[derive(Debug)]
pub struct StreamConsumerHandle {
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
    stats: Arc<ConsumerStats>,
}

impl StreamConsumerHandle {
    /// The consumer's counters.
    pub fn stats(&self) -> ConsumerStatsSnapshot {
        self.stats.snapshot()
    }

    /// Stops the consumer: the batches in flight finish, the checkpoints are saved.
    pub async fn stop(self) -> Result<(), JoinError> {
        // The consumer may have stopped already: fine.
        let _ = self.shutdown.send(true);
        self.task.await
    }
}

impl StreamConsumer {
    /// A consumer delivering to `engine`'s Lambda handler (`config.orders_at_once` orders at a
    /// time), with a DynamoDB Streams client built from `sdk_config` (see
    /// [`crate::aws::sdk_config`]), woken by the writes of the engine's store when it tells of them
    /// ([`Store::write_notifier`](crate::store::Store::write_notifier)).
    pub fn new(engine: Arc<Engine>, sdk_config: &aws_config::SdkConfig, config: StreamConsumerConfig) -> Self {
        let wake = engine.store().write_notifier();
        let handler = BoundedEngineHandler { engine, orders_at_once: config.orders_at_once.max(1) };
        let consumer = StreamConsumer::with_handler(Arc::new(handler), Client::new(sdk_config), config);
        match wake {
            Some(notify) => consumer.wake_on(notify),
            None => consumer,
        }
    }

    /// A consumer delivering to any handler, with the given client.
    pub fn with_handler(handler: Arc<dyn BatchHandler>, client: Client, config: StreamConsumerConfig) -> Self {
        StreamConsumer { client, handler, config, wake: None }
    }

    /// Reads an idle shard again as soon as `notify` is notified (a write of this process), not
    /// only every `poll_interval`.
    pub fn wake_on(mut self, notify: Arc<Notify>) -> Self {
        self.wake = Some(notify);
        self
    }

    /// Runs the consumer in a new task. Dropping the handle stops it too (gracefully, unawaited).
    pub fn spawn(self) -> StreamConsumerHandle {
        let (shutdown, signal) = watch::channel(false);
        let stats = Arc::new(ConsumerStats::default());
        let task = tokio::spawn(self.run(signal, stats.clone()));
        StreamConsumerHandle { shutdown, task, stats }
    }

    /// Runs until `shutdown` becomes `true` (or its sender is dropped), counting into `stats`.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>, stats: Arc<ConsumerStats>) {
        let shared = Arc::new(Shared {
            client: self.client,
            handler: self.handler,
            wake: self.wake,
            checkpoints: CheckpointDir::new(&self.config.checkpoint_dir),
            config: self.config,
            stats,
        });
        let mut stream_arn = shared.config.stream_arn.clone();
        let mut running: HashMap<tokio::task::Id, String> = HashMap::new();
        let mut active: HashSet<String> = HashSet::new();
        let mut finished: HashSet<String> = HashSet::new();
        let mut workers: JoinSet<(String, bool)> = JoinSet::new();
        let mut failures = 0u32;
        loop {
            if stopped(&shutdown) {
                break;
            }
            let mut wait = shared.config.shard_refresh_interval;
            match shared.refresh(&mut stream_arn).await {
                Ok(Some((arn, shards))) => {
                    failures = 0;
                    let listed: HashSet<&str> = shards.iter().filter_map(Shard::shard_id).collect();
                    for shard in &shards {
                        let Some(shard_id) = shard.shard_id() else { continue };
                        if active.contains(shard_id) || finished.contains(shard_id) {
                            continue;
                        }
                        if shared.is_finished(&arn, shard_id) {
                            finished.insert(shard_id.to_owned());
                            continue;
                        }
                        let parent_done = match shard.parent_shard_id() {
                            None => true,
                            Some(parent) => {
                                !listed.contains(parent)
                                    || finished.contains(parent)
                                    || shared.is_finished(&arn, parent)
                            }
                        };
                        if !parent_done {
                            continue;
                        }
                        let worker = ShardWorker::new(shared.clone(), arn.clone(), shard_id.to_owned());
                        let task = workers.spawn(worker.run(shutdown.clone()));
                        running.insert(task.id(), shard_id.to_owned());
                        active.insert(shard_id.to_owned());
                    }
                }
                Ok(None) => {
                    failures += 1;
                    wait = shared.config.retry_delay(failures).min(wait);
                }
                Err(e) => {
                    failures += 1;
                    wait = shared.config.retry_delay(failures).min(wait);
                    tracing::warn!(table = %shared.config.table_name, error = %e, "reading the stream's shards failed");
                }
            }
            let sleep = tokio::time::sleep(wait);
            tokio::pin!(sleep);
            // Wait for the refresh time, a shard worker to end, or the stop signal.
            loop {
                tokio::select! {
                    Some(done) = workers.join_next_with_id(), if !workers.is_empty() => {
                        let (shard_id, shard_finished) = match done {
                            Ok((id, outcome)) => {
                                running.remove(&id);
                                outcome
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "a shard worker did not finish");
                                (running.remove(&e.id()).unwrap_or_default(), false)
                            }
                        };
                        active.remove(&shard_id);
                        if shard_finished {
                            // Its children may start now.
                            finished.insert(shard_id);
                            break;
                        }
                    }
                    () = &mut sleep => break,
                    changed = shutdown.changed() => {
                        if changed.is_err() || *shutdown.borrow() {
                            break;
                        }
                    }
                }
            }
        }
        // Workers see the same signal; wait for them to save their checkpoints.
        while let Some(done) = workers.join_next().await {
            if let Err(e) = done {
                tracing::error!(error = %e, "a shard worker did not finish");
            }
        }
        tracing::info!(table = %shared.config.table_name, stats = ?shared.stats.snapshot(), "stream consumer stopped");
    }
}

/// Whether the consumer was asked to stop (or its handle is gone).
fn stopped(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}

/// What the shard workers share.
struct Shared {
    client: Client,
    handler: Arc<dyn BatchHandler>,
    wake: Option<Arc<Notify>>,
    checkpoints: CheckpointDir,
    config: StreamConsumerConfig,
    stats: Arc<ConsumerStats>,
}

impl Shared {
    /// The stream and its shards (`None` while the table has no stream).
    async fn refresh(&self, stream_arn: &mut Option<String>) -> Result<Option<(String, Vec<Shard>)>, String> {
        let arn = match stream_arn {
            Some(arn) => arn.clone(),
            None => {
                let output = self
                    .client
                    .list_streams()
                    .table_name(&self.config.table_name)
                    .send()
                    .await
                    .map_err(|e| format!("ListStreams: {}", DisplayErrorContext(e)))?;
                // The newest stream of the table (labels are ISO timestamps).
                let newest = output
                    .streams()
                    .iter()
                    .filter(|s| s.stream_arn().is_some())
                    .max_by(|a, b| a.stream_label().unwrap_or_default().cmp(b.stream_label().unwrap_or_default()));
                let Some(arn) = newest.and_then(|s| s.stream_arn()) else {
                    tracing::info!(table = %self.config.table_name, "the table has no stream yet");
                    return Ok(None);
                };
                *stream_arn = Some(arn.to_owned());
                arn.to_owned()
            }
        };
        let mut shards = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let output = self
                .client
                .describe_stream()
                .stream_arn(&arn)
                .set_exclusive_start_shard_id(start.take())
                .send()
                .await
                .map_err(|e| format!("DescribeStream: {}", DisplayErrorContext(e)))?;
            let Some(description) = output.stream_description() else { break };
            shards.extend(description.shards().iter().cloned());
            match description.last_evaluated_shard_id() {
                Some(last) => start = Some(last.to_owned()),
                None => break,
            }
        }
        Ok(Some((arn, shards)))
    }

    fn is_finished(&self, stream_arn: &str, shard_id: &str) -> bool {
        match self.checkpoints.load(stream_arn, shard_id) {
            Ok(checkpoint) => checkpoint.is_some_and(|c| c.finished),
            Err(e) => {
                tracing::warn!(error = %e, "reading a checkpoint failed");
                false
            }
        }
    }
}

/// What went wrong reading a shard.
enum ReadError {
    /// The iterator expired: get a new one after the checkpoint.
    Expired,
    /// The position was trimmed from the stream: restart at the trim horizon.
    Trimmed,
    /// Anything else: retry later.
    Other(String),
}

/// Reads one shard and delivers its batches.
struct ShardWorker {
    shared: Arc<Shared>,
    stream_arn: String,
    shard_id: String,
    region: String,
    checkpoint: Option<String>,
    iterator: Option<String>,
    /// No more records will come (the shard is closed and read to its end).
    ended: bool,
    /// Records read and not finished, in order.
    pending: VecDeque<EventRecord>,
    /// Failed deliveries of the record at the front.
    attempts: u32,
    /// Size of the next batch, reduced by bisection.
    limit: usize,
    idle_polls: u32,
    /// The wait the last step asked for is a poll for new records (a write notification may cut
    /// it short), not a delay before a retry.
    polling: bool,
    api_failures: u32,
    /// When the oldest pending record was read (for the batching window).
    gathering_since: Option<tokio::time::Instant>,
}

impl ShardWorker {
    fn new(shared: Arc<Shared>, stream_arn: String, shard_id: String) -> ShardWorker {
        let region = stream_arn.split(':').nth(3).unwrap_or_default().to_owned();
        let limit = shared.config.batch_size.max(1);
        ShardWorker {
            shared,
            stream_arn,
            shard_id,
            region,
            checkpoint: None,
            iterator: None,
            ended: false,
            pending: VecDeque::new(),
            attempts: 0,
            limit,
            idle_polls: 0,
            polling: false,
            api_failures: 0,
            gathering_since: None,
        }
    }

    /// Runs until the shard is finished (`true`) or the stop signal (`false`).
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> (String, bool) {
        match self.shared.checkpoints.load(&self.stream_arn, &self.shard_id) {
            Ok(Some(checkpoint)) if checkpoint.finished => return (self.shard_id, true),
            Ok(Some(checkpoint)) => self.checkpoint = checkpoint.sequence_number,
            Ok(None) => {}
            Err(e) => {
                // Never start over silently: a corrupt checkpoint needs a person.
                tracing::error!(shard = %self.shard_id, error = %e, "the shard's checkpoint cannot be read; not reading the shard");
                let _ = shutdown.wait_for(|stop| *stop).await;
                return (self.shard_id, false);
            }
        }
        tracing::info!(shard = %self.shard_id, checkpoint = ?self.checkpoint, "reading shard");
        let finished = loop {
            if stopped(&shutdown) {
                break false;
            }
            let wait = self.step().await;
            if self.ended && self.pending.is_empty() {
                break true;
            }
            if let Some(wait) = wait {
                let wake = self.shared.wake.clone().filter(|_| self.polling);
                let woken = async {
                    match &wake {
                        Some(notify) => notify.notified().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => {}
                    () = woken => {}
                }
            }
        };
        if finished {
            self.save(true);
            add(&self.shared.stats.shards_finished, 1);
            tracing::info!(shard = %self.shard_id, "shard finished");
        }
        (self.shard_id, finished)
    }

    /// Reads and delivers once; returns how long to wait before the next step, if at all.
    async fn step(&mut self) -> Option<Duration> {
        let shared = self.shared.clone();
        let config = &shared.config;
        let batch_size = config.batch_size.max(1);
        let mut idle = false;
        self.polling = false;
        if self.pending.len() < batch_size && !self.ended {
            match self.read(batch_size - self.pending.len()).await {
                Ok(0) => {
                    self.api_failures = 0;
                    idle = true;
                }
                Ok(_) => {
                    self.api_failures = 0;
                    self.idle_polls = 0;
                }
                Err(ReadError::Expired) => {
                    add(&self.shared.stats.expired_iterators, 1);
                    tracing::info!(shard = %self.shard_id, "the shard iterator expired; resuming after the checkpoint");
                    self.restart_reading();
                    return None;
                }
                Err(ReadError::Trimmed) => {
                    tracing::warn!(shard = %self.shard_id, checkpoint = ?self.checkpoint, "records after the checkpoint were trimmed from the stream; resuming at the trim horizon");
                    self.restart_reading();
                    self.checkpoint = None;
                    return None;
                }
                Err(ReadError::Other(e)) => {
                    self.api_failures += 1;
                    tracing::warn!(shard = %self.shard_id, error = %e, "reading the shard failed");
                    if self.pending.is_empty() {
                        return Some(config.retry_delay(self.api_failures));
                    }
                }
            }
        }
        if self.pending.is_empty() {
            if self.ended {
                return None;
            }
            self.idle_polls += 1;
            self.polling = true;
            return Some(config.idle_delay(self.idle_polls));
        }
        // Batching window: wait for more records while the batch is not full.
        let since = *self.gathering_since.get_or_insert_with(tokio::time::Instant::now);
        if self.pending.len() < batch_size
            && !self.ended
            && self.attempts == 0
            && since.elapsed() < config.batching_window
        {
            let left = config.batching_window.saturating_sub(since.elapsed());
            self.polling = true;
            return Some(if idle { left.min(config.idle_delay(1)) } else { Duration::ZERO });
        }
        self.discard_expired();
        if self.pending.is_empty() {
            return None;
        }
        self.deliver().await
    }

    /// Forgets the iterator and the unfinished records: they are read again after the checkpoint.
    fn restart_reading(&mut self) {
        self.iterator = None;
        self.ended = false;
        self.pending.clear();
        self.gathering_since = None;
    }

    /// Reads up to `want` records into `pending`; returns how many.
    async fn read(&mut self, want: usize) -> Result<usize, ReadError> {
        let iterator = match self.iterator.clone() {
            Some(iterator) => iterator,
            None => {
                let iterator = self.new_iterator().await?;
                self.iterator = Some(iterator.clone());
                iterator
            }
        };
        let output = self
            .shared
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(want.clamp(1, GET_RECORDS_MAX) as i32)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_expired_iterator_exception() => ReadError::Expired,
                Some(s) if s.is_trimmed_data_access_exception() => ReadError::Trimmed,
                _ => ReadError::Other(format!("GetRecords: {}", DisplayErrorContext(e))),
            })?;
        let records = output.records().to_vec();
        match output.next_shard_iterator() {
            Some(next) => self.iterator = Some(next.to_owned()),
            None => {
                self.iterator = None;
                self.ended = true;
            }
        }
        let mut read = 0;
        for record in records {
            match event_record(record, &self.stream_arn, &self.region) {
                Ok(record) => {
                    // Records at or before the checkpoint were finished already.
                    let seq = record.change.sequence_number.as_deref().unwrap_or_default();
                    if let Some(checkpoint) = &self.checkpoint
                        && compare_sequence(seq, checkpoint).is_le()
                    {
                        continue;
                    }
                    self.pending.push_back(record);
                    read += 1;
                }
                Err(e) => return Err(ReadError::Other(e)),
            }
        }
        Ok(read)
    }

    async fn new_iterator(&self) -> Result<String, ReadError> {
        let request = self.shared.client.get_shard_iterator().stream_arn(&self.stream_arn).shard_id(&self.shard_id);
        let request = match &self.checkpoint {
            Some(sequence_number) => {
                request.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).sequence_number(sequence_number)
            }
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        let output = request.send().await.map_err(|e| match e.as_service_error() {
            Some(s) if s.is_trimmed_data_access_exception() => ReadError::Trimmed,
            _ => ReadError::Other(format!("GetShardIterator: {}", DisplayErrorContext(e))),
        })?;
        output
            .shard_iterator()
            .map(str::to_owned)
            .ok_or_else(|| ReadError::Other("GetShardIterator returned no iterator".to_owned()))
    }

    /// Dead-letters the records at the front that are older than the maximum record age.
    fn discard_expired(&mut self) {
        let Some(max_age) = self.shared.config.max_record_age else { return };
        let now = Utc::now();
        let expired = self
            .pending
            .iter()
            .take_while(|r| {
                let created = r.change.approximate_creation_date_time;
                created.timestamp() > 0 && (now - created).to_std().is_ok_and(|age| age > max_age)
            })
            .count();
        if expired == 0 {
            return;
        }
        let records: Vec<EventRecord> = self.pending.drain(..expired).collect();
        let reason = format!("the records are older than the maximum record age of {}s", max_age.as_secs());
        self.dead_letter(&records, RECORD_AGE_EXCEEDED, reason, 0);
        self.attempts = 0;
        self.limit = self.shared.config.batch_size.max(1);
    }

    /// Delivers the batch at the front and acts on the outcome.
    async fn deliver(&mut self) -> Option<Duration> {
        let shared = self.shared.clone();
        let config = &shared.config;
        let size = self.limit.min(self.pending.len()).max(1);
        let batch: Vec<EventRecord> = self.pending.iter().take(size).cloned().collect();
        let mut event = Event::default();
        event.records = batch.clone();
        add(&self.shared.stats.batches, 1);
        add(&self.shared.stats.records_delivered, size);
        let handler = self.shared.handler.clone();
        let report = match AssertUnwindSafe(handler.handle(event)).catch_unwind().await {
            Ok(report) => report,
            Err(_) => {
                tracing::error!(shard = %self.shard_id, "the handler panicked; the batch fails");
                let failure = super::lambda::RecordFailure {
                    sequence_number: String::new(),
                    order_id: None,
                    reason: "the handler panicked".to_owned(),
                };
                BatchReport { records: size, failures: vec![failure], ..BatchReport::default() }
            }
        };
        // The lowest failed record; an unknown identifier fails the whole batch (as on Lambda).
        let mut first_failed = size;
        for failure in &report.failures {
            let at = batch
                .iter()
                .position(|r| r.change.sequence_number.as_deref() == Some(failure.sequence_number.as_str()));
            first_failed = first_failed.min(at.unwrap_or(0));
        }
        if first_failed > 0 {
            self.finish(first_failed);
        }
        if first_failed == size {
            self.limit = config.batch_size.max(1);
            return None;
        }
        let reason = report
            .failures
            .iter()
            .find(|f| {
                batch.get(first_failed).and_then(|r| r.change.sequence_number.as_deref())
                    == Some(f.sequence_number.as_str())
            })
            .or(report.failures.first())
            .map(|f| f.reason.clone())
            .unwrap_or_default();
        let failing = size - first_failed;
        if config.bisect_on_error && failing > 1 {
            // Splitting does not use up a retry.
            self.limit = failing.div_ceil(2);
            tracing::info!(shard = %self.shard_id, batch = failing, next = self.limit, reason = %reason, "batch failed; bisecting");
            return None;
        }
        self.attempts += 1;
        if config.max_retries.is_some_and(|max| self.attempts > max) {
            let records: Vec<EventRecord> = self.pending.iter().take(failing).cloned().collect();
            let attempts = self.attempts;
            self.dead_letter(&records, RETRIES_EXHAUSTED, reason, attempts);
            self.pending.drain(..failing);
            self.attempts = 0;
            self.limit = config.batch_size.max(1);
            return None;
        }
        self.limit = failing;
        tracing::info!(shard = %self.shard_id, attempt = self.attempts, reason = %reason, "batch failed; retrying");
        Some(config.retry_delay(self.attempts))
    }

    /// The first `n` pending records are done: checkpoint after them.
    fn finish(&mut self, n: usize) {
        let done: Vec<EventRecord> = self.pending.drain(..n).collect();
        if let Some(last) = done.last().and_then(|r| r.change.sequence_number.clone()) {
            self.checkpoint = Some(last);
            self.save(false);
        }
        add(&self.shared.stats.records_finished, n);
        self.attempts = 0;
        self.gathering_since = (!self.pending.is_empty()).then(tokio::time::Instant::now);
    }

    /// Sends records to the dead-letter file and checkpoints after them.
    fn dead_letter(&mut self, records: &[EventRecord], condition: &str, reason: String, invokes: u32) {
        let (Some(first), Some(last)) = (records.first(), records.last()) else { return };
        let seq = |r: &EventRecord| r.change.sequence_number.clone().unwrap_or_default();
        let at = |r: &EventRecord| r.change.approximate_creation_date_time.to_rfc3339();
        let batch = BatchInfo {
            shard_id: self.shard_id.clone(),
            start_sequence_number: seq(first),
            end_sequence_number: seq(last),
            approximate_arrival_of_first_record: at(first),
            approximate_arrival_of_last_record: at(last),
            batch_size: records.len(),
            stream_arn: self.stream_arn.clone(),
        };
        let mut letter = DeadLetter::new(condition, invokes, reason.clone(), batch);
        let mut seen = HashSet::new();
        letter.order_ids = records.iter().filter_map(record_order_id).filter(|id| seen.insert(id.clone())).collect();
        tracing::error!(
            shard = %self.shard_id,
            first = %letter.batch_info.start_sequence_number,
            last = %letter.batch_info.end_sequence_number,
            condition,
            reason = %reason,
            "records sent to the dead-letter file (once their cause is fixed: `orchgen redrive --local`)"
        );
        if let Err(e) = dead_letter::append(&self.shared.config.dead_letter_file, &letter) {
            tracing::error!(file = %self.shared.config.dead_letter_file.display(), error = %e, letter = ?letter, "writing the dead-letter file failed");
        }
        add(&self.shared.stats.records_dead_lettered, records.len());
        add(&self.shared.stats.records_finished, records.len());
        self.checkpoint = Some(seq(last));
        self.save(false);
    }

    fn save(&self, finished: bool) {
        let checkpoint = ShardCheckpoint {
            stream_arn: self.stream_arn.clone(),
            shard_id: self.shard_id.clone(),
            sequence_number: self.checkpoint.clone(),
            finished,
        };
        if let Err(e) = self.shared.checkpoints.save(&checkpoint) {
            tracing::error!(error = %e, "saving the checkpoint failed");
        }
    }
}
