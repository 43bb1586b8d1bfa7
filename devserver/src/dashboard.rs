//! The live dashboard of `orchgen dev` and its machine-readable twins:
//!
//! - `GET /_orchgen/` — one self-contained HTML page (inline CSS and JS, no network but this
//!   server; `templates/dev/dashboard.html`): the pipeline graph of `orchgen graph --format svg`
//!   annotated with live counts, per-step counts and latency percentiles, throughput over the last
//!   ten minutes, recent orders (a click shows the order's timeline from `GET {path}/{id}`), failures
//!   with reasons, change-feed lag and stock. It polls `/_orchgen/status` every second.
//! - `GET /_orchgen/status` — [`Status`] as JSON: the [`LiveSnapshot`] of the observer registered
//!   on the engine and the API, order counts per status from the store's status index, the
//!   change-feed lag, the dead letters waiting for `orchgen redrive --local`, stock levels, the most
//!   recent orders and the processor's counters.
//! - `GET /metrics` — the same figures in the Prometheus text exposition format (version 0.0.4);
//!   metric names derive from [`orchgen_runtime::telemetry::names`] where a CloudWatch name exists
//!   (`OrdersCreated` → `orchgen_orders_created_total`), every sample is labelled with the pipeline.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use orchgen_runtime::Plan;
use orchgen_runtime::engine::MetricsSnapshot;
use orchgen_runtime::order::Order;
use orchgen_runtime::store::{ChangeFeed, ListQuery, Stock, Store, StoreError};
use orchgen_runtime::telemetry::live::{LiveSnapshot, LiveStats, NodeStats};
use orchgen_runtime::telemetry::names;
use serde::{Deserialize, Serialize};

use crate::launch::DashboardGraph;

/// The page, with `/*ORCHGEN_BOOT*/null` and `<!--ORCHGEN_GRAPH-->` to fill in.
const PAGE: &str = include_str!("../../templates/dev/dashboard.html");
/// Orders counted per status at most (the status index is paged through; the count says when it
/// stopped there).
pub const STATUS_COUNT_CAP: u64 = 1000;
/// Unprocessed change records counted at most.
pub const BACKLOG_CAP: usize = 1000;
/// Recent orders listed.
pub const RECENT_ORDERS: u32 = 20;
/// The content type of the Prometheus text format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The change feed the engine consumes, when the dashboard can read it (the embedded store).
pub struct FeedSource {
    /// The feed.
    pub feed: Arc<dyn ChangeFeed>,
    /// The consumer whose checkpoint tells what was processed.
    pub consumer: String,
}

/// What the dashboard endpoints need besides the store.
pub struct Dashboard {
    plan: Arc<Plan>,
    live: Arc<LiveStats>,
    feed: Option<FeedSource>,
    dead_letter_file: PathBuf,
    page: String,
}

/// The JSON of `GET /_orchgen/status`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The pipeline.
    pub pipeline: String,
    /// Path of the order API (`/orders`): `GET {api_path}/{id}` is an order's timeline.
    pub api_path: String,
    /// When the status was taken (RFC 3339).
    pub at: String,
    /// What the observer saw since this server started.
    pub live: LiveSnapshot,
    /// Orders per status in the store, in the plan's status order.
    pub statuses: Vec<StatusCount>,
    /// How far the engine is behind the change feed.
    pub change_feed: FeedStatus,
    /// Letters in the dead-letter file: records given up on after `stream.max_retries`, waiting for
    /// `orchgen redrive --local`.
    pub dead_letters: u64,
    /// Stock per product.
    pub stock: BTreeMap<String, Stock>,
    /// The newest orders, newest first.
    pub recent: Vec<RecentOrder>,
    /// The processor's counters.
    pub processor: MetricsSnapshot,
}

/// Orders of one status in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCount {
    /// The status.
    pub status: String,
    /// How many orders have it (at most [`STATUS_COUNT_CAP`]).
    pub count: u64,
    /// Whether counting stopped at the cap (there may be more).
    pub capped: bool,
}

