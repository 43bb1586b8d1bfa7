//! Building a DynamoDB client: for a local endpoint (DynamoDB Local, moto, …) or from the standard
//! AWS environment.
//!
//! Both take their settings from [`crate::aws::AwsOptions`], the one AWS SDK configuration of the
//! runtime: the rustls + ring HTTP client (no aws-lc, no second HTTP stack) and the SDK's
//! **standard** retry mode with [`MAX_ATTEMPTS`] attempts: throttling (`ThrottlingException`,
//! `ProvisionedThroughputExceededException`, `RequestLimitExceeded`), 5xx and I/O errors are retried
//! with exponential backoff by the SDK, and what still fails reaches the store as
//! [`StoreError::Unavailable`](crate::store::StoreError::Unavailable). A client of a shared
//! configuration is `Client::new(&crate::aws::sdk_config(&options).await)`.

use aws_sdk_dynamodb::Client;

use crate::aws::{self, AwsOptions};

/// Attempts of one request (the first included) before the store reports it unavailable.
pub const MAX_ATTEMPTS: u32 = aws::DEFAULT_MAX_ATTEMPTS;

/// Region given to clients of a local endpoint (any region works; it must merely be set).
pub const LOCAL_REGION: &str = "us-east-1";

/// A client of a local DynamoDB-compatible endpoint such as `http://127.0.0.1:8000`:
/// [`aws::local_config`] with region [`LOCAL_REGION`] (fixed static credentials: local endpoints
/// accept any). Built without loading anything, so it needs no async context.
pub fn client_for_endpoint(endpoint_url: &str) -> Client {
    Client::new(&aws::local_config(endpoint_url, LOCAL_REGION))
}

/// A client configured from the standard AWS environment (`AWS_REGION`, credentials from the
/// environment, profile, container or instance metadata, `AWS_ENDPOINT_URL*`), as on Lambda:
/// [`AwsOptions::from_env`].
pub async fn client_from_env() -> Client {
    Client::new(&aws::sdk_config(&AwsOptions::from_env()).await)
}
