//! Conformance suite of the [`Store`] contract (and of [`ChangeFeed`] where a backend has one).
//!
//! Every case is an `async fn case<B: Backend>(backend: &B)` in [`cases`]; the `conformance!` macro
//! generates one `#[tokio::test]` per case for a backend, and `feed_conformance!` the cases of the
//! change feed. It runs against SQLite in a directory, SQLite in memory, the in-memory store and
//! DynamoDB Local ([`DynamoLocal`]: one DynamoDB Local per test binary, its own tables per test, so
//! the tests run in parallel). To add a backend, implement [`Backend`] for it and add one
//! `conformance!(module_name, BackendType);` line. Cases that reopen the storage only check
//! persistence when [`Backend::DURABLE`] is true.
//!
//! DynamoDB has no change feed of its own here (its stream is DynamoDB Streams, read by the stream
//! processor): where a case counts change records, it does so only for backends with a feed;
//! what a failed commit must not write is checked on the items themselves for every backend.
//!
//! SQLite-only checks (files on disk, a SIGKILL in the middle of writes) are at the end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use orchgen_runtime::order::{Charge, Order};
use orchgen_runtime::plan::Plan;
use orchgen_runtime::store::dynamodb::{DynamoStore, client_for_endpoint, ensure_tables, with_prefix};
use orchgen_runtime::store::memory::MemoryStore;
use orchgen_runtime::store::sqlite::SqliteStore;
use orchgen_runtime::store::{
    ChangeFeed, ChangeKind, ChangeRecord, CommitError, Created, Effect, EffectError, IdempotencyKey, ListQuery,
    Notification, Page, Stock, Store, StoreError, Transition, Units, compare_sequence,
};
use orchgen_tests::dynamodb_local::DynamoDbLocal;
use orchgen_tests::fixtures;

/// A backend under test.
#[allow(async_fn_in_trait)]
pub trait Backend: Sized + Send + Sync + 'static {
    /// The store it opens.
    type Store: Store;
    /// Whether opening the same storage again, after the previous store was dropped, shows
    /// everything that store committed.
    const DURABLE: bool;
    /// Whether orders created at the same instant are listed by descending id (DynamoDB lists them
    /// in its index order).
    const TIES_BY_ID: bool;
    /// Fresh, empty storage; `None` when the backend cannot run here (after a loud skip message).
    async fn new() -> Option<Self>;
    /// Opens (again) the storage.
    async fn open(&self) -> Self::Store;
    /// Every change record of the store, when the backend has a change feed.
    async fn changes(store: &Self::Store) -> Option<Vec<ChangeRecord>>;
}

/// SQLite in a temporary directory.
pub struct SqliteDir(tempfile::TempDir);

impl Backend for SqliteDir {
    type Store = SqliteStore;
    const DURABLE: bool = true;
    const TIES_BY_ID: bool = true;
    async fn new() -> Option<Self> {
        Some(SqliteDir(tempfile::tempdir().expect("temporary directory")))
    }
    async fn open(&self) -> SqliteStore {
        SqliteStore::open(self.0.path()).expect("open the store")
    }
    async fn changes(store: &SqliteStore) -> Option<Vec<ChangeRecord>> {
        Some(all_changes(store).await)
    }
}

/// SQLite in memory (one connection: reads go through the writer thread).
pub struct SqliteMemory;

impl Backend for SqliteMemory {
    type Store = SqliteStore;
    const DURABLE: bool = false;
    const TIES_BY_ID: bool = true;
    async fn new() -> Option<Self> {
        Some(SqliteMemory)
    }
    async fn open(&self) -> SqliteStore {
        SqliteStore::open_in_memory().expect("open the store")
    }
    async fn changes(store: &SqliteStore) -> Option<Vec<ChangeRecord>> {
        Some(all_changes(store).await)
    }
}

/// The in-memory store (nothing survives a reopen).
pub struct Memory;

impl Backend for Memory {
    type Store = MemoryStore;
    const DURABLE: bool = false;
    const TIES_BY_ID: bool = true;
    async fn new() -> Option<Self> {
        Some(Memory)
    }
    async fn open(&self) -> MemoryStore {
        MemoryStore::new()
    }
    async fn changes(store: &MemoryStore) -> Option<Vec<ChangeRecord>> {
        Some(all_changes(store).await)
    }
}

/// The reference plan's tables, created under a prefix of their own in the shared DynamoDB Local.
pub struct DynamoLocal {
    endpoint: String,
    tables: orchgen_runtime::plan::TablesPlan,
}

impl Backend for DynamoLocal {
    type Store = DynamoStore;
    const DURABLE: bool = true;
    const TIES_BY_ID: bool = false;
    async fn new() -> Option<Self> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let local = DynamoDbLocal::shared()?;
        let plan = Plan::from_json(fixtures::ORDERS_PLAN_JSON).expect("the fixture plan reads");
        let prefix = format!("c{}-", NEXT.fetch_add(1, Ordering::Relaxed));
        let tables = with_prefix(&plan.tables, &prefix);
        let endpoint = local.endpoint_url();
        ensure_tables(&client_for_endpoint(&endpoint), &tables).await.expect("create the tables");
        Some(DynamoLocal { endpoint, tables })
    }
    async fn open(&self) -> DynamoStore {
        DynamoStore::new(client_for_endpoint(&self.endpoint), &self.tables)
    }
    async fn changes(_store: &DynamoStore) -> Option<Vec<ChangeRecord>> {
        None
    }
}

