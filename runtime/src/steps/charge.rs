//! `charge_payment` with the mock provider: the first decline rule the order matches declines it
//! (a terminal failure coded with the rule's reason); otherwise the order total is charged under a
//! charge id derived from the order id, recorded in the ledger ([`Effect::RecordCharge`]).

use async_trait::async_trait;

use crate::order::{Charge, Order};
use crate::plan::{DeclineRule, PaymentPlan, PaymentProvider, Plan, StepAction};
use crate::store::Effect;

use super::util::{digest, hex, wrong_kind};
use super::{StepError, StepHandler, StepInput, StepOutput};

/// The built-in `charge_payment` step.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChargePayment;

#[async_trait]
impl StepHandler for ChargePayment {
    async fn call(&self, _plan: &Plan, input: StepInput) -> Result<StepOutput, StepError> {
        let StepAction::ChargePayment(payment) = &input.step.action else {
            return Err(wrong_kind("charge_payment", input.step.action.kind()));
        };
        let charge = match payment.provider {
            PaymentProvider::Mock => mock_charge(payment, &input.order)?,
        };
        Ok(StepOutput {
            effects: vec![Effect::RecordCharge { order_id: input.order.order_id.clone(), charge: charge.clone() }],
            charge: Some(charge),
            ..StepOutput::default()
        })
    }
}

/// The mock provider's decision.
fn mock_charge(payment: &PaymentPlan, order: &Order) -> Result<Charge, StepError> {
    if let Some(rule) = payment.decline.iter().find(|r| declines(r, order)) {
        return Err(StepError::reject(
            rule.reason.clone(),
            format!("the payment of {:.2} {} was declined: {}", order.total(), payment.currency, rule.reason),
        ));
    }
    Ok(Charge {
        charge_id: charge_id(&order.order_id),
        amount_cents: order.total_cents,
        currency: payment.currency.clone(),
        refunded: false,
    })
}

/// Whether every condition the rule gives holds for the order.
fn declines(rule: &DeclineRule, order: &Order) -> bool {
    rule.amount_above.is_none_or(|limit| order.total() > limit)
        && rule.payment_method.as_ref().is_none_or(|m| *m == order.payment_method)
        && rule.customer_id.as_ref().is_none_or(|c| *c == order.customer.customer_id)
}

/// The mock provider's charge id of an order: `ch_` and 24 hex digits of a hash of the order id.
pub fn charge_id(order_id: &str) -> String {
    format!("ch_{}", hex(&digest("charge", order_id), 12))
}