/// The change feed's backlog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedStatus {
    /// Whether the dashboard can read the feed (not on a DynamoDB stream).
    pub available: bool,
    /// The consumer's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<String>,
    /// The consumer's checkpoint (sequence number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
    /// Change records after the checkpoint (at most [`BACKLOG_CAP`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backlog: Option<u64>,
    /// Whether counting stopped at the cap.
    #[serde(default)]
    pub backlog_capped: bool,
    /// Age of the oldest unprocessed record's change, in seconds (0 when there is none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_seconds: Option<f64>,
    /// Why the figures are missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One of the newest orders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentOrder {
    /// Order id.
    pub order_id: String,
    /// Status.
    pub status: String,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Total in currency units.
    pub total: f64,
    /// Step and compensation attempts so far.
    pub attempts: usize,
    /// Failure code of an order that did not complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<String>,
}

impl From<&Order> for RecentOrder {
    fn from(o: &Order) -> RecentOrder {
        RecentOrder {
            order_id: o.order_id.clone(),
            status: o.status.clone(),
            created_at: o.created_at.clone(),
            updated_at: o.updated_at.clone(),
            total: o.total(),
            attempts: o.history.len(),
            failure_code: o.failure.as_ref().map(|f| f.code.clone()),
        }
    }
}

/// The page's start-up data: which SVG node is which step.
#[derive(Serialize)]
struct Boot<'a> {
    pipeline: &'a str,
    api_path: &'a str,
    nodes: Vec<BootNode>,
}

#[derive(Serialize)]
struct BootNode {
    id: String,
    name: String,
    kind: String,
}

impl Dashboard {
    /// The dashboard of `plan`, showing `live`, when given the backlog of `feed`, and the letters
    /// of `dead_letter_file`.
    pub fn new(
        plan: Arc<Plan>,
        graph: &DashboardGraph,
        live: Arc<LiveStats>,
        feed: Option<FeedSource>,
        dead_letter_file: PathBuf,
    ) -> Dashboard {
        let page = render_page(&plan, graph);
        Dashboard { plan, live, feed, dead_letter_file, page }
    }

    /// The HTML page.
    pub fn page(&self) -> &str {
        &self.page
    }

    /// The status now.
    pub async fn status(&self, store: &dyn Store, processor: MetricsSnapshot) -> Result<Status, StoreError> {
        let live = self.live.snapshot();
        let mut statuses = Vec::with_capacity(self.plan.statuses.len());
        for s in &self.plan.statuses {
            statuses.push(self.count(store, s).await?);
        }
        let stock = store.inventory().await?;
        let recent = store
            .list_orders(&ListQuery { status: None, limit: RECENT_ORDERS, cursor: None })
            .await?
            .orders
            .iter()
            .map(RecentOrder::from)
            .collect();
        Ok(Status {
            pipeline: self.plan.name.clone(),
            api_path: self.plan.api.path.clone(),
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            live,
            statuses,
            change_feed: self.feed_status().await?,
            dead_letters: orchgen_runtime::dead_letter::count(&self.dead_letter_file) as u64,
            stock,
            recent,
            processor,
        })
    }

    /// Orders of status `s`, paging through the status index up to [`STATUS_COUNT_CAP`].
    async fn count(&self, store: &dyn Store, s: &str) -> Result<StatusCount, StoreError> {
        let limit = self.plan.api.max_limit.max(1);
        let mut count = 0u64;
        let mut cursor = None;
        loop {
            let page = store.list_orders(&ListQuery { status: Some(s.to_owned()), limit, cursor }).await?;
            count += page.orders.len() as u64;
            match page.next {
                Some(next) if count < STATUS_COUNT_CAP => cursor = Some(next),
                Some(_) => return Ok(StatusCount { status: s.to_owned(), count, capped: true }),
                None => return Ok(StatusCount { status: s.to_owned(), count, capped: false }),
            }
        }
    }

