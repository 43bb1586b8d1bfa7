//! The DynamoDB Streams path: the stream processor as a Lambda handler ([`handle_event`]) and a
//! local consumer of DynamoDB Streams that feeds it like a Lambda event source mapping
//! ([`StreamConsumer`]).
//!
//! Modules: [`event`] (stream records ↔ change records, the orders-table item layout), [`lambda`]
//! (the handler and its partial batch response), [`consumer`] (shards, iterators, batches, retries,
//! dead letters), [`checkpoint`] (per-shard checkpoint files).

pub mod checkpoint;
pub mod consumer;
pub mod event;
pub mod lambda;

pub use checkpoint::{CheckpointDir, ShardCheckpoint};
pub use consumer::{
    BatchHandler, ConsumerStatsSnapshot, DeadLetter, EngineHandler, StreamConsumer, StreamConsumerConfig,
    StreamConsumerHandle, endpoint_sdk_config,
};
pub use event::{decode_record, image_from_order, order_from_image};
pub use lambda::{BatchReport, RecordFailure, handle_event, process_event};
