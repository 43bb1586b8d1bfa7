//! The stream processor as a Lambda handler: a DynamoDB Streams [`Event`] in, a partial batch
//! response ([`DynamoDbEventResponse`]) out.
//!
//! Each record is decoded ([`decode_record`]) and given to [`Engine::process`], the processing function
//! of the embedded processor too. Records of different orders run concurrently; the records of one
//! order run one after the other, in the order of the batch. Once a record of an order fails, the
//! later records of that order in the batch are reported failed without being processed (so the
//! order never skips a change), while other orders go on. `batchItemFailures` holds the sequence
//! numbers of the failed records only; Lambda then checkpoints at the lowest of them and delivers
//! the rest again, which is harmless (see [`Engine`]: a re-delivered record never applies an effect
//! twice).
//!
//! A record that cannot be decoded is logged with its sequence number and reported failed, never a
//! panic; a panic inside the engine is caught and reported the same way.
//!
//! No feature needed (despite the name, it needs no `lambda_runtime`): the Lambda wiring is
//! `lambda::run_stream_processor` (feature `lambda`); `orchgen redrive` and the local consumer call
//! [`process_event`] directly.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use futures::FutureExt;
use futures::stream::{self, StreamExt};
use tracing::Instrument;

use crate::engine::Engine;

use super::event::{Decoded, decode_record, record_order_id};

/// Orders of one batch processed at once by the Lambda handler ([`process_event`]).
pub const ORDERS_AT_ONCE: usize = 64;

/// A record the handler could not process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFailure {
    /// Its sequence number (empty when the record had none).
    pub sequence_number: String,
    /// The order it is about, when known.
    pub order_id: Option<String>,
    /// Why it failed.
    pub reason: String,
}

/// What processing a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Records in the batch.
    pub records: usize,
    /// Records given to the engine that succeeded.
    pub processed: usize,
    /// Records that needed no processing (TTL removals, removals, no-op modifications).
    pub ignored: usize,
    /// The failed records, in batch order.
    pub failures: Vec<RecordFailure>,
}

impl BatchReport {
    /// The partial batch response Lambda expects (`batchItemFailures`).
    pub fn response(&self) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        response.batch_item_failures = self
            .failures
            .iter()
            .map(|f| {
                let mut failure = DynamoDbBatchItemFailure::default();
                // An empty identifier makes Lambda retry the whole batch: right for a record that
                // cannot even be identified.
                failure.item_identifier = Some(f.sequence_number.clone());
                failure
            })
            .collect();
        response
    }
}

/// The Lambda stream processor: processes `event` with `engine` and returns the partial batch
/// response. See the module docs.
pub async fn handle_event(engine: &Engine, event: Event) -> DynamoDbEventResponse {
    process_event(engine, &event).await.response()
}

/// Processes every record of `event` and reports each failure with its reason (what
/// [`handle_event`] does, with the details the local consumer writes to its dead-letter file),
/// [`ORDERS_AT_ONCE`] orders at a time.
pub async fn process_event(engine: &Engine, event: &Event) -> BatchReport {
    process_event_with(engine, event, ORDERS_AT_ONCE).await
}

/// [`process_event`] with at most `orders_at_once` orders (at least 1) processed at the same time.
pub async fn process_event_with(engine: &Engine, event: &Event, orders_at_once: usize) -> BatchReport {
    // Records grouped by order, in batch order; a record of no known order is a group of its own.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of: HashMap<String, usize> = HashMap::new();
    for (index, record) in event.records.iter().enumerate() {
        match record_order_id(record) {
            Some(order_id) => {
                let group = *group_of.entry(order_id).or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                });
                groups[group].push(index);
            }
            None => groups.push(vec![index]),
        }
    }
    let records = &event.records;
    let outcomes: Vec<Vec<(usize, Outcome)>> =
        stream::iter(groups.into_iter().map(|group| process_group(engine, records, group)))
            .buffer_unordered(orders_at_once.max(1))
            .collect()
            .await;
    let mut outcomes: Vec<(usize, Outcome)> = outcomes.into_iter().flatten().collect();
    outcomes.sort_by_key(|(index, _)| *index);
    let mut report = BatchReport { records: event.records.len(), ..BatchReport::default() };
    for (_, outcome) in outcomes {
        match outcome {
            Outcome::Processed => report.processed += 1,
            Outcome::Ignored => report.ignored += 1,
            Outcome::Failed(failure) => report.failures.push(failure),
        }
    }
    report
}

enum Outcome {
    Processed,
    Ignored,
    Failed(RecordFailure),
}

/// Processes the records of one order in order, failing the rest after the first failure.
async fn process_group(engine: &Engine, records: &[EventRecord], group: Vec<usize>) -> Vec<(usize, Outcome)> {
    let mut outcomes = Vec::with_capacity(group.len());
    let mut failed: Option<String> = None;
    for index in group {
        let record = &records[index];
        let sequence_number = record.change.sequence_number.clone().unwrap_or_default();
        let order_id = record_order_id(record);
        let fail = |reason: String| {
            Outcome::Failed(RecordFailure {
                sequence_number: sequence_number.clone(),
                order_id: order_id.clone(),
                reason,
            })
        };
        if let Some(first) = &failed {
            outcomes.push((index, fail(format!("an earlier record of this order ({first}) failed in this batch"))));
            continue;
        }
        let span = tracing::info_span!("record", event_id = %record.event_id, sequence_number = %sequence_number);
        let outcome = async {
            match decode_record(record) {
                Err(e) => {
                    tracing::error!(
                        sequence_number = %sequence_number,
                        order_id = order_id.as_deref().unwrap_or("?"),
                        event_id = %record.event_id,
                        error = %e,
                        "a stream record cannot be decoded"
                    );
                    fail(format!("the record cannot be decoded: {e}"))
                }
                Ok(Decoded::Ignored(why)) => {
                    tracing::debug!(sequence_number = %sequence_number, ?why, "stream record ignored");
                    Outcome::Ignored
                }
                Ok(Decoded::Change(change)) => match AssertUnwindSafe(engine.process(&change)).catch_unwind().await {
                    Ok(Ok(())) => Outcome::Processed,
                    Ok(Err(e)) => {
                        tracing::warn!(sequence_number = %sequence_number, order_id = %change.order_id, error = %e, "processing failed; the record will be delivered again");
                        fail(e.to_string())
                    }
                    Err(panic) => {
                        let message = panic
                            .downcast_ref::<&str>()
                            .map(|s| (*s).to_owned())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "a panic".to_owned());
                        tracing::error!(sequence_number = %sequence_number, order_id = %change.order_id, panic = %message, "processing panicked");
                        fail(format!("processing panicked: {message}"))
                    }
                },
            }
        }
        .instrument(span)
        .await;
        if matches!(outcome, Outcome::Failed(_)) {
            failed = Some(sequence_number.clone());
        }
        outcomes.push((index, outcome));
    }
    outcomes
}
