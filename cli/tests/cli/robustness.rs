//! Validation never panics and stays bounded, whatever it is given.
//!
//! Properties run in process through [`orchgen_generator::check_source`] over random bytes, YAML-ish token soups
//! and mutations of `pipelines/orders.yaml`; fixed cases cover the classic hostile inputs (deep
//! nesting, alias bombs, huge lines, NUL bytes, roots that are not mappings) and, through the real
//! binary, the file-level limits (a 50 MB file, invalid UTF-8), where a panic would exit with 101.
//!
//! Every outcome must be coherent: an input without a plan has at least one error; every diagnostic is
//! located inside the text (on character boundaries) unless it concerns the whole file; the report
//! renders and converts to JSON; a plan round-trips through JSON.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::OnceLock;

use crate::orchgen_bin;
use orchgen_generator::source::SourceFile;
use orchgen_generator::{Checked, check_source};
use orchgen_runtime::Plan;
use orchgen_tests::workspace_root;
use proptest::prelude::*;
use proptest::sample::Index;

/// Codes of the diagnostics that concern the whole file and so have no location.
const FILE_LEVEL_CODES: [&str; 1] = ["orchgen::empty"];

/// `text` for a failure message: escaped, and cut when long.
fn shown(text: &str) -> String {
    const MAX: usize = 2_000;
    if text.len() <= MAX {
        format!("{text:?}")
    } else {
        let mut cut = MAX;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{:?}… ({} bytes in all)", &text[..cut], text.len())
    }
}

/// Validates `text` in process and checks that the outcome is coherent; a panic or an incoherent
/// outcome is an `Err` that shows the input.
fn validate(text: &str) -> Result<Checked, String> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let checked = check_source(SourceFile::new("input.yaml", text));
        let problems = incoherences(text, &checked);
        (checked, problems)
    }));
    match outcome {
        Ok((checked, problems)) if problems.is_empty() => Ok(checked),
        Ok((checked, problems)) => Err(format!(
            "incoherent outcome for input {}:\n  {}\nreport:\n{}",
            shown(text),
            problems.join("\n  "),
            checked.report.render(100)
        )),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Err(format!("validation panicked ({message}) on input {}", shown(text)))
        }
    }
}

/// What is wrong with the outcome of validating `text` (rendering and JSON conversion included).
fn incoherences(text: &str, checked: &Checked) -> Vec<String> {
    let mut out = Vec::new();
    let report = &checked.report;
    if checked.plan.is_none() && !report.has_errors() {
        out.push("no plan, but no error either".to_owned());
    }
    if checked.plan.is_some() && report.has_errors() {
        out.push("a plan despite errors".to_owned());
    }
    let in_text = |start: usize, end: usize| {
        start <= end && end <= text.len() && text.is_char_boundary(start) && text.is_char_boundary(end)
    };
    for d in report.diagnostics() {
        match &d.primary {
            Some(label) if !in_text(label.span.start, label.span.end) => {
                out.push(format!("{} is located outside the text: {:?}", d.code, label.span));
            }
            None if !FILE_LEVEL_CODES.contains(&d.code) => {
                out.push(format!("{} has no location: {}", d.code, d.message));
            }
            _ => {}
        }
        for label in &d.related {
            if !in_text(label.span.start, label.span.end) {
                out.push(format!("{}: a related label is outside the text: {:?}", d.code, label.span));
            }
        }
        if d.message.is_empty() || !d.code.starts_with("orchgen::") {
            out.push(format!("diagnostic without a message or a proper code: {d:?}"));
        }
    }
    let rendered = report.render(100);
    if !rendered.ends_with(&format!("{}\n", report.summary())) {
        out.push("the rendered report does not end with its summary".to_owned());
    }
    let json = report.to_json();
    for d in json["diagnostics"].as_array().into_iter().flatten() {
        let located = d["line"].as_u64().is_some_and(|l| l >= 1) && d["column"].as_u64().is_some_and(|c| c >= 1);
        let whole_file = d["line"].is_null() && d["column"].is_null();
        if !located && !whole_file {
            out.push(format!("a JSON diagnostic has a bad position: {d}"));
        }
    }
    if let Some(plan) = &checked.plan {
        match Plan::from_json(&plan.to_json()) {
            Ok(back) if &back == plan => {}
            Ok(_) => out.push("the plan changes through JSON".to_owned()),
            Err(e) => out.push(format!("the plan does not read back: {e}")),
        }
    }
    out
}

