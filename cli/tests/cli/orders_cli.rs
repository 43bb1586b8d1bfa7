//! `orchgen orders list|get|submit` end to end: the real binary against a real `orchgen dev` (started
//! on a free port with its own data directory), as a user types it; plus the error paths against a
//! closed port and a stand-in server answering like API Gateway.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::orchgen_bin;
use orchgen_tests::dev_server::{self, Dev, DevServer};
use orchgen_tests::{fixtures, workspace_root};
use serde_json::{Value, json};

/// `orchgen dev` on the reference pipeline, on a free port; killed when dropped.
fn start(data_dir: &Path) -> DevServer {
    Dev::new(orchgen_bin(), &workspace_root().join("pipelines/orders.yaml"), data_dir).start()
}

/// Runs `orchgen orders --url <url> <args>` with `stdin` as standard input.
fn orders(url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(orchgen_bin())
        .args(["orders", "--url", url])
        .args(args)
        .env_remove("ORCHGEN_API_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("orchgen orders starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    input.write_all(stdin.unwrap_or_default().as_bytes()).expect("stdin is written");
    drop(input);
    child.wait_with_output().expect("orchgen orders finishes")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn success(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(0), "stdout:\n{}\nstderr:\n{}", stdout(output), stderr(output));
    stdout(output)
}

fn json_of(output: &Output) -> Value {
    let text = success(output);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("--format json printed something else ({e}):\n{text}"))
}

/// Two units of product-1 at 29.99 paid with `payment_method`.
fn order(payment_method: &str) -> Value {
    fixtures::order().item("product-1", 2, 29.99).payment_method(payment_method).json()
}

/// Polls `orders get ID --format json` until the order is final; returns it.
fn settle(dev: &DevServer, id: &str) -> Value {
    let fetch = || json_of(&dev_orders(dev, &["get", id, "--format", "json"]));
    dev_server::wait_terminal(id, dev_server::SETTLE_TIMEOUT, Duration::from_millis(100), fetch, || dev.log_all())
}

/// Runs `orchgen orders --url <dev> <args>`.
fn dev_orders(dev: &DevServer, args: &[&str]) -> Output {
    orders(&dev.base, args, None)
}

