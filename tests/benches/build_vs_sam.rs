//! `orchgen build` against aws-sam-translator transforming the equivalent SAM template.
//!
//! For `pipelines/orders.yaml` and a generated 500-step pipeline:
//! - **orchgen, in-process**: `check_file`-equivalent validation of the YAML (`check_source`), the
//!   artefacts (`build::artefacts`: CloudFormation template, glue, OpenAPI, schema) and writing them
//!   into a fresh folder (`build::write`) — everything `orchgen build` does;
//! - **orchgen CLI**: spawning the release `orchgen build FILE --out DIR` (process start included);
//! - **SAM**: `samtranslator.translator.transform.transform` on the equivalent SAM template (one
//!   `AWS::Serverless::Function` per Lambda function of the plan with its memory, timeout,
//!   architecture, environment and policy templates; the four tables, the orders one with its stream
//!   and indexes; the API function with one `Api` event per route; the stream processor with its
//!   `DynamoDB` event source mapping), timed inside one Python process (interpreter start and imports
//!   excluded, the template already parsed, a fresh deep copy per run); and the whole Python process
//!   (interpreter start, `import samtranslator`, reading the JSON, one transform).
//!
//! Ratios are of medians measured in the same run. Run:
//! `cargo build --release -p orchgen && cargo bench -p orchgen-tests --bench build_vs_sam`
//! (`ORCHGEN_BENCH_SCALE=0.2` runs fewer iterations).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use orchgen_generator::build::{self, BuildOptions};
use orchgen_generator::source::SourceFile;
use orchgen_runtime::lambda::{self, Function};
use orchgen_runtime::plan::{Architecture, Plan, RouteAction};
use orchgen_tests::workspace_root;
use serde_json::{Map, Value, json};

/// The Python side: times `transform` on deep copies of the template, prints JSON.
const SAM_SCRIPT: &str = r#"
import copy, json, os, sys, time
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the pseudo-parameters need a region; nothing is called
t0 = time.perf_counter()
from samtranslator.translator.transform import transform
import_s = time.perf_counter() - t0

class NoManagedPolicies:
    def load(self):
        return {}

with open(sys.argv[1]) as f:
    template = json.load(f)
iterations = int(sys.argv[2])
times = []
resources = 0
for _ in range(iterations):
    fragment = copy.deepcopy(template)
    start = time.perf_counter()
    out = transform(fragment, {}, NoManagedPolicies())
    times.append(time.perf_counter() - start)
    resources = len(out["Resources"])
print(json.dumps({"import_s": import_s, "times": times, "resources": resources}))
"#;

fn scale() -> f64 {
    std::env::var("ORCHGEN_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0)
}

fn iterations(n: usize) -> usize {
    ((n as f64 * scale()) as usize).max(3)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:8.2} ms", d.as_secs_f64() * 1e3)
}

