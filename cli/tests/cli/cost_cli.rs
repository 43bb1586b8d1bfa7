//! `orchgen cost`: the estimate of the reference pipeline as a script reads it (`--format json`), how
//! it moves with the volume and the pipeline, the DynamoDB units of a tiny plan recomputed here from
//! the runtime's own orders by DynamoDB's documented rules, the text form and bad input.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use aws_lambda_events::http;
use clap::Parser;
use orchgen::Cli;
use orchgen_runtime::Engine;
use orchgen_runtime::api::Api;
use orchgen_runtime::order::Order;
use orchgen_runtime::store::dynamodb::capacity::{item_size, write_units};
use orchgen_runtime::store::dynamodb::item::{OrderAttributes, encode_order};
use orchgen_runtime::store::memory::MemoryStore;
use orchgen_runtime::store::{ChangeKind, ChangeRecord, Store};
use orchgen_tests::{fixtures, workspace_root};
use serde_json::Value;

use crate::orchgen;

/// Runs `orchgen <args>` in-process: (exit code, stdout, stderr).
fn reference() -> String {
    workspace_root().join("pipelines/orders.yaml").display().to_string()
}

fn estimate(file: &str, orders: u64) -> Value {
    let (code, out, err) = orchgen(&["cost", file, "--orders-per-month", &orders.to_string(), "--format", "json"]);
    assert_eq!(code, 0, "stderr: {err}");
    serde_json::from_str(&out).expect("the JSON output parses")
}

fn design<'a>(estimate: &'a Value, id: &str) -> &'a Value {
    estimate["designs"].as_array().expect("designs").iter().find(|d| d["id"] == id).expect("design present")
}

fn f(value: &Value) -> f64 {
    value.as_f64().unwrap_or_else(|| panic!("{value} is not a number"))
}

const DESIGNS: [&str; 5] = ["orchgen", "seed", "step_functions", "step_functions_express", "durable_functions"];

#[test]
fn the_same_pipeline_always_gets_the_same_estimate() {
    // The order it simulates has new ids and times each run, and the store packs it: the model
    // sizes a representative order with fixed ones, so nothing moves from run to run.
    let (_, first, _) = orchgen(&["cost", &reference(), "--orders-per-month", "1000000", "--format", "json"]);
    let (_, second, _) = orchgen(&["cost", &reference(), "--orders-per-month", "1000000", "--format", "json"]);
    assert_eq!(first, second);
}

#[test]
fn the_reference_pipeline_has_five_positive_designs_whose_totals_are_their_lines() {
    let e = estimate(&reference(), 1_000_000);
    assert_eq!(e["pipeline"], "shop");
    assert_eq!(e["orders_per_month"], 1_000_000);
    assert_eq!(e["prices"]["date"], orchgen_generator::cost::prices::PRICES.date);
    for id in DESIGNS {
        let d = design(&e, id);
        let total = f(&d["total_monthly_usd"]);
        assert!(total > 0.0, "{id}: {total}");
        let sum: f64 = d["lines"].as_array().expect("lines").iter().map(|l| f(&l["monthly_usd"])).sum();
        assert!((total - sum).abs() < 1e-9, "{id}: total {total} != lines {sum}");
        // At one million orders, the cost per million orders is the monthly total.
        assert!((f(&d["per_million_orders_usd"]) - total).abs() < 1e-9);
        let services: Vec<&str> = d["lines"].as_array().unwrap().iter().filter_map(|l| l["service"].as_str()).collect();
        for service in ["API Gateway", "Lambda requests", "Lambda compute", "DynamoDB writes", "DynamoDB reads"] {
            assert!(services.contains(&service), "{id} has no {service} line: {services:?}");
        }
    }
    // Only Step Functions pays for state transitions; the reference plan's 5 steps make 14.
    assert_eq!(design(&e, "step_functions")["per_order"]["state_transitions"], 14);
    // The reference plan chains its steps: the orchgen design sends what `dynamodb_engine`'s
    // `chained_steps_commit_an_order_in_one_transaction` counts on DynamoDB Local — the creation and
    // one transaction, one engine read (+ the GET) — and of its 2 stream records per order 1 reaches
    // the processor (the mapping filters out terminal images).
    let o = &design(&e, "orchgen")["per_order"];
    assert_eq!(o["dynamodb_write_requests"], 2);
    assert_eq!(o["dynamodb_read_requests"], 2);
    assert_eq!(o["stream_records"], 1);
    let ids: Vec<&str> = e["designs"].as_array().unwrap().iter().filter_map(|d| d["id"].as_str()).collect();
    assert_eq!(ids, DESIGNS);
    let ratios = e["ratios"].as_array().expect("ratios");
    assert_eq!(ratios.len(), 4);
    let orchgen_total = f(&design(&e, "orchgen")["total_monthly_usd"]);
    for (r, (id, target)) in ratios.iter().zip([
        ("seed", 0.5),
        ("step_functions", 0.05),
        ("step_functions_express", 1.0),
        ("durable_functions", 1.0 / 3.0),
    ]) {
        assert_eq!(r["name"], format!("orchgen / {id}"));
        assert!((f(&r["target"]) - target).abs() < 1e-12, "{r}");
        // The ratio is that of the totals, whatever orchgen's figure is today.
        let value = orchgen_total / f(&design(&e, id)["total_monthly_usd"]);
        assert!((f(&r["value"]) - value).abs() < 1e-12, "{r}");
        assert_eq!(r["met"].as_bool(), Some(f(&r["value"]) <= f(&r["target"])), "{r}");
    }
}