#[test]
fn submit_get_and_list_against_orchgen_dev() {
    let temp = tempfile::tempdir().expect("a temp dir");
    let dev = start(&temp.path().join("data"));

    // submit FILE, readable output.
    let file = temp.path().join("order.json");
    std::fs::write(&file, order("credit_card").to_string()).expect("the order file is written");
    let out = success(&dev_orders(&dev, &["submit", file.to_str().expect("a UTF-8 path")]));
    let first: Vec<&str> = out.lines().next().expect("a line").split_whitespace().collect();
    assert_eq!(first.len(), 3, "{out}");
    assert_eq!((first[0], first[2]), ("order", "RECEIVED"), "{out}");
    let completed_id = first[1].to_owned();

    // submit - (stdin), JSON output, idempotency key.
    let declined = order("declined_card").to_string();
    let args = ["submit", "-", "--format", "json", "--idempotency-key", "cli-test-1"];
    let created = json_of(&orders(&dev.base, &args, Some(&declined)));
    let cancelled_id = created["order_id"].as_str().expect("order_id").to_owned();
    let again = json_of(&orders(&dev.base, &args, Some(&declined)));
    assert_eq!(again["order_id"], created["order_id"], "the same key returns the same order");

    // get: COMPLETED with its timeline, the charge and the shipment.
    let done = settle(&dev, &completed_id);
    assert_eq!(done["status"], "COMPLETED");
    let text = success(&dev_orders(&dev, &["get", &completed_id]));
    assert!(text.contains(&format!("order     {completed_id}")), "{text}");
    assert!(text.contains("status    COMPLETED (final)"), "{text}");
    assert!(text.contains(&format!("charge    {}", done["charge"]["charge_id"].as_str().expect("a charge"))), "{text}");
    assert!(
        text.contains(&format!("shipment  {}", done["shipment"]["carrier"].as_str().expect("a shipment"))),
        "{text}"
    );
    let timeline: Vec<&str> = text.split("\nsteps\n").nth(1).expect("a steps section").lines().collect();
    assert!(timeline[0].split_whitespace().eq(["STEP", "ATTEMPT", "OUTCOME", "DURATION", "AT", "ERROR"]), "{text}");
    let history = done["history"].as_array().expect("a history");
    assert_eq!(timeline.len(), 1 + history.len(), "{text}");
    for (line, entry) in timeline[1..].iter().zip(history) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells[0], entry["step"], "{line}");
        assert_eq!(cells[1], entry["attempt"].to_string(), "{line}");
        assert_eq!(cells[2], entry["outcome"], "{line}");
        assert_eq!(format!("{} {}", cells[3], cells[4]), format!("{} ms", entry["duration_ms"]), "{line}");
    }
    for step in ["validate", "reserve-inventory", "charge-payment", "fulfil", "notify"] {
        assert!(timeline.iter().any(|l| l.trim_start().starts_with(step) && l.contains("succeeded")), "{step}: {text}");
    }

    // The declined order is cancelled; its failure shows.
    let cancelled = settle(&dev, &cancelled_id);
    assert_eq!(cancelled["status"], "CANCELLED");
    let text = success(&dev_orders(&dev, &["get", &cancelled_id]));
    assert!(text.contains("failure   step charge-payment:"), "{text}");
    assert!(text.contains("compensated"), "{text}");

    // list with a status filter: text and JSON.
    let text = success(&dev_orders(&dev, &["list", "--status", "COMPLETED"]));
    assert!(text.lines().next().is_some_and(|h| h.starts_with("ORDER") && h.contains("STATUS")), "{text}");
    assert!(text.contains(&completed_id) && !text.contains(&cancelled_id), "{text}");
    assert!(text.contains("1 order(s)"), "{text}");
    let page = json_of(&dev_orders(&dev, &["list", "--status", "CANCELLED", "--format", "json"]));
    let ids: Vec<&str> =
        page["orders"].as_array().expect("orders").iter().filter_map(|o| o["order_id"].as_str()).collect();
    assert_eq!(ids, [cancelled_id.as_str()]);
    assert_eq!(page["count"], 1);

    // --all follows the cursor across pages of one.
    let one = dev_orders(&dev, &["list", "--limit", "1"]);
    assert!(stderr(&one).contains("--all"), "a partial listing says how to get the rest: {}", stderr(&one));
    let all = json_of(&dev_orders(&dev, &["list", "--limit", "1", "--all", "--format", "json"]));
    let mut ids: Vec<&str> =
        all["orders"].as_array().expect("orders").iter().filter_map(|o| o["order_id"].as_str()).collect();
    ids.sort_unstable();
    let mut expected = vec![completed_id.as_str(), cancelled_id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    assert_eq!(all["next"], Value::Null);

    // Errors: an unknown id, an order the API refuses, a file that is not JSON.
    let missing = dev_orders(&dev, &["get", "01ARZ3NDEKTSV4RRFFQ69G5FAV"]);
    assert_eq!(missing.status.code(), Some(1), "{}", stderr(&missing));
    let message = stderr(&missing);
    assert!(message.contains("404") && message.contains("ORDER_NOT_FOUND"), "{message}");
    assert!(message.contains("there is no order `01ARZ3NDEKTSV4RRFFQ69G5FAV`"), "{message}");
    let mut bad = order("credit_card");
    bad["items"][0]["quantity"] = json!(0);
    let refused = orders(&dev.base, &["submit"], Some(&bad.to_string()));
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("INVALID_BODY") && stderr(&refused).contains("items[0].quantity"),
        "{}",
        stderr(&refused)
    );
    std::fs::write(&file, "{ not json").expect("written");
    let usage = dev_orders(&dev, &["submit", file.to_str().expect("a UTF-8 path")]);
    assert_eq!(usage.status.code(), Some(2), "{}", stderr(&usage));
    assert!(stderr(&usage).contains("is not valid JSON"), "{}", stderr(&usage));
    let status = dev_orders(&dev, &["list", "--status", "SHIPPED_TO_MARS"]);
    assert_eq!(status.status.code(), Some(1));
    assert!(stderr(&status).contains("INVALID_PARAMETER") && stderr(&status).contains("status"), "{}", stderr(&status));
}