/// A pipeline of `n` steps chained with explicit `next`: validate, then reserve / charge / fulfil /
/// notify in turn, every reservation and charge with its own compensation.
fn logical(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

/// The SAM template describing what orchgen generates for `plan`.
fn sam_template(plan: &Plan) -> Value {
    let mut resources = Map::new();
    let mut table_env = Map::new();
    for table in plan.tables.all() {
        let id = format!("{}Table", logical(&table.logical));
        let mut attributes = vec![json!({ "AttributeName": table.key, "AttributeType": "S" })];
        let mut indexes = Vec::new();
        for index in [&table.status_index, &table.recent_index].into_iter().flatten() {
            for a in [&index.partition_key, &index.sort_key] {
                if !attributes.iter().any(|x| x["AttributeName"] == json!(a)) {
                    attributes.push(json!({ "AttributeName": a, "AttributeType": "S" }));
                }
            }
            indexes.push(json!({
                "IndexName": index.name,
                "KeySchema": [{ "AttributeName": index.partition_key, "KeyType": "HASH" },
                              { "AttributeName": index.sort_key, "KeyType": "RANGE" }],
                "Projection": { "ProjectionType": "KEYS_ONLY" }
            }));
        }
        let mut properties = json!({
            "TableName": table.name,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": attributes,
            "KeySchema": [{ "AttributeName": table.key, "KeyType": "HASH" }],
            "PointInTimeRecoverySpecification": { "PointInTimeRecoveryEnabled": table.point_in_time_recovery },
            "SSESpecification": { "SSEEnabled": true }
        });
        if !indexes.is_empty() {
            properties["GlobalSecondaryIndexes"] = json!(indexes);
        }
        if let Some(ttl) = &table.ttl {
            properties["TimeToLiveSpecification"] = json!({ "AttributeName": ttl.attribute, "Enabled": true });
        }
        if table.stream {
            properties["StreamSpecification"] = json!({ "StreamViewType": "NEW_AND_OLD_IMAGES" });
        }
        resources.insert(id.clone(), json!({ "Type": "AWS::DynamoDB::Table", "Properties": properties }));
        table_env.insert(lambda::table_env_var(&table.logical), json!({ "Ref": id }));
    }
    let tables_policies: Vec<Value> = plan
        .tables
        .all()
        .iter()
        .map(|t| json!({ "DynamoDBCrudPolicy": { "TableName": { "Ref": format!("{}Table", logical(&t.logical)) } } }))
        .collect();
    let architecture = match plan.functions.architecture {
        Architecture::Arm64 => "arm64",
        Architecture::X86_64 => "x86_64",
    };
    let steps = lambda::step_functions(plan);
    for function in lambda::functions(plan) {
        let id = format!("{}Function", logical(&function.name()));
        let (memory, timeout_ms) = match &function {
            Function::Api => (plan.functions.memory_mb, plan.functions.api_timeout_ms),
            Function::StreamProcessor => (plan.functions.memory_mb, plan.functions.processor_timeout_ms),
            Function::Step(name) => plan.step(name).map(|s| (s.memory_mb, s.timeout_ms)).unwrap_or((256, 10_000)),
            Function::Compensation(name) => (256, plan.compensations.get(name).map(|c| c.timeout_ms).unwrap_or(10_000)),
        };
        let mut env = table_env.clone();
        env.insert("ORCHGEN_STAGE".into(), json!({ "Ref": "Stage" }));
        let mut policies = Vec::new();
        let mut properties = json!({
            "CodeUri": { "Bucket": { "Ref": "CodeBucket" }, "Key": format!("{}/{}.zip", plan.name, function) },
            "Handler": "bootstrap",
            "Runtime": "provided.al2023",
            "Architectures": [architecture],
            "MemorySize": memory,
            "Timeout": timeout_ms.div_ceil(1000),
            "Tracing": "Active",
        });
        match &function {
            Function::Api => {
                policies.extend(tables_policies.iter().cloned());
                let events: Map<String, Value> = plan
                    .api
                    .routes
                    .iter()
                    .map(|r| {
                        let name = match r.action {
                            RouteAction::Create => "Create".to_owned(),
                            other => logical(&format!("{other:?}")),
                        };
                        (name, json!({ "Type": "Api", "Properties": { "Path": r.path, "Method": r.method.to_lowercase(), "RestApiId": { "Ref": "OrdersApi" } } }))
                    })
                    .collect();
                properties["Events"] = Value::Object(events);
            }
            Function::StreamProcessor => {
                policies.extend(tables_policies.iter().cloned());
                for step in &steps {
                    let target = format!("{}Function", logical(&step.name()));
                    env.insert(step.env_var(), json!({ "Ref": target }));
                    policies.push(json!({ "LambdaInvokePolicy": { "FunctionName": { "Ref": target } } }));
                }
                properties["Events"] = json!({ "OrdersStream": { "Type": "DynamoDB", "Properties": {
                    "Stream": { "Fn::GetAtt": ["OrdersTable", "StreamArn"] },
                    "StartingPosition": "TRIM_HORIZON",
                    "BatchSize": plan.stream.batch_size,
                    "MaximumBatchingWindowInSeconds": plan.stream.batching_window_s,
                    "MaximumRetryAttempts": plan.stream.max_retries,
                    "MaximumRecordAgeInSeconds": plan.stream.max_record_age_s,
                    "BisectBatchOnFunctionError": plan.stream.bisect_on_error,
                    "ParallelizationFactor": plan.stream.parallelization,
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                    "DestinationConfig": { "OnFailure": { "Type": "SQS", "Destination": { "Fn::GetAtt": ["DeadLetterQueue", "Arn"] } } },
                    "FilterCriteria": { "Filters": [{ "Pattern": "{\"userIdentity\":{\"type\":[{\"anything-but\":[\"Service\"]}]}}" }] }
                } } });
            }
            Function::Step(_) | Function::Compensation(_) => {}
        }
        properties["Environment"] = json!({ "Variables": env });
        properties["Policies"] = json!(policies);
        resources.insert(id, json!({ "Type": "AWS::Serverless::Function", "Properties": properties }));
    }
    resources.insert(
        "OrdersApi".into(),
        json!({ "Type": "AWS::Serverless::Api", "Properties": {
            "StageName": { "Ref": "Stage" },
            "TracingEnabled": true,
            "Auth": { "ApiKeyRequired": true, "UsagePlan": { "CreateUsagePlan": "PER_API",
                "Throttle": { "RateLimit": plan.api.throttle_rate, "BurstLimit": plan.api.throttle_burst } } },
            "MethodSettings": [{ "ResourcePath": "/*", "HttpMethod": "*",
                "ThrottlingRateLimit": plan.api.throttle_rate, "ThrottlingBurstLimit": plan.api.throttle_burst }]
        } }),
    );
    resources.insert(
        "DeadLetterQueue".into(),
        json!({ "Type": "AWS::SQS::Queue", "Properties": { "MessageRetentionPeriod": 1_209_600, "SqsManagedSseEnabled": true } }),
    );
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Parameters": { "Stage": { "Type": "String", "Default": "prod" }, "CodeBucket": { "Type": "String" } },
        "Resources": resources
    })
}

