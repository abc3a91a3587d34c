//! Parameter schemas: self-contained (no `$ref`), provider-friendly.

use std::collections::BTreeMap;

use kern_tools::schema::{normalize, schema_for};
use kern_tools::{tool_fn, Tool, ToolContext, ToolError};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Address {
    /// The street and number.
    street: String,
    /// The city.
    city: String,
    country: Option<Country>,
}

/// A country.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum Country {
    France,
    Norway,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Order {
    /// Where to deliver.
    delivery: Address,
    /// Where to send the bill (the delivery address when missing).
    billing: Option<Address>,
    items: Vec<Item>,
    notes: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Item {
    sku: String,
    quantity: u32,
}

fn refs(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if key == "$ref" || key == "$defs" || key == "definitions" || key == "$schema" {
                    found.push(format!("{key}: {child}"));
                }
                found.extend(refs(child));
            }
        }
        Value::Array(items) => items.iter().for_each(|i| found.extend(refs(i))),
        _ => {}
    }
    found
}

#[test]
fn a_nested_argument_type_yields_a_self_contained_schema() {
    let schema = schema_for::<Order>();
    assert!(refs(&schema).is_empty(), "{:#}", schema);
    assert_eq!(schema["type"], "object");
    let mut required: Vec<_> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    required.sort_unstable();
    assert_eq!(required, ["delivery", "items", "notes"]);

    let delivery = &schema["properties"]["delivery"];
    assert_eq!(delivery["type"], "object");
    assert_eq!(delivery["description"], "Where to deliver.");
    assert_eq!(delivery["properties"]["street"]["type"], "string");
    assert_eq!(
        delivery["properties"]["street"]["description"],
        "The street and number."
    );
    // An enum inside an Option inside the nested struct, inlined too.
    let country = delivery["properties"]["country"].to_string();
    assert!(country.contains("\"france\""), "{country}");
    assert!(country.contains("\"norway\""), "{country}");

    // Option<Address>: the address schema plus null.
    let billing = schema["properties"]["billing"].to_string();
    assert!(billing.contains("\"street\""), "{billing}");
    assert!(billing.contains("null"), "{billing}");

    let items = &schema["properties"]["items"];
    assert_eq!(items["type"], "array");
    assert_eq!(items["items"]["properties"]["sku"]["type"], "string");
    assert_eq!(items["items"]["properties"]["quantity"]["minimum"], 0);
    assert!(items["items"]["properties"]["quantity"]
        .get("format")
        .is_none());

    assert_eq!(
        schema["properties"]["notes"]["additionalProperties"]["type"],
        "string"
    );
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Tree {
    name: String,
    children: Vec<Tree>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct TreeArgs {
    root: Tree,
}

#[test]
fn recursive_types_are_cut_instead_of_referenced() {
    let schema = schema_for::<TreeArgs>();
    assert!(refs(&schema).is_empty(), "{:#}", schema);
    let root = &schema["properties"]["root"];
    assert_eq!(root["properties"]["name"]["type"], "string");
    assert_eq!(root["properties"]["children"]["type"], "array");
    assert_eq!(root["properties"]["children"]["items"]["type"], "object");
}

#[test]
fn normalize_inlines_hand_written_refs() {
    let schema = normalize(json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Args",
        "properties": {
            "when": {"$ref": "#/definitions/When", "description": "When to do it"},
            "count": {"type": "integer", "format": "uint64", "minimum": 0},
            "id": {"type": "string", "format": "uuid"},
            "enum": {"enum": [{"$ref": "not a schema"}]}
        },
        "definitions": {
            "When": {"type": "string", "format": "date-time", "description": "A time"},
        }
    }));
    assert_eq!(
        schema,
        json!({
            "type": "object",
            "properties": {
                "when": {"type": "string", "format": "date-time", "description": "When to do it"},
                "count": {"type": "integer", "minimum": 0},
                "id": {"type": "string", "format": "uuid"},
                "enum": {"enum": [{"$ref": "not a schema"}]}
            }
        })
    );
    assert_eq!(
        normalize(json!(true)),
        json!({"type": "object", "properties": {}})
    );
}

#[tokio::test]
async fn nested_arguments_deserialize_and_errors_point_into_them() {
    let tool = tool_fn(
        "place_order",
        "Place an order",
        |order: Order, _ctx: ToolContext| async move {
            Ok::<_, ToolError>(format!(
                "{} item(s) to {}",
                order.items.len(),
                order.delivery.city
            ))
        },
    );
    assert!(refs(&tool.parameters()).is_empty());
    let out = tool
        .call(
            json!({
                "delivery": {"street": "1 Rue", "city": "Paris", "country": "france"},
                "items": [{"sku": "A", "quantity": 2}],
                "notes": {}
            }),
            ToolContext::default(),
        )
        .await
        .unwrap();
    assert_eq!(out.as_str(), "1 item(s) to Paris");

    let err = tool
        .call(
            json!({
                "delivery": {"street": "1 Rue", "city": "Paris", "country": "spain"},
                "items": [{"sku": "A", "quantity": -1}],
                "notes": {}
            }),
            ToolContext::default(),
        )
        .await
        .unwrap_err();
    let ToolError::InvalidArguments { path, message, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(path.as_deref(), Some("delivery.country"));
    assert!(
        message.contains("unknown variant `spain`, expected `france` or `norway`"),
        "{message}"
    );

    let err = tool
        .call(
            json!({
                "delivery": {"street": "1 Rue", "city": "Paris"},
                "items": [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": -1}],
                "notes": {}
            }),
            ToolContext::default(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at `items[1].quantity`"), "{err}");
}
