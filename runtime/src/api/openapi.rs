//! The OpenAPI 3.0 document of the order API, generated from the same types the handler uses
//! (schemars) and the same plan: its paths, statuses, list limits, size limit and auth scheme.

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::order::OrderRequest;
use crate::plan::{AuthMode, Plan, RouteAction};

use super::body::{MAX_ITEMS, MAX_QUANTITY, MAX_STRING_CHARS, MAX_UNIT_PRICE};
use super::create::MAX_IDEMPOTENCY_KEY_CHARS;
use super::error::ErrorBody;
use super::views::{CreatedBody, ListBody, OrderView};

/// The OpenAPI 3.0 document of `plan`'s order API.
pub fn openapi(plan: &Plan) -> Value {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let request = generator.subschema_for::<OrderRequest>().to_value();
    let created = generator.subschema_for::<CreatedBody>().to_value();
    let order = generator.subschema_for::<OrderView>().to_value();
    let list = generator.subschema_for::<ListBody>().to_value();
    let error = generator.subschema_for::<ErrorBody>().to_value();
    let calls = http_calls(plan);
    let step_request =
        (!calls.is_empty()).then(|| generator.subschema_for::<crate::steps::http::HttpStepRequest>().to_value());
    let mut schemas = generator.take_definitions(true);
    apply_limits(&mut schemas, plan);

    let err = |description: &str| json!({ "description": description, "content": { "application/json": { "schema": error } } });
    let responses = json!({
        "BadRequest": err("Invalid JSON, body fields or parameters: every problem is listed in `fields`."),
        "NotFound": err("No such order (or no such route)."),
        "PayloadTooLarge": err(&format!("The body is larger than {} bytes.", plan.api.max_request_bytes)),
        "UnsupportedMediaType": err("The body is not `application/json`."),
        "IdempotencyKeyReused": err("The `Idempotency-Key` was used with another body (`IDEMPOTENCY_KEY_REUSED`)."),
        "Unavailable": {
            "description": "The store is temporarily unavailable; retry after `Retry-After` seconds.",
            "headers": { "Retry-After": { "schema": { "type": "integer" } } },
            "content": { "application/json": { "schema": error } }
        },
        "InternalError": err("Unexpected error; quote `request_id` when reporting it."),
    });
    let common = |mut r: Map<String, Value>| {
        r.insert("503".into(), json!({ "$ref": "#/components/responses/Unavailable" }));
        r.insert("500".into(), json!({ "$ref": "#/components/responses/InternalError" }));
        Value::Object(r)
    };
    let r = |name: &str| json!({ "$ref": format!("#/components/responses/{name}") });
    let location = json!({ "description": "Path of the order.", "schema": { "type": "string" } });

    let mut paths = Map::new();
    for route in &plan.api.routes {
        let mut operation = match route.action {
            RouteAction::Create => json!({
                "operationId": "createOrder",
                "summary": "Submit an order",
                "description": "Stores the order `RECEIVED`; the pipeline then processes it asynchronously.",
                "parameters": [{
                    "name": "Idempotency-Key", "in": "header", "required": false,
                    "description": "Retries with the same key and body return the same order.",
                    "schema": { "type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_CHARS }
                }],
                "requestBody": { "required": true, "content": { "application/json": { "schema": request } } },
                "responses": common(json_map(json!({
                    "201": { "description": "Accepted.", "headers": { "Location": location },
                             "content": { "application/json": { "schema": created } } },
                    "200": { "description": "An idempotent retry: the order this key created.",
                             "headers": { "Location": location,
                                          "Idempotent-Replayed": { "schema": { "type": "string", "enum": ["true"] } } },
                             "content": { "application/json": { "schema": created } } },
                    "400": r("BadRequest"), "413": r("PayloadTooLarge"), "415": r("UnsupportedMediaType"),
                    "422": r("IdempotencyKeyReused"),
                }))),
            }),
            RouteAction::List => json!({
                "operationId": "listOrders",
                "summary": "List orders, newest first",
                "parameters": [
                    { "name": "status", "in": "query", "required": false,
                      "schema": { "type": "string", "enum": plan.statuses } },
                    { "name": "limit", "in": "query", "required": false,
                      "schema": { "type": "integer", "minimum": 1, "maximum": plan.api.max_limit,
                                  "default": plan.api.default_limit } },
                    { "name": "next", "in": "query", "required": false,
                      "description": "The `next` cursor of the previous page (opaque).",
                      "schema": { "type": "string" } },
                ],
                "responses": common(json_map(json!({
                    "200": { "description": "A page of orders.", "content": { "application/json": { "schema": list } } },
                    "400": r("BadRequest"),
                }))),
            }),
            RouteAction::Get => json!({
                "operationId": "getOrder",
                "summary": "One order with its history",
                "parameters": [{ "name": plan.api.id_param, "in": "path", "required": true,
                                 "schema": { "type": "string", "pattern": "^[0-9A-HJKMNP-TV-Z]{26}$" } }],
                "responses": common(json_map(json!({
                    "200": { "description": "The order.", "content": { "application/json": { "schema": order } } },
                    "404": r("NotFound"),
                }))),
            }),
        };
        if let (RouteAction::Create, Some(request)) = (&route.action, &step_request) {
            operation["callbacks"] = callbacks(&calls, request);
        }
        let item = paths.entry(route.path.clone()).or_insert_with(|| json!({}));
        if let Value::Object(item) = item {
            item.insert(route.method.to_ascii_lowercase(), operation);
        }
    }

    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": format!("{} order API", plan.name),
            "description": plan.description,
            "version": env!("CARGO_PKG_VERSION"),
        },
        "paths": paths,
        "components": { "schemas": schemas, "responses": responses },
    });
    let scheme = match plan.api.auth {
        AuthMode::ApiKey => Some(("api_key", json!({ "type": "apiKey", "in": "header", "name": "x-api-key" }))),
        AuthMode::Iam => Some((
            "sigv4",
            json!({ "type": "apiKey", "in": "header", "name": "Authorization",
                    "x-amazon-apigateway-authtype": "awsSigv4" }),
        )),
        AuthMode::None => None,
    };
    if let (Some((name, scheme)), Value::Object(d)) = (scheme, &mut doc) {
        d.insert("security".into(), json!([{ name: [] }]));
        if let Some(Value::Object(c)) = d.get_mut("components") {
            c.insert("securitySchemes".into(), json!({ name: scheme }));
        }
    }
    doc
}