#[test]
fn express_and_durable_functions_say_what_they_give_up_and_price_their_own_services() {
    let e = estimate(&reference(), 1_000_000);
    let express = design(&e, "step_functions_express");
    let gives_up: Vec<&str> =
        express["gives_up"].as_array().expect("gives_up").iter().filter_map(|g| g.as_str()).collect();
    assert!(gives_up.iter().any(|g| g.contains("at least once")), "{gives_up:?}");
    assert!(gives_up.iter().any(|g| g.contains("CloudWatch Logs")), "{gives_up:?}");
    assert!(gives_up.iter().any(|g| g.contains("5 minutes")), "{gives_up:?}");
    assert_eq!(express["per_order"]["executions"], 1);
    let billed = f(&express["per_order"]["execution_billed_ms"]);
    assert!(billed > 0.0 && billed % 100.0 == 0.0, "Express bills whole 100 ms: {billed}");
    // The same DynamoDB writes as Standard (UpdateItem tasks), no state transitions billed.
    let standard = design(&e, "step_functions");
    assert_eq!(express["per_order"]["dynamodb_write_units"], standard["per_order"]["dynamodb_write_units"]);
    let services = |d: &Value| -> Vec<String> {
        d["lines"].as_array().unwrap().iter().map(|l| l["service"].as_str().unwrap().to_owned()).collect()
    };
    assert!(services(express).iter().any(|s| s == "Step Functions"));
    assert!(f(&express["total_monthly_usd"]) < f(&standard["total_monthly_usd"]));

    let durable = design(&e, "durable_functions");
    assert!(!durable["gives_up"].as_array().unwrap().is_empty());
    let steps = f(&design(&e, "orchgen")["per_order"]["step_invocations"]);
    assert_eq!(f(&durable["per_order"]["durable_operations"]), steps + 1.0, "the execution + a step per attempt");
    assert!(f(&durable["per_order"]["checkpoint_bytes"]) > 0.0);
    let durable_lines: Vec<&Value> =
        durable["lines"].as_array().unwrap().iter().filter(|l| l["service"] == "Lambda durable").collect();
    assert_eq!(durable_lines.len(), 3, "operations, data written, data retained");
    let units: Vec<&str> = durable_lines.iter().filter_map(|l| l["unit"].as_str()).collect();
    assert_eq!(units, ["operations", "GB", "GB-month"]);
}

#[test]
fn doubling_the_orders_doubles_the_variable_costs() {
    let one = estimate(&reference(), 1_000_000);
    let two = estimate(&reference(), 2_000_000);
    for id in DESIGNS {
        let (a, b) = (design(&one, id), design(&two, id));
        let (la, lb) = (a["lines"].as_array().unwrap(), b["lines"].as_array().unwrap());
        assert_eq!(la.len(), lb.len());
        for (x, y) in la.iter().zip(lb) {
            assert_eq!(x["service"], y["service"]);
            let (cx, cy) = (f(&x["monthly_usd"]), f(&y["monthly_usd"]));
            match x["scaling"].as_str() {
                Some("linear") => assert!((cy - 2.0 * cx).abs() <= 1e-9 * cy, "{id} {}: {cx} → {cy}", x["item"]),
                Some("fixed") => assert!((cy - cx).abs() < 1e-12, "{id} {}", x["item"]),
                Some("sublinear") => assert!(cy >= cx && cy <= 2.0 * cx + 1e-9, "{id} {}: {cx} → {cy}", x["item"]),
                other => panic!("unknown scaling {other:?}"),
            }
        }
        let (ta, tb) = (f(&a["total_monthly_usd"]), f(&b["total_monthly_usd"]));
        assert!(tb > 1.9 * ta && tb <= 2.0 * ta, "{id}: {ta} → {tb}");
    }
}

