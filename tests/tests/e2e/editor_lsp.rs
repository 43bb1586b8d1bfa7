//! The committed JSON Schema works in a real editor: yaml-language-server (the server behind VS Code's
//! YAML extension, Neovim's yamlls, Helix, Zed…) is driven over stdio LSP the way an editor drives it,
//! and what a user sees — completions, their documentation, diagnostics — is checked.
//!
//! Documents carry the `# yaml-language-server: $schema=../schema/pipeline.schema.json` modeline that
//! `orchgen init` writes, so they are opened at URIs where that relative path reaches the schema: in a
//! temp dir laid out as `schema/` + `pipelines/`, or the real `pipelines/orders.yaml` of this workspace.
//!
//! The LSP client is a small Content-Length framed JSON-RPC loop over the child's stdin/stdout, with a
//! reader thread and a channel so that every wait has a timeout and a failure shows what was received.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The longest any single wait on the server may take.
const TIMEOUT: Duration = Duration::from_secs(20);
/// How long a clean `shutdown` + `exit` may take before the server is killed.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

const MODELINE: &str = "# yaml-language-server: $schema=../schema/pipeline.schema.json\n";

/// Every built-in step kind.
const STEP_KINDS: [&str; 7] = ["validate", "reserve_inventory", "charge_payment", "fulfil", "notify", "custom", "http"];

/// The settings the server pulls with `workspace/configuration`: everything a user relies on enabled,
/// and nothing fetched from the network (the schema store would otherwise be downloaded).
fn yaml_settings() -> Value {
    json!({
        "validate": true,
        "completion": true,
        "hover": true,
        "schemas": {},
        "schemaStore": { "enable": false },
        "kubernetesCRDStore": { "enable": false }
    })
}

// ------------------------------------------------------------------------------------------------
// The LSP client
// ------------------------------------------------------------------------------------------------

struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    incoming: Receiver<Value>,
    stderr: Arc<Mutex<String>>,
    /// Every message received, for failure messages.
    transcript: Vec<Value>,
    next_id: u64,
    capabilities: Value,
}

impl Server {
    /// Starts and initializes yaml-language-server with `root` as its workspace, or `None` (after the
    /// loud skip message of [`orchgen_tests::yaml_language_server`]) when it is not installed.
    fn start(root: &Path) -> Option<Server> {
        let exe = orchgen_tests::yaml_language_server()?;
        let mut child = Command::new(&exe)
            .arg("--stdio")
            .current_dir(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr_pipe = child.stderr.take().expect("stderr is piped");

        let (tx, incoming) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Some(message) = read_message(&mut reader) {
                if tx.send(message).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });

        let mut server =
            Server { child, stdin, incoming, stderr, transcript: Vec::new(), next_id: 1, capabilities: Value::Null };
        let root_uri = file_uri(root);
        let result = server.request(
            "initialize",
            json!({
                "processId": std::process::id(),
                "clientInfo": { "name": "orchgen-tests" },
                "locale": "en",
                "rootUri": root_uri,
                "workspaceFolders": [{ "uri": root_uri, "name": "workspace" }],
                "capabilities": {
                    "workspace": { "configuration": true, "workspaceFolders": true },
                    "textDocument": {
                        "synchronization": { "dynamicRegistration": false },
                        "publishDiagnostics": { "relatedInformation": true },
                        "hover": { "contentFormat": ["markdown", "plaintext"] },
                        "completion": {
                            "completionItem": {
                                "snippetSupport": true,
                                "documentationFormat": ["markdown", "plaintext"],
                                "resolveSupport": { "properties": ["documentation", "detail"] }
                            }
                        }
                    },
                    "window": { "workDoneProgress": true }
                }
            }),
        );
        server.capabilities = result["capabilities"].clone();
        server.notify("initialized", json!({}));
        Some(server)
    }

