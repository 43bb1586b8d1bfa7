//! The built stream-processor glue binary on real DynamoDB stream records, against DynamoDB Local.
//!
//! The glue of `pipelines/orders.yaml` is generated and built with cargo
//! (`orchgen_tests::lambda_local::build_glue`: debug, target folder `target/nested`). The test creates the plan's tables on DynamoDB Local,
//! writes an order through the runtime's `DynamoStore`, reads the orders table's stream with the
//! DynamoDB Streams API, and hands the records (as a Lambda DynamoDB event) to the stream-processor
//! binary through a local Lambda Runtime API. The binary talks to DynamoDB Local
//! (`AWS_ENDPOINT_URL_DYNAMODB`) and invokes each step's function through the Lambda Invoke API
//! (`AWS_ENDPOINT_URL_LAMBDA`), served here by a small server whose
//! `POST /2015-03-31/functions/{name}/invocations` runs the built step binary of that function
//! against a Runtime API of its own, as Lambda does. The reference plan chains its steps: the
//! INSERT record moves the order through every step to COMPLETED in one commit; the MODIFY record of
//! that commit and a re-delivered INSERT change nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use orchgen_runtime::aws::{AwsOptions, sdk_config};
use orchgen_runtime::lambda::{self, table_env_var};
use orchgen_runtime::order::{Order, Outcome};
use orchgen_runtime::plan::{Plan, status};
use orchgen_runtime::store::Store;
use orchgen_runtime::store::dynamodb::client::LOCAL_REGION;
use orchgen_runtime::store::dynamodb::{DynamoStore, client_for_endpoint, ensure_tables, with_prefix};
use orchgen_runtime::streams::event_record;
use orchgen_tests::dynamodb_local::DynamoDbLocal;
use orchgen_tests::fixtures;
use orchgen_tests::lambda_local::{build_glue, run_function};
use orchgen_tests::workspace_root;
use serde_json::{Value, json};

/// The prefix of the step functions' names the stream processor invokes.
const FUNCTION_PREFIX: &str = "shop-glue-test-";

fn orders() -> Plan {
    let path = workspace_root().join("pipelines/orders.yaml");
    let checked = orchgen_generator::check_file(&path).expect("the pipeline reads");
    checked.plan.unwrap_or_else(|| panic!("orders.yaml is valid:\n{}", checked.report.render(100)))
}

// ---------------------------------------------------------------------------------------------
// A local Lambda Invoke API running the step binaries
// ---------------------------------------------------------------------------------------------

struct Invoker {
    bin: PathBuf,
    /// The step and compensation functions by their deployed name.
    functions: BTreeMap<String, String>,
    /// The function names invoked, in order.
    invoked: Mutex<Vec<String>>,
    count: AtomicUsize,
}

/// `POST /2015-03-31/functions/{name}/invocations` (RequestResponse): the step binary of `name`
/// answers the payload; a function error is reported as Lambda does (`X-Amz-Function-Error`).
async fn invoke(State(invoker): State<Arc<Invoker>>, UrlPath(name): UrlPath<String>, body: Bytes) -> impl IntoResponse {
    invoker.invoked.lock().expect("lock").push(name.clone());
    let Some(binary) = invoker.functions.get(&name) else {
        let message = json!({ "Type": "User", "message": format!("Function not found: {name}") });
        return (StatusCode::NOT_FOUND, [("x-amzn-errortype", "ResourceNotFoundException")], message.to_string())
            .into_response();
    };
    let payload: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            let message = json!({ "Type": "User", "message": format!("Could not parse request body into json: {e}") });
            return (
                StatusCode::BAD_REQUEST,
                [("x-amzn-errortype", "InvalidRequestContentException")],
                message.to_string(),
            )
                .into_response();
        }
    };
    let id = format!("invoke-{}", invoker.count.fetch_add(1, Ordering::Relaxed));
    let answers = run_function(&invoker.bin.join(binary), &[], vec![(id.clone(), payload)]).await;
    match answers.get(&id) {
        Some((kind, body)) if kind == "response" => {
            (StatusCode::OK, [("x-amz-executed-version", "$LATEST")], body.to_string()).into_response()
        }
        Some((_, body)) => (StatusCode::OK, [("x-amz-function-error", "Unhandled")], body.to_string()).into_response(),
        None => (StatusCode::INTERNAL_SERVER_ERROR, [("x-amzn-errortype", "ServiceException")], "{}".to_owned())
            .into_response(),
    }
}

