//! The CloudFormation template of a pipeline, rendered with tera from `templates/cloudformation/`.
//!
//! Each template renders one part of the stack (`{"Resources": …, "Outputs": …}`) from its own typed
//! context struct, built from the [`Plan`] only; [`template`] merges the parts into one JSON document
//! (refusing a logical id defined twice) and prints it pretty, so the output is deterministic and
//! always well-formed JSON. Plan values reach the templates through the `json` filter (serde), so
//! they are always escaped.
//!
//! Submodules build the contexts: [`api`] (REST API), [`http_api`] (HTTP API), [`functions`] (Lambda functions, their roles
//! and log groups), [`monitoring`] (dashboard, topic, alarms).

pub mod api;
pub mod functions;
pub mod http_api;
pub mod monitoring;

use orchgen_runtime::functions::{self as plan_functions, Function};
use orchgen_runtime::plan::{ApiKind, PLAN_FORMAT, Plan, TablePlan};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::names;

/// The frame: format version, description, parameters.
pub const STACK_TEMPLATE: &str = "stack.json.tera";
/// The DynamoDB tables.
pub const TABLES_TEMPLATE: &str = "tables.json.tera";
/// Lambda functions, roles, log groups.
pub const FUNCTIONS_TEMPLATE: &str = "functions.json.tera";
/// The change stream mapping and its dead-letter queue.
pub const STREAM_TEMPLATE: &str = "stream.json.tera";
/// The REST API.
pub const API_TEMPLATE: &str = "api.json.tera";
/// The HTTP API.
pub const HTTP_API_TEMPLATE: &str = "http_api.json.tera";
/// Dashboard, alarm topic, alarms.
pub const MONITORING_TEMPLATE: &str = "monitoring.json.tera";

/// The templates, compiled into the binary.
const TEMPLATES: [(&str, &str); 7] = [
    (STACK_TEMPLATE, include_str!("../../../templates/cloudformation/stack.json.tera")),
    (TABLES_TEMPLATE, include_str!("../../../templates/cloudformation/tables.json.tera")),
    (FUNCTIONS_TEMPLATE, include_str!("../../../templates/cloudformation/functions.json.tera")),
    (STREAM_TEMPLATE, include_str!("../../../templates/cloudformation/stream.json.tera")),
    (API_TEMPLATE, include_str!("../../../templates/cloudformation/api.json.tera")),
    (HTTP_API_TEMPLATE, include_str!("../../../templates/cloudformation/http_api.json.tera")),
    (MONITORING_TEMPLATE, include_str!("../../../templates/cloudformation/monitoring.json.tera")),
];

/// Why the template could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum CfnError {
    /// A template failed to compile or render.
    #[error("CloudFormation template `{template}`: {message}")]
    Render {
        /// The template.
        template: String,
        /// What went wrong.
        message: String,
    },
    /// A template rendered something that is not a JSON object with `Resources` and `Outputs`.
    #[error("CloudFormation template `{template}` rendered invalid JSON: {message}")]
    Json {
        /// The template.
        template: String,
        /// What went wrong.
        message: String,
    },
    /// Two parts of the stack define the same logical id (e.g. steps `a-1` and `a1`).
    #[error(
        "the logical id `{id}` is defined twice in the {section} of the template; rename one of the steps, compensations or tables that map to it"
    )]
    Duplicate {
        /// `Resources` or `Outputs`.
        section: String,
        /// The logical id.
        id: String,
    },
    /// The plan holds something the template cannot express.
    #[error("{0}")]
    Unsupported(String),
}

/// A checkov check skipped on a resource, with the reason (written into the resource's `Metadata`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckovSkip {
    /// Check id, e.g. `CKV_AWS_117`.
    pub id: &'static str,
    /// Why the check does not apply.
    pub comment: String,
}

impl CheckovSkip {
    /// A skip with its justification.
    pub fn new(id: &'static str, comment: impl Into<String>) -> CheckovSkip {
        CheckovSkip { id, comment: comment.into() }
    }
}

/// The skips of every log group: what checkov asks for that does not fit.
pub fn log_group_skips(plan: &Plan) -> Vec<CheckovSkip> {
    vec![
        CheckovSkip::new(
            "CKV_AWS_158",
            "CloudWatch Logs encrypts every log group at rest; the functions log no secrets, so a customer-managed key adds cost and a key policy without protecting more",
        ),
        CheckovSkip::new(
            "CKV_AWS_338",
            format!(
                "retention is the pipeline's monitoring.log_retention_days ({} days), chosen by its owner",
                plan.monitoring.log_retention_days
            ),
        ),
    ]
}

