//! One representative order driven through the real runtime, recording every store call.
//!
//! The order is submitted with `POST` to the runtime's [`Api`], then its change records are fed to
//! the [`Engine`] one by one (the INSERT record with the created order, then a MODIFY record with each
//! committed version, as DynamoDB Streams delivers them) until it is terminal, and finally read back
//! once with `GET {path}/{id}`. The store is the in-memory reference store behind a recorder that keeps
//! each call the runtime makes — creations, reads and committed [`Transition`]s with their effects —
//! so that [`super::dynamo`] can size the DynamoDB requests `DynamoStore` sends for exactly these
//! calls. Nothing here is guessed: a plan whose engine writes more, or reads more, shows it.
//!
//! Steps that cannot run offline are stood in for by a handler that succeeds without effects: custom
//! steps (their crate is not compiled here) and `http` steps (the stand-in is registered in a copy of
//! the plan where they are custom steps). Their transitions are then those of a step without effects.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use orchgen_runtime::Engine;
use orchgen_runtime::api::Api;
use orchgen_runtime::order::{Item, Order, OrderRequest};
use orchgen_runtime::plan::{CompensationAction, HandlerPlan, Plan, StepAction, StepPlan, ValidationRules, status};
use orchgen_runtime::steps::{Registry, StepError, StepHandler, StepInput, StepOutput};
use orchgen_runtime::store::memory::MemoryStore;
use orchgen_runtime::store::{
    ChangeKind, ChangeRecord, CommitError, Created, IdempotencyKey, LedgerEntry, ListQuery, Notification, Page, Stock,
    Store, StoreError, Transition,
};
use orchgen_runtime::telemetry::Emf;
use orchgen_runtime::telemetry::logs::{DEFAULT_FILTER, json_subscriber};
use tracing_subscriber::EnvFilter;

/// The function path of the stand-in registered for custom and `http` steps.
const STAND_IN: &str = "orchgen_cost::stand_in";

/// Units of each product the simulation's inventory holds (more than any representative order needs).
const SIMULATED_STOCK: u64 = 1_000_000;

/// What happened to the representative order, call by call.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The plan the order ran on (custom and `http` steps replaced by the stand-in).
    pub plan: Plan,
    /// The order as created by `POST` (version 1).
    pub created: Order,
    /// Whether the creation carried an `Idempotency-Key`.
    pub created_with_key: bool,
    /// Every committed transition, in order.
    pub transitions: Vec<Transition>,
    /// The orders the engine read (one `get_order` each), in order.
    pub engine_reads: Vec<Order>,
    /// The orders the API read for `GET {path}/{id}`.
    pub api_reads: Vec<Order>,
    /// Change records delivered to the engine: one per stored version (the terminal one included),
    /// each of which the stream processor receives.
    pub records: u32,
    /// The stock of the order's products before it ran.
    pub initial_stock: BTreeMap<String, u64>,
    /// Bytes the API logged for the order's requests (`POST` and `GET`): its JSON log lines at the
    /// default level and its EMF metric lines, as the API function writes them to CloudWatch Logs.
    pub api_log_bytes: u64,
    /// Bytes the engine logged while moving the order (JSON log lines and EMF lines), as the stream
    /// processor writes them.
    pub engine_log_bytes: u64,
}

impl Trace {
    /// The order as it ended.
    pub fn final_order(&self) -> &Order {
        self.transitions.last().map_or(&self.created, |t| &t.order)
    }

    /// Change records of versions that are not terminal: those orchgen's event source mapping lets
    /// through to the stream processor (it filters out terminal images, which the engine ignores).
    pub fn processed_records(&self) -> u32 {
        let terminal = std::iter::once(&self.created).chain(self.transitions.iter().map(|t| &t.order));
        self.records.saturating_sub(terminal.filter(|o| o.is_terminal()).count() as u32)
    }

    /// Step (and compensation) attempts, by name: one Lambda invocation each on AWS.
    pub fn attempts(&self) -> Vec<String> {
        self.final_order().history.iter().map(|h| h.step.clone()).collect()
    }
}

/// Why the model could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// The runtime refused or failed the representative order.
    #[error("the representative order could not be simulated: {0}")]
    Runtime(String),
    /// The order did not complete, so it does not represent a normal order.
    #[error(
        "the representative order ended {status} instead of COMPLETED ({reason}); the cost model needs a pipeline a normal order completes"
    )]
    NotCompleted {
        /// Its final status.
        status: String,
        /// The failure recorded on it.
        reason: String,
    },
}

