//! `orchgen redrive`: re-processes what reached a stage's dead-letter queue.
//!
//! The stream processor's event source mapping sends an on-failure record to the queue when it
//! gives up on a batch (retries exhausted or records too old). That record does not hold the
//! change records, only where they were: `DDBStreamBatchInfo` with the stream ARN, the shard id and
//! the first and last sequence numbers. For each message, redrive:
//!
//! 1. re-reads that range of the shard from DynamoDB Streams (possible while the records are within
//!    the stream's 24-hour retention and the shard exists) and processes the records with the
//!    runtime's stream processing function ([`orchgen_runtime::streams::process_event`]) against
//!    the stage's tables, exactly as the stream processor would;
//! 2. when the records are gone and `--from-current-state` is given, re-drives every order that is
//!    not in a terminal status from its current state (the engine runs the step at the order's
//!    cursor, or its next compensation; an order already past the failed record is not harmed:
//!    transitions are conditioned on the order's version and effects are idempotent);
//! 3. deletes the message once handled; a message that could not be handled stays in the queue
//!    (it becomes visible again after the visibility timeout) and is reported with its reason.
//!
//! Steps run in-process with the runtime's built-in handlers (`--steps local`), or in the stage's
//! deployed step functions (`--steps lambda`, needed for `custom` steps).

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use orchgen_runtime::dead_letter::{BatchInfo, DeadLetter};
use orchgen_runtime::engine::{Engine, open_orders};
use orchgen_runtime::lambda::{LambdaStepHandler, invoker_registry};
use orchgen_runtime::plan::Plan;
use orchgen_runtime::steps::Registry;
use orchgen_runtime::store::dynamodb::{DynamoStore, with_prefix};
use orchgen_runtime::store::{Store, compare_sequence};
use serde::Serialize;

use super::{Clients, DeployError, Log};

/// Where redrive runs the steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepsMode {
    /// In this process, with the runtime's built-in handlers (no custom steps).
    Local,
    /// In the stage's deployed step functions (Lambda Invoke), as the stream processor does.
    Lambda,
}

/// What `orchgen redrive` does.
#[derive(Debug, Clone)]
pub struct RedriveOptions {
    /// The stage.
    pub stage: String,
    /// Where to talk to AWS.
    pub aws: super::AwsOptions,
    /// Where the steps run.
    pub steps: StepsMode,
    /// Re-drive non-terminal orders from their current state when a batch's records are gone.
    pub from_current_state: bool,
    /// Stop after this many messages.
    pub max_messages: usize,
}

/// A message left in the queue, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Kept {
    /// The SQS message id.
    pub message_id: String,
    /// Why it was not handled.
    pub reason: String,
}

/// What a redrive did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RedriveReport {
    /// Messages read from the queue.
    pub messages: usize,
    /// Messages handled and deleted.
    pub deleted: usize,
    /// Change records re-read from the stream and processed.
    pub records_processed: usize,
    /// Orders re-driven from their current state.
    pub orders_redriven: Vec<String>,
    /// Messages left in the queue.
    pub kept: Vec<Kept>,
}

impl std::fmt::Display for RedriveReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} messages: {} handled and deleted, {} kept; {} records re-processed, {} orders re-driven from their current state",
            self.messages,
            self.deleted,
            self.kept.len(),
            self.records_processed,
            self.orders_redriven.len()
        )?;
        for k in &self.kept {
            writeln!(f, "  kept {}: {}", k.message_id, k.reason)?;
        }
        Ok(())
    }
}

/// Why the records of a batch could not be read.
enum ReadFailure {
    /// Trimmed (older than 24 h) or the shard/stream no longer exists.
    Gone(String),
    /// Another error (retry later).
    Other(String),
}

/// An SQS message's body read as the on-failure record of a DynamoDB stream batch (the runtime's
/// [`DeadLetter`], the format of `orchgen dev`'s dead-letter file too).
fn on_failure_record(body: &str) -> Result<DeadLetter, String> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("not JSON this redrive understands: {e}"))?;
    if value.get("DDBStreamBatchInfo").is_none() {
        return Err("not an on-failure record of a DynamoDB stream batch (no DDBStreamBatchInfo)".to_owned());
    }
    serde_json::from_value(value).map_err(|e| format!("not JSON this redrive understands: {e}"))
}

