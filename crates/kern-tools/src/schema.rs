//! JSON schemas of tool arguments, in the self-contained shape model providers accept.
//!
//! OpenAI, Anthropic and Gemini take a tool's parameters as a JSON Schema object, but dislike
//! (or reject) `$ref`s, `$defs`, `$schema` and Rust-specific `format`s such as `uint32`.
//! [`schema_for`] generates the schema of an argument type with `schemars` and
//! [`normalize`]s it: every `$ref` inlined, definitions and `$schema` removed, only standard
//! formats kept.
//!
//! ```
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Place {
//!     /// The city's name.
//!     city: String,
//! }
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct WeatherArgs {
//!     place: Place,
//!     days: Option<u8>,
//! }
//!
//! let schema = kern_tools::schema::schema_for::<WeatherArgs>();
//! assert_eq!(schema["type"], "object");
//! assert_eq!(schema["properties"]["place"]["properties"]["city"]["type"], "string");
//! assert!(!schema.to_string().contains("$ref"));
//! ```

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{Map, Value};

/// Formats every provider understands (JSON Schema's, plus OpenAPI's numeric ones); others,
/// such as schemars' `uint32`, are removed (the range stays in `minimum` / `maximum`).
const STANDARD_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uuid",
    "int32",
    "int64",
    "float",
    "double",
];

/// The self-contained JSON Schema of `T` (see the [module docs](self)).
///
/// Doc comments on fields become `description`s, `#[serde(default)]` fields are optional, and
/// `Option` fields accept `null`.
pub fn schema_for<T: JsonSchema + ?Sized>() -> Value {
    let generator = SchemaSettings::draft07()
        .with(|settings| {
            settings.inline_subschemas = true;
            settings.meta_schema = None;
        })
        .into_generator();
    normalize(generator.into_root_schema_for::<T>().to_value())
}

/// Makes a JSON Schema self-contained and provider-friendly:
///
/// - every local `$ref` (`#/$defs/…`, `#/definitions/…`) is replaced by the schema it points to
///   (a recursive reference, which cannot be inlined, becomes an unconstrained object);
/// - `$defs`, `definitions`, `$schema` and the root `title` (the Rust type's name) are removed;
/// - `format`s that are not standard are removed;
/// - a root schema without a `type` but with `properties` gets `"type": "object"`, and a root
///   that accepts anything (`true`, `{}`) becomes an object that accepts any properties.
pub fn normalize(schema: Value) -> Value {
    let mut schema = match schema {
        Value::Bool(true) => Value::Object(Map::new()),
        Value::Bool(false) => return serde_json::json!({"type": "object", "properties": {}}),
        other => other,
    };
    let mut defs = Map::new();
    if let Value::Object(root) = &mut schema {
        for key in ["$defs", "definitions"] {
            if let Some(Value::Object(found)) = root.remove(key) {
                for (name, def) in found {
                    defs.insert(format!("#/{key}/{name}"), def);
                }
            }
        }
        root.remove("$schema");
        root.remove("title");
    }
    let mut stack = Vec::new();
    walk(&mut schema, &defs, &mut stack);
    if let Value::Object(root) = &mut schema {
        if !root.contains_key("type") && (root.contains_key("properties") || root.is_empty()) {
            root.insert("type".into(), Value::String("object".into()));
        }
        if root.get("type").and_then(Value::as_str) == Some("object")
            && !root.contains_key("properties")
            && !root.contains_key("additionalProperties")
        {
            root.insert("properties".into(), Value::Object(Map::new()));
        }
    }
    schema
}

/// Whether `schema` describes a JSON object (what tool arguments must be).
pub fn is_object_schema(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
        _ => false,
    }
}

/// Keys whose value is a map from names to schemas.
const SCHEMA_MAPS: &[&str] = &["properties", "patternProperties", "dependentSchemas"];
/// Keys whose value is data, not a schema.
const DATA_KEYS: &[&str] = &[
    "enum", "const", "default", "examples", "example", "required",
];

fn walk(schema: &mut Value, defs: &Map<String, Value>, stack: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            let reference = match map.get("$ref") {
                Some(Value::String(reference)) => Some(reference.clone()),
                _ => None,
            };
            if reference.is_some() {
                map.remove("$ref");
            }
            for (key, value) in map.iter_mut() {
                if DATA_KEYS.contains(&key.as_str()) {
                    continue;
                }
                if SCHEMA_MAPS.contains(&key.as_str()) {
                    if let Value::Object(children) = value {
                        for child in children.values_mut() {
                            walk(child, defs, stack);
                        }
                    }
                } else {
                    walk(value, defs, stack);
                }
            }
            if let Some(Value::String(format)) = map.get("format") {
                if !STANDARD_FORMATS.contains(&format.as_str()) {
                    map.remove("format");
                }
            }
            if let Some(reference) = reference {
                let target = match defs.get(&reference) {
                    Some(def) if !stack.contains(&reference) => {
                        let mut def = def.clone();
                        stack.push(reference);
                        walk(&mut def, defs, stack);
                        stack.pop();
                        def
                    }
                    // Recursive (or dangling) reference: cannot be inlined.
                    _ => serde_json::json!({"type": "object"}),
                };
                match target {
                    Value::Object(target) => {
                        // The referring schema's own keys (a field's description) win.
                        for (key, value) in target {
                            map.entry(key).or_insert(value);
                        }
                    }
                    Value::Bool(true) => {}
                    other => {
                        *schema = other;
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, defs, stack);
            }
        }
        _ => {}
    }
}
