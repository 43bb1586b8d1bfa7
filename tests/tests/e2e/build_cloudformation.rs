//! The CloudFormation template of `orchgen build`: its snapshot, what cfn-lint and checkov say about
//! it (for the reference pipeline and every valid corpus pipeline), least-privilege IAM, and that the
//! resources hold the plan's settings.

use std::path::{Path, PathBuf};
use std::process::Command;

use orchgen_generator::build::cloudformation::template;
use orchgen_runtime::Plan;
use orchgen_runtime::lambda::{self, Function};
use orchgen_tests::workspace_root;
use serde_json::Value;

fn plan_of(path: &Path) -> Plan {
    let checked = orchgen_generator::check_file(path).expect("readable pipeline");
    checked.plan.unwrap_or_else(|| panic!("{} is valid:\n{}", path.display(), checked.report.render(100)))
}

fn orders() -> Plan {
    plan_of(&workspace_root().join("pipelines/orders.yaml"))
}

/// `pipelines/orders.yaml` and every pipeline of `tests/corpus/valid/`, by file name.
fn valid_pipelines() -> Vec<(String, Plan)> {
    let mut out = vec![("orders.yaml".to_owned(), orders())];
    let dir = workspace_root().join("tests/corpus/valid");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir).expect("corpus").map(|e| e.expect("entry").path()).collect();
    paths.sort();
    for p in paths.into_iter().filter(|p| p.extension().is_some_and(|e| e == "yaml")) {
        out.push((p.file_name().unwrap().to_string_lossy().into_owned(), plan_of(&p)));
    }
    out
}

fn parse(plan: &Plan) -> Value {
    serde_json::from_str(&template(plan).expect("template renders")).expect("the template is JSON")
}

/// A program on `PATH` (pip installs cfn-lint there), or a loud skip.
fn on_path(program: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(program)).find(|p| p.is_file()));
    orchgen_tests::tool(program, found.unwrap_or_else(|| PathBuf::from(format!("(not on PATH) {program}"))))
}

/// Writes every valid pipeline's template into a fresh folder.
fn write_templates() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = Vec::new();
    for (name, plan) in valid_pipelines() {
        let path = dir.path().join(name.replace(".yaml", ".template.json"));
        std::fs::write(&path, template(&plan).expect("template renders")).expect("write");
        files.push(path);
    }
    (dir, files)
}

fn resources_of_type<'a>(t: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    t["Resources"].as_object().expect("resources").iter().filter(|(_, r)| r["Type"] == kind).collect()
}

#[test]
fn orders_template_snapshot() {
    insta::assert_snapshot!("orders_template", template(&orders()).expect("template renders"));
}

#[test]
fn rendering_twice_gives_the_same_bytes() {
    for (name, plan) in valid_pipelines() {
        assert_eq!(template(&plan).unwrap(), template(&plan).unwrap(), "{name}");
    }
}

#[test]
fn cfn_lint_finds_nothing() {
    let Some(cfn_lint) = on_path("cfn-lint") else { return };
    let (_dir, files) = write_templates();
    let output = Command::new(cfn_lint).arg("--format").arg("parseable").args(&files).output().expect("run cfn-lint");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.trim().is_empty(),
        "cfn-lint findings ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

#[test]
fn checkov_fails_no_check_and_every_skip_is_justified() {
    let Some(checkov) = orchgen_tests::tool("checkov", orchgen_tests::tools_dir().join("checkov/bin/checkov")) else {
        return;
    };
    let (dir, files) = write_templates();
    let output = Command::new(checkov)
        .args(["--framework", "cloudformation", "--output", "json", "--quiet", "--compact", "--skip-download"])
        .arg("--directory")
        .arg(dir.path())
        .env("BC_SKIP_MAPPING", "TRUE")
        .env("CHECKOV_RUN_SCA_PACKAGE_SCAN_V2", "false")
        .output()
        .expect("run checkov");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("checkov printed no JSON ({e}):\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr))
    });
    let reports = match report {
        Value::Array(list) => list,
        one => vec![one],
    };
    let mut passed = 0;
    for r in &reports {
        let failed = r["results"]["failed_checks"].as_array().cloned().unwrap_or_default();
        let summary: Vec<String> = failed
            .iter()
            .map(|c| format!("{} {} on {} ({})", c["check_id"], c["check_name"], c["resource"], c["file_path"]))
            .collect();
        assert!(failed.is_empty(), "checkov failed checks:\n{}", summary.join("\n"));
        for skip in r["results"]["skipped_checks"].as_array().cloned().unwrap_or_default() {
            let comment = skip["check_result"]["suppress_comment"].as_str().unwrap_or("");
            assert!(comment.len() > 20, "skip without a real justification: {skip}");
        }
        passed += r["summary"]["passed"].as_u64().unwrap_or(0);
    }
    assert!(passed > 100 * files.len() as u64 / 10, "checkov checked little: {passed} passed checks");
}

