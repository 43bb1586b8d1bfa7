//! Dead letters: the change records given up on, written by the local processor
//! (`engine::processor`, SQLite change feed) and by the local DynamoDB Streams consumer
//! (`streams::consumer`) to one file, [`DEAD_LETTER_FILE`] in `orchgen dev`'s data directory.
//!
//! # The file
//!
//! JSON lines: one [`DeadLetter`] object per line, appended ([`append`]); [`read`] reads them back
//! (a missing file reads as empty) and [`remove`] takes out the letters `orchgen redrive` handled
//! (the rest written to a new file renamed over the old one, so a crash leaves one or the other).
//! Appends and removals hold an exclusive lock on the file beside it, [`DEAD_LETTER_FILE`] +
//! `.lock` (never deleted): a letter appended by a running `orchgen dev` while a redrive works is
//! kept. Each object has the shape of the SQS
//! message a Lambda event source mapping sends to its on-failure destination for a DynamoDB stream
//! batch — what the deployed stage's dead-letter queue holds — so that one tool reads both:
//!
//! ```json
//! {
//!   "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 3,
//!                      "reason": "order o-1: the store has version 3, the record version 4"},
//!   "version": "1.0",
//!   "timestamp": "2025-05-01T12:00:00.000Z",
//!   "DDBStreamBatchInfo": {"shardId": "shardId-0001", "startSequenceNumber": "100",
//!                          "endSequenceNumber": "100",
//!                          "approximateArrivalOfFirstRecord": "2025-05-01T11:59:58Z",
//!                          "approximateArrivalOfLastRecord": "2025-05-01T11:59:58Z",
//!                          "batchSize": 1, "streamArn": "arn:aws:dynamodb:…/stream/…"},
//!   "orderIds": ["o-1"],
//!   "consumer": "shop-processor"
//! }
//! ```
//!
//! - `requestContext`: `condition` ([`RETRIES_EXHAUSTED`] or [`RECORD_AGE_EXCEEDED`]),
//!   `approximateInvokeCount` (deliveries of the batch; 0 for records discarded for their age) and,
//!   written by orchgen only, `reason` (the error of the last delivery). AWS's `requestId` and
//!   `functionArn`, and the whole `responseContext` (`statusCode`, `executedVersion`,
//!   `functionError`), are read when present and written only when set.
//! - `DDBStreamBatchInfo`: the records, a range of one shard. The local change feed has no shards
//!   and no stream: its letters hold one record each (`batchSize` 1, start = end = its sequence
//!   number), an empty `shardId` and `streamArn`, and the time of the order's change as arrival.
//! - orchgen's additions, absent from AWS's messages: `orderIds` (the orders of the records, where
//!   known) and `consumer` (the local processor's checkpoint name).
//!
//! No feature needed.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The dead-letter file's name in `orchgen dev`'s data directory.
pub const DEAD_LETTER_FILE: &str = "dead-letters.jsonl";
/// Format version of a dead letter (`version`), as in AWS's on-failure messages.
pub const VERSION: &str = "1.0";
/// Condition of records given up on after their retries.
pub const RETRIES_EXHAUSTED: &str = "RetryAttemptsExhausted";
/// Condition of records discarded for their age.
pub const RECORD_AGE_EXCEEDED: &str = "RecordAgeExceeded";

/// Records given up on: one line of the dead-letter file. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Why.
    #[serde(rename = "requestContext")]
    pub request_context: RequestContext,
    /// The last invocation's answer (AWS's messages only).
    #[serde(rename = "responseContext", default, skip_serializing_if = "Option::is_none")]
    pub response_context: Option<ResponseContext>,
    /// Format version ([`VERSION`]).
    pub version: String,
    /// When the records were given up on (RFC 3339).
    pub timestamp: String,
    /// Which records.
    #[serde(rename = "DDBStreamBatchInfo")]
    pub batch_info: BatchInfo,
    /// The orders the records are about, where known (orchgen only).
    #[serde(rename = "orderIds", default, skip_serializing_if = "Vec::is_empty")]
    pub order_ids: Vec<String>,
    /// The local processor's checkpoint name (orchgen only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<String>,
}

/// Why records were given up on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    /// [`RETRIES_EXHAUSTED`] or [`RECORD_AGE_EXCEEDED`].
    pub condition: String,
    /// Times the records were delivered.
    pub approximate_invoke_count: u32,
    /// The error of the last delivery, or the age limit (orchgen only: empty in AWS's messages).
    #[serde(default)]
    pub reason: String,
    /// The last invocation's request id (AWS's messages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The stream processor function (AWS's messages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_arn: Option<String>,
}

/// The last invocation's answer, in AWS's on-failure messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseContext {
    /// The invocation's HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// The function version that ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executed_version: Option<String>,
    /// `Handled` or `Unhandled` when the function failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_error: Option<String>,
}