#[test]
fn an_unreachable_api_is_a_clear_error() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("an address").port()
    };
    let output = orders(&format!("http://127.0.0.1:{port}"), &["list"], None);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.starts_with(&format!("error: cannot reach the order API at http://127.0.0.1:{port}/orders")),
        "{message}"
    );
    assert!(message.contains("is `orchgen dev` running?"), "{message}");
    assert!(stdout(&output).is_empty());

    let bad = orders("not a url", &["list"], None);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("--url `not a url` is not a URL"), "{}", stderr(&bad));
}

/// A one-request HTTP server answering like API Gateway without a valid key; returns the port and
/// the request it received.
fn gateway_stand_in(status: &str, body: &'static str) -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("an address").port();
    let status = status.to_owned();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else { return };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut request = Vec::new();
        let mut buffer = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buffer[..n]),
            }
        }
        let _ = tx.send(String::from_utf8_lossy(&request).into_owned());
        let reply = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(reply.as_bytes());
    });
    (port, rx)
}

#[test]
fn the_api_key_is_sent_and_gateway_refusals_read_well() {
    let (port, request) = gateway_stand_in("403 Forbidden", r#"{"message":"Forbidden"}"#);
    let url = format!("http://127.0.0.1:{port}/prod");
    let output = orders(&url, &["get", "some-id", "--api-key", "k-123"], None);
    let request = request.recv_timeout(Duration::from_secs(10)).expect("the stand-in got a request");
    assert!(request.starts_with("GET /prod/orders/some-id HTTP/1.1"), "{request}");
    assert!(request.to_ascii_lowercase().contains("x-api-key: k-123"), "{request}");
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("403 Forbidden: Forbidden") && message.contains("--api-key"), "{message}");

    let (port, _request) = gateway_stand_in("200 OK", "<html>not the API</html>");
    let output = orders(&format!("http://127.0.0.1:{port}"), &["list"], None);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("with a body that is not JSON"), "{}", stderr(&output));
}

/// `--sigv4`: the request reaches the API signed for `execute-api` in the configured region, with
/// the credentials of the standard chain (here the environment; no profile file, no instance
/// metadata).
#[test]
fn sigv4_signs_requests_for_an_iam_protected_api() {
    let (port, request) = gateway_stand_in("200 OK", r#"{"orders":[],"count":0,"next":null}"#);
    let url = format!("http://127.0.0.1:{port}");
    let output = Command::new(orchgen_bin())
        .args(["orders", "--url", &url, "--sigv4", "list", "--limit", "5"])
        .env_remove("ORCHGEN_API_KEY")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_ACCESS_KEY_ID", "AKIDORCHGENTEST")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_CONFIG_FILE", "/nonexistent/orchgen-test-config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/orchgen-test-credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("orchgen orders runs");
    let request = request.recv_timeout(Duration::from_secs(10)).expect("the stand-in got a request");
    assert!(output.status.success(), "{}", stderr(&output));
    let lower = request.to_ascii_lowercase();
    assert!(request.starts_with("GET /orders?limit=5 HTTP/1.1"), "{request}");
    let authorization = lower.lines().find(|l| l.starts_with("authorization: ")).unwrap_or_default();
    assert!(
        authorization.starts_with("authorization: aws4-hmac-sha256 credential=akidorchgentest/")
            && authorization.contains("/eu-west-1/execute-api/aws4_request")
            && authorization.contains("signedheaders=")
            && authorization.contains("signature="),
        "{request}"
    );
    assert!(lower.contains("\r\nx-amz-date: "), "{request}");
    assert!(!lower.contains("x-api-key"), "{request}");
}
