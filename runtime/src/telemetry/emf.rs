//! CloudWatch Embedded Metric Format (EMF): the pipeline's business metrics as JSON log lines that
//! CloudWatch Logs turns into metrics, with no API call and no agent.
//!
//! [`Emf`] is an [`Observer`]: the API function reports the orders it creates, the stream
//! processor's engine every committed transition; the functions themselves report their cold start
//! ([`Emf::invocation`]) and the stream processor the records its partial batch responses failed
//! ([`Emf::batch_item_failures`]). Each line is one EMF document (specification:
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>):
//!
//! ```json
//! {"_aws":{"Timestamp":1714564800000,"CloudWatchMetrics":[{"Namespace":"orchgen/shop",
//!   "Dimensions":[["Pipeline","Stage","Step"]],"Metrics":[{"Name":"StepDuration","Unit":"Milliseconds"},
//!   {"Name":"StepRetries","Unit":"Count"}]}]},
//!  "Pipeline":"shop","Stage":"prod","Step":"charge-payment","StepDuration":[31,12],"StepRetries":1,
//!  "order_id":"01J…"}
//! ```
//!
//! Names, namespace and dimension sets come from [`names`]: the generated dashboard and alarms
//! query exactly these. Only committed transitions are reported (see [`Observer`]), so a
//! re-delivered record is never counted twice.
//!
//! Dead-letter queue: no code of orchgen sends to it; the event source mapping does, once a
//! record's retries or age run out. What the handler knows is the records it reports failed
//! ([`names::BATCH_ITEM_FAILURES`]); the queue's depth is the SQS metric on the dashboard.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value, json};

use super::names;
use super::observer::{Observer, Transition};
use crate::order::{Order, Outcome};
use crate::plan::status;

/// At most this many values per metric in one document (EMF limit).
pub const MAX_VALUES: usize = 100;

/// The CloudWatch unit of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A count.
    Count,
    /// A duration in milliseconds.
    Milliseconds,
}

impl Unit {
    /// The unit's name in CloudWatch.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// Writes the pipeline's metrics as EMF lines to a writer (stdout in Lambda).
pub struct Emf {
    namespace: String,
    pipeline: String,
    stage: String,
    out: Mutex<Box<dyn Write + Send>>,
    invoked: AtomicBool,
}

impl std::fmt::Debug for Emf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emf").field("namespace", &self.namespace).field("stage", &self.stage).finish_non_exhaustive()
    }
}

impl Emf {
    /// Metrics of `pipeline` in `stage` (empty: [`names::LOCAL_STAGE`]), written to `out`, one
    /// document per line.
    pub fn new(pipeline: &str, stage: &str, out: impl Write + Send + 'static) -> Emf {
        Emf {
            namespace: names::namespace(pipeline),
            pipeline: pipeline.to_owned(),
            stage: names::stage_dimension(stage).to_owned(),
            out: Mutex::new(Box::new(out)),
            invoked: AtomicBool::new(false),
        }
    }

    /// Metrics written to stdout, where Lambda's log stream picks them up.
    pub fn stdout(pipeline: &str, stage: &str) -> Emf {
        Emf::new(pipeline, stage, std::io::stdout())
    }

    /// The namespace of the metrics.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Call at the start of every invocation of `function` (`api`, `stream-processor`, ...): the
    /// first call of the process writes one [`names::COLD_STARTS`], later calls nothing.
    pub fn invocation(&self, function: &str) {
        if !self.invoked.swap(true, Ordering::Relaxed) {
            self.emit(&[(names::DIMENSION_FUNCTION, function)], &[(names::COLD_STARTS, Unit::Count, vec![1])], &[]);
        }
    }

    /// The stream processor reported `count` records failed in its partial batch response
    /// (nothing is written for 0).
    pub fn batch_item_failures(&self, count: usize) {
        if count > 0 {
            let count = u64::try_from(count).unwrap_or(u64::MAX);
            self.emit(&[], &[(names::BATCH_ITEM_FAILURES, Unit::Count, vec![count])], &[]);
        }
    }

