//! `http` steps and compensations: the order is sent to a service over HTTP.
//!
//! **Request.** `POST` (or the plan's method) to the plan's URL with a JSON body, an
//! [`HttpStepRequest`]: the order (as stored: items, customer, charge, outputs of earlier steps,
//! history) and the step's context. Headers:
//! `Content-Type: application/json`, `Accept: application/json`, `User-Agent: orchgen/<version>`,
//! `Idempotency-Key` (the same for every attempt and every re-delivery of one step of one order:
//! a provider that keeps it acts once), the plan's headers with their secrets filled in
//! ([`crate::secrets`]), and, when the plan signs, the signature header
//! `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
//!
//! **Response.**
//! - 2xx: success; a JSON body is kept as the step's output (`outputs.<step>`), another non-empty
//!   body as a JSON string, an empty one not at all. A body larger than `max_response_bytes` is a
//!   terminal `HTTP_RESPONSE_TOO_LARGE`.
//! - 408, 425, 429 and 5xx: retryable `HTTP_<status>`; a `Retry-After` (seconds or HTTP date) is
//!   passed to the engine, which waits at least that long (up to the step's timeout) before the
//!   next attempt.
//! - 400, 402, 409, 410, 412, 422 and 451: `HTTP_<status>`, a refusal ([`StepError::reject`]): the
//!   service said no to this order (invalid for it, payment declined, a conflict); the order ends
//!   `REJECTED`, or `CANCELLED` after its compensations. Its status and an excerpt of its answer (at
//!   most 200 characters) are in the message.
//! - Other 4xx (401, 403, 404, 405, 413, 415, ...): `HTTP_<status>`, a terminal fault: the call
//!   itself is wrong (credentials, permissions, URL, method) whatever the order, so the order ends
//!   `FAILED`.
//! - 3xx: terminal `HTTP_REDIRECT` unless the plan says `follow_redirects`.
//! - No connection: retryable `HTTP_UNREACHABLE`; no answer within the step's timeout: retryable
//!   `TIMEOUT` (the engine's code for the same fault); another transport error: retryable
//!   `HTTP_REQUEST_FAILED`.
//! - A referenced secret that is not set (or, on AWS, a parameter or secret that does not
//!   exist): terminal `SECRET_MISSING`, naming the reference (never a value); one the function may
//!   not read: terminal `SECRET_UNREADABLE`; SSM or Secrets Manager unreachable: retryable
//!   `SECRET_UNAVAILABLE`. Where secrets come from is the handler's [`SecretSource`].
//!
//! No feature needed: the same code runs in `orchgen dev` and in the step's Lambda function.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error_text::error_chain;
use crate::order::Order;
use crate::plan::{HttpPlan, Plan};
use crate::secrets::{self, ExpandError, SecretRef};

use super::{StepError, StepHandler, StepInput, StepOutput};

/// The idempotency header sent with every request.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// Headers the runtime sets itself; a plan may not set them.
pub const RESERVED_HEADERS: [&str; 5] =
    ["content-type", "content-length", "host", "idempotency-key", "transfer-encoding"];

/// How much of a provider's error answer is read for its excerpt, in bytes (the message keeps 200
/// characters of it).
const EXCERPT_READ_BYTES: usize = 800;

/// The body of an `http` step's request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpStepRequest {
    /// The order as it is before the step, as stored (outputs of earlier steps and history included).
    pub order: Order,
    /// Which step of which order this is.
    pub context: HttpStepContext,
}

/// The step's context in an [`HttpStepRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpStepContext {
    /// The pipeline's name.
    pub pipeline: String,
    /// The order's id.
    pub order_id: String,
    /// The step (for a compensation: the step it undoes).
    pub step: String,
    /// The compensation, when this request undoes `step`.
    pub compensation: Option<String>,
    /// The attempt, from 1.
    pub attempt: u32,
    /// Also sent as the `Idempotency-Key` header: the same for every attempt and re-delivery.
    pub idempotency_key: String,
}

/// Where an [`HttpStep`] reads the secrets it sends.
#[derive(Debug, Clone, Default)]
pub enum SecretSource {
    /// The process environment, each secret under [`SecretRef::local_env`]: `orchgen dev`.
    #[default]
    Environment,
    /// On AWS: `${env:NAME}` from the function's environment, `${ssm:…}` and
    /// `${secretsmanager:…}` from their services, cached.
    #[cfg(feature = "aws-secrets")]
    Aws(std::sync::Arc<secrets::aws::AwsSecrets>),
}

