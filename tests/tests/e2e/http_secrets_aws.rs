//! An `http` step's secrets as its Lambda function reads them: `${ssm:…}` from SSM Parameter Store
//! (a SecureString, decrypted) and `${secretsmanager:…}` from Secrets Manager, both on the moto
//! server; the provider (an axum server on a loopback port) receives the values, the errors name
//! the references and never a value, and a value read once is reused within its cache time.

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use orchgen_runtime::aws::{AwsOptions, sdk_config};
use orchgen_runtime::order::Order;
use orchgen_runtime::plan::Plan;
use orchgen_runtime::secrets::aws::AwsSecrets;
use orchgen_runtime::steps::StepHandler;
use orchgen_runtime::steps::http::{HttpStep, SecretSource, signature};
use orchgen_runtime::steps::{StepError, StepInput};
use orchgen_tests::moto::MotoServer;

const TOKEN: &str = "tok_ssm_0123456789";
const SIGNING_KEY: &str = "whsec_secretsmanager_abcdef";

fn plan(url: &str) -> Plan {
    let yaml = format!(
        r#"name: shop
steps:
  - {{ name: validate, kind: validate }}
  - name: charge
    kind: http
    url: {url}
    headers: {{ Authorization: "Bearer ${{ssm:/shop/payments/token}}" }}
    signing: {{ secret: "${{secretsmanager:shop/payments-signing-key}}" }}
"#
    );
    let checked = orchgen_generator::check_source(orchgen_generator::source::SourceFile::new("shop.yaml", yaml));
    checked.plan.unwrap_or_else(|| panic!("valid:\n{}", checked.report.render(100)))
}

fn input(plan: &Plan) -> StepInput {
    let order = Order::example();
    StepInput {
        idempotency_key: format!("{}:charge", order.order_id),
        order,
        step: plan.step("charge").expect("the step").clone(),
        compensation: None,
        attempt: 1,
    }
}

/// Requests' headers, as the provider saw them.
type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

async fn provider() -> (String, Seen, tokio::task::JoinHandle<()>) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/charges",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let record = record.clone();
            async move {
                record.lock().expect("lock").push((headers, body.to_vec()));
                axum::Json(serde_json::json!({ "charge_id": "ch_1" }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let url = format!("http://{}/charges", listener.local_addr().expect("address"));
    let server = tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (url, seen, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_step_on_aws_reads_its_secrets_from_ssm_and_secrets_manager() {
    let Some(moto) = MotoServer::start() else { return };
    let config = sdk_config(&AwsOptions::local_endpoint(moto.endpoint_url(), "us-east-1")).await;
    let (url, seen, server) = provider().await;
    let plan = plan(&url);
    let step = HttpStep::with_secrets(SecretSource::Aws(Arc::new(AwsSecrets::new(&config))));

    // Neither exists yet: a terminal SECRET_MISSING naming the parameter, and nothing sent.
    let error = step.call(&plan, input(&plan)).await.expect_err("the parameter does not exist");
    assert_eq!(error.code(), "SECRET_MISSING", "{error:?}");
    assert!(!error.is_retryable(), "{error:?}");
    assert!(error.message().contains("${ssm:/shop/payments/token}"), "{error:?}");
    assert!(seen.lock().unwrap().is_empty());

    let ssm = aws_sdk_ssm::Client::new(&config);
    ssm.put_parameter()
        .name("/shop/payments/token")
        .value(TOKEN)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .expect("put the parameter");
    let error = step.call(&plan, input(&plan)).await.expect_err("the secret does not exist");
    assert_eq!(error.code(), "SECRET_MISSING", "{error:?}");
    assert!(error.message().contains("${secretsmanager:shop/payments-signing-key}"), "{error:?}");
    assert!(!error.message().contains(TOKEN), "no value in an error: {error:?}");

    let secrets_manager = aws_sdk_secretsmanager::Client::new(&config);
    secrets_manager
        .create_secret()
        .name("shop/payments-signing-key")
        .secret_string(SIGNING_KEY)
        .send()
        .await
        .expect("create the secret");
    let output = step.call(&plan, input(&plan)).await.expect("the charge succeeds");
    assert_eq!(output.output, Some(serde_json::json!({ "charge_id": "ch_1" })));
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let (headers, body) = &seen[0];
        assert_eq!(headers["authorization"], format!("Bearer {TOKEN}"));
        let sent = headers["x-orchgen-signature"].to_str().unwrap();
        let timestamp: u64 = sent.trim_start_matches("t=").split(',').next().unwrap().parse().unwrap();
        assert_eq!(sent, signature(SIGNING_KEY.as_bytes(), timestamp, body), "signed with the secret's value");
    }

    // Read once, reused: the parameter's deletion is not seen within the cache time.
    ssm.delete_parameter().name("/shop/payments/token").send().await.expect("delete the parameter");
    step.call(&plan, input(&plan)).await.expect("the cached value serves");
    assert_eq!(seen.lock().unwrap()[1].0["authorization"], format!("Bearer {TOKEN}"));

    // A fresh function (no cache) finds it gone.
    let fresh = HttpStep::with_secrets(SecretSource::Aws(Arc::new(AwsSecrets::new(&config))));
    let error: StepError = fresh.call(&plan, input(&plan)).await.expect_err("gone");
    assert_eq!(error.code(), "SECRET_MISSING", "{error:?}");
    server.abort();
}
