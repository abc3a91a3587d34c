//! Human in the loop: tool calls that wait for a person, and the decisions that let them go on.
//!
//! A tool may need a confirmation, input for some of its arguments, or to be run outside
//! ([`HumanInLoop`]). When the model calls such a tool and no decision for that call is known,
//! the agent's run pauses before the round runs (the conversation, with the pending calls, is
//! already checkpointed): the run's output and its `RunPaused` event list the waiting calls in
//! Agno's `ToolExecution` shape. Continuing the run (`Engine::continue_run`) checkpoints the
//! decisions under `CONTINUE_KEY`; the resumed agent finds the same pending calls and, for each,
//! its decision by `tool_call_id`:
//!
//! | tool needs | decision | the call |
//! |---|---|---|
//! | confirmation | `confirmed: true` | runs |
//! | confirmation | `confirmed: false` | is answered "rejected" (with the `confirmation_note`) |
//! | user input | `user_input_schema` values (or `user_input: {name: value}`) | runs with those arguments |
//! | external execution | `result` | is answered with that result |
//! | any | none | keeps waiting (the run pauses again) |
//!
//! Calls of the round that need nothing run once every waiting call has its decision.

use crate::toolbox::CallResult;
use kern_core::engine::{RunContext, CONTINUE_KEY};
use kern_core::event::EventKind;
use kern_models::ToolCall;
use kern_tools::{HumanInLoop, UserInputField};
use serde_json::{json, Map, Value};

/// What to do with one pending call.
pub(crate) enum Gate {
    /// Run the tool with these arguments.
    Run(Value),
    /// Answer the model without running the tool.
    Answer(CallResult),
    /// Wait for a person: the call as the pause reports it.
    Wait(Value),
}

/// The decisions of the latest continuation, by `tool_call_id`.
pub(crate) fn decisions(ctx: &RunContext) -> Map<String, Value> {
    let mut out = Map::new();
    let items = match ctx.checkpoint(CONTINUE_KEY) {
        Some(Value::Array(items)) => items.clone(),
        Some(other) => other
            .get("tools")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        None => Vec::new(),
    };
    for item in items {
        // Agno's requirements wrap the call: {"tool_execution": {...}, "confirmation": …}.
        let (exec, outer) = match item.get("tool_execution") {
            Some(e) if e.is_object() => (e.clone(), Some(item.clone())),
            _ => (item.clone(), None),
        };
        let Some(id) = exec.get("tool_call_id").and_then(Value::as_str) else {
            continue;
        };
        let mut merged = exec.as_object().cloned().unwrap_or_default();
        if let Some(outer) = outer {
            for (from, to) in [
                ("confirmation", "confirmed"),
                ("confirmation_note", "confirmation_note"),
                ("external_execution_result", "result"),
                ("user_input_schema", "user_input_schema"),
            ] {
                if let Some(v) = outer.get(from).filter(|v| !v.is_null()) {
                    merged.insert(to.into(), v.clone());
                }
            }
        }
        out.insert(id.to_owned(), Value::Object(merged));
    }
    out
}

/// The call as a paused run reports it (Agno's `ToolExecution`).
fn waiting(gate: &HumanInLoop, call: &ToolCall, args: &Value) -> Value {
    let mut exec = json!({
        "tool_call_id": call.id,
        "tool_name": call.name,
        "tool_args": args,
        "confirmed": null,
        "result": null,
    });
    match gate {
        HumanInLoop::Confirmation => exec["requires_confirmation"] = json!(true),
        HumanInLoop::UserInput(fields) => {
            exec["requires_user_input"] = json!(true);
            exec["user_input_schema"] = json!(fields);
        }
        HumanInLoop::ExternalExecution => exec["external_execution_required"] = json!(true),
        HumanInLoop::None => {}
    }
    exec
}

/// Decides what to do with a pending call that needs `gate`, given its `decision`.
pub(crate) fn gate(
    gate: &HumanInLoop,
    call: &ToolCall,
    args: Value,
    decision: Option<&Value>,
) -> Gate {
    let Some(d) = decision else {
        return match gate {
            HumanInLoop::None => Gate::Run(args),
            _ => Gate::Wait(waiting(gate, call, &args)),
        };
    };
    match gate {
        HumanInLoop::None => Gate::Run(args),
        HumanInLoop::Confirmation => match d.get("confirmed").and_then(Value::as_bool) {
            Some(true) => Gate::Run(args),
            Some(false) => {
                let note = d
                    .get("confirmation_note")
                    .and_then(Value::as_str)
                    .unwrap_or("Tool call was rejected by the user");
                Gate::Answer(CallResult::error(note.to_owned()))
            }
            None => Gate::Wait(waiting(gate, call, &args)),
        },
        HumanInLoop::UserInput(fields) => match user_values(fields, d) {
            Some(values) => {
                let mut args = args.as_object().cloned().unwrap_or_default();
                args.extend(values);
                Gate::Run(Value::Object(args))
            }
            None => Gate::Wait(waiting(gate, call, &args)),
        },
        HumanInLoop::ExternalExecution => match d.get("result").filter(|r| !r.is_null()) {
            Some(Value::String(s)) => Gate::Answer(CallResult::ok(s.clone())),
            Some(other) => Gate::Answer(CallResult::ok(other.to_string())),
            None => Gate::Wait(waiting(gate, call, &args)),
        },
    }
}

