//! `orchgen dev` end to end: the real binary serving the real pipeline over HTTP, driven by an HTTP
//! client as a user (or a dashboard) drives it.
//!
//! Each test starts its own server with `--port 0 --data-dir <temp dir>`, reads the port from the
//! `listening on http://127.0.0.1:PORT` line, and stops it (SIGTERM, SIGKILL, or a kill when the
//! test ends). Every wait is bounded and a failure shows the order's last state and the end of the
//! server's log (stderr goes to a file in the temp dir).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use orchgen_tests::dev_server::{Dev, DevServer, TERMINAL, pipeline_with_inventory, split, stock};
use orchgen_tests::fixtures::{self, sample_order};
use orchgen_tests::{wait_until, workspace_root};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

// ------------------------------------------------------------------------------------------------
// Pipelines, bodies and the server
// ------------------------------------------------------------------------------------------------

fn reference_pipeline() -> PathBuf {
    workspace_root().join("pipelines/orders.yaml")
}

/// A copy of the reference pipeline in `dir` with `local.inventory` replaced.
fn test_pipeline(dir: &Path, inventory: &[(&str, u64)]) -> PathBuf {
    pipeline_with_inventory(dir, inventory).expect("the test pipeline is written")
}

/// An order of one unit of `product`.
fn one_unit(product: &str, payment_method: &str) -> Value {
    fixtures::order().one_unit(product).payment_method(payment_method).json()
}

/// `orchgen dev <pipeline> --port 0 --data-dir <data_dir>`.
fn dev(pipeline: &Path, data_dir: &Path) -> Dev {
    Dev::new(crate::orchgen_bin(), pipeline, data_dir)
}

/// Starts `orchgen dev <pipeline> --port 0 --data-dir <data_dir>` and waits until it listens.
fn start(pipeline: &Path, data_dir: &Path) -> DevServer {
    dev(pipeline, data_dir).start()
}

/// Runs `jobs` on `threads` threads; returns their results in job order.
fn parallel<T: Send + 'static, J: Send + 'static>(
    jobs: Vec<J>,
    threads: usize,
    run: impl Fn(J) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let n = jobs.len();
    let queue = Arc::new(Mutex::new(jobs.into_iter().enumerate().collect::<Vec<_>>()));
    let results = Arc::new(Mutex::new((0..n).map(|_| None).collect::<Vec<Option<T>>>()));
    let run = Arc::new(run);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (queue, results, run) = (queue.clone(), results.clone(), run.clone());
            thread::spawn(move || {
                loop {
                    let Some((i, job)) = queue.lock().expect("queue").pop() else { break };
                    let result = run(job);
                    results.lock().expect("results")[i] = Some(result);
                }
            })
        })
        .collect();
    for handle in handles {
        if let Err(panic) = handle.join() {
            std::panic::resume_unwind(panic);
        }
    }
    let results = std::mem::take(&mut *results.lock().expect("results"));
    results.into_iter().map(|r| r.expect("every job ran")).collect()
}

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temp dir")
}

// ------------------------------------------------------------------------------------------------
// Order outcomes
// ------------------------------------------------------------------------------------------------

#[test]
fn reference_pipeline_outcomes_happy_out_of_stock_and_fraud() {
    let dir = temp();
    let server = start(&reference_pipeline(), &dir.path().join("data"));
    reference_outcomes(&server);
}

