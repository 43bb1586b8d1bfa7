//! Unit tests of the API over the in-memory store (and a failing store for 503/500).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine as _;
use http::Method;
use serde_json::{Value, json};

use super::*;
use crate::order::Order;
use crate::plan::AuthMode;
use crate::store::memory::MemoryStore;
use crate::store::{
    CommitError, Created, IdempotencyKey, LedgerEntry, ListQuery, Notification, Page, Stock, StoreError, Transition,
};

const PLAN: &str = include_str!("../../tests/fixtures/orders.plan.json");

pub(super) fn plan() -> Plan {
    Plan::from_json(PLAN).expect("the fixture plan reads")
}

pub(super) fn api() -> (Api, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    (Api::new(Arc::new(plan()), store.clone()), store)
}

/// The seed's sample order ([`crate::order::EXAMPLE_ORDER_JSON`]) as a request body.
pub(super) fn seed() -> Value {
    serde_json::from_str(crate::order::EXAMPLE_ORDER_JSON).expect("the example order is JSON")
}

pub(super) fn request(method: Method, path: &str) -> ApiGatewayProxyRequest {
    let mut req = ApiGatewayProxyRequest::default();
    req.http_method = method;
    req.path = Some(path.to_owned());
    req.request_context.request_id = Some("req-test-1".to_owned());
    req
}

pub(super) fn post_raw(body: &str, content_type: Option<&str>) -> ApiGatewayProxyRequest {
    let mut req = request(Method::POST, "/orders");
    if let Some(ct) = content_type {
        req.headers.insert("content-type", ct.parse().unwrap());
    }
    req.body = Some(body.to_owned());
    req
}

fn post(body: &Value) -> ApiGatewayProxyRequest {
    post_raw(&body.to_string(), Some("application/json"))
}

fn with_key(mut req: ApiGatewayProxyRequest, key: &str) -> ApiGatewayProxyRequest {
    req.headers.insert("idempotency-key", key.parse().unwrap());
    req
}

fn get_list(params: &[(&str, &str)]) -> ApiGatewayProxyRequest {
    let mut req = request(Method::GET, "/orders");
    let mut multi: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in params {
        multi.entry((*k).to_owned()).or_default().push((*v).to_owned());
    }
    let single: HashMap<String, String> = multi.iter().map(|(k, v)| (k.clone(), v[v.len() - 1].clone())).collect();
    req.query_string_parameters = single.into();
    req.multi_value_query_string_parameters = multi.into();
    req
}

