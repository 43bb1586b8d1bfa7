//! orchgen: order-processing pipelines declared in YAML, validated, planned, built, run and deployed.
//!
//! The flow is `YAML → Spec → validate → Plan → consumers`. This crate owns the language ([`spec`]),
//! the YAML loader ([`yaml`]), the checks ([`validate`]), the resolution into the runtime's
//! [`orchgen_runtime::Plan`] ([`resolve`]) and the published JSON Schema ([`schema`]).

pub mod build;
pub mod cli;
pub mod cost;
pub mod deploy;
pub mod dev;
pub mod diagnostic;
pub mod graph;
pub mod orders;
pub mod package;
pub mod plan_text;
pub mod resolve;
pub mod scaffold;
pub mod schema;
pub mod sigv4;
pub mod source;
pub mod spec;
pub mod suggest;
pub mod validate;
pub mod yaml;

pub use validate::{Checked, check_file, check_source};