/// The seed's three outcomes on a fresh store seeded from the reference pipeline.
fn reference_outcomes(server: &DevServer) {
    let stdout =
        server.wait_stdout(|out| out.contains("curl") && out.contains("\"cust-12345\""), Duration::from_secs(5));
    assert!(stdout.contains(&format!("-X POST {}/orders", server.base)), "{stdout}");
    let before = server.inventory();
    assert_eq!(stock(&before, "product-1"), (100, 0));
    assert_eq!(stock(&before, "product-5"), (0, 0));

    // Happy path: the seed order completes with a shipment and exactly one charge.
    let (status, reply, headers) = server.post_raw(sample_order().to_string(), Some("application/json"), None);
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let id = reply["order_id"].as_str().expect("order_id").to_owned();
    assert_eq!(reply["status"], "RECEIVED");
    assert_eq!(headers["location"], format!("/orders/{id}").as_str());
    let order = server.wait_terminal(&id);
    assert_eq!(order["status"], "COMPLETED", "{order:#}");
    assert_eq!(order["total"], 109.97);
    assert_eq!(order["charge"]["amount"], 109.97, "{order:#}");
    assert_eq!(order["charge"]["refunded"], false);
    assert!(order["shipment"]["tracking_id"].as_str().is_some_and(|t| t.starts_with("TRK")), "{order:#}");
    let charges = order["history"].as_array().expect("history").iter().filter(|h| h["step"] == "charge-payment");
    assert_eq!(charges.filter(|h| h["outcome"] == "succeeded").count(), 1, "{order:#}");
    let after = server.inventory();
    assert_eq!(stock(&after, "product-1"), (98, 0));
    assert_eq!(stock(&after, "product-2"), (49, 0));
    let (_, health) = server.get("/_orchgen/health");
    assert_eq!(health["charges"], 1, "{health}");

    // Out of stock: product-5 has none. REJECTED (a refusal with nothing to undo), nothing reserved
    // or taken.
    let before = server.inventory();
    let id = server.submit(&one_unit("product-5", "credit_card"));
    let order = server.wait_terminal(&id);
    assert_eq!(order["status"], "REJECTED", "{order:#}");
    assert_eq!(order["failure"]["code"], "OUT_OF_STOCK", "{order:#}");
    assert_eq!(order["failure"]["kind"], "refusal", "{order:#}");
    assert!(order.get("charge").is_none(), "{order:#}");
    assert_eq!(server.inventory(), before);

    // A declined payment (the fraud rule): CANCELLED with the reason, the reservation released.
    let fraud = fixtures::order().one_unit("product-3").customer_id("cust-fraud").json();
    let id = server.submit(&fraud);
    let order = server.wait_terminal(&id);
    assert_eq!(order["status"], "CANCELLED", "{order:#}");
    assert_eq!(order["failure"]["code"], "SUSPECTED_FRAUD", "{order:#}");
    assert_eq!(order["failure"]["kind"], "refusal", "{order:#}");
    assert_eq!(server.stock("product-3"), (25, 0));
    let (_, health) = server.get("/_orchgen/health");
    assert_eq!(health["charges"], 1, "a declined payment records no charge: {health}");
}

// ------------------------------------------------------------------------------------------------
// The same pipeline on DynamoDB Local (`--dynamodb-endpoint`): tables created from the plan, the
// orders table's stream driving the engine.
// ------------------------------------------------------------------------------------------------

/// `orchgen dev --dynamodb-endpoint` on the shared DynamoDB Local, with tables of its own.
fn start_on_dynamodb(pipeline: &Path, data: &Path, prefix: &str) -> Option<DevServer> {
    let local = orchgen_tests::dynamodb_local::DynamoDbLocal::shared()?;
    let endpoint = local.endpoint_url();
    Some(dev(pipeline, data).args(["--dynamodb-endpoint", &endpoint, "--table-prefix", prefix]).start())
}

#[test]
fn dynamodb_backend_reference_outcomes_and_a_declined_card() {
    let dir = temp();
    let Some(server) = start_on_dynamodb(&reference_pipeline(), &dir.path().join("data"), "outcomes-") else {
        return;
    };
    let stdout = server.wait_stdout(|out| out.contains("listening on"), Duration::from_secs(5));
    assert!(stdout.contains("on DynamoDB at http://127.0.0.1:"), "{stdout}");
    assert!(stdout.contains("outcomes-shop-orders"), "{stdout}");
    reference_outcomes(&server);

    let id = server.submit(&one_unit("product-4", "declined_card"));
    let order = server.wait_terminal(&id);
    assert_eq!(order["status"], "CANCELLED", "{order:#}");
    assert_eq!(order["failure"]["code"], "CARD_DECLINED", "{order:#}");
    assert_eq!(server.stock("product-4"), (10, 0));
}