struct Reply {
    status: i64,
    headers: http::HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn field_paths(&self) -> Vec<&str> {
        self.body["error"]["fields"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect()
    }

    fn field_messages(&self) -> BTreeMap<&str, &str> {
        let fields = self.body["error"]["fields"].as_array().unwrap().iter();
        fields.map(|f| (f["path"].as_str().unwrap(), f["message"].as_str().unwrap())).collect()
    }

    /// Asserts the one error shape and the code.
    fn assert_error(&self, status: i64, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        let e = &self.body["error"];
        assert_eq!(e["code"], code, "{}", self.body);
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", self.body);
        assert!(e["fields"].is_array(), "{}", self.body);
        assert_eq!(e["request_id"], "req-test-1");
        assert_eq!(self.header("x-request-id"), Some("req-test-1"));
        assert_eq!(self.body.as_object().unwrap().len(), 1);
        assert_eq!(e.as_object().unwrap().len(), 4);
    }
}

async fn call(api: &Api, req: ApiGatewayProxyRequest) -> Reply {
    let r: ApiGatewayProxyResponse = api.handle(req).await;
    let text = match r.body {
        Some(Body::Text(t)) => t,
        other => panic!("expected a text body, got {other:?}"),
    };
    assert_eq!(r.headers.get("content-type").unwrap(), "application/json");
    Reply { status: r.status_code, headers: r.headers, body: serde_json::from_str(&text).unwrap() }
}

// ------------------------------------------------------------------------------------------------
// POST
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_stores_a_received_order_and_answers_201_with_location() {
    let (api, store) = api();
    let r = call(&api, post(&seed())).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["order_id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["status"], "RECEIVED");
    assert_eq!(r.body["links"]["self"], format!("/orders/{id}"));
    assert_eq!(r.header("location"), Some(format!("/orders/{id}").as_str()));
    assert!(ulid::Ulid::from_string(&id).is_ok());

    let order = store.get_order(&id).await.unwrap().expect("stored");
    assert_eq!(order.status, "RECEIVED");
    assert_eq!(order.version, 1);
    assert_eq!(order.cursor, 0);
    assert!(order.history.is_empty());
    assert_eq!(order.total_cents, 2 * 2999 + 4999);
    assert_eq!(order.payment_method, "credit_card");
    assert_eq!(order.created_at, order.updated_at);
    let at = chrono::DateTime::parse_from_rfc3339(&order.created_at).unwrap();
    assert_eq!(at.offset().local_minus_utc(), 0);
    assert!(order.created_at.ends_with('Z') && order.created_at.len() == "2024-01-01T00:00:00.000Z".len());
}

#[tokio::test]
async fn totals_are_exact_in_cents() {
    let (api, store) = api();
    let mut body = seed();
    body["items"] = json!([
        { "product_id": "p", "quantity": 3, "unit_price": 0.1 },
        { "product_id": "q", "quantity": 7, "unit_price": 19.999 },
        { "product_id": "r", "quantity": 1, "unit_price": 0 }
    ]);
    let r = call(&api, post(&body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let order = store.get_order(r.body["order_id"].as_str().unwrap()).await.unwrap().unwrap();
    assert_eq!(order.total_cents, 30 + 7 * 2000);
}

#[tokio::test]
async fn ids_increase_with_creation() {
    let (api, _) = api();
    let mut last = String::new();
    for _ in 0..20 {
        let r = call(&api, post(&seed())).await;
        let id = r.body["order_id"].as_str().unwrap().to_owned();
        assert!(id > last);
        last = id;
    }
}

#[tokio::test]
async fn content_type_must_be_json() {
    let (api, _) = api();
    let body = seed().to_string();
    for ct in
        [None, Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("application/json; charset=latin1")]
    {
        call(&api, post_raw(&body, ct)).await.assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    }
    for ct in ["application/json; charset=utf-8", "Application/JSON", "application/json;charset=\"UTF-8\""] {
        assert_eq!(call(&api, post_raw(&body, Some(ct))).await.status, 201, "{ct}");
    }
}

#[tokio::test]
async fn bodies_above_the_limit_are_413_counting_raw_bytes() {
    let (api, store) = api();
    let max = api.plan().api.max_request_bytes as usize;
    let mut body = seed();
    body["customer"]["name"] = json!("x".repeat(200));
    let text = body.to_string();
    // Pad with whitespace (still valid JSON) to exactly max, then max + 1 bytes.
    let exact = format!("{text}{}", " ".repeat(max - text.len()));
    assert_eq!(call(&api, post_raw(&exact, Some("application/json"))).await.status, 201);
    let over = format!("{exact} ");
    call(&api, post_raw(&over, Some("application/json"))).await.assert_error(413, "PAYLOAD_TOO_LARGE");
    // Multi-byte characters count in bytes, not characters.
    let utf8 = format!("{text}{}", "é".repeat((max - text.len()) / 2 + 1));
    call(&api, post_raw(&utf8, Some("application/json"))).await.assert_error(413, "PAYLOAD_TOO_LARGE");

    // Base64 bodies are decoded first.
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut req = post_raw(&b64(&text), Some("application/json"));
    req.is_base64_encoded = true;
    assert_eq!(call(&api, req).await.status, 201);
    let mut req = post_raw(&b64(&over), Some("application/json"));
    req.is_base64_encoded = true;
    call(&api, req).await.assert_error(413, "PAYLOAD_TOO_LARGE");
    let mut req = post_raw("@@not base64@@", Some("application/json"));
    req.is_base64_encoded = true;
    call(&api, req).await.assert_error(400, "INVALID_JSON");
    assert_eq!(store.list_orders(&ListQuery { limit: 100, ..Default::default() }).await.unwrap().orders.len(), 2);
}

#[tokio::test]
async fn invalid_json_is_400_with_the_position() {
    let (api, _) = api();
    let r = call(&api, post_raw("{\n  \"customer\": {,\n}", Some("application/json"))).await;
    r.assert_error(400, "INVALID_JSON");
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("line 2 column"), "{message}");
    assert_eq!(r.body["error"]["fields"][0]["message"].as_str().unwrap(), "line 2, column 16");
    for text in ["", "   ", "nul", "[1, 2", "\"unterminated"] {
        call(&api, post_raw(text, Some("application/json"))).await.assert_error(400, "INVALID_JSON");
    }
}

#[tokio::test]
async fn every_field_error_is_listed_at_once() {
    let (api, store) = api();
    let body = json!({
        "customer": { "customer_id": 42, "name": "x".repeat(257), "vip": true },
        "items": [
            { "product_id": "product-1", "quantity": 0, "unit_price": 1 },
            { "product_id": "", "quantity": 1.5, "unit_price": -1 },
            { "quantity": "2", "unit_price": "9.99" },
            "not an item"
        ],
        "shipping_address": { "street": null, "country": "US", "planet": "Earth" },
        "payment": { "payment_method": "credit_card", "card_number": "4111111111111111", "token": null },
        "coupon": "FREE"
    });
    let r = call(&api, post(&body)).await;
    r.assert_error(400, "INVALID_BODY");
    assert_eq!(
        r.field_paths(),
        [
            "customer.customer_id",
            "customer.email",
            "customer.name",
            "customer.vip",
            "items[0].quantity",
            "items[1].product_id",
            "items[1].quantity",
            "items[1].unit_price",
            "items[2].product_id",
            "items[2].quantity",
            "items[2].unit_price",
            "items[3]",
            "shipping_address.street",
            "shipping_address.planet",
            "payment.card_number",
            "coupon",
        ],
        "{:#}",
        r.body
    );
    let messages: BTreeMap<&str, &str> = r.body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), f["message"].as_str().unwrap()))
        .collect();
    assert_eq!(messages["customer.email"], "is required");
    assert_eq!(messages["customer.customer_id"], "must be a string, found a number");
    assert_eq!(messages["customer.name"], "must be at most 256 characters");
    assert_eq!(messages["items[0].quantity"], "must be a positive integer");
    assert_eq!(messages["items[1].quantity"], "must be an integer");
    assert_eq!(messages["items[1].unit_price"], "must not be negative");
    assert!(messages["coupon"].starts_with("is not a known field; expected one of: customer, items"));
    assert!(store.list_orders(&ListQuery { limit: 10, ..Default::default() }).await.unwrap().orders.is_empty());
}

