//! The one error shape of the API: `{"error": {"code", "message", "fields": [{"path", "message"}],
//! "request_id"}}`, whatever went wrong and wherever.
//!
//! Handlers return an [`ApiError`]; [`super::Api::handle`] adds the request id and turns it into a
//! response. Store failures map to 503 (unavailable, with `Retry-After`) or to a 500 that says nothing
//! about internals: the details go to the log under the request id.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::order::FieldError;
use crate::store::StoreError;

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECS: u32 = 1;

/// Error codes.
pub mod code {
    /// No route has this path.
    pub const ROUTE_NOT_FOUND: &str = "ROUTE_NOT_FOUND";
    /// The path exists but not with this method.
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    /// The body is not `application/json`.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "UNSUPPORTED_MEDIA_TYPE";
    /// The body is larger than `max_request_bytes`.
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    /// The body is not JSON.
    pub const INVALID_JSON: &str = "INVALID_JSON";
    /// The body is JSON but not an order request.
    pub const INVALID_BODY: &str = "INVALID_BODY";
    /// A query parameter or header is invalid.
    pub const INVALID_PARAMETER: &str = "INVALID_PARAMETER";
    /// The idempotency key was used with another body.
    pub const IDEMPOTENCY_KEY_REUSED: &str = "IDEMPOTENCY_KEY_REUSED";
    /// No order has this id.
    pub const ORDER_NOT_FOUND: &str = "ORDER_NOT_FOUND";
    /// The store cannot be reached; retry later.
    pub const SERVICE_UNAVAILABLE: &str = "SERVICE_UNAVAILABLE";
    /// Something unexpected happened.
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    /// Machine-readable code, e.g. `INVALID_BODY`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// Every invalid field, with its path (`items[0].quantity`, `limit`, `Idempotency-Key`); empty
    /// when the error is not about fields.
    pub fields: Vec<FieldError>,
    /// The request's id, also in the `X-Request-Id` header: quote it when reporting a problem.
    pub request_id: String,
}

/// An error response waiting for its request id.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Machine-readable code (see [`code`]).
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// Invalid fields.
    pub fields: Vec<FieldError>,
    /// Extra response headers (`Allow`, `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    /// An error without fields.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), fields: Vec::new(), headers: Vec::new() }
    }

    /// Adds the invalid fields.
    pub fn with_fields(mut self, fields: Vec<FieldError>) -> ApiError {
        self.fields = fields;
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> ApiError {
        self.headers.push((name, value.into()));
        self
    }

    /// A 400 about one query parameter or header.
    pub fn parameter(path: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError::new(400, code::INVALID_PARAMETER, format!("`{path}` is invalid: {message}"))
            .with_fields(vec![FieldError { path: path.to_owned(), message }])
    }

    /// A 500 that leaks nothing.
    pub fn internal() -> ApiError {
        ApiError::new(500, code::INTERNAL_ERROR, "an unexpected error occurred; please report it with the request id")
    }

    /// The response body for this request.
    pub fn body(&self, request_id: &str) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
                fields: self.fields.clone(),
                request_id: request_id.to_owned(),
            },
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "store unavailable");
                ApiError::new(503, code::SERVICE_UNAVAILABLE, "the order store is temporarily unavailable; retry later")
                    .with_header("Retry-After", RETRY_AFTER_SECS.to_string())
            }
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::internal()
            }
        }
    }
}
