//! Cold start of a Lambda function: spawn → first response, against a local Lambda Runtime API.
//!
//! - **Rust**: the release glue binaries of `pipelines/orders.yaml` (declared x86_64 for this
//!   machine), packaged by `orchgen_generator::package::package` (target folder `target/nested`) and taken out
//!   of their zips with the `plan.json` they read at start-up: the stream processor, which loads the AWS configuration and creates its
//!   DynamoDB and Lambda clients before it asks for work, answering one DynamoDB stream batch (a TTL
//!   removal, which it ignores: no network call), and a step function (`step-charge-payment`).
//! - **Python 3.11**: a runtime-API loop that imports boto3, creates a DynamoDB client, then answers
//!   the same event with an empty partial batch response.
//!
//! Each run spawns a fresh process; the time is taken when the Runtime API receives the response.
//! Medians over N runs, interleaved; ratios from the same run. Run:
//! `cargo bench -p orchgen-tests --bench cold_start` (`ORCHGEN_BENCH_RUNS=N`, default 20).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use orchgen_tests::{fixtures, workspace_root};
use serde_json::{Value, json};

const PYTHON_HANDLER: &str = r#"
import json, os, urllib.request
import boto3
client = boto3.client("dynamodb", region_name=os.environ["AWS_REGION"], endpoint_url=os.environ["AWS_ENDPOINT_URL"])
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(r.read())
    failures = [r["dynamodb"]["SequenceNumber"] for r in event["Records"] if r.get("userIdentity", {}).get("type") != "Service"]
    body = json.dumps({"batchItemFailures": [{"itemIdentifier": s} for s in failures]}).encode()
    urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", data=body, method="POST")).read()
"#;

#[derive(Default)]
struct Api {
    event: Mutex<Option<Value>>,
    answered: Mutex<Option<(Instant, Value)>>,
}

async fn next(State(api): State<Arc<Api>>) -> axum::response::Response {
    let event = api.event.lock().expect("lock").take();
    let Some(event) = event else {
        std::future::pending::<()>().await;
        unreachable!()
    };
    let deadline =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() + 60_000;
    (
        [
            ("lambda-runtime-aws-request-id", "req-1".to_owned()),
            ("lambda-runtime-deadline-ms", deadline.to_string()),
            ("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:cold".to_owned()),
            ("content-type", "application/json".to_owned()),
        ],
        event.to_string(),
    )
        .into_response()
}

async fn response(State(api): State<Arc<Api>>, body: axum::body::Bytes) -> StatusCode {
    let at = Instant::now();
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    *api.answered.lock().expect("lock") = Some((at, body));
    StatusCode::ACCEPTED
}

fn stream_event() -> Value {
    json!({ "Records": [{
        "eventID": "1", "eventName": "REMOVE", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/shop-orders/stream/2024-05-01T12:00:00.000",
        "userIdentity": { "type": "Service", "principalId": "dynamodb.amazonaws.com" },
        "dynamodb": {
            "ApproximateCreationDateTime": 1714564800,
            "Keys": { "order_id": { "S": "01HWZ8Y0A2B3C4D5E6F7G8H9JA" } },
            "SequenceNumber": "9100000000000000000002", "SizeBytes": 40, "StreamViewType": "NEW_AND_OLD_IMAGES"
        }
    }]})
}

fn step_event(plan: &orchgen_runtime::Plan) -> Value {
    let order = fixtures::order().received("01HZX3J4K5M6N7P8Q9R0S1T2V3", "2024-05-01T12:00:00.000Z");
    json!({
        "order": order,
        "step": plan.step("charge-payment").expect("charge-payment"),
        "compensation": null,
        "attempt": 1,
        "idempotency_key": "01HZX3J4K5M6N7P8Q9R0S1T2V3:charge-payment"
    })
}

/// Spawns `command`, hands it `event`, and returns spawn → response time and the response.
async fn cold_start(api: &Arc<Api>, mut command: tokio::process::Command, event: &Value) -> (Duration, Value) {
    *api.answered.lock().expect("lock") = None;
    *api.event.lock().expect("lock") = Some(event.clone());
    let started = Instant::now();
    let mut child = command.kill_on_drop(true).spawn().expect("the function starts");
    let answer = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Some(answer) = api.answered.lock().expect("lock").take() {
                return answer;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the function exited with {status} before answering");
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    })
    .await
    .expect("an answer within 60 s");
    let _ = child.kill().await;
    (answer.0 - started, answer.1)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Packages the reference pipeline for this machine's architecture and unzips the binaries.