    fn send(&mut self, message: &Value) {
        let body = message.to_string();
        let stdin = self.stdin.as_mut().expect("stdin is open until shutdown");
        let written = write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).and_then(|()| stdin.flush());
        if let Err(e) = written {
            self.fail(&format!("cannot write to yaml-language-server ({e}) while sending {body}"));
        }
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request and waits for its result (a failure on an error response).
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.request_within(method, params, TIMEOUT)
    }

    fn request_within(&mut self, method: &str, params: Value, timeout: Duration) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        let response = self.wait_for(&format!("the response to `{method}` (id {id})"), timeout, |m| {
            (m.get("method").is_none() && m["id"] == json!(id)).then(|| m.clone())
        });
        if let Some(error) = response.get("error") {
            self.fail(&format!("`{method}` failed: {error}"));
        }
        response["result"].clone()
    }

    /// Receives messages — answering the server's own requests on the way — until `found` picks one.
    fn wait_for<T>(&mut self, what: &str, timeout: Duration, mut found: impl FnMut(&Value) -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = match self.incoming.recv_timeout(left) {
                Ok(message) => message,
                Err(RecvTimeoutError::Timeout) => self.fail(&format!("timed out after {timeout:?} waiting for {what}")),
                Err(RecvTimeoutError::Disconnected) => {
                    self.fail(&format!("yaml-language-server closed its output while we waited for {what}"))
                }
            };
            self.transcript.push(message.clone());
            if let (Some(method), Some(id)) = (message.get("method").and_then(Value::as_str), message.get("id")) {
                let result = answer_server_request(method, &message["params"]);
                let id = id.clone();
                self.send(&json!({ "jsonrpc": "2.0", "id": id, "result": result }));
                continue;
            }
            if let Some(value) = found(&message) {
                return value;
            }
        }
    }

    fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "yaml", "version": 1, "text": text } }),
        );
    }

    /// The diagnostics of the first `publishDiagnostics` for `uri` that satisfies `accept`.
    fn diagnostics(&mut self, uri: &str, what: &str, accept: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        self.wait_for(&format!("diagnostics for {uri} {what}"), TIMEOUT, |m| {
            if m["method"] != "textDocument/publishDiagnostics" || m["params"]["uri"] != uri {
                return None;
            }
            let diagnostics = m["params"]["diagnostics"].as_array().cloned().unwrap_or_default();
            accept(&diagnostics).then_some(diagnostics)
        })
    }

    /// The completion items at a position, resolved (`completionItem/resolve`) when the server
    /// resolves lazily and an item arrives without documentation.
    fn completion(&mut self, uri: &str, line: usize, character: usize) -> Vec<Value> {
        let result = self.request(
            "textDocument/completion",
            json!({
                "textDocument": { "uri": uri },
                "position": { "line": line, "character": character },
                "context": { "triggerKind": 1 }
            }),
        );
        let items = match result {
            Value::Array(items) => items,
            Value::Object(ref list) => list.get("items").and_then(Value::as_array).cloned().unwrap_or_default(),
            _ => Vec::new(),
        };
        let resolves = self.capabilities["completionProvider"]["resolveProvider"] == true;
        items
            .into_iter()
            .map(|item| {
                if resolves && item.get("documentation").is_none() {
                    self.request("completionItem/resolve", item)
                } else {
                    item
                }
            })
            .collect()
    }

    fn hover(&mut self, uri: &str, line: usize, character: usize) -> String {
        let result = self.request(
            "textDocument/hover",
            json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } }),
        );
        match &result["contents"] {
            Value::String(s) => s.clone(),
            Value::Object(markup) => markup.get("value").and_then(Value::as_str).unwrap_or_default().to_owned(),
            Value::Array(parts) => parts
                .iter()
                .map(|p| p.as_str().or_else(|| p["value"].as_str()).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        }
    }

    /// `shutdown` + `exit`, then waits for the process to end; kills it when it does not.
    fn shutdown(mut self) {
        self.request_within("shutdown", Value::Null, SHUTDOWN_TIMEOUT);
        self.notify("exit", Value::Null);
        self.stdin = None;
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    assert!(status.success(), "yaml-language-server exited with {status} after `exit`");
                    return;
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => self.fail(&format!("yaml-language-server did not exit within {SHUTDOWN_TIMEOUT:?} of `exit`")),
            }
        }
    }

    /// Panics with `message`, what the server sent and what it wrote to stderr (Drop kills it).
    fn fail(&self, message: &str) -> ! {
        let mut out = format!("{message}\n\n--- received from yaml-language-server ({}):\n", self.transcript.len());
        for m in &self.transcript {
            let text = m.to_string();
            let shown: String = text.chars().take(2000).collect();
            let _ = writeln!(out, "{shown}{}", if shown.len() < text.len() { " …" } else { "" });
        }
        let _ = write!(out, "--- stderr:\n{}", self.stderr.lock().map(|s| s.clone()).unwrap_or_default());
        panic!("{out}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One Content-Length framed message, or `None` at the end of the stream.
fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    Some(
        serde_json::from_slice(&body)
            .unwrap_or_else(|e| json!({ "unparsable": format!("{e}"), "text": String::from_utf8_lossy(&body) })),
    )
}

/// What an editor answers to the requests the server sends it.
fn answer_server_request(method: &str, params: &Value) -> Value {
    match method {
        "workspace/configuration" => {
            let items = params["items"].as_array().cloned().unwrap_or_default();
            items.iter().map(|item| if item["section"] == "yaml" { yaml_settings() } else { json!({}) }).collect()
        }
        "workspace/workspaceFolders" => json!([]),
        // client/registerCapability, window/workDoneProgress/create, window/showMessageRequest, …
        _ => Value::Null,
    }
}

/// `file://` URI of an absolute path, percent-encoding what a URI path may not hold.
fn file_uri(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    let mut uri = String::from("file://");
    if !text.starts_with('/') {
        uri.push('/');
    }
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            uri.push(byte as char);
        } else {
            let _ = write!(uri, "%{byte:02X}");
        }
    }
    uri
}

