//! `refund_payment`: the compensation of a charge ([`Effect::RefundCharge`]); the order's charge is
//! marked refunded. An order without a charge, or already refunded, has nothing to undo.

use async_trait::async_trait;

use crate::order::Charge;
use crate::plan::Plan;
use crate::store::Effect;

use super::{StepError, StepHandler, StepInput, StepOutput};

/// The built-in `refund_payment` compensation.
#[derive(Debug, Clone, Copy, Default)]
pub struct RefundPayment;

#[async_trait]
impl StepHandler for RefundPayment {
    async fn call(&self, _plan: &Plan, input: StepInput) -> Result<StepOutput, StepError> {
        match &input.order.charge {
            Some(charge) if !charge.refunded => Ok(StepOutput {
                effects: vec![Effect::RefundCharge { order_id: input.order.order_id.clone() }],
                charge: Some(Charge { refunded: true, ..charge.clone() }),
                ..StepOutput::default()
            }),
            // Nothing was charged (or it is refunded already): nothing to undo.
            _ => Ok(StepOutput::default()),
        }
    }
}
