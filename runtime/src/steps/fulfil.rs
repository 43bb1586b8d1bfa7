//! `fulfil`: commits the reserved stock for good ([`Effect::CommitStock`]) and creates the
//! shipment, with the plan's carrier and a tracking id derived from the order id
//! (`<prefix>-<10 uppercase alphanumerics>`).

use async_trait::async_trait;

use crate::order::Shipment;
use crate::plan::{Plan, StepAction};
use crate::store::Effect;

use super::util::{alphanumerics, digest, units_of, wrong_kind};
use super::{StepError, StepHandler, StepInput, StepOutput};

/// The built-in `fulfil` step.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fulfil;

#[async_trait]
impl StepHandler for Fulfil {
    async fn call(&self, _plan: &Plan, input: StepInput) -> Result<StepOutput, StepError> {
        let StepAction::Fulfil(fulfilment) = &input.step.action else {
            return Err(wrong_kind("fulfil", input.step.action.kind()));
        };
        let units = units_of(&input.order)?;
        Ok(StepOutput {
            effects: vec![Effect::CommitStock { units }],
            shipment: Some(Shipment {
                carrier: fulfilment.carrier.clone(),
                tracking_id: tracking_id(&fulfilment.tracking_prefix, &input.order.order_id),
            }),
            ..StepOutput::default()
        })
    }
}

/// The tracking id of an order: the prefix, `-`, and 10 of `[0-9A-Z]` from a hash of the order id.
pub fn tracking_id(prefix: &str, order_id: &str) -> String {
    format!("{prefix}-{}", alphanumerics(&digest("tracking", order_id), 10))
}
