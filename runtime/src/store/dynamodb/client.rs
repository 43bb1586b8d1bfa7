//! Building a DynamoDB client: for a local endpoint (DynamoDB Local, moto, …) or from the standard
//! AWS environment.
//!
//! Both use the rustls + ring HTTP client (no aws-lc, no second HTTP stack) and the SDK's
//! **standard** retry mode with [`MAX_ATTEMPTS`] attempts: throttling (`ThrottlingException`,
//! `ProvisionedThroughputExceededException`, `RequestLimitExceeded`), 5xx and I/O errors are retried
//! with exponential backoff by the SDK, and what still fails reaches the store as
//! [`StoreError::Unavailable`](crate::store::StoreError::Unavailable).

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{Credentials, Region, SharedHttpClient};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// Attempts of one request (the first included) before the store reports it unavailable.
pub const MAX_ATTEMPTS: u32 = 5;

/// Region given to clients of a local endpoint (any region works; it must merely be set).
pub const LOCAL_REGION: &str = "us-east-1";

fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

fn retry() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS)
}

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(20))
        .build()
}

/// A client of a local DynamoDB-compatible endpoint such as `http://127.0.0.1:8000`: region
/// [`LOCAL_REGION`] and fixed static credentials (local endpoints accept any).
pub fn client_for_endpoint(endpoint_url: &str) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(LOCAL_REGION))
        .credentials_provider(Credentials::new("local", "local", None, None, "orchgen-local"))
        .endpoint_url(endpoint_url)
        .http_client(http_client())
        .retry_config(retry())
        .timeout_config(timeouts())
        .build();
    Client::from_conf(config)
}

/// A client configured from the standard AWS environment (`AWS_REGION`, credentials from the
/// environment, profile, container or instance metadata, `AWS_ENDPOINT_URL*`), as on Lambda.
pub async fn client_from_env() -> Client {
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .retry_config(retry())
        .timeout_config(timeouts())
        .load()
        .await;
    Client::new(&shared)
}