#[test]
fn a_pipeline_with_more_steps_costs_more() {
    let text = std::fs::read_to_string(reference()).expect("the reference pipeline");
    let extra = "  - name: notify-again\n    kind: notify\n    channel: mock\n    subject: \"Order {order_id} shipped\"\n    status: NOTIFIED_AGAIN\n\ncompensations:";
    assert!(text.contains("\ncompensations:"));
    let longer = text.replacen("\ncompensations:", &format!("\n{extra}"), 1);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("longer.yaml");
    std::fs::write(&file, longer).expect("written");
    let base = estimate(&reference(), 1_000_000);
    let more = estimate(&file.display().to_string(), 1_000_000);
    for id in DESIGNS {
        let (b, m) = (design(&base, id), design(&more, id));
        // The durable function runs its steps in process: a durable operation more, no invocation.
        let counted = if id == "durable_functions" { "durable_operations" } else { "step_invocations" };
        assert_eq!(f(&m["per_order"][counted]), f(&b["per_order"][counted]) + 1.0, "{id}");
        assert!(f(&m["total_monthly_usd"]) > f(&b["total_monthly_usd"]), "{id}");
    }
}

const TINY: &str = "name: tiny
description: One validation step.
api:
  path: /orders
  auth: api_key
steps:
  - name: validate
    kind: validate
    rules:
      min_items: 1
      max_items: 10
      max_quantity: 10
      max_order_total: 1000
      allowed_countries: [US]
      required_address_fields: [street, city, postal_code, country]
      payment_methods: [credit_card]
";

/// The versions of one order of `plan` driven here through the runtime: created through the API,
/// then one change record at a time through the engine.
fn versions(plan: orchgen_runtime::Plan) -> Vec<Order> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let plan = Arc::new(plan);
        let store = Arc::new(MemoryStore::new());
        let api = Api::new(plan.clone(), store.clone());
        let mut post = ApiGatewayProxyRequest::default();
        post.http_method = http::Method::POST;
        post.path = Some("/orders".into());
        post.resource = Some("/orders".into());
        post.headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        post.body = Some(fixtures::sample_order().to_string());
        let response = api.handle(post).await;
        assert_eq!(response.status_code, 201);
        let created: Value = match response.body {
            Some(aws_lambda_events::encodings::Body::Text(t)) => serde_json::from_str(&t).unwrap(),
            other => panic!("{other:?}"),
        };
        let id = created["order_id"].as_str().unwrap().to_owned();
        let engine = Engine::new(plan, store.clone());
        let mut orders = vec![store.get_order(&id).await.unwrap().unwrap()];
        while !orders.last().unwrap().is_terminal() {
            let image = orders.last().unwrap().clone();
            let kind = if image.version == 1 { ChangeKind::Insert } else { ChangeKind::Modify };
            let record = ChangeRecord {
                sequence_number: image.version.to_string(),
                kind,
                order_id: id.clone(),
                new_image: Some(image),
            };
            engine.process(&record).await.unwrap();
            orders.push(store.get_order(&id).await.unwrap().unwrap());
            assert!(orders.len() < 10, "the order keeps moving");
        }
        orders
    })
}

