//! `orchgen new step NAME`: a custom step's crate in the user's project and its entry in the
//! pipeline.
//!
//! The crate goes to `<project>/steps/<crate>` (plain files, no nested git repository) and depends
//! on the project's SDK (`.orchgen/sdk/runtime`, written here when missing or stale) by a relative
//! path, so it, the dev host and the Lambda glue compile against one `orchgen-runtime`. Its
//! `src/lib.rs` is a documented handler that already does something real — it refuses orders above
//! a limit and keeps a small output — with unit tests of both outcomes. The entry is inserted into
//! the pipeline's `steps:` (at the end, or before `--before STEP`) as text, so comments and layout
//! stay; when the file's layout is not a block sequence the entry is returned to paste instead.

use std::path::{Path, PathBuf};

use crate::sdk;
use crate::source::SourceFile;
use crate::yaml::{self, NodeValue};

use super::ScaffoldError;

/// What `new step` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStep {
    /// The crate's folder.
    pub crate_dir: PathBuf,
    /// The files written.
    pub written: Vec<PathBuf>,
    /// The YAML entry of the step.
    pub entry: String,
    /// Whether the entry was inserted into the pipeline file (else it is to be pasted).
    pub inserted: bool,
    /// The handler's function path.
    pub function: String,
}

/// Creates the crate of step `name` in `project` and adds its entry to `pipeline` (before the step
/// `before`, else at the end of `steps:`).
pub fn new_step(project: &Path, pipeline: &Path, name: &str, before: Option<&str>) -> Result<NewStep, ScaffoldError> {
    if !valid_step_name(name) {
        return Err(ScaffoldError::Invalid(format!(
            "`{name}` is not a step name: lowercase letters, digits and `-`, starting with a letter, at most 48 characters"
        )));
    }
    let library = name.replace('-', "_");
    let crate_dir = project.join("steps").join(&library);
    if crate_dir.exists() {
        return Err(ScaffoldError::Exists(crate_dir));
    }
    let text = match std::fs::read_to_string(pipeline) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(ScaffoldError::Io(pipeline.to_path_buf(), e)),
    };
    let sdk_root = crate::step_crate::normalise(&project.join(sdk::SDK_DIR));
    let sdk = sdk::write(&sdk_root).map_err(|e| ScaffoldError::Invalid(e.to_string()))?;
    let lock = project.join("Cargo.lock");
    if !lock.exists() && project.join("Cargo.toml").is_file() {
        // The versions orchgen was built and tested with, for the project's `cargo test`.
        std::fs::copy(sdk.lock_file(), &lock).map_err(|e| ScaffoldError::Io(lock.clone(), e))?;
    }
    let crate_abs = crate::step_crate::normalise(&crate_dir);
    let runtime_path = crate::step_crate::relative(&crate_abs, &sdk.runtime_dir());
    let pipeline_dir = crate::step_crate::normalise(&crate::step_crate::pipeline_folder(pipeline));
    let crate_path = crate::step_crate::relative(&pipeline_dir, &crate_abs);
    let function = format!("{library}::run");
    let files = [
        (crate_dir.join("Cargo.toml"), cargo_toml(&library, &runtime_path)),
        (crate_dir.join("src/lib.rs"), lib_rs(name, &library)),
    ];
    let mut written = Vec::new();
    for (path, content) in files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| ScaffoldError::Io(parent.to_path_buf(), e))?;
        }
        std::fs::write(&path, content).map_err(|e| ScaffoldError::Io(path.clone(), e))?;
        written.push(path);
    }
    let (entry, inserted) = match text.as_deref().map(|t| insert(t, name, &function, &crate_path, before)) {
        Some(Ok((new_text, entry))) => {
            std::fs::write(pipeline, new_text).map_err(|e| ScaffoldError::Io(pipeline.to_path_buf(), e))?;
            (entry, true)
        }
        Some(Err(ScaffoldError::Invalid(reason))) if before.is_some() => return Err(ScaffoldError::Invalid(reason)),
        _ => (entry_lines(name, &function, &crate_path, "  - ").join(""), false),
    };
    Ok(NewStep { crate_dir, written, entry, inserted, function })
}

fn valid_step_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.len() <= 48
}

