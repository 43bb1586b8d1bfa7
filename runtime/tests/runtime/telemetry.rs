//! Telemetry of the Lambda functions: orders go through the API function's handler and the stream
//! processor's invocation handler (`lambda::handle_stream_invocation`) on a memory store, with the
//! JSON log subscriber and the EMF observer of the functions writing into buffers.
//!
//! - Logs: every line is one JSON object; every line about the order carries `order_id` and the
//!   request id (API Gateway's in the API, the Lambda request id in the stream processor, with the
//!   record's `event_id`), and every line of the engine carries `step` and `attempt` as well, except
//!   the move that completes the order (no step runs in it).
//! - EMF: every line validates against `fixtures/emf.schema.json` (the structure the EMF
//!   specification requires) and the cross-references checked here; the counts are the orders'.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::{Arc, Mutex};

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::encodings::Body;
use lambda_runtime::{Context, LambdaEvent};
use orchgen_runtime::Engine;
use orchgen_runtime::api::Api;
use orchgen_runtime::lambda::{self, handle_stream_invocation};
use orchgen_runtime::order::{Order, OrderRequest};
use orchgen_runtime::plan::{Plan, status};
use orchgen_runtime::store::memory::MemoryStore;
use orchgen_runtime::store::{ChangeFeed, ChangeKind, ChangeRecord, Store};
use orchgen_runtime::streams::image_from_order;
use orchgen_runtime::telemetry::{Emf, logs, names};
use serde_json::{Value, json};

const PLAN_JSON: &str = include_str!("../fixtures/orders.plan.json");
const EMF_SCHEMA: &str = include_str!("../fixtures/emf.schema.json");
const STREAM_ARN: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/shop-orders/stream/2024-05-01T12:00:00.000";

/// A writer into a shared buffer (for the subscriber and the EMF observer).
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer").extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;

    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

impl Buffer {
    /// Every line, parsed as JSON (a line that is not JSON fails the test).
    fn lines(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().expect("buffer").clone()).expect("UTF-8");
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {l}")))
            .collect()
    }
}

fn plan() -> Plan {
    let mut plan = Plan::from_json(PLAN_JSON).expect("the fixture plan reads");
    for step in &mut plan.steps {
        step.retry.base_delay_ms = 1;
        step.retry.max_delay_ms = 4;
    }
    plan
}

/// The seed's sample order paid with `payment_method`, as the body of `POST /orders`.
fn order_body(payment_method: &str) -> String {
    let mut order = OrderRequest::example();
    order.payment.payment_method = payment_method.to_owned();
    serde_json::to_string(&order).expect("an order serialises")
}

fn post(body: &str, request_id: &str) -> LambdaEvent<ApiGatewayProxyRequest> {
    let request: ApiGatewayProxyRequest = serde_json::from_value(json!({
        "resource": "/orders",
        "path": "/orders",
        "httpMethod": "POST",
        "headers": { "Content-Type": "application/json" },
        "multiValueHeaders": {},
        "requestContext": { "resourcePath": "/orders", "httpMethod": "POST", "stage": "prod", "requestId": request_id,
                            "accountId": "123456789012", "apiId": "abc", "identity": { "sourceIp": "127.0.0.1" } },
        "body": body,
        "isBase64Encoded": false
    }))
    .expect("a proxy event");
    let mut context = Context::default();
    context.request_id = format!("lambda-{request_id}");
    LambdaEvent::new(request, context)
}

/// The store's change records as DynamoDB stream events (NEW_AND_OLD_IMAGES).
#[derive(Default)]
struct Streamer {
    after: Option<String>,
    images: HashMap<String, Order>,
}

impl Streamer {
    async fn next_event(&mut self, store: &MemoryStore) -> Option<Event> {
        let changes = store.read_changes(self.after.as_deref(), 100).await.expect("read");
        let last = changes.last()?;
        self.after = Some(last.sequence_number.clone());
        let records: Vec<Value> = changes.iter().map(|c| self.record(c)).collect();
        Some(serde_json::from_value(json!({ "Records": records })).expect("an event"))
    }

    fn record(&mut self, change: &ChangeRecord) -> Value {
        let old = self.images.get(&change.order_id).cloned();
        let mut dynamodb = json!({
            "ApproximateCreationDateTime": 1714564800,
            "Keys": { "order_id": { "S": change.order_id } },
            "SequenceNumber": format!("1000000000000000{:0>6}", change.sequence_number),
            "SizeBytes": 1024,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        });
        if let Some(new) = &change.new_image {
            dynamodb["NewImage"] = serde_json::to_value(image_from_order(new)).expect("an image");
            self.images.insert(change.order_id.clone(), new.clone());
        }
        if let Some(old) = old.filter(|_| change.kind != ChangeKind::Insert) {
            dynamodb["OldImage"] = serde_json::to_value(image_from_order(&old)).expect("an image");
        }
        let event_name = if change.kind == ChangeKind::Insert { "INSERT" } else { "MODIFY" };
        json!({
            "eventID": format!("event-{}", change.sequence_number),
            "eventName": event_name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": dynamodb,
            "eventSourceARN": STREAM_ARN,
        })
    }
}