/// Reads the records `start..=end` of a shard.
async fn read_batch(
    clients: &Clients,
    info: &BatchInfo,
) -> Result<Vec<aws_lambda_events::dynamodb::EventRecord>, ReadFailure> {
    let classify = |code: Option<&str>, text: String| match code {
        Some("TrimmedDataAccessException" | "ResourceNotFoundException" | "ExpiredIteratorException") => {
            ReadFailure::Gone(text)
        }
        _ => ReadFailure::Other(text),
    };
    let iterator = clients
        .streams
        .get_shard_iterator()
        .stream_arn(&info.stream_arn)
        .shard_id(&info.shard_id)
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .sequence_number(&info.start_sequence_number)
        .send()
        .await
        .map_err(|e| {
            let code = e
                .as_service_error()
                .and_then(aws_sdk_dynamodbstreams::error::ProvideErrorMetadata::code)
                .map(str::to_owned);
            classify(code.as_deref(), format!("GetShardIterator: {}", super::aws::error_text(&e)))
        })?;
    let mut next = iterator.shard_iterator().map(str::to_owned);
    let mut records = Vec::new();
    let mut empty_reads = 0;
    while let Some(it) = next.take() {
        let page = clients.streams.get_records().shard_iterator(it).limit(1000).send().await.map_err(|e| {
            let code = e
                .as_service_error()
                .and_then(aws_sdk_dynamodbstreams::error::ProvideErrorMetadata::code)
                .map(str::to_owned);
            classify(code.as_deref(), format!("GetRecords: {}", super::aws::error_text(&e)))
        })?;
        if page.records().is_empty() {
            empty_reads += 1;
        }
        let mut past_end = false;
        for record in page.records() {
            let seq = record.dynamodb().and_then(|d| d.sequence_number()).unwrap_or_default();
            if compare_sequence(seq, &info.end_sequence_number).is_gt() {
                past_end = true;
                break;
            }
            let event = orchgen_runtime::streams::event_record(record.clone(), &info.stream_arn, &clients.region)
                .map_err(ReadFailure::Other)?;
            records.push(event);
        }
        if past_end || empty_reads >= 3 {
            break;
        }
        next = page.next_shard_iterator().map(str::to_owned);
    }
    if records.is_empty() {
        return Err(ReadFailure::Gone(format!(
            "no record between {} and {} in shard {} any more",
            info.start_sequence_number, info.end_sequence_number, info.shard_id
        )));
    }
    Ok(records)
}

/// Function names of the deployed step functions, from the stack's resources.
async fn deployed_functions(
    clients: &Clients,
    plan: &Plan,
    stack: &str,
) -> Result<BTreeMap<orchgen_runtime::lambda::Function, String>, DeployError> {
    let resources = clients
        .cloudformation
        .describe_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| DeployError::aws("cloudformation DescribeStackResources", &e))?;
    let physical: BTreeMap<&str, &str> = resources
        .stack_resources()
        .iter()
        .filter_map(|r| Some((r.logical_resource_id()?, r.physical_resource_id()?)))
        .collect();
    let mut names = BTreeMap::new();
    for function in orchgen_runtime::lambda::step_functions(plan) {
        let id = orchgen_generator::build::names::function_id(&function);
        let Some(name) = physical.get(id.as_str()) else {
            return Err(DeployError::Config(format!("stack {stack} has no {id}: deploy the stage first")));
        };
        names.insert(function, (*name).to_owned());
    }
    Ok(names)
}

/// The logical id of the stream's dead-letter queue in the generated template.
const DEAD_LETTER_QUEUE: &str = "StreamDeadLetterQueue";

