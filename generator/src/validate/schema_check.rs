//! The schema check: the jsonschema crate validates the file's JSON form against the schemars schema,
//! and each error's JSON pointer is mapped back to the YAML node (and key) it came from.

use std::sync::LazyLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::schema::pipeline_schema;
use crate::source::Span;
use crate::suggest::did_you_mean;
use crate::yaml::{Node, NodeValue};

struct Compiled {
    schema: Value,
    validator: jsonschema::Validator,
}

static COMPILED: LazyLock<Compiled> = LazyLock::new(|| {
    let schema = pipeline_schema();
    let validator = jsonschema::draft7::new(&schema).expect("the generated schema is a valid draft 7 schema");
    Compiled { schema, validator }
});

/// Every schema violation of `root`, located.
pub fn check(root: &Node) -> Vec<Diagnostic> {
    let compiled = &*COMPILED;
    let instance = root.to_json();
    let mut out = Vec::new();
    for error in compiled.validator.iter_errors(&instance) {
        let pointer = error.instance_path().to_string();
        let node = root.pointer(&pointer).unwrap_or(root);
        let name = key_name(&pointer);
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed = allowed_keys(&compiled.schema, &pointer);
                for key in unexpected {
                    let span = node.key(key).map_or(node.span, |k| k.span);
                    let help = did_you_mean(key, allowed.iter().map(String::as_str))
                        .unwrap_or_else(|| format!("the keys allowed here are: {}", allowed.join(", ")));
                    out.push(
                        Diagnostic::error(
                            "orchgen::unknown-key",
                            format!("unknown key `{key}` in {}", place(&pointer)),
                            span,
                            "unknown key",
                        )
                        .with_help(help),
                    );
                }
            }
            ValidationErrorKind::Enum { .. }
            | ValidationErrorKind::OneOfNotValid { .. }
            | ValidationErrorKind::AnyOf { .. }
                if !enum_options(&compiled.schema, &pointer).is_empty() =>
            {
                let options = enum_options(&compiled.schema, &pointer);
                let found = scalar_text(node);
                // Spelling suggestions make no sense for numbers (`10` is not a typo of `1096`).
                let suggestion = match node.value {
                    NodeValue::Int(_) | NodeValue::Float(_) => nearest_numbers(&found, &options),
                    _ => did_you_mean(&found, options.iter().map(String::as_str)),
                };
                let help = suggestion
                    .map(|d| format!("{d} (one of: {})", options.join(", ")))
                    .unwrap_or_else(|| format!("use one of: {}", options.join(", ")));
                out.push(
                    Diagnostic::error(
                        "orchgen::unknown-value",
                        format!("`{found}` is not a valid {name}"),
                        node.span,
                        format!("unknown {name}"),
                    )
                    .with_help(help),
                );
            }
            ValidationErrorKind::Required { property } => {
                let property = property.as_str().unwrap_or_default();
                out.push(
                    Diagnostic::error(
                        "orchgen::missing-key",
                        format!("{} has no `{property}`", place(&pointer)),
                        head_span(node),
                        format!("`{property}` is missing"),
                    )
                    .with_help(format!("add `{property}:` here")),
                );
            }
            ValidationErrorKind::Type { kind } => {
                let expected = match kind {
                    TypeKind::Single(t) => type_word(&t.to_string()),
                    TypeKind::Multiple(ts) => {
                        let words: Vec<String> = ts.iter().map(|t| type_word(&t.to_string())).collect();
                        words.join(" or ")
                    }
                };
                let label = format!("expected {expected}");
                let message = if pointer.is_empty() {
                    format!("a pipeline file must be a mapping of keys, this one is {}", node.type_name())
                } else {
                    format!("`{name}` must be {expected}, found {}", node.type_name())
                };
                let help = is_duration(&compiled.schema, &pointer).then(|| pattern_help(crate::spec::DURATION_PATTERN));
                out.push(Diagnostic::error("orchgen::wrong-type", message, node.span, label).with_optional_help(help));
            }
            ValidationErrorKind::Format { format } => {
                let help = match format.as_str() {
                    "email" => "write an e-mail address, e.g. `ops@example.com`".to_owned(),
                    other => format!("it must be a valid {other}"),
                };
                out.push(
                    Diagnostic::error(
                        "orchgen::bad-format",
                        format!("`{}` is not a valid {name}", scalar_text(node)),
                        node.span,
                        format!("not a valid {format}"),
                    )
                    .with_help(help),
                );
            }
            ValidationErrorKind::Pattern { pattern } => {
                let found = scalar_text(node);
                out.push(
                    Diagnostic::error(
                        "orchgen::bad-format",
                        format!("`{found}` is not a valid {name}"),
                        node.span,
                        "does not match the expected form",
                    )
                    .with_help(pattern_help(pattern)),
                );
            }
            ValidationErrorKind::Minimum { limit } | ValidationErrorKind::ExclusiveMinimum { limit } => {
                out.push(Diagnostic::error(
                    "orchgen::out-of-range",
                    format!("`{name}` must be at least {limit}, found {}", scalar_text(node)),
                    node.span,
                    "too small",
                ));
            }
            ValidationErrorKind::Maximum { limit } | ValidationErrorKind::ExclusiveMaximum { limit } => {
                out.push(Diagnostic::error(
                    "orchgen::out-of-range",
                    format!("`{name}` must be at most {limit}, found {}", scalar_text(node)),
                    node.span,
                    "too large",
                ));
            }
            _ => {
                out.push(Diagnostic::error(
                    "orchgen::schema",
                    format!("{}: {error}", place(&pointer)),
                    node.span,
                    "here",
                ));
            }
        }
    }
    out
}

