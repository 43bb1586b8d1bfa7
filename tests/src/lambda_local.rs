//! Lambda on the laptop, for the tests: build a pipeline's generated glue with cargo, and run a
//! built function binary as Lambda does, against a local Lambda Runtime API
//! (`/2018-06-01/runtime/invocation/next`, `/{id}/response`, `/{id}/error`, `/init/error`).

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use orchgen_generator::build::glue::{GlueOptions, files};
use orchgen_runtime::lambda;
use orchgen_runtime::plan::Plan;
use serde_json::Value;

use crate::workspace_root;

/// How a function answered one invocation: `response`, `error` or `init-error`, and the body.
pub type Answer = (String, Value);

/// Writes the glue of `plan` into `glue_dir` (its `pipeline_dir` written relative to it, as
/// `orchgen build` does), builds every binary with cargo — offline, with the versions of the
/// workspace's Cargo.lock, in the shared debug target folder `target/nested` — and copies them, with
/// the `plan.json` each reads next to itself, into `<glue_dir>/bin`, which it returns. Builds of several test processes take turns on a file lock,
/// so that each copies the binaries it built.
pub fn build_glue(plan: &Plan, glue_dir: &Path, pipeline_dir: &Path) -> PathBuf {
    let root = workspace_root();
    let options = GlueOptions {
        runtime_path: root.join("runtime").to_string_lossy().into_owned(),
        pipeline_dir: relative(glue_dir, pipeline_dir),
        packages: Default::default(),
    };
    let glue = files(plan, &options).expect("the glue renders");
    for (path, text) in &glue {
        let path = glue_dir.join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("create folders");
        std::fs::write(&path, text).expect("write a glue file");
    }
    // The versions the workspace resolved (and built) together, so the offline build finds them.
    std::fs::copy(root.join("Cargo.lock"), glue_dir.join("Cargo.lock")).expect("copy Cargo.lock");

    let target = crate::nested_target();
    std::fs::create_dir_all(&target).expect("create target/nested");
    let lock = std::fs::File::create(target.join(".orchgen-tests.lock")).expect("create the lock file");
    lock.lock().expect("take the glue build lock");
    // Without the variables cargo set for this test crate: the glue's build scripts see the same
    // environment whichever test binary (or `orchgen` process) builds in `target/nested`.
    let status = orchgen_generator::cargo::command(orchgen_generator::cargo::program())
        .args(["build", "--offline", "--bins", "--manifest-path"])
        .arg(glue_dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        // Built once and never edited: no incremental cache; line tables only (the disk is shared).
        .env("CARGO_INCREMENTAL", "0")
        .env("CARGO_PROFILE_DEV_DEBUG", "line-tables-only")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the glue of `{}` builds", plan.name);

    let bin = glue_dir.join("bin");
    std::fs::create_dir_all(&bin).expect("create bin");
    for function in lambda::functions(plan) {
        let built = target.join("debug").join(function.name());
        assert!(built.is_file(), "{} was built", built.display());
        std::fs::copy(&built, bin.join(function.name())).expect("copy a binary");
    }
    // Each function reads the plan next to its binary, as in its zip.
    let plan_file = orchgen_runtime::functions::PLAN_FILE;
    std::fs::copy(glue_dir.join(plan_file), bin.join(plan_file)).expect("copy plan.json");
    bin
}

/// `to` relative to `from` (both absolute).
pub fn relative(from: &Path, to: &Path) -> String {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_owned(); from.len() - common];
    parts.extend(to[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    parts.join("/")
}

/// What the Runtime API hands out and what it was told.
#[derive(Default)]
struct RuntimeApi {
    /// Invocations still to hand out: request id, event.
    events: Mutex<VecDeque<(String, Value)>>,
    /// Answers: request id, `response` / `error` / `init-error`, body.
    answers: Mutex<Vec<(String, String, Value)>>,
}

async fn next(State(api): State<Arc<RuntimeApi>>) -> axum::response::Response {
    let event = api.events.lock().expect("lock").pop_front();
    let Some((id, event)) = event else {
        // No more work: hold the request like Lambda does between invocations.
        std::future::pending::<()>().await;
        unreachable!()
    };
    let deadline =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() + 60_000;
    (
        [
            ("lambda-runtime-aws-request-id", id),
            ("lambda-runtime-deadline-ms", deadline.to_string()),
            (
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:glue-test".to_owned(),
            ),
            (
                "lambda-runtime-trace-id",
                "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1".to_owned(),
            ),
            ("content-type", "application/json".to_owned()),
        ],
        event.to_string(),
    )
        .into_response()
}

fn record(api: &RuntimeApi, id: &str, kind: &str, body: &[u8]) -> StatusCode {
    let body =
        serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
    api.answers.lock().expect("lock").push((id.to_owned(), kind.to_owned(), body));
    StatusCode::ACCEPTED
}

async fn response(State(api): State<Arc<RuntimeApi>>, UrlPath(id): UrlPath<String>, body: Bytes) -> StatusCode {
    record(&api, &id, "response", &body)
}

async fn error(State(api): State<Arc<RuntimeApi>>, UrlPath(id): UrlPath<String>, body: Bytes) -> StatusCode {
    record(&api, &id, "error", &body)
}

async fn init_error(State(api): State<Arc<RuntimeApi>>, body: Bytes) -> StatusCode {
    record(&api, "", "init-error", &body)
}

/// Runs `binary` as Lambda would, with the `env` given, against a Runtime API of its own handing out
/// `events` (request id, event), until it answered them all; returns the answers by request id.
/// Panics when the process exits first or takes more than 60 s.
pub async fn run_function(
    binary: &Path,
    env: &[(String, String)],
    events: Vec<(String, Value)>,
) -> BTreeMap<String, Answer> {
    let expected = events.len();
    let api = Arc::new(RuntimeApi::default());
    *api.events.lock().expect("lock") = events.into();
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    let mut child = tokio::process::Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", binary.file_name().unwrap_or_default())
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("ORCHGEN_LOG_LEVEL", "warn")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{} starts: {e}", binary.display()));
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if api.answers.lock().expect("lock").len() >= expected {
                return None;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let _ = child.kill().await;
    server.abort();
    match waited {
        Ok(None) => {}
        Ok(Some(status)) => panic!("{} exited with {status} before answering", binary.display()),
        Err(_) => panic!("{} did not answer within 60 s", binary.display()),
    }
    let answers = api.answers.lock().expect("lock").clone();
    answers.into_iter().map(|(id, kind, body)| (id, (kind, body))).collect()
}

/// [`run_function`] on a runtime of its own, for synchronous tests.
pub fn invoke(binary: &Path, env: &[(&str, &str)], events: Vec<(&str, Value)>) -> BTreeMap<String, Answer> {
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let events = events.into_iter().map(|(id, e)| (id.to_owned(), e)).collect();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(run_function(binary, &env, events))
}
