//! `reserve_inventory`: reserves the stock of every item, all or nothing. The handler only asks
//! for it ([`Effect::ReserveStock`] of the items summed per product); the store checks the stock
//! when the engine commits, and a shortage becomes the step's `OUT_OF_STOCK` failure.

use async_trait::async_trait;

use crate::plan::{Plan, StepAction};
use crate::store::Effect;

use super::util::{units_of, wrong_kind};
use super::{StepError, StepHandler, StepInput, StepOutput};

/// The built-in `reserve_inventory` step.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReserveInventory;

#[async_trait]
impl StepHandler for ReserveInventory {
    async fn call(&self, _plan: &Plan, input: StepInput) -> Result<StepOutput, StepError> {
        if !matches!(input.step.action, StepAction::ReserveInventory) {
            return Err(wrong_kind("reserve_inventory", input.step.action.kind()));
        }
        let units = units_of(&input.order)?;
        Ok(StepOutput { effects: vec![Effect::ReserveStock { units }], ..StepOutput::default() })
    }
}
