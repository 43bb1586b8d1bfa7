//! The JSON Schema of the pipeline language, generated from [`crate::spec::Spec`].
//!
//! Draft 7, which every editor's YAML support understands. `Option` fields are plain (not nullable):
//! leaving a key out is how a default is asked for.

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
    if let Some(obj) = value.as_object_mut() {
        obj.insert("$id".to_owned(), Value::String("https://orchgen.dev/schema/pipeline.schema.json".to_owned()));
    }
    value
}

/// The schema as pretty JSON text with a final newline (the committed file's exact content).
pub fn pipeline_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&pipeline_schema()).expect("a schema always serialises");
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