/// Which part of the runtime is calling the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Api,
    Engine,
}

#[derive(Debug, Default)]
struct Log {
    created: Vec<(Order, bool)>,
    transitions: Vec<Transition>,
    engine_reads: Vec<Order>,
    api_reads: Vec<Order>,
}

/// The memory store behind a recorder of the calls that succeed.
struct Recorder {
    inner: MemoryStore,
    phase: Mutex<Phase>,
    log: Mutex<Log>,
}

impl Recorder {
    fn phase(&self) -> Phase {
        self.phase.lock().map_or(Phase::Api, |p| *p)
    }

    fn set_phase(&self, phase: Phase) {
        if let Ok(mut p) = self.phase.lock() {
            *p = phase;
        }
    }

    fn record(&self, f: impl FnOnce(&mut Log)) {
        if let Ok(mut log) = self.log.lock() {
            f(&mut log);
        }
    }
}

#[async_trait]
impl Store for Recorder {
    async fn create_order(&self, order: &Order, key: Option<&IdempotencyKey>) -> Result<Created, StoreError> {
        let created = self.inner.create_order(order, key).await?;
        if created == Created::New {
            self.record(|log| log.created.push((order.clone(), key.is_some())));
        }
        Ok(created)
    }

    async fn get_order(&self, order_id: &str) -> Result<Option<Order>, StoreError> {
        let found = self.inner.get_order(order_id).await?;
        if let Some(order) = &found {
            let phase = self.phase();
            self.record(|log| match phase {
                Phase::Api => log.api_reads.push(order.clone()),
                Phase::Engine => log.engine_reads.push(order.clone()),
            });
        }
        Ok(found)
    }

    async fn list_orders(&self, query: &ListQuery) -> Result<Page, StoreError> {
        self.inner.list_orders(query).await
    }

    async fn commit(&self, transition: &Transition) -> Result<(), CommitError> {
        self.inner.commit(transition).await?;
        self.record(|log| log.transitions.push(transition.clone()));
        Ok(())
    }

    async fn seed_inventory(&self, stock: &BTreeMap<String, u64>) -> Result<usize, StoreError> {
        self.inner.seed_inventory(stock).await
    }

    async fn inventory(&self) -> Result<BTreeMap<String, Stock>, StoreError> {
        self.inner.inventory().await
    }

    async fn ledger_entry(&self, order_id: &str) -> Result<Option<LedgerEntry>, StoreError> {
        self.inner.ledger_entry(order_id).await
    }

    async fn ledger_count(&self) -> Result<u64, StoreError> {
        self.inner.ledger_count().await
    }

    async fn outbox(&self, order_id: Option<&str>) -> Result<Vec<Notification>, StoreError> {
        self.inner.outbox(order_id).await
    }
}

/// Succeeds without effects: stands in for custom and `http` steps.
struct StandIn;

#[async_trait]
impl StepHandler for StandIn {
    async fn call(&self, _plan: &Plan, _input: StepInput) -> Result<StepOutput, StepError> {
        Ok(StepOutput::default())
    }
}

/// The plan with every `http` step and compensation turned into a custom one run by the stand-in.
fn offline_plan(plan: &Plan) -> Plan {
    let stand_in = || HandlerPlan {
        function: STAND_IN.to_owned(),
        crate_name: "orchgen_cost".to_owned(),
        crate_path: ".".to_owned(),
        side_effects: true,
    };
    let mut plan = plan.clone();
    for step in &mut plan.steps {
        if matches!(step.action, StepAction::Http(_)) {
            step.action = StepAction::Custom(stand_in());
        }
    }
    for compensation in plan.compensations.values_mut() {
        if matches!(compensation.action, CompensationAction::Http(_)) {
            compensation.action = CompensationAction::Custom(stand_in());
        }
    }
    plan
}