#[test]
fn dynamodb_backend_sigkill_then_restart_loses_no_accepted_order() {
    let dir = temp();
    let pipeline = test_pipeline(dir.path(), &[("product-1", 1_000)]);
    let data = dir.path().join("data");
    let Some(server) = start_on_dynamodb(&pipeline, &data, "sigkill-") else {
        return;
    };
    let server = Arc::new(server);
    let ids = submit_many(&server, 40);
    assert_eq!(ids.len(), 40);
    // Kill it while it processes them: once one has moved on (it may be done with all of them by then).
    let moving = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
        server.all_orders().iter().any(|o| o["status"] != "RECEIVED")
    });
    if !moving {
        eprintln!("no order had moved on 10 s after the submissions: killed before any processing");
    }
    let server = Arc::try_unwrap(server).unwrap_or_else(|_| panic!("the server is still shared"));
    server.kill();

    // The tables survive (DynamoDB Local keeps running); the stream checkpoints are in `data`.
    let server = start_on_dynamodb(&pipeline, &data, "sigkill-").expect("DynamoDB Local is still running");
    check_consistency(&server, &ids, 1_000);
}

#[test]
fn a_declined_card_cancels_the_order_and_releases_stock() {
    let dir = temp();
    let pipeline = test_pipeline(dir.path(), &[("product-1", 10)]);
    let server = start(&pipeline, &dir.path().join("data"));
    let id = server.submit(&one_unit("product-1", "declined_card"));
    let order = server.wait_terminal(&id);
    assert_eq!(order["status"], "CANCELLED", "{order:#}");
    assert_eq!(order["failure"]["code"], "CARD_DECLINED", "{order:#}");
    assert_eq!(order["failure"]["step"], "charge-payment", "{order:#}");
    assert!(order.get("charge").is_none(), "{order:#}");
    let released = order["history"].as_array().expect("history").iter().any(|h| h["step"] == "release-inventory");
    assert!(released, "no release-inventory in the history: {order:#}");
    assert_eq!(server.stock("product-1"), (10, 0));
}

/// `scripts/example-provider --port 0` with the example's secrets; its port.
struct ExampleProvider {
    child: std::process::Child,
    port: u16,
}

impl ExampleProvider {
    fn start() -> ExampleProvider {
        use std::io::BufRead;
        let mut child = std::process::Command::new("python3")
            .arg(workspace_root().join("scripts/example-provider"))
            .args(["--port", "0"])
            .env("PAYMENTS_TOKEN", "tok_test")
            .env("PAYMENTS_SIGNING_KEY", "whsec_test")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs scripts/example-provider");
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("a first line");
        // Keep reading its request log, so that it never writes into a closed pipe.
        thread::spawn(move || for _ in stdout.lines().map_while(Result::ok) {});
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in the provider's first line: {line:?}"));
        ExampleProvider { child, port }
    }
}

impl Drop for ExampleProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_http_example_charges_and_notifies_through_the_example_provider() {
    let dir = temp();
    let provider = ExampleProvider::start();
    let text = std::fs::read_to_string(workspace_root().join("pipelines/orders-http.yaml")).expect("the example");
    let pipeline = dir.path().join("orders-http.yaml");
    std::fs::write(&pipeline, text.replace("127.0.0.1:9000", &format!("127.0.0.1:{}", provider.port))).expect("write");
    // The signing key is `${secretsmanager:shop/payments-signing-key}`: locally, its variable.
    let server = dev(&pipeline, &dir.path().join("data"))
        .env("PAYMENTS_TOKEN", "tok_test")
        .env("SECRETSMANAGER_SHOP_PAYMENTS_SIGNING_KEY", "whsec_test")
        .start();

    let id = server.submit(&one_unit("product-1", "credit_card"));
    let order = server.wait_terminal(&id);
    assert_eq!(order["status"], "COMPLETED", "{order:#}");
    let charge = &order["outputs"]["charge-payment"];
    assert_eq!(charge["status"], "captured", "{order:#}");
    assert_eq!(charge["amount_cents"], 1000, "one unit at $10.00: {order:#}");
    assert!(charge["charge_id"].as_str().is_some_and(|c| c.starts_with("ch_")), "{order:#}");
    assert!(order["outputs"]["notify"]["message_id"].as_str().is_some_and(|m| m.starts_with("msg_")), "{order:#}");

