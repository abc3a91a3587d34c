//! Human review of workflow steps: a step that waits for a person's confirmation or input
//! before it runs (as Agno's `Step(requires_confirmation=…)` / `requires_user_input`).
//!
//! When the interpreter reaches such a step and no decision for it is known, the run pauses
//! before the step starts (nothing of it runs, no event of it is emitted): the run's output and
//! its `RunPaused` event list a *step requirement* (Agno's `StepRequirement` shape: `step_id`,
//! `step_name`, `step_index`, `step_path`, `requires_confirmation` with `confirmation_message`
//! and `on_reject`, or `requires_user_input` with `user_input_message` and
//! `user_input_schema`). Continuing the run with `{"step_requirements": [...]}` decides it,
//! matched by `step_path` (else `step_id`, else `step_name`):
//!
//! | the step needs | decision | then |
//! |---|---|---|
//! | confirmation | `confirmed: true` | it runs |
//! | confirmation | `confirmed: false` | `on_reject`: `skip` (the workflow goes on; the step's result says it was skipped) or `cancel` (the run is cancelled) |
//! | user input | `user_input: {name: value}` (or `user_input_schema` values) covering every field | it runs, with the values in `StepInput::additional_data["user_input"]` |
//! | any | none | the run pauses again |

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// What happens when a person rejects a step that needed confirmation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnReject {
    /// The run is cancelled (the default, as in Agno).
    #[default]
    Cancel,
    /// The step is skipped and the workflow goes on.
    Skip,
}

/// A value a person gives a step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputField {
    /// Its name (the key in `additional_data["user_input"]`).
    pub name: String,
    /// Its type, as Agno names it (`"str"`, `"int"`, `"float"`, `"bool"`, `"list"`, `"dict"`).
    #[serde(default = "str_type")]
    pub field_type: String,
    /// What to give.
    #[serde(default)]
    pub description: Option<String>,
}

fn str_type() -> String {
    "str".into()
}

/// What a step needs from a person before it runs.
#[derive(Clone, Debug, PartialEq)]
pub enum HumanReview {
    /// A confirmation (with a message shown to the person).
    Confirmation {
        /// Shown to the person.
        message: Option<String>,
        /// What a rejection does.
        on_reject: OnReject,
    },
    /// Values for these fields.
    UserInput {
        /// Shown to the person.
        message: Option<String>,
        /// The values asked for.
        fields: Vec<InputField>,
    },
}

/// What to do with a reviewed step now.
pub(crate) enum Verdict {
    /// Run it (with these user-input values, if any).
    Run(Option<Map<String, Value>>),
    /// Skip it (rejected, `on_reject: skip`).
    Skip(String),
    /// Cancel the run (rejected, `on_reject: cancel`).
    Cancel(String),
    /// Wait for a person: the step requirement.
    Wait(Value),
}

/// Where a step sits, for requirements and matching decisions.
pub(crate) struct At<'a> {
    pub name: &'a str,
    pub id: Option<&'a str>,
    pub path: &'a str,
    pub index: Value,
}

/// Decides a reviewed step from the latest continuation's `decisions`.
pub(crate) fn verdict(review: &HumanReview, at: &At<'_>, decisions: Option<&Value>) -> Verdict {
    let Some(d) = decision_for(at, decisions) else {
        return Verdict::Wait(requirement(review, at));
    };
    match review {
        HumanReview::Confirmation { on_reject, .. } => {
            match d.get("confirmed").and_then(Value::as_bool) {
                Some(true) => Verdict::Run(None),
                Some(false) => {
                    let why = d
                        .get("rejection_feedback")
                        .and_then(Value::as_str)
                        .map(|f| format!("step '{}' was rejected: {f}", at.name))
                        .unwrap_or_else(|| format!("step '{}' was rejected", at.name));
                    match on_reject {
                        OnReject::Skip => Verdict::Skip(why),
                        OnReject::Cancel => Verdict::Cancel(why),
                    }
                }
                None => Verdict::Wait(requirement(review, at)),
            }
        }
        HumanReview::UserInput { fields, .. } => {
            let mut given = Map::new();
            if let Some(schema) = d.get("user_input_schema").and_then(Value::as_array) {
                for f in schema {
                    if let (Some(n), Some(v)) =
                        (f.get("name").and_then(Value::as_str), f.get("value"))
                    {
                        if !v.is_null() {
                            given.insert(n.to_owned(), v.clone());
                        }
                    }
                }
            }
            if let Some(Value::Object(values)) = d.get("user_input") {
                given.extend(values.clone());
            }
            if fields.iter().all(|f| given.contains_key(&f.name)) {
                Verdict::Run(Some(given))
            } else {
                Verdict::Wait(requirement(review, at))
            }
        }
    }
}