/// The records given up on: a range of one shard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchInfo {
    /// The shard (empty for the local change feed).
    #[serde(default)]
    pub shard_id: String,
    /// Sequence number of the first record.
    pub start_sequence_number: String,
    /// Sequence number of the last record.
    pub end_sequence_number: String,
    /// Creation time of the first record (RFC 3339; empty when unknown).
    #[serde(default)]
    pub approximate_arrival_of_first_record: String,
    /// Creation time of the last record (RFC 3339; empty when unknown).
    #[serde(default)]
    pub approximate_arrival_of_last_record: String,
    /// Records in the range.
    #[serde(default)]
    pub batch_size: usize,
    /// The stream (empty for the local change feed).
    #[serde(default)]
    pub stream_arn: String,
}

impl DeadLetter {
    /// A letter given up on now, in format [`VERSION`], with no AWS-only or orchgen-only extras.
    pub fn new(
        condition: &str,
        approximate_invoke_count: u32,
        reason: impl Into<String>,
        batch_info: BatchInfo,
    ) -> Self {
        DeadLetter {
            request_context: RequestContext {
                condition: condition.to_owned(),
                approximate_invoke_count,
                reason: reason.into(),
                request_id: None,
                function_arn: None,
            },
            response_context: None,
            version: VERSION.to_owned(),
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            batch_info,
            order_ids: Vec::new(),
            consumer: None,
        }
    }
}

/// Why the dead-letter file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Reading the file failed.
    #[error("dead-letter file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A line is not a dead letter.
    #[error("dead-letter file {}, line {line}: not a dead letter: {source}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// The error.
        source: serde_json::Error,
    },
}

/// Serialises the appends and removals of this process; [`Locked`] serialises them with other
/// processes'.
static WRITING: Mutex<()> = Mutex::new(());

/// The file's lock, held from [`Locked::take`] until dropped (the lock file's handle closes).
struct Locked {
    _file: std::fs::File,
}

impl Locked {
    /// Creates the directory of `path` when missing and takes the exclusive lock of `path`'s lock
    /// file, waiting for another process's append or removal to finish.
    fn take(path: &Path) -> io::Result<Locked> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        let mut name = path.as_os_str().to_owned();
        name.push(".lock");
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(PathBuf::from(name))?;
        file.lock()?;
        Ok(Locked { _file: file })
    }
}

/// Appends `letter` as one line to the file at `path` (created with its directory when missing)
/// and flushes it to disk.
pub fn append(path: impl AsRef<Path>, letter: &DeadLetter) -> io::Result<()> {
    let path = path.as_ref();
    let mut line = serde_json::to_string(letter).map_err(io::Error::other)?;
    line.push('\n');
    let _guard = WRITING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let _locked = Locked::take(path)?;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(line.as_bytes())?;
    file.sync_data()
}

/// How many letters the file at `path` holds (its non-blank lines, not parsed: cheap enough for a
/// dashboard that asks every second); 0 when it is missing or cannot be read.
pub fn count(path: impl AsRef<Path>) -> usize {
    std::fs::read_to_string(path).map_or(0, |text| text.lines().filter(|l| !l.trim().is_empty()).count())
}

/// Removes `handled` from the file at `path` (one line for each, equal letters counted apart);
/// the letters appended since they were read stay. Returns how many letters are left.
pub fn remove(path: impl AsRef<Path>, handled: &[DeadLetter]) -> Result<usize, ReadError> {
    let path = path.as_ref();
    let io_error = |source| ReadError::Io { path: path.to_owned(), source };
    let _guard = WRITING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let _locked = Locked::take(path).map_err(io_error)?;
    if !path.exists() {
        return Ok(0);
    }
    let mut left = read(path)?;
    for letter in handled {
        if let Some(at) = left.iter().position(|l| l == letter) {
            left.remove(at);
        }
    }
    let mut text = String::new();
    for letter in &left {
        text.push_str(&serde_json::to_string(letter).map_err(|e| io_error(io::Error::other(e)))?);
        text.push('\n');
    }
    let mut beside = path.as_os_str().to_owned();
    beside.push(".new");
    let beside = PathBuf::from(beside);
    let mut file = std::fs::File::create(&beside).map_err(io_error)?;
    file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(io_error)?;
    std::fs::rename(&beside, path).map_err(io_error)?;
    Ok(left.len())
}