fn release_binaries(work: &Path) -> (orchgen_runtime::Plan, PathBuf) {
    let arch = if std::env::consts::ARCH == "aarch64" { "arm64" } else { "x86_64" };
    let text = std::fs::read_to_string(workspace_root().join("pipelines/orders.yaml")).expect("orders.yaml");
    let file = work.join("orders.yaml");
    std::fs::write(&file, text.replace("architecture: x86_64", &format!("architecture: {arch}"))).expect("write");
    let checked = orchgen_generator::check_file(&file).expect("reads");
    let plan = checked.plan.expect("valid");
    let options = orchgen_generator::package::PackageOptions {
        build: orchgen_generator::build::BuildOptions::new(&file, work.join("build")),
        target_dir: Some(orchgen_tests::nested_target()),
    };
    let artefacts = orchgen_generator::package::package(&plan, &options).expect("orchgen package");
    let bin = work.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    for a in &artefacts {
        let mut archive = zip::ZipArchive::new(std::fs::File::open(&a.zip).expect("the zip")).expect("a zip");
        let mut bytes = Vec::new();
        archive.by_name("bootstrap").expect("bootstrap").read_to_end(&mut bytes).expect("unzip");
        let path = bin.join(a.function.name());
        std::fs::write(&path, &bytes).expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        println!("  {}: zip {} bytes, binary {} bytes", a.function, a.bytes, bytes.len());
        // The plan each function reads at start-up, next to it as in the zip (the same in every zip).
        let mut plan_json = Vec::new();
        let entry = archive.by_name(orchgen_generator::package::PLAN_FILE);
        entry.expect("plan.json").read_to_end(&mut plan_json).expect("unzip");
        std::fs::write(bin.join(orchgen_generator::package::PLAN_FILE), plan_json).expect("write");
    }
    (plan, bin)
}

fn main() {
    let runs: usize = std::env::var("ORCHGEN_BENCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(20).max(3);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("cold start, spawn → first response against a local Lambda Runtime API; {runs} runs each");
    println!("load average before: {}", load.trim());
    let work = tempfile::tempdir().expect("a temporary folder");
    let (plan, bin) = release_binaries(work.path());
    let python = ["python3.11", "python3"]
        .into_iter()
        .find(|p| std::process::Command::new(p).arg("-c").arg("import boto3").status().is_ok_and(|s| s.success()));

    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    runtime.block_on(async {
        let api = Arc::new(Api::default());
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .with_state(api.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });

        let aws_env = [
            ("AWS_LAMBDA_RUNTIME_API", address.as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", "cold"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
            ("ORCHGEN_FUNCTION_PREFIX", "shop-"),
            ("ORCHGEN_LOG_LEVEL", "warn"),
        ];
        let command = |program: &Path, args: &[&str]| {
            let mut c = tokio::process::Command::new(program);
            c.args(args).envs(aws_env).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
            c
        };
        let stream = stream_event();
        let step = step_event(&plan);
        let expected = json!({ "batchItemFailures": [] });
        let (mut processor, mut stepper, mut py) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let (t, body) = cold_start(&api, command(&bin.join("stream-processor"), &[]), &stream).await;
            assert_eq!(body, expected, "the stream processor answers the batch");
            processor.push(t);
            let (t, body) = cold_start(&api, command(&bin.join("step-charge-payment"), &[]), &step).await;
            assert!(body["ok"].is_object(), "the step answers: {body}");
            stepper.push(t);
            if let Some(python) = python {
                let (t, body) = cold_start(&api, command(Path::new(python), &["-c", PYTHON_HANDLER]), &stream).await;
                assert_eq!(body, expected, "the Python handler answers the batch");
                py.push(t);
            }
        }
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let processor = median(processor);
        let stepper = median(stepper);
        println!(
            "  Rust stream-processor (SDK config + DynamoDB and Lambda clients), median: {:8.2} ms",
            ms(processor)
        );
        println!("  Rust step-charge-payment (no AWS client), median:                      {:8.2} ms", ms(stepper));
        match python {
            Some(python) => {
                let py = median(py);
                println!("  {python} handler (import boto3 + DynamoDB client), median:          {:8.2} ms", ms(py));
                println!(
                    "  ratio Rust stream-processor / Python: 1/{:.1} (target ≤ 1/15)",
                    py.as_secs_f64() / processor.as_secs_f64()
                );
            }
            None => eprintln!("!!!!!!!! no python3 with boto3: the Python baseline was skipped !!!!!!!!"),
        }
    });
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average after: {}", load.trim());
}
