//! Fuzzing the API handler (proptest): whatever the request — random bytes or mutated JSON bodies,
//! arbitrary query strings, order ids, methods and paths — the answer is a located 4xx or a success,
//! never a 500 (a panic in the handler is caught and answered 500, so a 500 here is a bug), always
//! in the one error shape; an accepted order is stored with exactly the items it was sent.
//!
//! Each property runs 256 cases in `cargo test` (proptest's default); longer runs:
//! `PROPTEST_CASES=100000 cargo test -p orchgen-runtime --lib api::fuzz_tests --release`.

use std::collections::HashMap;
use std::sync::LazyLock;

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body;
use http::Method;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Value, json};

use super::Api;
use super::tests::{api, post_raw, request, seed};

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a tokio runtime")
});

static API: LazyLock<Api> = LazyLock::new(|| api().0);

fn call(req: ApiGatewayProxyRequest) -> (i64, Value) {
    let response: ApiGatewayProxyResponse = RUNTIME.block_on(API.handle(req));
    let body = match response.body {
        Some(Body::Text(text)) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        Some(Body::Binary(bytes)) => Value::String(String::from_utf8_lossy(&bytes).into_owned()),
        _ => Value::Null,
    };
    (response.status_code, body)
}

/// A status among `allowed`, and the error shape on every error.
fn check_reply(status: i64, body: &Value, allowed: &[i64]) -> Result<(), TestCaseError> {
    prop_assert!(allowed.contains(&status), "status {status} not in {allowed:?}: {body}");
    if status >= 400 {
        let error = &body["error"];
        prop_assert!(error["code"].as_str().is_some_and(|c| !c.is_empty()), "no error code: {body}");
        prop_assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "no message: {body}");
        prop_assert!(error["request_id"].is_string(), "no request id: {body}");
        if let Some(fields) = error.get("fields") {
            let fields = fields.as_array().ok_or_else(|| TestCaseError::fail(format!("fields: {body}")))?;
            for f in fields {
                prop_assert!(f["path"].is_string() && f["message"].is_string(), "a field without path: {body}");
            }
        }
    }
    Ok(())
}

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (-1.0e9..1.0e9f64).prop_map(|f| json!(f)),
        ".{0,300}".prop_map(Value::String),
        Just(json!("4111 1111 1111 1111")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An edit of the seed body: a value somewhere replaced, a field removed or an unknown one added.
#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, Value),
    Remove(usize),
    Add(usize, String, Value),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any_json()).prop_map(|(i, v)| Edit::Replace(i, v)),
        any::<usize>().prop_map(Edit::Remove),
        (any::<usize>(), "[a-z_]{1,10}", any_json()).prop_map(|(i, k, v)| Edit::Add(i, k, v)),
    ]
}

/// JSON pointers of every value under `value` (the root excluded).
fn pointers(value: &Value, here: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{here}/{k}");
                out.push(p.clone());
                pointers(v, &p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let p = format!("{here}/{i}");
                out.push(p.clone());
                pointers(v, &p, out);
            }
        }
        _ => {}
    }
}

fn apply(body: &mut Value, edit: &Edit) {
    let mut all = Vec::new();
    pointers(body, "", &mut all);
    let pick = |i: usize| all[i % all.len()].clone();
    match edit {
        Edit::Replace(i, v) => {
            if let Some(slot) = body.pointer_mut(&pick(*i)) {
                *slot = v.clone();
            }
        }
        Edit::Remove(i) => {
            let target = pick(*i);
            let (parent, last) = target.rsplit_once('/').unwrap_or(("", ""));
            match body.pointer_mut(parent) {
                Some(Value::Object(map)) => {
                    map.remove(last);
                }
                Some(Value::Array(items)) => {
                    if let Ok(n) = last.parse::<usize>()
                        && n < items.len()
                    {
                        items.remove(n);
                    }
                }
                _ => {}
            }
        }
        Edit::Add(i, key, v) => {
            let mut objects: Vec<String> = vec![String::new()];
            objects.extend(all.iter().filter(|p| body.pointer(p).is_some_and(Value::is_object)).cloned());
            let at = objects[i % objects.len()].clone();
            if let Some(Value::Object(map)) = body.pointer_mut(&at) {
                map.insert(key.clone(), v.clone());
            }
        }
    }
}

