//! Reading an API Gateway proxy event: headers, the body (base64 or not, size-capped), query
//! parameters (single and multi-valued), and building the JSON response.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine as _;
use http::{HeaderName, HeaderValue};

use super::error::{ApiError, code};

/// A response waiting for its request id.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: serde_json::Value,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// A JSON reply.
    pub fn json(status: u16, body: &impl serde::Serialize) -> Result<Reply, ApiError> {
        let body = serde_json::to_value(body).map_err(|e| {
            tracing::error!(error = %e, "response does not serialise");
            ApiError::internal()
        })?;
        Ok(Reply { status, body, headers: Vec::new() })
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    /// The proxy response, with `Content-Type`, `Cache-Control` and `X-Request-Id`.
    pub fn into_response(self, request_id: &str) -> ApiGatewayProxyResponse {
        let mut response = ApiGatewayProxyResponse::default();
        response.status_code = i64::from(self.status);
        let fixed = [("content-type", "application/json"), ("cache-control", "no-store"), ("x-request-id", request_id)];
        for (name, value) in fixed.into_iter().chain(self.headers.iter().map(|(n, v)| (*n, v.as_str()))) {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                response.headers.insert(name, value);
            }
        }
        let text = serde_json::to_string(&self.body).unwrap_or_else(|_| String::from("{}"));
        response.body = Some(Body::Text(text));
        response
    }
}

/// A header's value, when present and readable.
pub fn header<'a>(req: &'a ApiGatewayProxyRequest, name: &str) -> Option<&'a str> {
    req.headers.get(name).or_else(|| req.multi_value_headers.get(name)).and_then(|v| v.to_str().ok())
}

/// 415 unless the body is declared `application/json` (a `charset` parameter, if any, must be UTF-8).
pub fn require_json(req: &ApiGatewayProxyRequest) -> Result<(), ApiError> {
    let refuse = |found: &str| {
        ApiError::new(
            415,
            code::UNSUPPORTED_MEDIA_TYPE,
            format!("the body must be sent as `Content-Type: application/json`, found {found}"),
        )
    };
    let Some(value) = header(req, "content-type") else {
        return Err(refuse("no Content-Type"));
    };
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(refuse(&format!("`{}`", truncate(value, 100))));
    }
    for param in parts {
        let (name, val) = param.split_once('=').unwrap_or((param, ""));
        let val = val.trim().trim_matches('"');
        if name.trim().eq_ignore_ascii_case("charset")
            && !val.eq_ignore_ascii_case("utf-8")
            && !val.eq_ignore_ascii_case("utf8")
        {
            return Err(refuse(&format!("charset `{}` (only UTF-8 is accepted)", truncate(val, 40))));
        }
    }
    Ok(())
}

/// The raw body (base64-decoded when the event says so); 413 above `max` bytes.
pub fn body_bytes(req: &ApiGatewayProxyRequest, max: u64) -> Result<Vec<u8>, ApiError> {
    let too_large = |size: u64| {
        ApiError::new(
            413,
            code::PAYLOAD_TOO_LARGE,
            format!("the body is {size} bytes; at most {max} bytes are accepted"),
        )
    };
    let raw = req.body.as_deref().unwrap_or_default();
    let bytes = if req.is_base64_encoded {
        // Base64 grows data by 4/3: refuse before decoding anything absurdly large.
        let decoded_at_least = (raw.len() as u64 / 4) * 3;
        if decoded_at_least > max.saturating_add(3) {
            return Err(too_large(decoded_at_least));
        }
        base64::engine::general_purpose::STANDARD.decode(raw.trim()).map_err(|_| {
            ApiError::new(400, code::INVALID_JSON, "the body is marked base64-encoded but is not valid base64")
        })?
    } else {
        raw.as_bytes().to_vec()
    };
    if bytes.len() as u64 > max {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// A query parameter given at most once (an absent or repeated-with-the-same-value parameter is fine).
pub fn query<'a>(req: &'a ApiGatewayProxyRequest, name: &str) -> Result<Option<&'a str>, ApiError> {
    if let Some(all) = req.multi_value_query_string_parameters.all(name)
        && all.iter().any(|v| *v != all[0])
    {
        return Err(ApiError::parameter(name, "must be given at most once"));
    }
    Ok(req.query_string_parameters.first(name).or_else(|| req.multi_value_query_string_parameters.first(name)))
}

/// At most `max` characters of `s`, for echoing input in messages.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}
