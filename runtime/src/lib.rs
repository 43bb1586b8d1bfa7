//! The orchgen runtime.
//!
//! It owns the [`plan::Plan`], the resolved pipeline that the generator produces and that generated
//! Lambda glue embeds, and the [`engine`] that executes it: the order model ([`order`]), the steps
//! ([`steps`]) and persistence ([`store`]). This crate never depends on the generator.
//!
//! # Features
//!
//! None is on by default; each crate asks for the part it runs.
//! - Without features: the plan, the engine ([`Engine::process`]), the order API ([`api`]), the
//!   DynamoDB and memory stores, the stream processor's handler ([`streams::lambda`]), dead letters
//!   ([`dead_letter`]), the AWS SDK configuration ([`aws`]), the Lambda functions of a plan and
//!   their environment conventions ([`functions`]) and telemetry (EMF, JSON logs).
//! - `local`: what only `orchgen dev` uses on a laptop: the SQLite store (`store::sqlite`), the
//!   local change-feed processor (`engine::processor`: `Processor`), the DynamoDB Streams consumer
//!   (`streams::consumer`, `streams::checkpoint`) and the live dashboard's stats
//!   (`telemetry::live`). Implies `dynamodb-streams`.
//! - `dynamodb-streams`: the DynamoDB Streams API's records as Lambda event records
//!   (`streams::records`), for the local consumer and `orchgen redrive`.
//! - `lambda`: what only runs inside AWS Lambda: the `lambda` module (`lambda_runtime` wiring of the
//!   functions, invoking step functions).

pub mod plan;

pub use plan::Plan;
pub mod api;
pub mod aws;
pub mod dead_letter;
pub mod engine;
pub mod error_text;
pub mod functions;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod order;
pub mod secrets;
pub mod steps;
pub mod streams;
pub mod telemetry;
// `store::Created::Existing(Order)` is a large variant; boxing it would change the fixed contract.
#[allow(clippy::large_enum_variant)]
pub mod store;

pub use engine::{Engine, ProcessError};
#[cfg(feature = "local")]
pub use engine::{Processor, ProcessorConfig};
