//! `GET {path}`: orders newest first, optionally of one status, a page at a time.
//!
//! Every parameter problem is reported at once (400). The `next` cursor is opaque to clients: it
//! wraps the store's cursor together with the status filter it belongs to, so a cursor that was
//! tampered with, truncated, or reused with another filter is a 400, never a 500.

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::order::FieldError;
use crate::store::{ListQuery, StoreError};

use super::Api;
use super::error::{ApiError, code};
use super::request::{Reply, query, truncate};
use super::views::{ListBody, OrderSummary};

/// Longest accepted `next` cursor, in characters.
const MAX_CURSOR_CHARS: usize = 2048;

/// What a `next` cursor carries.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Cursor {
    /// The status filter of the listing.
    s: Option<String>,
    /// The store's cursor.
    a: String,
}

/// Handles `GET {path}`.
pub(super) async fn list(api: &Api, req: &ApiGatewayProxyRequest) -> Result<Reply, ApiError> {
    let plan = &api.plan;
    let mut fields = Vec::new();
    let mut param = |name: &str| match query(req, name) {
        Ok(v) => v,
        Err(e) => {
            fields.extend(e.fields);
            None
        }
    };
    let (status, limit, next) = (param("status"), param("limit"), param("next"));

    if let Some(s) = status
        && !plan.has_status(s)
    {
        fields.push(FieldError {
            path: "status".into(),
            message: format!("`{}` is not a status; expected one of: {}", truncate(s, 64), plan.statuses.join(", ")),
        });
    }
    let limit = match limit {
        None => plan.api.default_limit,
        Some(l) => match l.trim().parse::<u32>() {
            Ok(n) if (1..=plan.api.max_limit).contains(&n) => n,
            _ => {
                fields.push(FieldError {
                    path: "limit".into(),
                    message: format!(
                        "must be an integer from 1 to {}, found `{}`",
                        plan.api.max_limit,
                        truncate(l, 32)
                    ),
                });
                plan.api.default_limit
            }
        },
    };
    let cursor = match next.map(|n| decode_cursor(n, status)) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(message)) => {
            fields.push(FieldError { path: "next".into(), message });
            None
        }
    };
    if !fields.is_empty() {
        let names: Vec<&str> = fields.iter().map(|f| f.path.as_str()).collect();
        let message =
            format!("invalid query parameter{}: {}", if names.len() == 1 { "" } else { "s" }, names.join(", "));
        return Err(ApiError::new(400, code::INVALID_PARAMETER, message).with_fields(fields));
    }

    let had_cursor = cursor.is_some();
    let q = ListQuery { status: status.map(str::to_owned), limit, cursor };
    let page = match api.store.list_orders(&q).await {
        Ok(page) => page,
        Err(StoreError::Invalid(detail)) if had_cursor => {
            tracing::debug!(%detail, "store refused a cursor");
            return Err(ApiError::parameter("next", "is not a cursor returned by this API"));
        }
        Err(e) => return Err(e.into()),
    };
    let orders: Vec<OrderSummary> = page.orders.iter().map(|o| OrderSummary::new(o, &plan.api.path)).collect();
    let body = ListBody {
        count: orders.len(),
        orders,
        next: page.next.map(|a| encode_cursor(&Cursor { s: status.map(str::to_owned), a })),
    };
    Reply::json(200, &body)
}

fn encode_cursor(cursor: &Cursor) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

/// The store's cursor inside `next`, checked against the listing's status filter.
fn decode_cursor(next: &str, status: Option<&str>) -> Result<String, String> {
    let invalid = || "is not a cursor returned by this API".to_owned();
    if next.is_empty() || next.len() > MAX_CURSOR_CHARS {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(next.trim_end_matches('=')).map_err(|_| invalid())?;
    let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if cursor.s.as_deref() != status {
        return Err(match cursor.s {
            Some(s) => format!("belongs to a listing with `status={s}`; repeat that filter"),
            None => "belongs to a listing without a status filter".to_owned(),
        });
    }
    Ok(cursor.a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_tampering() {
        let c = encode_cursor(&Cursor { s: Some("COMPLETED".into()), a: "abc".into() });
        assert_eq!(decode_cursor(&c, Some("COMPLETED")), Ok("abc".to_owned()));
        assert!(decode_cursor(&c, None).is_err());
        assert!(decode_cursor(&c, Some("FAILED")).is_err());
        assert!(decode_cursor("not-a-cursor!", None).is_err());
        assert!(decode_cursor(&c[..c.len() - 3], Some("COMPLETED")).is_err());
        assert!(decode_cursor("", None).is_err());
    }
}