struct Sam {
    import: Duration,
    transform: Duration,
    resources: u64,
    process: Duration,
}

fn sam(template: &Path, iterations: usize) -> Option<Sam> {
    let run = |n: usize| {
        let started = Instant::now();
        let output = Command::new("python3").args(["-c", SAM_SCRIPT]).arg(template).arg(n.to_string()).output().ok()?;
        let wall = started.elapsed();
        if !output.status.success() {
            eprintln!(
                "!!!!!!!! SAM transform failed ({}); is aws-sam-translator installed? !!!!!!!!\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
            return None;
        }
        let v: Value = serde_json::from_slice(&output.stdout).ok()?;
        Some((wall, v))
    };
    let (_, timed) = run(iterations)?;
    let times: Vec<Duration> =
        timed["times"].as_array()?.iter().filter_map(Value::as_f64).map(Duration::from_secs_f64).collect();
    let processes: Vec<Duration> = (0..3).filter_map(|_| run(1).map(|(wall, _)| wall)).collect();
    Some(Sam {
        import: Duration::from_secs_f64(timed["import_s"].as_f64()?),
        transform: median(times),
        resources: timed["resources"].as_u64()?,
        process: median(processes),
    })
}

fn orchgen_cli() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?;
    let cli = dir.join("orchgen");
    if cli.is_file() {
        Some(cli)
    } else {
        eprintln!("!!!!!!!! {} is missing: run `cargo build --release -p orchgen` first !!!!!!!!", cli.display());
        None
    }
}

