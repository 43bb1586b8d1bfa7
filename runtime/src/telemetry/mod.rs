//! Telemetry conventions shared by the runtime (which emits the metrics) and the generator (whose
//! CloudFormation dashboard and alarms read them): see [`names`].

pub mod names;
