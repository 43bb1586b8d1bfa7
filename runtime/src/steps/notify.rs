//! `notify` through the mock channel: one message per order and step in the outbox
//! ([`Effect::SendNotification`]), to the customer's e-mail, with the subject template's
//! `{order_id}`, `{status}` (the order's status when the message is sent, i.e. before this step's
//! own status applies) and `{customer_name}` replaced.

use async_trait::async_trait;

use crate::order::Order;
use crate::plan::{NotifyChannel, Plan, StepAction};
use crate::store::{Effect, Notification};

use super::util::{now_rfc3339, wrong_kind};
use super::{StepError, StepHandler, StepInput, StepOutput};

/// The built-in `notify` step.
#[derive(Debug, Clone, Copy, Default)]
pub struct Notify;

#[async_trait]
impl StepHandler for Notify {
    async fn call(&self, _plan: &Plan, input: StepInput) -> Result<StepOutput, StepError> {
        let StepAction::Notify(notify) = &input.step.action else {
            return Err(wrong_kind("notify", input.step.action.kind()));
        };
        let notification = match notify.channel {
            NotifyChannel::Mock => Notification {
                order_id: input.order.order_id.clone(),
                step: input.step.name.clone(),
                to: input.order.customer.email.clone(),
                subject: subject(&notify.subject, &input.order),
                at: now_rfc3339(),
            },
        };
        Ok(StepOutput { effects: vec![Effect::SendNotification { notification }], ..StepOutput::default() })
    }
}

/// The subject template with its placeholders replaced (each in one pass, so a value containing a
/// placeholder is never expanded again).
pub fn subject(template: &str, order: &Order) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let replaced = [
            ("{order_id}", order.order_id.as_str()),
            ("{status}", order.status.as_str()),
            ("{customer_name}", order.customer.name.as_str()),
        ]
        .into_iter()
        .find(|(placeholder, _)| tail.starts_with(placeholder));
        match replaced {
            Some((placeholder, value)) => {
                out.push_str(value);
                rest = &tail[placeholder.len()..];
            }
            None => {
                out.push('{');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::subject;
    use crate::order::{Address, Customer, Order};

    #[test]
    fn placeholders_are_replaced_once() {
        let order = Order {
            order_id: "01J0".to_owned(),
            status: "FULFILLED".to_owned(),
            version: 5,
            created_at: String::new(),
            updated_at: String::new(),
            customer: Customer {
                customer_id: "c".to_owned(),
                email: "a@b.co".to_owned(),
                name: "Ada {order_id}".to_owned(),
            },
            items: Vec::new(),
            shipping_address: Address::default(),
            payment_method: "paypal".to_owned(),
            total_cents: 0,
            cursor: 4,
            pending_compensations: Vec::new(),
            failure: None,
            charge: None,
            shipment: None,
            outputs: Default::default(),
            history: Vec::new(),
            expires_at: None,
        };
        assert_eq!(
            subject("{customer_name}: order {order_id} is {status} {unknown} {", &order),
            "Ada {order_id}: order 01J0 is FULFILLED {unknown} {"
        );
    }
}
