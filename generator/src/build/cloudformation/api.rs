//! The REST API of the template: a resource per path segment, a Lambda-proxy method per route,
//! CORS preflights, the declared auth, a deployment whose logical id follows the API's shape, and a
//! stage with access logs and throttling.

use std::collections::BTreeSet;

use orchgen_runtime::functions::Function;
use orchgen_runtime::plan::{AuthMode, Plan, RouteAction};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{CfnError, CheckovSkip, log_group_skips, reference};
use crate::build::names;

/// Headers a browser may send on a cross-origin request.
pub const CORS_ALLOW_HEADERS: &str =
    "Content-Type,Idempotency-Key,X-Api-Key,Authorization,X-Amz-Date,X-Amz-Security-Token";

/// Longest API Gateway integration timeout, in milliseconds.
pub const MAX_INTEGRATION_TIMEOUT_MS: u64 = 29_000;

/// Context of `api.json.tera`.
#[derive(Debug, Serialize)]
pub struct ApiContext {
    /// What both kinds of API share.
    #[serde(flatten)]
    pub common: ApiCommon,
    /// Path resources, parents first.
    pub resources: Vec<ResourceContext>,
    /// One method per route.
    pub methods: Vec<MethodContext>,
    /// CORS preflight methods (none when CORS is off).
    pub preflights: Vec<PreflightContext>,
    /// `NONE` or `AWS_IAM`.
    pub authorization_type: &'static str,
    /// Whether callers must send the API key.
    pub api_key_required: bool,
    /// Whether the template has an API key and usage plan.
    pub api_key: bool,
    /// The proxy integration URI (`Fn::Sub`).
    pub integration_uri_sub: String,
    /// Logical id of the deployment (changes with the API's shape).
    pub deployment_id: String,
    /// What the deployment waits for.
    pub deployment_depends_on: Vec<String>,
    /// Justified checkov skips of the stage.
    pub stage_skips: Vec<CheckovSkip>,
    /// Base URL of the stage (`Fn::Sub`).
    pub url_sub: String,
}

/// An `AWS::ApiGateway::Resource`.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceContext {
    /// Logical id.
    pub id: String,
    /// Parent: the root resource or another resource.
    pub parent: Value,
    /// The path segment.
    pub path_part: String,
}

/// A route's method.
#[derive(Debug, Serialize)]
pub struct MethodContext {
    /// Logical id.
    pub id: String,
    /// Logical id of the resource.
    pub resource_id: String,
    /// HTTP method.
    pub http_method: String,
    /// Operation name (as in the OpenAPI document).
    pub operation: &'static str,
    /// `method.request.*` parameters → required.
    pub request_parameters: Map<String, Value>,
    /// Logical id of the Lambda permission of this route.
    pub permission_id: String,
    /// The permission's source ARN (`Fn::Sub`).
    pub source_arn_sub: String,
    /// Justified checkov skips.
    pub checkov_skips: Vec<CheckovSkip>,
}

/// A CORS preflight (`OPTIONS`) method.
#[derive(Debug, Serialize)]
pub struct PreflightContext {
    /// Logical id.
    pub id: String,
    /// Logical id of the resource.
    pub resource_id: String,
    /// `Access-Control-Allow-Origin` when the request's origin is not another allowed one (quoted).
    pub default_origin: String,
    /// `Access-Control-Allow-Methods` (quoted).
    pub allow_methods: String,
    /// `Access-Control-Allow-Headers` (quoted).
    pub allow_headers: String,
    /// Response mapping template answering the request's own origin when it is allowed.
    pub origin_template: String,
    /// Justified checkov skips.
    pub checkov_skips: Vec<CheckovSkip>,
}

fn segment_stem(segment: &str) -> String {
    let inner = segment.trim_start_matches('{').trim_end_matches('}').trim_end_matches('+');
    names::pascal(inner)
}

/// The logical-id stem of a path: `/orders/{orderId}` → `OrdersOrderId`.
pub(super) fn path_stem(segments: &[&str]) -> String {
    segments.iter().map(|s| segment_stem(s)).collect()
}

/// The logical-id form of an HTTP method: `GET` → `Get`.
pub(super) fn verb(method: &str) -> String {
    let lower = method.to_ascii_lowercase();
    names::pascal(&lower)
}

/// The `Fn::Sub` ARN of calls to `METHOD /segments` of the API `api_id` in any stage (path
/// parameters as `*`): the source a route's Lambda permission is scoped to.
pub(super) fn invoke_source_arn_sub(api_id: &str, method: &str, segments: &[&str]) -> String {
    let path: Vec<String> =
        segments.iter().map(|s| if s.starts_with('{') { "*".to_owned() } else { names::sub_literal(s) }).collect();
    format!(
        "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{{api_id}}}/*/{method}/{}",
        path.join("/")
    )
}

