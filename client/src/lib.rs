//! A client of the orchgen order API: a running `orchgen dev` (the default URL) or a deployed stage
//! (an API key sent as `x-api-key`, or requests signed with SigV4 for an IAM-protected API,
//! implied for an execute-api URL without an API key), and the text renderings of its answers
//! that `orchgen orders list|get|submit` prints.
//!
//! Errors say whether the user's input was wrong ([`OrdersError::Usage`], exit 2) or the API
//! refused the request, could not be reached or answered something unreadable
//! ([`OrdersError::Api`], exit 1).

pub mod sigv4;

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use orchgen_runtime::api::views::{CreatedBody, ListBody, OrderSummary, OrderView};
use orchgen_runtime::error_text::error_chain;
use orchgen_runtime::order::HistoryEntry;
use reqwest::Url;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::sigv4::Signer;

/// The environment variable holding the API key when `--api-key` is not given.
pub const ENV_API_KEY: &str = "ORCHGEN_API_KEY";
/// The header carrying the API key (API Gateway's).
pub const API_KEY_HEADER: &str = "x-api-key";
/// The orders collection's path when `--path` is not given (the pipeline's default `api.path`).
pub const DEFAULT_PATH: &str = "/orders";

/// The URL of `orchgen dev` with its default port.
pub fn default_url() -> String {
    format!("http://127.0.0.1:{}", orchgen_runtime::api::LOCAL_PORT)
}

/// Where the API is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Base URL of the API.
    pub url: String,
    /// API key, sent as `x-api-key` (default: the ORCHGEN_API_KEY environment variable).
    pub api_key: Option<String>,
    /// Sign the requests with AWS Signature V4 (implied for an execute-api URL without a key).
    pub sigv4: bool,
    /// Path of the orders collection under the URL.
    pub path: String,
    /// Time limit of each HTTP request, in seconds.
    pub timeout: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum OrdersError {
    /// Bad input from the user (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The API refused the request, could not be reached or answered nonsense (exit 1).
    #[error("{0}")]
    Api(String),
    /// Writing the output failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl OrdersError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            OrdersError::Usage(_) => 2,
            OrdersError::Api(_) | OrdersError::Io(_) => 1,
        }
    }
}

/// Reads and parses the order body: it must be a JSON object (the API checks the fields).
pub fn read_order(file: &Path, stdin: &mut dyn Read) -> Result<Value, OrdersError> {
    let (text, from) = if file.as_os_str() == "-" {
        let mut text = String::new();
        stdin
            .read_to_string(&mut text)
            .map_err(|e| OrdersError::Usage(format!("cannot read the order from standard input: {e}")))?;
        (text, "standard input".to_owned())
    } else {
        let text = std::fs::read_to_string(file)
            .map_err(|e| OrdersError::Usage(format!("cannot read {}: {e}", file.display())))?;
        (text, file.display().to_string())
    };
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| OrdersError::Usage(format!("{from} is not valid JSON: {e} (an order is a JSON object)")))?;
    if !value.is_object() {
        return Err(OrdersError::Usage(format!("{from} holds JSON but not an object: an order is a JSON object")));
    }
    Ok(value)
}

/// The order API over HTTP.
pub struct ApiClient {
    client: Client,
    base: Url,
    api_key: Option<String>,
    signer: Option<Signer>,
}