/// What a run of orders through the functions wrote.
struct Run {
    logs: Vec<Value>,
    emf: Vec<Value>,
    /// Order id → its final status.
    orders: BTreeMap<String, String>,
}

/// Submits one order per payment method through the API function, then invokes the stream
/// processor (Lambda request ids `invocation-1`, `invocation-2`, …) until no change is left.
async fn run(payment_methods: &[&str]) -> Run {
    let log_buffer = Buffer::default();
    let emf_buffer = Buffer::default();
    let subscriber = logs::json_subscriber(tracing_subscriber::EnvFilter::new("info"), log_buffer.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    let plan = Arc::new(plan());
    let memory = Arc::new(MemoryStore::new());
    let store: Arc<dyn Store> = memory.clone();
    let emf = Arc::new(Emf::new(&plan.name, "test", emf_buffer.clone()));
    let mut api = Api::new(plan.clone(), store.clone());
    api.observe(emf.clone());
    let mut engine = Engine::new(plan, store.clone());
    engine.observe(emf.clone());
    engine.seed_local_inventory().await.expect("seed");

    let mut orders = BTreeMap::new();
    for (i, method) in payment_methods.iter().enumerate() {
        let response = lambda::api::handle(&api, post(&order_body(method), &format!("api-request-{i}"))).await;
        assert_eq!(response.status_code, 201, "{:?}", response.body);
        let Some(Body::Text(text)) = &response.body else { panic!("a text body") };
        let created: Value = serde_json::from_str(text).expect("JSON");
        orders.insert(created["order_id"].as_str().expect("an id").to_owned(), String::new());
    }

    let mut streamer = Streamer::default();
    let mut invocation = 0;
    while let Some(event) = streamer.next_event(&memory).await {
        invocation += 1;
        assert!(invocation < 50, "the orders never finish");
        let mut context = Context::default();
        context.request_id = format!("invocation-{invocation}");
        let response = handle_stream_invocation(&engine, &emf, LambdaEvent::new(event, context)).await;
        assert!(response.batch_item_failures.is_empty(), "no record fails");
    }
    for (id, final_status) in &mut orders {
        *final_status = store.get_order(id).await.expect("read").expect("the order exists").status;
    }
    Run { logs: log_buffer.lines(), emf: emf_buffer.lines(), orders }
}

fn str_of<'a>(line: &'a Value, key: &str) -> Option<&'a str> {
    line.get(key).and_then(Value::as_str)
}

#[tokio::test]
async fn every_log_line_about_an_order_names_it_with_its_step_attempt_and_request() {
    let run = run(&["credit_card"]).await;
    let (order_id, final_status) = run.orders.iter().next().expect("one order");
    assert_eq!(final_status, status::COMPLETED);

    let about: Vec<&Value> = run.logs.iter().filter(|l| str_of(l, "order_id") == Some(order_id)).collect();
    let mut engine_lines = 0;
    let mut steps_seen = Vec::new();
    for line in &about {
        for key in ["timestamp", "level", "target", "message", "request_id"] {
            assert!(line.get(key).is_some(), "`{key}` missing from {line}");
        }
        if str_of(line, "target").is_some_and(|t| t.starts_with("orchgen_runtime::engine")) {
            engine_lines += 1;
            assert!(str_of(line, "request_id").is_some_and(|r| r.starts_with("invocation-")), "{line}");
            assert!(str_of(line, "event_id").is_some_and(|e| e.starts_with("event-")), "{line}");
            let completes = str_of(line, "to") == Some(status::COMPLETED);
            if !completes {
                let step = str_of(line, "step").unwrap_or_else(|| panic!("`step` missing from {line}"));
                assert!(line["attempt"].as_u64().is_some_and(|a| a >= 1), "`attempt` missing from {line}");
                if str_of(line, "message") == Some("order moved") {
                    // A move names the steps it ran (one here: the reference plan does not chain).
                    assert_eq!(str_of(line, "steps"), Some(step), "{line}");
                    steps_seen.push(step.to_owned());
                }
            }
        } else {
            // The API's lines carry API Gateway's request id.
            assert_eq!(str_of(line, "request_id"), Some("api-request-0"), "{line}");
        }
    }
    let plan = plan();
    let expected: Vec<String> = plan.steps.iter().map(|s| s.name.clone()).collect();
    assert_eq!(steps_seen, expected, "one `order moved` line per step, in order");
    // Per step: the move (a successful attempt logs at debug only); plus the completing move.
    assert_eq!(engine_lines, expected.len() + 1, "{about:#?}");
    assert!(!about.iter().any(|l| str_of(l, "message") == Some("attempt succeeded")), "{about:#?}");
    assert!(
        about.iter().any(|l| str_of(l, "message") == Some("order accepted")),
        "the API logs the order it accepts: {about:#?}"
    );
    // Lines that are about no order (the batch summaries) still carry the invocation's request id.
    let batches: Vec<&Value> = run.logs.iter().filter(|l| str_of(l, "message") == Some("batch processed")).collect();
    assert!(!batches.is_empty());
    assert!(batches.iter().all(|l| str_of(l, "request_id").is_some_and(|r| r.starts_with("invocation-"))));
}

