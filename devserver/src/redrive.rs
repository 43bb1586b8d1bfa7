//! `orchgen redrive --local`: re-drives the orders of `orchgen dev`'s dead-letter file.
//!
//! The local processor and the local stream consumer append a [`DeadLetter`] to
//! `<data dir>/dead-letters.jsonl` when they give up on a record (`stream.max_retries` deliveries
//! failed) and move on; the order stays where it was. Once the cause is fixed, each letter's
//! orders are driven one move forward from their current state ([`Engine::redrive`]), against the
//! same store `orchgen dev` uses (the embedded store in the data directory, or the tables on
//! `--dynamodb-endpoint`), with the same step handlers (a pipeline with custom steps runs this in
//! its dev host). The new version's change record then drives the order's next moves in
//! `orchgen dev`: at once when it runs on this data, else at its next start.
//!
//! A letter is handled when each of its orders moved, is terminal already or no longer exists;
//! handled letters are removed from the file ([`dead_letter::remove`]: a letter appended meanwhile
//! by a running `orchgen dev` stays). A letter whose move fails again stays, with the reason. A
//! letter that names no order (a stream record that could not be read) stays unless
//! `--from-current-state`, which re-drives every open order instead, once. An order named by
//! several letters is re-driven once.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use orchgen_runtime::Plan;
use orchgen_runtime::dead_letter::{self, DEAD_LETTER_FILE, DeadLetter};
use orchgen_runtime::engine::{Engine, Redriven, open_orders};
use orchgen_runtime::steps::Registry;
use orchgen_runtime::store::Store;
use orchgen_runtime::store::dynamodb::{self, DynamoStore};
use orchgen_runtime::store::sqlite::{DB_FILE, SqliteStore};
use serde::{Deserialize, Serialize};

use crate::{DevOptions, check_endpoint};

/// What `orchgen redrive --local` does, beside the data directory and store of [`DevOptions`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalRedrive {
    /// Re-drive every open order when a letter names no order.
    pub from_current_state: bool,
    /// Handle at most this many letters (the first ones of the file).
    pub max_letters: usize,
    /// Print the report as JSON.
    pub json: bool,
}

/// A letter left in the file, and why.
#[derive(Debug, Clone, Serialize)]
pub struct KeptLetter {
    /// The first sequence number of its records.
    pub sequence_number: String,
    /// Its orders.
    pub order_ids: Vec<String>,
    /// Why it was not handled.
    pub reason: String,
}

/// What a local redrive did.
#[derive(Debug, Clone, Serialize)]
pub struct LocalRedriveReport {
    /// The dead-letter file.
    pub file: PathBuf,
    /// Letters read (at most `max_letters`).
    pub letters: usize,
    /// Letters handled and removed from the file.
    pub removed: usize,
    /// Letters left in the file, with the ones not read (over `max_letters`) and those appended
    /// meanwhile.
    pub left: usize,
    /// Letters read and kept, with the reason.
    pub kept: Vec<KeptLetter>,
    /// What happened to each order re-driven.
    pub orders: Vec<Redriven>,
}

impl std::fmt::Display for LocalRedriveReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.letters == 0 {
            return writeln!(f, "no dead letters in {}", self.file.display());
        }
        let moved = self.orders.iter().filter(|o| matches!(o, Redriven::Moved { .. })).count();
        writeln!(
            f,
            "{} in {}: {} handled and removed, {} kept; {} re-driven from their current state",
            count(self.letters, "dead letter"),
            self.file.display(),
            self.removed,
            self.kept.len(),
            count(moved, "order"),
        )?;
        for order in &self.orders {
            writeln!(f, "  {order}")?;
        }
        for kept in &self.kept {
            writeln!(f, "  kept (sequence {}): {}", kept.sequence_number, kept.reason)?;
        }
        if self.left > 0 {
            writeln!(f, "{} left in the file", count(self.left, "letter"))?;
        }
        if moved > 0 {
            writeln!(
                f,
                "The re-driven orders take their next steps in `orchgen dev` (at once if it runs on this data, else at its next start)."
            )?;
        }
        Ok(())
    }
}