/// A normal order the plan's first validation rules accept and its payment rules do not decline: the
/// seed's sample order ([`OrderRequest::example`]) with two items (within the rules' item counts) of
/// one unit each, a total under every limit, the first allowed country and the first payment method
/// no rule declines.
pub fn representative_order(plan: &Plan) -> OrderRequest {
    let mut order = OrderRequest::example();
    let rules = plan.steps.iter().find_map(|s: &StepPlan| match &s.action {
        StepAction::Validate(rules) => Some(rules.clone()),
        _ => None,
    });
    let declines: Vec<_> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            StepAction::ChargePayment(p) => Some(p.decline.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    let items_wanted =
        rules.as_ref().map_or(2, |r: &ValidationRules| 2u32.clamp(r.min_items.max(1), r.max_items.max(1)));
    let mut limit = rules.as_ref().map_or(f64::INFINITY, |r| r.max_order_total);
    for rule in &declines {
        if let (None, None, Some(above)) = (&rule.payment_method, &rule.customer_id, rule.amount_above) {
            limit = limit.min(above);
        }
    }
    // Half of the smallest limit, split over the items, at most the sample order's first unit price.
    let sample_price = order.items[0].unit_price;
    let unit_price =
        if limit.is_finite() { (limit / 2.0 / f64::from(items_wanted)).min(sample_price) } else { sample_price };
    let unit_price = (unit_price * 100.0).floor() / 100.0;
    let declined_method = |m: &str| {
        declines
            .iter()
            .any(|d| d.payment_method.as_deref() == Some(m) && d.customer_id.is_none() && d.amount_above.is_none())
    };
    // The first allowed country and the first payment method no rule declines; the sample's own
    // (US, credit_card) when the rules name none.
    if let Some(country) = rules.as_ref().and_then(|r| r.allowed_countries.first()) {
        order.shipping_address.country = country.clone();
    }
    if let Some(method) = rules.as_ref().and_then(|r| r.payment_methods.iter().find(|m| !declined_method(m))) {
        order.payment.payment_method = method.clone();
    }
    while declines.iter().any(|d| d.customer_id.as_deref() == Some(order.customer.customer_id.as_str())) {
        order.customer.customer_id.push('0');
    }
    order.items =
        (1..=items_wanted).map(|i| Item { product_id: format!("product-{i}"), quantity: 1, unit_price }).collect();
    order
}

fn proxy_request(method: http::Method, path: String, resource: &str, body: Option<String>) -> ApiGatewayProxyRequest {
    let mut event = ApiGatewayProxyRequest::default();
    event.http_method = method;
    event.path = Some(path);
    event.resource = Some(resource.to_owned());
    event.headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    event.body = body;
    event
}

/// Counts the bytes written through it (the log lines of the simulated order).
#[derive(Clone, Default)]
struct ByteCounter(Arc<AtomicU64>);

impl ByteCounter {
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs the representative order of `plan` through the runtime (see the module documentation).
///
/// The runtime's JSON logs (at the functions' default level) and EMF lines are counted, not printed:
/// a single-threaded runtime runs every task on this thread, under a subscriber set for the call.
pub fn simulate(plan: &Plan) -> Result<Trace, SimulateError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SimulateError::Runtime(format!("cannot start an async runtime: {e}")))?;
    let bytes = ByteCounter::default();
    let writer = bytes.clone();
    let subscriber = json_subscriber(EnvFilter::new(DEFAULT_FILTER), move || writer.clone());
    tracing::subscriber::with_default(subscriber, || runtime.block_on(simulate_async(plan, bytes)))
}

