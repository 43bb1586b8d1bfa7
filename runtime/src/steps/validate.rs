//! `validate`: checks an order against the plan's [`ValidationRules`] and reports every invalid
//! field at once (`VALIDATION_FAILED`, with paths like `items[1].quantity` in the request's shape).

use async_trait::async_trait;

use crate::order::{FieldError, Order};
use crate::plan::{Plan, StepAction, ValidationRules};

use super::util::wrong_kind;
use super::{StepError, StepHandler, StepInput, StepOutput};

/// The code of a validation failure.
pub const VALIDATION_FAILED: &str = "VALIDATION_FAILED";

/// The built-in `validate` step.
#[derive(Debug, Clone, Copy, Default)]
pub struct Validate;

#[async_trait]
impl StepHandler for Validate {
    async fn call(&self, _plan: &Plan, input: StepInput) -> Result<StepOutput, StepError> {
        let StepAction::Validate(rules) = &input.step.action else {
            return Err(wrong_kind("validate", input.step.action.kind()));
        };
        let fields = check(rules, &input.order);
        if fields.is_empty() {
            return Ok(StepOutput::default());
        }
        let message = format!(
            "the order is invalid: {}",
            fields.iter().map(|f| format!("{} {}", f.path, f.message)).collect::<Vec<_>>().join("; ")
        );
        Err(StepError::Rejected { code: VALIDATION_FAILED.to_owned(), message, fields })
    }
}

/// Every rule the order breaks, in the order of the request's fields.
pub fn check(rules: &ValidationRules, order: &Order) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut error = |path: String, message: String| errors.push(FieldError { path, message });

    let customer = &order.customer;
    if customer.customer_id.trim().is_empty() {
        error("customer.customer_id".into(), "must not be empty".into());
    }
    if customer.email.trim().is_empty() {
        error("customer.email".into(), "must not be empty".into());
    } else if !is_email(&customer.email) {
        error("customer.email".into(), format!("`{}` is not a valid e-mail address", customer.email));
    }
    if customer.name.trim().is_empty() {
        error("customer.name".into(), "must not be empty".into());
    }

    let count = order.items.len();
    let (min, max) = (rules.min_items as usize, rules.max_items as usize);
    if count < min || count > max {
        error("items".into(), format!("has {count} items: an order needs between {min} and {max}"));
    }
    for (i, item) in order.items.iter().enumerate() {
        if item.product_id.trim().is_empty() {
            error(format!("items[{i}].product_id"), "must not be empty".into());
        }
        if item.quantity <= 0 {
            error(format!("items[{i}].quantity"), format!("is {}: it must be a positive integer", item.quantity));
        } else if item.quantity > i64::from(rules.max_quantity) {
            error(
                format!("items[{i}].quantity"),
                format!("is {}: at most {} allowed", item.quantity, rules.max_quantity),
            );
        }
        if !item.unit_price.is_finite() || item.unit_price < 0.0 {
            error(format!("items[{i}].unit_price"), format!("is {}: it must be a finite amount ≥ 0", item.unit_price));
        }
    }
    if order.total() > rules.max_order_total {
        error("total".into(), format!("is {:.2}: at most {} allowed", order.total(), rules.max_order_total));
    }

    let address = &order.shipping_address;
    for field in &rules.required_address_fields {
        match address.field(field) {
            Some(value) if value.trim().is_empty() => {
                error(format!("shipping_address.{field}"), "must not be empty".into());
            }
            Some(_) => {}
            None => error(format!("shipping_address.{field}"), "is not an address field".into()),
        }
    }
    let country = address.country.trim();
    let country_reported = country.is_empty() && rules.required_address_fields.iter().any(|f| f == "country");
    if !rules.allowed_countries.is_empty() && !country_reported && !rules.allowed_countries.iter().any(|c| c == country)
    {
        error(
            "shipping_address.country".into(),
            format!("`{country}` is not shipped to: one of {} expected", rules.allowed_countries.join(", ")),
        );
    }

    if !rules.payment_methods.is_empty() && !rules.payment_methods.contains(&order.payment_method) {
        error(
            "payment.payment_method".into(),
            format!("`{}` is not accepted: one of {} expected", order.payment_method, rules.payment_methods.join(", ")),
        );
    }
    errors
}

/// A pragmatic e-mail check: `local@domain.tld`, no whitespace, one `@`, a dotted domain of
/// non-empty labels made of letters, digits and hyphens, at most 254 characters.
pub fn is_email(email: &str) -> bool {
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else { return false };
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::is_email;

    #[test]
    fn emails() {
        for ok in ["a@b.co", "jane.doe+tag@example.com", "x@sub.example.org"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in ["", "a", "a@b", "@b.co", "a@.co", "a@b..co", "a b@c.co", "a@b@c.co", "a@-b.co", "a@b.co."] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
