//! The SQL writes, run by the writer thread inside a job's savepoint: a new order (with its
//! idempotency key), a transition (conditioned on the version, with its effects on inventory, ledger
//! and outbox), the change record of each, and inventory seeding.

use rusqlite::{Connection, OptionalExtension, params};

use super::encoding::{encode_order, kind_name, to_i64, to_u64};
use super::queries::load_order;
use super::schema::Db;
use crate::store::{
    ChangeKind, CommitError, Created, Effect, EffectError, IdempotencyKey, StoreError, Transition, Units,
};

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An order ready to be written (encoded off the writer thread).
pub(super) struct NewOrder {
    pub(super) order_id: String,
    pub(super) status: String,
    pub(super) created_at: String,
    pub(super) version: i64,
    pub(super) body: String,
    pub(super) key: Option<IdempotencyKey>,
}

pub(super) fn create_order(conn: &Connection, new: &NewOrder) -> Result<Created, StoreError> {
    if let Some(key) = &new.key {
        let seen: Option<(String, String)> = conn
            .prepare_cached("SELECT request_hash, order_id FROM idempotency WHERE key = ?1")
            .and_then(|mut s| s.query_row([&key.key], |row| Ok((row.get(0)?, row.get(1)?))).optional())
            .db()?;
        if let Some((hash, order_id)) = seen {
            if hash != key.request_hash {
                return Ok(Created::KeyReused { order_id });
            }
            return match load_order(conn, &order_id)? {
                Some(order) => Ok(Created::Existing(order)),
                None => Err(StoreError::Corrupt(format!(
                    "idempotency key {:?} names order {order_id}, which does not exist",
                    key.key
                ))),
            };
        }
    }
    let inserted = conn
        .prepare_cached(
            "INSERT INTO orders (order_id, status, created_at, version, body) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (order_id) DO NOTHING",
        )
        .and_then(|mut s| s.execute(params![new.order_id, new.status, new.created_at, new.version, new.body]))
        .db()?;
    if inserted == 0 {
        return Err(StoreError::Invalid(format!("order {} already exists", new.order_id)));
    }
    append_change(conn, &new.order_id, ChangeKind::Insert, Some(&new.body))?;
    if let Some(key) = &new.key {
        conn.prepare_cached(
            "INSERT INTO idempotency (key, request_hash, order_id, created_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut s| s.execute(params![key.key, key.request_hash, new.order_id, now()]))
        .db()?;
    }
    Ok(Created::New)
}

fn append_change(conn: &Connection, order_id: &str, kind: ChangeKind, image: Option<&str>) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT INTO changes (order_id, kind, new_image) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(params![order_id, kind_name(kind), image]))
        .map(|_| ())
        .db()
}

/// A transition ready to be written (encoded and checked off the writer thread).
pub(super) struct Prepared {
    order_id: String,
    status: String,
    expected: u64,
    version: i64,
    body: String,
    effects: Vec<Effect>,
}

pub(super) fn prepare(transition: &Transition) -> Result<Prepared, StoreError> {
    transition.check_version()?;
    let order = &transition.order;
    let version = to_i64("version", order.version)?;
    // Reject what cannot be stored before anything is queued.
    for effect in &transition.effects {
        if let Effect::ReserveStock { units } | Effect::ReleaseStock { units } | Effect::CommitStock { units } = effect
        {
            aggregate(units)?;
        }
    }
    Ok(Prepared {
        order_id: order.order_id.clone(),
        status: order.status.clone(),
        expected: transition.expected_version,
        version,
        body: encode_order(order)?,
        effects: transition.effects.clone(),
    })
}

pub(super) fn commit(conn: &Connection, t: &Prepared) -> Result<(), CommitError> {
    let expected = t.version - 1;
    let updated = conn
        .prepare_cached("UPDATE orders SET status = ?2, version = ?3, body = ?4 WHERE order_id = ?1 AND version = ?5")
        .and_then(|mut s| s.execute(params![t.order_id, t.status, t.version, t.body, expected]))
        .db()?;
    if updated == 0 {
        return Err(CommitError::Conflict { order_id: t.order_id.clone(), expected: t.expected });
    }
    for effect in &t.effects {
        apply(conn, effect)?;
    }
    append_change(conn, &t.order_id, ChangeKind::Modify, Some(&t.body))?;
    Ok(())
}