    let id = server.submit(&one_unit("product-1", "declined_card"));
    let declined = server.wait_terminal(&id);
    assert_eq!(declined["status"], "CANCELLED", "{declined:#}");
    assert_eq!(declined["failure"]["step"], "charge-payment", "{declined:#}");
    assert_eq!(declined["failure"]["code"], "HTTP_402", "{declined:#}");
    assert!(declined["failure"]["message"].as_str().is_some_and(|m| m.contains("card_declined")), "{declined:#}");
    let steps: Vec<&str> =
        declined["history"].as_array().expect("history").iter().filter_map(|h| h["step"].as_str()).collect();
    assert!(steps.contains(&"release-inventory"), "{declined:#}");
    assert!(!steps.contains(&"refund-payment"), "nothing was charged: {declined:#}");
    assert_eq!(server.stock("product-1"), (99, 0), "one unit sold, the declined one released");
}

// ------------------------------------------------------------------------------------------------
// HTTP behaviour
// ------------------------------------------------------------------------------------------------

/// Asserts the one error shape and the code.
fn assert_error(status: StatusCode, body: &Value, want_status: u16, code: &str) {
    assert_eq!(status.as_u16(), want_status, "{body}");
    let e = &body["error"];
    assert_eq!(e["code"], code, "{body}");
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(e["fields"].is_array(), "{body}");
    assert!(e["request_id"].as_str().is_some_and(|r| !r.is_empty()), "{body}");
}

fn field_paths(body: &Value) -> Vec<String> {
    body["error"]["fields"].as_array().map_or_else(Vec::new, |fields| {
        fields.iter().map(|f| f["path"].as_str().unwrap_or_default().to_owned()).collect()
    })
}

