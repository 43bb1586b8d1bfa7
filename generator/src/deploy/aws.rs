//! The AWS configuration of `orchgen deploy`, `destroy` and `redrive`: the standard credential chain
//! and settings (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`, shared config files, container and
//! instance credentials) with `--profile`, `--region` and `--endpoint-url` taking precedence, over the
//! rustls + ring HTTP client (no aws-lc, no second HTTP stack), with the SDK's standard retries.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

use super::DeployError;

/// Attempts of one request (the first included).
pub const MAX_ATTEMPTS: u32 = 4;

/// Where and as whom to talk to AWS: what the command line overrides of the standard configuration.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    /// `--region` (else `AWS_REGION`, the profile's region).
    pub region: Option<String>,
    /// `--profile` (else `AWS_PROFILE`, else `default`).
    pub profile: Option<String>,
    /// `--endpoint-url` (else `AWS_ENDPOINT_URL`): one endpoint for every service, e.g. a moto server.
    pub endpoint_url: Option<String>,
}

/// The clients of every service the commands use, sharing one configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    /// CloudFormation.
    pub cloudformation: aws_sdk_cloudformation::Client,
    /// S3 (path-style addressing when an endpoint URL is set: local emulators need it).
    pub s3: aws_sdk_s3::Client,
    /// STS (the account id).
    pub sts: aws_sdk_sts::Client,
    /// SQS (the dead-letter queue).
    pub sqs: aws_sdk_sqs::Client,
    /// DynamoDB (the stage's tables).
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// DynamoDB Streams.
    pub streams: aws_sdk_dynamodbstreams::Client,
    /// The shared configuration (for further clients).
    pub config: aws_config::SdkConfig,
    /// The region in use.
    pub region: String,
    /// The endpoint URL in use, when one overrides AWS's.
    pub endpoint_url: Option<String>,
}

impl Clients {
    /// Loads the configuration and builds the clients; fails when no region is configured or the
    /// endpoint URL is not an http(s) URL.
    pub async fn load(options: &AwsOptions) -> Result<Clients, DeployError> {
        let endpoint_url = options
            .endpoint_url
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .filter(|u| !u.trim().is_empty());
        if let Some(url) = &endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(DeployError::Config(format!("endpoint URL `{url}` is not an http:// or https:// URL")));
        }
        let http =
            aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(profile) = &options.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &options.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(url) = &endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        let Some(region) = config.region().map(|r| r.to_string()) else {
            return Err(DeployError::Config(
                "no AWS region: pass --region, set AWS_REGION or give the profile a region".to_owned(),
            ));
        };
        let s3_config = aws_sdk_s3::config::Builder::from(&config).force_path_style(endpoint_url.is_some()).build();
        Ok(Clients {
            cloudformation: aws_sdk_cloudformation::Client::new(&config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            sts: aws_sdk_sts::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            streams: aws_sdk_dynamodbstreams::Client::new(&config),
            config,
            region,
            endpoint_url,
        })
    }

    /// The account id of the caller (STS GetCallerIdentity): also proves the credentials work.
    pub async fn account_id(&self) -> Result<String, DeployError> {
        let identity =
            self.sts.get_caller_identity().send().await.map_err(|e| DeployError::aws("sts GetCallerIdentity", &e))?;
        identity.account.ok_or_else(|| DeployError::Config("STS returned no account id".to_owned()))
    }
}

/// The message of an SDK error with its service code and cause chain, e.g. `ValidationError: Stack
/// with id x does not exist`, or `dispatch failure: io error: Connection refused`.
pub fn error_text<E, R>(error: &aws_sdk_cloudformation::error::SdkError<E, R>) -> String
where
    E: aws_sdk_cloudformation::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    use aws_sdk_cloudformation::error::SdkError;
    match error {
        SdkError::ServiceError(e) => {
            let err = e.err();
            match (err.code(), err.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                _ => chain(err),
            }
        }
        other => chain(other),
    }
}

/// An error and its sources, joined by `: `.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = e.source();
    }
    text
}

/// Whether a service error has this code.
pub fn has_code<E, R>(error: &aws_sdk_cloudformation::error::SdkError<E, R>, code: &str) -> bool
where
    E: aws_sdk_cloudformation::error::ProvideErrorMetadata,
{
    error.as_service_error().and_then(|e| e.code()) == Some(code)
}
