//! `release_inventory`: the compensation of a reservation, moving the order's reserved units back
//! to available ([`Effect::ReleaseStock`]).

use async_trait::async_trait;

use crate::plan::Plan;
use crate::store::Effect;

use super::util::units_of;
use super::{StepError, StepHandler, StepInput, StepOutput};

/// The built-in `release_inventory` compensation.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReleaseInventory;

#[async_trait]
impl StepHandler for ReleaseInventory {
    async fn call(&self, _plan: &Plan, input: StepInput) -> Result<StepOutput, StepError> {
        let units = units_of(&input.order)?;
        Ok(StepOutput { effects: vec![Effect::ReleaseStock { units }], ..StepOutput::default() })
    }
}