#[test]
fn http_errors_idempotency_and_listing() {
    let dir = temp();
    let server = start(&reference_pipeline(), &dir.path().join("data"));

    // 400 listing every field error at once.
    let bad = json!({
        "customer": { "customer_id": "c", "email": 7 },
        "items": [ { "product_id": "product-1", "quantity": 0, "unit_price": -1 }, { "product_id": "p", "quantity": 1.5, "unit_price": 1 } ],
        "shipping_address": {},
        "payment": { "payment_method": "credit_card", "card_number": "4111" },
        "extra": true
    });
    let (status, body) = server.post(&bad);
    assert_error(status, &body, 400, "INVALID_BODY");
    assert_eq!(
        field_paths(&body),
        [
            "customer.email",
            "customer.name",
            "items[0].quantity",
            "items[0].unit_price",
            "items[1].quantity",
            "payment.card_number",
            "extra"
        ]
    );
    let mut empty = sample_order();
    empty["items"] = json!([]);
    let (status, body) = server.post(&empty);
    assert_error(status, &body, 400, "INVALID_BODY");
    assert_eq!(field_paths(&body), ["items"]);

    // Invalid JSON: 400 with the position.
    let (status, body, _) = server.post_raw("{\"customer\": ".into(), Some("application/json"), None);
    assert_error(status, &body, 400, "INVALID_JSON");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("line 1"), "{body}");

    // 413 above max_request_bytes (16384), counting raw bytes.
    let big = format!("{}{}", sample_order(), " ".repeat(16_384));
    let (status, body, _) = server.post_raw(big, Some("application/json"), None);
    assert_error(status, &body, 413, "PAYLOAD_TOO_LARGE");

    // 415 unless JSON.
    let (status, body, _) = server.post_raw(sample_order().to_string(), Some("text/plain"), None);
    assert_error(status, &body, 415, "UNSUPPORTED_MEDIA_TYPE");
    let (status, body, _) = server.post_raw(sample_order().to_string(), None, None);
    assert_error(status, &body, 415, "UNSUPPORTED_MEDIA_TYPE");
    let (status, _, _) = server.post_raw(sample_order().to_string(), Some("application/json; charset=utf-8"), None);
    assert_eq!(status, StatusCode::CREATED);

    // Idempotency-Key: replay, then reuse with another body.
    let (status, first, _) = server.post_raw(sample_order().to_string(), Some("application/json"), Some("e2e-key-1"));
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let pretty = serde_json::to_string_pretty(&sample_order()).expect("json");
    let (status, again, headers) = server.post_raw(pretty, Some("application/json"), Some("e2e-key-1"));
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(again["order_id"], first["order_id"]);
    let mut other = sample_order();
    other["items"][0]["quantity"] = json!(1);
    let (status, body, _) = server.post_raw(other.to_string(), Some("application/json"), Some("e2e-key-1"));
    assert_error(status, &body, 422, "IDEMPOTENCY_KEY_REUSED");

    // 404s and 405.
    let (status, body) = server.get("/orders/01ARZ3NDEKTSV4RRFFQ69G5FAV");
    assert_error(status, &body, 404, "ORDER_NOT_FOUND");
    let (status, body) = server.get("/orders/not-an-id");
    assert_error(status, &body, 404, "ORDER_NOT_FOUND");
    let (status, body) = server.get("/nope");
    assert_error(status, &body, 404, "ROUTE_NOT_FOUND");
    let response = server.client.delete(server.url("/orders")).send().expect("DELETE");
    assert_eq!(response.headers()["allow"], "GET, POST");
    let (status, body, _) = split(response);
    assert_error(status, &body, 405, "METHOD_NOT_ALLOWED");

    // Listing: five more orders, all settled, then pages of 2 newest first.
    let mut ids: Vec<String> = vec![first["order_id"].as_str().expect("id").to_owned()];
    for _ in 0..5 {
        ids.push(server.submit(&sample_order()));
    }
    let everything = server.wait_all_terminal(
        &server.all_orders().iter().map(|o| o["order_id"].as_str().unwrap_or_default().to_owned()).collect(),
    );
    let mut newest_first: Vec<String> = everything.keys().cloned().collect();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(newest_first.len(), 7, "{everything:?}");

    let mut seen = Vec::new();
    let mut path = "/orders?limit=2".to_owned();
    loop {
        let (status, page) = server.get(&path);
        assert_eq!(status, StatusCode::OK, "{page}");
        let orders = page["orders"].as_array().expect("orders");
        assert!(orders.len() <= 2 && page["count"] == orders.len(), "{page}");
        seen.extend(orders.iter().map(|o| o["order_id"].as_str().unwrap_or_default().to_owned()));
        match page["next"].as_str() {
            Some(next) => path = format!("/orders?limit=2&next={next}"),
            None => break,
        }
    }
    assert_eq!(seen, newest_first);

    let (status, page) = server.get("/orders?status=COMPLETED&limit=3");
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["count"], 3);
    assert!(page["orders"].as_array().expect("orders").iter().all(|o| o["status"] == "COMPLETED"), "{page}");
    let next = page["next"].as_str().expect("more COMPLETED orders").to_owned();
    let (status, rest) = server.get(&format!("/orders?status=COMPLETED&limit=100&next={next}"));
    assert_eq!(status, StatusCode::OK, "{rest}");
    let completed = everything.values().filter(|o| o["status"] == "COMPLETED").count();
    assert_eq!(3 + rest["count"].as_u64().unwrap_or_default() as usize, completed);
    // A cursor is tied to its filter; garbage is a 400, never a 500.
    let (status, body) = server.get(&format!("/orders?next={next}"));
    assert_error(status, &body, 400, "INVALID_PARAMETER");
    let (status, body) = server.get("/orders?next=bm90LWEtY3Vyc29y");
    assert_error(status, &body, 400, "INVALID_PARAMETER");

    let (status, body) = server.get("/orders?status=SHIPPED");
    assert_error(status, &body, 400, "INVALID_PARAMETER");
    let message = body["error"]["fields"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("RECEIVED") && message.contains("COMPLETED") && message.contains("CANCELLED"), "{body}");
    for limit in ["0", "101", "ten"] {
        let (status, body) = server.get(&format!("/orders?limit={limit}"));
        assert_error(status, &body, 400, "INVALID_PARAMETER");
        assert_eq!(field_paths(&body), ["limit"]);
    }

    // The dashboard endpoints.
    let (status, doc) = server.get("/_orchgen/openapi.json");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["paths"]["/orders/{orderId}"]["get"].is_object(), "{doc}");
    assert_eq!(doc["servers"][0]["url"], server.base.as_str());
    let (status, health) = server.get("/_orchgen/health");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "ok");
}

