//! The JSON Schema of the pipeline language, generated from [`crate::spec::Spec`].
//!
//! Draft 7, which every editor's YAML support understands. `Option` fields are plain (not nullable):
//! leaving a key out is how a default is asked for.
//!
//! Two rewrites make editors (yaml-language-server, VS Code's JSON/YAML support) complete keys well,
//! without changing what the schema accepts; `tests/tests/editor_lsp.rs` checks both:
//!
//! - a documented property that is a lone `$ref` is `{"description": …, "$ref": …}`, as schemars
//!   already writes every `Option` field once its `null` alternative is stripped, not
//!   `{"description": …, "allOf": [{"$ref": …}]}` (which schemars writes for required fields such as
//!   `kind`): editors look through a `$ref` but not through an `allOf` to learn a property's type
//!   (draft 7 validators ignore keywords beside a `$ref`; only annotations sit there, which editors show);
//! - an enumeration is an `anyOf` of string `const`s, not a `oneOf`: the constants exclude each other
//!   so both accept the same values, but a key whose schema has neither `type` nor `anyOf` is completed
//!   as a bare `kind` instead of `kind: ` (and `type` beside the branches would double the errors).

use schemars::generate::SchemaSettings;
use serde_json::Value;

use crate::spec::Spec;

/// Where the schema is committed, relative to the repository root.
pub const SCHEMA_PATH: &str = "schema/pipeline.schema.json";

/// The schema as a JSON value.
pub fn pipeline_schema() -> Value {
    let generator = SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<Spec>();
    let mut value = schema.to_value();
    strip_null(&mut value);
    editor_friendly(&mut value);
    if let Some(obj) = value.as_object_mut() {
        obj.insert("$id".to_owned(), Value::String("https://orchgen.dev/schema/pipeline.schema.json".to_owned()));
    }
    value
}

/// The schema as pretty JSON text with a final newline (the committed file's exact content).
pub fn pipeline_schema_text() -> String {
    let mut text = format!("{:#}", pipeline_schema());
    text.push('\n');
    text
}

/// Removes the `null` alternative schemars gives `Option` fields: a key is left out, never null.
fn strip_null(value: &mut Value) {
    match value {
        Value::Object(obj) => {
            if let Some(Value::Array(types)) = obj.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    obj.insert("type".to_owned(), only);
                }
            }
            let null_schema = serde_json::json!({"type": "null"});
            if let Some(Value::Array(alternatives)) = obj.get("anyOf")
                && alternatives.len() == 2
                && alternatives.contains(&null_schema)
            {
                let kept = alternatives.iter().find(|a| **a != null_schema).cloned();
                obj.remove("anyOf");
                if let Some(Value::Object(kept)) = kept {
                    for (k, v) in kept {
                        obj.entry(k).or_insert(v);
                    }
                }
            }
            for v in obj.values_mut() {
                strip_null(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_null),
        _ => {}
    }
}

/// The two rewrites described in the module documentation, everywhere in the schema.
fn editor_friendly(value: &mut Value) {
    match value {
        Value::Object(obj) => {
            // A key is renamed by rebuilding the map, so that it keeps its place in the committed file.
            let rename = |obj: &mut serde_json::Map<String, Value>, from: &str, to: &str, value: Value| {
                *obj = std::mem::take(obj)
                    .into_iter()
                    .map(|(k, v)| if k == from { (to.to_owned(), value.clone()) } else { (k, v) })
                    .collect();
            };
            if let Some(Value::Array(parts)) = obj.get("allOf")
                && let [Value::Object(only)] = parts.as_slice()
                && only.len() == 1
                && !obj.contains_key("$ref")
                && let Some(reference) = only.get("$ref").cloned()
            {
                rename(obj, "allOf", "$ref", reference);
            }
            if let Some(Value::Array(branches)) = obj.get("oneOf")
                && !obj.contains_key("anyOf")
                && !branches.is_empty()
                && branches.iter().all(|b| b.get("type") == Some(&Value::from("string")) && b.get("const").is_some())
            {
                let branches = Value::Array(branches.clone());
                rename(obj, "oneOf", "anyOf", branches);
            }
            for v in obj.values_mut() {
                editor_friendly(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(editor_friendly),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_refs_are_not_wrapped_and_enumerations_are_any_of() {
        let schema = pipeline_schema();
        let kind = &schema["definitions"]["StepSpec"]["properties"]["kind"];
        assert_eq!(kind["$ref"], "#/definitions/StepKind");
        assert_eq!(kind["description"], "What the step does.");
        assert!(kind.get("allOf").is_none());
        let kinds = &schema["definitions"]["StepKind"];
        assert!(kinds.get("oneOf").is_none());
        assert_eq!(kinds["anyOf"].as_array().map(Vec::len), Some(7));
        assert!(!pipeline_schema_text().contains("\"allOf\""));
        assert!(!pipeline_schema_text().contains("\"oneOf\""));
    }
}
