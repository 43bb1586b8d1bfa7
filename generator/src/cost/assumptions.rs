//! What the cost model assumes where nothing can be measured offline: durations, log volumes, API
//! traffic. Every constant says why it has its value; [`all`] lists them for the output.
//!
//! The API's and the engine's own log lines are not assumed: the simulation counts them.
//!
//! Durations are warm invocations (cold starts are rare at steady traffic and are left out for every
//! design alike). The Rust figures come from the project's own measurements (ENVIRONMENT.md
//! "Reference measurements": a Rust `lambda_runtime` binary answers in ~3 ms; published Rust init
//! 11–16 ms) and typical DynamoDB latencies inside a region (single-digit ms for GetItem, ~10–15 ms
//! for a TransactWriteItems); the Python figures are the seed's kind of function: boto3 handlers at
//! 128 MB (the CDK default memory) that call DynamoDB or Lambda, typically 100–300 ms warm.

use serde::Serialize;

/// Average month: 365.25 / 12 days.
pub const SECONDS_PER_MONTH: f64 = 30.4375 * 86_400.0;

/// Lambda polls each DynamoDB stream shard 4 times per second (AWS Lambda developer guide, "Using
/// AWS Lambda with Amazon DynamoDB": Lambda polls shards at a base rate of 4 times per second).
pub const STREAM_POLLS_PER_SECOND: f64 = 4.0;

/// Stream records per second one shard carries before DynamoDB splits the load over more shards (a
/// partition takes up to 1,000 writes per second).
pub const STREAM_RECORDS_PER_SHARD_PER_SECOND: f64 = 1000.0;

/// `GET {path}` listing requests per month when not given: one an hour (an operator's page). The
/// listings cost the same whatever the volume for orchgen (an index page); for the seed's design a
/// listing scans the whole table, so its cost grows with the orders kept.
pub const DEFAULT_LIST_REQUESTS_PER_MONTH: u64 = 720;

/// Days orders are kept when the plan gives the orders table no TTL.
pub const RETENTION_WITHOUT_TTL_DAYS: f64 = 365.0;

/// The orchgen API function: parse and check the body, one PutItem (or GetItem), answer.
pub const RUST_API_MS: f64 = 8.0;
/// The orchgen API function serving a listing: a Query and a BatchGetItem.
pub const RUST_LIST_MS: f64 = 15.0;
/// A Rust step function: the built-in steps decide in memory (the handler never writes), "a few ms"
/// including the JSON in and out.
pub const RUST_STEP_MS: f64 = 3.0;
/// The stream processor's own time per invocation (decode the batch, answer).
pub const RUST_PROCESSOR_BATCH_MS: f64 = 2.0;
/// A consistent GetItem from the stream processor.
pub const DYNAMODB_READ_MS: f64 = 5.0;
/// A TransactWriteItems from the stream processor.
pub const DYNAMODB_TRANSACTION_MS: f64 = 13.0;
/// A synchronous Lambda Invoke's round trip beyond the step's own duration (the processor waits
/// for the step and is billed while it waits).
pub const LAMBDA_INVOKE_OVERHEAD_MS: f64 = 12.0;
/// StartExecution called by the API function in the Step Functions designs (and the asynchronous
/// Invoke that starts a durable execution).
pub const START_EXECUTION_MS: f64 = 15.0;
/// A single-item write (a Step Functions DynamoDB UpdateItem task, or the durable function's write
/// of the order after a step): a conditional write of one item inside a region, single-digit ms.
pub const DYNAMODB_WRITE_MS: f64 = 8.0;

/// Memory a Step Functions Express execution uses: its definition and the order as its state, a few
/// KB — the 64 MB minimum chunk ("billed in 64-MB chunks").
pub const EXPRESS_MEMORY_MB: f64 = 64.0;
/// Bytes of the Step Functions Express log events of one state (its entered and exited events,
/// without execution data), for the note on logging level `ALL`. The design assumes logging level
/// `ERROR`: nothing is logged for an execution that succeeds.
pub const EXPRESS_LOG_BYTES_PER_STATE: f64 = 400.0;

/// Durable operations of the execution itself (its start), besides one step operation per step
/// attempt; the plan has no waits or callbacks, so there are no others.
pub const DURABLE_OPERATIONS_PER_EXECUTION: u32 = 1;
/// A checkpoint (CheckpointDurableExecution with the step's result) as the durable function waits
/// for it: an in-region API call with a few KB.
pub const DURABLE_CHECKPOINT_MS: f64 = 10.0;
/// Days a closed durable execution's checkpoints are kept when the plan's orders table has no TTL
/// (Lambda's default retention period).
pub const DURABLE_RETENTION_DEFAULT_DAYS: f64 = 14.0;
/// The longest retention Lambda allows for a closed durable execution: the plan's orders TTL is
/// capped to it.
pub const DURABLE_RETENTION_MAX_DAYS: f64 = 90.0;