fn bench(title: &str, yaml: &str, orchgen_runs: usize, sam_runs: usize, work: &Path) {
    let file = work.join(format!("{}.yaml", title.replace(|c: char| !c.is_ascii_alphanumeric(), "-")));
    std::fs::write(&file, yaml).expect("write the pipeline");
    let checked = orchgen_generator::check_source(SourceFile::new(file.display().to_string(), yaml.to_owned()));
    let plan = checked.plan.unwrap_or_else(|| panic!("{title} is valid:\n{}", checked.report.render(100)));

    // In-process: validate + render + write into a fresh folder, as `orchgen build` does.
    let mut times = Vec::new();
    let mut files = 0;
    let mut template_bytes = 0;
    for i in 0..orchgen_runs + orchgen_runs / 10 {
        let out = work.join(format!("lib-{i}"));
        let started = Instant::now();
        let checked = orchgen_generator::check_source(SourceFile::new(file.display().to_string(), yaml.to_owned()));
        let plan = checked.plan.expect("valid");
        let options = BuildOptions::new(&file, &out);
        let artefacts = build::artefacts(&plan, &options).expect("the build renders");
        build::write(&options.build_dir(&plan), &artefacts).expect("the build writes");
        let elapsed = started.elapsed();
        files = artefacts.len();
        template_bytes = artefacts[Path::new(build::TEMPLATE_FILE)].len();
        if i >= orchgen_runs / 10 {
            times.push(elapsed);
        }
        let _ = std::fs::remove_dir_all(&out);
    }
    let lib = median(times);
    let template: Value = {
        let out = work.join("lib-inspect");
        let options = BuildOptions::new(&file, &out);
        let artefacts = build::artefacts(&plan, &options).expect("the build renders");
        serde_json::from_str(&artefacts[Path::new(build::TEMPLATE_FILE)]).expect("the template is JSON")
    };
    let cfn_resources = template["Resources"].as_object().map_or(0, Map::len);

    let cli = orchgen_cli().map(|cli| {
        let mut times = Vec::new();
        for i in 0..orchgen_runs.min(30) {
            let out = work.join(format!("cli-{i}"));
            let started = Instant::now();
            let status = Command::new(&cli)
                .arg("build")
                .arg(&file)
                .arg("--out")
                .arg(&out)
                .stdout(Stdio::null())
                .status()
                .expect("orchgen runs");
            times.push(started.elapsed());
            assert!(status.success(), "orchgen build succeeds");
            let _ = std::fs::remove_dir_all(&out);
        }
        median(times)
    });

    let sam_file = work.join(format!("{}.sam.json", plan.name));
    std::fs::write(&sam_file, serde_json::to_string(&sam_template(&plan)).expect("JSON")).expect("write SAM");
    let sam = sam(&sam_file, sam_runs);

    println!("{title}: {} Lambda functions", lambda::functions(&plan).len());
    println!(
        "  orchgen build, in-process (validate + render + write {files} files, template {template_bytes} bytes, {cfn_resources} resources), median of {orchgen_runs}: {}",
        ms(lib)
    );
    if let Some(cli) = cli {
        println!("  orchgen build, CLI process (spawn → exit), median of {}:  {}", orchgen_runs.min(30), ms(cli));
    }
    if let Some(sam) = &sam {
        println!(
            "  SAM transform in-process ({} resources out), median of {sam_runs}:          {}",
            sam.resources,
            ms(sam.transform)
        );
        println!(
            "  SAM process (python3 start + import {} + one transform), median of 3: {}",
            ms(sam.import).trim(),
            ms(sam.process)
        );
        println!("  ratio SAM transform / orchgen in-process: {:.1}x", sam.transform.as_secs_f64() / lib.as_secs_f64());
        if let Some(cli) = cli {
            println!(
                "  ratio SAM process / orchgen CLI process: {:.1}x",
                sam.process.as_secs_f64() / cli.as_secs_f64()
            );
        }
    }
    println!();
}

fn main() {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("orchgen build vs aws-sam-translator — {cpus} CPUs, load average {}", load.trim());
    println!();
    let work = tempfile::tempdir().expect("a temporary folder");
    let orders = std::fs::read_to_string(workspace_root().join("pipelines/orders.yaml")).expect("orders.yaml");
    bench("pipelines/orders.yaml", &orders, iterations(100), iterations(20), work.path());
    bench(
        "generated 500-step pipeline",
        &orchgen_tests::fixtures::generated_pipeline(500),
        iterations(20),
        iterations(5),
        work.path(),
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average after: {}", load.trim());
}
