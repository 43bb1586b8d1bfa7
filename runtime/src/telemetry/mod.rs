//! Telemetry conventions shared by the runtime (which emits the metrics) and the generator (whose
//! CloudFormation dashboard and alarms read them): see [`names`]. The engine and the API report
//! what happens to [`Observer`]s.

pub mod emf;
pub mod live;
pub mod logs;
pub mod names;
pub mod observer;

pub use emf::Emf;
pub use observer::{Observer, Observers, Transition};
