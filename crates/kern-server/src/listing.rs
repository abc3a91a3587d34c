//! Runs as listings show them: bounded in size.
//!
//! A run's own `GET` returns it whole, its events spliced in verbatim. A listing
//! (`GET /{kind}/{id}/runs`, `GET /sessions/{session_id}/runs`, the operator's `/queue/jobs`)
//! shows many runs, so each is capped: its events are left out unless the client asks for
//! them (`include_events=true`), and any string longer than [`STRING_CAP`] bytes in the run
//! (its input, content, step results, metadata, and the listed events) is cut there, with a
//! marker saying so, and the run gets `"truncated": true`. An event longer than
//! [`EVENT_CAP`] bytes is listed with its strings cut the same way.

use crate::wire;
use kern_core::store::{RunRecord, StoredEvent};
use serde_json::{Map, Value};

/// The longest string a listed run carries, in bytes (longer ones are cut, marked).
pub(crate) const STRING_CAP: usize = 8 * 1024;

/// A listed event longer than this (bytes of JSON) has its strings cut.
pub(crate) const EVENT_CAP: usize = 16 * 1024;

/// Cuts every string in `v` longer than [`STRING_CAP`]; returns whether it cut anything.
pub(crate) fn cap(v: &mut Value) -> bool {
    match v {
        Value::String(s) if s.len() > STRING_CAP => {
            let mut end = STRING_CAP;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            let total = s.len();
            s.truncate(end);
            s.push_str(&format!(
                "…[truncated by kern: {total} bytes in all; GET the run for the whole of it]"
            ));
            true
        }
        Value::Array(items) => items.iter_mut().fold(false, |cut, v| cap(v) | cut),
        Value::Object(m) => m.values_mut().fold(false, |cut, v| cap(v) | cut),
        _ => false,
    }
}

/// Caps a run's fields (see [`cap`]), marking the run `"truncated": true` when anything was
/// cut.
pub(crate) fn cap_run(object: &mut Map<String, Value>) {
    let cut = object.values_mut().fold(false, |cut, v| cap(v) | cut);
    if cut {
        object.insert("truncated".into(), Value::Bool(true));
    }
}

/// One listed run as JSON text: its capped fields and, when `events` is given, its events
/// (verbatim when small, with their strings cut when larger than [`EVENT_CAP`]).
pub(crate) fn listed_run_json(
    run: &RunRecord,
    component_name: Option<&str>,
    events: Option<&[StoredEvent]>,
    webhook_deliveries: Option<Vec<Value>>,
) -> String {
    let mut object = wire::run_object(run, component_name);
    if let Some(d) = webhook_deliveries {
        object.insert("webhook_url".into(), Value::from(run.webhook_url.clone()));
        object.insert("webhook_deliveries".into(), Value::Array(d));
    }
    cap_run(&mut object);
    let Some(events) = events else {
        return Value::Object(object).to_string();
    };
    let mut cut = false;
    let mut listed = String::from("[");
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            listed.push(',');
        }
        let payload = wire::compat_payload(&e.event_type, &e.payload);
        if payload.len() <= EVENT_CAP {
            listed.push_str(&payload);
            continue;
        }
        match serde_json::from_str::<Value>(&payload) {
            Ok(mut v) => {
                cut |= cap(&mut v);
                listed.push_str(&v.to_string());
            }
            // Stored events are JSON; were one not, list it as it is rather than fail.
            Err(_) => listed.push_str(&payload),
        }
    }
    listed.push(']');
    if cut {
        object.insert("truncated".into(), Value::Bool(true));
    }
    let object = Value::Object(object).to_string();
    // The object is never empty, so it ends with `}` after at least one member.
    format!("{},\"events\":{listed}}}", &object[..object.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn long_strings_are_cut_at_a_char_boundary_and_marked() {
        let mut v = json!({"a": "é".repeat(STRING_CAP), "b": ["short", "x".repeat(STRING_CAP + 1)], "n": 3});
        assert!(cap(&mut v));
        let a = v["a"].as_str().unwrap();
        assert!(a.starts_with("éé"));
        assert!(a.contains(&format!("truncated by kern: {} bytes", 2 * STRING_CAP)));
        assert!(a.len() < STRING_CAP + 200);
        assert_eq!(v["b"][0], "short");
        assert!(v["b"][1].as_str().unwrap().contains("truncated by kern"));
        assert_eq!(v["n"], 3);
        let mut small = json!({"a": "fine"});
        assert!(!cap(&mut small));
    }
}