    /// Writes one document: the metrics with the dimension set `[Pipeline, Stage, extra…]`, each
    /// metric's values (at most [`MAX_VALUES`]; more are split over several documents), and extra
    /// top-level `properties` (not dimensions: searchable in Logs Insights, no metric cost).
    pub fn emit(&self, extra: &[(&str, &str)], metrics: &[(&str, Unit, Vec<u64>)], properties: &[(&str, Value)]) {
        let longest = metrics.iter().map(|(_, _, v)| v.len()).max().unwrap_or(0);
        let mut start = 0;
        while start < longest {
            let chunk: Vec<(&str, Unit, &[u64])> = metrics
                .iter()
                .filter_map(|(name, unit, values)| {
                    let end = values.len().min(start + MAX_VALUES);
                    values.get(start..end).filter(|v| !v.is_empty()).map(|v| (*name, *unit, v))
                })
                .collect();
            let line = self.document(extra, &chunk, properties);
            self.write_line(&line);
            start += MAX_VALUES;
        }
    }

    fn document(
        &self,
        extra: &[(&str, &str)],
        metrics: &[(&str, Unit, &[u64])],
        properties: &[(&str, Value)],
    ) -> Value {
        let mut dimensions = vec![names::DIMENSION_PIPELINE, names::DIMENSION_STAGE];
        dimensions.extend(extra.iter().map(|(k, _)| *k));
        let definitions: Vec<Value> =
            metrics.iter().map(|(name, unit, _)| json!({ "Name": name, "Unit": unit.as_str() })).collect();
        let mut root = Map::new();
        root.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": chrono::Utc::now().timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [dimensions],
                    "Metrics": definitions,
                }],
            }),
        );
        root.insert(names::DIMENSION_PIPELINE.to_owned(), json!(self.pipeline));
        root.insert(names::DIMENSION_STAGE.to_owned(), json!(self.stage));
        for (k, v) in extra {
            root.insert((*k).to_owned(), json!(v));
        }
        for (name, _, values) in metrics {
            let value = match values {
                [one] => json!(one),
                many => json!(many),
            };
            root.insert((*name).to_owned(), value);
        }
        for (k, v) in properties {
            root.entry((*k).to_owned()).or_insert_with(|| v.clone());
        }
        Value::Object(root)
    }

    fn write_line(&self, document: &Value) {
        let mut line = document.to_string();
        line.push('\n');
        // One write per line under the lock, so lines never interleave with each other; a failed
        // write (a closed stdout) loses the metric, never the order.
        if let Ok(mut out) = self.out.lock() {
            let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
        }
    }
}

impl Observer for Emf {
    fn order_created(&self, order: &Order) {
        self.emit(&[], &[(names::ORDERS_CREATED, Unit::Count, vec![1])], &[("order_id", json!(order.order_id))]);
    }

