//! The crate layering of ARCHITECTURE.md ("Invariants"), read from `cargo metadata`: which
//! workspace crate may depend on which, and the heavy dependencies a crate must never gain (the dev
//! host and the Lambda glue compile what they depend on).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use orchgen_tests::workspace_root;
use serde_json::Value;

/// Workspace crates each crate may depend on (normal dependencies; tests may use more).
const ALLOWED: &[(&str, &[&str])] = &[
    ("orchgen-runtime", &[]),
    ("orchgen-generator", &["orchgen-runtime"]),
    ("orchgen-dev", &["orchgen-runtime"]),
    ("orchgen-client", &["orchgen-runtime"]),
    ("orchgen-deploy", &["orchgen-generator", "orchgen-runtime"]),
    ("orchgen", &["orchgen-generator", "orchgen-runtime", "orchgen-dev", "orchgen-deploy", "orchgen-client"]),
    ("orchgen-tests", &["orchgen-generator", "orchgen-runtime"]),
];

/// External crates a crate must not depend on (normal dependencies), with why.
const FORBIDDEN: &[(&str, &[&str], &str)] = &[
    (
        "orchgen-dev",
        &[
            "clap",
            "tera",
            "jsonschema",
            "aws-sdk-cloudformation",
            "aws-sdk-s3",
            "aws-sdk-sqs",
            "aws-sdk-sts",
            "reqwest",
            "zip",
            "indicatif",
        ],
        "the dev host compiles orchgen-dev: it runs a plan, it neither reads YAML nor deploys",
    ),
    (
        "orchgen-generator",
        &[
            "clap",
            "axum",
            "aws-sdk-cloudformation",
            "aws-sdk-s3",
            "aws-sdk-sqs",
            "aws-sdk-sts",
            "aws-sdk-lambda",
            "reqwest",
            "indicatif",
        ],
        "the language and the emitters never run a server, talk to AWS or parse a command line",
    ),
    (
        "orchgen-runtime",
        // reqwest is allowed: `http` steps run in their Lambda functions (on the rustls + ring stack
        // the AWS SDK's client compiles anyway).
        &["clap", "axum", "tera", "aws-sdk-cloudformation", "aws-sdk-s3", "indicatif"],
        "the runtime is what Lambda binaries embed",
    ),
    ("orchgen-client", &["axum", "aws-sdk-cloudformation", "tera"], "a client of the order API"),
];

