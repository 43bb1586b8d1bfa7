//! Structured logs: one JSON object per line in Lambda, with the fields of every enclosing span
//! flattened into it, so that each line about an order carries `order_id`, `step`, `attempt` and
//! `request_id` as top-level members (CloudWatch Logs Insights: `filter order_id = "…"`).
//!
//! The spans are the runtime's own: `invocation{request_id}` (a Lambda invocation: the API Gateway
//! request id in the API function, the Lambda request id in the stream processor), `record{event_id}`
//! (a stream record), `order{order_id, step}` (the engine processing a record) and
//! `attempt{step, attempt}` (one attempt of a step or compensation). An inner span's field wins
//! over an outer one's, the event's own fields over every span's.
//!
//! Locally (`orchgen dev`) the same spans print with `tracing_subscriber`'s readable text format.

use std::io::Write;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// The log filter when nothing is set.
pub const DEFAULT_FILTER: &str = "info";

/// Formats each event as one flat JSON object: `timestamp` (RFC 3339, UTC, ms), `level`, `target`,
/// the fields of its spans from the outermost in, then its own fields (`message` included).
#[derive(Debug, Clone, Copy, Default)]
pub struct FlatJson;

impl<S> FormatEvent<S, JsonFields> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert(
            "timestamp".to_owned(),
            Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        );
        line.insert("level".to_owned(), Value::String(meta.level().as_str().to_owned()));
        line.insert("target".to_owned(), Value::String(meta.target().to_owned()));
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<JsonFields>>() else {
                    continue;
                };
                if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) {
                    line.extend(fields);
                }
            }
        }
        event.record(&mut Fields(&mut line));
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| std::fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Collects an event's fields into a JSON map.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let value = serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
        self.0.insert(field.name().to_owned(), value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::String(value.to_owned()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().to_owned(), Value::String(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
}

/// The log filter from the first of `variables` that is set and valid (`ORCHGEN_LOG_LEVEL`, then
/// `RUST_LOG` in Lambda), else [`DEFAULT_FILTER`]. An invalid filter is reported on stderr and
/// skipped, never fatal.
pub fn filter_from_env(variables: &[&str]) -> EnvFilter {
    for name in variables {
        let Some(value) = std::env::var(name).ok().filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        match EnvFilter::try_new(&value) {
            Ok(filter) => return filter,
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "{name}={value:?} is not a log filter ({e}); ignored");
            }
        }
    }
    EnvFilter::new(DEFAULT_FILTER)
}

/// A subscriber writing [`FlatJson`] lines to `writer` with `filter`: what Lambda functions install
/// (on stdout), and what tests install to capture the lines.
pub fn json_subscriber<W>(filter: EnvFilter, writer: W) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .event_format(FlatJson)
        .fmt_fields(JsonFields::new())
        .with_env_filter(filter)
        .with_writer(writer)
        .finish()
}