/// Validates `text`, failing the test on a panic or an incoherent outcome.
fn must_survive(text: &str) -> Checked {
    validate(text).unwrap_or_else(|e| panic!("{e}"))
}

/// The codes of the errors of a check.
fn error_codes(checked: &Checked) -> Vec<&'static str> {
    checked.report.diagnostics().iter().filter(|d| d.is_error()).map(|d| d.code).collect()
}

/// Asserts that `text` is refused with an error of code `code` at 1-based `line`:`column`.
fn assert_error_at(text: &str, code: &str, line: usize, column: usize) {
    let checked = must_survive(text);
    let found = checked.report.diagnostics().iter().find(|d| d.code == code).unwrap_or_else(|| {
        panic!("no {code} for input {}; got {:?}", shown(text), error_codes(&checked));
    });
    let label = found.primary.as_ref().expect("located");
    let at = checked.report.source().position(label.span.start);
    assert_eq!((at.line, at.column), (line, column), "{code} for input {}", shown(text));
}

fn reference_pipeline() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        std::fs::read_to_string(workspace_root().join("pipelines/orders.yaml")).expect("pipelines/orders.yaml")
    })
}

// ------------------------------------------------------------------------------------------ properties

/// Pieces that make YAML-ish text: structure, scalars of every type, pipeline keys and values, and
/// the characters that trip scanners up.
const TOKENS: &[&str] = &[
    "name",
    "steps",
    "kind",
    "validate",
    "reserve_inventory",
    "charge_payment",
    "fulfil",
    "notify",
    "custom",
    "http",
    "next",
    "end",
    "compensate",
    "compensations",
    "release_inventory",
    "refund_payment",
    "retry",
    "max_attempts",
    "backoff",
    "timeout",
    "memory",
    "rules",
    "handler",
    "function",
    "url",
    "api",
    "auth",
    "none",
    "tables",
    "orders",
    "ttl_days",
    "defaults",
    "stream",
    "functions",
    "monitoring",
    "local",
    "inventory",
    "decline",
    "reason",
    "status",
    "10s",
    "0ms",
    "16m",
    "200ms",
    "64",
    "0",
    "-1",
    "20000",
    "1e400",
    "0x1f",
    ".nan",
    "~",
    "null",
    "true",
    "yes",
    "shop",
    "a::b",
    "https://x.example",
    "US",
    ":",
    ": ",
    "- ",
    "-",
    "[",
    "]",
    "{",
    "}",
    ", ",
    ",",
    "\"",
    "'",
    "\n",
    "\n  ",
    "\n    ",
    "\n- ",
    "  ",
    " ",
    "\t",
    "# c",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "!!str ",
    "!!int ",
    "!x ",
    "? ",
    "|",
    ">-",
    "---",
    "...",
    "%YAML 1.2\n",
    "\\",
    "é",
    "–",
    "\u{feff}",
    "\r\n",
    "\0",
    "<<: ",
    "@",
    "`",
    "%",
];

