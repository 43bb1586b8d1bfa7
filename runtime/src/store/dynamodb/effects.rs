//! A transition's effects as DynamoDB writes, and the domain error of a failed one.
//!
//! A transaction may touch an item only once, so the effects are **merged per item** first: every
//! stock effect on a product becomes one UpdateItem (`available = available + :da, reserved =
//! reserved + :dr`) whose condition is the strongest of the effects' conditions, expressed on the
//! values before the transaction (reserving 3 then 2 of a product needs `available >= 5`); every
//! ledger effect of an order (charge, refund, notifications) becomes one UpdateItem of its ledger
//! item. Effects that can never succeed together (two charges of one order in one transition) are
//! not sent: the store diagnoses them directly.
//!
//! DynamoDB says only *which* item's condition failed, and DynamoDB Local does not return the item
//! ([`simulate`] fills the gap): after a failure the store reads the items the effects touch and
//! replays the effects on them, in order, with the exact semantics of the reference stores — so the
//! error names the same product, with the same requested and available units.

use std::collections::HashMap;

use crate::order::Charge;
use crate::store::{Effect, EffectError, Notification, Stock, Units};

/// One product's merged stock change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockOp {
    /// The product.
    pub product_id: String,
    /// Change of `available`.
    pub delta_available: i128,
    /// Change of `reserved`.
    pub delta_reserved: i128,
    /// `available` must be at least this before the transaction.
    pub min_available: i128,
    /// `reserved` must be at least this before the transaction.
    pub min_reserved: i128,
}

/// What the ledger item must look like before the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerCondition {
    /// Nothing (notifications only).
    None,
    /// No charge yet.
    NotCharged,
    /// Charged and not refunded.
    ChargedNotRefunded,
}

/// One order's merged ledger change.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerOp {
    /// The order (the ledger item's key).
    pub order_id: String,
    /// The charge to record (its `refunded` flag already final).
    pub charge: Option<Charge>,
    /// Mark the existing charge refunded.
    pub refund: bool,
    /// The condition.
    pub condition: LedgerCondition,
    /// Notifications to record, at most one per step (the first).
    pub notifications: Vec<Notification>,
}

/// A transition's effects, one operation per item.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Merged {
    /// Stock changes, in order of first appearance.
    pub stock: Vec<StockOp>,
    /// Ledger changes, in order of first appearance.
    pub ledger: Vec<LedgerOp>,
}

impl Merged {
    /// Whether the effects write no item besides the order (no stock, ledger or outbox change):
    /// such a transition is committed as one conditional PutItem rather than a transaction.
    pub fn is_empty(&self) -> bool {
        self.stock.is_empty() && self.ledger.is_empty()
    }
}

/// Units summed per product, in order of first appearance.
fn summed(units: &[Units]) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::with_capacity(units.len());
    for u in units {
        match out.iter_mut().find(|(p, _)| *p == u.product_id) {
            Some((_, q)) => *q = q.saturating_add(u.quantity),
            None => out.push((u.product_id.clone(), u.quantity)),
        }
    }
    out
}

