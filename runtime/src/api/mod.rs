//! The order API as a handler of API Gateway REST proxy events: the code the API Lambda runs, and
//! what `orchgen dev` serves locally through an HTTP adapter.
//!
//! [`Api::handle`] routes by `plan.api.routes` (`POST {path}`, `GET {path}`, `GET {path}/{id}`) and
//! always answers: 404 for unknown paths, 405 with `Allow` for wrong methods, the one error shape of
//! [`error`] for every failure, 503 with `Retry-After` when the store is unavailable, and a 500 that
//! leaks nothing for anything unexpected (a panic included). [`openapi()`] describes the same API.

mod body;
mod create;
pub mod error;
mod get;
mod list;
mod openapi;
mod request;
pub mod views;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use futures::FutureExt as _;
use tracing::Instrument as _;

use crate::plan::{Plan, RouteAction, RoutePlan};
use crate::store::Store;
use crate::telemetry::{Observer, Observers};

pub use body::{MAX_ITEMS, MAX_QUANTITY, MAX_STRING_CHARS, MAX_UNIT_PRICE};
pub use create::{MAX_IDEMPOTENCY_KEY_CHARS, request_hash};
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use openapi::openapi;

/// The port `orchgen dev` serves the order API on when none is given (and where `orchgen orders`
/// looks by default).
pub const LOCAL_PORT: u16 = 3000;

use error::code;
use request::Reply;

/// The order API over a store.
pub struct Api {
    plan: Arc<Plan>,
    store: Arc<dyn Store>,
    ids: Mutex<ulid::Generator>,
    observers: Observers,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("pipeline", &self.plan.name).finish_non_exhaustive()
    }
}

/// A route that matched a request path.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteMatch<'a> {
    /// The route.
    pub route: &'a RoutePlan,
    /// Path parameters by name (e.g. `orderId`).
    pub params: HashMap<String, String>,
}

impl Api {
    /// The API of `plan` over `store`.
    pub fn new(plan: Arc<Plan>, store: Arc<dyn Store>) -> Api {
        Api { plan, store, ids: Mutex::new(ulid::Generator::new()), observers: Observers::default() }
    }

    /// Adds an observer of every order created (dashboards, metrics).
    pub fn observe(&mut self, observer: Arc<dyn Observer>) -> &mut Api {
        self.observers.push(observer);
        self
    }

    /// The plan served.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Handles one proxy event. Never fails and never panics: every outcome is a response.
    pub async fn handle(&self, req: ApiGatewayProxyRequest) -> ApiGatewayProxyResponse {
        let started = Instant::now();
        let request_id = req
            .request_context
            .request_id
            .clone()
            .filter(|id| !id.is_empty() && id.len() <= 128)
            .unwrap_or_else(|| ulid::Ulid::new().to_string());
        // Every line logged while handling the request carries its id.
        let span = tracing::info_span!("request", %request_id);
        let outcome = AssertUnwindSafe(self.dispatch(&req)).catch_unwind().instrument(span.clone()).await;
        let reply = match outcome {
            Ok(Ok(reply)) => reply,
            Ok(Err(error)) => error_reply(&error, &request_id),
            Err(_) => {
                tracing::error!(%request_id, "the API handler panicked");
                error_reply(&ApiError::internal(), &request_id)
            }
        };
        let _entered = span.enter();
        tracing::info!(
            target: "orchgen::api",
            method = %req.http_method,
            path = req.path.as_deref().unwrap_or(""),
            status = reply.status,
            ms = started.elapsed().as_millis() as u64,
            %request_id,
        );
        reply.into_response(&request_id)
    }

    async fn dispatch(&self, req: &ApiGatewayProxyRequest) -> Result<Reply, ApiError> {
        let matched = self.route(req)?;
        match matched.route.action {
            RouteAction::Create => create::create(self, req).await,
            RouteAction::List => list::list(self, req).await,
            RouteAction::Get => {
                let id = req
                    .path_parameters
                    .get(&self.plan.api.id_param)
                    .or_else(|| matched.params.get(&self.plan.api.id_param))
                    .map(String::as_str)
                    .unwrap_or_default();
                get::get(self, id).await
            }
        }
    }

    /// The route of a request: 404 when no route has its path, 405 (with `Allow`) when none has its
    /// method. API Gateway's `resource` (the route template) decides when it names a route, so that a
    /// stage or base-path prefix in `path` does not matter; otherwise `path` is matched.
    fn route(&self, req: &ApiGatewayProxyRequest) -> Result<RouteMatch<'_>, ApiError> {
        let method = req.http_method.as_str();
        let path = req.path.as_deref().or(req.request_context.path.as_deref()).unwrap_or("/");
        let by_resource: Vec<RouteMatch<'_>> = match req.resource.as_deref() {
            Some(resource) => self
                .plan
                .api
                .routes
                .iter()
                .filter(|r| r.path == resource)
                .map(|route| RouteMatch { route, params: req.path_parameters.clone() })
                .collect(),
            None => Vec::new(),
        };
        let candidates = if by_resource.is_empty() { match_path(&self.plan, path) } else { by_resource };
        if let Some(m) = candidates.iter().find(|m| m.route.method.eq_ignore_ascii_case(method)) {
            return Ok(m.clone());
        }
        if candidates.is_empty() {
            return Err(ApiError::new(
                404,
                code::ROUTE_NOT_FOUND,
                format!("no route `{} {}`", request::truncate(method, 16), request::truncate(path, 128)),
            ));
        }
        let mut allow: Vec<String> = candidates.iter().map(|m| m.route.method.to_ascii_uppercase()).collect();
        allow.sort();
        allow.dedup();
        let allow = allow.join(", ");
        Err(ApiError::new(
            405,
            code::METHOD_NOT_ALLOWED,
            format!("`{}` is not allowed here; allowed: {allow}", request::truncate(method, 16)),
        )
        .with_header("Allow", allow))
    }

    /// A new order id: a ULID, strictly increasing within this process.
    fn next_id(&self, at: SystemTime) -> String {
        let generated = self.ids.lock().ok().and_then(|mut g| g.generate_from_datetime(at).ok());
        generated.unwrap_or_else(|| ulid::Ulid::from_datetime(at)).to_string()
    }
}

/// Every route whose path template matches `path` (one trailing `/` is ignored).
pub fn match_path<'a>(plan: &'a Plan, path: &str) -> Vec<RouteMatch<'a>> {
    let path = if path.len() > 1 { path.strip_suffix('/').unwrap_or(path) } else { path };
    plan.api
        .routes
        .iter()
        .filter_map(|route| match_template(&route.path, path).map(|params| RouteMatch { route, params }))
        .collect()
}

/// The parameters of `path` under `template` (`/orders/{orderId}`), when it matches.
fn match_template(template: &str, path: &str) -> Option<HashMap<String, String>> {
    let mut params = HashMap::new();
    let mut got = path.split('/');
    for want in template.split('/') {
        let seg = got.next()?;
        match want.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
            Some(name) if !seg.is_empty() => {
                params.insert(name.trim_end_matches('+').to_owned(), seg.to_owned());
            }
            Some(_) => return None,
            None if want == seg => {}
            None => return None,
        }
    }
    got.next().is_none().then_some(params)
}

fn error_reply(error: &ApiError, request_id: &str) -> Reply {
    let body = serde_json::to_value(error.body(request_id)).unwrap_or_default();
    Reply { status: error.status, body, headers: error.headers.clone() }
}
