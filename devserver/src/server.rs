//! The local HTTP server of `orchgen dev`: every request goes through the API Gateway adapter to
//! [`Api::handle`], except the `/_orchgen/*` endpoints for tests and dashboards:
//!
//! - `GET /_orchgen/openapi.json` — the OpenAPI document, with this server as its server URL;
//! - `GET /_orchgen/health` — `{"status": "ok", "pipeline", "charges", "processor": {counters}}`;
//! - `GET /_orchgen/inventory` — stock levels: `{"product-1": {"available": 98, "reserved": 0}, …}`;
//! - `GET /_orchgen/` (the live dashboard), `GET /_orchgen/status` (its JSON), `GET /metrics`
//!   (Prometheus text format): see [`dashboard`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::response::Html;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use orchgen_runtime::api::{Api, ApiError};
use orchgen_runtime::engine::Metrics;
use orchgen_runtime::store::Store;
use serde_json::{Value, json};

use crate::dashboard::{Dashboard, PROMETHEUS_CONTENT_TYPE, prometheus};
use crate::gateway;

/// What the handlers share.
pub struct DevState {
    /// The order API.
    pub api: Api,
    /// The store (for the `/_orchgen` endpoints).
    pub store: Arc<dyn Store>,
    /// The engine's counters.
    pub metrics: Arc<Metrics>,
    /// The OpenAPI document.
    pub openapi: Value,
    /// The live dashboard (`/_orchgen/`, `/_orchgen/status`, `/metrics`).
    pub dashboard: Dashboard,
}

/// The router of the dev server.
pub fn router(state: Arc<DevState>) -> Router {
    Router::new()
        .route("/_orchgen/openapi.json", get(openapi))
        .route("/_orchgen/health", get(health))
        .route("/_orchgen/inventory", get(inventory))
        .route("/_orchgen/", get(dashboard_page))
        .route("/_orchgen", get(dashboard_page))
        .route("/_orchgen/status", get(dashboard_status))
        .route("/metrics", get(dashboard_metrics))
        .fallback(proxy)
        .with_state(state)
}

async fn proxy(State(state): State<Arc<DevState>>, request: Request) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    match gateway::to_proxy_request(state.api.plan(), request, peer).await {
        Ok(event) => {
            let request_id = event.request_context.request_id.clone().unwrap_or_default();
            // In a task of its own: a client that hangs up does not cancel the request half-way, so
            // an order the store committed is also logged and counted (as on Lambda, where an
            // invocation runs to its end).
            let handled = tokio::spawn(async move { state.api.handle(event).await }).await;
            match handled {
                Ok(response) => gateway::to_http_response(response),
                Err(e) => gateway::error_response(
                    &ApiError::new(
                        500,
                        orchgen_runtime::api::error::code::INTERNAL_ERROR,
                        format!("the request failed: {e}"),
                    ),
                    &request_id,
                ),
            }
        }
        Err(response) => response,
    }
}

async fn openapi(State(state): State<Arc<DevState>>) -> Json<Value> {
    Json(state.openapi.clone())
}

async fn health(State(state): State<Arc<DevState>>) -> Response {
    match state.store.ledger_count().await {
        Ok(charges) => Json(json!({
            "status": "ok",
            "pipeline": state.api.plan().name,
            "charges": charges,
            "processor": state.metrics.snapshot(),
        }))
        .into_response(),
        Err(e) => store_error(e.into()),
    }
}

async fn inventory(State(state): State<Arc<DevState>>) -> Response {
    match state.store.inventory().await {
        Ok(stock) => Json(stock).into_response(),
        Err(e) => store_error(e.into()),
    }
}

/// A store failure as the API's error response.
fn store_error(error: ApiError) -> Response {
    gateway::error_response(&error, &ulid::Ulid::new().to_string())
}

// ------------------------------------------------------------------------------------------------
// Dashboard handlers
// ------------------------------------------------------------------------------------------------

/// `GET /_orchgen/`.
async fn dashboard_page(State(state): State<Arc<DevState>>) -> Response {
    let mut response = Html(state.dashboard.page().to_owned()).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

/// `GET /_orchgen/status`.
async fn dashboard_status(State(state): State<Arc<DevState>>) -> Response {
    match state.dashboard.status(state.store.as_ref(), state.metrics.snapshot()).await {
        Ok(status) => {
            let mut response = Json(status).into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => store_error(e.into()),
    }
}

/// `GET /metrics`.
async fn dashboard_metrics(State(state): State<Arc<DevState>>) -> Response {
    match state.dashboard.status(state.store.as_ref(), state.metrics.snapshot()).await {
        Ok(status) => ([(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)], prometheus(&status)).into_response(),
        Err(e) => store_error(e.into()),
    }
}