/// The values a person gave for `fields`, if all of them were given.
fn user_values(fields: &[UserInputField], d: &Value) -> Option<Map<String, Value>> {
    let mut given = Map::new();
    if let Some(schema) = d.get("user_input_schema").and_then(Value::as_array) {
        for f in schema {
            if let (Some(name), Some(value)) =
                (f.get("name").and_then(Value::as_str), f.get("value"))
            {
                if !value.is_null() {
                    given.insert(name.to_owned(), value.clone());
                }
            }
        }
    }
    if let Some(Value::Object(values)) = d.get("user_input") {
        given.extend(values.clone());
    }
    fields
        .iter()
        .all(|f| given.contains_key(&f.name))
        .then_some(given)
}

/// A paused run's output and its `RunPaused` event, for the calls that wait.
pub(crate) fn paused(
    tools: Vec<Value>,
    team: bool,
    model: &str,
    provider: &str,
) -> (Value, EventKind) {
    let now = chrono_like_now();
    let requirements: Vec<Value> = tools
        .iter()
        .map(|t| {
            let mut r = json!({
                "id": t["tool_call_id"],
                "created_at": now,
                "tool_execution": t,
            });
            if let Some(schema) = t.get("user_input_schema") {
                r["user_input_schema"] = schema.clone();
            }
            r
        })
        .collect();
    let output = json!({
        "content": null,
        "content_type": "str",
        "tools": tools,
        "requirements": requirements,
        "model": model,
        "model_provider": provider,
        "paused_by": if team { "team" } else { "agent" },
    });
    let event = EventKind::RunPaused {
        tools,
        requirements,
        expires_at: None,
    };
    (output, event)
}

/// Now as an RFC 3339 UTC timestamp (what Agno's requirements carry), without a date crate.
fn chrono_like_now() -> String {
    kern_store::time::UtcTime::from_unix_millis(kern_store::now_millis()).rfc3339("+00:00")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> ToolCall {
        ToolCall {
            id: "c1".into(),
            name: "send".into(),
            arguments: "{}".into(),
        }
    }

    #[test]
    fn confirmation_runs_rejects_or_waits() {
        let g = HumanInLoop::Confirmation;
        assert!(
            matches!(gate(&g, &call(), json!({}), None), Gate::Wait(w) if w["requires_confirmation"] == true)
        );
        assert!(
            matches!(gate(&g, &call(), json!({"a": 1}), Some(&json!({"confirmed": true}))), Gate::Run(a) if a["a"] == 1)
        );
        assert!(matches!(
            gate(&g, &call(), json!({}), Some(&json!({"confirmed": false, "confirmation_note": "no"}))),
            Gate::Answer(r) if r.error && r.content == "no"
        ));
    }

    #[test]
    fn user_input_fills_arguments_once_every_field_is_given() {
        let g = HumanInLoop::UserInput(vec![UserInputField {
            name: "to".into(),
            field_type: "str".into(),
            description: None,
            value: None,
        }]);
        let partial = json!({"user_input_schema": [{"name": "other", "value": 1}]});
        assert!(matches!(
            gate(&g, &call(), json!({}), Some(&partial)),
            Gate::Wait(_)
        ));
        let given = json!({"user_input_schema": [{"name": "to", "value": "a@b.c"}]});
        assert!(
            matches!(gate(&g, &call(), json!({"body": "x"}), Some(&given)), Gate::Run(a) if a["to"] == "a@b.c" && a["body"] == "x")
        );
    }

    #[test]
    fn external_execution_takes_the_result() {
        let g = HumanInLoop::ExternalExecution;
        assert!(
            matches!(gate(&g, &call(), json!({}), Some(&json!({"result": "42"}))), Gate::Answer(r) if r.content == "42" && !r.error)
        );
        assert!(
            matches!(gate(&g, &call(), json!({}), Some(&json!({}))), Gate::Wait(w) if w["external_execution_required"] == true)
        );
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let t = chrono_like_now();
        assert_eq!(t.len(), 25, "{t}");
        assert!(t.ends_with("+00:00") && t.as_bytes()[10] == b'T');
    }
}