/// Serves the Invoke API on a loopback port; returns its URL.
async fn serve_invoker(invoker: Arc<Invoker>) -> String {
    let app = Router::new().route("/2015-03-31/functions/{name}/invocations", post(invoke)).with_state(invoker);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{address}")
}

// ---------------------------------------------------------------------------------------------
// The orders stream
// ---------------------------------------------------------------------------------------------

/// Every record of the stream of `table` after the sequence numbers in `seen`, as Lambda event
/// records, in shard order.
async fn new_stream_records(
    dynamodb: &aws_sdk_dynamodb::Client,
    streams: &aws_sdk_dynamodbstreams::Client,
    table: &str,
    seen: &mut Vec<String>,
) -> Vec<aws_lambda_events::dynamodb::EventRecord> {
    let described = dynamodb.describe_table().table_name(table).send().await.expect("describe the orders table");
    let arn = described.table().and_then(|t| t.latest_stream_arn()).expect("the orders table has a stream").to_owned();
    let stream = streams.describe_stream().stream_arn(&arn).send().await.expect("describe the stream");
    let shards = stream.stream_description().map(|d| d.shards().to_vec()).unwrap_or_default();
    let mut out = Vec::new();
    for shard in shards {
        let shard_id = shard.shard_id().expect("a shard id");
        let iterator = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard_id)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("a shard iterator");
        let mut iterator = iterator.shard_iterator().map(str::to_owned);
        while let Some(it) = iterator.take() {
            let page = streams.get_records().shard_iterator(&it).send().await.expect("get records");
            if page.records().is_empty() {
                break;
            }
            for record in page.records() {
                let sequence = record.dynamodb().and_then(|d| d.sequence_number()).unwrap_or_default().to_owned();
                if seen.contains(&sequence) {
                    continue;
                }
                seen.push(sequence);
                out.push(event_record(record.clone(), &arn, LOCAL_REGION).expect("a stream record converts"));
            }
            iterator = page.next_shard_iterator().map(str::to_owned);
        }
    }
    out
}

fn event(records: Vec<aws_lambda_events::dynamodb::EventRecord>) -> Value {
    let mut event = aws_lambda_events::dynamodb::Event::default();
    event.records = records;
    serde_json::to_value(event).expect("the event serialises")
}

/// Two units of product-1 at 29.99 for the sample's customer, just received.
fn new_order() -> Order {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    fixtures::order().item("product-1", 2, 29.99).received(&ulid::Ulid::new().to_string(), &now)
}

fn succeeded(order: &Order, step: &str) -> bool {
    order.history.iter().any(|h| h.step == step && h.outcome == Outcome::Succeeded)
}

