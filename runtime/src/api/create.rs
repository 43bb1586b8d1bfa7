//! `POST {path}`: accept an order.
//!
//! Checks run cheapest first: media type (415), `Idempotency-Key` (400), size (413), JSON syntax (400
//! with the position), structure (400 with every field error). The order is stored `RECEIVED` with
//! its first change record before the 201 goes out, so an accepted order is never lost. With an
//! `Idempotency-Key`, a retry with the same body gets the same order back (200,
//! `Idempotent-Replayed: true`) and another body under the same key gets a 422.

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use chrono::Utc;
use sha2::{Digest, Sha256};

use crate::order::{Order, OrderRequest};
use crate::store::{Created, IdempotencyKey};

use super::Api;
use super::body;
use super::error::{ApiError, code};
use super::request::{Reply, body_bytes, header, require_json, truncate};
use super::views::{CreatedBody, Links, order_path};

/// Longest accepted `Idempotency-Key`, in characters.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// Handles `POST {path}`.
pub(super) async fn create(api: &Api, req: &ApiGatewayProxyRequest) -> Result<Reply, ApiError> {
    require_json(req)?;
    let key = idempotency_key(req)?;
    let bytes = body_bytes(req, api.plan.api.max_request_bytes)?;
    let value = parse_json(&bytes)?;
    let checked = body::check(&value).map_err(|fields| {
        let n = fields.len();
        ApiError::new(
            400,
            code::INVALID_BODY,
            format!("the order request has {n} invalid field{}", if n == 1 { "" } else { "s" }),
        )
        .with_fields(fields)
    })?;
    let key = key.map(|key| IdempotencyKey { key, request_hash: request_hash(&checked.request) });
    let order = api.new_order(checked.request, checked.total_cents);
    let path = order_path(&api.plan.api.path, &order.order_id);
    match api.store.create_order(&order, key.as_ref()).await? {
        Created::New => {
            tracing::info!(order_id = %order.order_id, total_cents = order.total_cents, "order accepted");
            api.observers.order_created(&order);
            let body =
                CreatedBody { order_id: order.order_id, status: order.status, links: Links { self_: path.clone() } };
            Ok(Reply::json(201, &body)?.with_header("Location", path))
        }
        Created::Existing(existing) => {
            let path = order_path(&api.plan.api.path, &existing.order_id);
            let body = CreatedBody {
                order_id: existing.order_id,
                status: existing.status,
                links: Links { self_: path.clone() },
            };
            Ok(Reply::json(200, &body)?.with_header("Location", path).with_header("Idempotent-Replayed", "true"))
        }
        Created::KeyReused { .. } => Err(ApiError::new(
            422,
            code::IDEMPOTENCY_KEY_REUSED,
            "this Idempotency-Key was already used with a different request body; use a new key for a new order",
        )),
    }
}

/// The `Idempotency-Key` header: absent, or 1 to 255 characters.
fn idempotency_key(req: &ApiGatewayProxyRequest) -> Result<Option<String>, ApiError> {
    if req.headers.get("idempotency-key").is_some() && header(req, "idempotency-key").is_none() {
        return Err(ApiError::parameter("Idempotency-Key", "must be printable ASCII"));
    }
    match header(req, "idempotency-key").map(str::trim) {
        None => Ok(None),
        Some("") => Err(ApiError::parameter("Idempotency-Key", "must not be empty")),
        Some(k) if k.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS => Err(ApiError::parameter(
            "Idempotency-Key",
            format!("must be at most {MAX_IDEMPOTENCY_KEY_CHARS} characters"),
        )),
        Some(k) => Ok(Some(k.to_owned())),
    }
}

/// The body as JSON; 400 with the line and column of the first syntax error.
fn parse_json(bytes: &[u8]) -> Result<serde_json::Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(400, code::INVALID_JSON, "the body is empty; an order request (JSON) is expected"));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ApiError::new(400, code::INVALID_JSON, format!("the body is not valid UTF-8 (at byte {})", e.valid_up_to()))
    })?;
    serde_json::from_str(text).map_err(|e| {
        let what = truncate(&e.to_string(), 200);
        ApiError::new(400, code::INVALID_JSON, format!("the body is not valid JSON: {what}")).with_fields(vec![
            crate::order::FieldError { path: "$".into(), message: format!("line {}, column {}", e.line(), e.column()) },
        ])
    })
}

/// A hash of the request, to tell a retry from another request under the same key. It hashes the
/// parsed request, so whitespace and key order do not matter.
pub fn request_hash(request: &OrderRequest) -> String {
    let canonical = serde_json::to_vec(request).unwrap_or_default();
    let digest = Sha256::digest(&canonical);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Api {
    /// A new order, `RECEIVED`, version 1, with a fresh ULID.
    fn new_order(&self, request: OrderRequest, total_cents: i64) -> Order {
        let now = Utc::now();
        Order::received(self.next_id(now.into()), request, total_cents, now)
    }
}