/// Merges the effects per item; `None` when they can never all succeed (see the module docs).
pub fn merge(effects: &[Effect]) -> Option<Merged> {
    let mut merged = Merged::default();
    for effect in effects {
        match effect {
            Effect::ReserveStock { units } | Effect::ReleaseStock { units } | Effect::CommitStock { units } => {
                for (product_id, q) in summed(units) {
                    let q = i128::from(q);
                    let op = match merged.stock.iter().position(|s| s.product_id == product_id) {
                        Some(i) => &mut merged.stock[i],
                        None => {
                            merged.stock.push(StockOp {
                                product_id,
                                delta_available: 0,
                                delta_reserved: 0,
                                min_available: 0,
                                min_reserved: 0,
                            });
                            merged.stock.last_mut()?
                        }
                    };
                    match effect {
                        Effect::ReserveStock { .. } => {
                            op.min_available = op.min_available.max(q - op.delta_available);
                            op.delta_available -= q;
                            op.delta_reserved += q;
                        }
                        Effect::ReleaseStock { .. } => {
                            op.min_reserved = op.min_reserved.max(q - op.delta_reserved);
                            op.delta_reserved -= q;
                            op.delta_available += q;
                        }
                        _ => {
                            op.min_reserved = op.min_reserved.max(q - op.delta_reserved);
                            op.delta_reserved -= q;
                        }
                    }
                }
            }
            Effect::RecordCharge { order_id, charge } => {
                let op = ledger_op(&mut merged, order_id);
                if op.charge.is_some() || op.refund {
                    return None;
                }
                op.charge = Some(charge.clone());
                op.condition = LedgerCondition::NotCharged;
            }
            Effect::RefundCharge { order_id } => {
                let op = ledger_op(&mut merged, order_id);
                match &mut op.charge {
                    Some(charge) if !charge.refunded => charge.refunded = true,
                    Some(_) => return None,
                    None if op.refund => return None,
                    None => {
                        op.refund = true;
                        op.condition = LedgerCondition::ChargedNotRefunded;
                    }
                }
            }
            Effect::SendNotification { notification } => {
                let op = ledger_op(&mut merged, &notification.order_id);
                if !op.notifications.iter().any(|n| n.step == notification.step) {
                    op.notifications.push(notification.clone());
                }
            }
        }
    }
    Some(merged)
}

fn ledger_op<'m>(merged: &'m mut Merged, order_id: &str) -> &'m mut LedgerOp {
    let i = match merged.ledger.iter().position(|l| l.order_id == order_id) {
        Some(i) => i,
        None => {
            merged.ledger.push(LedgerOp {
                order_id: order_id.to_owned(),
                charge: None,
                refund: false,
                condition: LedgerCondition::None,
                notifications: Vec::new(),
            });
            merged.ledger.len() - 1
        }
    };
    &mut merged.ledger[i]
}

/// The products and ledger items (order ids) the effects touch.
pub fn touched(effects: &[Effect]) -> (Vec<String>, Vec<String>) {
    let mut products = Vec::new();
    let mut orders = Vec::new();
    for effect in effects {
        match effect {
            Effect::ReserveStock { units } | Effect::ReleaseStock { units } | Effect::CommitStock { units } => {
                for u in units {
                    if !products.contains(&u.product_id) {
                        products.push(u.product_id.clone());
                    }
                }
            }
            Effect::RecordCharge { order_id, .. } | Effect::RefundCharge { order_id } => {
                if !orders.contains(order_id) {
                    orders.push(order_id.clone());
                }
            }
            Effect::SendNotification { .. } => {}
        }
    }
    (products, orders)
}