/// Runtime dependencies only the `local` feature may bring (the Lambda glue does not enable it).
const LOCAL_ONLY: &[&str] = &["rusqlite", "aws-sdk-dynamodbstreams"];

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline", "--manifest-path"])
        .arg(workspace_root().join("Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

/// Every workspace package's normal dependencies: name → (dependency → optional).
fn normal_dependencies(metadata: &Value) -> BTreeMap<String, BTreeMap<String, bool>> {
    let mut packages = BTreeMap::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let deps = package["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| (d["name"].as_str().unwrap().to_owned(), d["optional"].as_bool().unwrap_or(false)))
            .collect();
        packages.insert(package["name"].as_str().unwrap().to_owned(), deps);
    }
    packages
}

#[test]
fn every_crate_depends_only_on_the_crates_below_it() {
    let packages = normal_dependencies(&metadata());
    let workspace: BTreeSet<&str> = packages.keys().map(String::as_str).collect();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut problems = Vec::new();
    for (name, deps) in &packages {
        let Some(ok) = allowed.get(name.as_str()) else {
            problems.push(format!(
                "`{name}` is not in the layering table of tests/tests/e2e/layering.rs and ARCHITECTURE.md"
            ));
            continue;
        };
        for dep in deps.keys().filter(|d| workspace.contains(d.as_str())) {
            if !ok.contains(&dep.as_str()) {
                problems.push(format!("`{name}` depends on `{dep}`, which the layering forbids"));
            }
        }
    }
    for (name, forbidden, why) in FORBIDDEN {
        let deps = packages.get(*name).unwrap_or_else(|| panic!("`{name}` is a workspace crate"));
        for dep in forbidden.iter().filter(|d| deps.contains_key(**d)) {
            problems.push(format!("`{name}` depends on `{dep}`: {why}"));
        }
    }
    let runtime = &packages["orchgen-runtime"];
    for dep in LOCAL_ONLY {
        if runtime.get(*dep) != Some(&true) {
            problems.push(format!("orchgen-runtime's `{dep}` must be optional (behind the `local` feature)"));
        }
    }
    assert!(problems.is_empty(), "crate layering broken:\n{}", problems.join("\n"));
}

#[test]
fn the_glue_and_the_dev_host_ask_for_the_runtime_features_they_need() {
    let root = workspace_root();
    let runtime_line = |pipeline: &str| {
        let checked = orchgen_generator::check_file(&root.join(pipeline)).expect("readable");
        let plan = checked.plan.unwrap_or_else(|| panic!("{pipeline} is valid:\n{}", checked.report.render(100)));
        let options = orchgen_generator::build::glue::GlueOptions {
            runtime_path: "../runtime".to_owned(),
            pipeline_dir: ".".to_owned(),
            packages: Default::default(),
        };
        let glue = orchgen_generator::build::glue::files(&plan, &options).expect("the glue renders");
        let cargo = &glue[std::path::Path::new("Cargo.toml")];
        cargo.lines().find(|l| l.starts_with("orchgen-runtime")).expect("the glue depends on the runtime").to_owned()
    };
    let plain = runtime_line("pipelines/orders.yaml");
    assert!(plain.contains(r#"features = ["lambda"]"#), "{plain}");
    // SSM and Secrets Manager clients only for a pipeline whose http steps may read them.
    let http = runtime_line("pipelines/orders-http.yaml");
    assert!(http.contains(r#"features = ["lambda", "aws-secrets"]"#), "{http}");
    for line in [plain, http] {
        assert!(!line.contains("local"), "the Lambda glue never compiles the local machinery: {line}");
    }
    let dev = std::fs::read_to_string(root.join("devserver/Cargo.toml")).unwrap();
    assert!(dev.contains(r#"orchgen-runtime = { workspace = true, features = ["local"] }"#), "{dev}");
}

/// The top-level modules of a crate's `src/` and the top-level modules each one names through
/// `crate::…` (a module's own files and submodules count as the module).
fn module_edges(src: &std::path::Path) -> BTreeMap<String, BTreeSet<String>> {
    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("readable src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut all = Vec::new();
    files(src, &mut all);
    let top = |path: &std::path::Path| -> String {
        let relative = path.strip_prefix(src).expect("under src");
        let first = relative.components().next().expect("a component").as_os_str().to_string_lossy().into_owned();
        first.trim_end_matches(".rs").to_owned()
    };
    let modules: BTreeSet<String> = all.iter().map(|p| top(p)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in &all {
        let from = top(path);
        let text = std::fs::read_to_string(path).expect("readable source");
        // Test modules may reach anywhere: only what is compiled into the crate counts.
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(&text);
        // Comments (docs linking `crate::…`) import nothing.
        let code: String = code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        let code = code.as_str();
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            let preceded_by_ident = code[..at].chars().last().is_some_and(|c| c.is_alphanumeric() || c == '_');
            if !preceded_by_ident && modules.contains(&name) && name != from && from != "lib" && from != "main" {
                edges.entry(from.clone()).or_default().insert(name);
            }
        }
    }
    edges
}

/// A cycle among the top-level modules, if any (depth-first search).
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges.keys().find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_imports_a_module_that_imports_it() {
    let root = workspace_root();
    let mut problems = Vec::new();
    for krate in ["cli", "generator", "devserver", "deploy", "client"] {
        let edges = module_edges(&root.join(krate).join("src"));
        if let Some(cycle) = find_cycle(&edges) {
            problems.push(format!("{krate}: {}", cycle.join(" → ")));
        }
    }
    assert!(problems.is_empty(), "module cycles (crate::… imports):\n{}", problems.join("\n"));
}
