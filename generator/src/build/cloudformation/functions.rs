//! The Lambda functions of the template, each with a least-privilege role and a log group.
//!
//! Permissions, by function:
//! - every function: write its own log group; X-Ray segments (no resource-level permissions exist);
//! - the API: read and write orders (table and indexes) and idempotency keys; publish metrics to the
//!   pipeline's namespace only;
//! - the stream processor: read the orders change stream; commit transitions (one transaction of
//!   puts, updates and condition checks) on orders and the tables the steps' effects touch; invoke the
//!   step and compensation functions; send to the dead-letter queue (the mapping's on-failure
//!   destination uses the function's role); publish metrics to the pipeline's namespace only;
//! - a step or compensation: nothing more (the processor commits its effects).

use orchgen_runtime::functions::{self as plan_functions, ENV_FUNCTION_PREFIX, ENV_LOG_LEVEL, ENV_STAGE, Function};
use orchgen_runtime::plan::{Architecture, CompensationAction, Plan, StepAction, TablePlan};
use orchgen_runtime::secrets::SecretRef;
use orchgen_runtime::telemetry::names as metric_names;
use serde::Serialize;
use serde_json::{Value, json};

use super::{CfnError, CheckovSkip, get_att, log_group_skips, reference, sub};
use crate::build::names;

/// Lambda's limit on a function's environment variables (names and values), in bytes.
pub const MAX_ENVIRONMENT_BYTES: usize = 4096;

/// Context of `functions.json.tera`.
#[derive(Debug, Serialize)]
pub struct FunctionsContext {
    /// `arm64` or `x86_64`.
    pub architecture: &'static str,
    /// Days the log groups keep events.
    pub log_retention_days: u32,
    /// Justified checkov skips of the log groups.
    pub log_group_skips: Vec<CheckovSkip>,
    /// The functions: API, stream processor, steps in order, compensations by name.
    pub functions: Vec<FunctionContext>,
}

/// One function with its role and log group.
#[derive(Debug, Serialize)]
pub struct FunctionContext {
    /// Logical id of the function.
    pub id: String,
    /// Logical id of its role.
    pub role_id: String,
    /// Logical id of its log group.
    pub log_group_id: String,
    /// The parameter holding its code's S3 key.
    pub code_key_parameter: String,
    /// Its name in the glue (`step-validate`, ...).
    pub name: String,
    /// Physical name (`Fn::Sub`), when it fits Lambda's limit.
    pub function_name_sub: Option<String>,
    /// Log group name (`Fn::Sub`).
    pub log_group_name_sub: String,
    /// Function description.
    pub description: String,
    /// Role description.
    pub role_description: String,
    /// Memory, MB.
    pub memory_mb: u32,
    /// Timeout, seconds.
    pub timeout_s: u64,
    /// Whether reserved concurrency is declared.
    pub has_reserved_concurrency: bool,
    /// Reserved concurrency (when declared).
    pub reserved_concurrency: u32,
    /// Environment variables.
    pub environment: Vec<EnvVar>,
    /// The role's policy statements.
    pub statements: Vec<Statement>,
    /// Justified checkov skips.
    pub checkov_skips: Vec<CheckovSkip>,
}

/// An environment variable.
#[derive(Debug, Clone, Serialize)]
pub struct EnvVar {
    /// Name.
    pub name: String,
    /// Value: a string or an intrinsic function.
    pub value: Value,
}

/// One `Allow` statement of a role's policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statement {
    /// Statement id.
    pub sid: String,
    /// Actions (never a wildcard).
    pub actions: Vec<String>,
    /// Resources (ARNs as intrinsic functions; `*` only for actions without resource-level permissions).
    pub resources: Vec<Value>,
    /// Condition, when one narrows a `*` resource.
    pub condition: Option<Value>,
}