#[tokio::test]
async fn structural_limits_on_items_and_the_root() {
    let (api, _) = api();
    let mut body = seed();
    body["items"] = json!([]);
    let r = call(&api, post(&body)).await;
    r.assert_error(400, "INVALID_BODY");
    assert_eq!(r.field_paths(), ["items"]);

    body["items"] = json!(vec![json!({ "product_id": "p", "quantity": 1, "unit_price": 1 }); MAX_ITEMS + 1]);
    let mut req = post(&body);
    // Above the plan's size limit too; lift it to reach the item check.
    let mut big = plan();
    big.api.max_request_bytes = 1 << 20;
    let api_big = Api::new(Arc::new(big), Arc::new(MemoryStore::new()));
    req.body = Some(body.to_string());
    let r = call(&api_big, req).await;
    r.assert_error(400, "INVALID_BODY");
    assert_eq!(r.field_paths(), ["items"]);

    body["items"] = json!([{ "product_id": "p", "quantity": MAX_QUANTITY + 1, "unit_price": MAX_UNIT_PRICE + 0.01 }]);
    let r = call(&api, post(&body)).await;
    r.assert_error(400, "INVALID_BODY");
    assert_eq!(r.field_paths(), ["items[0].quantity", "items[0].unit_price"]);
    assert_eq!(r.field_messages()["items[0].quantity"], "must be at most 10000");
    assert_eq!(r.field_messages()["items[0].unit_price"], "must be at most 1000000");
    for quantity in [json!(i64::MAX), json!(u64::MAX)] {
        body["items"] = json!([{ "product_id": "p", "quantity": quantity, "unit_price": 1 }]);
        assert_eq!(call(&api, post(&body)).await.field_paths(), ["items[0].quantity"]);
    }
    // The largest order the OpenAPI document allows is accepted: no hidden limit on its total.
    body["items"] =
        json!(vec![json!({ "product_id": "p", "quantity": MAX_QUANTITY, "unit_price": MAX_UNIT_PRICE }); MAX_ITEMS]);
    let mut req = post(&body);
    req.body = Some(body.to_string());
    let r = call(&api_big, req).await;
    assert_eq!(r.status, 201, "{:?}", r.body);

    for root in ["[]", "42", "null", "\"order\""] {
        let r = call(&api, post_raw(root, Some("application/json"))).await;
        r.assert_error(400, "INVALID_BODY");
        assert_eq!(r.field_paths(), ["$"]);
    }
}

