//! The REST API of the template: a resource per path segment, a Lambda-proxy method per route,
//! CORS preflights, the declared auth, a deployment whose logical id follows the API's shape, and a
//! stage with access logs and throttling.

use std::collections::BTreeSet;

use orchgen_runtime::lambda::Function;
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
    /// RestApi name (`Fn::Sub`), also the `ApiName` metric dimension.
    pub name_sub: String,
    /// RestApi description.
    pub description: String,
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
    /// The API function's logical id.
    pub function_id: String,
    /// The proxy integration URI (`Fn::Sub`).
    pub integration_uri_sub: String,
    /// Integration timeout.
    pub integration_timeout_ms: u64,
    /// Logical id of the deployment (changes with the API's shape).
    pub deployment_id: String,
    /// What the deployment waits for.
    pub deployment_depends_on: Vec<String>,
    /// Access log group name (`Fn::Sub`).
    pub access_log_group_sub: String,
    /// Access log line format (JSON).
    pub access_log_format: String,
    /// Log retention.
    pub log_retention_days: u32,
    /// Justified checkov skips of the log group.
    pub log_group_skips: Vec<CheckovSkip>,
    /// Justified checkov skips of the stage.
    pub stage_skips: Vec<CheckovSkip>,
    /// Requests per second.
    pub throttle_rate: u32,
    /// Burst.
    pub throttle_burst: u32,
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

fn path_stem(segments: &[&str]) -> String {
    segments.iter().map(|s| segment_stem(s)).collect()
}

fn verb(method: &str) -> String {
    let lower = method.to_ascii_lowercase();
    names::pascal(&lower)
}

impl ApiContext {
    /// The REST API of `plan`.
    pub fn new(plan: &Plan) -> Result<ApiContext, CfnError> {
        let api = &plan.api;
        let function_id = names::function_id(&Function::Api);
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
            let arn_path: Vec<String> = segments
                .iter()
                .map(|s| if s.starts_with('{') { "*".to_owned() } else { names::sub_literal(s) })
                .collect();
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
                source_arn_sub: format!(
                    "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{RestApi}}/*/{method}/{}",
                    arn_path.join("/")
                ),
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
        Ok(ApiContext {
            name_sub: name_sub(plan),
            description: description(plan),
            resources,
            methods,
            preflights,
            authorization_type,
            api_key_required,
            api_key: api.auth == AuthMode::ApiKey,
            integration_uri_sub: format!(
                "arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}:lambda:path/2015-03-31/functions/${{{function_id}.Arn}}/invocations"
            ),
            function_id,
            integration_timeout_ms: integration_timeout_ms(plan),
            deployment_id: format!("ApiDeployment{hash}"),
            deployment_depends_on,
            access_log_group_sub: format!("/aws/apigateway/{}access", names::prefix_sub(&plan.name)),
            access_log_format,
            log_retention_days: plan.monitoring.log_retention_days,
            log_group_skips: log_group_skips(plan),
            stage_skips: vec![CheckovSkip::new(
                "CKV_AWS_120",
                "no stage cache: order statuses change while the pipeline runs and a cached GET would show stale ones",
            )],
            throttle_rate: api.throttle_rate,
            throttle_burst: api.throttle_burst,
            url_sub: "https://${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${ApiStage}".to_owned(),
        })
    }
}

/// The API's name (`Fn::Sub`): `<stage>-<pipeline>`, also the REST API's `ApiName` metric dimension.
pub fn name_sub(plan: &Plan) -> String {
    format!("${{Stage}}-{}", names::sub_literal(&plan.name))
}

/// The API's description: the pipeline's, or one naming it.
pub fn description(plan: &Plan) -> String {
    if plan.description.is_empty() { format!("Order API of pipeline {}", plan.name) } else { plan.description.clone() }
}

/// The proxy integration's timeout: the API function's, within what API Gateway allows.
pub fn integration_timeout_ms(plan: &Plan) -> u64 {
    let lambda_timeout_ms = super::functions::timeout_seconds(plan.functions.api_timeout_ms) * 1000;
    plan.functions.api_timeout_ms.min(lambda_timeout_ms).clamp(50, MAX_INTEGRATION_TIMEOUT_MS)
}