impl Statement {
    fn new(sid: &str, actions: &[&str], resources: Vec<Value>) -> Statement {
        Statement {
            sid: sid.to_owned(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
            resources,
            condition: None,
        }
    }
}

/// `ceil(ms / 1000)` within Lambda's 1..=900 seconds.
pub fn timeout_seconds(ms: u64) -> u64 {
    ms.div_ceil(1000).clamp(1, 900)
}

impl FunctionsContext {
    /// The functions of `plan`.
    pub fn new(plan: &Plan) -> Result<FunctionsContext, CfnError> {
        check_secret_parameters(plan)?;
        let functions =
            plan_functions::functions(plan).iter().map(|f| FunctionContext::new(plan, f)).collect::<Result<_, _>>()?;
        Ok(FunctionsContext {
            architecture: match plan.functions.architecture {
                Architecture::Arm64 => "arm64",
                Architecture::X86_64 => "x86_64",
            },
            log_retention_days: plan.monitoring.log_retention_days,
            log_group_skips: log_group_skips(plan),
            functions,
        })
    }
}

impl FunctionContext {
    fn new(plan: &Plan, function: &Function) -> Result<FunctionContext, CfnError> {
        let (description, memory_mb, timeout_ms, reserved) = match function {
            Function::Api => (
                "The order API behind API Gateway.".to_owned(),
                plan.functions.memory_mb,
                plan.functions.api_timeout_ms,
                None,
            ),
            Function::StreamProcessor => (
                "Runs the pipeline on every change of the orders table.".to_owned(),
                plan.functions.memory_mb,
                plan.functions.processor_timeout_ms,
                None,
            ),
            Function::Step(name) => {
                let step = plan.step(name).ok_or_else(|| missing(function))?;
                let what = if step.description.is_empty() { step.action.kind() } else { step.description.as_str() };
                (format!("Step {name}: {what}"), step.memory_mb, step.timeout_ms, step.reserved_concurrency)
            }
            Function::Compensation(name) => {
                let c = plan.compensations.get(name).ok_or_else(|| missing(function))?;
                (format!("Compensation {name} ({})", c.action.kind()), plan.functions.memory_mb, c.timeout_ms, None)
            }
        };
        let log_group_id = names::log_group_id(function);
        let mut statements = vec![
            Statement::new(
                "WriteOwnLogs",
                &["logs:CreateLogStream", "logs:PutLogEvents"],
                vec![get_att(&log_group_id, "Arn")],
            ),
            Statement::new("WriteTraces", &["xray:PutTelemetryRecords", "xray:PutTraceSegments"], vec![json!("*")]),
        ];
        let mut environment = vec![
            EnvVar { name: ENV_STAGE.to_owned(), value: reference("Stage") },
            EnvVar { name: ENV_LOG_LEVEL.to_owned(), value: reference("LogLevel") },
        ];
        match function {
            Function::Api => {
                statements.extend(api_statements(plan));
                environment.extend(table_variables(plan));
            }
            Function::StreamProcessor => {
                statements.extend(processor_statements(plan));
                environment.extend(table_variables(plan));
                environment.extend(function_variables(plan, &environment)?);
            }
            Function::Step(_) | Function::Compensation(_) => {}
        }
        let http = match function {
            Function::Step(name) => plan.step(name).and_then(|s| s.action.http()),
            Function::Compensation(name) => plan.compensations.get(name).and_then(|c| c.action.http()),
            Function::Api | Function::StreamProcessor => None,
        };
        let secrets = http.map(|h| h.secret_env()).unwrap_or_default();
        for env in &secrets {
            environment.push(EnvVar { name: env.clone(), value: reference(&names::secret_parameter(env)) });
        }
        statements.extend(secret_statements(&http.map(|h| h.secret_refs()).unwrap_or_default()));
        let mut checkov_skips = vec![
            CheckovSkip::new(
                "CKV_AWS_116",
                match function {
                    Function::Api => {
                        "invoked synchronously by API Gateway: a dead-letter queue only serves asynchronous invocations"
                    }
                    Function::StreamProcessor => {
                        "invoked by the stream event source mapping, whose on-failure destination is the StreamDeadLetterQueue"
                    }
                    _ => {
                        "invoked synchronously (RequestResponse) by the stream processor, which retries and compensates: a dead-letter queue only serves asynchronous invocations"
                    }
                },
            ),
            CheckovSkip::new(
                "CKV_AWS_117",
                if http.is_some() {
                    "calls the service the pipeline names over the internet (https) and AWS endpoints with IAM over TLS; there is no VPC resource to reach"
                } else {
                    "calls only AWS service endpoints (DynamoDB, Lambda, CloudWatch, X-Ray) with IAM over TLS; there is no VPC resource to reach"
                },
            ),
            CheckovSkip::new(
                "CKV_AWS_173",
                if secrets.is_empty() {
                    "the variables hold only resource names, the stage and the log level (no secrets); Lambda encrypts them at rest with its service key"
                } else {
                    "the http step's secrets arrive through NoEcho stack parameters; Lambda encrypts its variables at rest with its service key, and only this function's role and the account's administrators can read its configuration"
                },
            ),
        ];
        checkov_skips.push(CheckovSkip::new(
            "CKV_AWS_272",
            "the code is the glue binary built from this repository and uploaded to ArtifactBucket by the deploy step; the pipeline declares no signing profile",
        ));
        if reserved.is_none() {
            checkov_skips.push(CheckovSkip::new(
                "CKV_AWS_115",
                "the pipeline declares no reserved_concurrency for this function; it scales within the account's concurrency",
            ));
        }
        Ok(FunctionContext {
            id: names::function_id(function),
            role_id: names::role_id(function),
            code_key_parameter: names::code_key_parameter(function),
            name: function.name(),
            function_name_sub: names::function_name_sub(&plan.name, function),
            log_group_name_sub: names::log_group_name_sub(&plan.name, function),
            log_group_id,
            role_description: format!("Least-privilege role of {}.", function.describe().replace('`', "'")),
            description: truncate(&description, 256),
            memory_mb,
            timeout_s: timeout_seconds(timeout_ms),
            has_reserved_concurrency: reserved.is_some(),
            reserved_concurrency: reserved.unwrap_or(0),
            environment,
            statements,
            checkov_skips,
        })
    }
}

/// Read access to exactly the SSM parameters and Secrets Manager secrets an `http` step names. No
/// KMS statement: the AWS managed keys (`aws/ssm`, `aws/secretsmanager`) let every principal of
/// the account that may read the parameter or secret decrypt it; a customer managed key needs its
/// key policy to allow the function's role.
fn secret_statements(refs: &[SecretRef]) -> Vec<Statement> {
    let parameters: Vec<Value> = refs
        .iter()
        .filter_map(|r| match r {
            SecretRef::Ssm(name) => Some(sub(format!(
                "arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter/{}",
                names::sub_literal(name.trim_start_matches('/'))
            ))),
            _ => None,
        })
        .collect();
    let secrets: Vec<Value> = refs
        .iter()
        .filter_map(|r| match r {
            SecretRef::SecretsManager(arn) if arn.starts_with("arn:") => Some(json!(arn)),
            // Secrets Manager appends six random characters to a secret's name in its ARN.
            SecretRef::SecretsManager(name) => Some(sub(format!(
                "arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:{}-??????",
                names::sub_literal(name)
            ))),
            _ => None,
        })
        .collect();
    let mut statements = Vec::new();
    if !parameters.is_empty() {
        statements.push(Statement::new("ReadSecretParameters", &["ssm:GetParameter"], parameters));
    }
    if !secrets.is_empty() {
        statements.push(Statement::new("ReadSecrets", &["secretsmanager:GetSecretValue"], secrets));
    }
    statements
}

/// Refuses two secrets whose NoEcho parameters would have the same name (`A_B` and `A__B`).
fn check_secret_parameters(plan: &Plan) -> Result<(), CfnError> {
    let mut seen: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for env in plan.secret_env() {
        let parameter = names::secret_parameter(&env);
        if let Some(first) = seen.insert(parameter.clone(), env.clone()) {
            return Err(CfnError::Unsupported(format!(
                "the secrets ${{env:{first}}} and ${{env:{env}}} map to the same stack parameter {parameter}: rename one"
            )));
        }
    }
    Ok(())
}

fn missing(function: &Function) -> CfnError {
    CfnError::Unsupported(format!("the plan has no {}", function.describe()))
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut cut = max - 3;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &text[..cut])
}

