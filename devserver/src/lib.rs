//! `orchgen dev`'s engine room: a resolved [`Plan`] running on this machine, the way it runs on AWS.
//!
//! This crate knows nothing of YAML: the `orchgen` command checks the pipeline file, resolves its
//! plan and draws its graph, then hands them over in a [`Launch`]. The embedded SQLite store is
//! opened in the data directory (default `.orchgen/<pipeline name>`; `--reset` deletes it first)
//! and seeded from `local.inventory` (existing stock is left alone), the engine's [`Processor`]
//! drives the store's change feed, and the order API is served on `127.0.0.1:<port>` through an
//! API Gateway adapter ([`gateway`]) so that the very handler the API Lambda runs
//! ([`Api::handle`]) answers every request ([`server`]).
//!
//! As soon as it listens it prints `listening on http://127.0.0.1:PORT` and a sample `curl`. On
//! Ctrl-C or SIGTERM it stops accepting connections, finishes the requests in flight, lets the
//! processor finish the records in flight and save its checkpoint, and exits 0. An order is stored
//! before its 201 is sent, so no accepted order is lost: whatever was not processed resumes on the
//! next start (even after a crash: the processor restarts from its checkpoint and re-delivery is
//! harmless).
//!
//! A pipeline with custom steps runs in a dev host: a small binary generated and built by the
//! `orchgen` command (`orchgen_generator::devhost`) whose `main` registers the custom functions and
//! calls [`host_main`], which reads the [`Launch`] the command wrote.

mod dashboard;
mod gateway;
mod launch;
mod redrive;
mod server;

use std::future::IntoFuture as _;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use orchgen_runtime::Plan;
use orchgen_runtime::api::{Api, openapi};
use orchgen_runtime::aws::local_config;
use orchgen_runtime::dead_letter::DEAD_LETTER_FILE;
use orchgen_runtime::engine::{Engine, Processor, ProcessorConfig, ProcessorHandle};
use orchgen_runtime::plan::AuthMode;
use orchgen_runtime::steps::Registry;
use orchgen_runtime::store::Store;
use orchgen_runtime::store::dynamodb::{self, DynamoStore};
use orchgen_runtime::store::sqlite::{DB_FILE, SqliteStore};
use orchgen_runtime::streams::{StreamConsumer, StreamConsumerConfig, StreamConsumerHandle};
use orchgen_runtime::telemetry::live::LiveStats;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

pub use launch::{DashboardGraph, GraphNode, Launch, LaunchError};
pub use redrive::{KeptLetter, LocalRedrive, LocalRedriveReport};
use server::DevState;

/// Port served when `--port` is not given.
pub const DEFAULT_PORT: u16 = orchgen_runtime::api::LOCAL_PORT;

/// The dev host's folder inside the data directory (a build cache: `--reset` keeps it).
pub const HOST_DIR: &str = "host";

/// The stream consumer's checkpoints inside the data directory (with `--dynamodb-endpoint`).
const STREAM_CHECKPOINTS_DIR: &str = "stream-checkpoints";

/// The lock a running `orchgen dev` holds in its data directory (the file holds its process id; the
/// lock goes with the process, even after a `kill -9`).
const LOCK_FILE: &str = "dev.lock";

/// How long in-flight HTTP requests may take to finish after a shutdown signal.
const HTTP_GRACE: Duration = Duration::from_secs(10);

/// The body of the sample request printed at start-up (the seed order).
pub const SAMPLE_ORDER: &str = orchgen_runtime::order::EXAMPLE_ORDER_JSON;

/// The options of `orchgen dev` once the pipeline file is read.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DevOptions {
    /// Port on 127.0.0.1 (0 picks a free one).
    pub port: u16,
    /// Data directory (default `.orchgen/<pipeline name>`).
    pub data_dir: Option<PathBuf>,
    /// Delete the data directory first.
    pub reset: bool,
    /// Log filter (`info`, `debug`, `orchgen_runtime=debug`…); `RUST_LOG` when not given.
    pub log_level: Option<String>,
    /// Run on this DynamoDB-compatible endpoint (DynamoDB Local, …) instead of the embedded store:
    /// the plan's tables are created when missing and the orders table's stream drives the engine.
    pub dynamodb_endpoint: Option<String>,
    /// Put this before every table name (e.g. a stage's prefix); only with `dynamodb_endpoint`.
    pub table_prefix: Option<String>,
}

