//! The dated price table of `orchgen cost`: every AWS price the model uses, in one place.
//!
//! Prices are on-demand list prices for us-east-1 in US dollars, without free tier. The figures marked
//! "ENVIRONMENT.md" are the project's reference prices (`Prices used for cost estimates`); the others
//! say where they come from. Update [`PRICES`] (and its date) when AWS changes them. The Step Functions
//! Express and Lambda durable functions figures were added on 2026-12-07 and say, each, how far they
//! could be checked.

use serde::Serialize;

/// Every price of the model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PriceTable {
    /// When these prices were taken (ISO 8601 date).
    pub date: &'static str,
    /// The AWS region they apply to.
    pub region: &'static str,
    /// Lambda, per request (ENVIRONMENT.md: $0.20 per million).
    pub lambda_request: f64,
    /// Lambda compute per GB-second on x86_64 (ENVIRONMENT.md: $0.0000166667).
    pub lambda_gb_second_x86: f64,
    /// Lambda compute per GB-second on arm64 (ENVIRONMENT.md: $0.0000133334).
    pub lambda_gb_second_arm: f64,
    /// API Gateway REST API, per request (ENVIRONMENT.md: $3.50 per million, first 333 million).
    pub api_rest_request: f64,
    /// API Gateway HTTP API, per request (ENVIRONMENT.md: $1.00 per million, first 300 million).
    pub api_http_request: f64,
    /// DynamoDB on-demand, per write request unit (ENVIRONMENT.md: $0.625 per million).
    pub dynamodb_write_unit: f64,
    /// DynamoDB on-demand, per read request unit (ENVIRONMENT.md: $0.125 per million).
    pub dynamodb_read_unit: f64,
    /// DynamoDB Standard table class storage, per GB-month (aws.amazon.com/dynamodb/pricing/on-demand:
    /// $0.25 per GB-month beyond the first 25 GB, which this model does not deduct).
    pub dynamodb_storage_gb_month: f64,
    /// DynamoDB Streams read requests made by a Lambda trigger: free (aws.amazon.com/dynamodb/pricing:
    /// "GetRecords API calls invoked by AWS Lambda as part of DynamoDB triggers are free").
    pub dynamodb_stream_read_by_lambda: f64,
    /// Step Functions Standard, per state transition (ENVIRONMENT.md: $0.025 per 1,000).
    pub sfn_standard_transition: f64,
    /// Step Functions Express, per request (an execution started): $1.00 per million
    /// (aws.amazon.com/step-functions/pricing, checked 2026-12-07 through the `search` look-ups: "You
    /// are charged based on the number of requests for your workflow and its duration").
    pub sfn_express_request: f64,
    /// Step Functions Express duration, per GB-second: $0.00001667 (first 1,000 hours of GB-seconds a
    /// month; same page, checked 2026-12-07). Billed per [`Self::sfn_express_billing_ms`] of the
    /// execution's time and per [`Self::sfn_express_memory_step_mb`] of the memory it uses.
    pub sfn_express_gb_second: f64,
    /// Step Functions Express rounds each execution's duration up to this many milliseconds ("rounded
    /// up to the nearest 100ms").
    pub sfn_express_billing_ms: f64,
    /// Step Functions Express bills memory in chunks of this many MB ("billed in 64-MB chunks"; the
    /// memory is that of the definition and the execution's payload).
    pub sfn_express_memory_step_mb: f64,
    /// Lambda durable functions, per durable operation (steps, waits, callbacks, the execution
    /// itself): $8.00 per million. As reported at launch (Dec 2025) and found in a transcription of
    /// aws.amazon.com/lambda/pricing dated 2026-09-20 ("Durable Functions operations $8.00/M"); the
    /// AWS page itself could not be read offline.
    pub durable_operation: f64,
    /// Lambda durable functions, per GB of checkpoint data written: $0.25. As reported at launch
    /// (Dec 2025), not confirmed offline.
    pub durable_data_written_gb: f64,
    /// Lambda durable functions, per GB-month of checkpoint data retained (for the execution and its
    /// retention period after it closes): $0.15. As reported at launch (Dec 2025), not confirmed
    /// offline.
    pub durable_data_retained_gb_month: f64,
    /// SQS standard queue, per request (ENVIRONMENT.md: $0.40 per million).
    pub sqs_request: f64,
    /// CloudWatch Logs ingestion per GB (aws.amazon.com/cloudwatch/pricing: $0.50 per GB, standard
    /// class). Embedded Metric Format lines are log lines and are charged as this ingestion; the custom
    /// metrics they create are a fixed monthly cost per metric, outside this per-order model.
    pub cloudwatch_logs_ingestion_gb: f64,
}

/// The prices in force.
pub const PRICES: PriceTable = PriceTable {
    date: "2026-11-27",
    region: "us-east-1",
    lambda_request: 0.20 / 1e6,
    lambda_gb_second_x86: 0.000_016_666_7,
    lambda_gb_second_arm: 0.000_013_333_4,
    api_rest_request: 3.50 / 1e6,
    api_http_request: 1.00 / 1e6,
    dynamodb_write_unit: 0.625 / 1e6,
    dynamodb_read_unit: 0.125 / 1e6,
    dynamodb_storage_gb_month: 0.25,
    dynamodb_stream_read_by_lambda: 0.0,
    sfn_standard_transition: 0.025 / 1e3,
    sfn_express_request: 1.00 / 1e6,
    sfn_express_gb_second: 0.000_016_67,
    sfn_express_billing_ms: 100.0,
    sfn_express_memory_step_mb: 64.0,
    durable_operation: 8.00 / 1e6,
    durable_data_written_gb: 0.25,
    durable_data_retained_gb_month: 0.15,
    sqs_request: 0.40 / 1e6,
    cloudwatch_logs_ingestion_gb: 0.50,
};

impl PriceTable {
    /// Lambda compute per GB-second for an architecture.
    pub fn lambda_gb_second(&self, architecture: orchgen_runtime::plan::Architecture) -> f64 {
        match architecture {
            orchgen_runtime::plan::Architecture::Arm64 => self.lambda_gb_second_arm,
            orchgen_runtime::plan::Architecture::X86_64 => self.lambda_gb_second_x86,
        }
    }
}