/// One edit of a pipeline's lines.
#[derive(Debug, Clone)]
enum Mutation {
    Delete(Index),
    Duplicate(Index),
    Swap(Index, Index),
    Indent(Index, i8),
    Insert(Index, Index, char),
    Truncate(Index, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let special = prop::sample::select(vec![
        ':', '-', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '"', '\'', ',', '?', '\t', ' ', '\0', 'é', '\\',
        '%', '@', 'x', '0',
    ]);
    prop_oneof![
        any::<Index>().prop_map(Mutation::Delete),
        any::<Index>().prop_map(Mutation::Duplicate),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        (any::<Index>(), -4i8..=4).prop_map(|(a, by)| Mutation::Indent(a, by)),
        (any::<Index>(), any::<Index>(), special).prop_map(|(a, at, c)| Mutation::Insert(a, at, c)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, at)| Mutation::Truncate(a, at)),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for m in mutations {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match m {
            Mutation::Delete(i) => {
                lines.remove(i.index(n));
            }
            Mutation::Duplicate(i) => {
                let line = lines[i.index(n)].clone();
                lines.insert(i.index(n), line);
            }
            Mutation::Swap(a, b) => lines.swap(a.index(n), b.index(n)),
            Mutation::Indent(i, by) => {
                let line = &mut lines[i.index(n)];
                if *by >= 0 {
                    line.insert_str(0, &" ".repeat(*by as usize));
                } else {
                    let spaces = line.len() - line.trim_start_matches(' ').len();
                    line.drain(..spaces.min(by.unsigned_abs() as usize));
                }
            }
            Mutation::Insert(i, at, c) => {
                let line = &mut lines[i.index(n)];
                let boundaries: Vec<usize> = line.char_indices().map(|(b, _)| b).chain([line.len()]).collect();
                line.insert(boundaries[at.index(boundaries.len())], *c);
            }
            Mutation::Truncate(i, at) => {
                let line = &mut lines[i.index(n)];
                let boundaries: Vec<usize> = line.char_indices().map(|(b, _)| b).chain([line.len()]).collect();
                line.truncate(boundaries[at.index(boundaries.len())]);
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// `key: value` when there is a value.
fn entry(key: &str, value: Option<impl std::fmt::Display>) -> Option<String> {
    value.map(|v| format!("{key}: {v}"))
}

/// Now and then one of `items`: most settings are left out, so that some pipelines come out valid.
fn pick<T: Clone + std::fmt::Debug + 'static>(items: &[T]) -> impl Strategy<Value = Option<T>> + use<T> {
    prop::option::weighted(0.12, prop::sample::select(items.to_vec()))
}

/// A step that passes the schema, with settings that may or may not make sense together: its name,
/// its kind and its text.
fn step() -> impl Strategy<Value = (&'static str, &'static str, String)> {
    let names = ["validate", "reserve", "charge", "fulfil", "notify", "score", "hook"];
    let kinds = ["validate", "reserve_inventory", "charge_payment", "fulfil", "notify", "custom", "http"];
    (
        (prop::sample::select(names.to_vec()), prop::sample::select(kinds.to_vec())),
        (
            pick(&["end", "validate", "charge", "fulfil", "notify", "hook", "nowhere"]),
            pick(&["release", "refund", "undo", "nope"]),
        ),
        (pick(&["fraud::score", "not a path"]), pick(&["https://hooks.example.com/x", "hooks.example.com"])),
        (pick(&["DONE", "PAID", "COMPLETED", "SCORED"]), pick(&["0s", "10s", "16m"]), pick(&[64, 256, 20000])),
        (pick(&["compensate", "fail", "continue"]), pick(&["{ min_items: 5, max_items: 2 }", "{ max_items: 9 }"])),
        (
            pick(&["[{ reason: ALL }]", "[{ amount_above: 10, reason: BIG }]"]),
            pick(&["{ max_attempts: 3, backoff: 0ms }", "{ backoff: 2s, max_backoff: 1s }"]),
        ),
    )
        .prop_map(
            |(
                (name, kind),
                (next, compensate),
                (handler, url),
                (status, timeout, memory),
                (on_failure, rules),
                (decline, retry),
            )| {
                let fields: Vec<String> = [
                    Some(format!("name: {name}")),
                    Some(format!("kind: {kind}")),
                    entry("next", next),
                    entry("compensate", compensate),
                    // Custom and http steps mostly get what they need; other kinds now and then get it too.
                    entry(
                        "handler",
                        handler
                            .or((kind == "custom").then_some("fraud::score"))
                            .map(|f| format!("{{ function: {f} }}")),
                    ),
                    entry("url", url.or((kind == "http").then_some("https://hooks.example.com/x"))),
                    entry("status", status),
                    entry("timeout", timeout),
                    entry("memory", memory),
                    entry("on_failure", on_failure),
                    entry("rules", rules),
                    entry("decline", decline),
                    entry("retry", retry),
                ]
                .into_iter()
                .flatten()
                .collect();
                (name, kind, format!("  - {{ {} }}\n", fields.join(", ")))
            },
        )
}

/// A compensation that passes the schema.
fn compensation() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["release", "refund", "undo"]),
        prop::sample::select(vec!["release_inventory", "refund_payment", "custom", "http"]),
        pick(&["fraud::forget", "nope"]),
        pick(&["https://hooks.example.com/undo"]),
    )
        .prop_map(|(name, kind, handler, url)| {
            let mut fields = vec![format!("name: {name}"), format!("kind: {kind}")];
            let handler = handler.or((kind == "custom").then_some("fraud::forget"));
            fields.extend(entry("handler", handler.map(|f| format!("{{ function: {f} }}"))));
            fields.extend(entry("url", url.or((kind == "http").then_some("https://hooks.example.com/undo"))));
            format!("  - {{ {} }}\n", fields.join(", "))
        })
}

/// A pipeline whose shape passes the schema, so that the semantic checks and the resolution run.
fn structured_pipeline() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(step(), 1..8),
        any::<bool>(),
        prop::collection::vec(compensation(), 0..4),
        pick(&[
            "{ auth: none }",
            "{ list: { default_limit: 50, max_limit: 10 } }",
            "{ routes: [] }",
            "{ routes: [get] }",
        ]),
        pick(&[
            "{ timeout: 0s, memory: 64 }",
            "{ retry: { max_attempts: 2, backoff: 0ms } }",
            "{ on_failure: continue }",
        ]),
    )
        .prop_map(|(mut steps, distinct, compensations, api, defaults)| {
            if distinct {
                // Half the pipelines keep one step per name and per kind, so that some are valid.
                let mut seen = Vec::new();
                steps.retain(|(name, kind, _)| {
                    let new = !seen.iter().any(|(n, k)| n == name || k == kind);
                    seen.push((*name, *kind));
                    new
                });
            }
            let steps: Vec<String> = steps.into_iter().map(|(_, _, text)| text).collect();
            let mut text = String::from("name: shop\n");
            text.extend(entry("api", api).map(|a| a + "\n"));
            text.extend(entry("defaults", defaults).map(|d| d + "\n"));
            text.push_str(if steps.is_empty() { "steps: []\n" } else { "steps:\n" });
            text.extend(steps);
            if !compensations.is_empty() {
                text.push_str("compensations:\n");
                text.extend(compensations);
            }
            text
        })
}