/// The `http` steps and compensations: (name, method, URL).
fn http_calls(plan: &Plan) -> Vec<(String, String, String)> {
    let steps = plan.steps.iter().filter_map(|s| s.action.http().map(|h| (s.name.clone(), h)));
    let compensations = plan.compensations.values().filter_map(|c| c.action.http().map(|h| (c.name.clone(), h)));
    steps.chain(compensations).map(|(name, h)| (name, h.method.to_ascii_lowercase(), h.url.clone())).collect()
}

/// What the pipeline sends after accepting an order: one OpenAPI callback per `http` step and
/// compensation, its body an `HttpStepRequest`.
fn callbacks(calls: &[(String, String, String)], request: &Value) -> Value {
    let mut out = Map::new();
    for (name, method, url) in calls {
        let operation = json!({
            "summary": format!("`{name}`: the order sent to the service"),
            "description": "Sent with `Idempotency-Key` (the same for every attempt of this step of this order) and, when the step signs, `X-Orchgen-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">`. A 2xx JSON answer is kept as `outputs.<step>`; 408, 425, 429 and 5xx are retried; other 4xx fail the step.",
            "requestBody": { "required": true, "content": { "application/json": { "schema": request } } },
            "responses": { "2XX": { "description": "Done; a JSON body becomes the step's output." } },
        });
        out.insert(name.clone(), json!({ url: { method: operation } }));
    }
    Value::Object(out)
}

fn json_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Adds the structural limits the handler enforces, and the plan's statuses, to the schemas.
fn apply_limits(schemas: &mut Map<String, Value>, plan: &Plan) {
    for name in ["Customer", "Item", "Address", "Payment"] {
        if let Some(Value::Object(props)) = schemas.get_mut(name).and_then(|s| s.get_mut("properties")) {
            for prop in props.values_mut() {
                if prop.get("type").and_then(Value::as_str) == Some("string")
                    && let Value::Object(p) = prop
                {
                    p.insert("maxLength".into(), json!(MAX_STRING_CHARS));
                }
            }
        }
    }
    let mut set = |schema: &str, prop: &str, key: &str, value: Value| {
        if let Some(Value::Object(p)) =
            schemas.get_mut(schema).and_then(|s| s.get_mut("properties")).and_then(|p| p.get_mut(prop))
        {
            p.insert(key.to_owned(), value);
        }
    };
    set("Item", "quantity", "minimum", json!(1));
    set("Item", "quantity", "maximum", json!(MAX_QUANTITY));
    set("Item", "product_id", "minLength", json!(1));
    set("Item", "unit_price", "minimum", json!(0));
    set("Item", "unit_price", "maximum", json!(MAX_UNIT_PRICE));
    set("OrderRequest", "items", "minItems", json!(1));
    set("OrderRequest", "items", "maxItems", json!(MAX_ITEMS));
    for schema in ["OrderView", "OrderSummary", "CreatedBody"] {
        set(schema, "status", "enum", json!(plan.statuses));
    }
}
