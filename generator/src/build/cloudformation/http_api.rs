//! The HTTP API of the template (`api.kind: http`): one Lambda-proxy integration (payload format
//! 1.0, the event the API function reads for a REST API too), a route per plan route with the
//! declared auth, a Lambda permission per route, CORS in the API's own configuration, and the
//! `$default` stage (auto-deployed) with access logs and throttling.
//!
//! The `$default` stage serves the API at its root, so the paths the function sees are the plan's
//! (a named stage would prefix them). HTTP APIs have no API keys: validation refuses
//! `auth: api_key` with `kind: http`, and this module refuses it too.

use orchgen_runtime::plan::{AuthMode, Plan, RouteAction};
use serde::Serialize;
use serde_json::json;

use super::api::{self, ApiCommon, CORS_ALLOW_HEADERS};
use super::{CfnError, CheckovSkip};

/// The stage name of an HTTP API served at its root.
pub const DEFAULT_STAGE: &str = "$default";

/// Context of `http_api.json.tera`.
#[derive(Debug, Serialize)]
pub struct HttpApiContext {
    /// What both kinds of API share.
    #[serde(flatten)]
    pub common: ApiCommon,
    /// The routes.
    pub routes: Vec<HttpRouteContext>,
    /// CORS origins (empty: no CORS configuration).
    pub cors_origins: Vec<String>,
    /// CORS methods.
    pub cors_methods: Vec<String>,
    /// CORS headers.
    pub cors_headers: Vec<String>,
    /// The stage name.
    pub stage_name: &'static str,
}

/// An `AWS::ApiGatewayV2::Route` and its Lambda permission.
#[derive(Debug, Serialize)]
pub struct HttpRouteContext {
    /// Logical id of the route.
    pub id: String,
    /// `METHOD /path/{param}`.
    pub route_key: String,
    /// Operation name (as in the OpenAPI document).
    pub operation: &'static str,
    /// `AWS_IAM` or `NONE`.
    pub authorization_type: &'static str,
    /// Logical id of the Lambda permission.
    pub permission_id: String,
    /// The permission's source ARN (`Fn::Sub`).
    pub source_arn_sub: String,
    /// Justified checkov skips.
    pub checkov_skips: Vec<CheckovSkip>,
}

impl HttpApiContext {
    /// The HTTP API of `plan`.
    pub fn new(plan: &Plan) -> Result<HttpApiContext, CfnError> {
        let api = &plan.api;
        let authorization_type = match api.auth {
            AuthMode::Iam => "AWS_IAM",
            AuthMode::None => "NONE",
            AuthMode::ApiKey => {
                return Err(CfnError::Unsupported(
                    "an HTTP API has no API keys: use `auth: iam` or `kind: rest`".to_owned(),
                ));
            }
        };
        let mut routes = Vec::new();
        let mut cors_methods = vec!["OPTIONS".to_owned()];
        for route in &api.routes {
            let segments: Vec<&str> = route.path.split('/').filter(|s| !s.is_empty()).collect();
            if segments.is_empty() {
                return Err(CfnError::Unsupported(format!(
                    "route `{} {}` has no path segment",
                    route.method, route.path
                )));
            }
            let method = route.method.to_ascii_uppercase();
            if !cors_methods.contains(&method) {
                cors_methods.push(method.clone());
            }
            let stem = api::path_stem(&segments);
            let verb = api::verb(&method);
            let mut checkov_skips = Vec::new();
            if api.auth == AuthMode::None {
                checkov_skips.push(CheckovSkip::new(
                    "CKV_AWS_309",
                    "the pipeline declares `api.auth: none`: this API is public on purpose",
                ));
            }
            routes.push(HttpRouteContext {
                id: format!("ApiRoute{stem}{verb}"),
                route_key: format!("{method} {}", route.path),
                operation: match route.action {
                    RouteAction::Create => "createOrder",
                    RouteAction::List => "listOrders",
                    RouteAction::Get => "getOrder",
                },
                authorization_type,
                permission_id: format!("ApiPermission{stem}{verb}"),
                source_arn_sub: api::invoke_source_arn_sub("HttpApi", &method, &segments),
                checkov_skips,
            });
        }
        for origin in &api.cors_origins {
            if origin.is_empty() || origin.chars().any(char::is_whitespace) {
                return Err(CfnError::Unsupported(format!("the CORS origin `{origin}` is not an origin")));
            }
        }
        let access_log_format = json!({
            "requestId": "$context.requestId",
            "ip": "$context.identity.sourceIp",
            "caller": "$context.identity.caller",
            "user": "$context.identity.user",
            "requestTime": "$context.requestTime",
            "httpMethod": "$context.httpMethod",
            "routeKey": "$context.routeKey",
            "status": "$context.status",
            "protocol": "$context.protocol",
            "responseLength": "$context.responseLength",
            "integrationLatency": "$context.integrationLatency",
            "responseLatency": "$context.responseLatency",
            "integrationError": "$context.integrationErrorMessage",
            "errorMessage": "$context.error.message",
        })
        .to_string();
        Ok(HttpApiContext {
            common: ApiCommon::new(plan, access_log_format),
            routes,
            cors_origins: api.cors_origins.clone(),
            cors_methods,
            cors_headers: CORS_ALLOW_HEADERS.split(',').map(str::to_owned).collect(),
            stage_name: DEFAULT_STAGE,
        })
    }
}
