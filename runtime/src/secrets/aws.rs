//! Secrets read from AWS by a step's Lambda function (feature `aws-secrets`): `${ssm:NAME}` with
//! SSM `GetParameter` (decrypted: a SecureString) and `${secretsmanager:NAME}` with Secrets
//! Manager `GetSecretValue` (its string), each cached for [`DEFAULT_TTL`] in the function's
//! container, as the Powertools parameters utility does, so a warm function does not call the
//! service for every order. `${env:NAME}` stays the function's environment variable.
//!
//! The generated template lets each function read exactly the parameters and secrets its step
//! names (`generator/src/build/cloudformation/functions.rs`). A value is never logged, put in an
//! error or shown by `Debug`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::SecretRef;

/// How long a fetched secret is reused.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// Why a secret could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// It does not exist (or has no string value).
    #[error("{0}")]
    NotFound(String),
    /// The function may not read it.
    #[error("{0}")]
    Denied(String),
    /// The service could not be reached or answered with an error another attempt may not get.
    #[error("{0}")]
    Unavailable(String),
}

/// The SSM and Secrets Manager clients of a function, with the cache of what they read.
pub struct AwsSecrets {
    ssm: aws_sdk_ssm::Client,
    secrets_manager: aws_sdk_secretsmanager::Client,
    ttl: Duration,
    cache: tokio::sync::Mutex<HashMap<SecretRef, (Instant, String)>>,
}

impl std::fmt::Debug for AwsSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The cache holds values: only its size is shown.
        let cached = self.cache.try_lock().map_or(0, |c| c.len());
        f.debug_struct("AwsSecrets").field("ttl", &self.ttl).field("cached", &cached).finish_non_exhaustive()
    }
}

impl AwsSecrets {
    /// Clients from `config` (the runtime's one SDK configuration, [`crate::aws::sdk_config`]).
    pub fn new(config: &aws_config::SdkConfig) -> AwsSecrets {
        AwsSecrets {
            ssm: aws_sdk_ssm::Client::new(config),
            secrets_manager: aws_sdk_secretsmanager::Client::new(config),
            ttl: DEFAULT_TTL,
            cache: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The same, keeping values for `ttl`.
    pub fn with_ttl(self, ttl: Duration) -> AwsSecrets {
        AwsSecrets { ttl, ..self }
    }

    /// The secret `reference` names: `${env:NAME}` from the environment, the others from their
    /// service (or the cache).
    pub async fn get(&self, reference: &SecretRef) -> Result<String, FetchError> {
        if let Some((at, value)) = self.cache.lock().await.get(reference)
            && at.elapsed() < self.ttl
        {
            return Ok(value.clone());
        }
        let value = match reference {
            // The function's own variable: nothing to cache.
            SecretRef::Env(name) => {
                return std::env::var(name).map_err(|_| {
                    FetchError::NotFound(format!("the environment variable {name} of the function is not set"))
                });
            }
            SecretRef::Ssm(name) => self.parameter(name).await?,
            SecretRef::SecretsManager(name) => self.secret(name).await?,
        };
        self.cache.lock().await.insert(reference.clone(), (Instant::now(), value.clone()));
        Ok(value)
    }

    async fn parameter(&self, name: &str) -> Result<String, FetchError> {
        use aws_sdk_ssm::operation::get_parameter::GetParameterError;
        let answer = self.ssm.get_parameter().name(name).with_decryption(true).send().await.map_err(|e| {
            let context = aws_sdk_ssm::error::DisplayErrorContext(&e).to_string();
            match e.as_service_error() {
                Some(GetParameterError::ParameterNotFound(_)) => {
                    FetchError::NotFound(format!("the SSM parameter {name} does not exist"))
                }
                Some(other) => classify(aws_sdk_ssm::error::ProvideErrorMetadata::code(other), context),
                None => FetchError::Unavailable(context),
            }
        })?;
        answer
            .parameter
            .and_then(|p| p.value)
            .ok_or_else(|| FetchError::NotFound(format!("the SSM parameter {name} has no value")))
    }

    async fn secret(&self, name: &str) -> Result<String, FetchError> {
        use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
        let answer = self.secrets_manager.get_secret_value().secret_id(name).send().await.map_err(|e| {
            let context = aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string();
            match e.as_service_error() {
                Some(GetSecretValueError::ResourceNotFoundException(_)) => {
                    FetchError::NotFound(format!("the secret {name} does not exist in Secrets Manager"))
                }
                Some(other) => classify(aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(other), context),
                None => FetchError::Unavailable(context),
            }
        })?;
        answer
            .secret_string
            .ok_or_else(|| FetchError::NotFound(format!("the secret {name} has no string value (a binary secret)")))
    }
}

/// A service error by its code: access refusals are for good, the rest may pass.
fn classify(code: Option<&str>, context: String) -> FetchError {
    match code {
        Some("AccessDeniedException" | "AccessDenied" | "UnrecognizedClientException" | "KMSAccessDeniedException") => {
            FetchError::Denied(context)
        }
        _ => FetchError::Unavailable(context),
    }
}