/// What the runtime relies on in a plan: `next` chains the steps in order, names and statuses are
/// unique, every compensation named exists.
fn plan_problems(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for (i, step) in plan.steps.iter().enumerate() {
        let expected = plan.steps.get(i + 1).map(|s| s.name.clone());
        if step.next != expected {
            out.push(format!("step {} goes next to {:?}, not {:?}", step.name, step.next, expected));
        }
        if plan.steps[..i].iter().any(|s| s.name == step.name || s.status == step.status) {
            out.push(format!("step {} repeats a name or status", step.name));
        }
        for name in step.compensation.iter().chain(&step.compensate_on_failure) {
            if !plan.compensations.contains_key(name) {
                out.push(format!("step {} names the missing compensation {name}", step.name));
            }
        }
    }
    out
}

fn config() -> ProptestConfig {
    // Modest case counts keep the whole file well under half a minute in a debug build; set
    // PROPTEST_CASES for a longer hunt. Failures are not persisted: a case worth keeping becomes a
    // fixed test below.
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let text = String::from_utf8_lossy(&bytes);
        validate(&text).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn yaml_token_soups_never_panic(tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..80)) {
        let text = tokens.concat();
        validate(&text).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn structured_pipelines_never_panic_and_plan_coherently(text in structured_pipeline()) {
        let checked = validate(&text).map_err(TestCaseError::fail)?;
        if let Some(plan) = &checked.plan {
            let problems = plan_problems(plan);
            prop_assert!(problems.is_empty(), "plan of {}:\n{}", shown(&text), problems.join("\n"));
        }
    }

    #[test]
    fn mutated_reference_pipelines_never_panic(mutations in prop::collection::vec(mutation(), 1..6)) {
        let text = mutate(reference_pipeline(), &mutations);
        validate(&text).map_err(TestCaseError::fail)?;
    }
}