    fn transition(&self, transition: &Transition<'_>) {
        let order_id = json!(transition.after.order_id);
        let compensating = transition.before.status == status::COMPENSATING;
        // Attempts by step (a move runs one step or compensation; grouping keeps this exact anyway).
        let mut by_step: BTreeMap<&str, (Vec<u64>, u64, u64)> = BTreeMap::new();
        for entry in transition.new_attempts() {
            let (durations, retries, compensated) = by_step.entry(entry.step.as_str()).or_default();
            durations.push(entry.duration_ms);
            match entry.outcome {
                Outcome::Retried => *retries += 1,
                Outcome::Compensated => *compensated += 1,
                _ => {}
            }
        }
        for (step, (durations, retries, compensated)) in by_step {
            let mut metrics = vec![(names::STEP_DURATION, Unit::Milliseconds, durations)];
            metrics.push((names::STEP_RETRIES, Unit::Count, vec![retries]));
            if compensating {
                metrics.push((names::COMPENSATIONS, Unit::Count, vec![compensated]));
            }
            self.emit(&[(names::DIMENSION_STEP, step)], &metrics, &[("order_id", order_id.clone())]);
        }
        if transition.became_terminal() {
            let metric = match transition.after.status.as_str() {
                status::COMPLETED => Some(names::ORDERS_COMPLETED),
                status::FAILED => Some(names::ORDERS_FAILED),
                status::CANCELLED => Some(names::ORDERS_CANCELLED),
                status::REJECTED => Some(names::ORDERS_REJECTED),
                _ => None,
            };
            if let Some(metric) = metric {
                self.emit(&[], &[(metric, Unit::Count, vec![1])], &[("order_id", order_id)]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::order::{Address, Customer, HistoryEntry, Item};

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(data);
            Ok(data.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Lines {
        fn docs(&self) -> Vec<Value> {
            let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
            String::from_utf8_lossy(&bytes).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
        }
    }

    fn order(status: &str, history: Vec<HistoryEntry>) -> Order {
        Order {
            order_id: "o-1".to_owned(),
            status: status.to_owned(),
            version: 1,
            created_at: String::new(),
            updated_at: String::new(),
            customer: Customer { customer_id: "c".to_owned(), email: "c@example.com".to_owned(), name: "C".to_owned() },
            items: vec![Item { product_id: "p".to_owned(), quantity: 1, unit_price: 1.0 }],
            shipping_address: Address {
                street: "s".to_owned(),
                city: "c".to_owned(),
                state: "s".to_owned(),
                postal_code: "1".to_owned(),
                country: "US".to_owned(),
            },
            payment_method: "credit_card".to_owned(),
            total_cents: 100,
            cursor: 0,
            pending_compensations: Vec::new(),
            failure: None,
            charge: None,
            shipment: None,
            outputs: BTreeMap::new(),
            history,
            expires_at: None,
        }
    }

    fn attempt(step: &str, attempt: u32, outcome: Outcome, duration_ms: u64) -> HistoryEntry {
        HistoryEntry { step: step.to_owned(), attempt, outcome, duration_ms, error: None, at: String::new() }
    }

    #[test]
    fn a_transition_counts_its_attempts_retries_and_outcome() {
        let lines = Lines::default();
        let emf = Emf::new("shop", "", lines.clone());
        let old = attempt("validate", 1, Outcome::Succeeded, 3);
        let before = order("VALIDATED", vec![old.clone()]);
        let after = order(
            "PAYMENT_CHARGED",
            vec![old, attempt("charge", 1, Outcome::Retried, 10), attempt("charge", 2, Outcome::Succeeded, 20)],
        );
        emf.transition(&Transition { before: &before, after: &after });
        let docs = lines.docs();
        assert_eq!(docs.len(), 1, "{docs:?}");
        let doc = &docs[0];
        assert_eq!(doc["Step"], "charge");
        assert_eq!(doc["Stage"], "local");
        assert_eq!(doc["StepDuration"], json!([10, 20]));
        assert_eq!(doc["StepRetries"], 1);
        assert!(doc.get("Compensations").is_none(), "not a compensation");
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Pipeline", "Stage", "Step"]]));

        let compensating = order(status::COMPENSATING, Vec::new());
        let cancelled = order(status::CANCELLED, vec![attempt("release", 1, Outcome::Compensated, 5)]);
        emf.transition(&Transition { before: &compensating, after: &cancelled });
        let docs = lines.docs();
        assert_eq!(docs.len(), 3, "{docs:?}");
        assert_eq!(docs[1]["Compensations"], 1);
        assert_eq!(docs[2]["OrdersCancelled"], 1);
        assert_eq!(docs[2]["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Pipeline", "Stage"]]));

        emf.invocation("api");
        emf.invocation("api");
        emf.batch_item_failures(0);
        emf.batch_item_failures(2);
        let docs = lines.docs();
        assert_eq!(docs.len(), 5, "one cold start, one failure count: {docs:?}");
        assert_eq!((docs[3]["ColdStarts"].clone(), docs[3]["Function"].clone()), (json!(1), json!("api")));
        assert_eq!(docs[4]["BatchItemFailures"], 2);
    }

    #[test]
    fn more_than_100_values_are_split_over_documents() {
        let lines = Lines::default();
        let emf = Emf::new("shop", "prod", lines.clone());
        emf.emit(
            &[(names::DIMENSION_STEP, "s")],
            &[(names::STEP_DURATION, Unit::Milliseconds, (0..250).collect())],
            &[],
        );
        let sizes: Vec<usize> = lines.docs().iter().map(|d| d["StepDuration"].as_array().map_or(1, Vec::len)).collect();
        assert_eq!(sizes, [100, 100, 50]);
    }
}
