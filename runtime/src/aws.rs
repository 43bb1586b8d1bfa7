//! The one AWS SDK configuration builder of orchgen: every client the runtime makes (DynamoDB,
//! DynamoDB Streams, Lambda), and the CLI's, is configured from an [`AwsOptions`].
//!
//! [`sdk_config`] loads an [`aws_config::SdkConfig`] with:
//! - the rustls + ring HTTP client ([`http_client`]: no aws-lc, no second HTTP stack);
//! - the credentials: the standard chain (environment, the profile's shared files — `profile`,
//!   else `AWS_PROFILE`, else `default` —, web identity, container, instance metadata), or fixed
//!   credentials ([`CredentialSource::Static`], for DynamoDB Local and other emulators);
//! - the region (`region`, else `AWS_REGION`, else the profile's) and the endpoint URL
//!   (`endpoint_url`, else `AWS_ENDPOINT_URL*`);
//! - the retries ([`RetryPolicy`]: the SDK's standard mode — throttling, 5xx and I/O errors retried
//!   with exponential backoff and jitter — with [`DEFAULT_MAX_ATTEMPTS`] attempts by default);
//! - the timeouts: connecting ([`DEFAULT_CONNECT_TIMEOUT`]), one attempt
//!   ([`DEFAULT_OPERATION_ATTEMPT_TIMEOUT`]) and, when set, a whole operation with its retries.
//!
//! Constructors: [`AwsOptions::from_env`] (a Lambda function, or any process configured by the
//! standard environment) and [`AwsOptions::local_endpoint`] (a local emulator). A client that must
//! differ overrides its own settings on top (e.g. `lambda::invoke::lambda_client` turns the SDK's
//! retries off: the plan's retry policy decides).
//!
//! No feature needed.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider, SharedHttpClient};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// Attempts of one request (the first included) by default.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// Time allowed to open a connection by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Time allowed to one attempt of a request (sending it, reading the whole answer) by default.
pub const DEFAULT_OPERATION_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
/// The access key of [`AwsOptions::local_endpoint`]. DynamoDB Local keeps one database per access
/// key and region, so every local client must use the same one to see the same tables.
pub const LOCAL_ACCESS_KEY_ID: &str = "local";

/// How the SDK retries a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryPolicy {
    /// One attempt only.
    Disabled,
    /// The SDK's standard mode: retryable errors (throttling, 5xx, I/O, time-outs) tried again with
    /// exponential backoff and jitter, `max_attempts` attempts in all (the first included).
    Standard {
        /// Attempts in all, at least 1.
        max_attempts: u32,
    },
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::Standard { max_attempts: DEFAULT_MAX_ATTEMPTS }
    }
}

/// Where the credentials come from.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum CredentialSource {
    /// The standard chain: environment, profile (see [`AwsOptions::profile`]), web identity,
    /// container, instance metadata.
    #[default]
    DefaultChain,
    /// Fixed credentials (local emulators accept any).
    Static {
        /// The access key id.
        access_key_id: String,
        /// The secret access key.
        secret_access_key: String,
    },
}

impl std::fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialSource::DefaultChain => f.write_str("DefaultChain"),
            CredentialSource::Static { access_key_id, .. } => f
                .debug_struct("Static")
                .field("access_key_id", access_key_id)
                .field("secret_access_key", &"** redacted **")
                .finish(),
        }
    }
}

/// Where, as whom and how patiently to talk to AWS. Every `None` leaves the setting to the standard
/// environment (or to the SDK's default, for the timeouts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsOptions {
    /// The region; `None`: `AWS_REGION`, else the profile's.
    pub region: Option<String>,
    /// The profile of the shared config and credentials files; `None`: `AWS_PROFILE`, else `default`.
    pub profile: Option<String>,
    /// One endpoint for every service (e.g. `http://127.0.0.1:8000`); `None`: `AWS_ENDPOINT_URL*`,
    /// else AWS's own endpoints.
    pub endpoint_url: Option<String>,
    /// Where the credentials come from.
    pub credentials: CredentialSource,
    /// The SDK's retries.
    pub retry: RetryPolicy,
    /// Time allowed to open a connection.
    pub connect_timeout: Option<Duration>,
    /// Time allowed to one attempt of a request.
    pub operation_attempt_timeout: Option<Duration>,
    /// Time allowed to a whole request, its retries included.
    pub operation_timeout: Option<Duration>,
}