impl ApiContext {
    /// The REST API of `plan`.
    pub fn new(plan: &Plan) -> Result<ApiContext, CfnError> {
        let api = &plan.api;
        let mut resources: Vec<ResourceContext> = Vec::new();
        let mut methods = Vec::new();
        let mut methods_by_resource: Vec<(String, BTreeSet<String>)> = Vec::new();
        for route in &api.routes {
            let segments: Vec<&str> = route.path.split('/').filter(|s| !s.is_empty()).collect();
            if segments.is_empty() {
                return Err(CfnError::Unsupported(format!(
                    "route `{} {}` has no path segment",
                    route.method, route.path
                )));
            }
            for depth in 0..segments.len() {
                let id = format!("ApiResource{}", path_stem(&segments[..=depth]));
                if resources.iter().any(|r| r.id == id) {
                    continue;
                }
                let parent = if depth == 0 {
                    json!({ "Fn::GetAtt": ["RestApi", "RootResourceId"] })
                } else {
                    reference(&format!("ApiResource{}", path_stem(&segments[..depth])))
                };
                resources.push(ResourceContext { id, parent, path_part: segments[depth].to_owned() });
            }
            let stem = path_stem(&segments);
            let resource_id = format!("ApiResource{stem}");
            let method = route.method.to_ascii_uppercase();
            match methods_by_resource.iter_mut().find(|(id, _)| *id == resource_id) {
                Some((_, set)) => {
                    set.insert(method.clone());
                }
                None => methods_by_resource.push((resource_id.clone(), BTreeSet::from([method.clone()]))),
            }
            let mut request_parameters = Map::new();
            for s in &segments {
                if s.starts_with('{') {
                    let name = s.trim_start_matches('{').trim_end_matches('}').trim_end_matches('+');
                    request_parameters.insert(format!("method.request.path.{name}"), json!(true));
                }
            }
            let operation = match route.action {
                RouteAction::Create => {
                    request_parameters.insert("method.request.header.Idempotency-Key".to_owned(), json!(false));
                    "createOrder"
                }
                RouteAction::List => {
                    for q in ["status", "limit", "next"] {
                        request_parameters.insert(format!("method.request.querystring.{q}"), json!(false));
                    }
                    "listOrders"
                }
                RouteAction::Get => "getOrder",
            };
            let mut checkov_skips = Vec::new();
            if api.auth == AuthMode::None {
                checkov_skips.push(CheckovSkip::new(
                    "CKV_AWS_59",
                    "the pipeline declares `api.auth: none`: this API is public on purpose",
                ));
            }
            methods.push(MethodContext {
                id: format!("ApiMethod{stem}{}", verb(&method)),
                resource_id,
                http_method: method.clone(),
                operation,
                request_parameters,
                permission_id: format!("ApiPermission{stem}{}", verb(&method)),
                source_arn_sub: invoke_source_arn_sub("RestApi", &method, &segments),
                checkov_skips,
            });
        }
        let preflights = if api.cors_origins.is_empty() {
            Vec::new()
        } else {
            for origin in &api.cors_origins {
                if origin.is_empty()
                    || origin.chars().any(|c| matches!(c, '\'' | '"' | '$' | '#' | '\\') || c.is_whitespace())
                {
                    return Err(CfnError::Unsupported(format!(
                        "the CORS origin `{origin}` cannot be written into API Gateway headers"
                    )));
                }
            }
            let any = api.cors_origins.iter().any(|o| o == "*");
            let default_origin = if any { "'*'".to_owned() } else { format!("'{}'", api.cors_origins[0]) };
            let origin_template = if any || api.cors_origins.len() == 1 {
                String::new()
            } else {
                let test =
                    api.cors_origins.iter().map(|o| format!("$origin == \"{o}\"")).collect::<Vec<_>>().join(" || ");
                format!(
                    "#set($origin = $input.params(\"Origin\"))\n#if({test})\n#set($context.responseOverride.header.Access-Control-Allow-Origin = $origin)\n#end\n"
                )
            };
            methods_by_resource
                .iter()
                .map(|(resource_id, verbs)| {
                    let mut verbs = verbs.clone();
                    verbs.insert("OPTIONS".to_owned());
                    PreflightContext {
                        id: format!("{}Options", resource_id.replacen("ApiResource", "ApiPreflight", 1)),
                        resource_id: resource_id.clone(),
                        default_origin: default_origin.clone(),
                        allow_methods: format!("'{}'", verbs.into_iter().collect::<Vec<_>>().join(",")),
                        allow_headers: format!("'{CORS_ALLOW_HEADERS}'"),
                        origin_template: origin_template.clone(),
                        checkov_skips: vec![CheckovSkip::new(
                            "CKV_AWS_59",
                            "a CORS preflight is sent by browsers without credentials; it only answers which origins, methods and headers are allowed",
                        )],
                    }
                })
                .collect()
        };
        let (authorization_type, api_key_required) = match api.auth {
            AuthMode::ApiKey => ("NONE", true),
            AuthMode::Iam => ("AWS_IAM", false),
            AuthMode::None => ("NONE", false),
        };
        let mut deployment_depends_on: Vec<String> = methods.iter().map(|m| m.id.clone()).collect();
        deployment_depends_on.extend(preflights.iter().map(|p| p.id.clone()));
        // The deployment's logical id changes whenever what it deploys changes, so CloudFormation
        // creates a new deployment (an unchanged id would leave the stage on the old API).
        let shape = json!({
            "resources": resources.iter().map(|r| (&r.id, &r.path_part)).collect::<Vec<_>>(),
            "methods": methods.iter().map(|m| (&m.id, &m.request_parameters)).collect::<Vec<_>>(),
            "preflights": preflights.iter().map(|p| (&p.id, &p.default_origin, &p.allow_methods, &p.origin_template)).collect::<Vec<_>>(),
            "auth": [authorization_type, if api_key_required { "key" } else { "" }],
        });
        let digest = Sha256::digest(shape.to_string().as_bytes());
        let hash: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
        let access_log_format = json!({
            "requestId": "$context.requestId",
            "extendedRequestId": "$context.extendedRequestId",
            "ip": "$context.identity.sourceIp",
            "caller": "$context.identity.caller",
            "user": "$context.identity.user",
            "apiKeyId": "$context.identity.apiKeyId",
            "requestTime": "$context.requestTime",
            "httpMethod": "$context.httpMethod",
            "resourcePath": "$context.resourcePath",
            "status": "$context.status",
            "protocol": "$context.protocol",
            "responseLength": "$context.responseLength",
            "integrationLatency": "$context.integrationLatency",
            "responseLatency": "$context.responseLatency",
            "xrayTraceId": "$context.xrayTraceId",
            "errorMessage": "$context.error.message",
        })
        .to_string();
        let common = ApiCommon::new(plan, access_log_format);
        Ok(ApiContext {
            integration_uri_sub: format!(
                "arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}:lambda:path/2015-03-31/functions/${{{}.Arn}}/invocations",
                common.function_id
            ),
            common,
            resources,
            methods,
            preflights,
            authorization_type,
            api_key_required,
            api_key: api.auth == AuthMode::ApiKey,
            deployment_id: format!("ApiDeployment{hash}"),
            deployment_depends_on,
            stage_skips: vec![CheckovSkip::new(
                "CKV_AWS_120",
                "no stage cache: order statuses change while the pipeline runs and a cached GET would show stale ones",
            )],
            url_sub: "https://${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${ApiStage}".to_owned(),
        })
    }
}