/// Runs `http` steps and compensations.
#[derive(Debug, Default)]
pub struct HttpStep {
    /// Built on first use: one without redirects, one following at most 5.
    clients: OnceLock<Result<(reqwest::Client, reqwest::Client), String>>,
    /// Where its secrets come from.
    secrets: SecretSource,
}

impl HttpStep {
    /// A handler reading secrets from the environment; its HTTP clients are built on first use.
    pub fn new() -> HttpStep {
        HttpStep::default()
    }

    /// A handler reading secrets from `source`.
    pub fn with_secrets(source: SecretSource) -> HttpStep {
        HttpStep { secrets: source, ..HttpStep::default() }
    }

    /// The value of every secret `http` reads, by reference.
    async fn secrets(&self, http: &HttpPlan, name: &str) -> Result<BTreeMap<SecretRef, String>, StepError> {
        let mut values = BTreeMap::new();
        for reference in http.secret_refs() {
            let value = match &self.secrets {
                SecretSource::Environment => std::env::var(reference.local_env()).map_err(|_| {
                    let variable = reference.local_env();
                    let read_as = if reference.env_name().is_some() {
                        String::new()
                    } else {
                        format!(" (read locally from the environment variable {variable})")
                    };
                    StepError::terminal(
                        "SECRET_MISSING",
                        format!(
                            "`{name}` needs the secret {reference}{read_as}, and it is not set in the environment of the process running the step"
                        ),
                    )
                })?,
                #[cfg(feature = "aws-secrets")]
                SecretSource::Aws(aws) => aws.get(&reference).await.map_err(|e| {
                    use secrets::aws::FetchError;
                    match e {
                        FetchError::NotFound(why) => StepError::terminal(
                            "SECRET_MISSING",
                            format!("`{name}` needs the secret {reference}: {why}"),
                        ),
                        FetchError::Denied(why) => StepError::terminal(
                            "SECRET_UNREADABLE",
                            format!("`{name}` may not read the secret {reference}: {why}"),
                        ),
                        FetchError::Unavailable(why) => StepError::retryable(
                            "SECRET_UNAVAILABLE",
                            format!("`{name}` could not read the secret {reference}: {why}"),
                        ),
                    }
                })?,
            };
            values.insert(reference, value);
        }
        Ok(values)
    }