impl Default for AwsOptions {
    /// [`AwsOptions::from_env`].
    fn default() -> Self {
        AwsOptions {
            region: None,
            profile: None,
            endpoint_url: None,
            credentials: CredentialSource::DefaultChain,
            retry: RetryPolicy::default(),
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            operation_attempt_timeout: Some(DEFAULT_OPERATION_ATTEMPT_TIMEOUT),
            operation_timeout: None,
        }
    }
}

impl AwsOptions {
    /// Everything from the standard environment (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL*`,
    /// the credential chain), as on Lambda, with the default retries ([`DEFAULT_MAX_ATTEMPTS`],
    /// standard mode) and timeouts ([`DEFAULT_CONNECT_TIMEOUT`],
    /// [`DEFAULT_OPERATION_ATTEMPT_TIMEOUT`]).
    pub fn from_env() -> AwsOptions {
        AwsOptions::default()
    }

    /// A local endpoint such as DynamoDB Local (`http://127.0.0.1:8000`): that endpoint, `region`
    /// (any works; it must merely be set) and the fixed credentials [`LOCAL_ACCESS_KEY_ID`] (local
    /// endpoints accept any), with the default retries and timeouts.
    pub fn local_endpoint(endpoint_url: impl Into<String>, region: impl Into<String>) -> AwsOptions {
        AwsOptions {
            region: Some(region.into()),
            endpoint_url: Some(endpoint_url.into()),
            credentials: CredentialSource::Static {
                access_key_id: LOCAL_ACCESS_KEY_ID.to_owned(),
                secret_access_key: LOCAL_ACCESS_KEY_ID.to_owned(),
            },
            ..AwsOptions::default()
        }
    }

    /// The SDK retry configuration of [`AwsOptions::retry`].
    pub fn retry_config(&self) -> RetryConfig {
        match self.retry {
            RetryPolicy::Disabled => RetryConfig::disabled(),
            RetryPolicy::Standard { max_attempts } => RetryConfig::standard().with_max_attempts(max_attempts.max(1)),
        }
    }

    /// The SDK timeout configuration of the `*_timeout` fields (`None` leaves the SDK's default).
    pub fn timeout_config(&self) -> TimeoutConfig {
        let mut builder = TimeoutConfig::builder();
        builder
            .set_connect_timeout(self.connect_timeout)
            .set_operation_attempt_timeout(self.operation_attempt_timeout)
            .set_operation_timeout(self.operation_timeout);
        builder.build()
    }

    /// The fixed credentials of [`CredentialSource::Static`]; `None` for the standard chain.
    pub fn static_credentials(&self) -> Option<Credentials> {
        match &self.credentials {
            CredentialSource::DefaultChain => None,
            CredentialSource::Static { access_key_id, secret_access_key } => {
                Some(static_credentials(access_key_id, secret_access_key))
            }
        }
    }

    /// The configuration built without loading anything (so without an async context), when
    /// nothing is left to the environment: fixed credentials, a region and an endpoint URL (a local
    /// endpoint, [`AwsOptions::local_endpoint`]); `None` otherwise.
    pub fn fixed_config(&self) -> Option<aws_config::SdkConfig> {
        let (Some(credentials), Some(region), Some(url)) =
            (self.static_credentials(), &self.region, &self.endpoint_url)
        else {
            return None;
        };
        Some(self.config_with(credentials, region, url))
    }

    /// The configuration of these options' retries and timeouts with `credentials`, `region` and
    /// the endpoint `url`.
    fn config_with(&self, credentials: Credentials, region: &str, url: &str) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http_client())
            .retry_config(self.retry_config())
            .timeout_config(self.timeout_config())
            .region(aws_config::Region::new(region.to_owned()))
            .endpoint_url(url)
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build()
    }

    /// The configuration loader with every setting of these options applied, to adjust before
    /// loading (an application name, a credentials provider of one's own, ...). [`sdk_config`]
    /// loads it as is.
    pub fn loader(&self) -> aws_config::ConfigLoader {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client())
            .retry_config(self.retry_config())
            .timeout_config(self.timeout_config());
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &self.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(credentials) = self.static_credentials() {
            loader = loader.credentials_provider(credentials);
        }
        loader
    }
}