// ------------------------------------------------------------------------------------------------
// Fixtures
// ------------------------------------------------------------------------------------------------

/// A temp workspace laid out like a project: the committed schema in `schema/`, documents in
/// `pipelines/`, so that the modeline's `../schema/pipeline.schema.json` resolves.
struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Workspace {
        let dir = tempfile::tempdir().expect("a temp dir");
        let committed = orchgen_tests::workspace_root().join("schema/pipeline.schema.json");
        std::fs::create_dir_all(dir.path().join("schema")).unwrap();
        std::fs::create_dir_all(dir.path().join("pipelines")).unwrap();
        std::fs::copy(&committed, dir.path().join("schema/pipeline.schema.json"))
            .unwrap_or_else(|e| panic!("cannot copy {}: {e}", committed.display()));
        Workspace { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The URI of `pipelines/<name>`, also written to disk (as an editor's buffer would be saved).
    fn document(&self, name: &str, text: &str) -> String {
        let path: PathBuf = self.dir.path().join("pipelines").join(name);
        std::fs::write(&path, text).unwrap();
        file_uri(&path)
    }
}

/// The 0-based line of the only line of `text` equal to `line` (trailing spaces included).
fn line_of(text: &str, line: &str) -> usize {
    let found: Vec<usize> = text.lines().enumerate().filter(|(_, l)| *l == line).map(|(i, _)| i).collect();
    assert_eq!(found.len(), 1, "expected exactly one line {line:?} in:\n{text}");
    found[0]
}

fn labels(items: &[Value]) -> BTreeSet<String> {
    items.iter().filter_map(|i| i["label"].as_str()).map(str::to_owned).collect()
}

/// An item's documentation and detail as plain text (documentation may be a string or MarkupContent).
fn item_docs(item: &Value) -> String {
    let documentation = match &item["documentation"] {
        Value::String(s) => s.clone(),
        Value::Object(markup) => markup.get("value").and_then(Value::as_str).unwrap_or_default().to_owned(),
        _ => String::new(),
    };
    format!("{documentation}\n{}", item["detail"].as_str().unwrap_or_default())
}

fn is_error(diagnostic: &Value) -> bool {
    // LSP: severity 1 is Error; a diagnostic without severity is up to the client, treated as an error.
    diagnostic.get("severity").is_none_or(|s| s == 1)
}

fn on_line(diagnostics: &[Value], line: usize) -> Vec<&Value> {
    diagnostics
        .iter()
        .filter(|d| {
            let start = d["range"]["start"]["line"].as_u64().unwrap_or(u64::MAX) as usize;
            let end = d["range"]["end"]["line"].as_u64().unwrap_or(0) as usize;
            start <= line && line <= end
        })
        .collect()
}

fn pretty(values: &[Value]) -> String {
    serde_json::to_string_pretty(values).unwrap()
}

// ------------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------------

/// Typing a step's `kind:` offers every built-in kind.
#[test]
fn completion_of_a_step_kind_lists_every_built_in_kind() {
    let ws = Workspace::new();
    let Some(mut server) = Server::start(ws.root()) else { return };
    let text = format!("{MODELINE}name: shop\nsteps:\n  - name: check\n    kind: \n    timeout: 10s\n");
    let uri = ws.document("kind.yaml", &text);
    server.open(&uri, &text);

    let line = line_of(&text, "    kind: ");
    let items = server.completion(&uri, line, "    kind: ".len());
    let offered = labels(&items);
    let missing: Vec<&str> = STEP_KINDS.iter().copied().filter(|k| !offered.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "completion after `kind: ` lacks {missing:?}; offered {offered:?}; items:\n{}",
        pretty(&items)
    );
    server.shutdown();
}

/// On an empty line of a step the editor offers the step's keys, each documented from the schema.
#[test]
fn completion_of_step_keys_carries_their_documentation() {
    let ws = Workspace::new();
    let Some(mut server) = Server::start(ws.root()) else { return };
    let text = format!("{MODELINE}name: shop\nsteps:\n  - name: check\n    \n  - name: other\n    kind: notify\n");
    let uri = ws.document("keys.yaml", &text);
    server.open(&uri, &text);

    // `name` is already there, so the editor does not offer it again; every other key is offered.
    let items = server.completion(&uri, 4, 4);
    let offered = labels(&items);
    let expected =
        ["kind", "retry", "timeout", "memory", "compensate", "on_failure", "rules", "next", "handler", "url"];
    let missing: Vec<&str> = expected.iter().copied().filter(|k| !offered.contains(*k)).collect();
    assert!(missing.is_empty(), "step-key completion lacks {missing:?}; offered {offered:?}");

    // The documentation shown next to each key is the schema's description of that key — including
    // keys whose schema is a `$ref` (kind → StepKind, timeout → Duration, retry → RetrySpec).
    let documented = [
        ("kind", "What the step does."),
        ("timeout", "Time limit of one attempt"),
        ("retry", "Retries of a failed attempt"),
        ("compensate", "Name of the compensation"),
        ("memory", "Lambda memory in MB"),
    ];
    for (key, description) in documented {
        let item = items.iter().find(|i| i["label"] == key).expect("checked above");
        assert!(
            item_docs(item).contains(description),
            "the completion of `{key}` should be documented with {description:?}; item:\n{}",
            serde_json::to_string_pretty(item).unwrap()
        );
    }

    // Accepting a key inserts `key: ` (or `key:` and a new line for a mapping), ready for its value —
    // also for keys whose value is an enumeration (`kind`, `on_failure`, `provider`, …).
    let inserts = [
        ("kind", "kind: "),
        ("on_failure", "on_failure: "),
        ("provider", "provider: "),
        ("timeout", "timeout: "),
        ("retry", "retry:\n"),
    ];
    for (key, start) in inserts {
        let item = items.iter().find(|i| i["label"] == key).expect("checked above");
        let inserted = item["textEdit"]["newText"].as_str().or_else(|| item["insertText"].as_str()).unwrap_or(key);
        assert!(inserted.starts_with(start), "accepting `{key}` should insert {start:?}, not {inserted:?}");
    }

    // An empty list item offers the keys of a new step, `name` included.
    let text = format!("{MODELINE}name: shop\nsteps:\n  - \n");
    let uri = ws.document("item.yaml", &text);
    server.open(&uri, &text);
    let items = server.completion(&uri, 3, 4);
    let offered = labels(&items);
    for key in ["name", "kind", "retry", "timeout"] {
        assert!(offered.contains(key), "completion in an empty step lacks `{key}`; offered {offered:?}");
    }
    let name = items.iter().find(|i| i["label"] == "name").unwrap();
    assert!(
        item_docs(name).contains("Unique step name"),
        "the completion of `name` should carry its description; item:\n{}",
        serde_json::to_string_pretty(name).unwrap()
    );
    server.shutdown();
}

/// A misspelled kind is flagged on its line.
#[test]
fn a_misspelled_kind_is_diagnosed_on_its_line() {
    let ws = Workspace::new();
    let Some(mut server) = Server::start(ws.root()) else { return };
    let text = format!("{MODELINE}name: shop\nsteps:\n  - name: check\n    kind: valdate\n");
    let uri = ws.document("misspelled.yaml", &text);
    server.open(&uri, &text);

    let line = line_of(&text, "    kind: valdate");
    let diagnostics = server.diagnostics(&uri, "with a problem on the `kind` line", |d| !on_line(d, line).is_empty());
    let flagged = on_line(&diagnostics, line);
    assert!(
        flagged.iter().any(|d| is_error(d) && d["message"].as_str().is_some_and(|m| m.contains("validate"))),
        "`kind: valdate` should be an error listing the valid kinds:\n{}",
        pretty(&diagnostics)
    );
    server.shutdown();
}

/// The committed example, opened where it lives, is clean — and really checked against the schema.
#[test]
fn the_real_orders_pipeline_has_no_errors() {
    let root = orchgen_tests::workspace_root();
    let path = root.join("pipelines/orders.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(text.starts_with(MODELINE), "{} should start with the schema modeline", path.display());
    let Some(mut server) = Server::start(&root) else { return };
    let uri = file_uri(&path);
    server.open(&uri, &text);

    let diagnostics = server.diagnostics(&uri, "", |_| true);
    let errors: Vec<Value> = diagnostics.iter().filter(|d| is_error(d)).cloned().collect();
    assert!(errors.is_empty(), "{} should have no errors in the editor:\n{}", path.display(), pretty(&errors));

    // Proof that the schema was found through the modeline: hovers show the schema's descriptions.
    let hover = server.hover(&uri, line_of(&text, "    timeout: 15s"), 5);
    assert!(hover.contains("Time limit of one attempt"), "hovering `timeout` should describe it: {hover:?}");
    let hover = server.hover(&uri, line_of(&text, "    kind: charge_payment"), 12);
    assert!(hover.contains("Charge the order total"), "hovering `charge_payment` should describe it: {hover:?}");
    server.shutdown();
}

/// An unknown key in a step (a typo of `timeout`) is flagged on its line.
#[test]
fn an_unknown_step_key_is_diagnosed() {
    let ws = Workspace::new();
    let Some(mut server) = Server::start(ws.root()) else { return };
    let text = format!("{MODELINE}name: shop\nsteps:\n  - name: check\n    kind: validate\n    timout: 10s\n");
    let uri = ws.document("unknown-key.yaml", &text);
    server.open(&uri, &text);

    let line = line_of(&text, "    timout: 10s");
    let diagnostics = server.diagnostics(&uri, "with a problem on the `timout` line", |d| !on_line(d, line).is_empty());
    let flagged = on_line(&diagnostics, line);
    assert!(
        flagged.iter().any(|d| is_error(d) && d["message"].as_str().is_some_and(|m| m.contains("timout"))),
        "`timout: 10s` should be an error naming the key:\n{}",
        pretty(&diagnostics)
    );
    server.shutdown();
}