    fn client(&self, follow_redirects: bool) -> Result<&reqwest::Client, StepError> {
        let clients = self.clients.get_or_init(|| {
            let build = |policy| {
                reqwest::Client::builder()
                    .redirect(policy)
                    .user_agent(concat!("orchgen/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| format!("the HTTP client cannot start: {e}"))
            };
            Ok((build(reqwest::redirect::Policy::none())?, build(reqwest::redirect::Policy::limited(5))?))
        });
        match clients {
            Ok((plain, following)) => Ok(if follow_redirects { following } else { plain }),
            Err(message) => Err(StepError::terminal("HTTP_CLIENT", message.clone())),
        }
    }
}

#[async_trait]
impl StepHandler for HttpStep {
    async fn call(&self, plan: &Plan, input: StepInput) -> Result<StepOutput, StepError> {
        let (http, timeout_ms) = match &input.compensation {
            Some(c) => (c.action.http(), c.timeout_ms),
            None => (input.step.action.http(), input.step.timeout_ms),
        };
        let Some(http) = http else {
            return Err(StepError::terminal(
                "NOT_AN_HTTP_STEP",
                format!("`{}` is not an http step or compensation", input.name()),
            ));
        };
        let body = serde_json::to_vec(&HttpStepRequest {
            context: HttpStepContext {
                pipeline: plan.name.clone(),
                order_id: input.order.order_id.clone(),
                step: input.step.name.clone(),
                compensation: input.compensation.as_ref().map(|c| c.name.clone()),
                attempt: input.attempt,
                idempotency_key: input.idempotency_key.clone(),
            },
            order: input.order,
        })
        .map_err(|e| StepError::terminal("HTTP_BODY", format!("the order does not serialise: {e}")))?;
        let name = input.compensation.as_ref().map_or(&input.step.name, |c| &c.name);
        let secrets = self.secrets(http, name).await?;
        let request = Request { http, name, idempotency_key: &input.idempotency_key, secrets: &secrets };
        call(self.client(http.follow_redirects)?, request, body, timeout_ms).await
    }
}

/// What one request is made of, but its body.
struct Request<'a> {
    http: &'a HttpPlan,
    name: &'a str,
    idempotency_key: &'a str,
    secrets: &'a BTreeMap<SecretRef, String>,
}

/// Sends one request and reads its answer.
async fn call(
    client: &reqwest::Client,
    request: Request<'_>,
    body: Vec<u8>,
    timeout_ms: u64,
) -> Result<StepOutput, StepError> {
    let Request { http, name, idempotency_key, secrets } = request;
    let method = reqwest::Method::from_bytes(http.method.as_bytes())
        .map_err(|_| StepError::terminal("HTTP_METHOD", format!("`{}` is not an HTTP method", http.method)))?;
    let what = format!("{} {}", http.method, http.url);
    let mut request = client
        .request(method, &http.url)
        .timeout(Duration::from_millis(timeout_ms.max(1)))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::ACCEPT, "application/json")
        .header(IDEMPOTENCY_HEADER, idempotency_key);
    for header in &http.headers {
        let value = secret_value(&header.value, name, &header.name, secrets)?;
        let mut value = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
            StepError::terminal(
                "HTTP_HEADER",
                format!(
                    "the value of header `{}` of `{name}` is not a valid header value once its secrets are filled in",
                    header.name
                ),
            )
        })?;
        value.set_sensitive(true);
        request = request.header(header.name.as_str(), value);
    }
    if let Some(signing) = &http.signing {
        let secret = secret_value(&signing.secret, name, "signing.secret", secrets)?;
        let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        request = request.header(signing.header.as_str(), signature(secret.as_bytes(), timestamp, &body));
    }
    let response = request.body(body).send().await.map_err(|e| transport_error(&e, &what, timeout_ms))?;
    let status = response.status();
    let retry_after = retry_after(response.headers());
    if status.is_success() {
        return read_output(response, http, &what, timeout_ms).await;
    }
    let excerpt = excerpt(response).await;
    let code = format!("HTTP_{}", status.as_u16());
    let message = format!("{what} answered {status}: {excerpt}");
    if status.is_redirection() {
        return Err(StepError::terminal(
            "HTTP_REDIRECT",
            format!("{what} answered {status}, a redirect: add `follow_redirects: true` to the step to follow it"),
        ));
    }
    let retryable = matches!(status.as_u16(), 408 | 425 | 429) || status.is_server_error();
    let refusal = matches!(status.as_u16(), 400 | 402 | 409 | 410 | 412 | 422 | 451);
    match (retryable, retry_after) {
        (true, Some(after)) => Err(StepError::retryable_after(code, message, after)),
        (true, None) => Err(StepError::retryable(code, message)),
        (false, _) if refusal => Err(StepError::reject(code, message)),
        (false, _) => Err(StepError::terminal(code, message)),
    }
}

/// A header value or signing key with its secrets (read beforehand) filled in.
fn secret_value(
    template: &str,
    name: &str,
    what: &str,
    values: &BTreeMap<SecretRef, String>,
) -> Result<String, StepError> {
    secrets::expand(template, |r| values.get(r).cloned()).map_err(|e| match e {
        ExpandError::Missing(missing) => StepError::terminal(
            "SECRET_MISSING",
            format!("`{name}` needs the secret {} for `{what}`, and it was not read", missing.reference),
        ),
        ExpandError::Syntax(syntax) => {
            StepError::terminal("SECRET_SYNTAX", format!("`{what}` of `{name}`: {}", syntax.message))
        }
    })
}

/// `t=<timestamp>,v1=<hex HMAC-SHA256(key, "<timestamp>.<body>")>`.
pub fn signature(key: &[u8], timestamp: u64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let mut context = ring::hmac::Context::with_key(&key);
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    let tag = context.sign();
    let mut digest = [0u8; 32];
    digest.copy_from_slice(tag.as_ref());
    format!("t={timestamp},v1={}", super::util::hex(&digest, 32))
}

