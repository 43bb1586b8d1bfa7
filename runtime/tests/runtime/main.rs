//! The runtime's integration tests, one test binary (each extra binary relinks the AWS SDKs):
//! the engine on the reference plan, the Lambda functions against a local Runtime API, the stream
//! processor's handler, `http` steps against a local provider, telemetry. The local DynamoDB
//! Streams consumer runs against DynamoDB Local, in the end-to-end tests
//! (`tests/tests/e2e/streams_consumer.rs`), which start it with the one test harness (the runtime
//! cannot depend on it: the harness depends on the generator).

mod engine;
mod http_steps;
mod lambda_api;
mod lambda_invoke;
mod lambda_step;
mod streams_lambda;
mod telemetry;