async fn simulate_async(plan: &Plan, logged: ByteCounter) -> Result<Trace, SimulateError> {
    let runtime_error = |what: &str, e: &dyn std::fmt::Display| SimulateError::Runtime(format!("{what}: {e}"));
    let plan = Arc::new(offline_plan(plan));
    let recorder =
        Arc::new(Recorder { inner: MemoryStore::new(), phase: Mutex::new(Phase::Api), log: Mutex::default() });
    let request = representative_order(&plan);
    let initial_stock: BTreeMap<String, u64> =
        request.items.iter().map(|i| (i.product_id.clone(), SIMULATED_STOCK)).collect();
    recorder.inner.seed_inventory(&initial_stock).await.map_err(|e| runtime_error("seeding the inventory", &e))?;

    let emf = Arc::new(Emf::new(&plan.name, "prod", logged.clone()));
    let mut api = Api::new(plan.clone(), recorder.clone());
    api.observe(emf.clone());
    let before_api = logged.get();
    let body = serde_json::to_string(&request).map_err(|e| runtime_error("encoding the order", &e))?;
    let response =
        api.handle(proxy_request(http::Method::POST, plan.api.path.clone(), &plan.api.path, Some(body))).await;
    if response.status_code != 201 {
        let text = match &response.body {
            Some(aws_lambda_events::encodings::Body::Text(t)) => t.clone(),
            _ => String::new(),
        };
        return Err(SimulateError::Runtime(format!(
            "POST {} answered {}: {text}",
            plan.api.path, response.status_code
        )));
    }
    let created = recorder
        .log
        .lock()
        .ok()
        .and_then(|log| log.created.first().cloned())
        .ok_or_else(|| SimulateError::Runtime("the API accepted the order but stored none".to_owned()))?;

    let mut registry = Registry::new();
    registry.register(STAND_IN, Arc::new(StandIn));
    for step in &plan.steps {
        if let StepAction::Custom(h) = &step.action {
            registry.register(h.function.clone(), Arc::new(StandIn));
        }
    }
    for compensation in plan.compensations.values() {
        if let CompensationAction::Custom(h) = &compensation.action {
            registry.register(h.function.clone(), Arc::new(StandIn));
        }
    }
    let mut api_log_bytes = logged.get() - before_api;
    let mut engine = Engine::with_registry(plan.clone(), recorder.clone(), registry);
    engine.observe(emf.clone());
    recorder.set_phase(Phase::Engine);
    let before_engine = logged.get();
    let mut image = created.0.clone();
    let mut kind = ChangeKind::Insert;
    let mut records = 0u32;
    // Every move commits a new version; a pipeline has at most steps + compensations + 1 of them.
    let most = 2 * (plan.steps.len() + plan.compensations.len()) + 4;
    loop {
        records += 1;
        let record = ChangeRecord {
            sequence_number: records.to_string(),
            kind,
            order_id: image.order_id.clone(),
            new_image: Some(image.clone()),
        };
        let before = recorder.log.lock().map_or(0, |l| l.transitions.len());
        engine.process(&record).await.map_err(|e| runtime_error("processing a change record", &e))?;
        let next = recorder
            .log
            .lock()
            .ok()
            .and_then(|l| (l.transitions.len() > before).then(|| l.transitions.last().cloned()).flatten());
        match next {
            Some(t) => image = t.order,
            None if image.is_terminal() => break,
            None => {
                return Err(SimulateError::Runtime(format!(
                    "order {} stopped moving at status {} without a terminal status",
                    image.order_id, image.status
                )));
            }
        }
        kind = ChangeKind::Modify;
        if records as usize > most {
            return Err(SimulateError::Runtime(format!("order {} did not end after {most} moves", image.order_id)));
        }
    }

    let engine_log_bytes = logged.get() - before_engine;
    recorder.set_phase(Phase::Api);
    let before_get = logged.get();
    let get_path = format!("{}/{}", plan.api.path, image.order_id);
    let get_route =
        plan.api.routes.iter().find(|r| r.action == orchgen_runtime::plan::RouteAction::Get).map(|r| r.path.clone());
    if let Some(route) = get_route {
        let mut get = proxy_request(http::Method::GET, get_path, &route, None);
        get.path_parameters.insert(plan.api.id_param.clone(), image.order_id.clone());
        let response = api.handle(get).await;
        if response.status_code != 200 {
            return Err(SimulateError::Runtime(format!("GET of the order answered {}", response.status_code)));
        }
    }

    api_log_bytes += logged.get() - before_get;
    let log = std::mem::take(&mut *recorder.log.lock().map_err(|_| SimulateError::Runtime("lock poisoned".into()))?);
    let trace = Trace {
        plan: (*plan).clone(),
        created: created.0,
        created_with_key: created.1,
        transitions: log.transitions,
        engine_reads: log.engine_reads,
        api_reads: log.api_reads,
        records,
        initial_stock,
        api_log_bytes,
        engine_log_bytes,
    };
    let last = trace.final_order();
    if last.status != status::COMPLETED {
        return Err(SimulateError::NotCompleted {
            status: last.status.clone(),
            reason: last.failure.as_ref().map_or_else(
                || "no failure recorded".to_owned(),
                |f| format!("step {} failed: {} {}", f.step, f.code, f.message),
            ),
        });
    }
    Ok(trace)
}