/// Context of `stack.json.tera`.
#[derive(Debug, Serialize)]
pub struct StackContext {
    /// Template description (at most 1024 bytes).
    pub description: String,
    /// Pipeline name.
    pub pipeline: String,
    /// Plan format the template was built from.
    pub plan_format: u32,
    /// The `Stage` parameter's pattern.
    pub stage_pattern: &'static str,
    /// Message when the stage does not match.
    pub stage_constraint: String,
    /// One S3-key parameter per function.
    pub code_keys: Vec<CodeKeyParameter>,
    /// One NoEcho parameter per secret the `http` steps read (`${env:NAME}`).
    pub secrets: Vec<CodeKeyParameter>,
}

/// A function's code key parameter.
#[derive(Debug, Serialize)]
pub struct CodeKeyParameter {
    /// Parameter name.
    pub id: String,
    /// Its description.
    pub description: String,
}

impl StackContext {
    /// The frame of `plan`'s template.
    pub fn new(plan: &Plan) -> StackContext {
        let what = if plan.description.is_empty() { "order-processing pipeline" } else { plan.description.as_str() };
        let mut description = format!("orchgen pipeline `{}`: {what}", plan.name);
        if description.len() > 1024 {
            let mut cut = 1021;
            while !description.is_char_boundary(cut) {
                cut -= 1;
            }
            description.truncate(cut);
            description.push_str("...");
        }
        StackContext {
            description,
            pipeline: plan.name.clone(),
            plan_format: PLAN_FORMAT,
            stage_pattern: names::STAGE_PATTERN,
            stage_constraint: format!(
                "a lowercase letter, then up to {} lowercase letters or digits",
                names::MAX_STAGE_CHARS - 1
            ),
            code_keys: plan_functions::functions(plan)
                .iter()
                .map(|f| CodeKeyParameter {
                    id: names::code_key_parameter(f),
                    description: format!(
                        "S3 key in ArtifactBucket of the zipped bootstrap of {} (glue binary `{}`)",
                        f.describe().replace('`', "'"),
                        f.name()
                    ),
                })
                .collect(),
            secrets: plan
                .secret_env()
                .iter()
                .map(|env| CodeKeyParameter {
                    id: names::secret_parameter(env),
                    description: format!(
                        "Secret read by http steps as ${{env:{env}}} (NoEcho: CloudFormation never shows it; `orchgen deploy` passes ${env} from its environment)"
                    ),
                })
                .collect(),
        }
    }
}

/// Context of `tables.json.tera`.
#[derive(Debug, Serialize)]
pub struct TablesContext {
    /// The tables, orders first.
    pub tables: Vec<TableContext>,
}

/// One table.
#[derive(Debug, Serialize)]
pub struct TableContext {
    /// Logical id.
    pub id: String,
    /// Logical name in the plan (`orders`, ...).
    pub logical: String,
    /// Physical name, an `Fn::Sub` string.
    pub name_sub: String,
    /// Partition key.
    pub key: String,
    /// Every key attribute of the table and its indexes (all strings).
    pub attributes: Vec<String>,
    /// Global secondary indexes.
    pub indexes: Vec<IndexContext>,
    /// Whether the table has the change stream.
    pub stream: bool,
    /// The TTL attribute, when items expire.
    pub ttl_attribute: Option<String>,
    /// Point-in-time recovery.
    pub point_in_time_recovery: bool,
    /// `Retain` or `Delete`.
    pub deletion_policy: &'static str,
    /// Deletion protection (on when the table is retained).
    pub deletion_protection: bool,
    /// Output holding the physical name.
    pub output_id: String,
    /// Its description.
    pub output_description: String,
    /// Justified checkov skips.
    pub checkov_skips: Vec<CheckovSkip>,
}

/// One global secondary index.
#[derive(Debug, Serialize)]
pub struct IndexContext {
    /// Index name.
    pub name: String,
    /// Partition key.
    pub partition_key: String,
    /// Sort key.
    pub sort_key: String,
    /// Projection type (`KEYS_ONLY`).
    pub projection: &'static str,
}

impl TablesContext {
    /// The tables of `plan`.
    pub fn new(plan: &Plan) -> TablesContext {
        TablesContext { tables: plan.tables.all().into_iter().map(TableContext::new).collect() }
    }
}