/// `text` with the step's entry inserted into its block sequence `steps:`, and the entry.
fn insert(
    text: &str,
    name: &str,
    function: &str,
    crate_path: &str,
    before: Option<&str>,
) -> Result<(String, String), ScaffoldError> {
    let unusable = |why: &str| ScaffoldError::Invalid(format!("cannot add the step to the pipeline file: {why}"));
    let loaded = yaml::load(&SourceFile::new("pipeline", text));
    let root = loaded.root.ok_or_else(|| unusable("it does not parse"))?;
    let steps = root.get("steps").ok_or_else(|| unusable("it has no `steps:`"))?;
    let NodeValue::Seq(items) = &steps.value else { return Err(unusable("`steps:` is not a sequence")) };
    let first = items.first().ok_or_else(|| unusable("`steps:` is empty"))?;
    if items
        .iter()
        .any(|i| i.get("name").and_then(|n| n.to_json().as_str().map(str::to_owned)).as_deref() == Some(name))
    {
        return Err(ScaffoldError::Invalid(format!("the pipeline has a step `{name}` already")));
    }
    let line_start = |offset: usize| text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let prefix = &text[line_start(first.span.start)..first.span.start];
    if !prefix.trim_start().starts_with('-') || !prefix.trim().chars().all(|c| c == '-') {
        return Err(unusable("`steps:` is not a block sequence (`- name: …` items)"));
    }
    let at = match before {
        Some(target) => {
            let item = items
                .iter()
                .find(|i| {
                    i.get("name").and_then(|n| n.to_json().as_str().map(str::to_owned)).as_deref() == Some(target)
                })
                .ok_or_else(|| {
                    ScaffoldError::Invalid(format!("the pipeline has no step `{target}` to put `{name}` before"))
                })?;
            // Above the comment lines that belong to the item.
            let mut at = line_start(item.span.start);
            while at > 0 {
                let previous = line_start(at - 1);
                if text[previous..at].trim_start().starts_with('#') {
                    at = previous;
                } else {
                    break;
                }
            }
            at
        }
        None => end_of_block(text, line_start(first.span.start), prefix.find('-').unwrap_or(0)),
    };
    let entry = entry_lines(name, function, crate_path, prefix).join("");
    let mut out = String::with_capacity(text.len() + entry.len() + 1);
    out.push_str(&text[..at]);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&entry);
    out.push_str(&text[at..]);
    Ok((out, entry))
}

/// Where the block sequence starting at the line `start` (its dashes at column `dash`) ends: the
/// start of the first line after it that is indented less than the items (or is a `- ` at a
/// shallower column), with the blank and comment lines just before that line left to what follows.
fn end_of_block(text: &str, start: usize, dash: usize) -> usize {
    let mut end = text.len();
    let mut last_content_end = text.len();
    let mut offset = start;
    for line in text[start..].split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let blank_or_comment = trimmed.trim().is_empty() || trimmed.starts_with('#');
        if offset > start && !blank_or_comment && (indent < dash || (indent == dash && !trimmed.starts_with('-'))) {
            end = offset;
            break;
        }
        offset += line.len();
        if !blank_or_comment {
            last_content_end = offset;
        }
    }
    if end == text.len() { text.len() } else { last_content_end.min(end) }
}

/// The step's YAML entry, its first line starting with `prefix` (`  - `).
fn entry_lines(name: &str, function: &str, crate_path: &str, prefix: &str) -> Vec<String> {
    let indent = " ".repeat(prefix.len());
    vec![
        format!("{prefix}name: {name}\n"),
        format!("{indent}kind: custom\n"),
        format!("{indent}description: Your Rust step ({function}); it refuses orders above its limit.\n"),
        format!("{indent}handler:\n"),
        format!("{indent}  function: {function}\n"),
        format!("{indent}  crate: {crate_path}           # relative to this file's folder\n"),
        format!(
            "{indent}  side_effects: false          # it only decides; set true when it changes something elsewhere\n"
        ),
    ]
}

fn cargo_toml(library: &str, runtime_path: &str) -> String {
    format!(
        r#"[package]
name = "{library}"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
# The orchgen runtime: `CustomContext`, `StepError`, the order. Its sources are the ones your
# orchgen binary was built with, written to .orchgen/sdk/ (git-ignored) by `orchgen new step`,
# `orchgen dev` and `orchgen build`: after a fresh clone, run one of them before `cargo test`.
orchgen-runtime = {{ path = "{runtime_path}" }}
serde = {{ version = "1", features = ["derive"] }}

[dev-dependencies]
tokio = {{ version = "1", features = ["macros", "rt"] }}
"#
    )
}

fn lib_rs(step: &str, library: &str) -> String {
    format!(
        r#"//! The `{step}` step: orchgen calls [`run`] for every order that reaches it.
//!
//! `run` gets a [`CustomContext`] for each attempt: `ctx.order` (the order as it is before the
//! step: customer, items, `total_cents`, the `outputs` of earlier steps), `ctx.step`, `ctx.attempt`
//! (from 1) and `ctx.idempotency_key` (the same for every attempt and re-delivery of this step of
//! this order: pass it to the services you call, so a retry does not do the work twice).
//!
//! What it returns decides what happens to the order:
//! - `Ok(value)` — the step succeeded; `value` (any `Serialize`) is kept as `outputs.{step}`;
//! - `Err(StepError::reject(code, message))` — the order is refused: `REJECTED`, or `CANCELLED`
//!   after the compensations of the steps before it;
//! - `Err(StepError::retryable(code, message))` — try again under the step's `retry` policy;
//! - `Err(StepError::terminal(code, message))` — something is broken: `FAILED`.
//!
//! A panic is caught (code `PANIC`, retried). `orchgen dev` compiles this crate into its dev host;
//! `orchgen build` gives the step its own Lambda function running the same code.

use orchgen_runtime::steps::{{CustomContext, StepError}};
use serde::Serialize;

/// Orders above this total (in cents) are refused. Replace it with your own rule.
pub const LIMIT_CENTS: i64 = 100_000;

/// What the step keeps on the order, as `outputs.{step}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checked {{
    /// The order's total, in cents.
    pub total_cents: i64,
    /// The limit it was checked against, in cents.
    pub limit_cents: i64,
}}