/// Sums the units per product, in the order products first appear.
fn aggregate(units: &[Units]) -> Result<Vec<(&str, i64)>, StoreError> {
    let mut totals: Vec<(&str, u64)> = Vec::with_capacity(units.len());
    for unit in units {
        match totals.iter_mut().find(|(p, _)| *p == unit.product_id) {
            Some((_, total)) => {
                *total = total
                    .checked_add(unit.quantity)
                    .ok_or_else(|| StoreError::Invalid(format!("the quantity of {} is too large", unit.product_id)))?
            }
            None => totals.push((&unit.product_id, unit.quantity)),
        }
    }
    totals.into_iter().map(|(p, q)| Ok((p, to_i64("quantity", q)?))).collect()
}

fn stock_of(conn: &Connection, product_id: &str) -> Result<Option<(i64, i64)>, StoreError> {
    conn.prepare_cached("SELECT available, reserved FROM inventory WHERE product_id = ?1")
        .and_then(|mut s| s.query_row([product_id], |row| Ok((row.get(0)?, row.get(1)?))).optional())
        .db()
}

fn apply(conn: &Connection, effect: &Effect) -> Result<(), CommitError> {
    match effect {
        Effect::ReserveStock { units } => {
            let units = aggregate(units)?;
            for &(product_id, requested) in &units {
                let Some((available, _)) = stock_of(conn, product_id)? else {
                    return Err(EffectError::UnknownProduct { product_id: product_id.to_owned() }.into());
                };
                if available < requested {
                    return Err(EffectError::OutOfStock {
                        product_id: product_id.to_owned(),
                        requested: to_u64("quantity", requested)?,
                        available: to_u64("available stock", available)?,
                    }
                    .into());
                }
            }
            for &(product_id, quantity) in &units {
                conn.prepare_cached(
                    "UPDATE inventory SET available = available - ?2, reserved = reserved + ?2 WHERE product_id = ?1",
                )
                .and_then(|mut s| s.execute(params![product_id, quantity]))
                .db()?;
            }
        }
        Effect::ReleaseStock { units } | Effect::CommitStock { units } => {
            let units = aggregate(units)?;
            for &(product_id, requested) in &units {
                let Some((_, reserved)) = stock_of(conn, product_id)? else {
                    return Err(EffectError::UnknownProduct { product_id: product_id.to_owned() }.into());
                };
                if reserved < requested {
                    return Err(EffectError::NotReserved {
                        product_id: product_id.to_owned(),
                        requested: to_u64("quantity", requested)?,
                        reserved: to_u64("reserved stock", reserved)?,
                    }
                    .into());
                }
            }
            let sql = if matches!(effect, Effect::ReleaseStock { .. }) {
                "UPDATE inventory SET available = available + ?2, reserved = reserved - ?2 WHERE product_id = ?1"
            } else {
                "UPDATE inventory SET reserved = reserved - ?2 WHERE product_id = ?1"
            };
            for &(product_id, quantity) in &units {
                conn.prepare_cached(sql).and_then(|mut s| s.execute(params![product_id, quantity])).db()?;
            }
        }
        Effect::RecordCharge { order_id, charge } => {
            let inserted = conn
                .prepare_cached(
                    "INSERT INTO ledger (order_id, charge_id, amount_cents, currency, refunded) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (order_id) DO NOTHING",
                )
                .and_then(|mut s| {
                    s.execute(params![order_id, charge.charge_id, charge.amount_cents, charge.currency, charge.refunded])
                })
                .db()?;
            if inserted == 0 {
                return Err(EffectError::AlreadyCharged { order_id: order_id.clone() }.into());
            }
        }
        Effect::RefundCharge { order_id } => {
            let updated = conn
                .prepare_cached("UPDATE ledger SET refunded = 1 WHERE order_id = ?1 AND refunded = 0")
                .and_then(|mut s| s.execute([order_id]))
                .db()?;
            if updated == 0 {
                return Err(EffectError::NothingToRefund { order_id: order_id.clone() }.into());
            }
        }
        Effect::SendNotification { notification: n } => {
            conn.prepare_cached(
                "INSERT INTO outbox (order_id, step, recipient, subject, at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (order_id, step) DO NOTHING",
            )
            .and_then(|mut s| s.execute(params![n.order_id, n.step, n.to, n.subject, n.at]))
            .db()?;
        }
    }
    Ok(())
}

pub(super) fn seed(conn: &Connection, stock: &[(String, i64)]) -> Result<usize, StoreError> {
    let mut added = 0;
    for (product_id, available) in stock {
        added += conn
            .prepare_cached(
                "INSERT INTO inventory (product_id, available, reserved) VALUES (?1, ?2, 0) ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| s.execute(params![product_id, available]))
            .db()?;
    }
    Ok(added)
}
