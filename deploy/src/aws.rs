//! The AWS configuration of `orchgen deploy`, `destroy` and `redrive`: the standard credential chain
//! and settings (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`, shared config files, container and
//! instance credentials) with `--profile`, `--region` and `--endpoint-url` taking precedence, built by
//! the one SDK configuration builder of the project ([`orchgen_runtime::aws::sdk_config`]: the rustls
//! + ring HTTP client, the SDK's standard retries, timeouts).

use std::time::Duration;

use aws_sdk_cloudformation::error::DisplayErrorContext;
use orchgen_runtime::aws::{self as sdk, RetryPolicy};

use super::DeployError;

/// Attempts of one request (the first included).
pub const MAX_ATTEMPTS: u32 = 4;

/// Time limit of one attempt of a request (CloudFormation and S3 uploads of large zips take a while).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

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
        let config = sdk::sdk_config(&sdk::AwsOptions {
            region: options.region.clone(),
            profile: options.profile.clone(),
            endpoint_url: endpoint_url.clone(),
            retry: RetryPolicy::Standard { max_attempts: MAX_ATTEMPTS },
            operation_attempt_timeout: Some(ATTEMPT_TIMEOUT),
            ..sdk::AwsOptions::default()
        })
        .await;
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
                _ => DisplayErrorContext(err).to_string(),
            }
        }
        other => DisplayErrorContext(other).to_string(),
    }
}

/// Whether a service error has this code.
pub fn has_code<E, R>(error: &aws_sdk_cloudformation::error::SdkError<E, R>, code: &str) -> bool
where
    E: aws_sdk_cloudformation::error::ProvideErrorMetadata,
{
    error.as_service_error().and_then(|e| e.code()) == Some(code)
}