#[tokio::test]
async fn idempotency_key_replays_and_refuses_reuse() {
    let (api, store) = api();
    let first = call(&api, with_key(post(&seed()), "key-1")).await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("idempotent-replayed"), None);

    // The same body, formatted differently: a replay.
    let pretty = serde_json::to_string_pretty(&seed()).unwrap();
    let again = call(&api, with_key(post_raw(&pretty, Some("application/json")), "key-1")).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body["order_id"], first.body["order_id"]);
    assert_eq!(again.header("location"), first.header("location"));

    let mut other = seed();
    other["items"][0]["quantity"] = json!(3);
    call(&api, with_key(post(&other), "key-1")).await.assert_error(422, "IDEMPOTENCY_KEY_REUSED");
    // Another key is another order.
    assert_eq!(call(&api, with_key(post(&other), "key-2")).await.status, 201);

    let r = call(&api, with_key(post(&seed()), &"k".repeat(256))).await;
    r.assert_error(400, "INVALID_PARAMETER");
    assert_eq!(r.field_paths(), ["Idempotency-Key"]);
    assert_eq!(call(&api, with_key(post(&seed()), &"k".repeat(255))).await.status, 201);
    call(&api, with_key(post(&seed()), "  ")).await.assert_error(400, "INVALID_PARAMETER");

    let all = store.list_orders(&ListQuery { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(all.orders.len(), 3);
}

// ------------------------------------------------------------------------------------------------
// GET
// ------------------------------------------------------------------------------------------------

async fn create_n(api: &Api, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let r = call(api, post(&seed())).await;
        ids.push(r.body["order_id"].as_str().unwrap().to_owned());
    }
    ids
}

#[tokio::test]
async fn list_pages_newest_first_with_opaque_cursors() {
    let (api, _) = api();
    let mut ids = create_n(&api, 5).await;
    ids.reverse();

    let r = call(&api, get_list(&[])).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["count"], 5);
    assert!(r.body["next"].is_null());
    let first = &r.body["orders"][0];
    assert_eq!(first["order_id"], ids[0].as_str());
    assert_eq!(first["status"], "RECEIVED");
    assert_eq!(first["total"], 109.97);
    assert_eq!(first["item_count"], 2);
    assert_eq!(first["links"]["self"], format!("/orders/{}", ids[0]));

    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut params = vec![("limit", "2")];
        if let Some(n) = &next {
            params.push(("next", n.as_str()));
        }
        let r = call(&api, get_list(&params)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body["count"].as_u64().unwrap() <= 2);
        seen.extend(r.body["orders"].as_array().unwrap().iter().map(|o| o["order_id"].as_str().unwrap().to_owned()));
        match r.body["next"].as_str() {
            Some(n) => next = Some(n.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids);

    let r = call(&api, get_list(&[("status", "RECEIVED"), ("limit", "3")])).await;
    assert_eq!(r.body["count"], 3);
    let cursor = r.body["next"].as_str().unwrap().to_owned();
    let r = call(&api, get_list(&[("status", "RECEIVED"), ("next", &cursor)])).await;
    assert_eq!(r.body["count"], 2);
    // The cursor belongs to the RECEIVED listing.
    let r = call(&api, get_list(&[("next", &cursor)])).await;
    r.assert_error(400, "INVALID_PARAMETER");
    assert_eq!(r.field_paths(), ["next"]);

    let r = call(&api, get_list(&[("status", "COMPLETED")])).await;
    assert_eq!(r.body["count"], 0);
    assert_eq!(r.body["orders"], json!([]));
}