/// Runs `launch` with `registry`'s handlers (the built-ins and any custom functions registered in
/// it) until a shutdown signal; returns the exit code (0 after a graceful stop, 1 for a start-up
/// failure, 2 for a bad option). A launch with `redrive` re-drives the dead letters instead
/// (`orchgen redrive --local`, see [`LocalRedrive`]) and returns.
pub fn run(launch: Launch, registry: Registry, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<u8> {
    let Launch { plan, graph, options, redrive } = launch;
    match redrive {
        Some(redrive) => redrive::run(&options, plan, registry, &redrive, out, err),
        None => run_plan(&options, plan, graph, registry, out, err),
    }
}

/// The `main` of a dev host: reads the [`Launch`] named by `--launch FILE` and runs it with
/// `registry`.
pub fn host_main(registry: Registry) -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let path = match args.as_slice() {
        [flag, path] if flag == "--launch" => PathBuf::from(path),
        _ => {
            eprintln!("error: a dev host is started by `orchgen dev` (usage: <host> --launch FILE)");
            return ExitCode::from(2);
        }
    };
    let launch = match Launch::read(&path) {
        Ok(launch) => launch,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match run(launch, registry, &mut std::io::stdout(), &mut std::io::stderr()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// The data directory: `--data-dir`, else `.orchgen/<pipeline name>`.
pub fn data_dir(options: &DevOptions, plan: &Plan) -> PathBuf {
    options.data_dir.clone().unwrap_or_else(|| Path::new(".orchgen").join(&plan.name))
}

/// Runs the checked `plan` with `registry` until a shutdown signal.
fn run_plan(
    options: &DevOptions,
    plan: Plan,
    graph: DashboardGraph,
    registry: Registry,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<u8> {
    let filter = match log_filter(options.log_level.as_deref(), "info") {
        Ok(filter) => filter,
        Err(message) => {
            writeln!(err, "error: {message}")?;
            return Ok(2);
        }
    };
    // A second `run` in one process (tests) keeps the first subscriber: fine.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).try_init();

    let data_dir = data_dir(options, &plan);
    // One `orchgen dev` per data directory: two would drive the same orders from one checkpoint.
    let _lock = match lock_data_dir(&data_dir) {
        Ok(lock) => lock,
        Err(message) => {
            writeln!(err, "error: {message}")?;
            return Ok(1);
        }
    };
    if options.reset {
        match reset(&data_dir) {
            Ok(true) => tracing::info!(dir = %data_dir.display(), "data directory deleted (--reset)"),
            Ok(false) => {}
            Err(message) => {
                writeln!(err, "error: {message}")?;
                return Ok(1);
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("orchgen-dev").build()?;
    let plan = Arc::new(plan);
    match &options.dynamodb_endpoint {
        None => {
            let store = match SqliteStore::open(&data_dir) {
                Ok(store) => Arc::new(store),
                Err(e) => {
                    writeln!(err, "error: cannot open the store in {}: {e}", data_dir.display())?;
                    return Ok(1);
                }
            };
            let backend = Backend::Embedded(store.clone());
            let code =
                runtime.block_on(serve(Pipeline { plan, graph, registry }, backend, options.port, &data_dir, out, err));
            // Tasks still holding the store are dropped with the runtime; the last reference then
            // closes the store (its writer thread finishes what is queued).
            runtime.shutdown_timeout(Duration::from_secs(5));
            drop(store);
            code
        }
        Some(endpoint) => {
            let prefix = options.table_prefix.as_deref().unwrap_or("");
            let code = runtime.block_on(async {
                let backend = match dynamodb_backend(&plan, endpoint, prefix, &data_dir).await {
                    Ok(backend) => backend,
                    Err(message) => {
                        writeln!(err, "error: {message}")?;
                        return Ok(1);
                    }
                };
                serve(Pipeline { plan: plan.clone(), graph, registry }, backend, options.port, &data_dir, out, err)
                    .await
            });
            runtime.shutdown_timeout(Duration::from_secs(5));
            code
        }
    }
}

/// Where orders live and what drives the engine.
enum Backend {
    /// The embedded SQLite store and its change feed, driven by the [`Processor`].
    Embedded(Arc<SqliteStore>),
    /// Tables on a DynamoDB endpoint, driven by their stream through a [`StreamConsumer`] (the
    /// way a Lambda event source mapping drives the stream processor on AWS).
    DynamoDb(Box<DynamoDbBackend>),
}

/// The parts of [`Backend::DynamoDb`].
struct DynamoDbBackend {
    store: Arc<DynamoStore>,
    sdk: aws_config::SdkConfig,
    consumer: StreamConsumerConfig,
    endpoint: String,
}

impl Backend {
    fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Embedded(store) => store.clone(),
            Backend::DynamoDb(ddb) => ddb.store.clone(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Backend::Embedded(_) => "the embedded store".to_owned(),
            Backend::DynamoDb(ddb) => {
                format!(
                    "DynamoDB at {}, tables {}",
                    ddb.endpoint,
                    ddb.store.tables().all().iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
                )
            }
        }
    }
}

/// The engine's driver, stopped at shutdown.
enum Driver {
    Processor(ProcessorHandle),
    Stream(StreamConsumerHandle),
}

impl Driver {
    async fn stop(self) -> Result<(), tokio::task::JoinError> {
        match self {
            Driver::Processor(handle) => handle.shutdown().await,
            Driver::Stream(handle) => handle.stop().await,
        }
    }
}

/// Takes the lock of the data directory `dir` (created when missing) for this process, and writes
/// its process id into the lock file; the lock is held until the returned file is dropped or the
/// process ends. `Err` when another process holds it.
fn lock_data_dir(dir: &Path) -> Result<std::fs::File, String> {
    use std::io::{Seek as _, SeekFrom};
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create the data directory {}: {e}", dir.display()))?;
    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            let pid = if holder.is_empty() { String::new() } else { format!(" (process {holder})") };
            return Err(format!(
                "another orchgen dev{pid} is running on {}: stop it, or give this one another --data-dir",
                dir.display()
            ));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(format!("cannot lock {}: {e}", path.display())),
    }
    let written = file
        .set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| writeln!(file, "{}", std::process::id()));
    written.map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(file)
}

/// Refuses a `--dynamodb-endpoint` that is not an HTTP URL.
fn check_endpoint(endpoint: &str) -> Result<(), String> {
    if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
        Ok(())
    } else {
        Err(format!("--dynamodb-endpoint `{endpoint}` is not an http:// or https:// URL"))
    }
}

/// Connects to a DynamoDB endpoint and creates the plan's tables when missing.
async fn dynamodb_backend(plan: &Plan, endpoint: &str, prefix: &str, data_dir: &Path) -> Result<Backend, String> {
    check_endpoint(endpoint)?;
    let tables = dynamodb::with_prefix(&plan.tables, prefix);
    // One configuration for the tables' client and the stream consumer's.
    let sdk = local_config(endpoint, dynamodb::client::LOCAL_REGION);
    let client = dynamodb::Client::new(&sdk);
    let created = dynamodb::ensure_tables(&client, &tables)
        .await
        .map_err(|e| format!("cannot prepare the tables on {endpoint}: {e}"))?;
    if !created.is_empty() {
        tracing::info!(tables = %created.join(", "), "tables created from the plan");
    }
    let mut consumer =
        StreamConsumerConfig::from_plan(plan, data_dir.join(STREAM_CHECKPOINTS_DIR), data_dir.join(DEAD_LETTER_FILE));
    consumer.table_name = tables.orders.name.clone();
    Ok(Backend::DynamoDb(Box::new(DynamoDbBackend {
        store: Arc::new(DynamoStore::new(client, &tables)),
        sdk,
        consumer,
        endpoint: endpoint.to_owned(),
    })))
}

/// Serves until a shutdown signal, then stops everything in order.
/// What is served: the plan, its drawing for the dashboard, the step handlers.
struct Pipeline {
    plan: Arc<Plan>,
    graph: DashboardGraph,
    registry: Registry,
}

async fn serve(
    pipeline: Pipeline,
    backend: Backend,
    port: u16,
    data_dir: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<u8> {
    let Pipeline { plan, graph, registry } = pipeline;
    let store = backend.store();
    let live = Arc::new(LiveStats::new(&plan));
    let mut engine = Engine::with_registry(plan.clone(), store.clone(), registry);
    engine.observe(live.clone());
    let engine = Arc::new(engine);
    for function in engine.unregistered_handlers() {
        tracing::warn!(%function, "no handler is registered for this custom step: it will fail with HANDLER_NOT_REGISTERED");
    }
    for secret in plan.secret_refs() {
        let variable = secret.local_env();
        if std::env::var_os(&variable).is_none() {
            tracing::warn!(
                %variable,
                "an http step reads the secret {secret} (locally from the environment variable {variable}), which is not set: it will fail with SECRET_MISSING"
            );
        }
    }
    match engine.seed_local_inventory().await {
        Ok(added) => tracing::info!(added, "inventory seeded from local.inventory (existing stock untouched)"),
        Err(e) => {
            writeln!(err, "error: cannot seed the inventory: {e}")?;
            return Ok(1);
        }
    }
    let listener = match TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => listener,
        Err(e) => {
            writeln!(err, "error: cannot listen on 127.0.0.1:{port}: {e}")?;
            return Ok(1);
        }
    };
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");

    let description = backend.describe();
    let feed = match &backend {
        Backend::Embedded(store) => {
            Some(dashboard::FeedSource { feed: store.clone(), consumer: ProcessorConfig::from_plan(&plan).consumer })
        }
        Backend::DynamoDb(_) => None,
    };
    let driver = match backend {
        Backend::Embedded(store) => {
            // Like the stream consumer: a record still failing after `stream.max_retries` goes to
            // the dead-letter file.
            let config = ProcessorConfig {
                dead_letter_file: Some(data_dir.join(DEAD_LETTER_FILE)),
                ..ProcessorConfig::from_plan(&plan)
            };
            // Woken by every commit of the store: a new order's first step starts as soon as the
            // order is durable, not at the next poll.
            let commits = store.change_notifier();
            Driver::Processor(Processor::new(engine.clone(), store, config).wake_on(commits).spawn())
        }
        Backend::DynamoDb(ddb) => {
            let DynamoDbBackend { sdk, consumer, .. } = *ddb;
            Driver::Stream(StreamConsumer::new(engine.clone(), &sdk, consumer).spawn())
        }
    };
    let document = dev_openapi(&plan, &base);
    let mut api = Api::new(plan.clone(), store.clone());
    api.observe(live.clone());
    let state = DevState {
        api,
        store: store.clone(),
        metrics: engine.metrics().clone(),
        openapi: document,
        dashboard: dashboard::Dashboard::new(plan.clone(), &graph, live, feed, data_dir.join(DEAD_LETTER_FILE)),
    };
    let app = server::router(Arc::new(state)).into_make_service_with_connect_info::<SocketAddr>();

    let (stop, stopped) = watch::channel(false);
    tokio::spawn(on_signals(stop));
    let mut graceful = stopped.clone();
    let mut server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = graceful.wait_for(|s| *s).await;
            })
            .into_future(),
    );
    banner(&plan, &base, &description, data_dir, out)?;
    tracing::info!(url = %base, data_dir = %data_dir.display(), "orchgen dev is running");
    let letters = orchgen_runtime::dead_letter::count(data_dir.join(DEAD_LETTER_FILE));
    if letters > 0 {
        tracing::warn!(
            letters,
            file = %data_dir.join(DEAD_LETTER_FILE).display(),
            "records given up on wait in the dead-letter file: fix their cause, then run `orchgen redrive --local`"
        );
    }

    let mut stopped = stopped;
    let mut code = 0;
    tokio::select! {
        // A signal makes both branches ready (the server drains at once when idle): the stop
        // branch must win.
        biased;
        _ = stopped.wait_for(|s| *s) => {
            tracing::info!("shutting down: no new connections, finishing the requests in flight");
            match tokio::time::timeout(HTTP_GRACE, &mut server).await {
                Ok(Ok(Ok(()))) => tracing::info!("HTTP server stopped"),
                Ok(result) => {
                    tracing::error!(?result, "the HTTP server failed while stopping");
                    code = 1;
                }
                Err(_) => {
                    tracing::warn!("requests still in flight after {HTTP_GRACE:?}: closing their connections");
                    server.abort();
                }
            }
        }
        result = &mut server => {
            tracing::error!(?result, "the HTTP server stopped unexpectedly");
            code = 1;
        }
    }
    tracing::info!("waiting for the records in flight and saving the checkpoint");
    if let Err(e) = driver.stop().await {
        tracing::error!(error = %e, "the processor did not stop cleanly");
        code = 1;
    }
    tracing::info!("stopped");
    Ok(code)
}