    async fn feed_status(&self) -> Result<FeedStatus, StoreError> {
        let Some(source) = &self.feed else {
            return Ok(FeedStatus {
                available: false,
                consumer: None,
                checkpoint: None,
                backlog: None,
                backlog_capped: false,
                lag_seconds: None,
                note: Some(
                    "the engine reads a DynamoDB stream: its iterator age is the lag (CloudWatch IteratorAge on AWS)"
                        .to_owned(),
                ),
            });
        };
        let checkpoint = source.feed.checkpoint(&source.consumer).await?;
        let records = source.feed.read_changes(checkpoint.as_deref(), BACKLOG_CAP).await?;
        let lag_seconds = match records.first() {
            None => Some(0.0),
            Some(first) => first.new_image.as_ref().and_then(|o| age_seconds(&o.updated_at)),
        };
        Ok(FeedStatus {
            available: true,
            consumer: Some(source.consumer.clone()),
            checkpoint,
            backlog: Some(records.len() as u64),
            backlog_capped: records.len() >= BACKLOG_CAP,
            lag_seconds,
            note: None,
        })
    }
}

/// Seconds since an RFC 3339 time (never negative); `None` when it does not parse.
fn age_seconds(at: &str) -> Option<f64> {
    let at = chrono::DateTime::parse_from_rfc3339(at).ok()?;
    let ms = (chrono::Utc::now() - at.with_timezone(&chrono::Utc)).num_milliseconds();
    Some(ms.max(0) as f64 / 1000.0)
}

/// The page with the graph and the boot data filled in.
fn render_page(plan: &Plan, graph: &DashboardGraph) -> String {
    let svg = match graph.svg.find("<svg") {
        Some(start) => &graph.svg[start..],
        None => graph.svg.as_str(),
    };
    let nodes =
        graph.nodes.iter().map(|n| BootNode { id: n.id.clone(), name: n.name.clone(), kind: n.kind.clone() }).collect();
    let boot = Boot { pipeline: &plan.name, api_path: &plan.api.path, nodes };
    // Inside <script>, `</` must not appear: JSON allows `<\/`.
    let boot = serde_json::to_string(&boot).unwrap_or_else(|_| "null".to_owned()).replace("</", "<\\/");
    PAGE.replace("<!--ORCHGEN_GRAPH-->", svg)
        .replace("/*ORCHGEN_BOOT*/null", &boot)
        .replace("<!--ORCHGEN_TITLE-->", &html_escape(&plan.name))
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

// ------------------------------------------------------------------------------------------------
// Prometheus text exposition format
// ------------------------------------------------------------------------------------------------

/// The metric name of a CloudWatch metric of [`names`]: `orchgen_` and its snake case
/// (`OrdersCreated` → `orchgen_orders_created`).
pub fn prometheus_name(cloudwatch: &str) -> String {
    let mut name = String::from("orchgen");
    for c in cloudwatch.chars() {
        if c.is_ascii_uppercase() {
            name.push('_');
            name.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            name.push(c);
        } else {
            name.push('_');
        }
    }
    name
}

/// A text exposition being written: families with their `# HELP` and `# TYPE`, then samples.
struct Exposition {
    out: String,
    pipeline: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let _ = write!(self.out, "{name}{{pipeline=\"{}\"", label_value(&self.pipeline));
        for (k, v) in labels {
            let _ = write!(self.out, ",{k}=\"{}\"", label_value(v));
        }
        let _ = writeln!(self.out, "}} {value}");
    }
}

fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `status` in the Prometheus text format.
pub fn prometheus(status: &Status) -> String {
    let mut e = Exposition { out: String::new(), pipeline: status.pipeline.clone() };
    let o = &status.live.orders;
    let orders: [(String, &str, u64); 5] = [
        (prometheus_name(names::ORDERS_CREATED), "Orders accepted by the API since start.", o.created),
        (prometheus_name(names::ORDERS_COMPLETED), "Orders that reached COMPLETED since start.", o.completed),
        ("orchgen_orders_rejected".to_owned(), "Orders that reached REJECTED since start.", o.rejected),
        (prometheus_name(names::ORDERS_FAILED), "Orders that reached FAILED since start.", o.failed),
        (prometheus_name(names::ORDERS_CANCELLED), "Orders that reached CANCELLED since start.", o.cancelled),
    ];
    for (name, help, value) in orders {
        let name = format!("{name}_total");
        e.family(&name, "counter", help);
        e.sample(&name, &[], value);
    }
    e.family("orchgen_orders_in_flight", "gauge", "Orders seen since start that are not terminal.");
    e.sample("orchgen_orders_in_flight", &[], o.in_flight);
    e.family("orchgen_orders", "gauge", "Orders in the store per status (counting stops at 1000).");
    for s in &status.statuses {
        e.sample("orchgen_orders", &[("status", &s.status)], s.count);
    }

    let nodes: Vec<&NodeStats> = status.live.steps.iter().chain(&status.live.compensations).collect();
    let duration = format!("{}_milliseconds", prometheus_name(names::STEP_DURATION));
    e.family(
        &duration,
        "summary",
        "Duration of step and compensation attempts: quantiles over the last 1024 attempts, sum and count since start.",
    );
    for n in &nodes {
        let l = &n.latency;
        for (q, v) in [("0.5", l.p50_ms), ("0.9", l.p90_ms), ("0.99", l.p99_ms)] {
            match v {
                Some(v) => e.sample(&duration, &[("step", &n.name), ("quantile", q)], v),
                None => e.sample(&duration, &[("step", &n.name), ("quantile", q)], "NaN"),
            }
        }
        e.sample(&format!("{duration}_sum"), &[("step", &n.name)], l.sum_ms);
        e.sample(&format!("{duration}_count"), &[("step", &n.name)], l.count);
    }
    let retries = format!("{}_total", prometheus_name(names::STEP_RETRIES));
    e.family(&retries, "counter", "Step attempts that failed retryably and were tried again.");
    for n in &nodes {
        e.sample(&retries, &[("step", &n.name)], n.retried);
    }
    let compensations = format!("{}_total", prometheus_name(names::COMPENSATIONS));
    e.family(&compensations, "counter", "Compensations that ran to success.");
    for n in status.live.compensations.iter() {
        e.sample(&compensations, &[("step", &n.name)], n.compensated);
    }
    e.family("orchgen_step_attempts_total", "counter", "Step and compensation attempts by outcome.");
    for n in &nodes {
        for (outcome, v) in
            [("succeeded", n.succeeded), ("failed", n.failed), ("retried", n.retried), ("compensated", n.compensated)]
        {
            e.sample("orchgen_step_attempts_total", &[("step", &n.name), ("outcome", outcome)], v);
        }
    }
    e.family("orchgen_step_in_flight", "gauge", "Orders waiting at or running a step or compensation.");
    for n in &nodes {
        e.sample("orchgen_step_in_flight", &[("step", &n.name)], n.in_flight);
    }

    let feed = &status.change_feed;
    if let (Some(backlog), Some(lag)) = (feed.backlog, feed.lag_seconds) {
        e.family("orchgen_change_feed_backlog", "gauge", "Change records after the processor's checkpoint.");
        e.sample("orchgen_change_feed_backlog", &[], backlog);
        e.family("orchgen_change_feed_lag_seconds", "gauge", "Age of the oldest unprocessed change record.");
        e.sample("orchgen_change_feed_lag_seconds", &[], lag);
    }
    e.family(
        "orchgen_dead_letters",
        "gauge",
        "Letters in the dead-letter file, waiting for `orchgen redrive --local`.",
    );
    e.sample("orchgen_dead_letters", &[], status.dead_letters);
    e.family("orchgen_stock_available", "gauge", "Units of a product that can be reserved.");
    for (product, stock) in &status.stock {
        e.sample("orchgen_stock_available", &[("product", product)], stock.available);
    }
    e.family("orchgen_stock_reserved", "gauge", "Units of a product reserved by orders not yet fulfilled.");
    for (product, stock) in &status.stock {
        e.sample("orchgen_stock_reserved", &[("product", product)], stock.reserved);
    }
    let p = &status.processor;
    let processor: [(&str, &str, &str, u64); 4] = [
        ("orchgen_records_processed_total", "counter", "Change records processed successfully.", p.records_processed),
        ("orchgen_records_failed_total", "counter", "Change records whose processing failed.", p.records_failed),
        (
            "orchgen_redeliveries_total",
            "counter",
            "Deliveries of a record after its processing failed.",
            p.redeliveries,
        ),
        ("orchgen_records_in_flight", "gauge", "Change records being processed now.", p.in_flight),
    ];
    for (name, kind, help, value) in processor {
        e.family(name, kind, help);
        e.sample(name, &[], value);
    }
    e.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchgen_runtime::store::memory::MemoryStore;

    fn plan() -> Arc<Plan> {
        Arc::new(crate::tests_support::plan())
    }

    #[test]
    fn names_derive_from_the_cloudwatch_names() {
        assert_eq!(prometheus_name(names::ORDERS_CREATED), "orchgen_orders_created");
        assert_eq!(prometheus_name(names::STEP_DURATION), "orchgen_step_duration");
        assert_eq!(prometheus_name(names::COMPENSATIONS), "orchgen_compensations");
    }

    #[test]
    fn the_page_is_self_contained_and_knows_every_step() {
        let plan = plan();
        let page = render_page(&plan, &crate::tests_support::graph(&plan));
        assert!(!page.contains("ORCHGEN_"), "every placeholder is filled");
        assert!(page.contains("<svg"), "the graph is embedded");
        for step in &plan.steps {
            assert!(page.contains(&format!("\"name\":\"{}\"", step.name)), "{}", step.name);
        }
        for forbidden in ["http://", "https://", "//cdn", "<link", "src=\""] {
            let outside_svg_ns = page.replace("http://www.w3.org/2000/svg", "");
            assert!(!outside_svg_ns.contains(forbidden), "the page must load nothing from elsewhere: {forbidden}");
        }
    }

    #[tokio::test]
    async fn status_counts_orders_and_metrics_render() {
        let plan = plan();
        let store = Arc::new(MemoryStore::new());
        store.seed_inventory(&plan.local.inventory).await.expect("seeded");
        let live = Arc::new(LiveStats::new(&plan));
        let dashboard = Dashboard::new(
            plan.clone(),
            &crate::tests_support::graph(&plan),
            live,
            Some(FeedSource { feed: store.clone(), consumer: "c".to_owned() }),
            std::path::Path::new("no-such-dir").join(orchgen_runtime::dead_letter::DEAD_LETTER_FILE),
        );
        let status = dashboard.status(store.as_ref(), MetricsSnapshot::default()).await.expect("status");
        assert!(status.statuses.iter().all(|s| s.count == 0 && !s.capped));
        assert_eq!(status.change_feed.backlog, Some(0));
        assert_eq!(status.dead_letters, 0, "a missing file holds no letter");
        assert_eq!(status.stock["product-1"].available, 100);
        let text = prometheus(&status);
        assert!(text.contains("orchgen_orders_created_total{pipeline=\"shop\"} 0\n"), "{text}");
        assert!(text.contains("orchgen_stock_available{pipeline=\"shop\",product=\"product-1\"} 100\n"), "{text}");
        assert!(text.contains("orchgen_dead_letters{pipeline=\"shop\"} 0\n"), "{text}");
    }
}
