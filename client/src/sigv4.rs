//! AWS Signature Version 4 for `orchgen orders` against an API whose `auth` is `iam`: each request
//! is signed for the `execute-api` service with credentials from the standard chain (environment,
//! `AWS_PROFILE`, SSO, instance roles …), as the AWS CLI and SDKs find them.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_types::error::display::DisplayErrorContext;
use reqwest::blocking::Request;
use reqwest::header::{HeaderName, HeaderValue};

/// The service name API Gateway invocations are signed for.
pub const SERVICE: &str = "execute-api";

/// Signs requests with one set of credentials for one region.
#[derive(Debug, Clone)]
pub struct Signer {
    credentials: Credentials,
    region: String,
}

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// No credentials were found, or the provider failed.
    #[error(
        "no AWS credentials to sign the request with ({0}); set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
    )]
    Credentials(String),
    /// The region is unknown.
    #[error(
        "the region to sign for is unknown: give an execute-api URL (…execute-api.REGION.amazonaws.com) or set AWS_REGION"
    )]
    Region,
    /// The request cannot be signed (a header that is not text, …).
    #[error("the request cannot be signed: {0}")]
    Request(String),
}

/// The region of an API Gateway URL host: `abc123.execute-api.eu-west-1.amazonaws.com` → `eu-west-1`.
pub fn region_of_host(host: &str) -> Option<&str> {
    let rest = host.split_once(".execute-api.")?.1;
    let (region, suffix) = rest.split_once('.')?;
    (!region.is_empty() && suffix.starts_with("amazonaws.com")).then_some(region)
}

impl Signer {
    /// A signer with fixed credentials.
    pub fn new(credentials: Credentials, region: impl Into<String>) -> Signer {
        Signer { credentials, region: region.into() }
    }

    /// A signer with the credentials of the default chain, for the region of `host` (or the
    /// configured one: AWS_REGION, the profile's).
    pub fn from_environment(host: &str) -> Result<Signer, SignError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SignError::Credentials(format!("cannot start an async runtime: {e}")))?;
        runtime.block_on(async {
            let config = orchgen_runtime::aws::sdk_config(&orchgen_runtime::aws::AwsOptions::from_env()).await;
            let region = match region_of_host(host) {
                Some(region) => region.to_owned(),
                None => config.region().map(ToString::to_string).ok_or(SignError::Region)?,
            };
            let provider = config
                .credentials_provider()
                .ok_or_else(|| SignError::Credentials("no credentials provider is configured".to_owned()))?;
            let credentials = provider
                .provide_credentials()
                .await
                .map_err(|e| SignError::Credentials(DisplayErrorContext(&e).to_string()))?;
            Ok(Signer { credentials, region })
        })
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Adds the signature headers (`authorization`, `x-amz-date`, `x-amz-security-token` with
    /// temporary credentials, `x-amz-content-sha256` is not used by API Gateway) to `request`, as
    /// of `time`.
    pub fn sign(&self, request: &mut Request, time: SystemTime) -> Result<(), SignError> {
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SERVICE)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| SignError::Request(e.to_string()))?
            .into();
        let mut headers = Vec::with_capacity(request.headers().len());
        for (name, value) in request.headers() {
            let value = value
                .to_str()
                .map_err(|_| SignError::Request(format!("header `{name}` is not text and cannot be signed")))?;
            headers.push((name.as_str(), value));
        }
        let body = request.body().and_then(|b| b.as_bytes()).unwrap_or_default();
        let url = request.url().to_string();
        let signable =
            SignableRequest::new(request.method().as_str(), &url, headers.into_iter(), SignableBody::Bytes(body))
                .map_err(|e| SignError::Request(e.to_string()))?;
        let (instructions, _signature) =
            sign(signable, &params).map_err(|e| SignError::Request(DisplayErrorContext(&e).to_string()))?.into_parts();
        let (new_headers, _params) = instructions.into_parts();
        for header in new_headers {
            let name =
                HeaderName::from_bytes(header.name().as_bytes()).map_err(|e| SignError::Request(e.to_string()))?;
            let value = HeaderValue::from_str(header.value()).map_err(|e| SignError::Request(e.to_string()))?;
            request.headers_mut().insert(name, value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn signer(token: Option<&str>) -> Signer {
        let credentials = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_owned),
            None,
            "test",
        );
        Signer::new(credentials, "eu-west-1")
    }

    fn request(body: &str) -> Request {
        let client = reqwest::blocking::Client::new();
        client
            .post("https://abc123.execute-api.eu-west-1.amazonaws.com/orders?limit=5")
            .header("content-type", "application/json")
            .body(body.to_owned())
            .build()
            .expect("a request")
    }

    fn header(request: &Request, name: &str) -> String {
        request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    }

    #[test]
    fn the_region_comes_from_an_execute_api_host() {
        assert_eq!(region_of_host("abc123.execute-api.eu-west-1.amazonaws.com"), Some("eu-west-1"));
        assert_eq!(region_of_host("abc.execute-api.cn-north-1.amazonaws.com.cn"), Some("cn-north-1"));
        assert_eq!(region_of_host("127.0.0.1"), None);
        assert_eq!(region_of_host("api.example.com"), None);
    }

    #[test]
    fn a_signed_request_carries_the_scope_the_signed_headers_and_a_body_dependent_signature() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_737_600); // 2026-11-27T00:00:00Z
        let mut a = request(r#"{"items":[]}"#);
        signer(None).sign(&mut a, at).expect("signs");
        let auth = header(&a, "authorization");
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/eu-west-1/execute-api/aws4_request, "),
            "{auth}"
        );
        assert!(auth.contains("SignedHeaders=content-type;host;x-amz-date"), "{auth}");
        assert_eq!(header(&a, "x-amz-date"), "20261127T000000Z");
        assert!(header(&a, "x-amz-security-token").is_empty());

        let mut same = request(r#"{"items":[]}"#);
        signer(None).sign(&mut same, at).expect("signs");
        assert_eq!(header(&same, "authorization"), auth, "deterministic for the same request and time");
        let mut other = request(r#"{"items":[1]}"#);
        signer(None).sign(&mut other, at).expect("signs");
        assert_ne!(header(&other, "authorization"), auth, "the body is signed");

        let mut temporary = request("{}");
        signer(Some("session-token")).sign(&mut temporary, at).expect("signs");
        assert_eq!(header(&temporary, "x-amz-security-token"), "session-token");
    }
}