/// Prints the URL (a line `listening on http://…` that tools can parse) and sample requests.
/// The OpenAPI document of the dev server: the deployed API's document with this server as its
/// server URL and without its security requirement, since `orchgen dev` does not enforce the API's
/// authentication (the banner says so); a client generated from it, or a conformance tool, then
/// describes what the dev server really does.
fn dev_openapi(plan: &Plan, base: &str) -> Value {
    let mut document = openapi(plan);
    document["servers"] = json!([{ "url": base }]);
    if let Value::Object(doc) = &mut document
        && doc.remove("security").is_some()
    {
        if let Some(Value::Object(components)) = doc.get_mut("components") {
            components.remove("securitySchemes");
        }
        if let Some(Value::Object(info)) = doc.get_mut("info") {
            let description = info.get("description").and_then(Value::as_str).unwrap_or_default().to_owned();
            let note = "Served by `orchgen dev`, which does not enforce the API's authentication.";
            let joined = if description.is_empty() { note.to_owned() } else { format!("{description}\n\n{note}") };
            info.insert("description".into(), Value::String(joined));
        }
    }
    document
}

fn banner(plan: &Plan, base: &str, backend: &str, data_dir: &Path, out: &mut dyn Write) -> std::io::Result<()> {
    let path = &plan.api.path;
    writeln!(out, "orchgen dev: pipeline `{}` on {backend}, data in {}", plan.name, data_dir.display())?;
    writeln!(out, "listening on {base}")?;
    writeln!(out, "  OpenAPI:   {base}/_orchgen/openapi.json")?;
    writeln!(out, "  inventory: {base}/_orchgen/inventory")?;
    writeln!(out, "  dashboard: {base}/_orchgen/  (metrics: {base}/metrics)")?;
    writeln!(out, "try:")?;
    writeln!(out, "  curl -sS -X POST {base}{path} -H 'content-type: application/json' -d '{SAMPLE_ORDER}'")?;
    writeln!(out, "  curl -sS {base}{path}")?;
    if plan.api.auth != AuthMode::None {
        writeln!(out, "(API authentication is not enforced locally)")?;
    }
    writeln!(out, "Ctrl-C stops; orders not yet processed resume on the next start.")?;
    out.flush()
}