#[test]
fn the_dynamodb_units_of_a_tiny_plan_are_those_of_its_requests() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file: PathBuf = dir.path().join("tiny.yaml");
    std::fs::write(&file, TINY).expect("written");
    let plan = orchgen_generator::check_file(Path::new(&file)).expect("readable").plan.expect("valid");
    let orders = versions(plan.clone());
    // RECEIVED → VALIDATED → COMPLETED.
    assert_eq!(orders.iter().map(|o| o.status.as_str()).collect::<Vec<_>>(), ["RECEIVED", "VALIDATED", "COMPLETED"]);
    let names = OrderAttributes::of(&plan.tables.orders);
    let size = |o: &Order| item_size(&encode_order(o, &names).unwrap());
    let indexes =
        [&plan.tables.orders.status_index, &plan.tables.orders.recent_index].iter().filter(|i| i.is_some()).count();
    assert_eq!(indexes, 2, "the default orders table has a status and a recent index");
    // Creation: a PutItem of version 1, one entry in each index (keys + 100 B: under 1 KB).
    let mut wcu = write_units(size(&orders[0])) + 2;
    // Each move has no effects: a conditional PutItem of the order (not a transaction) at 1 WCU per KB
    // of the larger version, and the status index entry moved (delete + put).
    for pair in orders.windows(2) {
        wcu += write_units(size(&pair[0]).max(size(&pair[1]))) + 2;
    }
    // Reads: the engine reads the two non-terminal versions, the GET reads the last; all under 4 KB.
    assert!(orders.iter().all(|o| size(o) <= 4096));
    let rcu = 2 + 1;

    let (code, out, err) =
        orchgen(&["cost", &file.display().to_string(), "--orders-per-month", "1000", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let e: Value = serde_json::from_str(&out).unwrap();
    let o = &design(&e, "orchgen")["per_order"];
    assert_eq!(f(&o["dynamodb_write_units"]), wcu as f64, "{o}");
    assert_eq!(f(&o["dynamodb_read_units"]), f64::from(rcu), "{o}");
    assert_eq!(o["dynamodb_write_requests"], 3);
    let line = |id: &str, service: &str| -> f64 {
        design(&e, id)["lines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["service"] == service)
            .map(|l| f(&l["quantity"]))
            .sum()
    };
    assert_eq!(line("orchgen", "DynamoDB writes"), 1000.0 * wcu as f64);
    // The seed's design writes the same items without transactions or indexes.
    let mut seed_wcu = write_units(size(&orders[0]));
    for pair in orders.windows(2) {
        seed_wcu += write_units(size(&pair[0]).max(size(&pair[1])));
    }
    assert_eq!(f(&design(&e, "seed")["per_order"]["dynamodb_write_units"]), seed_wcu as f64);
}

#[test]
fn the_text_form_prints_the_price_date_every_design_and_the_targets() {
    let (code, out, err) = orchgen(&["cost", &reference(), "--orders-per-month", "1000000"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("as of {}", orchgen_generator::cost::prices::PRICES.date)), "{out}");
    for needle in [
        "orchgen (Rust",
        "the seed's design",
        "Step Functions Standard",
        "Step Functions Express",
        "Lambda durable functions",
        "gives up:",
        "per million orders",
        "orchgen / seed",
        "orchgen / step_functions_express",
        "orchgen / durable_functions",
        "target ≤ 0.50",
        "target ≤ 0.05",
        "target ≤ 1.00",
        "target ≤ 0.33",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    // The summary lists the five designs, in order.
    let summary: Vec<&str> = out
        .lines()
        .skip_while(|l| *l != "cost per million orders:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(summary, DESIGNS, "{out}");
    // The per-service lines are aligned: every `$` of a design's table is in the same column.
    let table: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("orchgen (Rust"))
        .skip(2)
        .take_while(|l| l.starts_with("  ") && !l.starts_with("  total"))
        .collect();
    assert!(table.len() > 5);
    let ends: Vec<usize> = table.iter().map(|l| l.chars().count()).collect();
    assert!(ends.windows(2).all(|w| w[0] == w[1]), "{table:#?}");
}

#[test]
fn bad_input_is_refused() {
    for bad in ["0", "abc", "-5"] {
        let e = Cli::try_parse_from(["orchgen", "cost", "--orders-per-month", bad]).expect_err(bad);
        assert_eq!(e.exit_code(), 2, "{bad}");
    }
    assert_eq!(Cli::try_parse_from(["orchgen", "cost"]).expect_err("the volume is required").exit_code(), 2);

    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("broken.yaml");
    std::fs::write(&file, TINY.replace("kind: validate", "kind: validte")).expect("written");
    let (code, out, err) = orchgen(&["cost", &file.display().to_string(), "--orders-per-month", "10"]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.contains("broken.yaml:8:11"), "the diagnostic is located: {err}");

    let (code, _, err) = orchgen(&["cost", "no/such/file.yaml", "--orders-per-month", "10"]);
    assert_eq!(code, 2, "{err}");
}