/// The step's handler (`function: {library}::run` in the pipeline).
pub async fn run(ctx: CustomContext) -> Result<Checked, StepError> {{
    let total_cents = ctx.order.total_cents;
    if total_cents > LIMIT_CENTS {{
        return Err(StepError::reject(
            "ORDER_TOO_LARGE",
            format!("the order total {{:.2}} is above the limit {{:.2}}", ctx.order.total(), LIMIT_CENTS as f64 / 100.0),
        ));
    }}
    Ok(Checked {{ total_cents, limit_cents: LIMIT_CENTS }})
}}

#[cfg(test)]
mod tests {{
    use orchgen_runtime::order::Order;

    use super::*;

    #[tokio::test]
    async fn the_sample_order_passes_with_its_total() {{
        let ctx = CustomContext::first_attempt("{step}", Order::example());
        let checked = run(ctx).await.expect("the sample order is below the limit");
        assert_eq!(checked, Checked {{ total_cents: 10_997, limit_cents: LIMIT_CENTS }});
    }}

    #[tokio::test]
    async fn an_order_above_the_limit_is_refused() {{
        let mut order = Order::example();
        order.total_cents = LIMIT_CENTS + 1;
        let error = run(CustomContext::first_attempt("{step}", order)).await.expect_err("above the limit");
        assert!(error.is_refusal(), "a refusal, not a fault: {{error:?}}");
        assert_eq!(error.code(), "ORDER_TOO_LARGE");
    }}
}}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIPELINE: &str = "name: shop\nsteps:\n  # checks first\n  - name: validate\n    kind: validate\n\n  - name: fulfil\n    kind: fulfil\n\n# what undoes\ncompensations: []\n";

    #[test]
    fn the_entry_goes_at_the_end_of_the_steps_keeping_comments() {
        let (text, entry) = insert(PIPELINE, "fraud-check", "fraud_check::run", "../steps/fraud_check", None).unwrap();
        assert!(entry.starts_with("  - name: fraud-check\n    kind: custom\n"), "{entry}");
        let expected_end = format!("  - name: fulfil\n    kind: fulfil\n{entry}\n# what undoes\ncompensations: []\n");
        assert!(text.ends_with(&expected_end), "{text}");
        assert!(text.contains("  # checks first\n  - name: validate"), "{text}");
    }

    #[test]
    fn the_entry_goes_before_a_named_step_above_its_comments() {
        let (text, entry) =
            insert(PIPELINE, "fraud-check", "fraud_check::run", "../steps/fraud_check", Some("validate")).unwrap();
        assert!(text.starts_with(&format!("name: shop\nsteps:\n{entry}  # checks first\n")), "{text}");
        let error = insert(PIPELINE, "x", "x::run", "x", Some("nope")).unwrap_err().to_string();
        assert!(error.contains("no step `nope`"), "{error}");
        let error = insert(PIPELINE, "validate", "x::run", "x", None).unwrap_err().to_string();
        assert!(error.contains("a step `validate` already"), "{error}");
    }

    #[test]
    fn a_last_section_and_flow_sequences() {
        let (text, entry) = insert("name: a\nsteps:\n- name: v\n  kind: validate\n", "x", "x::run", "x", None).unwrap();
        assert_eq!(text, format!("name: a\nsteps:\n- name: v\n  kind: validate\n{entry}"));
        assert!(entry.starts_with("- name: x\n  kind: custom\n"), "{entry}");
        assert!(insert("name: a\nsteps: [{name: v, kind: validate}]\n", "x", "x::run", "x", None).is_err());
    }

    #[test]
    fn relative_paths() {
        use crate::step_crate::relative;
        assert_eq!(
            relative(Path::new("/p/steps/x"), Path::new("/p/.orchgen/sdk/runtime")),
            "../../.orchgen/sdk/runtime"
        );
        assert_eq!(relative(Path::new("/p/pipelines"), Path::new("/p/steps/x")), "../steps/x");
        assert_eq!(relative(Path::new("/p"), Path::new("/p")), ".");
    }
}