fn transport_error(e: &reqwest::Error, what: &str, timeout_ms: u64) -> StepError {
    if e.is_timeout() {
        StepError::retryable("TIMEOUT", format!("{what} did not answer within {timeout_ms} ms"))
    } else if e.is_connect() {
        StepError::retryable("HTTP_UNREACHABLE", format!("{what}: cannot connect: {}", error_chain(e)))
    } else {
        StepError::retryable("HTTP_REQUEST_FAILED", format!("{what}: {}", error_chain(e)))
    }
}

/// The wait a `Retry-After` header asks for: delay-seconds or an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.signed_duration_since(chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO);
    Some(wait)
}

/// A 2xx answer's body as the step's output.
async fn read_output(
    mut response: reqwest::Response,
    http: &HttpPlan,
    what: &str,
    timeout_ms: u64,
) -> Result<StepOutput, StepError> {
    let limit = usize::try_from(http.max_response_bytes).unwrap_or(usize::MAX);
    let too_large = || {
        StepError::terminal(
            "HTTP_RESPONSE_TOO_LARGE",
            format!(
                "{what} answered with a body larger than {} bytes, the most the step keeps (`max_response_bytes`)",
                http.max_response_bytes
            ),
        )
    };
    if response.content_length().is_some_and(|n| n > u64::from(http.max_response_bytes)) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e, what, timeout_ms))? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(StepOutput::default());
    }
    let output = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Null) => None,
        Ok(value) => Some(value),
        Err(_) => Some(serde_json::Value::String(String::from_utf8_lossy(&body).into_owned())),
    };
    Ok(StepOutput { output, ..StepOutput::default() })
}

/// The beginning of an error answer's body, for messages; reads no more than it keeps.
async fn excerpt(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < EXCERPT_READ_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&body).split_whitespace().collect::<Vec<_>>().join(" ");
    super::util::excerpt(&text, "(empty body)")
}

/// How a step's URL may be called: over https anywhere, over plain http only on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlKind {
    /// `https://`.
    Https,
    /// `http://` to `localhost` or a loopback address: for local development.
    LoopbackHttp,
}

/// Checks a step's URL; the error says what is wrong.
pub fn check_url(url: &str) -> Result<UrlKind, String> {
    if !url.contains("://") {
        return Err(format!("`{url}` has no scheme: write `https://{url}`"));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("`{url}` carries credentials: put them in a header that reads a secret instead"));
    }
    if parsed.fragment().is_some() {
        return Err(format!("`{url}` has a fragment (`#…`), which is never sent"));
    }
    let Some(host) = parsed.host_str() else {
        return Err(format!("`{url}` has no host"));
    };
    match parsed.scheme() {
        "https" => Ok(UrlKind::Https),
        "http" => {
            let ip = host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>();
            let loopback = host.eq_ignore_ascii_case("localhost") || ip.is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(UrlKind::LoopbackHttp)
            } else {
                Err(format!("`{url}` is plain http to another machine: the order would travel unencrypted"))
            }
        }
        other => Err(format!("`{url}` uses `{other}`: http steps call https URLs")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_stripes_scheme() {
        // HMAC-SHA256("whsec", "1700000000.{}"), computed independently with Python's hmac module.
        assert_eq!(
            signature(b"whsec", 1_700_000_000, b"{}"),
            "t=1700000000,v1=7d44587dddbaf4c7f70fef20f48cd594834ffea1641e3ac227b84408298738af"
        );
    }

    #[test]
    fn urls_are_https_or_loopback_http() {
        assert_eq!(check_url("https://payments.example.com/charge"), Ok(UrlKind::Https));
        assert_eq!(check_url("http://127.0.0.1:9000/charge"), Ok(UrlKind::LoopbackHttp));
        assert_eq!(check_url("http://localhost/charge"), Ok(UrlKind::LoopbackHttp));
        assert_eq!(check_url("http://[::1]:8080/"), Ok(UrlKind::LoopbackHttp));
        assert!(check_url("http://payments.example.com/charge").unwrap_err().contains("unencrypted"));
        assert!(check_url("ftp://example.com/x").unwrap_err().contains("`ftp`"));
        assert!(check_url("https://user:pw@example.com/").unwrap_err().contains("credentials"));
        assert!(check_url("example.com/charge").unwrap_err().contains("write `https://example.com/charge`"));
        assert!(check_url("https://exa mple.com/").unwrap_err().contains("not a URL"));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(reqwest::header::RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::ZERO), "a date in the past: no wait");
        headers.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }
}
