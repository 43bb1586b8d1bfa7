//! Re-driving an order from its current state: what `orchgen redrive` does for the orders of a
//! dead letter (the local path: `orchgen dev`'s dead-letter file) or, with `--from-current-state`,
//! for every open order (a deployed stage's records that are past the stream's retention).
//!
//! The order's current image is given to [`Engine::process`] as a change record: the engine runs
//! the step at the order's cursor (or its next compensation, or completes it) exactly as the
//! record that failed would have, and the new version's change record drives the next move (the
//! stream processor on AWS, `orchgen dev`'s processor or stream consumer locally). Re-driving an
//! order that has moved on since is harmless: transitions are conditioned on the version the
//! decision was made from, and step effects are keyed by order and step.

use serde::Serialize;

use crate::order::Order;
use crate::store::{ChangeKind, ChangeRecord, ListQuery, Store, StoreError};

use super::{Engine, ProcessError};

/// What re-driving one order did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Redriven {
    /// The order moved: `from` → `to` (`to` is the status read back after the move; the same as
    /// `from` when the step failed an attempt and the order waits for its retry, or when another
    /// delivery moved it first).
    Moved {
        /// The order.
        order_id: String,
        /// Its status before.
        from: String,
        /// Its status after.
        to: String,
        /// Its version after.
        version: u64,
    },
    /// The order is terminal already: nothing to do.
    Terminal {
        /// The order.
        order_id: String,
        /// Its terminal status.
        status: String,
    },
    /// No such order (expired by its TTL, or deleted): nothing to do.
    Missing {
        /// The order.
        order_id: String,
    },
}

impl Redriven {
    /// The order.
    pub fn order_id(&self) -> &str {
        match self {
            Redriven::Moved { order_id, .. } | Redriven::Terminal { order_id, .. } | Redriven::Missing { order_id } => {
                order_id
            }
        }
    }
}

impl std::fmt::Display for Redriven {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Redriven::Moved { order_id, from, to, .. } => write!(f, "{order_id}: {from} → {to}"),
            Redriven::Terminal { order_id, status } => write!(f, "{order_id}: already {status}, nothing to do"),
            Redriven::Missing { order_id } => write!(f, "{order_id}: no such order any more, nothing to do"),
        }
    }
}

impl Engine {
    /// Drives the order `order_id` one move forward from its current state (see the module docs).
    /// `Err` when the move fails again (nothing was written).
    pub async fn redrive(&self, order_id: &str) -> Result<Redriven, ProcessError> {
        let Some(order) = self.store.get_order(order_id).await? else {
            return Ok(Redriven::Missing { order_id: order_id.to_owned() });
        };
        if order.is_terminal() {
            return Ok(Redriven::Terminal { order_id: order.order_id, status: order.status });
        }
        let record = ChangeRecord {
            sequence_number: "0".to_owned(),
            kind: ChangeKind::Modify,
            order_id: order.order_id.clone(),
            new_image: Some(order.clone()),
        };
        self.process(&record).await?;
        let after = self.store.get_order(order_id).await?;
        let (to, version) = after.map_or_else(|| (order.status.clone(), order.version), |a| (a.status, a.version));
        Ok(Redriven::Moved { order_id: order.order_id, from: order.status, to, version })
    }
}

/// Every order of `store` that is not in a terminal status, newest first.
pub async fn open_orders(store: &dyn Store) -> Result<Vec<Order>, StoreError> {
    let mut open = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list_orders(&ListQuery { status: None, limit: 100, cursor }).await?;
        open.extend(page.orders.into_iter().filter(|o| !o.is_terminal()));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(open),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::plan::Plan;
    use crate::store::memory::MemoryStore;

    fn plan() -> Plan {
        Plan::from_json(include_str!("../../tests/fixtures/orders.plan.json")).expect("the reference plan")
    }

    #[tokio::test]
    async fn an_order_is_driven_one_move_until_terminal_and_a_missing_one_is_nothing_to_do() {
        let store = Arc::new(MemoryStore::new());
        let engine = Engine::new(Arc::new(plan()), store.clone());
        let stock = [("product-1".to_owned(), 10), ("product-2".to_owned(), 10)].into_iter().collect();
        store.seed_inventory(&stock).await.expect("seed");
        let order = Order::example();
        store.create_order(&order, None).await.expect("create");
        let id = order.order_id.clone();

        let mut moves = Vec::new();
        for _ in 0..20 {
            match engine.redrive(&id).await.expect("a redrive") {
                Redriven::Moved { from, to, version, .. } => {
                    assert_ne!(from, to, "each redrive moves the order on");
                    moves.push((to, version));
                }
                Redriven::Terminal { status, .. } => {
                    assert_eq!(status, "COMPLETED");
                    break;
                }
                Redriven::Missing { .. } => panic!("the order exists"),
            }
        }
        assert!(moves.len() >= 2, "one move per redrive: {moves:?}");
        assert_eq!(moves.last().map(|(s, _)| s.as_str()), Some("COMPLETED"));
        assert!(moves.windows(2).all(|w| w[1].1 == w[0].1 + 1), "one version per move: {moves:?}");
        assert_eq!(open_orders(store.as_ref()).await.expect("open orders"), []);
        let missing = engine.redrive("01JNOSUCHORDER000000000000").await.expect("nothing to do");
        assert_eq!(missing.to_string(), "01JNOSUCHORDER000000000000: no such order any more, nothing to do");
    }
}