fn get(path: &str) -> ApiGatewayProxyRequest {
    request(Method::GET, path)
}

proptest! {
    #[test]
    fn random_bytes_as_a_body_get_a_4xx(bytes in prop::collection::vec(any::<u8>(), 0..2048), base64 in any::<bool>()) {
        let mut req = post_raw("", Some("application/json"));
        if base64 {
            use base64::Engine as _;
            req.body = Some(base64::engine::general_purpose::STANDARD.encode(&bytes));
            req.is_base64_encoded = true;
        } else {
            req.body = Some(String::from_utf8_lossy(&bytes).into_owned());
        }
        let (status, body) = call(req);
        check_reply(status, &body, &[201, 400, 413])?;
    }

    #[test]
    fn mutated_order_bodies_are_accepted_whole_or_refused_with_located_errors(
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let mut body = seed();
        for e in &edits {
            apply(&mut body, e);
        }
        let (status, reply) = call(post_raw(&body.to_string(), Some("application/json")));
        check_reply(status, &reply, &[201, 400, 413])?;
        if status == 201 {
            // Nothing is lost or altered: the stored order has the items as sent.
            let id = reply["order_id"].as_str().ok_or_else(|| TestCaseError::fail(format!("{reply}")))?;
            let mut req = get(&format!("/orders/{id}"));
            req.path_parameters = HashMap::from([("orderId".to_owned(), id.to_owned())]);
            let (status, order) = call(req);
            prop_assert_eq!(status, 200, "{}", order);
            let sent = body["items"].as_array().cloned().unwrap_or_default();
            let stored = order["items"].as_array().cloned().unwrap_or_default();
            prop_assert_eq!(sent.len(), stored.len());
            for (s, o) in sent.iter().zip(&stored) {
                prop_assert_eq!(&s["product_id"], &o["product_id"]);
                prop_assert_eq!(s["quantity"].as_u64(), o["quantity"].as_u64());
            }
        }
    }

    #[test]
    fn any_listing_query_is_answered_200_or_400(
        params in prop::collection::vec((prop_oneof![Just("status".to_owned()), Just("limit".to_owned()),
            Just("next".to_owned()), "[a-z]{1,8}"], ".{0,80}"), 0..4),
    ) {
        let mut req = get("/orders");
        let mut multi: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in &params {
            multi.entry(k.clone()).or_default().push(v.clone());
        }
        let single: HashMap<String, String> =
            multi.iter().map(|(k, v)| (k.clone(), v[v.len() - 1].clone())).collect();
        req.query_string_parameters = single.into();
        req.multi_value_query_string_parameters = multi.into();
        let (status, body) = call(req);
        check_reply(status, &body, &[200, 400])?;
    }

    #[test]
    fn any_order_id_is_answered_200_404_or_400(id in ".{0,300}") {
        let mut req = get(&format!("/orders/{id}"));
        req.path_parameters = HashMap::from([("orderId".to_owned(), id)]);
        let (status, body) = call(req);
        check_reply(status, &body, &[200, 400, 404])?;
    }

    #[test]
    fn any_method_and_path_is_never_a_server_error(
        method in prop_oneof![Just(Method::GET), Just(Method::POST), Just(Method::PUT), Just(Method::DELETE),
            Just(Method::PATCH), Just(Method::OPTIONS), Just(Method::HEAD)],
        path in prop_oneof!["/[a-z/{}%.]{0,40}", ".{0,60}", Just("/orders".to_owned()), Just("/orders/".to_owned())],
    ) {
        let mut req = request(method, &path);
        if req.http_method == Method::POST {
            req.headers.insert("content-type", http::HeaderValue::from_static("application/json"));
            req.body = Some(seed().to_string());
        }
        let (status, body) = call(req);
        prop_assert!((200..500).contains(&status), "status {status} for {path:?}: {body}");
    }
}

#[test]
fn the_seed_body_is_accepted() {
    let (status, body) = call(post_raw(&seed().to_string(), Some("application/json")));
    assert_eq!(status, 201, "{body}");
}