#[tokio::test]
async fn list_parameters_are_checked_together() {
    let (api, _) = api();
    create_n(&api, 1).await;
    let r = call(&api, get_list(&[("status", "SHIPPED"), ("limit", "0"), ("next", "garbage")])).await;
    r.assert_error(400, "INVALID_PARAMETER");
    assert_eq!(r.field_paths(), ["status", "limit", "next"]);
    let status_message = r.body["error"]["fields"][0]["message"].as_str().unwrap();
    for s in &plan().statuses {
        assert!(status_message.contains(s.as_str()), "{status_message}");
    }
    for limit in ["101", "-1", "abc", "1.5", "", "99999999999999"] {
        call(&api, get_list(&[("limit", limit)])).await.assert_error(400, "INVALID_PARAMETER");
    }
    for limit in ["1", "100"] {
        assert_eq!(call(&api, get_list(&[("limit", limit)])).await.status, 200);
    }
    call(&api, get_list(&[("status", "received")])).await.assert_error(400, "INVALID_PARAMETER");
    call(&api, get_list(&[("status", "RECEIVED"), ("status", "COMPLETED")]))
        .await
        .assert_error(400, "INVALID_PARAMETER");
    // A well-formed wrapper around a cursor the store refuses is still a 400.
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"s":null,"a":"%%%"}"#);
    call(&api, get_list(&[("next", &forged)])).await.assert_error(400, "INVALID_PARAMETER");
}