/// Sets `stop` at the first Ctrl-C or SIGTERM; a second one exits at once.
async fn on_signals(stop: watch::Sender<bool>) {
    signal().await;
    tracing::info!("signal received: stopping gracefully (send it again to exit at once)");
    let _ = stop.send(true);
    signal().await;
    tracing::warn!("second signal: exiting now");
    std::process::exit(130);
}

async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The log filter: `--log-level` when given, else `RUST_LOG`, else `info`.
/// The log filter: `level`, else `RUST_LOG`, else `default`.
fn log_filter(level: Option<&str>, default: &str) -> Result<EnvFilter, String> {
    match level {
        Some(level) => EnvFilter::try_new(level).map_err(|e| format!("invalid --log-level `{level}`: {e}")),
        None => Ok(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))),
    }
}

/// Deletes the store in the data directory (with the dead letters and the stream consumer's
/// checkpoints, which are about its orders), refusing a directory that holds anything else but the
/// dev host (`host/`, kept: it is a build cache, not data) and the lock ([`LOCK_FILE`], kept). The directory is removed when nothing
/// else is left. Returns whether there was something to delete.
fn reset(dir: &Path) -> Result<bool, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("cannot read {}: {e}", dir.display())),
    };
    let mut store_files = Vec::new();
    let mut keep_dir = false;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let name = entry.file_name();
        let text = name.to_string_lossy();
        if text.starts_with(DB_FILE) || text.starts_with(DEAD_LETTER_FILE) || name == STREAM_CHECKPOINTS_DIR {
            store_files.push(entry.path());
        } else if name == HOST_DIR || name == LOCK_FILE {
            // The dev host's build cache; the lock this process holds.
            keep_dir = true;
        } else {
            return Err(format!(
                "refusing to --reset {}: it holds `{}`, which orchgen dev did not create",
                dir.display(),
                name.to_string_lossy()
            ));
        }
    }
    if !keep_dir {
        std::fs::remove_dir_all(dir).map_err(|e| format!("cannot delete {}: {e}", dir.display()))?;
        return Ok(true);
    }
    for file in &store_files {
        let removed = if file.is_dir() { std::fs::remove_dir_all(file) } else { std::fs::remove_file(file) };
        removed.map_err(|e| format!("cannot delete {}: {e}", file.display()))?;
    }
    Ok(!store_files.is_empty())
}

