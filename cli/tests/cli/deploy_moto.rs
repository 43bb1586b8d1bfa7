//! `orchgen deploy / destroy / redrive` end to end against the moto server (a local AWS API):
//! the reference pipeline is packaged, uploaded and deployed through a CloudFormation change set,
//! its resources checked through the AWS APIs, updated (one step's memory), redeployed unchanged,
//! driven by `orchgen dev` on the stack's own tables, redriven from its dead-letter queue, and
//! destroyed. A deploy against an unreachable endpoint fails with a readable reason.
//!
//! moto completes stacks synchronously, skips API Gateway stages and alarms and ignores TTL (see
//! the environment notes): the test checks what moto supports and never bends the template.
//!
//! The glue is release-built with `CARGO_TARGET_DIR=target/nested` (shared with the other glue tests).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::orchgen_bin;
use orchgen_tests::dev_server::{Dev, DevServer};
use orchgen_tests::fixtures;
use orchgen_tests::moto::MotoServer;
use orchgen_tests::workspace_root;
use serde_json::{Value, json};

const STAGE: &str = "test";
const REGION: &str = "us-east-1";

/// The reference pipeline, copied into `dir` (declared for this machine's architecture, which is the
/// one it can package) and optionally edited.
fn pipeline(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let text =
        std::fs::read_to_string(workspace_root().join("pipelines/orders.yaml")).expect("orders.yaml is readable");
    let mut text = text;
    if std::env::consts::ARCH == "aarch64" {
        assert!(text.contains("architecture: x86_64"), "orders.yaml declares its architecture");
        text = text.replace("architecture: x86_64", "architecture: arm64");
    }
    let text = edit(text);
    std::fs::create_dir_all(dir).expect("the pipeline folder is created");
    let path = dir.join("orders.yaml");
    std::fs::write(&path, text).expect("the pipeline copy is written");
    path
}

/// `orchgen` with a clean AWS environment pointed at nothing but the test's settings.
fn orchgen(home: &Path) -> Command {
    let mut command = Command::new(orchgen_bin());
    command
        // The folder package_release's in-process commands run in (this crate's): one project SDK
        // (`.orchgen/sdk`), so the release glue both build is the same and built once.
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("AWS_CONFIG_FILE", home.join("no-aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-aws-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("CARGO_TARGET_DIR", orchgen_tests::nested_target())
        .stdin(Stdio::null());
    // The build settings of this run (toolchain, CARGO_INCREMENTAL, CARGO_PROFILE_*, RUSTFLAGS), so
    // that the release glue `orchgen package` builds in target/nested is the one package_release builds.
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if (name.starts_with("CARGO") || name.starts_with("RUST"))
            && name != "CARGO_TARGET_DIR"
            && !orchgen_generator::cargo::is_crate_variable(name)
        {
            command.env(name, value);
        }
    }
    command
}

fn run(mut command: Command) -> (i32, String, String) {
    let Output { status, stdout, stderr } = command.output().expect("orchgen runs");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// `orchgen deploy` with its build in `<home>/build`.
fn deploy(home: &Path, file: &Path, endpoint: &str, extra: &[&str]) -> (i32, String, String) {
    deploy_into(home, &home.join("build"), file, endpoint, extra)
}

/// `orchgen deploy` with its build in `out`.
fn deploy_into(home: &Path, out: &Path, file: &Path, endpoint: &str, extra: &[&str]) -> (i32, String, String) {
    let mut command = orchgen(home);
    command.arg("deploy").arg(file).args(["--stage", STAGE, "--endpoint-url", endpoint, "--out"]).arg(out).args(extra);
    run(command)
}

struct Aws {
    rt: tokio::runtime::Runtime,
    config: aws_config::SdkConfig,
    endpoint: String,
}

impl Aws {
    fn new(endpoint: &str) -> Aws {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let options = orchgen_runtime::aws::AwsOptions::local_endpoint(endpoint, REGION);
        let config = rt.block_on(orchgen_runtime::aws::sdk_config(&options));
        Aws { rt, config, endpoint: endpoint.to_owned() }
    }

    fn cfn(&self) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.config)
    }

    fn lambda(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&self.config)
    }

    fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.config)
    }

    fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.config)
    }

    fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&self.config).force_path_style(true).build())
    }

    /// A query-protocol call (IAM, CloudWatch) for the services without an SDK crate in this
    /// workspace; moto does not check signatures.
    fn query(&self, service: &str, params: &[(&str, &str)]) -> (u16, String) {
        let client = reqwest::blocking::Client::new();
        let response = client
            .post(&self.endpoint)
            .header(
                "Authorization",
                format!("AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"),
            )
            .form(params)
            .send()
            .expect("the query call is answered");
        let status = response.status().as_u16();
        (status, response.text().unwrap_or_default())
    }

    /// The stack's outputs as a JSON object (key → value), as DescribeStacks reports them.
    fn stack_outputs(&self, stack: &str) -> Value {
        self.rt.block_on(async {
            let out = self.cfn().describe_stacks().stack_name(stack).send().await.expect("describe the stack");
            let stack = out.stacks().first().expect("the stack");
            let outputs: serde_json::Map<String, Value> = stack
                .outputs()
                .iter()
                .filter_map(|o| Some((o.output_key()?.to_owned(), Value::from(o.output_value().unwrap_or_default()))))
                .collect();
            Value::Object(outputs)
        })
    }

    fn stack_status(&self, stack: &str) -> Option<String> {
        self.rt.block_on(async {
            match self.cfn().describe_stacks().stack_name(stack).send().await {
                Ok(out) => out.stacks().first().and_then(|s| s.stack_status().map(|s| s.as_str().to_owned())),
                Err(_) => None,
            }
        })
    }
}

