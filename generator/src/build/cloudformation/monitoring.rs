//! The dashboard, the alarm topic and the alarms.
//!
//! The dashboard body is built as JSON with serde and handed to `Fn::Sub`, whose `${LogicalId}`
//! variables fill in the physical names (functions, tables, queue, API) at deploy time. Business
//! metrics use the names the runtime publishes (`orchgen_runtime::telemetry::names`).

use orchgen_runtime::functions::{self as plan_functions, Function};
use orchgen_runtime::plan::{ApiKind, Plan};
use orchgen_runtime::telemetry::names as metric_names;
use serde::Serialize;
use serde_json::{Value, json};

use super::{CheckovSkip, get_att, http_api, reference, sub};
use crate::build::names;

/// Period of every alarm and dashboard metric, in seconds.
pub const PERIOD_S: u32 = 300;

/// Context of `monitoring.json.tera`.
#[derive(Debug, Serialize)]
pub struct MonitoringContext {
    /// Topic display name (`Fn::Sub`).
    pub topic_display_name_sub: String,
    /// Justified checkov skips of the topic.
    pub topic_skips: Vec<CheckovSkip>,
    /// Subscribed address; empty for none.
    pub alarm_email: String,
    /// Alarm period.
    pub period_s: u32,
    /// The alarms.
    pub alarms: Vec<AlarmContext>,
    /// Dashboard name (`Fn::Sub`).
    pub dashboard_name_sub: String,
    /// Dashboard body (`Fn::Sub` over JSON text).
    pub dashboard_body_sub: String,
}

/// One alarm: on a single metric, or on metric math.
#[derive(Debug, Serialize)]
pub struct AlarmContext {
    /// Logical id.
    pub id: String,
    /// What it means.
    pub description: String,
    /// Raised at or above this value.
    pub threshold: Value,
    /// The metric, for a single-metric alarm.
    pub metric: Option<AlarmMetric>,
    /// The `Metrics` array, for a metric-math alarm.
    pub metrics: Option<Value>,
}

/// A single metric of an alarm.
#[derive(Debug, Serialize)]
pub struct AlarmMetric {
    /// Namespace.
    pub namespace: String,
    /// Metric name.
    pub name: String,
    /// `[{Name, Value}]`.
    pub dimensions: Value,
    /// `Sum`, `Maximum`, `Average` (when no extended statistic).
    pub statistic: &'static str,
    /// `p99`, ...; empty for a plain statistic.
    pub extended_statistic: &'static str,
}

fn alarm(
    id: String,
    description: String,
    threshold: Value,
    namespace: &str,
    name: &str,
    dimensions: Value,
    statistic: &'static str,
) -> AlarmContext {
    let (statistic, extended_statistic) = if statistic.starts_with('p') { ("", statistic) } else { (statistic, "") };
    AlarmContext {
        id,
        description,
        threshold,
        metric: Some(AlarmMetric {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            dimensions,
            statistic,
            extended_statistic,
        }),
        metrics: None,
    }
}

fn api_dimensions(plan: &Plan) -> Value {
    match plan.api.kind {
        ApiKind::Rest => json!([
            { "Name": "ApiName", "Value": sub(format!("${{Stage}}-{}", names::sub_literal(&plan.name))) },
            { "Name": "Stage", "Value": reference("Stage") }
        ]),
        ApiKind::Http => json!([
            { "Name": "ApiId", "Value": reference("HttpApi") },
            { "Name": "Stage", "Value": http_api::DEFAULT_STAGE }
        ]),
    }
}

/// The API Gateway metric names of the plan's kind of API: (4xx, 5xx). REST APIs publish
/// `4XXError`/`5XXError`, HTTP APIs `4xx`/`5xx`; both publish `Count` and `Latency`.
fn api_error_metrics(plan: &Plan) -> (&'static str, &'static str) {
    match plan.api.kind {
        ApiKind::Rest => ("4XXError", "5XXError"),
        ApiKind::Http => ("4xx", "5xx"),
    }
}