#[tokio::test]
async fn get_returns_the_full_order() {
    let (api, _) = api();
    let id = create_n(&api, 1).await.remove(0);
    let r = call(&api, request(Method::GET, &format!("/orders/{id}"))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let o = &r.body;
    assert_eq!(o["order_id"], id.as_str());
    assert_eq!(o["status"], "RECEIVED");
    assert_eq!(o["terminal"], false);
    assert_eq!(o["total"], 109.97);
    assert_eq!(o["currency"], "USD");
    assert_eq!(o["items"][0]["line_total"], 59.98);
    assert_eq!(o["customer"]["email"], "customer@example.com");
    assert_eq!(o["shipping_address"]["city"], "Seattle");
    assert_eq!(o["history"], json!([]));
    assert_eq!(o["links"]["self"], format!("/orders/{id}"));

    // Lowercase ULIDs name the same order; the path parameter wins when API Gateway sets one.
    let r = call(&api, request(Method::GET, &format!("/orders/{}", id.to_lowercase()))).await;
    assert_eq!(r.status, 200);
    let mut req = request(Method::GET, "/orders/whatever");
    req.path_parameters.insert("orderId".into(), id.clone());
    assert_eq!(call(&api, req).await.status, 200);
}

#[tokio::test]
async fn the_resource_template_wins_over_a_prefixed_path() {
    let (api, _) = api();
    let id = create_n(&api, 1).await.remove(0);
    let mut req = request(Method::GET, &format!("/v1/orders/{id}"));
    req.resource = Some("/orders/{orderId}".into());
    req.path_parameters.insert("orderId".into(), id.clone());
    let r = call(&api, req).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["order_id"], id.as_str());
    let mut req = request(Method::DELETE, "/v1/orders");
    req.resource = Some("/orders".into());
    assert_eq!(call(&api, req).await.header("allow"), Some("GET, POST"));
    // A catch-all resource falls back to the path.
    let mut req = request(Method::GET, "/orders");
    req.resource = Some("/{proxy+}".into());
    assert_eq!(call(&api, req).await.status, 200);
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_404() {
    let (api, _) = api();
    for id in [
        ulid::Ulid::new().to_string(),
        "nope".into(),
        "ZZZZZZZZZZZZZZZZZZZZZZZZZZ".into(),
        "%00".into(),
        "x".repeat(500),
    ] {
        call(&api, request(Method::GET, &format!("/orders/{id}"))).await.assert_error(404, "ORDER_NOT_FOUND");
    }
}

#[tokio::test]
async fn routes_404_and_405_with_allow() {
    let (api, _) = api();
    call(&api, request(Method::GET, "/nope")).await.assert_error(404, "ROUTE_NOT_FOUND");
    call(&api, request(Method::GET, "/orders/a/b")).await.assert_error(404, "ROUTE_NOT_FOUND");
    call(&api, request(Method::GET, "/")).await.assert_error(404, "ROUTE_NOT_FOUND");
    let r = call(&api, request(Method::DELETE, "/orders")).await;
    r.assert_error(405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.header("allow"), Some("GET, POST"));
    let r = call(&api, request(Method::PUT, "/orders/01ARZ3NDEKTSV4RRFFQ69G5FAV")).await;
    r.assert_error(405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.header("allow"), Some("GET"));
    assert_eq!(call(&api, request(Method::GET, "/orders/")).await.status, 200);
}

// ------------------------------------------------------------------------------------------------
// Store failures
// ------------------------------------------------------------------------------------------------

/// A store whose every call fails the same way (or panics).
struct Broken(Option<StoreError>);

impl Broken {
    fn fail<T>(&self) -> Result<T, StoreError> {
        match &self.0 {
            Some(e) => Err(e.clone()),
            None => panic!("the store exploded"),
        }
    }
}

#[async_trait]
impl crate::store::Store for Broken {
    async fn create_order(&self, _: &Order, _: Option<&IdempotencyKey>) -> Result<Created, StoreError> {
        self.fail()
    }
    async fn get_order(&self, _: &str) -> Result<Option<Order>, StoreError> {
        self.fail()
    }
    async fn list_orders(&self, _: &ListQuery) -> Result<Page, StoreError> {
        self.fail()
    }
    async fn commit(&self, _: &Transition) -> Result<(), CommitError> {
        Ok(self.fail()?)
    }
    async fn seed_inventory(&self, _: &BTreeMap<String, u64>) -> Result<usize, StoreError> {
        self.fail()
    }
    async fn inventory(&self) -> Result<BTreeMap<String, Stock>, StoreError> {
        self.fail()
    }
    async fn ledger_entry(&self, _: &str) -> Result<Option<LedgerEntry>, StoreError> {
        self.fail()
    }
    async fn ledger_count(&self) -> Result<u64, StoreError> {
        self.fail()
    }
    async fn outbox(&self, _: Option<&str>) -> Result<Vec<Notification>, StoreError> {
        self.fail()
    }
}

fn broken(e: Option<StoreError>) -> Api {
    Api::new(Arc::new(plan()), Arc::new(Broken(e)))
}

#[tokio::test]
async fn an_unavailable_store_is_503_with_retry_after() {
    let api = broken(Some(StoreError::Unavailable("throttled".into())));
    for req in [post(&seed()), get_list(&[]), request(Method::GET, "/orders/01ARZ3NDEKTSV4RRFFQ69G5FAV")] {
        let r = call(&api, req).await;
        r.assert_error(503, "SERVICE_UNAVAILABLE");
        assert_eq!(r.header("retry-after"), Some("1"));
    }
}

#[tokio::test]
async fn unexpected_failures_are_500_without_internals() {
    for api in [broken(Some(StoreError::Corrupt("secret table xyz".into()))), broken(None)] {
        for req in [post(&seed()), get_list(&[]), request(Method::GET, "/orders/01ARZ3NDEKTSV4RRFFQ69G5FAV")] {
            let r = call(&api, req).await;
            r.assert_error(500, "INTERNAL_ERROR");
            let text = r.body.to_string();
            assert!(!text.contains("secret") && !text.contains("exploded"), "{text}");
        }
    }
    // Bad input never reaches the store: still a 4xx.
    let api = broken(None);
    call(&api, post_raw("{", Some("application/json"))).await.assert_error(400, "INVALID_JSON");
    call(&api, get_list(&[("limit", "0")])).await.assert_error(400, "INVALID_PARAMETER");
    call(&api, request(Method::GET, "/orders/bad")).await.assert_error(404, "ORDER_NOT_FOUND");
}

#[tokio::test]
async fn a_missing_request_id_is_generated() {
    let (api, _) = api();
    let mut req = request(Method::GET, "/nope");
    req.request_context.request_id = None;
    let r = call(&api, req).await;
    let id = r.body["error"]["request_id"].as_str().unwrap();
    assert!(ulid::Ulid::from_string(id).is_ok());
    assert_eq!(r.header("x-request-id"), Some(id));
}

// ------------------------------------------------------------------------------------------------
// OpenAPI
// ------------------------------------------------------------------------------------------------

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn openapi_describes_the_plan() {
    let plan = plan();
    let doc = openapi(&plan);
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["paths"]["/orders"]["post"]["requestBody"].is_object());
    assert!(doc["paths"]["/orders"]["get"].is_object());
    assert!(doc["paths"]["/orders/{orderId}"]["get"].is_object());
    let list = &doc["paths"]["/orders"]["get"]["parameters"];
    assert_eq!(list[0]["schema"]["enum"], json!(plan.statuses));
    assert_eq!(list[1]["schema"]["maximum"], 100);
    assert_eq!(list[1]["schema"]["default"], 20);
    assert_eq!(doc["paths"]["/orders/{orderId}"]["get"]["parameters"][0]["name"], "orderId");
    assert_eq!(doc["components"]["securitySchemes"]["api_key"]["name"], "x-api-key");
    assert_eq!(doc["security"], json!([{ "api_key": [] }]));

    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["Item"]["properties"]["quantity"]["minimum"], 1);
    assert_eq!(schemas["Item"]["properties"]["quantity"]["maximum"], MAX_QUANTITY);
    assert_eq!(schemas["Item"]["properties"]["unit_price"]["maximum"], MAX_UNIT_PRICE);
    assert_eq!(schemas["OrderRequest"]["properties"]["items"]["maxItems"], MAX_ITEMS);
    assert_eq!(schemas["Customer"]["properties"]["email"]["maxLength"], MAX_STRING_CHARS);
    assert_eq!(schemas["OrderView"]["properties"]["status"]["enum"], json!(plan.statuses));
    assert!(schemas["ErrorDetail"]["properties"]["fields"].is_object());

    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let pointer = r.strip_prefix('#').unwrap();
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }

    let mut iam = plan.clone();
    iam.api.auth = AuthMode::Iam;
    let doc = openapi(&iam);
    assert_eq!(doc["components"]["securitySchemes"]["sigv4"]["x-amazon-apigateway-authtype"], "awsSigv4");
    let mut none = plan;
    none.api.auth = AuthMode::None;
    let doc = openapi(&none);
    assert!(doc.get("security").is_none() && doc["components"].get("securitySchemes").is_none());
}

