//! The orchgen runtime.
//!
//! It owns the [`plan::Plan`], the resolved pipeline that the generator produces and that generated
//! Lambda glue embeds, and the [`engine`] that executes it: the order model ([`order`]), the steps
//! ([`steps`]) and persistence ([`store`]). This crate never depends on the generator.

pub mod plan;

pub use plan::Plan;
pub mod api;
pub mod engine;
pub mod lambda;
pub mod order;
pub mod steps;
pub mod streams;
pub mod telemetry;
// `store::Created::Existing(Order)` is a large variant; boxing it would change the fixed contract.
#[allow(clippy::large_enum_variant)]
pub mod store;

pub use engine::{Engine, ProcessError, Processor, ProcessorConfig};