/// `1 letter`, `2 letters`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// Runs the redrive on the store of `options` and prints the report; exit code 0 when every letter
/// read was handled, 1 when one is kept or the redrive failed, 2 for a bad option.
pub(crate) fn run(
    options: &DevOptions,
    plan: Plan,
    registry: Registry,
    redrive: &LocalRedrive,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<u8> {
    let filter = match crate::log_filter(options.log_level.as_deref(), "warn") {
        Ok(filter) => filter,
        Err(message) => {
            writeln!(err, "error: {message}")?;
            return Ok(2);
        }
    };
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let result = runtime.block_on(redrive_letters(options, Arc::new(plan), registry, redrive));
    match result {
        Ok(report) => {
            if redrive.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report).unwrap_or_default())?;
            } else {
                write!(out, "{report}")?;
            }
            Ok(if report.kept.is_empty() { 0 } else { 1 })
        }
        Err(message) => {
            writeln!(err, "error: {message}")?;
            if redrive.json {
                writeln!(out, "{}", serde_json::json!({ "error": message }))?;
            }
            Ok(1)
        }
    }
}

/// Opens the store `orchgen dev` uses with `options`.
fn open_store(options: &DevOptions, plan: &Plan, data_dir: &Path) -> Result<Arc<dyn Store>, String> {
    match &options.dynamodb_endpoint {
        Some(endpoint) => {
            check_endpoint(endpoint)?;
            let tables = dynamodb::with_prefix(&plan.tables, options.table_prefix.as_deref().unwrap_or(""));
            Ok(Arc::new(DynamoStore::new(dynamodb::client_for_endpoint(endpoint), &tables)))
        }
        None => {
            if !data_dir.join(DB_FILE).exists() {
                return Err(format!(
                    "no store in {} (the dead letters name orders of a store that is not there: give the --data-dir `orchgen dev` used)",
                    data_dir.display()
                ));
            }
            let store = SqliteStore::open(data_dir)
                .map_err(|e| format!("cannot open the store in {}: {e}", data_dir.display()))?;
            Ok(Arc::new(store))
        }
    }
}

async fn redrive_letters(
    options: &DevOptions,
    plan: Arc<Plan>,
    registry: Registry,
    redrive: &LocalRedrive,
) -> Result<LocalRedriveReport, String> {
    let data_dir = crate::data_dir(options, &plan);
    let file = data_dir.join(DEAD_LETTER_FILE);
    let all = dead_letter::read(&file).map_err(|e| e.to_string())?;
    let letters: Vec<DeadLetter> = all.into_iter().take(redrive.max_letters).collect();
    let mut report = LocalRedriveReport {
        file: file.clone(),
        letters: letters.len(),
        removed: 0,
        left: 0,
        kept: vec![],
        orders: vec![],
    };
    if letters.is_empty() {
        return Ok(report);
    }
    let store = open_store(options, &plan, &data_dir)?;
    let engine = Engine::with_registry(plan, store.clone(), registry);
    let missing = engine.unregistered_handlers();
    if !missing.is_empty() {
        return Err(format!("no handler is registered for the custom steps {}", missing.join(", ")));
    }
    let mut redriven = BTreeSet::new();
    let mut handled = Vec::new();
    for letter in &letters {
        let order_ids = if letter.order_ids.is_empty() {
            if !redrive.from_current_state {
                report.kept.push(kept(
                    letter,
                    "the letter names no order; rerun with --from-current-state to re-drive every open order"
                        .to_owned(),
                ));
                continue;
            }
            let open = open_orders(store.as_ref()).await.map_err(|e| format!("cannot list the open orders: {e}"))?;
            open.into_iter().map(|o| o.order_id).collect()
        } else {
            letter.order_ids.clone()
        };
        let mut failure = None;
        for id in order_ids {
            if !redriven.insert(id.clone()) {
                continue;
            }
            match engine.redrive(&id).await {
                Ok(outcome) => report.orders.push(outcome),
                Err(e) => {
                    // Failed again: a later letter naming it may try once more.
                    redriven.remove(&id);
                    failure = Some(format!("failed again: {e}"));
                    break;
                }
            }
        }
        match failure {
            None => handled.push(letter.clone()),
            Some(reason) => report.kept.push(kept(letter, reason)),
        }
    }
    report.left = dead_letter::remove(&file, &handled).map_err(|e| e.to_string())?;
    report.removed = handled.len();
    Ok(report)
}

fn kept(letter: &DeadLetter, reason: String) -> KeptLetter {
    KeptLetter {
        sequence_number: letter.batch_info.start_sequence_number.clone(),
        order_ids: letter.order_ids.clone(),
        reason,
    }
}