// ------------------------------------------------------------------------------------------ fixed cases

#[test]
fn the_reference_pipeline_survives_and_is_valid() {
    let checked = must_survive(reference_pipeline());
    assert!(checked.plan.is_some(), "{}", checked.report.render(100));
}

#[test]
fn empty_and_blank_inputs_are_whole_file_errors() {
    for text in ["", "\n", "   \n\n", "# only a comment\n", "---\n", "---\n...\n", "~\n", "null"] {
        let checked = must_survive(text);
        assert_eq!(error_codes(&checked), ["orchgen::empty"], "input {text:?}");
        assert!(checked.report.diagnostics()[0].primary.is_none(), "input {text:?}");
    }
}

#[test]
fn binary_junk_is_refused() {
    let bytes: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
    let checked = must_survive(&String::from_utf8_lossy(&bytes));
    assert!(checked.report.has_errors());
    let rotated: Vec<u8> = bytes.iter().map(|b| b.wrapping_mul(167).wrapping_add(13)).collect();
    assert!(must_survive(&String::from_utf8_lossy(&rotated)).report.has_errors());
}

#[test]
fn nul_bytes_are_located_syntax_errors() {
    assert_error_at("name: shop\0\nsteps: []\n", "orchgen::yaml-syntax", 1, 11);
    assert_error_at("\0", "orchgen::yaml-syntax", 1, 1);
    let checked = must_survive("name: shop\nsteps:\n  - name: validate\n    kind: validate\0\n");
    assert_eq!(error_codes(&checked), ["orchgen::yaml-syntax"]);
}

#[test]
fn a_list_root_is_refused() {
    assert_error_at("- name: validate\n  kind: validate\n", "orchgen::wrong-type", 1, 1);
    assert_error_at("[name, steps]", "orchgen::wrong-type", 1, 1);
}

#[test]
fn a_scalar_root_is_refused() {
    for text in ["pipelines/orders.yaml\n", "42", "true", "\"name: shop\"", "'steps'"] {
        assert_error_at(text, "orchgen::wrong-type", 1, 1);
    }
    // A block scalar is located at its text.
    assert_error_at("|\n  name: shop\n", "orchgen::wrong-type", 2, 3);
}

#[test]
fn deep_flow_nesting_is_refused() {
    let depth = 10_000;
    for (open, close) in [("[", "]"), ("{a: ", "}"), ("[{a: ", "}]")] {
        let text = open.repeat(depth) + &close.repeat(depth);
        let checked = must_survive(&text);
        assert_eq!(error_codes(&checked), ["orchgen::yaml-depth"], "{open}…{close}");
    }
    // Unclosed, too: the depth limit comes before the end of the file.
    assert_eq!(error_codes(&must_survive(&"[".repeat(depth))), ["orchgen::yaml-depth"]);
}