/// Replays `effects` in order on the stored state: `stock` (absent = unknown product) and
/// `charges` (order id → `Some(refunded)` when charged). Returns the first failure, as the
/// reference stores report it.
pub fn simulate(
    effects: &[Effect],
    mut stock: HashMap<String, Option<Stock>>,
    mut charges: HashMap<String, Option<bool>>,
) -> Result<(), EffectError> {
    for effect in effects {
        match effect {
            Effect::ReserveStock { units } | Effect::ReleaseStock { units } | Effect::CommitStock { units } => {
                for (product_id, q) in summed(units) {
                    let Some(Some(s)) = stock.get_mut(&product_id) else {
                        return Err(EffectError::UnknownProduct { product_id });
                    };
                    match effect {
                        Effect::ReserveStock { .. } => {
                            if s.available < q {
                                return Err(EffectError::OutOfStock {
                                    product_id,
                                    requested: q,
                                    available: s.available,
                                });
                            }
                            s.available -= q;
                            s.reserved += q;
                        }
                        _ => {
                            if s.reserved < q {
                                return Err(EffectError::NotReserved {
                                    product_id,
                                    requested: q,
                                    reserved: s.reserved,
                                });
                            }
                            s.reserved -= q;
                            if matches!(effect, Effect::ReleaseStock { .. }) {
                                s.available = s.available.saturating_add(q);
                            }
                        }
                    }
                }
            }
            Effect::RecordCharge { order_id, charge } => {
                let entry = charges.entry(order_id.clone()).or_insert(None);
                if entry.is_some() {
                    return Err(EffectError::AlreadyCharged { order_id: order_id.clone() });
                }
                *entry = Some(charge.refunded);
            }
            Effect::RefundCharge { order_id } => match charges.get_mut(order_id) {
                Some(Some(refunded)) if !*refunded => *refunded = true,
                _ => return Err(EffectError::NothingToRefund { order_id: order_id.clone() }),
            },
            Effect::SendNotification { .. } => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(list: &[(&str, u64)]) -> Vec<Units> {
        list.iter().map(|(p, q)| Units { product_id: (*p).to_owned(), quantity: *q }).collect()
    }

    fn charge() -> Charge {
        Charge { charge_id: "ch".into(), amount_cents: 5, currency: "USD".into(), refunded: false }
    }

    #[test]
    fn stock_effects_merge_into_one_conditioned_update_per_product() {
        let merged = merge(&[
            Effect::ReserveStock { units: units(&[("a", 3), ("b", 1), ("a", 2)]) },
            Effect::ReleaseStock { units: units(&[("a", 4)]) },
            Effect::CommitStock { units: units(&[("b", 1)]) },
        ])
        .expect("mergeable");
        assert_eq!(
            merged.stock,
            [
                StockOp {
                    product_id: "a".into(),
                    delta_available: -1,
                    delta_reserved: 1,
                    min_available: 5,
                    min_reserved: 0
                },
                StockOp {
                    product_id: "b".into(),
                    delta_available: -1,
                    delta_reserved: 0,
                    min_available: 1,
                    min_reserved: 0
                },
            ]
        );
    }

    #[test]
    fn ledger_effects_merge_per_order_and_impossible_pairs_are_refused() {
        let note = |step: &str| Notification {
            order_id: "o".into(),
            step: step.into(),
            to: "a@b.c".into(),
            subject: step.into(),
            at: "t".into(),
        };
        let merged = merge(&[
            Effect::SendNotification { notification: note("x") },
            Effect::RecordCharge { order_id: "o".into(), charge: charge() },
            Effect::SendNotification { notification: note("x") },
            Effect::RefundCharge { order_id: "o".into() },
        ])
        .expect("mergeable");
        assert_eq!(merged.ledger.len(), 1);
        let op = &merged.ledger[0];
        assert_eq!(op.condition, LedgerCondition::NotCharged);
        assert!(op.charge.as_ref().is_some_and(|c| c.refunded));
        assert_eq!(op.notifications, [note("x")]);

        let charge_twice = [
            Effect::RecordCharge { order_id: "o".into(), charge: charge() },
            Effect::RecordCharge { order_id: "o".into(), charge: charge() },
        ];
        assert_eq!(merge(&charge_twice), None);
        assert_eq!(
            simulate(&charge_twice, HashMap::new(), HashMap::new()),
            Err(EffectError::AlreadyCharged { order_id: "o".into() })
        );
        let refund_twice =
            [Effect::RefundCharge { order_id: "o".into() }, Effect::RefundCharge { order_id: "o".into() }];
        assert_eq!(merge(&refund_twice), None);
    }

    #[test]
    fn simulation_reports_the_first_failure_like_the_reference_stores() {
        let stock = HashMap::from([
            ("a".to_owned(), Some(Stock { available: 5, reserved: 0 })),
            ("b".to_owned(), Some(Stock { available: 1, reserved: 0 })),
        ]);
        let reserve = |list: &[(&str, u64)]| vec![Effect::ReserveStock { units: units(list) }];
        assert_eq!(
            simulate(&reserve(&[("a", 3), ("b", 2), ("a", 3)]), stock.clone(), HashMap::new()),
            Err(EffectError::OutOfStock { product_id: "a".into(), requested: 6, available: 5 })
        );
        assert_eq!(
            simulate(&reserve(&[("a", 1), ("zzz", 1)]), stock.clone(), HashMap::new()),
            Err(EffectError::UnknownProduct { product_id: "zzz".into() })
        );
        assert_eq!(simulate(&reserve(&[("a", 5), ("b", 1)]), stock, HashMap::new()), Ok(()));
    }
}
