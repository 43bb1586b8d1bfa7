//! What API Gateway does in front of the API Lambda, locally: an HTTP request becomes an
//! `ApiGatewayProxyRequest` (REST API proxy integration) and the handler's
//! `ApiGatewayProxyResponse` becomes the HTTP response.
//!
//! Like API Gateway: the path and path parameters are percent-decoded, the single-value maps keep
//! the last value of a repeated query parameter or header while the multi-value maps keep them all,
//! a body that is not UTF-8 is passed base64-encoded, bodies above 10 MiB are refused, and every
//! request gets a request id.

use std::collections::HashMap;
use std::net::SocketAddr;

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body as LambdaBody;
use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures::StreamExt as _;
use http::{HeaderValue, StatusCode};
use orchgen_runtime::Plan;
use orchgen_runtime::api::error::code;
use orchgen_runtime::api::{ApiError, match_path};

/// Largest body API Gateway accepts.
pub const MAX_GATEWAY_BODY: usize = 10 * 1024 * 1024;

/// Stage name put in the request context.
pub const STAGE: &str = "local";

/// The proxy event of an HTTP request, or the error response API Gateway itself would send.
pub async fn to_proxy_request(
    plan: &Plan,
    request: axum::extract::Request,
    peer: Option<SocketAddr>,
) -> Result<ApiGatewayProxyRequest, Response> {
    let request_id = ulid::Ulid::new().to_string();
    let (parts, body) = request.into_parts();
    let body = read_body(body, &request_id).await?;

    let path = percent_decode(parts.uri.path(), false);
    let matched = match_path(plan, &path);
    let (resource, params) = match matched.first() {
        Some(m) => (m.route.path.clone(), m.params.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        None => {
            ("/{proxy+}".to_owned(), HashMap::from([("proxy".to_owned(), path.trim_start_matches('/').to_owned())]))
        }
    };

    let mut event = ApiGatewayProxyRequest::default();
    event.http_method = parts.method.clone();
    event.path = Some(path.clone());
    event.resource = Some(resource.clone());
    event.path_parameters = params;
    for (name, value) in &parts.headers {
        event.headers.insert(name.clone(), value.clone());
        event.multi_value_headers.append(name.clone(), value.clone());
    }
    let (single, multi) = parse_query(parts.uri.query().unwrap_or_default());
    event.query_string_parameters = single.into();
    event.multi_value_query_string_parameters = multi.into();
    match std::str::from_utf8(&body) {
        _ if body.is_empty() => event.body = None,
        Ok(text) => event.body = Some(text.to_owned()),
        Err(_) => {
            event.body = Some(STANDARD.encode(&body));
            event.is_base64_encoded = true;
        }
    }

    let context = &mut event.request_context;
    context.request_id = Some(request_id);
    context.http_method = parts.method;
    context.stage = Some(STAGE.to_owned());
    context.path = Some(path);
    context.resource_path = Some(resource);
    context.protocol = Some(format!("{:?}", parts.version));
    context.request_time_epoch = chrono_now_ms();
    context.identity.source_ip = peer.map(|p| p.ip().to_string());
    context.identity.user_agent =
        parts.headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    Ok(event)
}

/// The HTTP response of a proxy response.
pub fn to_http_response(proxy: ApiGatewayProxyResponse) -> Response {
    let status = u16::try_from(proxy.status_code)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let bytes = match proxy.body {
        None | Some(LambdaBody::Empty) => Vec::new(),
        Some(LambdaBody::Text(t)) if proxy.is_base64_encoded => STANDARD.decode(t.as_bytes()).unwrap_or_default(),
        Some(LambdaBody::Text(t)) => t.into_bytes(),
        Some(LambdaBody::Binary(b)) => b,
        Some(other) => other.as_ref().to_vec(),
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in &proxy.multi_value_headers {
        headers.append(name.clone(), value.clone());
    }
    for (name, value) in &proxy.headers {
        headers.insert(name.clone(), value.clone());
    }
    response
}

/// The body, up to [`MAX_GATEWAY_BODY`] bytes; above it (or when it cannot be read) the error
/// response API Gateway would send.
async fn read_body(body: Body, request_id: &str) -> Result<Vec<u8>, Response> {
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            error_response(
                &ApiError::new(400, code::INVALID_JSON, format!("the body could not be read: {e}")),
                request_id,
            )
        })?;
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_GATEWAY_BODY {
            let message = format!("the body is larger than {MAX_GATEWAY_BODY} bytes");
            return Err(error_response(&ApiError::new(413, code::PAYLOAD_TOO_LARGE, message), request_id));
        }
    }
    Ok(bytes)
}

/// A response in the API's error shape.
pub fn error_response(error: &ApiError, request_id: &str) -> Response {
    let body = serde_json::to_vec(&error.body(request_id)).unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", id);
    }
    for (name, value) in &error.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(*name, value);
        }
    }
    response
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// The single-value (last value wins) and multi-value maps of a query string.
pub fn parse_query(query: &str) -> (HashMap<String, String>, HashMap<String, Vec<String>>) {
    let mut multi: HashMap<String, Vec<String>> = HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        multi.entry(percent_decode(name, true)).or_default().push(percent_decode(value, true));
    }
    let single = multi.iter().filter_map(|(k, v)| Some((k.clone(), v.last()?.clone()))).collect();
    (single, multi)
}

/// Decodes `%XX` escapes (and `+` as a space in query strings). Invalid escapes are kept as they are;
/// invalid UTF-8 is replaced.
pub fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c", true), "a b c");
        assert_eq!(percent_decode("a%20b+c", false), "a b+c");
        assert_eq!(percent_decode("%", true), "%");
        assert_eq!(percent_decode("%4", true), "%4");
        assert_eq!(percent_decode("%41", true), "A");
        assert_eq!(percent_decode("x%zz", true), "x%zz");
        assert_eq!(percent_decode("%C3%A9", true), "é");
        assert_eq!(percent_decode("%FF", true), "\u{FFFD}");
    }

    #[test]
    fn query_maps() {
        let (single, multi) = parse_query("status=COMPLETED&limit=5&status=FAILED&flag&next=a%2Bb");
        assert_eq!(single["status"], "FAILED");
        assert_eq!(multi["status"], ["COMPLETED", "FAILED"]);
        assert_eq!(single["limit"], "5");
        assert_eq!(single["flag"], "");
        assert_eq!(single["next"], "a+b");
        assert!(parse_query("").0.is_empty());
    }
}
