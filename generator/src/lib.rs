//! The orchgen pipeline language and what is generated from a plan.
//!
//! The flow is `YAML → Spec → validate → Plan → consumers`. This crate owns the language ([`spec`]),
//! the YAML loader ([`yaml`]), the checks ([`validate`]), the resolution into the runtime's
//! [`orchgen_runtime::Plan`] ([`resolve`]) and the published JSON Schema ([`schema`]); and, from a
//! plan, the generated artefacts: CloudFormation and Lambda glue ([`build`]), release zips
//! ([`package`]), the dev host project ([`devhost`]), graphs ([`graph`]), cost estimates ([`cost`]),
//! the project scaffold ([`scaffold`]) and the runtime sources generated Rust code compiles against
//! ([`sdk`], [`step_crate`]). It never runs a pipeline and never talks to AWS.

pub mod build;
pub mod cargo;
pub mod cost;
pub mod devhost;
pub mod diagnostic;
pub mod graph;
pub mod package;
pub mod plan_text;
pub mod resolve;
pub mod scaffold;
pub mod schema;
pub mod sdk;
pub mod source;
pub mod spec;
pub mod step_crate;
pub mod suggest;
pub mod validate;
pub mod yaml;

pub use validate::{Checked, check_file, check_source, check_source_in};