impl MonitoringContext {
    /// The monitoring of `plan`.
    pub fn new(plan: &Plan) -> MonitoringContext {
        let a = &plan.monitoring.alarms;
        let mut alarms = Vec::new();
        for f in plan_functions::functions(plan) {
            let stem = names::function_stem(&f);
            let dims = json!([{ "Name": "FunctionName", "Value": reference(&names::function_id(&f)) }]);
            let what = f.describe().replace('`', "'");
            alarms.push(alarm(
                format!("{stem}ErrorsAlarm"),
                format!("{what} failed {} or more times in 5 minutes.", a.function_errors),
                json!(a.function_errors),
                "AWS/Lambda",
                "Errors",
                dims.clone(),
                "Sum",
            ));
            alarms.push(alarm(
                format!("{stem}ThrottlesAlarm"),
                format!("{what} was throttled {} or more times in 5 minutes.", a.function_throttles),
                json!(a.function_throttles),
                "AWS/Lambda",
                "Throttles",
                dims,
                "Sum",
            ));
        }
        alarms.push(alarm(
            "StreamIteratorAgeAlarm".to_owned(),
            format!("The stream processor is {} ms or more behind the orders change stream.", a.iterator_age_ms),
            json!(a.iterator_age_ms),
            "AWS/Lambda",
            "IteratorAge",
            json!([{ "Name": "FunctionName", "Value": reference(&names::function_id(&Function::StreamProcessor)) }]),
            "Maximum",
        ));
        alarms.push(alarm(
            "DeadLetterQueueAlarm".to_owned(),
            format!(
                "{} or more change records are in the dead-letter queue: orders the pipeline gave up on.",
                a.dlq_messages
            ),
            json!(a.dlq_messages),
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            json!([{ "Name": "QueueName", "Value": get_att("StreamDeadLetterQueue", "QueueName") }]),
            "Maximum",
        ));
        let api_5xx =
            format!("{}% or more of the API's requests failed with a 5xx status in 5 minutes.", a.api_5xx_percent);
        let (_, server_errors) = api_error_metrics(plan);
        let api_stat = |id: &str, name: &str| {
            json!({
                "Id": id,
                "MetricStat": {
                    "Metric": { "Namespace": "AWS/ApiGateway", "MetricName": name, "Dimensions": api_dimensions(plan) },
                    "Period": PERIOD_S,
                    "Stat": "Sum"
                },
                "ReturnData": false
            })
        };
        alarms.push(AlarmContext {
            id: "Api5xxRateAlarm".to_owned(),
            description: api_5xx,
            threshold: json!(a.api_5xx_percent),
            metric: None,
            metrics: Some(json!([
                api_stat("errors", server_errors),
                api_stat("requests", "Count"),
                { "Id": "rate", "Expression": "IF(FILL(requests, 0) > 0, 100 * FILL(errors, 0) / requests, 0)", "Label": "API 5xx responses (%)", "ReturnData": true }
            ])),
        });
        alarms.push(alarm(
            "ApiLatencyAlarm".to_owned(),
            format!("The API's p99 latency reached {} ms.", a.api_p99_latency_ms),
            json!(a.api_p99_latency_ms),
            "AWS/ApiGateway",
            "Latency",
            api_dimensions(plan),
            "p99",
        ));
        let namespace = metric_names::namespace(&plan.name);
        // The dimension set the runtime's EMF lines give the order metrics (`ORDER_DIMENSIONS`).
        let order_dimensions = json!([
            { "Name": metric_names::DIMENSION_PIPELINE, "Value": plan.name },
            { "Name": metric_names::DIMENSION_STAGE, "Value": reference("Stage") }
        ]);
        let stat = |id: &str, name: &str| {
            json!({
                "Id": id,
                "MetricStat": {
                    "Metric": { "Namespace": namespace, "MetricName": name, "Dimensions": order_dimensions },
                    "Period": PERIOD_S,
                    "Stat": "Sum"
                },
                "ReturnData": false
            })
        };
        alarms.push(AlarmContext {
            id: "FailedOrdersAlarm".to_owned(),
            description: format!(
                "{}% or more of the orders that finished in 5 minutes FAILED (faults: retries exhausted, timeouts, services unreachable; refusals, which end REJECTED or CANCELLED, do not count).",
                a.failed_orders_percent
            ),
            threshold: json!(a.failed_orders_percent),
            metric: None,
            metrics: Some(json!([
                stat("completed", metric_names::ORDERS_COMPLETED),
                stat("failed", metric_names::ORDERS_FAILED),
                stat("cancelled", metric_names::ORDERS_CANCELLED),
                stat("rejected", metric_names::ORDERS_REJECTED),
                { "Id": "finished", "Expression": "FILL(completed, 0) + FILL(failed, 0) + FILL(cancelled, 0) + FILL(rejected, 0)", "ReturnData": false },
                { "Id": "rate", "Expression": "IF(finished > 0, 100 * FILL(failed, 0) / finished, 0)", "Label": "Failed orders (%)", "ReturnData": true }
            ])),
        });
        MonitoringContext {
            topic_display_name_sub: format!("${{Stage}} {} alarms", names::sub_literal(&plan.name)),
            topic_skips: vec![CheckovSkip::new(
                "CKV_AWS_26",
                "CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed SNS key; the notifications name an alarm and a threshold, no order data",
            )],
            alarm_email: plan.monitoring.alarm_email.clone(),
            period_s: PERIOD_S,
            alarms,
            dashboard_name_sub: format!("${{Stage}}-{}", names::sub_literal(&plan.name)),
            dashboard_body_sub: dashboard_body(plan).to_string(),
        }
    }
}