// ------------------------------------------------------------------------------------------------
// Concurrency and crashes
// ------------------------------------------------------------------------------------------------

#[test]
fn concurrent_orders_never_oversell() {
    let dir = temp();
    let pipeline = test_pipeline(dir.path(), &[("product-1", 50)]);
    let server = Arc::new(start(&pipeline, &dir.path().join("data")));
    let s = server.clone();
    let ids = parallel((0..300).collect(), 32, move |_| s.submit(&one_unit("product-1", "credit_card")));
    let ids: BTreeSet<String> = ids.into_iter().collect();
    assert_eq!(ids.len(), 300);

    let orders = server.wait_all_terminal(&ids);
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for order in orders.values() {
        *by_status.entry(order["status"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
        if order["status"] != "COMPLETED" {
            assert_eq!(order["failure_code"], "OUT_OF_STOCK", "{order}");
        }
    }
    assert_eq!(by_status.get("COMPLETED"), Some(&50), "{by_status:?}");
    assert_eq!(server.stock("product-1"), (0, 0));
    let (_, health) = server.get("/_orchgen/health");
    assert_eq!(health["charges"], 50, "{health}");
}

/// Submits `n` orders of one unit of product-1 on 16 threads (every 7th with a declined card).
fn submit_many(server: &Arc<DevServer>, n: usize) -> BTreeSet<String> {
    let s = server.clone();
    let ids = parallel((0..n).collect(), 16, move |i: usize| {
        let method = if i.is_multiple_of(7) { "declined_card" } else { "credit_card" };
        s.submit(&one_unit("product-1", method))
    });
    ids.into_iter().collect()
}

/// Every accepted order is terminal, charges match completions, stock matches charges.
fn check_consistency(server: &DevServer, ids: &BTreeSet<String>, initial_stock: u64) {
    let orders = server.wait_all_terminal(ids);
    let mut completed = 0u64;
    for id in ids {
        let order = server.wait_terminal(id);
        let charged = order.get("charge").is_some_and(|c| c["refunded"] == false);
        match order["status"].as_str() {
            Some("COMPLETED") => {
                completed += 1;
                assert!(charged, "a COMPLETED order without a charge: {order:#}");
                let charges = order["history"].as_array().expect("history").iter();
                let succeeded =
                    charges.filter(|h| h["step"] == "charge-payment" && h["outcome"] == "succeeded").count();
                assert_eq!(succeeded, 1, "charged {succeeded} times: {order:#}");
            }
            Some("CANCELLED") => {
                assert!(!charged, "a CANCELLED order keeps a charge: {order:#}");
                assert_eq!(order["failure"]["code"], "CARD_DECLINED", "{order:#}");
            }
            other => panic!("unexpected status {other:?}: {order:#}"),
        }
    }
    assert_eq!(orders.len(), ids.len());
    let (_, health) = server.get("/_orchgen/health");
    assert_eq!(health["charges"], completed, "ledger entries ≠ completed orders: {health}");
    assert_eq!(server.stock("product-1"), (initial_stock - completed, 0));
}

#[test]
fn sigkill_mid_run_then_restart_loses_no_accepted_order() {
    let dir = temp();
    let pipeline = test_pipeline(dir.path(), &[("product-1", 100_000)]);
    let data = dir.path().join("data");
    let server = Arc::new(start(&pipeline, &data));
    let ids = submit_many(&server, 200);
    assert_eq!(ids.len(), 200);
    // Every order above was stored before its 201: kill the server while it is processing them
    // (once it has processed some records, so that orders are caught half-way).
    wait_until(Duration::from_secs(10), Duration::from_millis(5), || {
        let (_, health) = server.get("/_orchgen/health");
        health["processor"]["records_processed"].as_u64().unwrap_or_default() >= 200
    });
    let server = Arc::try_unwrap(server).unwrap_or_else(|_| panic!("the server is still shared"));
    server.kill();

    let server = start(&pipeline, &data);
    let pending =
        server.all_orders().iter().filter(|o| !TERMINAL.contains(&o["status"].as_str().unwrap_or_default())).count();
    eprintln!("after SIGKILL and restart, {pending} of 200 orders were not terminal yet");
    check_consistency(&server, &ids, 100_000);
}

#[test]
fn sigterm_stops_gracefully_and_keeps_every_accepted_order() {
    let dir = temp();
    let pipeline = test_pipeline(dir.path(), &[("product-1", 100_000)]);
    let data = dir.path().join("data");
    let server = Arc::new(start(&pipeline, &data));
    let base = server.base.clone();

    // Clients keep submitting while the server stops: what got a 201 must survive.
    let accepted = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (accepted, stop, s) = (accepted.clone(), stop.clone(), server.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let request = s.client.post(s.url("/orders")).header("content-type", "application/json");
                    match request.body(one_unit("product-1", "credit_card").to_string()).send() {
                        Ok(r) if r.status() == StatusCode::CREATED => {
                            let (_, body, _) = split(r);
                            let id = body["order_id"].as_str().unwrap_or_default().to_owned();
                            accepted.lock().expect("accepted").insert(id);
                        }
                        Ok(r) => panic!("unexpected answer while stopping: {}", r.status()),
                        Err(_) => break, // the server stopped accepting
                    }
                }
            })
        })
        .collect();
    let hundred = wait_until(Duration::from_secs(20), Duration::from_millis(5), || {
        accepted.lock().expect("accepted").len() >= 100
    });
    assert!(hundred, "fewer than 100 orders accepted in 20 s");
    let status = {
        server.send_term();
        stop.store(true, Ordering::Relaxed);
        for client in clients {
            client.join().expect("a client thread panicked");
        }
        Arc::try_unwrap(server).unwrap_or_else(|_| panic!("the server is still shared")).wait_exit()
    };
    assert!(status.success(), "orchgen dev exited with {status} after SIGTERM");
    assert!(Client::new().get(format!("{base}/_orchgen/health")).send().is_err(), "still accepting after exit");

    let ids = accepted.lock().expect("accepted").clone();
    let server = start(&pipeline, &data);
    check_consistency(&server, &ids, 100_000);
    let log = server.log_all();
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(server.terminate().code(), Some(0));
}