fn report(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("stdout is one JSON document ({e}):\n{stdout}"))
}

#[test]
fn a_deploy_to_an_unreachable_endpoint_fails_with_a_readable_reason() {
    let home = tempfile::tempdir().expect("temp dir");
    let file = pipeline(&home.path().join("p"), |t| t);
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let started = Instant::now();
    let (code, stdout, stderr) = deploy(home.path(), &file, &format!("http://127.0.0.1:{port}"), &["--yes"]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("error: sts GetCallerIdentity"), "{stderr}");
    assert!(stderr.contains(&format!("cannot reach AWS at http://127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.to_lowercase().contains("connect"), "the cause is named: {stderr}");
    assert!(started.elapsed() < Duration::from_secs(60), "it fails fast, before packaging");
    assert!(!home.path().join("build").exists(), "nothing was packaged");
}

#[test]
fn a_bad_stage_is_refused_before_anything_happens() {
    let home = tempfile::tempdir().expect("temp dir");
    let file = pipeline(&home.path().join("p"), |t| t);
    let (code, _, stderr) = deploy(home.path(), &file, "http://127.0.0.1:9", &["--yes"]);
    assert_eq!(code, 1);
    let mut command = orchgen(home.path());
    command.arg("deploy").arg(&file).args(["--stage", "Prod_1", "--yes", "--endpoint-url", "http://127.0.0.1:9"]);
    let (code, _, stderr2) = run(command);
    assert_eq!(code, 1, "{stderr2}");
    assert!(stderr2.contains("stage `Prod_1` is not valid"), "{stderr2}");
    assert!(stderr.contains("error:"), "{stderr}");
}

/// `orchgen dev` on the stage's tables in moto (its DynamoDB and Streams; the stream drives the
/// engine), with the test's clean AWS environment; stopped on drop.
fn start_dev(home: &Path, file: &Path, endpoint: &str) -> DevServer {
    let mut command = orchgen(home);
    command.env("RUST_LOG", "info");
    Dev::with_command(command, file, &home.join("dev-data"))
        .args(["--dynamodb-endpoint", endpoint, "--table-prefix", &format!("{STAGE}-")])
        .log(&home.join("dev.log"))
        .start_timeout(Duration::from_secs(120))
        .settle_timeout(Duration::from_secs(120))
        .start()
}

/// One unit of `product`.
fn order(product: &str) -> Value {
    fixtures::order().one_unit(product).json()
}

#[test]
fn deploy_update_run_redrive_and_destroy_a_stage_on_moto() {
    let Some(moto) = MotoServer::start() else { return };
    let endpoint = moto.endpoint_url();
    let home = tempfile::tempdir().expect("temp dir");
    let file = pipeline(&home.path().join("p"), |t| t);
    let aws = Aws::new(&endpoint);
    let stack = format!("shop-{STAGE}");
    // The build folder package_release uses too (taken in turns): one glue, built once.
    let glue = orchgen_tests::ReleaseGlue::lock();
    let deploy =
        |home: &Path, file: &Path, endpoint: &str, extra: &[&str]| deploy_into(home, glue.out(), file, endpoint, extra);

    // Without --yes and without a terminal: the preview, then a refusal; nothing is left behind.
    let (code, stdout, stderr) = deploy(home.path(), &file, &endpoint, &[]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("change set for stack shop-test (CREATE)"), "{stderr}");
    assert!(stderr.contains("+ add     OrdersTable"), "{stderr}");
    assert!(stderr.contains("standard input is not a terminal"), "{stderr}");
    assert_eq!(aws.stack_status(&stack), None, "the refused change set and its empty stack are gone");

    // --dry-run: preview only.
    let (code, stdout, stderr) = deploy(home.path(), &file, &endpoint, &["--dry-run", "--format", "json"]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let dry = report(&stdout);
    assert_eq!(dry["status"], "DRY_RUN");
    let changes = dry["changes"].as_array().expect("changes");
    assert!(changes.iter().all(|c| c["action"] == "Add"), "{dry}");
    assert!(changes.iter().any(|c| c["logical_id"] == "StreamEventSourceMapping"), "{dry}");
    assert_eq!(aws.stack_status(&stack), None, "a dry run creates nothing");

    // The real deploy.
    let (code, stdout, stderr) = deploy(home.path(), &file, &endpoint, &["--yes", "--format", "json"]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let created = report(&stdout);
    assert_eq!(created["status"], "CREATE_COMPLETE", "{created}");
    assert_eq!(aws.stack_status(&stack).as_deref(), Some("CREATE_COMPLETE"));
    assert_eq!(created["termination_protection"], false, "`test` is not a production stage");
    // The outputs printed are the stack's. moto 5.2 gives a stack made by a change set no Outputs
    // (its CreateStack does), so they are compared with DescribeStacks rather than expected here.
    assert_eq!(created["outputs"], aws.stack_outputs(&stack), "{created}");
    // The refused run and the dry run already uploaded the code (a change set needs it in the
    // bucket): the real deploy finds every zip there, under its hash, and uploads nothing again.
    let uploaded: Vec<String> = ["uploaded", "unchanged"]
        .iter()
        .flat_map(|field| created[*field].as_array().expect("a key list").iter())
        .map(|k| k.as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(uploaded.iter().filter(|k| k.ends_with(".zip")).count(), 9, "9 functions' code: {created}");
    assert!(
        created["uploaded"]
            .as_array()
            .expect("uploaded")
            .iter()
            .all(|k| !k.as_str().unwrap_or_default().ends_with(".zip")),
        "no zip is uploaded twice: {created}"
    );
    let bucket = created["bucket"].as_str().expect("bucket").to_owned();
    assert!(bucket.starts_with("orchgen-") && bucket.ends_with("-us-east-1-test"), "{bucket}");

    // The bucket is versioned. Read over plain HTTP: moto names the answer's root element
    // `GetBucketVersioningResponse`, which the Rust SDK refuses (boto3 does not mind).
    let versioning = reqwest::blocking::get(format!("{endpoint}/{bucket}?versioning"))
        .and_then(|r| r.text())
        .expect("GET ?versioning is answered");
    assert!(versioning.contains("<Status>Enabled</Status>"), "{versioning}");

    let mut dead_letter_queue = String::new();
    let mut role_name = String::new();
    aws.rt.block_on(async {
        // The bucket: encrypted, public access blocked; the code under its hash.
        let s3 = aws.s3();
        let encryption = s3.get_bucket_encryption().bucket(&bucket).send().await.expect("encryption");
        assert!(encryption.server_side_encryption_configuration().is_some());
        let block = s3.get_public_access_block().bucket(&bucket).send().await.expect("public access block");
        let block = block.public_access_block_configuration().expect("configuration");
        assert_eq!(block.block_public_acls(), Some(true));
        assert_eq!(block.restrict_public_buckets(), Some(true));
        for key in &uploaded {
            s3.head_object().bucket(&bucket).key(key).send().await.unwrap_or_else(|e| panic!("{key}: {e:?}"));
        }

        // The tables: names under the stage, streams, GSIs.
        let ddb = aws.dynamodb();
        let orders = ddb.describe_table().table_name("test-shop-orders").send().await.expect("orders table");
        let table = orders.table().expect("table");
        let stream = table.stream_specification().expect("stream");
        assert!(stream.stream_enabled());
        assert_eq!(stream.stream_view_type().map(|v| v.as_str()), Some("NEW_AND_OLD_IMAGES"));
        let mut gsis: Vec<&str> = table.global_secondary_indexes().iter().filter_map(|g| g.index_name()).collect();
        gsis.sort();
        assert_eq!(gsis, ["by-created", "by-status"]);
        for name in ["test-shop-inventory", "test-shop-ledger", "test-shop-idempotency"] {
            ddb.describe_table().table_name(name).send().await.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }

        // The functions: code from the bucket, the plan's memory, their roles.
        let lambda = aws.lambda();
        let charge =
            lambda.get_function().function_name("test-shop-step-charge-payment").send().await.expect("function");
        let config = charge.configuration().expect("configuration");
        assert_eq!(config.memory_size(), Some(512));
        assert_eq!(config.handler(), Some("bootstrap"));
        let role = config.role().expect("role").to_owned();
        role_name = role.rsplit('/').next().expect("role name").to_owned();
        let functions = lambda.list_functions().send().await.expect("functions");
        let names: Vec<&str> = functions.functions().iter().filter_map(|f| f.function_name()).collect();
        assert_eq!(names.iter().filter(|n| n.starts_with("test-shop-")).count(), 9, "{names:?}");

        // The event source mapping and its settings.
        let mappings = lambda
            .list_event_source_mappings()
            .function_name("test-shop-stream-processor")
            .send()
            .await
            .expect("mappings");
        let mapping = mappings.event_source_mappings().first().expect("one mapping");
        assert_eq!(mapping.batch_size(), Some(100));
        assert_eq!(mapping.bisect_batch_on_function_error(), Some(true));
        assert_eq!(mapping.maximum_retry_attempts(), Some(10));
        assert_eq!(mapping.maximum_record_age_in_seconds(), Some(3600));
        assert_eq!(mapping.event_source_arn(), table.latest_stream_arn());
        let destination = mapping
            .destination_config()
            .and_then(|d| d.on_failure())
            .and_then(|o| o.destination())
            .expect("on-failure destination");
        assert!(destination.starts_with("arn:aws:sqs:"), "{destination}");

        // The dead-letter queue: the mapping's destination.
        let queue_name = destination.rsplit(':').next().expect("a queue name");
        let queue_url = aws.sqs().get_queue_url().queue_name(queue_name).send().await.expect("the queue exists");
        let queue_url = queue_url.queue_url().expect("a queue url").to_owned();
        dead_letter_queue = queue_url.clone();
        let attributes = aws
            .sqs()
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .expect("queue attributes");
        assert_eq!(
            attributes
                .attributes()
                .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
                .map(String::as_str),
            Some(destination)
        );
    });

    // The function's role and its inline policy (IAM over the query protocol, outside the runtime:
    // the call blocks).
    let (status, body) =
        aws.query("iam", &[("Action", "GetRole"), ("RoleName", &role_name), ("Version", "2010-05-08")]);
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        aws.query("iam", &[("Action", "ListRolePolicies"), ("RoleName", &role_name), ("Version", "2010-05-08")]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<member>"), "the role has its inline policy: {body}");

    // The dashboard.
    let (status, body) = aws
        .query("monitoring", &[("Action", "GetDashboard"), ("DashboardName", "test-shop"), ("Version", "2010-08-01")]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("widgets"), "{body}");

    // One step's memory changed: only that function is modified.
    let changed = pipeline(&home.path().join("p2"), |t| {
        let from = "    timeout: 15s\n    memory: 512\n";
        assert!(t.contains(from), "charge-payment declares its memory");
        t.replace(from, "    timeout: 15s\n    memory: 1024\n")
    });
    let (code, stdout, stderr) = deploy(home.path(), &changed, &endpoint, &["--yes"]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let preview: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| ["+ add ", "~ modify ", "- remove ", "! REPLACE "].iter().any(|p| l.starts_with(p)))
        .collect();
    assert_eq!(preview.len(), 1, "only one change:\n{stderr}");
    assert!(preview[0].starts_with("~ modify  StepChargePaymentFunction"), "{stderr}");
    assert!(stdout.contains("UPDATE_COMPLETE"), "{stdout}");
    aws.rt.block_on(async {
        let charge =
            aws.lambda().get_function().function_name("test-shop-step-charge-payment").send().await.expect("function");
        assert_eq!(charge.configuration().and_then(|c| c.memory_size()), Some(1024));
    });

    // Unchanged: "no changes", exit 0.
    let (code, stdout, stderr) = deploy(home.path(), &changed, &endpoint, &["--yes"]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("no changes: stack shop-test is up to date"), "{stderr}");
    assert!(stdout.contains("NO_CHANGES"), "{stdout}");
    assert!(stdout.contains("0 uploaded"), "nothing uploaded again: {stdout}");

    // orchgen dev on the stack's tables pushes orders to completion, reading the orders table's
    // stream as a second reader beside the stack's event source mapping (moto runs no function; see
    // tests/src/moto_server.py).
    {
        let dev = start_dev(home.path(), &changed, &endpoint);
        let ids: Vec<String> =
            ["product-1", "product-2", "product-3"].iter().map(|product| dev.submit(&order(product))).collect();
        for id in &ids {
            let got = dev.wait_terminal(id);
            assert_eq!(got["status"], "COMPLETED", "order {id} did not complete: {got}\n{}", dev.log_tail());
        }
        // The items are in the stack's table, not elsewhere.
        aws.rt.block_on(async {
            let item = aws
                .dynamodb()
                .get_item()
                .table_name("test-shop-orders")
                .key("order_id", aws_sdk_dynamodb::types::AttributeValue::S(ids[0].clone()))
                .send()
                .await
                .expect("get item");
            assert!(item.item().is_some(), "the order is in test-shop-orders");
        });
    }

    redrive_a_dead_letter(home.path(), &changed, &endpoint, &aws, &dead_letter_queue);

    // Destroy: DELETE_COMPLETE, tables retained and reported, the bucket emptied.
    let mut command = orchgen(home.path());
    command.arg("destroy").arg(&changed).args([
        "--stage",
        STAGE,
        "--endpoint-url",
        &endpoint,
        "--yes",
        "--empty-bucket",
        "--format",
        "json",
    ]);
    let (code, stdout, stderr) = run(command);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let destroyed = report(&stdout);
    assert_eq!(destroyed["status"], "DELETE_COMPLETE", "{destroyed}");
    let retained: Vec<&str> =
        destroyed["retained_tables"].as_array().expect("retained").iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(retained, ["test-shop-idempotency", "test-shop-inventory", "test-shop-ledger", "test-shop-orders"]);
    assert!(destroyed["bucket_versions_removed"].as_u64().is_some_and(|n| n >= 10), "{destroyed}");
    assert_eq!(aws.stack_status(&stack), None, "the stack is gone");
    aws.rt.block_on(async {
        assert!(aws.s3().head_bucket().bucket(&bucket).send().await.is_err(), "the bucket is gone");
    });
}

/// An order whose INSERT record the stream processor "gave up on": its on-failure record (as
/// Lambda writes it) is put in the dead-letter queue; `orchgen redrive` re-reads the record from
/// the stream, processes it and deletes the message.
fn redrive_a_dead_letter(home: &Path, file: &Path, endpoint: &str, aws: &Aws, queue_url: &str) {
    use orchgen_runtime::store::Store;
    let plan = orchgen_generator::check_file(file).expect("readable").plan.expect("a valid pipeline");
    let tables = orchgen_runtime::store::dynamodb::with_prefix(&plan.tables, &format!("{STAGE}-"));
    let store = orchgen_runtime::store::dynamodb::DynamoStore::new(aws.dynamodb(), &tables);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let order = fixtures::order().one_unit("product-1").received(&ulid::Ulid::new().to_string(), &now);
    let order_id = order.order_id.clone();
    aws.rt.block_on(async {
        store.create_order(&order, None).await.expect("the order is stored");
        // Its INSERT record in the orders stream.
        let table = aws.dynamodb().describe_table().table_name("test-shop-orders").send().await.expect("table");
        let stream_arn = table.table().and_then(|t| t.latest_stream_arn()).expect("stream").to_owned();
        let streams = aws_sdk_dynamodbstreams::Client::new(&aws.config);
        let described = streams.describe_stream().stream_arn(&stream_arn).send().await.expect("stream");
        let mut found = None;
        for shard in described.stream_description().map(|d| d.shards()).unwrap_or_default() {
            let shard_id = shard.shard_id().expect("shard id");
            let it = streams
                .get_shard_iterator()
                .stream_arn(&stream_arn)
                .shard_id(shard_id)
                .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
                .send()
                .await
                .expect("iterator");
            let records = streams.get_records().shard_iterator(it.shard_iterator().expect("it")).send().await.expect("records");
            for r in records.records() {
                let d = r.dynamodb().expect("record");
                let is_it = d.keys().and_then(|k| k.get("order_id")).and_then(|v| v.as_s().ok()) == Some(&order_id);
                if is_it && r.event_name().map(|n| n.as_str()) == Some("INSERT") {
                    found = Some((shard_id.to_owned(), d.sequence_number().expect("seq").to_owned()));
                }
            }
        }
        let (shard_id, seq) = found.expect("the order's INSERT record is in the stream");
        let message = json!({
            "requestContext": { "requestId": "r-1", "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:test-shop-stream-processor", "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 11 },
            "responseContext": { "statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled" },
            "version": "1.0",
            "timestamp": "2026-11-27T08:00:00.000Z",
            "DDBStreamBatchInfo": {
                "shardId": shard_id, "startSequenceNumber": seq, "endSequenceNumber": seq,
                "approximateArrivalOfFirstRecord": "2026-11-27T07:59:00Z", "approximateArrivalOfLastRecord": "2026-11-27T07:59:00Z",
                "batchSize": 1, "streamArn": stream_arn
            }
        });
        aws.sqs().send_message().queue_url(queue_url).message_body(message.to_string()).send().await.expect("sent");
    });
    let mut command = orchgen(home);
    command.arg("redrive").arg(file).args([
        "--stage",
        STAGE,
        "--endpoint-url",
        endpoint,
        "--steps",
        "local",
        "--format",
        "json",
    ]);
    let (code, stdout, stderr) = run(command);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let redriven = report(&stdout);
    assert_eq!(redriven["messages"], 1, "{redriven}");
    assert_eq!(redriven["deleted"], 1, "{redriven}");
    assert_eq!(redriven["records_processed"], 1, "{redriven}");
    aws.rt.block_on(async {
        let after = store.get_order(&order_id).await.expect("get").expect("the order exists");
        assert!(after.version >= 2, "the record was processed: the order moved on ({after:?})");
        let left = aws.sqs().receive_message().queue_url(queue_url).wait_time_seconds(0).send().await.expect("receive");
        assert!(left.messages().is_empty(), "the message was deleted");
    });
}