/// Re-processes the dead-letter queue of the stage (see the module docs).
pub async fn redrive(plan: &Plan, options: &RedriveOptions, log: &mut Log<'_>) -> Result<RedriveReport, DeployError> {
    super::check_stage(&options.stage)?;
    let (clients, _account) = super::connect(&options.aws).await?;
    let stack = super::stack_name(plan, &options.stage);
    // The queue's URL: the stack's output, else the physical id of the queue resource (the same
    // URL; some CloudFormation emulators report no outputs for stacks made by change sets).
    let outputs = super::changeset::outputs(&clients.cloudformation, &stack).await?;
    let queue = match outputs.get("DeadLetterQueueUrl") {
        Some(url) => Some(url.clone()),
        None => super::changeset::physical_id(&clients.cloudformation, &stack, DEAD_LETTER_QUEUE).await?,
    };
    let Some(queue) = queue else {
        return Err(DeployError::Config(format!(
            "stack {stack} has no dead-letter queue ({DEAD_LETTER_QUEUE}): deploy the stage first"
        )));
    };
    let tables = with_prefix(&plan.tables, &format!("{}-", options.stage));
    let store: Arc<dyn Store> = Arc::new(DynamoStore::new(clients.dynamodb.clone(), &tables));
    let plan_arc = Arc::new(plan.clone());
    let registry = match options.steps {
        StepsMode::Local => Registry::new(),
        StepsMode::Lambda => {
            let names = deployed_functions(&clients, plan, &stack).await?;
            let client = orchgen_runtime::lambda::invoke::lambda_client(&clients.config);
            invoker_registry(plan, Arc::new(LambdaStepHandler::new(client, names)))
        }
    };
    let engine = Engine::with_registry(plan_arc, store.clone(), registry);
    let missing = engine.unregistered_handlers();
    if !missing.is_empty() {
        return Err(DeployError::Config(format!(
            "custom steps ({}) cannot run in this process: use --steps lambda",
            missing.join(", ")
        )));
    }
    let mut report = RedriveReport::default();
    let mut redriven_from_state = false;
    while report.messages < options.max_messages {
        let batch = (options.max_messages - report.messages).min(10) as i32;
        let received = clients
            .sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(batch)
            .wait_time_seconds(1)
            .visibility_timeout(300)
            .send()
            .await
            .map_err(|e| DeployError::aws("sqs ReceiveMessage", &e))?;
        if received.messages().is_empty() {
            break;
        }
        for message in received.messages() {
            report.messages += 1;
            let id = message.message_id().unwrap_or_default().to_owned();
            let body = message.body().unwrap_or_default();
            let outcome = match on_failure_record(body) {
                Ok(DeadLetter { batch_info: info, .. }) => match read_batch(&clients, &info).await {
                    Ok(records) => {
                        let mut event = aws_lambda_events::dynamodb::Event::default();
                        event.records = records;
                        let result = orchgen_runtime::streams::process_event(&engine, &event).await;
                        report.records_processed += result.processed;
                        log.line(format!(
                            "{id}: {} records of shard {} re-read: {} processed, {} ignored, {} failed",
                            result.records,
                            info.shard_id,
                            result.processed,
                            result.ignored,
                            result.failures.len()
                        ));
                        match result.failures.first() {
                            None => Ok(()),
                            Some(f) => Err(format!(
                                "{} records failed again, first {} (order {}): {}",
                                result.failures.len(),
                                f.sequence_number,
                                f.order_id.as_deref().unwrap_or("?"),
                                f.reason
                            )),
                        }
                    }
                    Err(ReadFailure::Gone(why)) if options.from_current_state => {
                        log.line(format!(
                            "{id}: the records are gone ({why}); re-driving open orders from their current state"
                        ));
                        if !redriven_from_state {
                            redriven_from_state = true;
                            redrive_open_orders(&engine, store.as_ref(), &mut report, log).await
                        } else {
                            Ok(())
                        }
                    }
                    Err(ReadFailure::Gone(why)) => Err(format!(
                        "the batch's records can no longer be read ({why}); rerun with --from-current-state to re-drive the open orders"
                    )),
                    Err(ReadFailure::Other(why)) => Err(why),
                },
                Err(why) => Err(why),
            };
            match outcome {
                Ok(()) => {
                    if let Some(handle) = message.receipt_handle() {
                        clients
                            .sqs
                            .delete_message()
                            .queue_url(&queue)
                            .receipt_handle(handle)
                            .send()
                            .await
                            .map_err(|e| DeployError::aws("sqs DeleteMessage", &e))?;
                    }
                    report.deleted += 1;
                }
                Err(reason) => {
                    log.line(format!("{id}: kept: {reason}"));
                    report.kept.push(Kept { message_id: id, reason });
                }
            }
        }
    }
    Ok(report)
}

/// Re-drives every open order from its current state ([`Engine::redrive`]).
async fn redrive_open_orders(
    engine: &Engine,
    store: &dyn Store,
    report: &mut RedriveReport,
    log: &mut Log<'_>,
) -> Result<(), String> {
    let orders = open_orders(store).await.map_err(|e| format!("dynamodb list orders: {e}"))?;
    let mut failed = Vec::new();
    for order in orders {
        match engine.redrive(&order.order_id).await {
            Ok(_) => report.orders_redriven.push(order.order_id.clone()),
            Err(e) => failed.push(format!("{}: {e}", order.order_id)),
        }
    }
    log.line(format!("{} open orders re-driven, {} failed", report.orders_redriven.len(), failed.len()));
    if failed.is_empty() { Ok(()) } else { Err(format!("orders failed again: {}", failed.join("; "))) }
}