fn decision_for<'a>(at: &At<'_>, decisions: Option<&'a Value>) -> Option<&'a Value> {
    let list = decisions?.get("step_requirements")?.as_array()?;
    let by = |key: &str, want: &str| {
        list.iter()
            .find(|d| d.get(key).and_then(Value::as_str) == Some(want))
    };
    by("step_path", at.path)
        .or_else(|| at.id.and_then(|id| by("step_id", id)))
        .or_else(|| by("step_name", at.name))
}

fn requirement(review: &HumanReview, at: &At<'_>) -> Value {
    let mut r = json!({
        "step_id": at.id.unwrap_or(at.name),
        "step_name": at.name,
        "step_index": at.index,
        "step_path": at.path,
        "step_type": "Step",
        "requires_confirmation": false,
        "requires_user_input": false,
        "confirmed": null,
        "user_input": null,
    });
    match review {
        HumanReview::Confirmation { message, on_reject } => {
            r["requires_confirmation"] = json!(true);
            r["confirmation_message"] = json!(message);
            r["on_reject"] = json!(on_reject);
        }
        HumanReview::UserInput { message, fields } => {
            r["requires_user_input"] = json!(true);
            r["user_input_message"] = json!(message);
            r["user_input_schema"] = fields
                .iter()
                .map(|f| json!({"name": f.name, "field_type": f.field_type, "description": f.description, "value": null}))
                .collect();
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> At<'static> {
        At {
            name: "Publish",
            id: None,
            path: "1",
            index: json!(1),
        }
    }

    #[test]
    fn confirmation_without_a_decision_waits_with_agnos_shape() {
        let review = HumanReview::Confirmation {
            message: Some("Publish?".into()),
            on_reject: OnReject::Skip,
        };
        let Verdict::Wait(r) = verdict(&review, &at(), None) else {
            panic!()
        };
        assert_eq!(r["requires_confirmation"], true);
        assert_eq!(r["confirmation_message"], "Publish?");
        assert_eq!(r["on_reject"], "skip");
        assert_eq!(r["step_name"], "Publish");
    }

    #[test]
    fn decisions_match_by_path_then_name() {
        let review = HumanReview::Confirmation {
            message: None,
            on_reject: OnReject::Cancel,
        };
        let yes = json!({"step_requirements": [{"step_name": "Publish", "confirmed": true}]});
        assert!(matches!(
            verdict(&review, &at(), Some(&yes)),
            Verdict::Run(None)
        ));
        let no = json!({"step_requirements": [{"step_path": "1", "confirmed": false, "rejection_feedback": "too early"}]});
        assert!(
            matches!(verdict(&review, &at(), Some(&no)), Verdict::Cancel(w) if w.contains("too early"))
        );
        let other = json!({"step_requirements": [{"step_path": "2", "confirmed": true}]});
        assert!(matches!(
            verdict(&review, &at(), Some(&other)),
            Verdict::Wait(_)
        ));
    }

    #[test]
    fn user_input_needs_every_field() {
        let review = HumanReview::UserInput {
            message: None,
            fields: vec![InputField {
                name: "audience".into(),
                field_type: "str".into(),
                description: None,
            }],
        };
        let partial = json!({"step_requirements": [{"step_name": "Publish", "user_input": {}}]});
        assert!(matches!(
            verdict(&review, &at(), Some(&partial)),
            Verdict::Wait(_)
        ));
        let given = json!({"step_requirements": [{"step_name": "Publish", "user_input": {"audience": "devs"}}]});
        assert!(
            matches!(verdict(&review, &at(), Some(&given)), Verdict::Run(Some(v)) if v["audience"] == "devs")
        );
    }
}
