//! The dashboard's machine-readable endpoints of `orchgen dev` over HTTP: `GET /_orchgen/status`
//! (JSON) and `GET /metrics` (Prometheus text format), after a mix of orders that complete, are
//! declined, are out of stock and are rejected. Every figure is checked against what the order API
//! says (`GET /orders?status=…`) and what the order mix must produce; the exposition text is checked
//! with a strict line grammar and parsed back with the `prometheus-parse` crate.

use std::collections::{BTreeMap, BTreeSet};
use std::thread;
use std::time::{Duration, Instant};

use crate::dashboard_support::{Mix, settle, start, temp};
use orchgen_tests::dev_server::DevServer;
use reqwest::StatusCode;
use serde_json::Value;

const MIX: Mix = Mix { completing: 4, declined: 3, out_of_stock: 2, rejected: 2 };

/// The status once the change feed is drained and the live counts add up.
fn settled_status(server: &DevServer) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, status) = server.get("/_orchgen/status");
        assert_eq!(code, StatusCode::OK, "{status}");
        let o = &status["live"]["orders"];
        let finished: u64 =
            ["completed", "rejected", "failed", "cancelled"].iter().map(|k| o[k].as_u64().unwrap()).sum();
        if status["change_feed"]["backlog"] == 0 && finished == MIX.total() as u64 {
            return status;
        }
        assert!(Instant::now() < deadline, "the status did not settle: {status:#}\n{}", server.log_tail());
        thread::sleep(Duration::from_millis(100));
    }
}

fn node<'a>(status: &'a Value, name: &str) -> &'a Value {
    let live = &status["live"];
    live["steps"]
        .as_array()
        .unwrap()
        .iter()
        .chain(live["compensations"].as_array().unwrap())
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node {name} in {live:#}"))
}

