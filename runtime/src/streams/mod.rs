//! The DynamoDB Streams path: the stream processor as a Lambda handler ([`handle_event`]) and a
//! local consumer of DynamoDB Streams that feeds it like a Lambda event source mapping
//! (`StreamConsumer`, feature `local`).
//!
//! Modules: [`event`] (stream records ↔ change records, the orders-table item layout), [`lambda`]
//! (the handler and its partial batch response; no feature: `orchgen redrive` and the local
//! consumer run it too), `records` (DynamoDB Streams API records as Lambda event records, feature
//! `dynamodb-streams`), `consumer` (shards, iterators, batches, retries, dead letters) and
//! `checkpoint` (per-shard checkpoint files), both feature `local`.

#[cfg(feature = "local")]
pub mod checkpoint;
#[cfg(feature = "local")]
pub mod consumer;
pub mod event;
pub mod lambda;
#[cfg(feature = "dynamodb-streams")]
pub mod records;

#[cfg(feature = "local")]
pub use checkpoint::{CheckpointDir, ShardCheckpoint};
#[cfg(feature = "local")]
pub use consumer::{
    BatchHandler, ConsumerStatsSnapshot, EngineHandler, LOCAL_ORDERS_AT_ONCE, StreamConsumer, StreamConsumerConfig,
    StreamConsumerHandle,
};
pub use event::{decode_record, image_from_order, order_from_image};
pub use lambda::{BatchReport, ORDERS_AT_ONCE, RecordFailure, handle_event, process_event, process_event_with};
#[cfg(feature = "dynamodb-streams")]
pub use records::event_record;