#[test]
fn deep_block_nesting_is_refused() {
    let depth = 10_000;
    let sequences = "- ".repeat(depth) + "x\n";
    assert_eq!(error_codes(&must_survive(&sequences)), ["orchgen::yaml-depth"]);
    let explicit_keys = "? ".repeat(depth) + "x\n";
    assert_eq!(error_codes(&must_survive(&explicit_keys)), ["orchgen::yaml-depth"]);
    let mut mappings = String::new();
    for level in 0..depth {
        mappings.push_str(&" ".repeat(level));
        mappings.push_str("a:\n");
    }
    let checked = must_survive(&mappings);
    assert_eq!(error_codes(&checked), ["orchgen::yaml-depth"]);
    let at = checked.report.source().position(checked.report.diagnostics()[0].primary.as_ref().unwrap().span.start);
    assert!(at.line <= 66, "the limit is reported where it is passed, not at line {}", at.line);
}

#[test]
fn alias_bombs_are_refused() {
    let mut text =
        String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for (name, previous) in
        ["b", "c", "d", "e", "f", "g", "h", "i"].iter().zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        let refs = vec![format!("*{previous}"); 10].join(",");
        text.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    let started = std::time::Instant::now();
    let checked = must_survive(&text);
    assert_eq!(error_codes(&checked), ["orchgen::yaml-size"]);
    assert!(started.elapsed().as_secs() < 10, "the bomb is defused quickly, took {:?}", started.elapsed());

    // Aliases of mappings inside a pipeline, used as steps.
    let mut text = String::from("name: shop\nx0: &x0 {name: validate, kind: validate}\n");
    for i in 1..12 {
        let refs = vec![format!("*x{}", i - 1); 10].join(", ");
        text.push_str(&format!("x{i}: &x{i} [{refs}]\n"));
    }
    text.push_str("steps: *x11\n");
    assert!(error_codes(&must_survive(&text)).contains(&"orchgen::yaml-size"));
}

#[test]
fn a_huge_single_line_is_reported_without_its_snippet() {
    let steps: Vec<String> = (0..40_000).map(|i| format!("{{name: s{i}, kind: custom}}")).collect();
    let text = format!("name: shop\nsteps: [{}]\n", steps.join(", "));
    let checked = must_survive(&text);
    assert!(checked.report.has_errors(), "custom steps without a handler");
    let rendered = checked.report.render(100);
    assert!(rendered.contains("(line too long to show)"), "{}", shown(&rendered));
    assert!(rendered.len() < 200 * checked.report.diagnostics().len() + 1_000, "no megabyte snippets");

    let text = format!("name: shop\ndescription: {}\nsteps: 7\n", "x".repeat(3_000_000));
    assert_error_at(&text, "orchgen::wrong-type", 3, 8);
    let text = format!("name: shop\nsteps: []\ndescription: {}", "é".repeat(1_000_000));
    assert_error_at(&text, "orchgen::no-steps", 2, 8);
}

#[test]
fn byte_order_marks_and_crlf_are_accepted() {
    let crlf = reference_pipeline().replace('\n', "\r\n");
    assert!(must_survive(&crlf).plan.is_some(), "CRLF line ends");
    let bom = format!("\u{feff}{}", reference_pipeline());
    assert!(must_survive(&bom).plan.is_some(), "a byte order mark");
    let text = "name: shop\r\nsteps:\r\n  - name: validate\r\n    kind: valdate\r\n";
    assert_error_at(text, "orchgen::unknown-value", 4, 11);
}

#[test]
fn every_line_of_the_reference_pipeline_can_go() {
    let lines: Vec<&str> = reference_pipeline().lines().collect();
    for i in 0..lines.len() {
        let mut text = lines[..i].join("\n");
        text.push('\n');
        text.push_str(&lines[i + 1..].join("\n"));
        must_survive(&text);
        must_survive(&lines[..i].join("\n"));
    }
}

// ------------------------------------------------------------------------------------------ the binary