/// The last key of a pointer, or the list it indexes (`steps[2]`).
fn key_name(pointer: &str) -> String {
    let tokens: Vec<&str> = pointer.split('/').filter(|t| !t.is_empty()).collect();
    match tokens.as_slice() {
        [] => "pipeline".to_owned(),
        [.., parent, last] if last.parse::<usize>().is_ok() => format!("{} entry", singular(parent)),
        [.., last] => last.replace("~1", "/").replace("~0", "~"),
    }
}

fn singular(word: &str) -> String {
    match word.strip_suffix("ies") {
        Some(stem) => format!("{stem}y"),
        None => word.strip_suffix('s').unwrap_or(word).to_owned(),
    }
}

/// Where a pointer is, in words: `the pipeline`, `steps[2]`, `api.throttle`.
pub fn place(pointer: &str) -> String {
    let mut out = String::new();
    for token in pointer.split('/').filter(|t| !t.is_empty()) {
        if token.parse::<usize>().is_ok() {
            out.push_str(&format!("[{token}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(token);
        }
    }
    if out.is_empty() { "the pipeline".to_owned() } else { format!("`{out}`") }
}

/// A short span that stands for a node: its first key for a mapping, else the node.
pub fn head_span(node: &Node) -> Span {
    match &node.value {
        NodeValue::Map(entries) if !entries.is_empty() => entries[0].0.span,
        NodeValue::Seq(items) if !items.is_empty() => head_span(&items[0]),
        _ if node.span.len() > 80 => Span::new(node.span.start, node.span.start + 1),
        _ => node.span,
    }
}

fn scalar_text(node: &Node) -> String {
    match &node.value {
        NodeValue::String(s) => s.clone(),
        NodeValue::Int(i) => i.to_string(),
        NodeValue::Float(f) => f.to_string(),
        NodeValue::Bool(b) => b.to_string(),
        NodeValue::Null => "null".to_owned(),
        NodeValue::Seq(_) => "a list".to_owned(),
        NodeValue::Map(_) => "a mapping".to_owned(),
    }
}

fn type_word(t: &str) -> String {
    match t {
        "object" => "a mapping".to_owned(),
        "array" => "a list".to_owned(),
        "string" => "a string".to_owned(),
        "integer" => "a whole number".to_owned(),
        "number" => "a number".to_owned(),
        "boolean" => "true or false".to_owned(),
        other => other.to_owned(),
    }
}

fn pattern_help(pattern: &str) -> String {
    match pattern {
        p if p == crate::spec::DURATION_PATTERN => {
            "write a whole number with a unit: `250ms`, `10s` or `2m`".to_owned()
        }
        p if p.starts_with("^[a-z][a-z0-9-]") => {
            "use lowercase letters, digits and dashes, starting with a letter".to_owned()
        }
        p if p.starts_with("^[A-Z][A-Z0-9_]") => "use UPPER_SNAKE_CASE, starting with a letter".to_owned(),
        p if p.starts_with("^[A-Za-z0-9_.-]{3,255}") => {
            "a DynamoDB table or index name has 3 to 255 characters among `A-Z a-z 0-9 _ - .`".to_owned()
        }
        p if p.starts_with("^(/") => {
            "an API path starts with `/` and its segments use `A-Z a-z 0-9 . _ -`, e.g. `/orders`".to_owned()
        }
        "^[A-Z]{2}$" => "use a two-letter ISO 3166-1 country code in capitals, e.g. `US`".to_owned(),
        "^[A-Z]{3}$" => "use a three-letter ISO 4217 currency code in capitals, e.g. `USD`".to_owned(),
        other => format!("it must match the pattern `{other}`"),
    }
}

/// The subschema that applies at `pointer` (following `$ref`s, `properties` and `items`).
fn schema_at<'a>(schema: &'a Value, pointer: &str) -> Option<&'a Value> {
    let mut at = resolve(schema, schema);
    for token in pointer.split('/').filter(|t| !t.is_empty()) {
        let next = if token.parse::<usize>().is_ok() {
            at.get("items")
        } else {
            at.get("properties").and_then(|p| p.get(token)).or_else(|| at.get("additionalProperties"))
        };
        at = resolve(schema, next?);
    }
    Some(at)
}

