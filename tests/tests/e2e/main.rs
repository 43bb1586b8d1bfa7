//! The end-to-end tests across the orchgen crates, one test binary (every extra binary relinks the
//! AWS SDKs): the diagnostic corpus, the generated CloudFormation and glue, the store backends, the
//! engine and the DynamoDB Streams consumer on DynamoDB Local, the editor integration and the crate
//! layering. The command line's own tests are next to its binary, in `cli/tests/cli/`.
//!
//! Run one module with a filter: `cargo test -p orchgen-tests --test e2e -- corpus::`.

mod build_cloudformation;
mod build_glue;
mod corpus;
mod dynamodb_engine;
mod editor_lsp;
mod glue_dynamodb;
mod http_secrets_aws;
mod layering;
mod schema_committed;
mod store_conformance;
mod streams_consumer;