macro_rules! conformance {
    ($module:ident, $backend:ty) => {
        mod $module {
            use super::*;
            conformance!(@cases $backend;
                create_get_round_trip,
                create_rejects_an_existing_order_id,
                idempotent_create,
                concurrent_creates_with_one_key_store_one_order,
                commit_with_wrong_version_conflicts_and_writes_nothing,
                commit_of_a_missing_order_conflicts,
                commit_requires_the_next_version,
                reserve_stock_is_all_or_nothing,
                concurrent_reservations_never_oversell,
                release_and_commit_stock_arithmetic,
                charge_twice_is_already_charged,
                refund_needs_an_unrefunded_charge,
                duplicate_notification_is_a_no_op,
                list_newest_first_with_status_filter,
                pagination_covers_every_order_once,
                bad_cursor_is_invalid,
                reopen_keeps_everything,
                seed_inventory_adds_only_missing_products,
            );
        }
    };
    (@cases $backend:ty; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(backend) = <$backend as $crate::store_conformance::Backend>::new().await else { return };
                $crate::store_conformance::cases::$case(&backend).await;
            }
        )*
    };
}

macro_rules! feed_conformance {
    ($module:ident, $backend:ty) => {
        mod $module {
            use super::*;
            conformance!(@cases $backend;
                change_feed_has_one_record_per_state_change,
                read_changes_pages_with_after,
                checkpoints_persist_across_reopen,
            );
        }
    };
}

conformance!(sqlite_dir, SqliteDir);
conformance!(sqlite_memory, SqliteMemory);
conformance!(memory, Memory);
conformance!(dynamodb, DynamoLocal);
feed_conformance!(sqlite_dir_feed, SqliteDir);
feed_conformance!(sqlite_memory_feed, SqliteMemory);
feed_conformance!(memory_feed, Memory);

/// Asserts that the store's feed holds `count` records, for backends with a feed.
pub async fn assert_changes<B: Backend>(store: &B::Store, count: usize) {
    if let Some(feed) = B::changes(store).await {
        assert_eq!(feed.len(), count, "change records");
    }
}