impl TableContext {
    fn new(t: &TablePlan) -> TableContext {
        let mut indexes = Vec::new();
        if let Some(i) = &t.status_index {
            indexes.push(IndexContext {
                name: i.name.clone(),
                partition_key: i.partition_key.clone(),
                sort_key: i.sort_key.clone(),
                // Keys only, as the DynamoDB store creates it: a listing reads the page's orders with
                // one BatchGetItem, so a full copy of every order in the index would only cost writes.
                projection: "KEYS_ONLY",
            });
        }
        if let Some(i) = &t.recent_index {
            indexes.push(IndexContext {
                name: i.name.clone(),
                partition_key: i.partition_key.clone(),
                sort_key: i.sort_key.clone(),
                projection: "KEYS_ONLY",
            });
        }
        let mut attributes = vec![t.key.clone()];
        for i in &indexes {
            for a in [&i.partition_key, &i.sort_key] {
                if !attributes.contains(a) {
                    attributes.push(a.clone());
                }
            }
        }
        let mut checkov_skips = vec![CheckovSkip::new(
            "CKV_AWS_119",
            "encrypted at rest with the AWS-managed DynamoDB KMS key (SSEEnabled); a customer-managed key would need a key policy the pipeline does not declare",
        )];
        if !t.point_in_time_recovery {
            checkov_skips.push(CheckovSkip::new(
                "CKV_AWS_28",
                format!("the pipeline declares point_in_time_recovery: false for the {} table", t.logical),
            ));
        }
        TableContext {
            id: names::table_id(&t.logical),
            logical: t.logical.clone(),
            name_sub: names::table_name_sub(&t.name),
            key: t.key.clone(),
            attributes,
            indexes,
            stream: t.stream,
            ttl_attribute: t.ttl.as_ref().map(|ttl| ttl.attribute.clone()),
            point_in_time_recovery: t.point_in_time_recovery,
            deletion_policy: if t.retain { "Retain" } else { "Delete" },
            deletion_protection: t.retain,
            output_id: format!("{}Name", names::table_id(&t.logical)),
            output_description: format!("Name of the {} table.", t.logical),
            checkov_skips,
        }
    }
}

/// Context of `stream.json.tera`.
#[derive(Debug, Serialize)]
pub struct StreamContext {
    /// Logical id of the orders table.
    pub table_id: String,
    /// Logical id of the stream processor.
    pub function_id: String,
    /// Records per batch.
    pub batch_size: u32,
    /// Batching window, seconds.
    pub batching_window_s: u32,
    /// Bisect a failing batch.
    pub bisect_on_error: bool,
    /// Retries before the dead-letter queue.
    pub max_retries: u32,
    /// Oldest record processed, seconds.
    pub max_record_age_s: u32,
    /// Concurrent batches per shard.
    pub parallelization: u32,
    /// Event filter patterns (JSON text), any of which lets a record through.
    pub filter_patterns: Vec<String>,
}

impl StreamContext {
    /// The mapping of `plan`'s change stream.
    pub fn new(plan: &Plan) -> StreamContext {
        let s = &plan.stream;
        StreamContext {
            table_id: names::table_id(&plan.tables.orders.logical),
            function_id: names::function_id(&Function::StreamProcessor),
            batch_size: s.batch_size,
            batching_window_s: s.batching_window_s,
            bisect_on_error: s.bisect_on_error,
            max_retries: s.max_retries,
            max_record_age_s: s.max_record_age_s,
            parallelization: s.parallelization,
            filter_patterns: stream_filter_patterns(plan),
        }
    }
}

/// The event filters of the stream mapping: inserts and updates whose new image is not terminal, and
/// removals not done by DynamoDB's TTL (records removed by TTL carry `userIdentity.type = "Service"`;
/// other records have no `userIdentity`).
///
/// The engine does nothing with the image of a terminal order (`Engine::process`), so the mapping
/// drops those records before they reach the function: Lambda bills no invocation and no duration
/// for a filtered record, and an order that goes through is processed once instead of twice.
pub fn stream_filter_patterns(plan: &Plan) -> Vec<String> {
    let status = orchgen_runtime::store::dynamodb::item::OrderAttributes::of(&plan.tables.orders).status;
    let not_terminal = json!([{ "anything-but": orchgen_runtime::order::TERMINAL_STATUSES }]);
    vec![
        json!({ "eventName": ["INSERT", "MODIFY"], "dynamodb": { "NewImage": { status: { "S": not_terminal } } } })
            .to_string(),
        json!({ "eventName": ["REMOVE"], "userIdentity": { "type": [{ "exists": false }] } }).to_string(),
    ]
}