/// Memory of the seed's Python functions (the CDK default).
pub const SEED_MEMORY_MB: u32 = 128;
/// A Python step function of the seed's design: boto3 GetItem of the order, its own logic, an
/// UpdateItem of the status; 100–300 ms warm at 128 MB, the middle taken.
pub const PYTHON_STEP_MS: f64 = 200.0;
/// The seed's Python API function (body checks, a boto3 PutItem).
pub const PYTHON_API_MS: f64 = 150.0;
/// The seed's Python stream processor per record acted on: decode it and invoke the next step
/// function asynchronously (the step writes its own status).
pub const PYTHON_PROCESSOR_RECORD_MS: f64 = 60.0;
/// The seed's Python stream processor's own time per invocation.
pub const PYTHON_PROCESSOR_BATCH_MS: f64 = 5.0;

/// Lambda's START, END and REPORT lines of every invocation, at the default system log level (the
/// seed's functions). orchgen's functions log JSON with `SystemLogLevel: WARN`
/// (templates/cloudformation/functions.json.tera): Lambda then writes none of these INFO lines, so
/// orchgen's and the Step Functions design's (the same functions) platform lines cost nothing.
pub const LAMBDA_PLATFORM_LOG_BYTES: f64 = 350.0;
/// orchgen stream processor per invocation: the `batch processed` line (`lambda::handle_stream_invocation`:
/// timestamp, level, target, the Lambda request id and four counts: about 220 B of JSON with its
/// newline). The lines of each order's moves and their EMF lines are measured by the simulation.
pub const RUST_PROCESSOR_BATCH_LOG_BYTES: f64 = 220.0;
/// orchgen step function per successful invocation: nothing at the default level (the attempt is in
/// the stream processor's `order moved` line; `step succeeded` is a debug line; a failed attempt
/// logs one WARN line, and this model prices orders that go through).
pub const RUST_STEP_LOG_BYTES: f64 = 0.0;
/// The seed's Python functions per invocation: a few `print`/`logger.info` lines.
pub const PYTHON_LOG_BYTES: f64 = 400.0;

/// One assumption, for the output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assumption {
    /// Its name (the constant's).
    pub name: &'static str,
    /// Its value.
    pub value: f64,
    /// Its unit.
    pub unit: &'static str,
}

/// Every assumption.
pub fn all() -> Vec<Assumption> {
    let a = |name, value, unit| Assumption { name, value, unit };
    vec![
        a("RUST_API_MS", RUST_API_MS, "ms"),
        a("RUST_LIST_MS", RUST_LIST_MS, "ms"),
        a("RUST_STEP_MS", RUST_STEP_MS, "ms"),
        a("RUST_PROCESSOR_BATCH_MS", RUST_PROCESSOR_BATCH_MS, "ms"),
        a("DYNAMODB_READ_MS", DYNAMODB_READ_MS, "ms"),
        a("DYNAMODB_TRANSACTION_MS", DYNAMODB_TRANSACTION_MS, "ms"),
        a("LAMBDA_INVOKE_OVERHEAD_MS", LAMBDA_INVOKE_OVERHEAD_MS, "ms"),
        a("START_EXECUTION_MS", START_EXECUTION_MS, "ms"),
        a("DYNAMODB_WRITE_MS", DYNAMODB_WRITE_MS, "ms"),
        a("EXPRESS_MEMORY_MB", EXPRESS_MEMORY_MB, "MB"),
        a("EXPRESS_LOG_BYTES_PER_STATE", EXPRESS_LOG_BYTES_PER_STATE, "B/state"),
        a("DURABLE_OPERATIONS_PER_EXECUTION", f64::from(DURABLE_OPERATIONS_PER_EXECUTION), "operations"),
        a("DURABLE_CHECKPOINT_MS", DURABLE_CHECKPOINT_MS, "ms"),
        a("DURABLE_RETENTION_DEFAULT_DAYS", DURABLE_RETENTION_DEFAULT_DAYS, "days"),
        a("DURABLE_RETENTION_MAX_DAYS", DURABLE_RETENTION_MAX_DAYS, "days"),
        a("SEED_MEMORY_MB", f64::from(SEED_MEMORY_MB), "MB"),
        a("PYTHON_STEP_MS", PYTHON_STEP_MS, "ms"),
        a("PYTHON_API_MS", PYTHON_API_MS, "ms"),
        a("PYTHON_PROCESSOR_RECORD_MS", PYTHON_PROCESSOR_RECORD_MS, "ms"),
        a("PYTHON_PROCESSOR_BATCH_MS", PYTHON_PROCESSOR_BATCH_MS, "ms"),
        a("LAMBDA_PLATFORM_LOG_BYTES", LAMBDA_PLATFORM_LOG_BYTES, "B/invocation"),
        a("RUST_PROCESSOR_BATCH_LOG_BYTES", RUST_PROCESSOR_BATCH_LOG_BYTES, "B/batch"),
        a("RUST_STEP_LOG_BYTES", RUST_STEP_LOG_BYTES, "B/invocation"),
        a("PYTHON_LOG_BYTES", PYTHON_LOG_BYTES, "B/invocation"),
        a("STREAM_POLLS_PER_SECOND", STREAM_POLLS_PER_SECOND, "polls/s per shard"),
        a("STREAM_RECORDS_PER_SHARD_PER_SECOND", STREAM_RECORDS_PER_SHARD_PER_SECOND, "records/s"),
        a("RETENTION_WITHOUT_TTL_DAYS", RETENTION_WITHOUT_TTL_DAYS, "days"),
    ]
}
