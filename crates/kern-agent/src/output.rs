//! Structured output: checking an answer against the JSON schema the agent asked for.
//!
//! A deliberately small validator covering what model providers accept in a response schema:
//! `type` (one or several), `properties`, `required`, `additionalProperties: false`, `items`,
//! `enum`, `const`, `minItems`/`maxItems`, `anyOf`, and local `$ref`s into `$defs` /
//! `definitions`. Keywords it does not know are ignored (they constrain nothing here), so it
//! never rejects a valid answer; it may accept an answer that a full validator would reject
//! on an exotic keyword (`pattern`, `format`, numeric bounds).

use serde_json::Value;

/// Checks `value` against `schema`; the error names the first mismatch by its JSON path.
pub(crate) fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    check(schema, schema, value, "$")
}

fn type_matches(ty: &str, v: &Value) -> bool {
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => {
            v.as_i64().is_some()
                || v.as_u64().is_some()
                || v.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => true,
    }
}

fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let path = reference.strip_prefix("#")?;
    root.pointer(path)
}

fn check(root: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let Some(s) = schema.as_object() else {
        return Ok(()); // `true` or a non-object schema: anything goes
    };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let target = resolve(root, r).ok_or_else(|| format!("{at}: unresolvable $ref {r}"))?;
        return check(root, target, v, at);
    }
    if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
        if !any.iter().any(|alt| check(root, alt, v, at).is_ok()) {
            return Err(format!("{at}: matches none of the allowed alternatives"));
        }
    }
    match s.get("type") {
        Some(Value::String(t)) if !type_matches(t, v) => {
            return Err(format!("{at}: expected {t}, found {}", kind(v)));
        }
        Some(Value::Array(ts))
            if !ts
                .iter()
                .filter_map(Value::as_str)
                .any(|t| type_matches(t, v)) =>
        {
            return Err(format!(
                "{at}: expected one of {}, found {}",
                Value::Array(ts.clone()),
                kind(v)
            ));
        }
        _ => {}
    }
    if let Some(options) = s.get("enum").and_then(Value::as_array) {
        if !options.contains(v) {
            return Err(format!(
                "{at}: {v} is not one of {}",
                Value::Array(options.clone())
            ));
        }
    }
    if let Some(c) = s.get("const") {
        if c != v {
            return Err(format!("{at}: expected {c}, found {v}"));
        }
    }
    if let Some(obj) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        if let Some(required) = s.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !obj.contains_key(name) {
                    return Err(format!("{at}: missing required property {name:?}"));
                }
            }
        }
        for (k, child) in obj {
            let path = format!("{at}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(sub) => check(root, sub, child, &path)?,
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        return Err(format!("{at}: unexpected property {k:?}"))
                    }
                    Some(sub @ Value::Object(_)) => check(root, sub, child, &path)?,
                    _ => {}
                },
            }
        }
    }
    if let Some(items) = v.as_array() {
        if let Some(min) = s.get("minItems").and_then(Value::as_u64) {
            if (items.len() as u64) < min {
                return Err(format!(
                    "{at}: expected at least {min} items, found {}",
                    items.len()
                ));
            }
        }
        if let Some(max) = s.get("maxItems").and_then(Value::as_u64) {
            if (items.len() as u64) > max {
                return Err(format!(
                    "{at}: expected at most {max} items, found {}",
                    items.len()
                ));
            }
        }
        if let Some(item_schema) = s.get("items") {
            for (i, item) in items.iter().enumerate() {
                check(root, item_schema, item, &format!("{at}[{i}]"))?;
            }
        }
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "posts": {"type": "array", "items": {"$ref": "#/$defs/post"}, "minItems": 1},
                "tone": {"enum": ["formal", "casual"]}
            },
            "required": ["title", "posts"],
            "additionalProperties": false,
            "$defs": {"post": {"type": "object", "properties": {"day": {"type": "integer"}}, "required": ["day"]}}
        })
    }

    #[test]
    fn accepts_a_matching_answer() {
        let ok = json!({"title": "t", "posts": [{"day": 1}, {"day": 3}], "tone": "casual"});
        assert_eq!(validate(&schema(), &ok), Ok(()));
    }

    #[test]
    fn names_the_first_mismatch() {
        let cases = [
            (
                json!({"posts": [{"day": 1}]}),
                "$: missing required property \"title\"",
            ),
            (
                json!({"title": 3, "posts": [{"day": 1}]}),
                "$.title: expected string, found number",
            ),
            (
                json!({"title": "t", "posts": []}),
                "$.posts: expected at least 1 items, found 0",
            ),
            (
                json!({"title": "t", "posts": [{"day": "mon"}]}),
                "$.posts[0].day: expected integer, found string",
            ),
            (
                json!({"title": "t", "posts": [{"day": 1}], "x": 1}),
                "$: unexpected property \"x\"",
            ),
            (
                json!({"title": "t", "posts": [{"day": 1}], "tone": "angry"}),
                "$.tone: \"angry\" is not one of [\"formal\",\"casual\"]",
            ),
            (json!([1]), "$: expected object, found array"),
        ];
        for (value, error) in cases {
            assert_eq!(
                validate(&schema(), &value),
                Err(error.to_string()),
                "{value}"
            );
        }
    }
}