/// The ids of orders listed newest first. For backends that list orders created at the same instant
/// in their own order, checks that `created_at` never increases and puts ties in descending id order.
pub fn listing_order<B: Backend>(orders: &[Order]) -> Vec<String> {
    let mut listed: Vec<&Order> = orders.iter().collect();
    if !B::TIES_BY_ID {
        for pair in listed.windows(2) {
            assert!(
                pair[0].created_at >= pair[1].created_at,
                "{} listed before {}",
                pair[0].order_id,
                pair[1].order_id
            );
        }
        listed.sort_by(|a, b| (&b.created_at, &b.order_id).cmp(&(&a.created_at, &a.order_id)));
    }
    listed.into_iter().map(|o| o.order_id.clone()).collect()
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A new order (version 1, RECEIVED) created at second `second` of a fixed minute.
pub fn order(id: &str, second: u32, items: &[(&str, i64)]) -> Order {
    order_at(id, &format!("2024-05-01T12:{:02}:{:02}.000Z", second / 60, second % 60), items)
}

/// A new order created at `created_at`.
pub fn order_at(id: &str, created_at: &str, items: &[(&str, i64)]) -> Order {
    let lines: Vec<(&str, i64, f64)> = items.iter().map(|(product, quantity)| (*product, *quantity, 9.99)).collect();
    fixtures::order().items(&lines).received(id, created_at)
}

/// The transition of `order` to `status` with `effects`.
pub fn step(order: &Order, status: &str, effects: Vec<Effect>) -> Transition {
    let mut next = order.clone();
    next.status = status.to_owned();
    next.version += 1;
    next.cursor += 1;
    next.updated_at = format!("2024-05-02T00:00:{:02}.000Z", next.version % 60);
    Transition { expected_version: order.version, order: next, effects }
}

/// Commits `order` → `status`, returning the new order.
pub async fn advance(
    store: &impl Store,
    order: &Order,
    status: &str,
    effects: Vec<Effect>,
) -> Result<Order, CommitError> {
    let transition = step(order, status, effects);
    store.commit(&transition).await?;
    Ok(transition.order)
}

pub fn units(list: &[(&str, u64)]) -> Vec<Units> {
    list.iter().map(|(p, q)| Units { product_id: (*p).to_owned(), quantity: *q }).collect()
}

pub fn reserve(list: &[(&str, u64)]) -> Effect {
    Effect::ReserveStock { units: units(list) }
}

pub fn charge(order_id: &str, cents: i64) -> Effect {
    Effect::RecordCharge {
        order_id: order_id.to_owned(),
        charge: Charge {
            charge_id: format!("ch_{order_id}"),
            amount_cents: cents,
            currency: "USD".to_owned(),
            refunded: false,
        },
    }
}

pub fn notify(order_id: &str, step: &str, subject: &str) -> Effect {
    Effect::SendNotification {
        notification: Notification {
            order_id: order_id.to_owned(),
            step: step.to_owned(),
            to: "ada@example.com".to_owned(),
            subject: subject.to_owned(),
            at: "2024-05-01T12:00:00.000Z".to_owned(),
        },
    }
}

pub fn stock(list: &[(&str, u64)]) -> BTreeMap<String, u64> {
    list.iter().map(|(p, q)| ((*p).to_owned(), *q)).collect()
}

pub fn stock_of(available: u64, reserved: u64) -> Stock {
    Stock { available, reserved }
}

pub fn key(key: &str, hash: &str) -> IdempotencyKey {
    IdempotencyKey { key: key.to_owned(), request_hash: hash.to_owned() }
}

pub async fn create(store: &impl Store, order: &Order) {
    assert_eq!(store.create_order(order, None).await.expect("create"), Created::New);
}

/// Every order, following cursors with pages of `limit`.
pub async fn list_all(store: &impl Store, status: Option<&str>, limit: u32) -> Vec<Order> {
    let mut all = Vec::new();
    let mut cursor = None;
    for _ in 0..10_000 {
        let page = store
            .list_orders(&ListQuery { status: status.map(str::to_owned), limit, cursor: cursor.take() })
            .await
            .expect("list");
        assert!(page.orders.len() <= limit as usize, "a page holds at most `limit` orders");
        if page.next.is_some() {
            assert_eq!(page.orders.len(), limit as usize, "only the last page may be short");
        }
        all.extend(page.orders);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
    panic!("pagination does not end");
}

pub async fn all_changes(store: &impl ChangeFeed) -> Vec<orchgen_runtime::store::ChangeRecord> {
    store.read_changes(None, 1_000_000).await.expect("read changes")
}

fn ids(orders: &[Order]) -> Vec<&str> {
    orders.iter().map(|o| o.order_id.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------------

pub mod cases {
    use super::*;

    pub async fn create_get_round_trip<B: Backend>(b: &B) {
        let store = b.open().await;
        let o = order("ord-1", 1, &[("p1", 2), ("p2", 1)]);
        create(&store, &o).await;
        assert_eq!(store.get_order("ord-1").await.unwrap(), Some(o.clone()));
        assert_eq!(store.get_order("nope").await.unwrap(), None);

        if let Some(feed) = B::changes(&store).await {
            assert_eq!(feed.len(), 1);
            assert_eq!(feed[0].kind, ChangeKind::Insert);
            assert_eq!(feed[0].order_id, "ord-1");
            assert_eq!(feed[0].new_image.as_ref(), Some(&o));
        }
    }

    pub async fn create_rejects_an_existing_order_id<B: Backend>(b: &B) {
        let store = b.open().await;
        let o = order("ord-1", 1, &[("p1", 1)]);
        create(&store, &o).await;
        let mut other = order("ord-1", 2, &[("p2", 5)]);
        other.customer.name = "Someone Else".into();
        assert!(matches!(store.create_order(&other, None).await, Err(StoreError::Invalid(_))));
        assert_eq!(store.get_order("ord-1").await.unwrap(), Some(o));
        assert_changes::<B>(&store, 1).await;
    }

    pub async fn idempotent_create<B: Backend>(b: &B) {
        let store = b.open().await;
        let first = order("ord-1", 1, &[("p1", 1)]);
        let k = key("key-1", "hash-a");
        assert_eq!(store.create_order(&first, Some(&k)).await.unwrap(), Created::New);

        // A retry (new order id, same key and body) gets the order the key created.
        let retry = order("ord-2", 2, &[("p1", 1)]);
        assert_eq!(store.create_order(&retry, Some(&k)).await.unwrap(), Created::Existing(first.clone()));
        // Another body under the same key.
        assert_eq!(
            store.create_order(&retry, Some(&key("key-1", "hash-b"))).await.unwrap(),
            Created::KeyReused { order_id: "ord-1".into() }
        );
        // Existing shows the order as it is now.
        let moved = advance(&store, &first, "VALIDATED", vec![]).await.unwrap();
        assert_eq!(store.create_order(&retry, Some(&k)).await.unwrap(), Created::Existing(moved));
        // Another key creates another order.
        assert_eq!(store.create_order(&retry, Some(&key("key-2", "hash-a"))).await.unwrap(), Created::New);

        assert_eq!(ids(&list_all(&store, None, 10).await), ["ord-2", "ord-1"]);
        if let Some(feed) = B::changes(&store).await {
            let kinds: Vec<_> = feed.into_iter().map(|r| (r.kind, r.order_id)).collect();
            assert_eq!(
                kinds,
                [
                    (ChangeKind::Insert, "ord-1".to_owned()),
                    (ChangeKind::Modify, "ord-1".to_owned()),
                    (ChangeKind::Insert, "ord-2".to_owned())
                ]
            );
        }
    }

    pub async fn concurrent_creates_with_one_key_store_one_order<B: Backend>(b: &B) {
        let store = Arc::new(b.open().await);
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let o = order(&format!("ord-{i:02}"), i, &[("p1", 1)]);
                    store.create_order(&o, Some(&key("same-key", "same-hash"))).await.unwrap()
                })
            })
            .collect();
        let mut created = Vec::new();
        for task in tasks {
            created.push(task.await.unwrap());
        }
        assert_eq!(created.iter().filter(|c| **c == Created::New).count(), 1, "{created:?}");
        let all = list_all(&*store, None, 100).await;
        assert_eq!(all.len(), 1);
        for c in &created {
            match c {
                Created::New => {}
                Created::Existing(o) => assert_eq!(o, &all[0]),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_changes::<B>(&*store, 1).await;
    }

    pub async fn commit_with_wrong_version_conflicts_and_writes_nothing<B: Backend>(b: &B) {
        let store = b.open().await;
        store.seed_inventory(&stock(&[("p1", 10)])).await.unwrap();
        let o = order("ord-1", 1, &[("p1", 2)]);
        create(&store, &o).await;
        let at_v2 = advance(&store, &o, "VALIDATED", vec![]).await.unwrap();

        // A re-delivery of the first change, with effects on every table.
        let stale =
            step(&o, "RESERVED", vec![reserve(&[("p1", 2)]), charge("ord-1", 1998), notify("ord-1", "notify", "Hi")]);
        assert_eq!(store.commit(&stale).await, Err(CommitError::Conflict { order_id: "ord-1".into(), expected: 1 }));
        // A re-delivery of a move without effects (DynamoDB: a conditional PutItem, not a
        // transaction), even one identical to the stored version, loses the same way.
        let stale = step(&o, "VALIDATED", vec![]);
        assert_eq!(store.commit(&stale).await, Err(CommitError::Conflict { order_id: "ord-1".into(), expected: 1 }));
        assert_eq!(store.get_order("ord-1").await.unwrap(), Some(at_v2));
        assert_eq!(store.inventory().await.unwrap()["p1"], stock_of(10, 0));
        assert_eq!(store.ledger_count().await.unwrap(), 0);
        assert_eq!(store.ledger_entry("ord-1").await.unwrap(), None);
        assert!(store.outbox(None).await.unwrap().is_empty());
        assert_changes::<B>(&store, 2).await;
    }

    pub async fn commit_of_a_missing_order_conflicts<B: Backend>(b: &B) {
        let store = b.open().await;
        store.seed_inventory(&stock(&[("p1", 10)])).await.unwrap();
        let ghost = order("ghost", 1, &[("p1", 1)]);
        let result = store.commit(&step(&ghost, "RESERVED", vec![reserve(&[("p1", 1)])])).await;
        assert_eq!(result, Err(CommitError::Conflict { order_id: "ghost".into(), expected: 1 }));
        let result = store.commit(&step(&ghost, "VALIDATED", vec![])).await;
        assert_eq!(result, Err(CommitError::Conflict { order_id: "ghost".into(), expected: 1 }));
        assert_eq!(store.get_order("ghost").await.unwrap(), None);
        assert_eq!(store.inventory().await.unwrap()["p1"], stock_of(10, 0));
        assert_changes::<B>(&store, 0).await;
    }

    pub async fn commit_requires_the_next_version<B: Backend>(b: &B) {
        let store = b.open().await;
        let o = order("ord-1", 1, &[("p1", 1)]);
        create(&store, &o).await;
        let mut skip = step(&o, "VALIDATED", vec![]);
        skip.order.version = 3;
        assert!(matches!(store.commit(&skip).await, Err(CommitError::Store(StoreError::Invalid(_)))));
        let mut same = step(&o, "VALIDATED", vec![]);
        same.order.version = 1;
        assert!(matches!(store.commit(&same).await, Err(CommitError::Store(StoreError::Invalid(_)))));
        assert_eq!(store.get_order("ord-1").await.unwrap(), Some(o));
        assert_changes::<B>(&store, 1).await;
    }

    pub async fn reserve_stock_is_all_or_nothing<B: Backend>(b: &B) {
        let store = b.open().await;
        store.seed_inventory(&stock(&[("a", 5), ("b", 1), ("c", 10)])).await.unwrap();
        let o = order("ord-1", 1, &[("a", 2), ("b", 2), ("c", 1)]);
        create(&store, &o).await;
        let before = store.inventory().await.unwrap();

        // One product short: nothing moves, the short product is named.
        let short = step(&o, "RESERVED", vec![reserve(&[("a", 2), ("b", 2), ("c", 1)])]);
        assert_eq!(
            store.commit(&short).await,
            Err(CommitError::Effect(EffectError::OutOfStock { product_id: "b".into(), requested: 2, available: 1 }))
        );
        // Repeated products count together.
        let repeated = step(&o, "RESERVED", vec![reserve(&[("a", 3), ("c", 1), ("a", 3)])]);
        assert_eq!(
            store.commit(&repeated).await,
            Err(CommitError::Effect(EffectError::OutOfStock { product_id: "a".into(), requested: 6, available: 5 }))
        );
        // The first failing product is reported.
        let two_short = step(&o, "RESERVED", vec![reserve(&[("c", 11), ("b", 2)])]);
        assert_eq!(
            store.commit(&two_short).await,
            Err(CommitError::Effect(EffectError::OutOfStock { product_id: "c".into(), requested: 11, available: 10 }))
        );
        // An unknown product.
        let unknown = step(&o, "RESERVED", vec![reserve(&[("a", 1), ("zzz", 1)])]);
        assert_eq!(
            store.commit(&unknown).await,
            Err(CommitError::Effect(EffectError::UnknownProduct { product_id: "zzz".into() }))
        );
        assert_eq!(store.inventory().await.unwrap(), before);
        assert_eq!(store.get_order("ord-1").await.unwrap(), Some(o.clone()));
        assert_changes::<B>(&store, 1).await;

        // Enough of everything: all of it moves, with the order.
        let reserved = advance(&store, &o, "RESERVED", vec![reserve(&[("a", 2), ("c", 1), ("a", 1)])]).await.unwrap();
        let inventory = store.inventory().await.unwrap();
        assert_eq!(inventory["a"], stock_of(2, 3));
        assert_eq!(inventory["b"], stock_of(1, 0));
        assert_eq!(inventory["c"], stock_of(9, 1));
        assert_eq!(store.get_order("ord-1").await.unwrap(), Some(reserved));
    }

    pub async fn concurrent_reservations_never_oversell<B: Backend>(b: &B) {
        const ORDERS: usize = 300;
        let store = Arc::new(b.open().await);
        store.seed_inventory(&stock(&[("hot", 50)])).await.unwrap();
        let tasks: Vec<_> = (0..ORDERS)
            .map(|i| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let o = order(&format!("ord-{i:03}"), (i % 3600) as u32, &[("hot", 1)]);
                    create(&*store, &o).await;
                    tokio::task::yield_now().await;
                    advance(&*store, &o, "RESERVED", vec![reserve(&[("hot", 1)])]).await
                })
            })
            .collect();
        let mut succeeded = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => succeeded += 1,
                Err(CommitError::Effect(EffectError::OutOfStock { product_id, requested: 1, available: 0 })) => {
                    assert_eq!(product_id, "hot")
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(succeeded, 50);
        assert_eq!(store.inventory().await.unwrap()["hot"], stock_of(0, 50));
        let reserved = list_all(&*store, Some("RESERVED"), 1000).await;
        assert_eq!(reserved.len(), 50);
        assert_eq!(list_all(&*store, Some("RECEIVED"), 1000).await.len(), ORDERS - 50);
        if let Some(feed) = B::changes(&*store).await {
            assert_eq!(feed.iter().filter(|r| r.kind == ChangeKind::Insert).count(), ORDERS);
            assert_eq!(feed.iter().filter(|r| r.kind == ChangeKind::Modify).count(), 50);
        }
    }

    pub async fn release_and_commit_stock_arithmetic<B: Backend>(b: &B) {
        let store = b.open().await;
        store.seed_inventory(&stock(&[("p", 10), ("q", 3)])).await.unwrap();
        let o = order("ord-1", 1, &[("p", 4)]);
        create(&store, &o).await;
        let o = advance(&store, &o, "RESERVED", vec![reserve(&[("p", 4), ("q", 1)])]).await.unwrap();
        assert_eq!(store.inventory().await.unwrap()["p"], stock_of(6, 4));

        let release = |list: &[(&str, u64)]| Effect::ReleaseStock { units: units(list) };
        let commit = |list: &[(&str, u64)]| Effect::CommitStock { units: units(list) };

        let o = advance(&store, &o, "S1", vec![release(&[("p", 1)])]).await.unwrap();
        assert_eq!(store.inventory().await.unwrap()["p"], stock_of(7, 3));
        let o = advance(&store, &o, "S2", vec![commit(&[("p", 1), ("p", 1)])]).await.unwrap();
        assert_eq!(store.inventory().await.unwrap()["p"], stock_of(7, 1));

        // More than reserved: refused, nothing moves (not even the products that had enough).
        let too_much = step(&o, "S3", vec![release(&[("q", 1), ("p", 2)])]);
        assert_eq!(
            store.commit(&too_much).await,
            Err(CommitError::Effect(EffectError::NotReserved { product_id: "p".into(), requested: 2, reserved: 1 }))
        );
        let too_much = step(&o, "S3", vec![commit(&[("p", 1), ("q", 1), ("q", 1)])]);
        assert_eq!(
            store.commit(&too_much).await,
            Err(CommitError::Effect(EffectError::NotReserved { product_id: "q".into(), requested: 2, reserved: 1 }))
        );
        let inventory = store.inventory().await.unwrap();
        assert_eq!(inventory["p"], stock_of(7, 1));
        assert_eq!(inventory["q"], stock_of(2, 1));
        assert_eq!(store.get_order("ord-1").await.unwrap(), Some(o.clone()));

        let o = advance(&store, &o, "S3", vec![commit(&[("p", 1)]), release(&[("q", 1)])]).await.unwrap();
        let inventory = store.inventory().await.unwrap();
        assert_eq!(inventory["p"], stock_of(7, 0));
        assert_eq!(inventory["q"], stock_of(3, 0));
        assert_eq!(o.version, 5);
    }

    pub async fn charge_twice_is_already_charged<B: Backend>(b: &B) {
        let store = b.open().await;
        let o = order("ord-1", 1, &[("p", 1)]);
        create(&store, &o).await;
        let o = advance(&store, &o, "PAID", vec![charge("ord-1", 999)]).await.unwrap();
        let entry = store.ledger_entry("ord-1").await.unwrap().expect("an entry");
        assert_eq!(entry.order_id, "ord-1");
        assert_eq!(entry.charge.charge_id, "ch_ord-1");
        assert_eq!(entry.charge.amount_cents, 999);
        assert_eq!(entry.charge.currency, "USD");
        assert!(!entry.charge.refunded);

        let again = step(&o, "PAID_AGAIN", vec![notify("ord-1", "x", "y"), charge("ord-1", 5)]);
        assert_eq!(
            store.commit(&again).await,
            Err(CommitError::Effect(EffectError::AlreadyCharged { order_id: "ord-1".into() }))
        );
        assert_eq!(store.ledger_count().await.unwrap(), 1);
        assert_eq!(store.ledger_entry("ord-1").await.unwrap(), Some(entry));
        assert_eq!(store.get_order("ord-1").await.unwrap(), Some(o));
        assert!(store.outbox(None).await.unwrap().is_empty(), "the notification rolled back too");
        assert_eq!(store.ledger_entry("other").await.unwrap(), None);
    }

    pub async fn refund_needs_an_unrefunded_charge<B: Backend>(b: &B) {
        let store = b.open().await;
        let o = order("ord-1", 1, &[("p", 1)]);
        create(&store, &o).await;
        let refund = || Effect::RefundCharge { order_id: "ord-1".into() };

        assert_eq!(
            store.commit(&step(&o, "REFUNDED", vec![refund()])).await,
            Err(CommitError::Effect(EffectError::NothingToRefund { order_id: "ord-1".into() }))
        );
        let o = advance(&store, &o, "PAID", vec![charge("ord-1", 999)]).await.unwrap();
        let o = advance(&store, &o, "REFUNDED", vec![refund()]).await.unwrap();
        let entry = store.ledger_entry("ord-1").await.unwrap().expect("an entry");
        assert!(entry.charge.refunded);
        assert_eq!(entry.charge.amount_cents, 999);
        assert_eq!(
            store.commit(&step(&o, "REFUNDED_AGAIN", vec![refund()])).await,
            Err(CommitError::Effect(EffectError::NothingToRefund { order_id: "ord-1".into() }))
        );
        assert_eq!(store.ledger_count().await.unwrap(), 1, "a refunded charge still counts");
        assert_eq!(store.get_order("ord-1").await.unwrap(), Some(o));
    }

    pub async fn duplicate_notification_is_a_no_op<B: Backend>(b: &B) {
        let store = b.open().await;
        let o1 = order("ord-1", 1, &[("p", 1)]);
        let o2 = order("ord-2", 2, &[("p", 1)]);
        create(&store, &o1).await;
        create(&store, &o2).await;
        let o1 = advance(&store, &o1, "S1", vec![notify("ord-1", "confirm", "first")]).await.unwrap();
        let o2 = advance(&store, &o2, "S1", vec![notify("ord-2", "confirm", "other order")]).await.unwrap();
        // The same (order, step) again: the transition commits, the outbox keeps the first message.
        let o1 = advance(&store, &o1, "S2", vec![notify("ord-1", "confirm", "second")]).await.unwrap();
        advance(&store, &o1, "S3", vec![notify("ord-1", "shipped", "third")]).await.unwrap();
        advance(&store, &o2, "S2", vec![notify("ord-2", "shipped", "fourth")]).await.unwrap();

        let subjects = |list: Vec<Notification>| list.into_iter().map(|n| n.subject).collect::<Vec<_>>();
        assert_eq!(subjects(store.outbox(Some("ord-1")).await.unwrap()), ["first", "third"]);
        assert_eq!(subjects(store.outbox(Some("ord-2")).await.unwrap()), ["other order", "fourth"]);
        assert_eq!(subjects(store.outbox(None).await.unwrap()), ["first", "other order", "third", "fourth"]);
        assert!(store.outbox(Some("ord-3")).await.unwrap().is_empty());
        let first = &store.outbox(Some("ord-1")).await.unwrap()[0];
        assert_eq!(
            first,
            &Notification {
                order_id: "ord-1".into(),
                step: "confirm".into(),
                to: "ada@example.com".into(),
                subject: "first".into(),
                at: "2024-05-01T12:00:00.000Z".into(),
            }
        );
    }

    pub async fn list_newest_first_with_status_filter<B: Backend>(b: &B) {
        let store = b.open().await;
        // Created out of order, two sharing a timestamp (the greater id comes first).
        let specs = [("o-c", 30), ("o-a", 10), ("o-e", 50), ("o-b", 20), ("o-d2", 40), ("o-d1", 40), ("o-f", 5)];
        for (id, second) in specs {
            create(&store, &order(id, second, &[("p", 1)])).await;
        }
        for id in ["o-a", "o-d1", "o-e"] {
            let o = store.get_order(id).await.unwrap().unwrap();
            advance(&store, &o, "PAID", vec![]).await.unwrap();
        }
        let page = store.list_orders(&ListQuery { status: None, limit: 100, cursor: None }).await.unwrap();
        assert_eq!(listing_order::<B>(&page.orders), ["o-e", "o-d2", "o-d1", "o-c", "o-b", "o-a", "o-f"]);
        assert_eq!(page.next, None);
        assert_eq!(page.orders[0].status, "PAID");
        assert_eq!(page.orders[0].version, 2);

        let paid =
            store.list_orders(&ListQuery { status: Some("PAID".into()), limit: 100, cursor: None }).await.unwrap();
        assert_eq!(listing_order::<B>(&paid.orders), ["o-e", "o-d1", "o-a"]);
        assert_eq!(paid.next, None);
        let received =
            store.list_orders(&ListQuery { status: Some("RECEIVED".into()), limit: 2, cursor: None }).await.unwrap();
        assert_eq!(ids(&received.orders), ["o-d2", "o-c"]);
        assert!(received.next.is_some());
        let none =
            store.list_orders(&ListQuery { status: Some("NOPE".into()), limit: 10, cursor: None }).await.unwrap();
        assert!(none.orders.is_empty());
        assert_eq!(none.next, None);
    }

    pub async fn pagination_covers_every_order_once<B: Backend>(b: &B) {
        let store = b.open().await;
        for i in 0..23u32 {
            // Some timestamps repeat, so the cursor must break ties by id.
            create(&store, &order(&format!("ord-{i:02}"), i / 3, &[("p", 1)])).await;
        }
        for i in (0..23u32).step_by(4) {
            let o = store.get_order(&format!("ord-{i:02}")).await.unwrap().unwrap();
            advance(&store, &o, "PAID", vec![]).await.unwrap();
        }
        let everything = list_all(&store, None, 1000).await;
        assert_eq!(everything.len(), 23);
        let mut expected: Vec<_> = everything.iter().map(|o| o.order_id.clone()).collect();
        expected.sort();
        expected.reverse();
        assert_eq!(listing_order::<B>(&everything), expected);
        for limit in [1, 2, 5, 7, 22, 23, 24] {
            assert_eq!(ids(&list_all(&store, None, limit).await), ids(&everything), "limit {limit}");
        }
        let paid: Vec<_> = everything.iter().filter(|o| o.status == "PAID").cloned().collect();
        assert_eq!(paid.len(), 6);
        for limit in [1, 4, 5, 6, 7] {
            assert_eq!(ids(&list_all(&store, Some("PAID"), limit).await), ids(&paid), "limit {limit}");
        }
        // A page exactly as long as what is left has no next page.
        let page = store.list_orders(&ListQuery { status: Some("PAID".into()), limit: 6, cursor: None }).await.unwrap();
        assert_eq!(page.orders.len(), 6);
        assert_eq!(page.next, None);
    }

    pub async fn bad_cursor_is_invalid<B: Backend>(b: &B) {
        let store = b.open().await;
        create(&store, &order("ord-1", 1, &[("p", 1)])).await;
        for cursor in ["", "%%%not base64%%%", "bm90IGpzb24", "W10"] {
            let result = store.list_orders(&ListQuery { status: None, limit: 5, cursor: Some(cursor.into()) }).await;
            assert!(matches!(result, Err(StoreError::Invalid(_))), "cursor {cursor:?}: {result:?}");
            let result = store
                .list_orders(&ListQuery { status: Some("RECEIVED".into()), limit: 5, cursor: Some(cursor.into()) })
                .await;
            assert!(matches!(result, Err(StoreError::Invalid(_))), "cursor {cursor:?}: {result:?}");
        }
    }

    pub async fn change_feed_has_one_record_per_state_change<B: Backend>(b: &B)
    where
        B::Store: ChangeFeed,
    {
        let store = b.open().await;
        store.seed_inventory(&stock(&[("p", 1)])).await.unwrap();
        let a1 = order("ord-a", 1, &[("p", 1)]);
        let b1 = order("ord-b", 2, &[("p", 1)]);
        create(&store, &a1).await;
        create(&store, &b1).await;
        let a2 = advance(&store, &a1, "RESERVED", vec![reserve(&[("p", 1)])]).await.unwrap();
        // Failed commits leave no record.
        assert!(store.commit(&step(&b1, "RESERVED", vec![reserve(&[("p", 1)])])).await.is_err());
        assert!(store.commit(&step(&a1, "RESERVED", vec![])).await.is_err());
        let b2 = advance(&store, &b1, "REJECTED", vec![]).await.unwrap();
        let a3 = advance(&store, &a2, "COMPLETED", vec![notify("ord-a", "done", "Done")]).await.unwrap();
        // Seeding, checkpoints and idempotent replays are not order changes.
        store.seed_inventory(&stock(&[("q", 1)])).await.unwrap();
        store.save_checkpoint("c", "1").await.unwrap();

        let feed = all_changes(&store).await;
        let summary: Vec<_> = feed.iter().map(|r| (r.kind, r.order_id.as_str(), r.new_image.clone())).collect();
        assert_eq!(
            summary,
            [
                (ChangeKind::Insert, "ord-a", Some(a1)),
                (ChangeKind::Insert, "ord-b", Some(b1)),
                (ChangeKind::Modify, "ord-a", Some(a2)),
                (ChangeKind::Modify, "ord-b", Some(b2)),
                (ChangeKind::Modify, "ord-a", Some(a3)),
            ]
        );
        for pair in feed.windows(2) {
            assert_eq!(
                compare_sequence(&pair[0].sequence_number, &pair[1].sequence_number),
                std::cmp::Ordering::Less,
                "{} then {}",
                pair[0].sequence_number,
                pair[1].sequence_number
            );
        }
        for record in &feed {
            assert!(record.sequence_number.bytes().all(|c| c.is_ascii_digit()), "{}", record.sequence_number);
        }
    }

    pub async fn read_changes_pages_with_after<B: Backend>(b: &B)
    where
        B::Store: ChangeFeed,
    {
        let store = b.open().await;
        for i in 0..5u32 {
            let o = order(&format!("ord-{i}"), i, &[("p", 1)]);
            create(&store, &o).await;
            advance(&store, &o, "VALIDATED", vec![]).await.unwrap();
        }
        let feed = all_changes(&store).await;
        assert_eq!(feed.len(), 10);
        for limit in [1, 3, 10, 11] {
            let mut paged = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let batch = store.read_changes(after.as_deref(), limit).await.unwrap();
                assert!(batch.len() <= limit);
                let Some(last) = batch.last() else { break };
                after = Some(last.sequence_number.clone());
                paged.extend(batch);
            }
            assert_eq!(paged, feed, "limit {limit}");
        }
        let last = &feed[9].sequence_number;
        assert!(store.read_changes(Some(last), 10).await.unwrap().is_empty());
        assert_eq!(store.read_changes(Some(&feed[7].sequence_number), 10).await.unwrap(), feed[8..].to_vec());
        assert!(store.read_changes(None, 0).await.unwrap().is_empty());
        // New changes appear after the last one read.
        let o = order("ord-new", 9, &[("p", 1)]);
        create(&store, &o).await;
        let fresh = store.read_changes(Some(last), 10).await.unwrap();
        assert_eq!(fresh.len(), 1);
        assert_eq!(fresh[0].order_id, "ord-new");
        for bad in ["abc", "-1", "", "1.5"] {
            assert!(matches!(store.read_changes(Some(bad), 10).await, Err(StoreError::Invalid(_))), "{bad:?}");
        }
    }

    pub async fn checkpoints_persist_across_reopen<B: Backend>(b: &B)
    where
        B::Store: ChangeFeed,
    {
        {
            let store = b.open().await;
            assert_eq!(store.checkpoint("processor").await.unwrap(), None);
            let o = order("ord-1", 1, &[("p", 1)]);
            create(&store, &o).await;
            let seq = all_changes(&store).await[0].sequence_number.clone();
            store.save_checkpoint("processor", &seq).await.unwrap();
            assert_eq!(store.checkpoint("processor").await.unwrap(), Some(seq.clone()));
            store.save_checkpoint("audit", "0").await.unwrap();
            assert_eq!(store.checkpoint("processor").await.unwrap(), Some(seq));
            assert_eq!(store.checkpoint("audit").await.unwrap(), Some("0".into()));
            advance(&store, &o, "VALIDATED", vec![]).await.unwrap();
            let seq = all_changes(&store).await[1].sequence_number.clone();
            store.save_checkpoint("processor", &seq).await.unwrap();
            assert_eq!(store.checkpoint("processor").await.unwrap(), Some(seq));
            assert_eq!(store.checkpoint("nobody").await.unwrap(), None);
        }
        if !B::DURABLE {
            return;
        }
        let store = b.open().await;
        let feed = all_changes(&store).await;
        assert_eq!(store.checkpoint("processor").await.unwrap(), Some(feed[1].sequence_number.clone()));
        assert_eq!(store.checkpoint("audit").await.unwrap(), Some("0".into()));
        assert!(store.read_changes(Some(&feed[1].sequence_number), 10).await.unwrap().is_empty());
    }

    pub async fn reopen_keeps_everything<B: Backend>(b: &B) {
        let k = key("k", "h");
        let (o, other) = {
            let store = b.open().await;
            store.seed_inventory(&stock(&[("p", 5)])).await.unwrap();
            let o = order("ord-1", 1, &[("p", 2)]);
            assert_eq!(store.create_order(&o, Some(&k)).await.unwrap(), Created::New);
            let o = advance(&store, &o, "RESERVED", vec![reserve(&[("p", 2)])]).await.unwrap();
            let o = advance(&store, &o, "PAID", vec![charge("ord-1", 1998)]).await.unwrap();
            let o = advance(&store, &o, "NOTIFIED", vec![notify("ord-1", "confirm", "Thanks")]).await.unwrap();
            let other = order("ord-2", 2, &[("p", 1)]);
            create(&store, &other).await;
            (o, other)
        };
        if !B::DURABLE {
            return;
        }
        let store = b.open().await;
        assert_eq!(store.get_order("ord-1").await.unwrap(), Some(o.clone()));
        assert_eq!(ids(&list_all(&store, None, 10).await), ["ord-2", "ord-1"]);
        assert_eq!(store.inventory().await.unwrap()["p"], stock_of(3, 2));
        assert_eq!(store.ledger_count().await.unwrap(), 1);
        assert_eq!(store.outbox(Some("ord-1")).await.unwrap().len(), 1);
        assert_changes::<B>(&store, 5).await;
        assert_eq!(store.create_order(&other, Some(&k)).await.unwrap(), Created::Existing(o.clone()));
        // The reopened store keeps working: versions and sequence numbers carry on.
        let stale = step(&order("ord-1", 1, &[("p", 2)]), "RESERVED", vec![]);
        assert!(matches!(store.commit(&stale).await, Err(CommitError::Conflict { .. })));
        advance(&store, &o, "COMPLETED", vec![Effect::CommitStock { units: units(&[("p", 2)]) }]).await.unwrap();
        assert_eq!(store.inventory().await.unwrap()["p"], stock_of(3, 0));
        if let Some(feed) = B::changes(&store).await {
            assert_eq!(feed.len(), 6);
            assert_eq!(compare_sequence(&feed[4].sequence_number, &feed[5].sequence_number), std::cmp::Ordering::Less);
        }
    }

    pub async fn seed_inventory_adds_only_missing_products<B: Backend>(b: &B) {
        let store = b.open().await;
        assert!(store.inventory().await.unwrap().is_empty());
        assert_eq!(store.seed_inventory(&stock(&[("a", 5), ("b", 3)])).await.unwrap(), 2);
        let o = order("ord-1", 1, &[("a", 2)]);
        create(&store, &o).await;
        advance(&store, &o, "RESERVED", vec![reserve(&[("a", 2)])]).await.unwrap();
        assert_eq!(store.seed_inventory(&stock(&[("a", 100), ("c", 1)])).await.unwrap(), 1);
        assert_eq!(store.seed_inventory(&stock(&[("a", 100), ("b", 1), ("c", 7)])).await.unwrap(), 0);
        assert_eq!(store.seed_inventory(&BTreeMap::new()).await.unwrap(), 0);
        let inventory = store.inventory().await.unwrap();
        assert_eq!(
            inventory,
            BTreeMap::from([
                ("a".to_owned(), stock_of(3, 2)),
                ("b".to_owned(), stock_of(3, 0)),
                ("c".to_owned(), stock_of(1, 0)),
            ])
        );
    }
}