#[test]
fn an_invalid_pipeline_is_reported_and_exits_1() {
    let dir = temp();
    let path = dir.path().join("bad.yaml");
    let text =
        std::fs::read_to_string(reference_pipeline()).expect("readable").replace("kind: fulfil", "kind: fulfill");
    std::fs::write(&path, text).expect("written");
    let output = dev(&path, &dir.path().join("data")).output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("fulfill") && stderr.contains("bad.yaml"), "{stderr}");
    assert!(!dir.path().join("data").exists(), "nothing is created for an invalid pipeline");
}

#[test]
fn a_second_dev_server_on_the_same_data_directory_is_refused_while_the_first_runs() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let data = dir.path().join("data");
    let first = start(&reference_pipeline(), &data);
    let Err(refused) = dev(&reference_pipeline(), &data).log(&dir.path().join("second.log")).spawn() else {
        panic!("a second orchgen dev started on the same data directory");
    };
    assert!(refused.contains("another orchgen dev") && refused.contains("--data-dir"), "{refused}");
    // The first one is untouched; once it is gone (even killed), the directory is free.
    let id = first.submit(&sample_order());
    assert_eq!(first.wait_terminal(&id)["status"], "COMPLETED");
    first.kill();
    let second = start(&reference_pipeline(), &data);
    assert_eq!(second.order(&id)["status"], "COMPLETED");
}
