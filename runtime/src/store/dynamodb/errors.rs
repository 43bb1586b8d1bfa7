//! SDK errors → [`StoreError`], and the codes of transaction cancellation reasons.
//!
//! Throttling and unavailability are retried by the SDK itself (standard retry mode, see
//! [`super::client`]); what reaches this module after the retries is
//! [`StoreError::Unavailable`]. A request DynamoDB refuses as malformed is
//! [`StoreError::Invalid`].

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::store::StoreError;

/// A cancellation reason: the item's condition failed.
pub const CONDITIONAL_CHECK_FAILED: &str = "ConditionalCheckFailed";
/// A cancellation reason: another transaction or write touched the item at the same time.
pub const TRANSACTION_CONFLICT: &str = "TransactionConflict";

/// Maps an SDK error of operation `op` to a [`StoreError`].
pub fn store_error<E, R>(op: &str, error: &SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            from_code(op, e.code().unwrap_or("Unknown"), e.message().unwrap_or_default())
        }
        SdkError::ConstructionFailure(_) => {
            StoreError::Invalid(format!("{op}: the request could not be built: {}", DisplayErrorContext(error)))
        }
        _ => StoreError::Unavailable(format!("{op}: {}", DisplayErrorContext(error))),
    }
}

/// Maps an error code of DynamoDB.
pub fn from_code(op: &str, code: &str, message: &str) -> StoreError {
    match code {
        "ValidationException" | "ItemCollectionSizeLimitExceededException" | "SerializationException" => {
            StoreError::Invalid(format!("{op}: DynamoDB refused the request ({code}): {message}"))
        }
        "ResourceNotFoundException" => StoreError::Unavailable(format!(
            "{op}: a table or index is missing ({message}); create the tables (`ensure_tables`, or deploy the stack)"
        )),
        _ => StoreError::Unavailable(format!("{op}: {code}: {message}")),
    }
}

/// A builder of the SDK refused its input (a required field missing): a bug, reported as invalid.
pub fn build_error(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!("cannot build {what}: {error}"))
}