// ---------------------------------------------------------------------------------------------
// SQLite only
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn sqlite_open_creates_the_directory_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested").join("data");
    {
        let store = SqliteStore::open(&data).unwrap();
        assert_eq!(store.path(), Some(data.join("orchgen.db").as_path()));
        store.seed_inventory(&stock(&[("p", 1)])).await.unwrap();
    }
    assert!(data.join("orchgen.db").is_file());
    // Opening twice at the same time (two processes would) is fine too.
    let first = SqliteStore::open(&data).unwrap();
    let second = SqliteStore::open(&data).unwrap();
    create(&first, &order("ord-1", 1, &[("p", 1)])).await;
    assert!(second.get_order("ord-1").await.unwrap().is_some());
    assert_eq!(second.inventory().await.unwrap()["p"], stock_of(1, 0));
}

#[tokio::test]
async fn sqlite_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join("orchgen.db")).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    assert!(matches!(SqliteStore::open(dir.path()), Err(StoreError::Invalid(_))));
}

#[tokio::test]
async fn sqlite_reports_an_undecodable_order_as_corrupt_and_lists_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    for (id, second) in [("ord-1", 1), ("ord-2", 2), ("ord-3", 3)] {
        create(&store, &order(id, second, &[("p", 1)])).await;
    }
    let conn = rusqlite::Connection::open(dir.path().join("orchgen.db")).unwrap();
    conn.execute("UPDATE orders SET body = '{not json' WHERE order_id = 'ord-2'", []).unwrap();
    conn.execute("UPDATE inventory SET available = 1", []).unwrap();
    drop(conn);
    assert!(matches!(store.get_order("ord-2").await, Err(StoreError::Corrupt(_))));
    // A listing leaves the damaged order out instead of failing as a whole (the dashboard and
    // `GET /orders` keep working), whatever the page size.
    let ids = |page: &Page| page.orders.iter().map(|o| o.order_id.clone()).collect::<Vec<_>>();
    let all = store.list_orders(&ListQuery { status: None, limit: 10, cursor: None }).await.unwrap();
    assert_eq!(ids(&all), ["ord-3", "ord-1"]);
    let by_status =
        store.list_orders(&ListQuery { status: Some("RECEIVED".into()), limit: 10, cursor: None }).await.unwrap();
    assert_eq!(ids(&by_status), ["ord-3", "ord-1"]);
    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list_orders(&ListQuery { status: None, limit: 1, cursor }).await.unwrap();
        paged.extend(ids(&page));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, ["ord-3", "ord-1"]);
}