/// Actions that have no resource-level permissions, so `"Resource": "*"` is the only form.
const UNSCOPABLE: [&str; 3] = ["xray:PutTelemetryRecords", "xray:PutTraceSegments", "cloudwatch:PutMetricData"];

fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

#[test]
fn roles_are_least_privilege() {
    for (name, plan) in valid_pipelines() {
        let t = parse(&plan);
        let roles = resources_of_type(&t, "AWS::IAM::Role");
        assert!(roles.len() >= lambda::functions(&plan).len(), "{name}: a role per function");
        for (id, role) in &roles {
            let props = &role["Properties"];
            assert!(props.get("ManagedPolicyArns").is_none(), "{name}: {id} uses managed policies");
            for policy in props["Policies"].as_array().expect("inline policies") {
                for s in list(&policy["PolicyDocument"]["Statement"]) {
                    assert_eq!(s["Effect"], "Allow", "{name}: {id}");
                    let actions = list(&s["Action"]);
                    assert!(!actions.is_empty(), "{name}: {id} statement without actions");
                    for a in &actions {
                        let a = a.as_str().expect("action string");
                        assert!(!a.contains('*'), "{name}: {id} has the wildcard action {a}");
                        assert!(a.contains(':') && !a.ends_with(':'), "{name}: {id} action {a}");
                    }
                    for r in list(&s["Resource"]) {
                        if r == "*" {
                            for a in &actions {
                                assert!(UNSCOPABLE.contains(&a.as_str().unwrap()), "{name}: {id} grants {a} on *");
                            }
                            if actions.iter().any(|a| a == "cloudwatch:PutMetricData") {
                                assert_eq!(
                                    s["Condition"]["StringEquals"]["cloudwatch:namespace"],
                                    format!("orchgen/{}", plan.name),
                                    "{name}: {id} metrics limited to the pipeline's namespace"
                                );
                            }
                        } else if let Some(arn) = r.as_str() {
                            // A secret the pipeline names by its full ARN (it may live in another stack).
                            let named = orchgen_runtime::secrets::SecretRef::SecretsManager(arn.to_owned());
                            assert!(
                                plan.secret_refs().contains(&named) && actions == ["secretsmanager:GetSecretValue"],
                                "{name}: {id} resource {r} is neither a reference to this stack nor a secret the pipeline names"
                            );
                        } else {
                            assert!(r.is_object(), "{name}: {id} resource {r} is not a reference to this stack");
                        }
                    }
                }
            }
        }
        // Step and compensation functions touch no table: the processor commits their effects.
        for f in lambda::step_functions(&plan) {
            let role = &t["Resources"][orchgen_generator::build::names::role_id(&f)];
            let text = role.to_string();
            assert!(!text.contains("dynamodb:"), "{name}: {f} may touch tables: {text}");
            assert!(!text.contains("lambda:"), "{name}: {f} may invoke functions");
        }
        // The processor invokes exactly the step functions.
        let processor = &t["Resources"][orchgen_generator::build::names::role_id(&Function::StreamProcessor)];
        let statements = list(&processor["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]);
        let invoke: Vec<Value> = statements
            .iter()
            .filter(|s| list(&s["Action"]).contains(&Value::from("lambda:InvokeFunction")))
            .flat_map(|s| list(&s["Resource"]))
            .collect();
        let expected: Vec<Value> = lambda::step_functions(&plan)
            .iter()
            .map(|f| serde_json::json!({ "Fn::GetAtt": [orchgen_generator::build::names::function_id(f), "Arn"] }))
            .collect();
        assert_eq!(invoke, expected, "{name}");
        assert!(!processor.to_string().contains("IdempotencyTable"), "{name}: the processor never writes API keys");
        // The API reaches only orders (and its indexes) and idempotency keys.
        let api = t["Resources"][orchgen_generator::build::names::role_id(&Function::Api)].to_string();
        assert!(api.contains("OrdersTable") && api.contains("IdempotencyTable"), "{name}");
        assert!(!api.contains("InventoryTable") && !api.contains("LedgerTable"), "{name}: {api}");
    }
}

#[test]
fn the_template_holds_the_plan() {
    let plan = orders();
    let t = parse(&plan);
    let functions = resources_of_type(&t, "AWS::Lambda::Function");
    assert_eq!(functions.len(), lambda::functions(&plan).len());
    for (id, f) in &functions {
        let p = &f["Properties"];
        assert_eq!(p["Runtime"], "provided.al2023", "{id}");
        assert_eq!(p["Handler"], "bootstrap", "{id}");
        assert_eq!(p["Architectures"], serde_json::json!(["x86_64"]), "{id}");
        assert_eq!(p["TracingConfig"]["Mode"], "Active", "{id}");
        assert_eq!(p["Code"]["S3Bucket"]["Ref"], "ArtifactBucket", "{id}");
        let key = p["Code"]["S3Key"]["Ref"].as_str().expect("code key parameter");
        assert!(t["Parameters"].get(key).is_some(), "{id}: parameter {key}");
    }
    let charge = &t["Resources"]["StepChargePaymentFunction"]["Properties"];
    assert_eq!(charge["MemorySize"], 512);
    assert_eq!(charge["Timeout"], 15);
    let processor = &t["Resources"]["StreamProcessorFunction"]["Properties"]["Environment"]["Variables"];
    for f in lambda::step_functions(&plan) {
        assert_eq!(processor[f.env_var()]["Ref"], orchgen_generator::build::names::function_id(&f), "{f}");
    }
    assert_eq!(processor["ORCHGEN_TABLE_ORDERS"]["Ref"], "OrdersTable");

    let orders_table = &t["Resources"]["OrdersTable"];
    assert_eq!(orders_table["DeletionPolicy"], "Retain");
    let p = &orders_table["Properties"];
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(p["StreamSpecification"]["StreamViewType"], "NEW_AND_OLD_IMAGES");
    assert_eq!(p["TimeToLiveSpecification"]["Enabled"], true);
    assert_eq!(p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
    assert_eq!(p["SSESpecification"]["SSEEnabled"], true);
    let projections: Vec<(&str, &str)> = p["GlobalSecondaryIndexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["IndexName"].as_str().unwrap(), i["Projection"]["ProjectionType"].as_str().unwrap()))
        .collect();
    assert_eq!(projections, vec![("by-status", "KEYS_ONLY"), ("by-created", "KEYS_ONLY")]);

    let m = &t["Resources"]["StreamEventSourceMapping"]["Properties"];
    assert_eq!(m["BatchSize"], plan.stream.batch_size);
    assert_eq!(m["MaximumRetryAttempts"], plan.stream.max_retries);
    assert_eq!(m["MaximumRecordAgeInSeconds"], plan.stream.max_record_age_s);
    assert_eq!(m["BisectBatchOnFunctionError"], true);
    assert_eq!(m["FunctionResponseTypes"], serde_json::json!(["ReportBatchItemFailures"]));
    let filters = m["FilterCriteria"]["Filters"].to_string();
    assert!(filters.contains("userIdentity") && filters.contains("REMOVE"), "{filters}");
    let dlq = &t["Resources"]["StreamDeadLetterQueue"]["Properties"];
    assert_eq!(dlq["MessageRetentionPeriod"], 1_209_600);

    // The reference pipeline's HTTP API: IAM on every route, throttled, logged.
    let routes = resources_of_type(&t, "AWS::ApiGatewayV2::Route");
    assert_eq!(routes.len(), plan.api.routes.len());
    for (id, r) in &routes {
        assert_eq!(r["Properties"]["AuthorizationType"], "AWS_IAM", "{id}");
    }
    let stage = &t["Resources"]["ApiStage"]["Properties"];
    assert_eq!(stage["DefaultRouteSettings"]["ThrottlingRateLimit"], 100);
    assert_eq!(stage["DefaultRouteSettings"]["ThrottlingBurstLimit"], 200);
    assert!(stage["AccessLogSettings"]["DestinationArn"].is_object());

    let alarms = resources_of_type(&t, "AWS::CloudWatch::Alarm");
    assert_eq!(alarms.len(), 2 * functions.len() + 5);
    assert_eq!(t["Resources"]["AlarmEmailSubscription"]["Properties"]["Endpoint"], "ops@example.com");
    let body = t["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"].as_str().expect("Fn::Sub body");
    let body: Value = serde_json::from_str(body).expect("the dashboard body is JSON");
    let text = body.to_string();
    for metric in [
        "IteratorAge",
        "\"5xx\"",
        "ConsumedWriteCapacityUnits",
        "ApproximateNumberOfMessagesVisible",
        "OrdersCompleted",
        "StepDuration",
    ] {
        assert!(text.contains(metric), "dashboard shows {metric}");
    }
    for output in ["ApiUrl", "DashboardUrl", "OrdersTableName", "DeadLetterQueueUrl", "AlarmTopicArn"] {
        assert!(t["Outputs"].get(output).is_some(), "output {output}");
    }
}

#[test]
fn an_api_key_rest_api_has_a_key_a_usage_plan_and_every_route_requires_the_key() {
    let plan = plan_of(&workspace_root().join("tests/corpus/valid/minimal.yaml"));
    let t = parse(&plan);
    assert_eq!(resources_of_type(&t, "AWS::ApiGateway::ApiKey").len(), 1);
    assert_eq!(resources_of_type(&t, "AWS::ApiGateway::UsagePlan").len(), 1);
    let methods = resources_of_type(&t, "AWS::ApiGateway::Method");
    assert_eq!(methods.len(), plan.api.routes.len(), "no CORS preflight without origins");
    for (id, m) in &methods {
        assert_eq!(m["Properties"]["ApiKeyRequired"], true, "{id}");
        assert_eq!(m["Properties"]["Integration"]["Type"], "AWS_PROXY", "{id}");
    }
    let stage = &t["Resources"]["ApiStage"]["Properties"];
    assert_eq!(stage["MethodSettings"][0]["ThrottlingRateLimit"], 100);
    assert_eq!(stage["MethodSettings"][0]["ThrottlingBurstLimit"], 200);
    assert!(stage["AccessLogSetting"]["DestinationArn"].is_object());
    let alarm = t["Resources"]["Api5xxRateAlarm"]["Properties"].to_string();
    assert!(alarm.contains("5XXError") && alarm.contains("ApiName"), "REST API metric names: {alarm}");
    assert!(t["Outputs"].get("ApiKeyId").is_some());
}

#[test]
fn iam_auth_and_cors_are_as_declared() {
    let plan = plan_of(&workspace_root().join("tests/corpus/valid/every-section.yaml"));
    assert!(!plan.api.cors_origins.is_empty());
    let t = parse(&plan);
    assert!(resources_of_type(&t, "AWS::ApiGateway::ApiKey").is_empty());
    let methods = resources_of_type(&t, "AWS::ApiGateway::Method");
    let (preflights, routes): (Vec<_>, Vec<_>) =
        methods.iter().partition(|(_, m)| m["Properties"]["HttpMethod"] == "OPTIONS");
    assert_eq!(routes.len(), plan.api.routes.len());
    assert!(!preflights.is_empty());
    for (id, m) in routes {
        assert_eq!(m["Properties"]["AuthorizationType"], "AWS_IAM", "{id}");
    }
    let origin = preflights[0].1["Properties"]["Integration"]["IntegrationResponses"][0]["ResponseParameters"]
        ["method.response.header.Access-Control-Allow-Origin"]
        .clone();
    assert_eq!(origin, format!("'{}'", plan.api.cors_origins[0]));
}

#[test]
fn an_http_api_serves_every_route_with_iam_cors_throttling_and_its_own_metrics() {
    let plan = plan_of(&workspace_root().join("tests/corpus/valid/http-api.yaml"));
    let t = parse(&plan);
    let rest: Vec<&String> = t["Resources"]
        .as_object()
        .expect("resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str().is_some_and(|k| k.starts_with("AWS::ApiGateway::")))
        .map(|(id, _)| id)
        .collect();
    assert!(rest.is_empty(), "no REST API resource: {rest:?}");
    let apis = resources_of_type(&t, "AWS::ApiGatewayV2::Api");
    assert_eq!(apis.len(), 1);
    let api = &apis[0].1["Properties"];
    assert_eq!(api["ProtocolType"], "HTTP");
    assert_eq!(api["CorsConfiguration"]["AllowOrigins"], serde_json::json!(plan.api.cors_origins));

    let integration = &t["Resources"]["ApiIntegration"]["Properties"];
    assert_eq!(integration["IntegrationType"], "AWS_PROXY");
    assert_eq!(integration["PayloadFormatVersion"], "1.0", "the event the API function reads");
    let mut keys: Vec<&str> = Vec::new();
    for (id, route) in resources_of_type(&t, "AWS::ApiGatewayV2::Route") {
        assert_eq!(route["Properties"]["AuthorizationType"], "AWS_IAM", "{id}: iam is the HTTP API's default");
        keys.push(route["Properties"]["RouteKey"].as_str().expect("a route key"));
    }
    keys.sort_unstable();
    assert_eq!(keys, ["GET /orders", "GET /orders/{orderId}", "POST /orders"]);
    let arns: Vec<String> = resources_of_type(&t, "AWS::Lambda::Permission")
        .iter()
        .filter(|(_, p)| p["Properties"]["Principal"] == "apigateway.amazonaws.com")
        .map(|(_, p)| p["Properties"]["SourceArn"]["Fn::Sub"].as_str().expect("Fn::Sub").to_owned())
        .collect();
    assert_eq!(arns.len(), 3, "one permission per route: {arns:?}");
    assert!(arns.iter().any(|a| a.ends_with("${HttpApi}/*/POST/orders")), "{arns:?}");
    assert!(arns.iter().any(|a| a.ends_with("${HttpApi}/*/GET/orders/*")), "{arns:?}");

    let stage = &t["Resources"]["ApiStage"]["Properties"];
    assert_eq!(stage["StageName"], "$default");
    assert_eq!(stage["AutoDeploy"], true);
    assert_eq!(stage["DefaultRouteSettings"]["ThrottlingRateLimit"], 20);
    assert_eq!(stage["DefaultRouteSettings"]["ThrottlingBurstLimit"], 40);
    assert!(stage["AccessLogSettings"]["DestinationArn"].is_object());

    let alarm = t["Resources"]["Api5xxRateAlarm"]["Properties"].to_string();
    assert!(alarm.contains("\"5xx\"") && alarm.contains("ApiId"), "HTTP API metric names: {alarm}");
    let body = t["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"].as_str().expect("Fn::Sub body");
    assert!(body.contains("\"5xx\"") && body.contains("${HttpApi}") && !body.contains("5XXError"), "{body}");
    let url = t["Outputs"]["ApiUrl"]["Value"]["Fn::Sub"].as_str().expect("the URL");
    assert!(url.starts_with("https://${HttpApi}.execute-api."), "{url}");
}

#[test]
fn several_cors_origins_answer_the_callers_own_origin() {
    let mut plan = plan_of(&workspace_root().join("tests/corpus/valid/every-section.yaml"));
    plan.api.cors_origins = vec!["https://shop.example.eu".to_owned(), "https://admin.example.eu".to_owned()];
    let t = parse(&plan);
    let methods = resources_of_type(&t, "AWS::ApiGateway::Method");
    let preflight = methods.iter().find(|(_, m)| m["Properties"]["HttpMethod"] == "OPTIONS").expect("a preflight").1;
    let response = &preflight["Properties"]["Integration"]["IntegrationResponses"][0];
    let vtl = response["ResponseTemplates"]["application/json"].as_str().expect("mapping template");
    assert!(vtl.contains("$origin == \"https://admin.example.eu\""), "{vtl}");
    assert!(vtl.contains("responseOverride.header.Access-Control-Allow-Origin"), "{vtl}");

    plan.api.cors_origins = vec!["https://bad.example' + 'x".to_owned()];
    let err = template(&plan).expect_err("an origin that would break the header is refused");
    assert!(err.to_string().contains("CORS origin"), "{err}");
}

#[test]
fn a_large_pipeline_names_its_step_functions_by_prefix() {
    let mut plan = orders();
    let notify = plan.step("notify").expect("notify step").clone();
    for i in 0..500 {
        let mut step = notify.clone();
        step.name = format!("notify-{i}");
        plan.steps.push(step);
    }
    let started = std::time::Instant::now();
    let t = parse(&plan);
    eprintln!("500-step template rendered in {:?}", started.elapsed());
    assert_eq!(resources_of_type(&t, "AWS::Lambda::Function").len(), lambda::functions(&plan).len());
    let env = &t["Resources"]["StreamProcessorFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(env["ORCHGEN_FUNCTION_PREFIX"]["Fn::Sub"], "${Stage}-shop-");
    assert!(env.get(Function::step("notify-7").env_var()).is_none(), "one variable per step would pass 4 KB");
    assert_eq!(
        t["Resources"]["StepNotify7Function"]["Properties"]["FunctionName"]["Fn::Sub"], "${Stage}-shop-step-notify-7",
        "the prefix plus the function's name is its physical name"
    );
}

#[test]
fn each_http_function_gets_exactly_its_secrets_through_noecho_parameters() {
    let yaml = r#"name: shop
steps:
  - { name: validate, kind: validate }
  - name: pay
    kind: http
    url: https://pay.example.com/charges
    headers: { Authorization: "Bearer ${env:PAY_TOKEN}" }
    signing: { secret: "${env:PAY_KEY}" }
    compensate: refund
  - name: crm
    kind: http
    url: https://crm.example.com/orders
    headers: { X-Api-Key: "${env:CRM_KEY}" }
compensations:
  - name: refund
    kind: http
    url: https://pay.example.com/refunds
    headers: { Authorization: "Bearer ${env:PAY_TOKEN}" }
"#;
    let checked = orchgen_generator::check_source(orchgen_generator::source::SourceFile::new("shop.yaml", yaml));
    let plan = checked.plan.unwrap_or_else(|| panic!("valid:\n{}", checked.report.render(100)));
    let t = parse(&plan);

    let parameters = t["Parameters"].as_object().expect("parameters");
    let secrets: Vec<&str> = parameters.keys().map(String::as_str).filter(|k| k.starts_with("Secret")).collect();
    assert_eq!(secrets, ["SecretCrmKey", "SecretPayKey", "SecretPayToken"]);
    for p in &secrets {
        assert_eq!(parameters[*p]["NoEcho"], true, "{p}");
        assert_eq!(parameters[*p]["Type"], "String", "{p}");
    }
    // Each function's variables: its own secrets, each from its parameter, and nothing else's.
    let secret_vars = |id: &str| -> Vec<(String, Value)> {
        let vars = t["Resources"][id]["Properties"]["Environment"]["Variables"].as_object().expect("variables");
        vars.iter().filter(|(k, _)| !k.starts_with("ORCHGEN_")).map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    let r = |p: &str| serde_json::json!({ "Ref": p });
    assert_eq!(
        secret_vars("StepPayFunction"),
        [("PAY_KEY".to_owned(), r("SecretPayKey")), ("PAY_TOKEN".to_owned(), r("SecretPayToken"))]
    );
    assert_eq!(secret_vars("StepCrmFunction"), [("CRM_KEY".to_owned(), r("SecretCrmKey"))]);
    assert_eq!(secret_vars("CompensationRefundFunction"), [("PAY_TOKEN".to_owned(), r("SecretPayToken"))]);
    for id in ["ApiFunction", "StreamProcessorFunction", "StepValidateFunction"] {
        assert!(secret_vars(id).is_empty(), "{id} gets no secret");
    }
}

#[test]
fn each_http_function_may_read_exactly_its_ssm_parameters_and_secrets() {
    let yaml = r#"name: shop
steps:
  - { name: validate, kind: validate }
  - name: pay
    kind: http
    url: https://pay.example.com/charges
    headers: { Authorization: "Bearer ${ssm:/shop/pay/token}", X-Tenant: "${ssm:tenant}" }
    signing: { secret: "${secretsmanager:shop/pay-signing}" }
    compensate: refund
  - name: crm
    kind: http
    url: https://crm.example.com/orders
    headers: { X-Api-Key: "${secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:crm-AbCdEf}" }
compensations:
  - name: refund
    kind: http
    url: https://pay.example.com/refunds
    headers: { Authorization: "Bearer ${ssm:/shop/pay/token}" }
"#;
    let checked = orchgen_generator::check_source(orchgen_generator::source::SourceFile::new("shop.yaml", yaml));
    let plan = checked.plan.unwrap_or_else(|| panic!("valid:\n{}", checked.report.render(100)));
    let t = parse(&plan);
    // Each role's statements that read secrets: (sid, actions, resources).
    let reads = |function: &str| -> Vec<(String, Value, Value)> {
        let role = function.replace("Function", "Role");
        let statements = t["Resources"][role.as_str()]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap_or_else(|| panic!("{role} has a policy"));
        statements
            .iter()
            .filter(|s| s["Sid"] == "ReadSecretParameters" || s["Sid"] == "ReadSecrets")
            .map(|s| (s["Sid"].as_str().unwrap().to_owned(), s["Action"].clone(), s["Resource"].clone()))
            .collect()
    };
    let parameter = |name: &str| serde_json::json!({ "Fn::Sub": format!("arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter/{name}") });
    let secret = serde_json::json!({
        "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:shop/pay-signing-??????"
    });
    let as_list = |v: Value| if v.is_array() { v } else { Value::Array(vec![v]) };
    let normalised = |reads: Vec<(String, Value, Value)>| -> Vec<(String, Value, Value)> {
        reads.into_iter().map(|(sid, a, r)| (sid, as_list(a), as_list(r))).collect()
    };
    assert_eq!(
        normalised(reads("StepPayFunction")),
        [
            (
                "ReadSecretParameters".to_owned(),
                serde_json::json!(["ssm:GetParameter"]),
                serde_json::json!([parameter("shop/pay/token"), parameter("tenant")])
            ),
            (
                "ReadSecrets".to_owned(),
                serde_json::json!(["secretsmanager:GetSecretValue"]),
                serde_json::json!([secret])
            ),
        ]
    );
    assert_eq!(
        normalised(reads("StepCrmFunction")),
        [(
            "ReadSecrets".to_owned(),
            serde_json::json!(["secretsmanager:GetSecretValue"]),
            serde_json::json!(["arn:aws:secretsmanager:eu-west-1:123456789012:secret:crm-AbCdEf"])
        )]
    );
    assert_eq!(
        normalised(reads("CompensationRefundFunction")),
        [(
            "ReadSecretParameters".to_owned(),
            serde_json::json!(["ssm:GetParameter"]),
            serde_json::json!([parameter("shop/pay/token")])
        )]
    );
    for id in ["ApiFunction", "StreamProcessorFunction", "StepValidateFunction"] {
        assert!(reads(id).is_empty(), "{id} reads no secret");
    }
    // Nothing of these secrets is a stack parameter or a variable: the function reads them itself.
    let parameters = t["Parameters"].as_object().expect("parameters");
    assert!(!parameters.keys().any(|k| k.starts_with("Secret")), "{parameters:?}");
}