#[test]
fn the_stream_processor_binary_moves_an_order_on_dynamodb_local_from_its_records() {
    let Some(local) = DynamoDbLocal::start() else { return };
    let plan = orders();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let bin = build_glue(&plan, &dir.path().join("build/shop/glue"), &workspace_root().join("pipelines"));

    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async {
        let endpoint = local.endpoint_url();
        let dynamodb = client_for_endpoint(&endpoint);
        let tables = with_prefix(&plan.tables, "glue-");
        ensure_tables(&dynamodb, &tables).await.expect("create the tables");
        let store = DynamoStore::new(dynamodb.clone(), &tables);
        store.seed_inventory(&BTreeMap::from([("product-1".to_owned(), 10)])).await.expect("seed the inventory");
        let streams = aws_sdk_dynamodbstreams::Client::new(
            &sdk_config(&AwsOptions::local_endpoint(endpoint.as_str(), LOCAL_REGION)).await,
        );

        let functions =
            lambda::step_functions(&plan).into_iter().map(|f| (format!("{FUNCTION_PREFIX}{f}"), f.name())).collect();
        let invoker = Arc::new(Invoker {
            bin: bin.clone(),
            functions,
            invoked: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
        });
        let invoke_url = serve_invoker(invoker.clone()).await;

        // What the template gives the stream processor, pointed at the local endpoints. The access
        // key and region are those of the store's client: DynamoDB Local keeps one database per pair.
        let mut env: Vec<(String, String)> = vec![
            ("AWS_REGION".into(), LOCAL_REGION.into()),
            ("AWS_ACCESS_KEY_ID".into(), "local".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "local".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("AWS_ENDPOINT_URL_DYNAMODB".into(), endpoint.clone()),
            ("AWS_ENDPOINT_URL_LAMBDA".into(), invoke_url),
            ("ORCHGEN_FUNCTION_PREFIX".into(), FUNCTION_PREFIX.into()),
        ];
        for table in tables.all() {
            env.push((table_env_var(&table.logical), table.name.clone()));
        }
        let processor = bin.join("stream-processor");

        // INSERT: the order as the API writes it. The reference plan chains its steps: this one
        // record drives the order through every step (each step's Lambda invoked in turn) to
        // COMPLETED, committed as one transaction.
        assert!(plan.stream.chain_steps, "the reference plan chains its steps");
        let order = new_order();
        store.create_order(&order, None).await.expect("create the order");
        let mut seen = Vec::new();
        let records = new_stream_records(&dynamodb, &streams, &tables.orders.name, &mut seen).await;
        assert_eq!(records.len(), 1, "one stream record for the new order: {records:?}");
        assert_eq!(records[0].event_name, "INSERT");
        let answers = run_function(&processor, &env, vec![("batch-insert".to_owned(), event(records))]).await;
        let (kind, reply) = &answers["batch-insert"];
        assert_eq!(kind, "response", "{reply}");
        assert_eq!(*reply, json!({ "batchItemFailures": [] }), "no record failed");
        let after = store.get_order(&order.order_id).await.expect("get").expect("the order exists");
        assert_eq!((after.status.as_str(), after.version), (status::COMPLETED, 2), "{after:?}");
        for step in &plan.steps {
            assert!(succeeded(&after, &step.name), "{}: {:?}", step.name, after.history);
        }
        let expected: Vec<String> = plan.steps.iter().map(|s| format!("{FUNCTION_PREFIX}step-{}", s.name)).collect();
        assert_eq!(*invoker.invoked.lock().expect("lock"), expected, "every step's function, in order, once");
        let stock = store.inventory().await.expect("inventory")["product-1"];
        assert_eq!((stock.available, stock.reserved), (8, 0), "reserved and committed in DynamoDB");
        assert!(store.ledger_entry(&order.order_id).await.expect("ledger").is_some(), "the charge is recorded");

        // MODIFY: the record of that commit (a terminal order) is read from the stream and ignored.
        let records = new_stream_records(&dynamodb, &streams, &tables.orders.name, &mut seen).await;
        assert_eq!(records.len(), 1, "one new record, the commit of the chain: {records:?}");
        assert_eq!(records[0].event_name, "MODIFY");
        let answers = run_function(&processor, &env, vec![("batch-modify".to_owned(), event(records))]).await;
        let (kind, reply) = &answers["batch-modify"];
        assert_eq!(kind, "response", "{reply}");
        assert_eq!(*reply, json!({ "batchItemFailures": [] }), "no record failed");

        // Delivering the INSERT again (at-least-once) changes nothing: the version moved on.
        let mut replay_seen = Vec::new();
        let all = new_stream_records(&dynamodb, &streams, &tables.orders.name, &mut replay_seen).await;
        let insert = all.into_iter().find(|r| r.event_name == "INSERT").expect("the INSERT record");
        let answers = run_function(&processor, &env, vec![("batch-replay".to_owned(), event(vec![insert]))]).await;
        let (kind, reply) = &answers["batch-replay"];
        assert_eq!(kind, "response", "{reply}");
        assert_eq!(*reply, json!({ "batchItemFailures": [] }), "a stale record is not a failure");
        let replayed = store.get_order(&order.order_id).await.expect("get").expect("the order exists");
        assert_eq!(replayed.version, 2, "a re-delivered record writes nothing");
        assert_eq!(invoker.invoked.lock().expect("lock").len(), expected.len(), "no step ran again");
        let stock = store.inventory().await.expect("inventory")["product-1"];
        assert_eq!((stock.available, stock.reserved), (8, 0), "nothing reserved twice");
    });
}