/// Runs `orchgen validate <file>` from the workspace root; (exit code, stderr). Never 101 (a panic).
fn validate_with_cli(file: &Path) -> (i32, String) {
    let output = assert_cmd::Command::new(orchgen_bin())
        .current_dir(workspace_root())
        .args(["validate".as_ref(), file.as_os_str()])
        .output()
        .expect("orchgen runs");
    let code = output.status.code().expect("orchgen exits with a code");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_ne!(code, 101, "orchgen panicked on {}:\n{stderr}", file.display());
    (code, stderr)
}

#[test]
fn a_50_mb_file_is_refused_by_size() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("huge.yaml");
    let line = "- { name: validate, kind: validate }\n";
    let mut text = String::from("name: shop\nsteps:\n");
    while text.len() < 50 * 1024 * 1024 {
        text.push_str(line);
    }
    std::fs::write(&path, &text).expect("write the file");
    let (code, stderr) = validate_with_cli(&path);
    assert_eq!(code, 1, "{stderr}");
    let limit = orchgen_generator::source::MAX_FILE_BYTES;
    assert_eq!(
        stderr,
        format!("error: {} is {} bytes; a pipeline file may have at most {limit} bytes\n", path.display(), text.len())
    );
}

#[test]
fn a_file_just_above_the_limit_is_refused_and_one_at_it_is_read() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let limit = orchgen_generator::source::MAX_FILE_BYTES;
    let head = "name: shop\nsteps: [{ name: validate, kind: validate }]\n#";
    let at_limit = format!("{head}{}", "x".repeat(limit - head.len()));
    let path = dir.path().join("at-limit.yaml");
    std::fs::write(&path, &at_limit).expect("write");
    let (code, stderr) = validate_with_cli(&path);
    assert_eq!(code, 0, "a file of exactly {limit} bytes is read: {stderr}");
    std::fs::write(&path, format!("{at_limit}x")).expect("write");
    let (code, stderr) = validate_with_cli(&path);
    assert_eq!(code, 1);
    assert!(stderr.contains(&format!("may have at most {limit} bytes")), "{stderr}");
}

#[test]
fn invalid_utf8_is_refused_by_the_cli() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("latin1.yaml");
    let mut bytes = b"name: shop\ndescription: Bestellungen f".to_vec();
    let bad_at = bytes.len();
    bytes.push(0xfc); // `ü` in Latin-1
    bytes.extend_from_slice(b"r den Shop\nsteps: []\n");
    std::fs::write(&path, &bytes).expect("write");
    let (code, stderr) = validate_with_cli(&path);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!(
            "error: {} is not UTF-8 text (invalid byte at offset {bad_at}); is it a binary file?\n",
            path.display()
        )
    );

    let junk: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    std::fs::write(&path, &junk).expect("write");
    let (code, stderr) = validate_with_cli(&path);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("is not UTF-8 text"), "{stderr}");
}

#[test]
fn hostile_files_through_the_cli_never_panic() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let depth = 10_000;
    let cases = [
        ("deep-flow.yaml", "[".repeat(depth) + &"]".repeat(depth)),
        ("deep-block.yaml", "- ".repeat(depth) + "x\n"),
        ("nul.yaml", "name: shop\0\nsteps: []\n".to_owned()),
        ("list.yaml", "- name: validate\n  kind: validate\n".to_owned()),
        ("scalar.yaml", "orders\n".to_owned()),
        ("empty.yaml", String::new()),
        ("long-line.yaml", format!("name: shop\nsteps: [{}]\n", vec!["{name: a, kind: custom}"; 20_000].join(", "))),
    ];
    for (name, text) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        let (code, stderr) = validate_with_cli(&path);
        assert_eq!(code, 1, "{name}: {stderr}");
        assert!(
            stderr.ends_with(" warnings\n") || stderr.ends_with(" warning\n"),
            "{name} ends with a summary: {stderr}"
        );
    }
}
