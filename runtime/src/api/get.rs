//! `GET {path}/{id}`: one order with everything that happened to it. A malformed id is simply an
//! unknown order (404), never a 400 or a 500.

use crate::plan::StepAction;

use super::Api;
use super::error::{ApiError, code};
use super::request::{Reply, truncate};
use super::views::OrderView;

/// Handles `GET {path}/{id}`.
pub(super) async fn get(api: &Api, id: &str) -> Result<Reply, ApiError> {
    let not_found = || ApiError::new(404, code::ORDER_NOT_FOUND, format!("there is no order `{}`", truncate(id, 64)));
    let Ok(ulid) = ulid::Ulid::from_string(id) else {
        return Err(not_found());
    };
    let order = api.store.get_order(&ulid.to_string()).await?.ok_or_else(not_found)?;
    let currency = api.plan.steps.iter().find_map(|s| match &s.action {
        StepAction::ChargePayment(p) => Some(p.currency.as_str()),
        _ => None,
    });
    Reply::json(200, &OrderView::new(&order, &api.plan.api.path, currency))
}
