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

/// The modules of a crate's `src/` (named by path from the crate root, `engine::step`; the root is
/// ``) and, for every `use`/path through `crate::…`, `super::…` or `self::…` from one module to
/// another, the edge between the two siblings under their closest common ancestor (an import of
/// `crate::store::sqlite` from `engine::step` is the edge `engine` → `store`; one of
/// `super::attempt` from `engine::step` is `engine::step` → `engine::attempt`). A module importing
/// its own ancestor or descendant is no edge. Test code (`#[cfg(test)] mod tests` and `tests.rs`
/// files) may reach anywhere and is left out.
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
    /// `engine/step.rs` → `[engine, step]`, `engine/mod.rs` → `[engine]`, `lib.rs` → `[]`.
    fn module_of(src: &std::path::Path, path: &std::path::Path) -> Vec<String> {
        let relative = path.strip_prefix(src).expect("under src").with_extension("");
        let mut parts: Vec<String> =
            relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
            parts.pop();
        }
        parts
    }
    /// The paths a piece of code names from `crate::`, `super::` or `self::`, brace groups
    /// expanded: `crate::{a::B, c}` → `crate::a::B`, `crate::c`.
    fn paths(code: &str) -> Vec<Vec<String>> {
        fn expand(rest: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
            let mut path = prefix;
            let mut rest = rest.trim_start();
            loop {
                let ident: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if ident.is_empty() {
                    if let Some(inner) = rest.strip_prefix('{') {
                        let mut depth = 0;
                        let mut start = 0;
                        for (i, c) in inner.char_indices() {
                            match c {
                                '{' => depth += 1,
                                '}' if depth == 0 => {
                                    expand(&inner[start..i], path.clone(), out);
                                    return;
                                }
                                '}' => depth -= 1,
                                ',' if depth == 0 => {
                                    expand(&inner[start..i], path.clone(), out);
                                    start = i + 1;
                                }
                                _ => {}
                            }
                        }
                    }
                    break;
                }
                rest = &rest[ident.len()..];
                path.push(ident);
                match rest.trim_start().strip_prefix("::") {
                    Some(after) => rest = after.trim_start(),
                    None => break,
                }
            }
            out.push(path);
        }
        let mut out = Vec::new();
        for anchor in ["crate::", "super::", "self::"] {
            for (at, _) in code.match_indices(anchor) {
                let preceded_by_ident = code[..at].chars().last().is_some_and(|c| c.is_alphanumeric() || c == '_');
                if !preceded_by_ident {
                    expand(&code[at..], Vec::new(), &mut out);
                }
            }
        }
        out
    }
    let mut all = Vec::new();
    files(src, &mut all);
    all.retain(|p| {
        let relative = p.strip_prefix(src).expect("under src");
        !relative.components().any(|c| c.as_os_str() == "tests") && p.file_name().is_some_and(|n| n != "tests.rs")
    });
    let modules: BTreeSet<Vec<String>> = all.iter().map(|p| module_of(src, p)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in &all {
        let from = module_of(src, path);
        let text = std::fs::read_to_string(path).expect("readable source");
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(&text);
        // Comments (docs linking `crate::…`) import nothing.
        let code: String = code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        for named in paths(&code) {
            // Where the path starts.
            let mut target: Vec<String> = Vec::new();
            let mut parts = named.iter().peekable();
            match parts.next().map(String::as_str) {
                Some("crate") => {}
                Some("self") => target = from.clone(),
                Some("super") => {
                    target = from.clone();
                    target.pop();
                    while parts.peek().is_some_and(|p| p.as_str() == "super") {
                        parts.next();
                        target.pop();
                    }
                }
                _ => continue,
            }
            // The deepest module it names (the rest is an item in it).
            for part in parts {
                let mut deeper = target.clone();
                deeper.push(part.clone());
                if !modules.contains(&deeper) {
                    break;
                }
                target = deeper;
            }
            let common = from.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common < from.len() && common < target.len() {
                edges.entry(from[..=common].join("::")).or_default().insert(target[..=common].join("::"));
            }
        }
    }
    edges
}

/// A cycle among sibling modules, if any (depth-first search).
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
fn the_cycle_check_finds_cycles_between_siblings_at_any_depth() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let src = dir.path();
    let write = |path: &str, text: &str| {
        let path = src.join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("dir");
        std::fs::write(path, text).expect("written");
    };
    write("lib.rs", "mod engine;\nmod steps;\nuse crate::engine::Engine;\n");
    write("engine/mod.rs", "mod attempt;\nmod step;\nuse crate::{steps::Registry, store::X};\n");
    write("engine/attempt.rs", "use super::step::Step;\n");
    write("engine/step.rs", "use super::{Engine, attempt::Attempts};\n// use crate::steps::nothing;\n");
    write("steps/mod.rs", "pub fn key() -> String { crate::engine::key() }\n");
    write("steps/tests.rs", "use crate::engine::Anything;\n");
    let edges = module_edges(src);
    let edge = |from: &str, to: &str| edges.get(from).is_some_and(|e| e.contains(to));
    assert!(edge("engine", "steps") && edge("steps", "engine"), "{edges:?}");
    assert!(edge("engine::attempt", "engine::step") && edge("engine::step", "engine::attempt"), "{edges:?}");
    assert!(!edges.contains_key(""), "the root imports its children: no edge: {edges:?}");
    let cycle = find_cycle(&edges).expect("a cycle");
    assert!(cycle.len() == 3, "{cycle:?}");
    // Without the back edges: none.
    write("steps/mod.rs", "pub fn key() -> String { String::new() }\n");
    write("engine/attempt.rs", "use super::Engine;\n");
    assert_eq!(find_cycle(&module_edges(src)), None);
}

#[test]
fn no_module_imports_a_module_that_imports_it() {
    let root = workspace_root();
    let mut problems = Vec::new();
    for krate in ["cli", "generator", "devserver", "deploy", "client", "runtime", "tests"] {
        let edges = module_edges(&root.join(krate).join("src"));
        if let Some(cycle) = find_cycle(&edges) {
            problems.push(format!("{krate}: {}", cycle.join(" → ")));
        }
    }
    assert!(
        problems.is_empty(),
        "module cycles (crate::/super::/self:: paths between siblings):\n{}",
        problems.join("\n")
    );
}
