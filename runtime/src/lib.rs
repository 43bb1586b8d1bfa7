//! The orchgen runtime.
//!
//! It owns the [`plan::Plan`], the resolved pipeline that the generator produces and that generated
//! Lambda glue embeds. The engine that executes a plan builds on it. This crate never depends on the
//! generator.

pub mod plan;

pub use plan::Plan;
pub mod order;
pub mod steps;
pub mod store;
