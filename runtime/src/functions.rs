//! The Lambda functions of a plan and the conventions they share with the generated CloudFormation
//! template and glue, so that `orchgen build` and the runtime cannot disagree: each function's name
//! ([`Function::name`], its binary and the suffix of its Lambda name), the environment variables
//! ([`ENV_STAGE`], [`ENV_LOG_LEVEL`], one per table ([`table_env_var`]) and one per step function
//! ([`Function::env_var`], with [`ENV_FUNCTION_PREFIX`] as a fallback)), and which functions a
//! plan has ([`functions`]).
//!
//! No feature: the generator reads these; `crate::lambda` (feature `lambda`) runs them.

use std::collections::BTreeMap;

use crate::plan::{Plan, TablesPlan};

/// Deployment stage (e.g. `prod`), for logs and metrics; empty when not set.
/// The plan file shipped with every function, next to its `bootstrap` in the zip (written by
/// `orchgen build` into the glue, zipped by `orchgen package`, read by `lambda::read_plan`).
pub const PLAN_FILE: &str = "plan.json";

/// Environment variable naming the plan file a function reads instead of the one next to it.
pub const ENV_PLAN: &str = "ORCHGEN_PLAN";

pub const ENV_STAGE: &str = "ORCHGEN_STAGE";
/// Log filter of the function (`info` when not set), in `tracing_subscriber::EnvFilter` syntax:
/// `debug`, `warn,orchgen_runtime=debug`, ...
pub const ENV_LOG_LEVEL: &str = "ORCHGEN_LOG_LEVEL";
/// Prefix of the step functions' names, used for a step whose own variable ([`Function::env_var`])
/// is not set: the function name is the prefix followed by [`Function::name`]. Lambda limits a
/// function's environment to 4 KB, so large pipelines set this instead of one variable per step.
pub const ENV_FUNCTION_PREFIX: &str = "ORCHGEN_FUNCTION_PREFIX";

/// One Lambda function of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Function {
    /// The order API.
    Api,
    /// The consumer of the orders change stream.
    StreamProcessor,
    /// A step, by name.
    Step(String),
    /// A compensation, by name.
    Compensation(String),
}

impl Function {
    /// A step's function.
    pub fn step(name: impl Into<String>) -> Function {
        Function::Step(name.into())
    }

    /// A compensation's function.
    pub fn compensation(name: impl Into<String>) -> Function {
        Function::Compensation(name.into())
    }

    /// The function's name in the glue and the template: its binary's name, and the suffix of its
    /// Lambda function name. `api`, `stream-processor`, `step-<step>`, `compensation-<compensation>`
    /// (the prefixes keep steps, compensations and the fixed functions apart: they may share names).
    pub fn name(&self) -> String {
        match self {
            Function::Api => "api".to_owned(),
            Function::StreamProcessor => "stream-processor".to_owned(),
            Function::Step(name) => format!("step-{name}"),
            Function::Compensation(name) => format!("compensation-{name}"),
        }
    }

    /// The environment variable of the stream processor that holds the Lambda function name (or
    /// ARN) to invoke for this step or compensation: `ORCHGEN_FUNCTION_` followed by [`Function::name`]
    /// in upper case with `-` as `_` (`step-charge-payment` → `ORCHGEN_FUNCTION_STEP_CHARGE_PAYMENT`).
    /// Step and compensation names are `[a-z][a-z0-9-]*`, so distinct functions get distinct variables.
    pub fn env_var(&self) -> String {
        format!("ORCHGEN_FUNCTION_{}", env_suffix(&self.name()))
    }

    /// What the function runs, for messages: `step \`validate\``, `the API`, ...
    pub fn describe(&self) -> String {
        match self {
            Function::Api => "the API".to_owned(),
            Function::StreamProcessor => "the stream processor".to_owned(),
            Function::Step(name) => format!("step `{name}`"),
            Function::Compensation(name) => format!("compensation `{name}`"),
        }
    }

    /// Whether the plan has this function's step or compensation (always true for the API and the
    /// stream processor).
    pub fn in_plan(&self, plan: &Plan) -> bool {
        match self {
            Function::Api | Function::StreamProcessor => true,
            Function::Step(name) => plan.step(name).is_some(),
            Function::Compensation(name) => plan.compensations.contains_key(name),
        }
    }
}

impl std::fmt::Display for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// Every Lambda function of the plan, in a stable order: the API, the stream processor, the steps in
/// execution order, then the compensations by name. Every step and compensation has one, `http`
/// ones included: it holds the call's secrets and its own timeout, memory and concurrency.
pub fn functions(plan: &Plan) -> Vec<Function> {
    let steps = plan.steps.iter().map(|s| Function::Step(s.name.clone()));
    let compensations = plan.compensations.values().map(|c| Function::Compensation(c.name.clone()));
    [Function::Api, Function::StreamProcessor].into_iter().chain(steps).chain(compensations).collect()
}

/// The step and compensation functions of the plan (those the stream processor invokes).
pub fn step_functions(plan: &Plan) -> Vec<Function> {
    functions(plan).into_iter().filter(|f| matches!(f, Function::Step(_) | Function::Compensation(_))).collect()
}

/// The environment variable holding the physical name of a table: `ORCHGEN_TABLE_` followed by the
/// table's logical name in upper case (`orders` → `ORCHGEN_TABLE_ORDERS`).
pub fn table_env_var(logical: &str) -> String {
    format!("ORCHGEN_TABLE_{}", env_suffix(logical))
}

/// The physical table names by logical name: each from its variable ([`table_env_var`]), or the
/// plan's name when the variable is not set (local runs).
pub fn table_names(plan: &Plan) -> BTreeMap<String, String> {
    plan.tables
        .all()
        .iter()
        .map(|t| {
            let name = std::env::var(table_env_var(&t.logical)).ok().filter(|v| !v.is_empty());
            (t.logical.clone(), name.unwrap_or_else(|| t.name.clone()))
        })
        .collect()
}

/// The plan's tables with the physical names of [`table_names`].
pub fn tables_from_env(plan: &Plan) -> TablesPlan {
    let names = table_names(plan);
    let mut tables = plan.tables.clone();
    for table in [&mut tables.orders, &mut tables.inventory, &mut tables.ledger, &mut tables.idempotency] {
        if let Some(name) = names.get(&table.logical) {
            table.name.clone_from(name);
        }
    }
    tables
}

/// The deployment stage ([`ENV_STAGE`]), empty when not set.
pub fn stage() -> String {
    std::env::var(ENV_STAGE).unwrap_or_default()
}

fn env_suffix(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}