fn table_arn(t: &TablePlan) -> Value {
    get_att(&names::table_id(&t.logical), "Arn")
}

fn index_arn(t: &TablePlan, index: &str) -> Value {
    sub(format!("${{{}.Arn}}/index/{}", names::table_id(&t.logical), names::sub_literal(index)))
}

fn table_variables(plan: &Plan) -> Vec<EnvVar> {
    plan.tables
        .all()
        .iter()
        .map(|t| EnvVar {
            name: plan_functions::table_env_var(&t.logical),
            value: reference(&names::table_id(&t.logical)),
        })
        .collect()
}

fn metrics_statement(plan: &Plan) -> Statement {
    let mut s = Statement::new("PublishPipelineMetrics", &["cloudwatch:PutMetricData"], vec![json!("*")]);
    s.condition = Some(json!({ "StringEquals": { "cloudwatch:namespace": metric_names::namespace(&plan.name) } }));
    s
}

fn api_statements(plan: &Plan) -> Vec<Statement> {
    let orders = &plan.tables.orders;
    let mut resources = vec![table_arn(orders)];
    for index in [&orders.status_index, &orders.recent_index].into_iter().flatten() {
        resources.push(index_arn(orders, &index.name));
    }
    resources.push(table_arn(&plan.tables.idempotency));
    vec![
        Statement::new(
            "ReadWriteOrders",
            &["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
            resources,
        ),
        metrics_statement(plan),
    ]
}

/// The tables the stream processor commits to (see `orchgen_runtime::store::dynamodb`): orders
/// always; inventory when a step or compensation moves stock; the ledger when one charges, refunds
/// or notifies (the notification outbox lives on the order's ledger item).
pub fn processor_tables(plan: &Plan) -> Vec<&TablePlan> {
    let stock = plan.steps.iter().any(|s| matches!(s.action, StepAction::ReserveInventory | StepAction::Fulfil(_)))
        || plan.compensations.values().any(|c| matches!(c.action, CompensationAction::ReleaseInventory));
    let ledger = plan.steps.iter().any(|s| matches!(s.action, StepAction::ChargePayment(_) | StepAction::Notify(_)))
        || plan.compensations.values().any(|c| matches!(c.action, CompensationAction::RefundPayment));
    let t = &plan.tables;
    let mut tables = vec![&t.orders];
    if stock {
        tables.push(&t.inventory);
    }
    if ledger {
        tables.push(&t.ledger);
    }
    tables
}

fn processor_statements(plan: &Plan) -> Vec<Statement> {
    let orders_id = names::table_id(&plan.tables.orders.logical);
    let mut statements = vec![
        Statement::new(
            "ReadOrdersChangeStream",
            &["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"],
            vec![sub(format!("${{{orders_id}.Arn}}/stream/*"))],
        ),
        Statement::new(
            "CommitTransitions",
            &["dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            processor_tables(plan).into_iter().map(table_arn).collect(),
        ),
    ];
    let steps: Vec<Value> =
        plan_functions::step_functions(plan).iter().map(|f| get_att(&names::function_id(f), "Arn")).collect();
    if !steps.is_empty() {
        statements.push(Statement::new("InvokeStepFunctions", &["lambda:InvokeFunction"], steps));
    }
    statements.push(Statement::new(
        "SendToDeadLetterQueue",
        &["sqs:SendMessage"],
        vec![get_att("StreamDeadLetterQueue", "Arn")],
    ));
    statements.push(metrics_statement(plan));
    statements
}

/// The stream processor's variables naming the step functions: the common prefix, and one variable
/// per function while the environment stays within Lambda's 4 KB (counted with the longest stage);
/// a function CloudFormation names itself always gets its variable.
fn function_variables(plan: &Plan, base: &[EnvVar]) -> Result<Vec<EnvVar>, CfnError> {
    let prefix = names::prefix_sub(&plan.name);
    let mut out = vec![EnvVar { name: ENV_FUNCTION_PREFIX.to_owned(), value: sub(prefix.clone()) }];
    let base_bytes: usize = base.iter().map(|v| v.name.len() + 64).sum::<usize>()
        + ENV_FUNCTION_PREFIX.len()
        + names::MAX_STAGE_CHARS
        + plan.name.len()
        + 2;
    let all: Vec<(Function, usize)> = plan_functions::step_functions(plan)
        .into_iter()
        .map(|f| {
            let bytes = f.env_var().len() + names::function_name_len(&plan.name, &f);
            (f, bytes)
        })
        .collect();
    let everything = base_bytes + all.iter().map(|(_, b)| b).sum::<usize>();
    let chosen: Vec<&(Function, usize)> = if everything <= MAX_ENVIRONMENT_BYTES {
        all.iter().collect()
    } else {
        all.iter().filter(|(f, _)| names::function_name_sub(&plan.name, f).is_none()).collect()
    };
    let needed = base_bytes + chosen.iter().map(|(_, b)| b).sum::<usize>();
    if needed > MAX_ENVIRONMENT_BYTES {
        return Err(CfnError::Unsupported(format!(
            "the stream processor would need {needed} bytes of environment variables to name its step functions (Lambda allows {MAX_ENVIRONMENT_BYTES}); shorten the pipeline, step or compensation names so that `<stage>-{}-<function>` fits in {} characters",
            plan.name,
            names::MAX_FUNCTION_NAME_CHARS
        )));
    }
    out.extend(chosen.into_iter().map(|(f, _)| EnvVar { name: f.env_var(), value: reference(&names::function_id(f)) }));
    Ok(out)
}
