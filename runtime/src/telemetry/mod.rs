//! Telemetry conventions shared by the runtime (which emits the metrics) and the generator (whose
//! CloudFormation dashboard and alarms read them): see [`names`]. The engine and the API report
//! what happens to [`Observer`]s.
//!
//! Modules: [`names`], [`emf`] (EMF metrics), [`logs`] (JSON logs), [`observer`], and `live` (the
//! live dashboard's stats, feature `local`); the others need no feature.

pub mod emf;
#[cfg(feature = "local")]
pub mod live;
pub mod logs;
pub mod names;
pub mod observer;

pub use emf::Emf;
pub use observer::{Observer, Observers, Transition};