/// Validates an EMF document: the schema, then the cross-references the schema cannot state.
fn check_emf(validator: &jsonschema::Validator, doc: &Value) {
    let errors: Vec<String> = validator.iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{doc} breaks the EMF structure: {errors:#?}");
    for directive in doc["_aws"]["CloudWatchMetrics"].as_array().expect("directives") {
        for set in directive["Dimensions"].as_array().expect("dimension sets") {
            for dimension in set.as_array().expect("a dimension set") {
                let name = dimension.as_str().expect("a dimension name");
                let value = doc.get(name).unwrap_or_else(|| panic!("dimension `{name}` is not a member of {doc}"));
                assert!(value.as_str().is_some_and(|v| !v.is_empty()), "dimension `{name}` is not a string: {doc}");
            }
        }
        for metric in directive["Metrics"].as_array().expect("metrics") {
            let name = metric["Name"].as_str().expect("a metric name");
            match doc.get(name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(values)) => {
                    assert!(!values.is_empty() && values.len() <= 100, "`{name}` has {} values", values.len());
                    assert!(values.iter().all(Value::is_number), "`{name}` holds a non-number: {doc}");
                }
                other => panic!("metric `{name}` is {other:?} in {doc}"),
            }
        }
    }
}

/// The sum of a metric's values over the documents with these dimension values.
fn total(docs: &[Value], metric: &str, dimensions: &[(&str, &str)]) -> u64 {
    docs.iter()
        .filter(|d| dimensions.iter().all(|(k, v)| str_of(d, k) == Some(v)))
        .filter_map(|d| d.get(metric))
        .map(|v| match v {
            Value::Array(values) => values.iter().filter_map(Value::as_u64).sum(),
            v => v.as_u64().unwrap_or(0),
        })
        .sum()
}

#[tokio::test]
async fn emf_lines_follow_the_specification_and_count_what_happened() {
    let run = run(&["credit_card", "credit_card", "declined_card"]).await;
    let statuses: Vec<&str> = run.orders.values().map(String::as_str).collect();
    assert_eq!(statuses.iter().filter(|s| **s == status::COMPLETED).count(), 2, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == status::CANCELLED).count(), 1, "{statuses:?}");

    let schema: Value = serde_json::from_str(EMF_SCHEMA).expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    assert!(!run.emf.is_empty());
    let plan = plan();
    for doc in &run.emf {
        check_emf(&validator, doc);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], names::namespace(&plan.name));
        assert_eq!(str_of(doc, names::DIMENSION_PIPELINE), Some(plan.name.as_str()));
        assert_eq!(str_of(doc, names::DIMENSION_STAGE), Some("test"));
        // The dimension sets are the ones the generated dashboard and alarms query.
        let set: Vec<&str> =
            directive["Dimensions"][0].as_array().expect("a set").iter().filter_map(Value::as_str).collect();
        for metric in directive["Metrics"].as_array().expect("metrics") {
            let name = metric["Name"].as_str().expect("a name");
            let expected: &[&str] = if names::STEP_METRICS.contains(&name) {
                &names::STEP_DIMENSIONS
            } else if name == names::COLD_STARTS {
                &names::FUNCTION_DIMENSIONS
            } else {
                assert!(names::ORDER_METRICS.contains(&name) || name == names::BATCH_ITEM_FAILURES, "{name}");
                &names::ORDER_DIMENSIONS
            };
            assert_eq!(set, expected, "{doc}");
        }
    }
    let docs = &run.emf;
    assert_eq!(total(docs, names::ORDERS_CREATED, &[]), 3);
    assert_eq!(total(docs, names::ORDERS_COMPLETED, &[]), 2);
    assert_eq!(total(docs, names::ORDERS_CANCELLED, &[]), 1);
    assert_eq!(total(docs, names::ORDERS_FAILED, &[]), 0);
    assert_eq!(total(docs, names::COMPENSATIONS, &[(names::DIMENSION_STEP, "release-inventory")]), 1);
    // One cold start per process, however many invocations.
    assert_eq!(total(docs, names::COLD_STARTS, &[]), 1);
    assert_eq!(total(docs, names::COLD_STARTS, &[(names::DIMENSION_FUNCTION, "stream-processor")]), 1);
    // One duration per attempt: each step ran once per order that reached it.
    let durations = |step: &str| {
        docs.iter()
            .filter(|d| str_of(d, names::DIMENSION_STEP) == Some(step))
            .filter_map(|d| d.get(names::STEP_DURATION))
            .map(|v| v.as_array().map_or(1, Vec::len))
            .sum::<usize>()
    };
    assert_eq!(durations("validate"), 3);
    assert_eq!(durations("charge-payment"), 3);
    assert_eq!(durations("fulfil"), 2);
    assert_eq!(durations("release-inventory"), 1);
    assert_eq!(total(docs, names::STEP_RETRIES, &[]), 0);
}
