//! Whether JSON text parses to a given value, decided while reading the text: no tree is built.
//!
//! The write that completes a run stores its output once when the completing event's own
//! fields equal it (`payload::write_rows`). Parsing those fields (about a kilobyte for a
//! trivial workflow: its step results and metrics) into a [`Value`] only to compare it and drop
//! it was about 2.5 % of a loaded server's CPU; this walks the text against the value instead.
//!
//! Exact edge cases:
//! - `true` means exactly what `serde_json::from_str::<Value>(text) == Ok(expected)` means:
//!   the same parser reads the text, numbers compare as `Value` compares them (`1` and `1.0`
//!   differ; `-0.0` equals `0.0`), and objects compare as maps, whatever their key order.
//! - Text that does not parse, or has anything after its value, is `false`.
//! - An object with a repeated key is `false`, even where the parsed map (which keeps the last
//!   value) would be equal: `false` only ever costs the caller its shortcut, never correctness.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Whether `text` is JSON that parses to `expected` (see the module docs for the exact rules).
pub(crate) fn text_equals(text: &str, expected: &Value) -> bool {
    let mut de = serde_json::Deserializer::from_str(text);
    matches!(Expect(expected).deserialize(&mut de), Ok(true)) && de.end().is_ok()
}

/// A seed that reads one JSON value and answers whether it equals the expected one.
struct Expect<'v>(&'v Value);

impl<'de> DeserializeSeed<'de> for Expect<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Expect<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(self.0.is_null())
    }

    fn visit_bool<E>(self, v: bool) -> Result<bool, E> {
        Ok(self.0.as_bool() == Some(v))
    }

    // serde_json reads a number without a fraction or exponent as `u64` when it is not
    // negative, as `i64` when it is, and every other number as `f64`: the three kinds a parsed
    // `Value` keeps apart.
    fn visit_u64<E>(self, v: u64) -> Result<bool, E> {
        Ok(matches!(self.0, Value::Number(n) if n.is_u64() && n.as_u64() == Some(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<bool, E> {
        Ok(matches!(self.0, Value::Number(n) if n.is_i64() && !n.is_u64() && n.as_i64() == Some(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<bool, E> {
        Ok(matches!(self.0, Value::Number(n) if n.is_f64() && n.as_f64() == Some(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(self.0.as_str() == Some(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let Value::Array(items) = self.0 else {
            return Ok(false);
        };
        for item in items {
            if seq.next_element_seed(Expect(item))? != Some(true) {
                return Ok(false);
            }
        }
        Ok(seq.next_element::<IgnoredAny>()?.is_none())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let Value::Object(fields) = self.0 else {
            return Ok(false);
        };
        // The expected keys met so far, by address: a repeated key in the text meets one twice.
        let mut seen: Vec<*const String> = Vec::with_capacity(fields.len());
        while let Some(found) = map.next_key_seed(Key(fields))? {
            let Some((key, value)) = found else {
                return Ok(false);
            };
            if !map.next_value_seed(Expect(value))? {
                return Ok(false);
            }
            seen.push(key);
        }
        if seen.len() != fields.len() {
            return Ok(false);
        }
        seen.sort_unstable();
        Ok(seen.windows(2).all(|w| w[0] != w[1]))
    }
}

/// A seed that reads an object's key and finds it among the expected object's fields.
struct Key<'v>(&'v Map<String, Value>);

impl<'de, 'v> DeserializeSeed<'de> for Key<'v> {
    type Value = Option<(*const String, &'v Value)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'v> Visitor<'_> for Key<'v> {
    type Value = Option<(*const String, &'v Value)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self
            .0
            .get_key_value(v)
            .map(|(k, value)| (k as *const String, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::text_equals;
    use serde_json::{json, Value};

    /// The rule this module stands for: equal exactly when parsing would say so.
    fn agrees(text: &str, expected: &Value) {
        let parsed = serde_json::from_str::<Value>(text).ok();
        assert_eq!(
            text_equals(text, expected),
            parsed.as_ref() == Some(expected),
            "{text} against {expected}"
        );
    }

    #[test]
    fn equal_values_in_any_key_order_are_equal() {
        let v = json!({"a": [1, -2, 3.5, "x", null, true], "b": {"c": {}, "d": []}});
        assert!(text_equals(&v.to_string(), &v));
        assert!(text_equals(
            r#" {"b": {"d": [], "c": {}}, "a": [1, -2, 3.5, "x", null, true]} "#,
            &v
        ));
        assert!(text_equals(r#""a\"b\u00e9""#, &json!("a\"bé")));
    }

    #[test]
    fn every_difference_is_seen() {
        let v = json!({"a": [1, 2], "b": "s", "c": {"d": false}});
        for text in [
            r#"{"a":[1,2],"b":"s"}"#,
            r#"{"a":[1,2],"b":"s","c":{"d":false},"e":1}"#,
            r#"{"a":[1,2,3],"b":"s","c":{"d":false}}"#,
            r#"{"a":[1],"b":"s","c":{"d":false}}"#,
            r#"{"a":[2,1],"b":"s","c":{"d":false}}"#,
            r#"{"a":[1,2],"b":"t","c":{"d":false}}"#,
            r#"{"a":[1,2],"b":"s","c":{"d":true}}"#,
            r#"{"a":[1,2],"b":"s","c":{"d":null}}"#,
            r#"{"a":[1,2],"b":"s","c":[]}"#,
            r#"{"a":{"0":1},"b":"s","c":{"d":false}}"#,
            r#"{"a":[1,2],"b":"s","x":{"d":false}}"#,
        ] {
            agrees(text, &v);
            assert!(!text_equals(text, &v), "{text}");
        }
    }

    #[test]
    fn numbers_compare_as_parsed_values_do() {
        for (text, v) in [
            ("1", json!(1)),
            ("1", json!(1.0)),
            ("1.0", json!(1)),
            ("1.0", json!(1.0)),
            ("-1", json!(-1)),
            ("-1", json!(-1.0)),
            ("-0.0", json!(0.0)),
            ("0", json!(-0.0)),
            ("1e2", json!(100.0)),
            ("1e2", json!(100)),
            ("18446744073709551615", json!(u64::MAX)),
            ("-9223372036854775808", json!(i64::MIN)),
            ("0.1", json!(0.1)),
            ("2", json!("2")),
        ] {
            agrees(text, &v);
        }
    }

    #[test]
    fn bad_or_trailing_text_is_not_equal() {
        let v = json!({"a": 1});
        for text in [
            r#"{"a":1"#,
            r#"{"a":1} x"#,
            r#"{"a":1}{}"#,
            "",
            r#"{"a":01}"#,
        ] {
            assert!(!text_equals(text, &v), "{text}");
        }
    }

    #[test]
    fn a_repeated_key_is_not_equal() {
        let v = json!({"a": 1, "b": 2});
        assert!(!text_equals(r#"{"a":1,"a":1}"#, &v));
        assert!(!text_equals(r#"{"a":1,"b":2,"a":1}"#, &v));
        assert!(text_equals(r#"{"b":2,"a":1}"#, &v));
    }
}
