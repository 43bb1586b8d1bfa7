//! The API function (`lambda::api`): API Gateway REST proxy events, as API Gateway sends them, in;
//! the order API's responses out (on a memory store, with the reference plan).

use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body;
use lambda_runtime::{Context, LambdaEvent};
use orchgen_runtime::api::Api;
use orchgen_runtime::lambda::{api, load_plan};
use orchgen_runtime::order::EXAMPLE_ORDER_JSON;
use orchgen_runtime::store::memory::MemoryStore;
use serde_json::{Value, json};

const PLAN_JSON: &str = include_str!("../fixtures/orders.plan.json");

fn api() -> Api {
    Api::new(load_plan(PLAN_JSON).expect("the fixture plan reads"), Arc::new(MemoryStore::new()))
}

/// A proxy event shaped like API Gateway's (REST API, Lambda proxy integration).
fn event(
    method: &str,
    resource: &str,
    path: &str,
    params: Value,
    body: Option<&str>,
    request_id: Option<&str>,
) -> ApiGatewayProxyRequest {
    serde_json::from_value(json!({
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": { "Content-Type": "application/json", "Host": "abc.execute-api.us-east-1.amazonaws.com" },
        "multiValueHeaders": { "Content-Type": ["application/json"] },
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": params,
        "stageVariables": null,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": format!("/prod{path}"),
            "stage": "prod",
            "requestId": request_id,
            "accountId": "123456789012",
            "apiId": "abc",
            "identity": { "sourceIp": "127.0.0.1" }
        },
        "body": body,
        "isBase64Encoded": false
    }))
    .expect("a proxy event")
}

fn invocation(request: ApiGatewayProxyRequest, lambda_request_id: &str) -> LambdaEvent<ApiGatewayProxyRequest> {
    let mut context = Context::default();
    context.request_id = lambda_request_id.to_owned();
    LambdaEvent::new(request, context)
}

fn body(response: &ApiGatewayProxyResponse) -> Value {
    match &response.body {
        Some(Body::Text(text)) => serde_json::from_str(text).expect("a JSON body"),
        other => panic!("expected a text body, got {other:?}"),
    }
}

fn header<'a>(response: &'a ApiGatewayProxyResponse, name: &str) -> &'a str {
    response.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

#[tokio::test]
async fn an_order_is_created_then_read_back_through_proxy_events() {
    let api = api();
    let created = api::handle(
        &api,
        invocation(
            event("POST", "/orders", "/orders", Value::Null, Some(EXAMPLE_ORDER_JSON), Some("apigw-req-1")),
            "lambda-req-1",
        ),
    )
    .await;
    assert_eq!(created.status_code, 201, "{:?}", created.body);
    assert_eq!(header(&created, "x-request-id"), "apigw-req-1");
    let order_id = body(&created)["order_id"].as_str().expect("an order id").to_owned();
    assert_eq!(header(&created, "location"), format!("/orders/{order_id}"));

    let read = api::handle(
        &api,
        invocation(
            event(
                "GET",
                "/orders/{orderId}",
                &format!("/orders/{order_id}"),
                json!({ "orderId": order_id }),
                None,
                Some("r2"),
            ),
            "lambda-req-2",
        ),
    )
    .await;
    assert_eq!(read.status_code, 200, "{:?}", read.body);
    let view = body(&read);
    assert_eq!(view["order_id"], order_id.as_str());
    assert_eq!(view["status"], "RECEIVED");
}

#[tokio::test]
async fn without_an_api_gateway_request_id_the_lambda_request_id_is_used() {
    let api = api();
    let missing = api::handle(
        &api,
        invocation(
            event("GET", "/orders/{orderId}", "/orders/nope", json!({ "orderId": "nope" }), None, None),
            "lambda-req-9",
        ),
    )
    .await;
    assert_eq!(missing.status_code, 404);
    assert_eq!(header(&missing, "x-request-id"), "lambda-req-9");
    assert_eq!(body(&missing)["error"]["request_id"], "lambda-req-9", "{}", body(&missing));
}

#[tokio::test]
async fn a_wrong_method_is_answered_not_failed() {
    let api = api();
    let response =
        api::handle(&api, invocation(event("DELETE", "/orders", "/orders", Value::Null, None, Some("r3")), "l3")).await;
    assert_eq!(response.status_code, 405);
    assert!(header(&response, "allow").contains("POST"), "{:?}", response.headers);
}

/// An HTTP API's Lambda proxy event, payload format 1.0 (`api.kind: http`), as the API Gateway
/// developer guide shows it: the `$default` stage, IAM caller identity, null authorizer fields.
fn http_api_event(
    method: &str,
    route_path: &str,
    path: &str,
    params: Value,
    body: Option<&str>,
) -> ApiGatewayProxyRequest {
    serde_json::from_value(json!({
        "version": "1.0",
        "resource": route_path,
        "path": path,
        "httpMethod": method,
        "headers": { "content-type": "application/json", "host": "abc.execute-api.eu-west-1.amazonaws.com" },
        "multiValueHeaders": { "content-type": ["application/json"] },
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc",
            "authorizer": { "claims": null, "scopes": null },
            "domainName": "abc.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc",
            "extendedRequestId": "ext-1",
            "httpMethod": method,
            "identity": {
                "accessKey": "AKIDEXAMPLE", "accountId": "123456789012", "caller": "AIDAEXAMPLE",
                "cognitoAuthenticationProvider": null, "cognitoAuthenticationType": null,
                "cognitoIdentityId": null, "cognitoIdentityPoolId": null, "principalOrgId": null,
                "sourceIp": "192.0.2.1", "user": "AIDAEXAMPLE", "userAgent": "orchgen/0",
                "userArn": "arn:aws:iam::123456789012:user/shop-backend"
            },
            "path": path,
            "protocol": "HTTP/1.1",
            "requestId": "http-api-req-1",
            "requestTime": "27/Nov/2026:19:15:17 +0000",
            "requestTimeEpoch": 1_795_806_917_135_u64,
            "resourceId": format!("{method} {route_path}"),
            "resourcePath": route_path,
            "stage": "$default"
        },
        "pathParameters": params,
        "stageVariables": null,
        "body": body,
        "isBase64Encoded": false
    }))
    .expect("an HTTP API payload 1.0 event")
}

#[tokio::test]
async fn http_api_payload_1_0_events_create_and_read_an_order() {
    let api = api();
    let created = api::handle(
        &api,
        invocation(http_api_event("POST", "/orders", "/orders", Value::Null, Some(EXAMPLE_ORDER_JSON)), "lambda-req-1"),
    )
    .await;
    assert_eq!(created.status_code, 201, "{:?}", created.body);
    assert_eq!(header(&created, "x-request-id"), "http-api-req-1");
    let order_id = body(&created)["order_id"].as_str().expect("an order id").to_owned();

    let path = format!("/orders/{order_id}");
    let read = api::handle(
        &api,
        invocation(
            http_api_event("GET", "/orders/{orderId}", &path, json!({ "orderId": order_id }), None),
            "lambda-req-2",
        ),
    )
    .await;
    assert_eq!(read.status_code, 200, "{:?}", read.body);
    assert_eq!(body(&read)["order_id"], order_id.as_str());

    let list =
        api::handle(&api, invocation(http_api_event("GET", "/orders", "/orders", Value::Null, None), "r3")).await;
    assert_eq!(list.status_code, 200, "{:?}", list.body);
    assert_eq!(body(&list)["count"], 1);
}