const CRASH_DIR: &str = "ORCHGEN_STORE_CRASH_DIR";

/// The child of [`sqlite_survives_sigkill`]: writes until it is killed, printing each
/// acknowledged write. Does nothing in a normal test run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_crash_child() {
    let Some(dir) = std::env::var_os(CRASH_DIR) else { return };
    let store = Arc::new(SqliteStore::open(std::path::Path::new(&dir)).unwrap());
    store.seed_inventory(&stock(&[("p", 1_000_000)])).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|worker| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for i in 0.. {
                    let o = order(&format!("w{worker}-{i:06}"), 0, &[("p", 1)]);
                    create(&*store, &o).await;
                    println!("ACK {} 1", o.order_id);
                    let o = advance(&*store, &o, "RESERVED", vec![reserve(&[("p", 1)])]).await.unwrap();
                    println!("ACK {} {}", o.order_id, o.version);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

#[test]
fn sqlite_survives_sigkill() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["store_conformance::sqlite_crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CRASH_DIR, dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked: BTreeMap<String, u64> = BTreeMap::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let Some(ack) = line.strip_prefix("ACK ") else { continue };
        let (id, version) = ack.split_once(' ').unwrap();
        acked.insert(id.to_owned(), version.parse().unwrap());
        if acked.len() >= 400 {
            child.kill().unwrap();
            break;
        }
    }
    child.wait().unwrap();
    assert!(acked.len() >= 400, "the child stopped early");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(dir.path()).unwrap();
        for (id, version) in &acked {
            let order = store.get_order(id).await.unwrap().unwrap_or_else(|| panic!("{id} was acknowledged"));
            assert!(order.version >= *version, "{id} is at version {}, {version} was acknowledged", order.version);
        }
        // Stock and feed agree with the orders that survived.
        let all = list_all(&store, None, 10_000).await;
        let reserved = all.iter().filter(|o| o.status == "RESERVED").count() as u64;
        assert_eq!(store.inventory().await.unwrap()["p"], stock_of(1_000_000 - reserved, reserved));
        assert_eq!(all_changes(&store).await.len(), all.len() + reserved as usize);
    });
}