/// The reference pipeline's plan and graph for the unit tests (the generator is only a
/// dev-dependency: the crate itself never reads YAML).
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    pub fn plan() -> Plan {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/orders.yaml");
        let checked = orchgen_generator::check_file(&path).expect("the reference pipeline reads");
        checked.plan.expect("the reference pipeline is valid")
    }

    pub fn graph(plan: &Plan) -> DashboardGraph {
        use orchgen_generator::graph::{Graph, NodeKind};
        let graph = Graph::from_plan(plan);
        let nodes = graph
            .nodes
            .iter()
            .map(|n| GraphNode {
                id: n.id.clone(),
                name: n.name().to_owned(),
                kind: match n.kind {
                    NodeKind::Entry => "entry",
                    NodeKind::Step => "step",
                    NodeKind::Compensation => "compensation",
                    NodeKind::Terminal => "terminal",
                }
                .to_owned(),
            })
            .collect();
        DashboardGraph { svg: graph.to_svg(&plan.name), nodes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_a_valid_order_request() {
        let request: orchgen_runtime::order::OrderRequest = serde_json::from_str(SAMPLE_ORDER).unwrap();
        assert_eq!(request.items.len(), 2);
        assert!(!SAMPLE_ORDER.contains('\''));
    }

    #[test]
    fn reset_deletes_only_store_directories() {
        let dir = std::env::temp_dir().join(format!("orchgen-reset-{}", ulid::Ulid::new()));
        assert_eq!(reset(&dir), Ok(false));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(DB_FILE), b"").unwrap();
        std::fs::write(dir.join(format!("{DB_FILE}-wal")), b"").unwrap();
        // The dead letters and the stream consumer's checkpoints are about the store's orders.
        std::fs::write(dir.join(DEAD_LETTER_FILE), b"{}\n").unwrap();
        std::fs::write(dir.join(format!("{DEAD_LETTER_FILE}.lock")), b"").unwrap();
        std::fs::create_dir_all(dir.join(STREAM_CHECKPOINTS_DIR)).unwrap();
        std::fs::write(dir.join(STREAM_CHECKPOINTS_DIR).join("shard.json"), b"{}").unwrap();
        assert_eq!(reset(&dir), Ok(true));
        assert!(!dir.exists());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
        assert!(reset(&dir).unwrap_err().contains("notes.txt"));
        assert!(dir.join("notes.txt").exists());
        std::fs::remove_dir_all(&dir).unwrap();
        // The dev host's build cache survives a reset.
        std::fs::create_dir_all(dir.join(HOST_DIR)).unwrap();
        std::fs::write(dir.join(DB_FILE), b"").unwrap();
        std::fs::create_dir_all(dir.join(STREAM_CHECKPOINTS_DIR)).unwrap();
        assert_eq!(reset(&dir), Ok(true));
        assert!(!dir.join(DB_FILE).exists());
        assert!(!dir.join(STREAM_CHECKPOINTS_DIR).exists());
        assert!(dir.join(HOST_DIR).is_dir());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn one_process_at_a_time_holds_a_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let lock = lock_data_dir(&data).expect("the first takes it");
        let text = std::fs::read_to_string(data.join(LOCK_FILE)).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
        let refused = lock_data_dir(&data).expect_err("a second is refused");
        assert!(
            refused.contains("another orchgen dev") && refused.contains(&std::process::id().to_string()),
            "{refused}"
        );
        // --reset keeps the lock (and so the directory).
        std::fs::write(data.join(DB_FILE), b"").unwrap();
        assert_eq!(reset(&data), Ok(true));
        assert!(data.join(LOCK_FILE).exists());
        drop(lock);
        let _again = lock_data_dir(&data).expect("free again once the first let go");
    }

    #[test]
    fn log_levels() {
        assert!(log_filter(Some("debug"), "info").is_ok());
        assert!(log_filter(Some("orchgen_runtime=trace,info"), "info").is_ok());
        assert!(log_filter(Some("=["), "info").is_err());
    }
}