/// A dashboard metric line: `[namespace, name, dim, value, ..., {options}]`.
fn line(namespace: &str, name: &str, dims: &[(&str, String)], options: Value) -> Value {
    let mut v = vec![json!(names::sub_literal(namespace)), json!(name)];
    for (k, val) in dims {
        v.push(json!(k));
        v.push(json!(val));
    }
    v.push(options);
    Value::Array(v)
}

fn widget(title: &str, metrics: Vec<Value>, stat: &str, extra: Value) -> Value {
    let mut properties = json!({
        "title": title,
        "region": "${AWS::Region}",
        "view": "timeSeries",
        "stacked": false,
        "period": PERIOD_S,
        "stat": stat,
        "metrics": metrics,
    });
    if let (Some(p), Value::Object(extra)) = (properties.as_object_mut(), extra) {
        p.extend(extra);
    }
    json!({ "type": "metric", "properties": properties })
}

/// The dashboard body (JSON for `Fn::Sub`): the API, every function, the stream, the tables, the
/// dead-letter queue and the business metrics.
pub fn dashboard_body(plan: &Plan) -> Value {
    let api_dims = match plan.api.kind {
        ApiKind::Rest => {
            [("ApiName", format!("${{Stage}}-{}", names::sub_literal(&plan.name))), ("Stage", "${Stage}".to_owned())]
        }
        ApiKind::Http => [("ApiId", "${HttpApi}".to_owned()), ("Stage", http_api::DEFAULT_STAGE.to_owned())],
    };
    let (client_errors, server_errors) = api_error_metrics(plan);
    let functions = plan_functions::functions(plan);
    let per_function = |metric: &str| -> Vec<Value> {
        functions
            .iter()
            .map(|f| {
                line(
                    "AWS/Lambda",
                    metric,
                    &[("FunctionName", format!("${{{}}}", names::function_id(f)))],
                    json!({ "label": names::sub_literal(&f.name()) }),
                )
            })
            .collect()
    };
    let tables = plan.tables.all();
    let per_table = |metrics: &[&str]| -> Vec<Value> {
        tables
            .iter()
            .flat_map(|t| {
                metrics.iter().map(|m| {
                    line(
                        "AWS/DynamoDB",
                        m,
                        &[("TableName", format!("${{{}}}", names::table_id(&t.logical)))],
                        json!({ "label": format!("{} {m}", t.logical) }),
                    )
                })
            })
            .collect()
    };
    let namespace = metric_names::namespace(&plan.name);
    // The dimension sets of the runtime's EMF lines (`telemetry::names`): Pipeline and Stage, then
    // Step or Function.
    let business_dims = |extra: Option<(&'static str, String)>| -> Vec<(&'static str, String)> {
        let mut dims = vec![
            (metric_names::DIMENSION_PIPELINE, names::sub_literal(&plan.name)),
            (metric_names::DIMENSION_STAGE, "${Stage}".to_owned()),
        ];
        dims.extend(extra);
        dims
    };
    let per_step = |metric: &str, steps: Vec<String>, stat: &str| -> Vec<Value> {
        steps
            .iter()
            .map(|s| {
                line(
                    &namespace,
                    metric,
                    &business_dims(Some((metric_names::DIMENSION_STEP, names::sub_literal(s)))),
                    json!({ "label": names::sub_literal(s), "stat": stat }),
                )
            })
            .collect()
    };
    let cold_starts: Vec<Value> = functions
        .iter()
        .map(|f| {
            line(
                &namespace,
                metric_names::COLD_STARTS,
                &business_dims(Some((metric_names::DIMENSION_FUNCTION, names::sub_literal(&f.name())))),
                json!({ "label": names::sub_literal(&f.name()) }),
            )
        })
        .collect();
    let step_names: Vec<String> = plan.steps.iter().map(|s| s.name.clone()).collect();
    let compensation_names: Vec<String> = plan.compensations.keys().cloned().collect();
    let mut step_latency = per_step(metric_names::STEP_DURATION, step_names.clone(), "p50");
    step_latency.extend(per_step(metric_names::STEP_DURATION, step_names.clone(), "p99"));
    let widgets = vec![
        widget(
            "API requests and errors",
            vec![
                line("AWS/ApiGateway", "Count", &api_dims, json!({ "label": "requests" })),
                line("AWS/ApiGateway", client_errors, &api_dims, json!({ "label": "4xx" })),
                line("AWS/ApiGateway", server_errors, &api_dims, json!({ "label": "5xx" })),
            ],
            "Sum",
            json!({}),
        ),
        widget(
            "API latency (ms)",
            vec![
                line("AWS/ApiGateway", "Latency", &api_dims, json!({ "label": "p50", "stat": "p50" })),
                line("AWS/ApiGateway", "Latency", &api_dims, json!({ "label": "p99", "stat": "p99" })),
            ],
            "p99",
            json!({}),
        ),
        widget("Function invocations", per_function("Invocations"), "Sum", json!({})),
        widget("Function duration p99 (ms)", per_function("Duration"), "p99", json!({})),
        widget("Function errors", per_function("Errors"), "Sum", json!({})),
        widget("Function throttles", per_function("Throttles"), "Sum", json!({})),
        widget("Function concurrency", per_function("ConcurrentExecutions"), "Maximum", json!({})),
        widget(
            "Stream processor iterator age (ms)",
            vec![line(
                "AWS/Lambda",
                "IteratorAge",
                &[("FunctionName", format!("${{{}}}", names::function_id(&Function::StreamProcessor)))],
                json!({ "label": "iterator age" }),
            )],
            "Maximum",
            json!({ "annotations": { "horizontal": [{ "label": "alarm", "value": plan.monitoring.alarms.iterator_age_ms }] } }),
        ),
        widget(
            "DynamoDB consumed capacity",
            per_table(&["ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits"]),
            "Sum",
            json!({}),
        ),
        widget("DynamoDB throttles", per_table(&["ReadThrottleEvents", "WriteThrottleEvents"]), "Sum", json!({})),
        widget(
            "Dead-letter queue depth",
            vec![line(
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                &[("QueueName", "${StreamDeadLetterQueue.QueueName}".to_owned())],
                json!({ "label": "messages" }),
            )],
            "Maximum",
            json!({}),
        ),
        widget(
            "Orders",
            metric_names::ORDER_METRICS
                .iter()
                .map(|m| line(&namespace, m, &business_dims(None), json!({ "label": m })))
                .collect(),
            "Sum",
            json!({}),
        ),
        widget("Step latency p50 / p99 (ms)", step_latency, "p99", json!({})),
        widget("Step retries", per_step(metric_names::STEP_RETRIES, step_names, "Sum"), "Sum", json!({})),
        widget("Compensations", per_step(metric_names::COMPENSATIONS, compensation_names, "Sum"), "Sum", json!({})),
        widget(
            "Stream records reported failed (on their way to the dead-letter queue)",
            vec![line(
                &namespace,
                metric_names::BATCH_ITEM_FAILURES,
                &business_dims(None),
                json!({ "label": "batch item failures" }),
            )],
            "Sum",
            json!({}),
        ),
        widget("Cold starts", cold_starts, "Sum", json!({})),
    ];
    let placed: Vec<Value> = widgets
        .into_iter()
        .filter(|w| w["properties"]["metrics"].as_array().is_some_and(|m| !m.is_empty()))
        .enumerate()
        .map(|(i, mut w)| {
            if let Some(o) = w.as_object_mut() {
                o.insert("x".to_owned(), json!((i % 2) * 12));
                o.insert("y".to_owned(), json!((i / 2) * 6));
                o.insert("width".to_owned(), json!(12));
                o.insert("height".to_owned(), json!(6));
            }
            w
        })
        .collect();
    json!({ "widgets": placed })
}