/// Every letter of the file at `path`, in file order; blank lines are skipped and a missing file
/// reads as empty.
pub fn read(path: impl AsRef<Path>) -> Result<Vec<DeadLetter>, ReadError> {
    let path = path.as_ref();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(ReadError::Io { path: path.to_owned(), source }),
    };
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            serde_json::from_str(line).map_err(|source| ReadError::Line { path: path.to_owned(), line: n + 1, source })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(seq: &str) -> DeadLetter {
        let batch = BatchInfo {
            start_sequence_number: seq.to_owned(),
            end_sequence_number: seq.to_owned(),
            batch_size: 1,
            ..BatchInfo::default()
        };
        let mut letter = DeadLetter::new(RETRIES_EXHAUSTED, 3, "boom", batch);
        letter.order_ids = vec!["o-1".to_owned()];
        letter.consumer = Some("shop-processor".to_owned());
        letter
    }

    #[test]
    fn letters_are_appended_as_lines_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data").join(DEAD_LETTER_FILE);
        assert_eq!(read(&path).expect("a missing file is empty"), []);
        let letters = [letter("1"), letter("2")];
        for l in &letters {
            append(&path, l).expect("append");
        }
        let text = std::fs::read_to_string(&path).expect("the file");
        assert_eq!(text.lines().count(), 2);
        let first: serde_json::Value = serde_json::from_str(text.lines().next().expect("a line")).expect("JSON");
        assert_eq!(first["requestContext"]["condition"], RETRIES_EXHAUSTED);
        assert_eq!(first["requestContext"]["approximateInvokeCount"], 3);
        assert_eq!(first["requestContext"]["reason"], "boom");
        assert_eq!(first["version"], VERSION);
        assert_eq!(first["DDBStreamBatchInfo"]["startSequenceNumber"], "1");
        assert_eq!(first["DDBStreamBatchInfo"]["batchSize"], 1);
        assert_eq!(first["orderIds"][0], "o-1");
        assert_eq!(first["consumer"], "shop-processor");
        assert!(first.get("responseContext").is_none());
        assert!(first["requestContext"].get("requestId").is_none());
        assert_eq!(read(&path).expect("read"), letters);
    }

    #[test]
    fn removing_handled_letters_keeps_the_others_and_those_appended_since() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(DEAD_LETTER_FILE);
        let [one, two, three, late] = [letter("1"), letter("2"), letter("3"), letter("4")];
        for l in [&one, &two, &two, &three] {
            append(&path, l).expect("append");
        }
        let read_before = read(&path).expect("read");
        append(&path, &late).expect("a letter written while a redrive works");
        let handled = [read_before[0].clone(), read_before[1].clone(), read_before[3].clone()];
        assert_eq!(remove(&path, &handled).expect("remove"), 2);
        assert_eq!(read(&path).expect("read"), [two, late], "one of the two equal letters stays");
        assert_eq!(count(&path), 2);
        assert_eq!(remove(&path, &read(&path).expect("read")).expect("remove"), 0);
        assert_eq!(std::fs::read_to_string(&path).expect("the file stays"), "");
        assert_eq!(remove(dir.path().join("none.jsonl"), &[one]).expect("a missing file is empty"), 0);
        assert_eq!(count(dir.path().join("none.jsonl")), 0);
    }

    #[test]
    fn an_aws_on_failure_message_reads_as_a_dead_letter() {
        let message = r#"{
            "requestContext": {"requestId": "316aa6d0-8154-xmpl-9af7-85d5f4a6bc81",
                "functionArn": "arn:aws:lambda:us-east-2:123456789012:function:myfunction",
                "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 1},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": "2019-11-14T00:13:49.717Z",
            "DDBStreamBatchInfo": {"shardId": "shardId-00000001573689847184-864758bb",
                "startSequenceNumber": "800000000003126276362", "endSequenceNumber": "800000000003126276362",
                "approximateArrivalOfFirstRecord": "2019-11-14T00:13:19Z",
                "approximateArrivalOfLastRecord": "2019-11-14T00:13:19Z", "batchSize": 1,
                "streamArn": "arn:aws:dynamodb:us-east-2:123456789012:table/mytable/stream/2019-11-14T00:04:06.388"}
        }"#;
        let letter: DeadLetter = serde_json::from_str(message).expect("an on-failure message");
        assert_eq!(letter.request_context.condition, RETRIES_EXHAUSTED);
        assert_eq!(letter.request_context.reason, "");
        assert_eq!(letter.response_context.and_then(|r| r.function_error).as_deref(), Some("Unhandled"));
        assert_eq!(letter.batch_info.batch_size, 1);
        assert!(letter.order_ids.is_empty());
    }

    #[test]
    fn a_bad_line_is_reported_with_its_number() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(DEAD_LETTER_FILE);
        append(&path, &letter("1")).expect("append");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(b"\n{\"requestContext\":"))
            .expect("a torn line");
        match read(&path) {
            Err(ReadError::Line { line, .. }) => assert_eq!(line, 3),
            other => panic!("expected a line error, got {other:?}"),
        }
    }
}
