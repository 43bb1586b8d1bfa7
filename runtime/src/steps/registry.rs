//! Which handler runs a plan's step or compensation: the built-in of its kind, the user's handler
//! registered under a `custom` step's function path ([`NotRegistered`], a terminal
//! `HANDLER_NOT_REGISTERED`, when nobody registered it), or the runtime's [`HttpStep`] for `http`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::plan::{CompensationAction, CompensationPlan, StepAction, StepPlan};

use super::StepHandler;
use super::charge::ChargePayment;
use super::custom::NotRegistered;
use super::fulfil::Fulfil;
use super::http::HttpStep;
use super::notify::Notify;
use super::refund::RefundPayment;
use super::release::ReleaseInventory;
use super::reserve::ReserveInventory;
use super::validate::Validate;

/// Handlers by step kind and by custom function path.
#[derive(Clone)]
pub struct Registry {
    validate: Arc<dyn StepHandler>,
    reserve: Arc<dyn StepHandler>,
    release: Arc<dyn StepHandler>,
    charge: Arc<dyn StepHandler>,
    refund: Arc<dyn StepHandler>,
    fulfil: Arc<dyn StepHandler>,
    notify: Arc<dyn StepHandler>,
    http: Arc<dyn StepHandler>,
    custom: HashMap<String, Arc<dyn StepHandler>>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            validate: Arc::new(Validate),
            reserve: Arc::new(ReserveInventory),
            release: Arc::new(ReleaseInventory),
            charge: Arc::new(ChargePayment),
            refund: Arc::new(RefundPayment),
            fulfil: Arc::new(Fulfil),
            notify: Arc::new(Notify),
            http: Arc::new(HttpStep::new()),
            custom: HashMap::new(),
        }
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut custom: Vec<&String> = self.custom.keys().collect();
        custom.sort();
        f.debug_struct("Registry").field("custom", &custom).finish_non_exhaustive()
    }
}

impl Registry {
    /// The built-ins, no custom handler.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// A registry in which every built-in kind and every `http` step runs `handler` (custom
    /// functions still go through [`Registry::register`]): e.g. a handler that runs each step in
    /// its own Lambda function.
    pub fn uniform(handler: Arc<dyn StepHandler>) -> Registry {
        Registry {
            validate: handler.clone(),
            reserve: handler.clone(),
            release: handler.clone(),
            charge: handler.clone(),
            refund: handler.clone(),
            fulfil: handler.clone(),
            notify: handler.clone(),
            http: handler,
            custom: HashMap::new(),
        }
    }

    /// Replaces the handler of `http` steps and compensations (e.g. one reading its secrets from
    /// AWS, in a step's Lambda function).
    pub fn set_http(&mut self, handler: Arc<dyn StepHandler>) {
        self.http = handler;
    }

    /// Registers (or replaces) the handler of custom steps and compensations naming `function`.
    pub fn register(&mut self, function: impl Into<String>, handler: Arc<dyn StepHandler>) {
        self.custom.insert(function.into(), handler);
    }

    /// Whether a handler is registered under `function`.
    pub fn is_registered(&self, function: &str) -> bool {
        self.custom.contains_key(function)
    }

    /// The handler of a step.
    pub fn step(&self, step: &StepPlan) -> Arc<dyn StepHandler> {
        match &step.action {
            StepAction::Validate(_) => self.validate.clone(),
            StepAction::ReserveInventory => self.reserve.clone(),
            StepAction::ChargePayment(_) => self.charge.clone(),
            StepAction::Fulfil(_) => self.fulfil.clone(),
            StepAction::Notify(_) => self.notify.clone(),
            StepAction::Custom(handler) => self.custom_handler(&handler.function),
            StepAction::Http(_) => self.http.clone(),
        }
    }

    /// The handler of a compensation.
    pub fn compensation(&self, compensation: &CompensationPlan) -> Arc<dyn StepHandler> {
        match &compensation.action {
            CompensationAction::ReleaseInventory => self.release.clone(),
            CompensationAction::RefundPayment => self.refund.clone(),
            CompensationAction::Custom(handler) => self.custom_handler(&handler.function),
            CompensationAction::Http(_) => self.http.clone(),
        }
    }

    fn custom_handler(&self, function: &str) -> Arc<dyn StepHandler> {
        match self.custom.get(function) {
            Some(handler) => handler.clone(),
            None => Arc::new(NotRegistered { function: function.to_owned() }),
        }
    }
}
