//! The API function: an API Gateway REST proxy event in, [`Api::handle`]'s response out.
//!
//! API Gateway always sets a request id; when an event lacks one (a direct invocation), the Lambda
//! request id stands in, so every response and log line still carries an id.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use lambda_runtime::LambdaEvent;

use crate::api::Api;

/// Answers one invocation of the API function. Never fails: every outcome is a response.
pub async fn handle(api: &Api, event: LambdaEvent<ApiGatewayProxyRequest>) -> ApiGatewayProxyResponse {
    let (mut request, context) = event.into_parts();
    if request.request_context.request_id.as_deref().is_none_or(str::is_empty) && !context.request_id.is_empty() {
        request.request_context.request_id = Some(context.request_id);
    }
    api.handle(request).await
}