#[test]
fn openapi_describes_what_http_steps_send_as_callbacks_of_create() {
    let plan = plan();
    assert!(openapi(&plan)["paths"]["/orders"]["post"].get("callbacks").is_none(), "no http step, no callback");
    let mut with_http = plan.clone();
    let mut step = with_http.steps[0].clone();
    step.name = "screen".to_owned();
    step.action = crate::plan::StepAction::Http(crate::plan::HttpPlan {
        url: "https://fraud.example.com/check".to_owned(),
        method: "PUT".to_owned(),
        headers: Vec::new(),
        signing: None,
        follow_redirects: false,
        max_response_bytes: crate::plan::DEFAULT_MAX_RESPONSE_BYTES,
    });
    with_http.steps.insert(1, step);
    let doc = openapi(&with_http);
    let call = &doc["paths"]["/orders"]["post"]["callbacks"]["screen"]["https://fraud.example.com/check"]["put"];
    assert_eq!(
        call["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/HttpStepRequest"
    );
    let request = &doc["components"]["schemas"]["HttpStepRequest"];
    assert_eq!(request["required"], json!(["order", "context"]));
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        assert!(doc.pointer(r.strip_prefix('#').unwrap()).is_some(), "dangling $ref {r}");
    }
}

#[test]
fn request_hash_ignores_formatting() {
    let a: crate::order::OrderRequest = serde_json::from_value(seed()).unwrap();
    let b: crate::order::OrderRequest = serde_json::from_str(&serde_json::to_string_pretty(&seed()).unwrap()).unwrap();
    assert_eq!(request_hash(&a), request_hash(&b));
    let mut c = a.clone();
    c.items[0].quantity += 1;
    assert_ne!(request_hash(&a), request_hash(&c));
}