impl ApiClient {
    /// A client for `options` (a bad URL is a usage error).
    pub fn new(args: &ClientOptions) -> Result<ApiClient, OrdersError> {
        let url = args.url.trim();
        let mut base = Url::parse(url).map_err(|e| OrdersError::Usage(format!("--url `{url}` is not a URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(OrdersError::Usage(format!("--url `{url}` is not an http(s) URL")));
        }
        if base.cannot_be_a_base() {
            return Err(OrdersError::Usage(format!("--url `{url}` cannot have paths under it")));
        }
        {
            let mut segments =
                base.path_segments_mut().map_err(|()| OrdersError::Usage(format!("--url `{url}` has no path")))?;
            segments.pop_if_empty();
            segments.extend(args.path.split('/').filter(|s| !s.is_empty()));
        }
        let client = Client::builder()
            .timeout(Duration::from_secs(args.timeout.max(1)))
            .user_agent(concat!("orchgen/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OrdersError::Api(format!("cannot start the HTTP client: {e}")))?;
        let api_key = args.api_key.clone().or_else(|| std::env::var(ENV_API_KEY).ok()).filter(|k| !k.is_empty());
        let host = base.host_str().unwrap_or_default().to_owned();
        let sign = args.sigv4 || (api_key.is_none() && crate::sigv4::region_of_host(&host).is_some());
        let signer = if sign {
            Some(Signer::from_environment(&host).map_err(|e| OrdersError::Usage(e.to_string()))?)
        } else {
            None
        };
        Ok(ApiClient { client, base, api_key, signer })
    }

    fn url(&self, id: Option<&str>) -> Url {
        let mut url = self.base.clone();
        if let (Some(id), Ok(mut segments)) = (id, url.path_segments_mut()) {
            segments.push(id);
        }
        url
    }

    /// One page of orders, newest first.
    pub fn list(&self, status: Option<&str>, limit: Option<u32>, next: Option<&str>) -> Result<ListBody, OrdersError> {
        let mut url = self.url(None);
        {
            let mut query = url.query_pairs_mut();
            if let Some(status) = status {
                query.append_pair("status", status);
            }
            if let Some(limit) = limit {
                query.append_pair("limit", &limit.to_string());
            }
            if let Some(next) = next {
                query.append_pair("next", next);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let (page, _) = self.send(self.client.get(url.clone()), &url)?;
        Ok(page)
    }

    /// One order: its view and the API's JSON.
    pub fn get(&self, id: &str) -> Result<(OrderView, Value), OrdersError> {
        let url = self.url(Some(id));
        self.send(self.client.get(url.clone()), &url)
    }

    /// Submits an order body: the created order and the API's JSON.
    pub fn submit(&self, body: &Value, idempotency_key: Option<&str>) -> Result<(CreatedBody, Value), OrdersError> {
        let url = self.url(None);
        let mut request = self.client.post(url.clone()).json(body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        self.send(request, &url)
    }

    /// Sends the request; a 2xx body read as `T` (and as JSON, for `--format json`), anything else an error.
    fn send<T: DeserializeOwned>(&self, request: RequestBuilder, url: &Url) -> Result<(T, Value), OrdersError> {
        let mut request = request.header("accept", "application/json");
        if let Some(key) = &self.api_key {
            request = request.header(API_KEY_HEADER, key);
        }
        let mut request = request.build().map_err(|e| no_answer(&e, url))?;
        if let Some(signer) = &self.signer {
            signer
                .sign(&mut request, std::time::SystemTime::now())
                .map_err(|e| OrdersError::Api(format!("{url}: {e}")))?;
        }
        let response = self.client.execute(request).map_err(|e| no_answer(&e, url))?;
        let status = response.status();
        let text = read_text(response, url)?;
        if !status.is_success() {
            return Err(OrdersError::Api(api_error(status, &text)));
        }
        let raw: Value = serde_json::from_str(&text).map_err(|e| {
            OrdersError::Api(format!("{url} answered {status} with a body that is not JSON ({e}): {}", excerpt(&text)))
        })?;
        let typed = serde_json::from_value(raw.clone()).map_err(|e| {
            OrdersError::Api(format!(
                "{url} answered {status} with JSON that is not the order API's ({e}); is --url/--path the order API? {}",
                excerpt(&text)
            ))
        })?;
        Ok((typed, raw))
    }
}

fn read_text(response: Response, url: &Url) -> Result<String, OrdersError> {
    response.text().map_err(|e| OrdersError::Api(format!("reading the answer of {url} failed: {}", error_chain(&e))))
}

/// The message of a request that got no answer.
fn no_answer(error: &reqwest::Error, url: &Url) -> OrdersError {
    let what =
        if error.is_timeout() { "no answer within the time limit (--timeout)".to_owned() } else { error_chain(error) };
    let mut message = format!("cannot reach the order API at {url}: {what}");
    if error.is_connect() && url.host_str().is_some_and(|h| h == "127.0.0.1" || h == "localhost") {
        message.push_str("\n  is `orchgen dev` running? Start it, or pass --url with the API's address");
    }
    OrdersError::Api(message)
}

/// The message of an error answer: the API's `{"error": {code, message, fields, request_id}}`, API
/// Gateway's `{"message": …}`, or the start of the body.
fn api_error(status: reqwest::StatusCode, text: &str) -> String {
    let body: Option<Value> = serde_json::from_str(text).ok();
    let detail = body.as_ref().and_then(|b| b.get("error")).filter(|e| e.is_object());
    if let Some(detail) = detail {
        let field = |name: &str| detail.get(name).and_then(Value::as_str).unwrap_or_default();
        let mut message = format!("the API answered {status}: {}: {}", field("code"), field("message"));
        if let Some(fields) = detail.get("fields").and_then(Value::as_array) {
            for f in fields {
                let path = f.get("path").and_then(Value::as_str).unwrap_or_default();
                let why = f.get("message").and_then(Value::as_str).unwrap_or_default();
                message.push_str(&format!("\n  {path}: {why}"));
            }
        }
        if !field("request_id").is_empty() {
            message.push_str(&format!("\n  request id: {}", field("request_id")));
        }
        return message;
    }
    if let Some(message) = body.as_ref().and_then(|b| b.get("message")).and_then(Value::as_str) {
        let hint = if status.as_u16() == 403 {
            " (not allowed: a missing or wrong API key (--api-key / ORCHGEN_API_KEY), or, for an IAM-protected API, unsigned requests (--sigv4) or credentials without execute-api:Invoke)"
        } else {
            ""
        };
        return format!("the API answered {status}: {message}{hint}");
    }
    format!("the API answered {status}: {}", excerpt(text))
}

/// At most 200 characters of a body, on one line.
fn excerpt(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut cut: String = one_line.chars().take(200).collect();
    if cut.len() < one_line.len() {
        cut.push('…');
    }
    if cut.is_empty() { "(empty body)".to_owned() } else { cut }
}

/// Left-aligned columns separated by two spaces, without trailing blanks.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> =
            row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<width$}", width = *w)).collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

fn money(amount: f64, currency: Option<&str>) -> String {
    match currency {
        Some(c) => format!("{amount:.2} {c}"),
        None => format!("{amount:.2}"),
    }
}

/// The text of `orders list`.
pub fn list_text(orders: &[OrderSummary]) -> String {
    if orders.is_empty() {
        return "no orders\n".to_owned();
    }
    let rows: Vec<Vec<String>> = orders
        .iter()
        .map(|o| {
            vec![
                o.order_id.clone(),
                o.status.clone(),
                o.created_at.clone(),
                o.customer_id.clone(),
                o.item_count.to_string(),
                money(o.total, None),
                o.failure_code.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut text = table(&["ORDER", "STATUS", "CREATED", "CUSTOMER", "ITEMS", "TOTAL", "FAILURE"], &rows);
    text.push_str(&format!("{} order(s)\n", orders.len()));
    text
}

/// The text of `orders get`: the order, its steps timeline, failure, charge and shipment.
pub fn order_text(order: &OrderView) -> String {
    let currency = order.currency.as_deref();
    let mut text = format!("order     {}\n", order.order_id);
    text.push_str(&format!("status    {}{}\n", order.status, if order.terminal { " (final)" } else { "" }));
    text.push_str(&format!("version   {}\n", order.version));
    text.push_str(&format!("created   {}\nupdated   {}\n", order.created_at, order.updated_at));
    text.push_str(&format!(
        "customer  {} {} <{}>\n",
        order.customer.customer_id, order.customer.name, order.customer.email
    ));
    let a = &order.shipping_address;
    text.push_str(&format!("ship to   {}, {} {} {}, {}\n", a.street, a.city, a.state, a.postal_code, a.country));
    text.push_str(&format!("total     {} ({})\n", money(order.total, currency), order.payment_method));
    match &order.charge {
        Some(c) => text.push_str(&format!(
            "charge    {} {}{}\n",
            c.charge_id,
            money(c.amount, Some(&c.currency)),
            if c.refunded { " (refunded)" } else { "" }
        )),
        None => text.push_str("charge    -\n"),
    }
    match &order.shipment {
        Some(s) => text.push_str(&format!("shipment  {} {}\n", s.carrier, s.tracking_id)),
        None => text.push_str("shipment  -\n"),
    }
    if let Some(f) = &order.failure {
        text.push_str(&format!("failure   step {}: {}: {}\n", f.step, f.code, f.message));
        for field in &f.fields {
            text.push_str(&format!("          {}: {}\n", field.path, field.message));
        }
    }
    text.push_str("\nitems\n");
    let items: Vec<Vec<String>> = order
        .items
        .iter()
        .map(|i| {
            vec![i.product_id.clone(), i.quantity.to_string(), money(i.unit_price, None), money(i.line_total, None)]
        })
        .collect();
    text.push_str(&indent(&table(&["PRODUCT", "QTY", "UNIT", "TOTAL"], &items)));
    text.push_str("\nsteps\n");
    if order.history.is_empty() {
        text.push_str("  (none ran yet)\n");
    } else {
        text.push_str(&indent(&timeline(&order.history)));
    }
    text
}

fn timeline(history: &[HistoryEntry]) -> String {
    let rows: Vec<Vec<String>> = history
        .iter()
        .map(|h| {
            let outcome = serde_json::to_value(h.outcome).ok().and_then(|v| v.as_str().map(str::to_owned));
            vec![
                h.step.clone(),
                h.attempt.to_string(),
                outcome.unwrap_or_else(|| format!("{:?}", h.outcome)),
                format!("{} ms", h.duration_ms),
                h.at.clone(),
                h.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(&["STEP", "ATTEMPT", "OUTCOME", "DURATION", "AT", "ERROR"], &rows)
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_errors_read_well() {
        let t = table(&["A", "LONGER"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "A    LONGER\nxyz  1\n");
        let body = r#"{"error":{"code":"ORDER_NOT_FOUND","message":"no order `x`","fields":[],"request_id":"r1"}}"#;
        let message = api_error(reqwest::StatusCode::NOT_FOUND, body);
        assert_eq!(message, "the API answered 404 Not Found: ORDER_NOT_FOUND: no order `x`\n  request id: r1");
        let gateway = api_error(reqwest::StatusCode::FORBIDDEN, r#"{"message":"Forbidden"}"#);
        assert!(gateway.contains("Forbidden") && gateway.contains("--api-key"), "{gateway}");
        assert_eq!(excerpt("  "), "(empty body)");
    }
}