/// The allowed numbers just below and just above `found`, e.g. "the nearest are `7` and `14`".
fn nearest_numbers(found: &str, options: &[String]) -> Option<String> {
    let x: f64 = found.parse().ok()?;
    let numbers = options.iter().filter_map(|o| o.parse::<f64>().ok().map(|v| (v, o)));
    let below = numbers.clone().filter(|(v, _)| *v < x).max_by(|a, b| a.0.total_cmp(&b.0));
    let above = numbers.filter(|(v, _)| *v > x).min_by(|a, b| a.0.total_cmp(&b.0));
    match (below, above) {
        (Some((_, b)), Some((_, a))) => Some(format!("the nearest are `{b}` and `{a}`")),
        (Some((_, only)), None) | (None, Some((_, only))) => Some(format!("the nearest is `{only}`")),
        (None, None) => None,
    }
}

/// Whether the value at `pointer` is a duration (`10s`).
fn is_duration(schema: &Value, pointer: &str) -> bool {
    schema_at(schema, pointer).and_then(|s| s.get("pattern")).and_then(Value::as_str)
        == Some(crate::spec::DURATION_PATTERN)
}

/// The property names the schema allows at `pointer`.
fn allowed_keys(schema: &Value, pointer: &str) -> Vec<String> {
    schema_at(schema, pointer)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// The values allowed at `pointer` when it is an enumeration (`enum`, or `oneOf` of `const`s).
fn enum_options(schema: &Value, pointer: &str) -> Vec<String> {
    let Some(at) = schema_at(schema, pointer) else { return Vec::new() };
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    if let Some(values) = at.get("enum").and_then(Value::as_array) {
        return values.iter().map(text).collect();
    }
    let branches = at.get("oneOf").or_else(|| at.get("anyOf")).and_then(Value::as_array);
    let mut out = Vec::new();
    for branch in branches.into_iter().flatten() {
        let branch = resolve(schema, branch);
        if let Some(c) = branch.get("const") {
            out.push(text(c));
        } else if let Some(values) = branch.get("enum").and_then(Value::as_array) {
            out.extend(values.iter().map(text));
        } else {
            return Vec::new();
        }
    }
    out
}

fn resolve<'a>(root: &'a Value, mut at: &'a Value) -> &'a Value {
    for _ in 0..16 {
        if let Some(path) = at.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
            match root.pointer(path) {
                Some(target) => at = target,
                None => break,
            }
        } else if let Some([only]) = at.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
            at = only;
        } else {
            break;
        }
    }
    at
}