#[test]
fn status_and_metrics_agree_with_the_api() {
    let dir = temp("orchgen-dashboard-http");
    let server = start(dir.path());
    let ids: Vec<String> = MIX.bodies().iter().map(|b| server.submit(b)).collect();
    let api = settle(&server, &ids);
    assert_eq!(api["COMPLETED"], 4, "{api:?}");
    assert_eq!(api["CANCELLED"], 3, "{api:?}");
    assert_eq!(api.get("FAILED").copied().unwrap_or(0), 0, "no fault in the mix: {api:?}");
    assert_eq!(api["REJECTED"], 4, "2 invalid, 2 out of stock: {api:?}");

    let status = settled_status(&server);
    assert_eq!(status["pipeline"], "shop");
    assert_eq!(status["api_path"], "/orders");
    // Live counts (what the observer saw) = the API's counts.
    let o = &status["live"]["orders"];
    assert_eq!(o["created"], MIX.total() as u64, "{o}");
    for (field, api_status) in
        [("completed", "COMPLETED"), ("cancelled", "CANCELLED"), ("failed", "FAILED"), ("rejected", "REJECTED")]
    {
        assert_eq!(o[field], api[api_status], "{field}: {o}");
    }
    assert_eq!(o["in_flight"], 0, "{o}");
    // Store counts per status = the API's.
    let statuses: BTreeMap<String, u64> = status["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["status"].as_str().unwrap().to_owned(), s["count"].as_u64().unwrap()))
        .collect();
    for (s, n) in &api {
        assert_eq!(statuses[s], *n, "{s}: {statuses:?}");
    }
    assert_eq!(statuses["RECEIVED"], 0);

    // Per step: what the mix implies.
    assert_eq!(node(&status, "validate")["succeeded"], 9);
    assert_eq!(node(&status, "validate")["failed"], 2);
    assert_eq!(node(&status, "reserve-inventory")["succeeded"], 7);
    assert_eq!(node(&status, "reserve-inventory")["failed"], 2);
    assert_eq!(node(&status, "charge-payment")["succeeded"], 4);
    assert_eq!(node(&status, "charge-payment")["failed"], 3);
    assert_eq!(node(&status, "release-inventory")["compensated"], 3);
    assert_eq!(node(&status, "release-inventory")["kind"], "compensation");
    assert_eq!(node(&status, "notify")["succeeded"], 4);
    let latency = &node(&status, "charge-payment")["latency"];
    assert_eq!(latency["count"], 7, "{latency}");
    assert!(latency["p50_ms"].is_u64() && latency["p99_ms"].as_u64() >= latency["p50_ms"].as_u64(), "{latency}");
    assert!(node(&status, "fulfil")["latency"]["p90_ms"].is_u64());

    // Failures: newest first, with their codes.
    let failures = status["live"]["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 7, "{failures:#?}");
    let codes: BTreeMap<&str, usize> = failures.iter().fold(BTreeMap::new(), |mut m, f| {
        *m.entry(f["code"].as_str().unwrap()).or_default() += 1;
        m
    });
    assert_eq!(codes.get("CARD_DECLINED"), Some(&3), "{codes:?}");
    assert_eq!(codes.get("OUT_OF_STOCK"), Some(&2), "{codes:?}");
    assert_eq!(failures.iter().filter(|f| f["status"] == "REJECTED").count(), 4, "{failures:#?}");
    let failed_ids: BTreeSet<&str> = failures.iter().map(|f| f["order_id"].as_str().unwrap()).collect();
    assert!(failed_ids.iter().all(|id| ids.iter().any(|i| i == id)));

    // Throughput: every order created and finished within the window.
    let buckets = status["live"]["throughput"]["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 60);
    assert_eq!(buckets.iter().map(|b| b["created"].as_u64().unwrap()).sum::<u64>(), MIX.total() as u64);
    assert_eq!(buckets.iter().map(|b| b["finished"].as_u64().unwrap()).sum::<u64>(), MIX.total() as u64);

    // Change feed, stock, recent orders.
    assert_eq!(status["change_feed"]["available"], true);
    assert_eq!(status["change_feed"]["lag_seconds"], 0.0);
    let (_, inventory) = server.get("/_orchgen/inventory");
    assert_eq!(status["stock"], inventory);
    assert_eq!(status["stock"]["product-1"]["available"], 96, "4 completed orders took one unit each");
    assert_eq!(status["stock"]["product-2"]["available"], 50, "declined orders released their unit");
    let recent = status["recent"].as_array().unwrap();
    assert_eq!(recent.len(), MIX.total());
    assert_eq!(recent[0]["order_id"], ids[ids.len() - 1].as_str(), "newest first");
    assert_eq!(status["processor"]["records_failed"], 0);

    // /metrics.
    let response = server.client.get(server.url("/metrics")).send().expect("GET /metrics");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = response.text().unwrap();
    check_exposition(&text);
    let scrape =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("prometheus-parse reads it");
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        let sample = scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .unwrap_or_else(|| panic!("no sample {name} {labels:?} in\n{text}"));
        assert_eq!(sample.labels.get("pipeline"), Some("shop"));
        match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{name}: unexpected {other:?}"),
        }
    };
    assert_eq!(value("orchgen_orders_created_total", &[]), MIX.total() as f64);
    assert_eq!(value("orchgen_orders_completed_total", &[]), 4.0);
    assert_eq!(value("orchgen_orders_cancelled_total", &[]), 3.0);
    assert_eq!(value("orchgen_orders_failed_total", &[]), 0.0);
    assert_eq!(value("orchgen_orders_rejected_total", &[]), 4.0);
    assert_eq!(value("orchgen_orders", &[("status", "COMPLETED")]), api["COMPLETED"] as f64);
    assert_eq!(value("orchgen_compensations_total", &[("step", "release-inventory")]), 3.0);
    assert_eq!(value("orchgen_step_attempts_total", &[("step", "charge-payment"), ("outcome", "failed")]), 3.0);
    assert_eq!(value("orchgen_stock_available", &[("product", "product-1")]), 96.0);
    assert_eq!(value("orchgen_change_feed_backlog", &[]), 0.0);
    let summary = scrape
        .samples
        .iter()
        .find(|s| s.metric == "orchgen_step_duration_milliseconds" && s.labels.get("step") == Some("charge-payment"))
        .expect("the step duration summary");
    match &summary.value {
        prometheus_parse::Value::Summary(s) => {
            let quantiles: Vec<f64> = s.iter().map(|q| q.quantile).collect();
            assert_eq!(quantiles, [0.5, 0.9, 0.99]);
        }
        other => panic!("not a summary: {other:?}"),
    }
    assert!(
        text.contains("orchgen_step_duration_milliseconds_count{pipeline=\"shop\",step=\"charge-payment\"} 7\n"),
        "{text}"
    );
}

#[test]
fn the_page_and_the_existing_endpoints_are_served() {
    let dir = temp("orchgen-dashboard-page");
    let server = start(dir.path());
    for path in ["/_orchgen/", "/_orchgen"] {
        let response = server.client.get(server.url(path)).send().expect("GET the page");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let page = response.text().unwrap();
        assert!(page.contains("<svg") && page.contains("data-testid=\"orders-completed\""), "{path}");
        assert!(page.contains("\"name\":\"charge-payment\""), "the page knows the steps");
    }
    let (code, health) = server.get("/_orchgen/health");
    assert_eq!((code, health["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (code, inventory) = server.get("/_orchgen/inventory");
    assert_eq!((code, &inventory["product-1"]["available"]), (StatusCode::OK, &Value::from(100)));
    let (code, openapi) = server.get("/_orchgen/openapi.json");
    assert_eq!(code, StatusCode::OK);
    assert!(openapi["paths"].is_object());
    // An idle server: nothing in flight, no backlog, every status empty.
    let (_, status) = server.get("/_orchgen/status");
    assert_eq!(status["live"]["orders"]["created"], 0);
    assert!(status["statuses"].as_array().unwrap().iter().all(|s| s["count"] == 0));
    assert_eq!(status["change_feed"]["backlog"], 0);
    assert_eq!(status["recent"], Value::Array(Vec::new()));
    // The API still answers everything else.
    let (code, list) = server.get("/orders");
    assert_eq!(code, StatusCode::OK, "{list}");
}

/// Checks the text exposition format line by line: `# HELP` and `# TYPE` once per family and before
/// its samples, valid metric and label names, escaped label values, a number as value, counters
/// named `_total`, no sample twice.
fn check_exposition(text: &str) {
    let name_ok = |n: &str| {
        let mut chars = n.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helps: BTreeSet<String> = BTreeSet::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    for (i, line) in text.lines().enumerate() {
        let at = format!("line {}: {line}", i + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or_else(|| panic!("{at}"));
            assert!(name_ok(name) && !help.is_empty(), "{at}");
            assert!(helps.insert(name.to_owned()), "HELP twice: {at}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("{at}"));
            assert!(name_ok(name), "{at}");
            assert!(["counter", "gauge", "summary", "histogram", "untyped"].contains(&kind), "{at}");
            if kind == "counter" {
                assert!(name.ends_with("_total"), "a counter is named _total: {at}");
            }
            assert!(helps.contains(name), "HELP comes before TYPE: {at}");
            assert!(types.insert(name.to_owned(), kind.to_owned()).is_none(), "TYPE twice: {at}");
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "{at}");
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{at}"));
        assert!(value == "NaN" || value.parse::<f64>().is_ok_and(f64::is_finite), "value: {at}");
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.strip_suffix('}').unwrap_or_else(|| panic!("{at}"))),
            None => (series, ""),
        };
        assert!(name_ok(name), "{at}");
        let family = [name, name.trim_end_matches("_sum"), name.trim_end_matches("_count")]
            .into_iter()
            .find(|f| types.contains_key(*f))
            .unwrap_or_else(|| panic!("a sample without a TYPE before it: {at}"));
        if family != name {
            assert_eq!(types[family], "summary", "{at}");
        }
        // Labels: name="value" pairs, values with only \\ \" \n escapes.
        let mut rest = labels;
        while !rest.is_empty() {
            let (label, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("label: {at}"));
            assert!(name_ok(label), "label name: {at}");
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => {
                        let (_, c) = chars.next().unwrap_or_else(|| panic!("{at}"));
                        assert!(['\\', '"', 'n'].contains(&c), "escape: {at}");
                    }
                    Some((j, '"')) => break j,
                    Some((_, c)) => assert!(c != '\n', "{at}"),
                    None => panic!("unterminated label value: {at}"),
                }
            };
            rest = &after[end + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
        assert!(seen.insert(series.to_owned()), "a sample twice: {at}");
    }
    for required in ["orchgen_orders_created_total", "orchgen_step_duration_milliseconds", "orchgen_stock_available"] {
        assert!(types.contains_key(required), "{required} is exposed");
    }
}