/// Fixed credentials.
fn static_credentials(access_key_id: &str, secret_access_key: &str) -> Credentials {
    Credentials::new(access_key_id, secret_access_key, None, None, "orchgen-static")
}

/// The configuration of a local endpoint ([`AwsOptions::local_endpoint`]), built without loading
/// anything, so without an async context ([`AwsOptions::fixed_config`]).
pub fn local_config(endpoint_url: &str, region: &str) -> aws_config::SdkConfig {
    let options = AwsOptions::local_endpoint(endpoint_url, region);
    options.config_with(static_credentials(LOCAL_ACCESS_KEY_ID, LOCAL_ACCESS_KEY_ID), region, endpoint_url)
}

/// The HTTP client of every AWS client: hyper over rustls with the ring provider.
pub fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// Loads the SDK configuration of `options` (see the module docs). Clients of any service are made
/// from it (`aws_sdk_dynamodb::Client::new(&config)`, ...). Options that leave nothing to the
/// environment ([`AwsOptions::fixed_config`]) load nothing.
pub async fn sdk_config(options: &AwsOptions) -> aws_config::SdkConfig {
    match options.fixed_config() {
        Some(config) => config,
        None => options.loader().load().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_map_to_the_sdk_settings() {
        let options = AwsOptions::from_env();
        assert_eq!(options.retry_config().max_attempts(), DEFAULT_MAX_ATTEMPTS);
        let timeouts = options.timeout_config();
        assert_eq!(timeouts.connect_timeout(), Some(DEFAULT_CONNECT_TIMEOUT));
        assert_eq!(timeouts.operation_attempt_timeout(), Some(DEFAULT_OPERATION_ATTEMPT_TIMEOUT));
        assert_eq!(timeouts.operation_timeout(), None);
        assert!(options.static_credentials().is_none());

        // A local endpoint leaves nothing to the environment: built as it is, without loading.
        let local = AwsOptions::local_endpoint("http://127.0.0.1:8000", "eu-west-1");
        let fixed = local.fixed_config().expect("a local endpoint's configuration is fixed");
        assert_eq!(fixed.endpoint_url(), Some("http://127.0.0.1:8000"));
        assert_eq!(fixed.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(fixed.retry_config().map(RetryConfig::max_attempts), Some(DEFAULT_MAX_ATTEMPTS));
        assert_eq!(fixed.timeout_config().and_then(TimeoutConfig::connect_timeout), Some(DEFAULT_CONNECT_TIMEOUT));
        assert!(fixed.credentials_provider().is_some() && fixed.http_client().is_some());
        assert_eq!(local_config("http://127.0.0.1:8000", "eu-west-1").endpoint_url(), Some("http://127.0.0.1:8000"));
        assert!(AwsOptions::from_env().fixed_config().is_none(), "the standard chain is loaded");
        let disabled = AwsOptions { retry: RetryPolicy::Disabled, ..AwsOptions::default() };
        assert_eq!(disabled.retry_config().max_attempts(), 1);

        let local = AwsOptions::local_endpoint("http://127.0.0.1:8000", "eu-west-1");
        assert_eq!(local.static_credentials().map(|c| c.access_key_id().to_owned()).as_deref(), Some("local"));
        assert!(!format!("{:?}", local.credentials).contains("secret_access_key: \"local\""));
    }

    #[tokio::test]
    async fn a_local_endpoint_configuration_has_its_region_endpoint_and_settings() {
        let config = sdk_config(&AwsOptions::local_endpoint("http://127.0.0.1:8000", "eu-west-1")).await;
        assert_eq!(config.region().map(ToString::to_string).as_deref(), Some("eu-west-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:8000"));
        assert_eq!(config.retry_config().map(RetryConfig::max_attempts), Some(DEFAULT_MAX_ATTEMPTS));
        let timeouts = config.timeout_config().expect("timeouts");
        assert_eq!(timeouts.operation_attempt_timeout(), Some(DEFAULT_OPERATION_ATTEMPT_TIMEOUT));
        assert!(config.credentials_provider().is_some());
    }
}