fn engine() -> Result<tera::Tera, CfnError> {
    let mut tera = tera::Tera::new();
    tera.autoescape_on(Vec::<&str>::new());
    tera.register_filter("json", |value: &tera::Value, _: tera::Kwargs, _: &tera::State| {
        serde_json::to_string(value).map(|s| tera::Value::safe_string(&s)).map_err(tera::Error::message)
    });
    for (name, text) in TEMPLATES {
        tera.add_raw_template(name, text)
            .map_err(|e| CfnError::Render { template: name.to_owned(), message: e.to_string() })?;
    }
    Ok(tera)
}

fn render(tera: &tera::Tera, template: &str, context: &impl Serialize) -> Result<Map<String, Value>, CfnError> {
    let err = |message: String| CfnError::Render { template: template.to_owned(), message };
    let context = tera::Context::from_serialize(context).map_err(|e| err(e.to_string()))?;
    let text = tera.render(template, &context).map_err(|e| err(e.to_string()))?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(CfnError::Json { template: template.to_owned(), message: "not a JSON object".to_owned() }),
        Err(e) => Err(CfnError::Json { template: template.to_owned(), message: e.to_string() }),
    }
}

fn merge(into: &mut Map<String, Value>, part: Map<String, Value>, section: &str) -> Result<(), CfnError> {
    for (id, value) in part {
        if into.contains_key(&id) {
            return Err(CfnError::Duplicate { section: section.to_owned(), id });
        }
        into.insert(id, value);
    }
    Ok(())
}

/// The CloudFormation template of `plan`, as pretty JSON ending with a newline.
pub fn template(plan: &Plan) -> Result<String, CfnError> {
    let tera = engine()?;
    let mut document = render(&tera, STACK_TEMPLATE, &StackContext::new(plan))?;
    let parts = [
        (TABLES_TEMPLATE, render(&tera, TABLES_TEMPLATE, &TablesContext::new(plan))?),
        (FUNCTIONS_TEMPLATE, render(&tera, FUNCTIONS_TEMPLATE, &functions::FunctionsContext::new(plan)?)?),
        (STREAM_TEMPLATE, render(&tera, STREAM_TEMPLATE, &StreamContext::new(plan))?),
        match plan.api.kind {
            ApiKind::Rest => (API_TEMPLATE, render(&tera, API_TEMPLATE, &api::ApiContext::new(plan)?)?),
            ApiKind::Http => {
                (HTTP_API_TEMPLATE, render(&tera, HTTP_API_TEMPLATE, &http_api::HttpApiContext::new(plan)?)?)
            }
        },
        (MONITORING_TEMPLATE, render(&tera, MONITORING_TEMPLATE, &monitoring::MonitoringContext::new(plan))?),
    ];
    let mut resources = Map::new();
    let mut outputs = Map::new();
    for (template, mut part) in parts {
        for (section, into) in [("Resources", &mut resources), ("Outputs", &mut outputs)] {
            match part.remove(section) {
                Some(Value::Object(map)) => merge(into, map, section)?,
                _ => {
                    return Err(CfnError::Json {
                        template: template.to_owned(),
                        message: format!("no `{section}` object"),
                    });
                }
            }
        }
    }
    document.insert("Resources".to_owned(), Value::Object(resources));
    document.insert("Outputs".to_owned(), Value::Object(outputs));
    let mut text = serde_json::to_string_pretty(&Value::Object(document))
        .map_err(|e| CfnError::Json { template: STACK_TEMPLATE.to_owned(), message: e.to_string() })?;
    text.push('\n');
    Ok(text)
}

/// `{"Fn::GetAtt": [id, attribute]}`.
pub fn get_att(id: &str, attribute: &str) -> Value {
    json!({ "Fn::GetAtt": [id, attribute] })
}

/// `{"Ref": id}`.
pub fn reference(id: &str) -> Value {
    json!({ "Ref": id })
}

/// `{"Fn::Sub": text}`.
pub fn sub(text: impl Into<String>) -> Value {
    json!({ "Fn::Sub": text.into() })
}