/// What the REST and the HTTP API templates share: the API's name and description, the proxy
/// integration to the API function, the access log group and format, and the stage's throttling.
#[derive(Debug, Serialize)]
pub struct ApiCommon {
    /// The API's name (`Fn::Sub`): `<stage>-<pipeline>`, also the REST API's `ApiName` dimension.
    pub name_sub: String,
    /// The API's description: the pipeline's, or one naming it.
    pub description: String,
    /// The API function's logical id.
    pub function_id: String,
    /// The proxy integration's timeout: the API function's, within what API Gateway allows.
    pub integration_timeout_ms: u64,
    /// Access log group name (`Fn::Sub`).
    pub access_log_group_sub: String,
    /// Access log line format (JSON of the kind's `$context` variables).
    pub access_log_format: String,
    /// Log retention.
    pub log_retention_days: u32,
    /// Justified checkov skips of the log group.
    pub log_group_skips: Vec<CheckovSkip>,
    /// Requests per second.
    pub throttle_rate: u32,
    /// Burst.
    pub throttle_burst: u32,
}

impl ApiCommon {
    /// The shared part of `plan`'s API, with the kind's access log format.
    pub fn new(plan: &Plan, access_log_format: String) -> ApiCommon {
        let lambda_timeout_ms = super::functions::timeout_seconds(plan.functions.api_timeout_ms) * 1000;
        ApiCommon {
            name_sub: format!("${{Stage}}-{}", names::sub_literal(&plan.name)),
            description: if plan.description.is_empty() {
                format!("Order API of pipeline {}", plan.name)
            } else {
                plan.description.clone()
            },
            function_id: names::function_id(&Function::Api),
            integration_timeout_ms: plan
                .functions
                .api_timeout_ms
                .min(lambda_timeout_ms)
                .clamp(50, MAX_INTEGRATION_TIMEOUT_MS),
            access_log_group_sub: format!("/aws/apigateway/{}access", names::prefix_sub(&plan.name)),
            access_log_format,
            log_retention_days: plan.monitoring.log_retention_days,
            log_group_skips: log_group_skips(plan),
            throttle_rate: plan.api.throttle_rate,
            throttle_burst: plan.api.throttle_burst,
        }
    }
}
