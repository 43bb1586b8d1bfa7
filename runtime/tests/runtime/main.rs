//! The runtime's integration tests, one test binary (each extra binary relinks the AWS SDKs):
//! the engine on the reference plan, the Lambda functions against a local Runtime API, the stream
//! processor's handler and the local DynamoDB Streams consumer, `http` steps against a local
//! provider, telemetry.

mod engine;
mod http_steps;
mod lambda_api;
mod lambda_invoke;
mod lambda_step;
mod streams_consumer;
mod streams_lambda;
mod telemetry;
