//! How Kern's records look on the wire, shaped as AgentOS shapes them.
//!
//! - Statuses are upper case, and Kern's `failed` is AgentOS's `ERROR`.
//! - Times are Unix seconds.
//! - A run names its component as `agent_id`, `team_id` or `workflow_id`.
//! - A run's `events` are its stored events, spliced into the body byte for byte (they are
//!   stored as served; nothing is re-serialised).

use kern_core::engine::{Component, Engine};
use kern_core::store::{
    ComponentKind, RunId, RunRecord, RunStatus, SessionRecord, StoredEvent, WebhookDelivery,
};
use kern_core::EngineError;
use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// The AgentOS name of a status.
pub fn wire_status(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Pending => "PENDING",
        RunStatus::Running => "RUNNING",
        RunStatus::Paused => "PAUSED",
        RunStatus::Completed => "COMPLETED",
        RunStatus::Failed => "ERROR",
        RunStatus::Cancelled => "CANCELLED",
    }
}

/// The kind a plural path segment names.
pub fn kind_from_plural(s: &str) -> Option<ComponentKind> {
    match s {
        "agents" => Some(ComponentKind::Agent),
        "teams" => Some(ComponentKind::Team),
        "workflows" => Some(ComponentKind::Workflow),
        _ => None,
    }
}

/// `agent_id`, `team_id` or `workflow_id`.
pub fn id_key(kind: ComponentKind) -> &'static str {
    match kind {
        ComponentKind::Agent => "agent_id",
        ComponentKind::Team => "team_id",
        ComponentKind::Workflow => "workflow_id",
    }
}

/// `agent_name`, `team_name` or `workflow_name`.
pub fn name_key(kind: ComponentKind) -> &'static str {
    match kind {
        ComponentKind::Agent => "agent_name",
        ComponentKind::Team => "team_name",
        ComponentKind::Workflow => "workflow_name",
    }
}

fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

/// Text form of an input (strings as they are, other JSON compact).
fn input_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The run's fields as AgentOS shapes them, without `events`.
pub(crate) fn run_object(run: &RunRecord, component_name: Option<&str>) -> Map<String, Value> {
    run_fields(run, component_name)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_owned()))
        .collect()
}

/// A field of the run object: borrowed from the record where it is served as stored.
type Field<'a> = Cow<'a, Value>;

/// The run object's fields ([`run_object`]), sorted by key as a [`Map`] would hold them,
/// borrowing the record's JSON values instead of copying them: a poll of a run serializes
/// its document every time, and copying its input and output (the step results, the
/// metrics) and dropping the copies was about 5 % of a loaded server's CPU.
fn run_fields<'a>(
    run: &'a RunRecord,
    component_name: Option<&'a str>,
) -> Vec<(&'static str, Field<'a>)> {
    let output = run.output.as_ref();
    let field = |k: &str| output.and_then(|o| o.get(k)).map(Cow::Borrowed);
    let owned = |v: Value| Cow::Owned(v);
    let input = run.input.get("input");
    let mut m: Vec<(&'static str, Field<'a>)> = Vec::with_capacity(32);
    m.push(("run_id", owned(json!(run.run_id.to_string()))));
    m.push(("session_id", owned(json!(run.session_id))));
    m.push(("user_id", owned(json!(run.user_id))));
    m.push((id_key(run.kind), owned(json!(run.component_id))));
    if let Some(name) = component_name {
        m.push((name_key(run.kind), owned(json!(name))));
    }
    if let Some(p) = run.parent_run_id {
        m.push(("parent_run_id", owned(json!(p.to_string()))));
    }
    m.push(("status", owned(json!(wire_status(run.status)))));
    m.push((
        "content",
        field("content").unwrap_or(Cow::Owned(Value::Null)),
    ));
    m.push((
        "content_type",
        field("content_type").unwrap_or_else(|| owned(json!("str"))),
    ));
    m.push((
        "run_input",
        owned(json!(input_text(input.unwrap_or(&Value::Null)))),
    ));
    // Agno's agent and team runs hold a `RunInput` object; its workflow runs the input itself.
    let input = match (run.kind, input) {
        (ComponentKind::Workflow, Some(v)) => Cow::Borrowed(v),
        (ComponentKind::Workflow, None) => owned(Value::Null),
        (_, v) => owned(json!({ "input_content": v.unwrap_or(&Value::Null) })),
    };
    m.push(("input", input));
    let metrics = match (run.kind, field("metrics")) {
        // Agno's `WorkflowMetrics` requires `steps`.
        (ComponentKind::Workflow, Some(Cow::Borrowed(Value::Object(o))))
            if !o.contains_key("steps") =>
        {
            owned(workflow_metrics(Value::Object(o.clone())))
        }
        (ComponentKind::Workflow, None) => owned(workflow_metrics(json!({}))),
        (_, Some(v)) => v,
        (_, None) => owned(json!({})),
    };
    m.push(("metrics", metrics));
    if run.kind == ComponentKind::Workflow {
        m.push((
            "step_results",
            field("step_results").unwrap_or_else(|| owned(json!([]))),
        ));
    }
    for k in [
        "metadata",
        "session_state",
        "additional_data",
        "dependencies",
    ] {
        if let Some(v) = run.input.get(k) {
            m.push((k, Cow::Borrowed(v)));
        }
    }
    // An agent's tool calls, and a paused run's waiting calls and requirements (Agno's
    // clients read `is_paused` and `requirements` from these; a workflow's
    // `WorkflowRunOutput` reads `step_requirements`).
    for k in ["tools", "requirements", "step_requirements"] {
        if let Some(v) = field(k).filter(|v| !v.is_null()) {
            m.push((k, v));
        }
    }
    if let Some(e) = &run.error {
        m.push(("error", owned(json!(e))));
    }
    m.push(("created_at", owned(json!(secs(run.created_at)))));
    m.push(("updated_at", owned(json!(secs(run.updated_at)))));
    m.push(("started_at", owned(json!(run.started_at.map(secs)))));
    m.push(("finished_at", owned(json!(run.finished_at.map(secs)))));
    m.push(("background", owned(json!(run.background))));
    m.push(("event_count", owned(json!(run.event_count))));
    m.push(("cancel_requested", owned(json!(run.cancel_requested))));
    sorted(m)
}

/// Fields in key order, the last of equal keys kept (as inserting them into a [`Map`] would).
fn sorted<T>(mut fields: Vec<(&'static str, T)>) -> Vec<(&'static str, T)> {
    fields.reverse();
    // Stable: of equal keys, the last pushed comes first now, and is the one kept.
    fields.sort_by_key(|(k, _)| *k);
    fields.dedup_by(|later, first| later.0 == first.0);
    fields
}

/// Serializes fields (sorted, unique keys) as a JSON object.
struct Object<'f, 'a>(&'f [(&'static str, Field<'a>)]);

impl serde::Serialize for Object<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (*k, v)))
    }
}

/// A run as JSON text with its stored events spliced in verbatim.
pub(crate) fn run_json(
    run: &RunRecord,
    component_name: Option<&str>,
    events: &[StoredEvent],
    webhook_deliveries: Option<Vec<Value>>,
) -> String {
    let mut fields = run_fields(run, component_name);
    if let Some(d) = webhook_deliveries {
        fields.push(("webhook_url", Cow::Owned(json!(run.webhook_url))));
        fields.push(("webhook_deliveries", Cow::Owned(Value::Array(d))));
        fields = sorted(fields);
    }
    let object = serde_json::to_string(&Object(&fields)).expect("JSON values serialize");
    let mut out = String::with_capacity(
        object.len() + 16 + events.iter().map(|e| e.payload.len() + 1).sum::<usize>(),
    );
    // The object is never empty, so it ends with `}` after at least one member.
    out.push_str(&object[..object.len() - 1]);
    out.push_str(",\"events\":[");
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&compat_payload(&e.event_type, &e.payload));
    }
    out.push_str("]}");
    out
}

/// A stored event's payload as served. Events are served as stored, byte for byte, with one
/// exception for Agno's client: its `WorkflowCompleted` parser requires `metrics.steps` (a
/// map of step metrics) and fails without it, so a workflow's completion event whose
/// `metrics` has no `steps` gets an empty one. Every other payload passes through untouched.
pub(crate) fn compat_payload<'a>(event_type: &str, payload: &'a str) -> std::borrow::Cow<'a, str> {
    if event_type != "WorkflowCompleted" || !payload.contains("\"metrics\"") {
        return payload.into();
    }
    // Kern's own completions carry `steps`: find that out without building the document (a
    // run's GET serves its completion on every poll), and rebuild only the payloads that lack it.
    #[derive(serde::Deserialize)]
    struct Top {
        metrics: Option<Metrics>,
    }
    #[derive(serde::Deserialize)]
    struct Metrics {
        steps: Option<serde::de::IgnoredAny>,
    }
    match serde_json::from_str::<Top>(payload) {
        Ok(Top {
            metrics: Some(Metrics { steps: None }),
        }) => {}
        _ => return payload.into(),
    }
    let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(payload) else {
        return payload.into();
    };
    match m.get_mut("metrics") {
        Some(Value::Object(metrics)) if !metrics.contains_key("steps") => {
            metrics.insert("steps".into(), json!({}));
            Value::Object(m).to_string().into()
        }
        _ => payload.into(),
    }
}

/// Workflow metrics as Agno's `WorkflowMetrics` reads them (`steps` required).
fn workflow_metrics(metrics: Value) -> Value {
    match metrics {
        Value::Object(mut m) => {
            m.entry("steps").or_insert_with(|| json!({}));
            Value::Object(m)
        }
        other => other,
    }
}

/// Reads a run's whole log.
pub(crate) async fn read_all_events(
    engine: &Engine,
    run_id: RunId,
) -> Result<Vec<StoredEvent>, EngineError> {
    const BATCH: usize = 1000;
    let mut out = Vec::new();
    loop {
        let batch = engine.read_events(run_id, out.len() as u64, BATCH).await?;
        let n = batch.len();
        out.extend(batch);
        if n < BATCH {
            return Ok(out);
        }
    }
}

/// A run as `GET /{agents|teams|workflows}/{id}/runs/{run_id}` answers it (the body, JSON
/// text): the AgentOS run object, its stored events spliced in byte for byte and, for a run
/// created with a webhook URL, its webhook deliveries. The component's name is the registered
/// component's or, when it is not registered here, the one stamped on the run's own events:
/// a client of the database such as `kern runs get --json` registers nothing and prints the
/// same document as the server.
pub async fn run_document(engine: &Engine, run: &RunRecord) -> Result<String, EngineError> {
    let events = read_all_events(engine, run.run_id).await?;
    run_document_of(engine, run, &events).await
}

/// [`run_document`] of a run whose log the caller already read.
pub(crate) async fn run_document_of(
    engine: &Engine,
    run: &RunRecord,
    events: &[StoredEvent],
) -> Result<String, EngineError> {
    let name = component_name(engine, run).or_else(|| stamped_name(run, events));
    let hooks = webhook_deliveries(engine, run).await?;
    Ok(run_json(run, name.as_deref(), events, hooks))
}

/// The webhook deliveries of a run created with a webhook URL (`None` for the others).
pub(crate) async fn webhook_deliveries(
    engine: &Engine,
    run: &RunRecord,
) -> Result<Option<Vec<Value>>, EngineError> {
    if run.webhook_url.is_none() {
        return Ok(None);
    }
    let list = engine.webhook_deliveries(run.run_id).await?;
    Ok(Some(list.iter().map(delivery_json).collect()))
}

/// A delivery as shown on a run record (`webhook_deliveries`).
pub(crate) fn delivery_json(d: &WebhookDelivery) -> Value {
    json!({
        "id": d.id,
        "url": d.url,
        "status": d.status.as_str(),
        "attempts": d.attempts,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "next_attempt_at": d.next_attempt_at.div_euclid(1000),
        "created_at": d.created_at.div_euclid(1000),
        "delivered_at": d.delivered_at.map(|t| t.div_euclid(1000)),
        "history": d.history.iter().map(|a| json!({
            "at": a.at.div_euclid(1000),
            "status_code": a.status_code,
            "error": a.error,
            "duration_ms": a.duration_ms,
        })).collect::<Vec<_>>(),
    })
}

/// The component name stamped on the run's first own event (`workflow_name`, …), if any.
fn stamped_name(run: &RunRecord, events: &[StoredEvent]) -> Option<String> {
    let own = run.run_id.to_string();
    events.iter().find_map(|e| {
        let v: Value = serde_json::from_str(&e.payload).ok()?;
        if v.get("run_id").and_then(Value::as_str) != Some(own.as_str()) {
            return None;
        }
        v.get(name_key(run.kind))?.as_str().map(str::to_owned)
    })
}

/// The display name of a run's component, if it is registered here.
pub(crate) fn component_name(engine: &Engine, run: &RunRecord) -> Option<String> {
    engine
        .component(run.kind, &run.component_id)
        .ok()
        .map(|c| c.name().to_owned())
}

/// Keys of a component's `info()` that belong in its summary (the rest only in its detail).
const SUMMARY_INFO_KEYS: &[&str] = &["model", "mode", "metadata"];

/// Reshapes a component's `info()` facts where AgentOS clients expect another shape: `tools`
/// is an object `{"tools": [...]}` (Agno's `AgentResponse.tools`), a model names itself under
/// `model` too (`ModelResponse {name, model, provider}`), and team members carry the same
/// reshaping.
fn agentos_info(info: Map<String, Value>) -> Map<String, Value> {
    let mut info = info;
    if let Some(Value::Array(tools)) = info.get("tools") {
        let tools = Value::Array(tools.clone());
        info.insert("tools".into(), json!({ "tools": tools }));
    }
    if let Some(Value::Object(model)) = info.get_mut("model") {
        if let Some(id) = model.get("id").cloned() {
            model.entry("model").or_insert(id.clone());
            model.entry("name").or_insert(id);
        }
    }
    if let Some(Value::Array(members)) = info.get_mut("members") {
        for m in members.iter_mut() {
            if let Value::Object(obj) = m {
                *obj = agentos_info(std::mem::take(obj));
            }
        }
    }
    info
}

/// A component in a listing (`AgentSummaryResponse`, `TeamSummaryResponse`,
/// `WorkflowSummaryResponse`).
pub(crate) fn component_summary(c: &dyn Component, db_id: &str) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(c.id()));
    m.insert("name".into(), json!(c.name()));
    if let Some(d) = c.description() {
        m.insert("description".into(), json!(d));
    }
    m.insert("db_id".into(), json!(db_id));
    if let Value::Object(info) = c.info() {
        let info = agentos_info(info);
        for k in SUMMARY_INFO_KEYS {
            if let Some(v) = info.get(*k) {
                m.insert((*k).into(), v.clone());
            }
        }
    }
    Value::Object(m)
}

/// One component in detail: its summary and every fact of its `info()` (a workflow's
/// `steps`, an agent's model and tools, a team's members).
pub(crate) fn component_detail(c: &dyn Component, db_id: &str) -> Value {
    let mut v = component_summary(c, db_id);
    if let (Value::Object(m), Value::Object(info)) = (&mut v, c.info()) {
        for (k, val) in agentos_info(info) {
            m.entry(k).or_insert(val);
        }
    }
    v
}

/// A session as AgentOS shapes it (`SessionSchema` / the session detail schemas).
pub(crate) fn session_object(
    s: &SessionRecord,
    first_input: Option<&Value>,
    component_name: Option<&str>,
) -> Value {
    let name = s
        .session_name
        .clone()
        .or_else(|| {
            first_input.map(|v| {
                let t = input_text(v);
                t.chars().take(100).collect()
            })
        })
        .unwrap_or_else(|| s.session_id.clone());
    let mut m = Map::new();
    m.insert("session_id".into(), json!(s.session_id));
    if s.kind == ComponentKind::Agent {
        // Agno's `AgentSessionDetailSchema` requires it.
        m.insert("agent_session_id".into(), json!(s.session_id));
    }
    m.insert("session_name".into(), json!(name));
    m.insert("session_type".into(), json!(s.kind.as_str()));
    m.insert(id_key(s.kind).into(), json!(s.component_id));
    if let Some(n) = component_name {
        m.insert(name_key(s.kind).into(), json!(n));
    }
    m.insert("user_id".into(), json!(s.user_id));
    m.insert(
        "session_state".into(),
        s.session_state.clone().unwrap_or(Value::Null),
    );
    m.insert(
        "session_data".into(),
        json!({ "session_state": s.session_state.clone().unwrap_or(Value::Null) }),
    );
    m.insert("created_at".into(), json!(secs(s.created_at)));
    m.insert("updated_at".into(), json!(secs(s.updated_at)));
    Value::Object(m)
}

/// Formats Unix seconds as RFC 3339 UTC (`2025-06-10T12:00:00Z`).
pub(crate) fn rfc3339(unix_secs: i64) -> String {
    kern_core::store::time::UtcTime::from_unix_secs(unix_secs).rfc3339("Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_agentos_names() {
        assert_eq!(wire_status(RunStatus::Failed), "ERROR");
        assert_eq!(wire_status(RunStatus::Pending), "PENDING");
        assert_eq!(wire_status(RunStatus::Cancelled), "CANCELLED");
    }

    #[test]
    fn only_workflow_completion_metrics_are_completed_for_agno() {
        let p = r#"{"event":"WorkflowCompleted","metrics":{"duration":1.5},"event_index":4}"#;
        let out: Value = serde_json::from_str(&compat_payload("WorkflowCompleted", p)).unwrap();
        assert_eq!(out["metrics"], json!({"duration": 1.5, "steps": {}}));
        assert_eq!(out["event_index"], 4);
        let with_steps = r#"{"event":"WorkflowCompleted","metrics":{"steps":{"a":1}}}"#;
        assert!(matches!(
            compat_payload("WorkflowCompleted", with_steps),
            std::borrow::Cow::Borrowed(_)
        ));
        let other = r#"{"event":"RunCompleted","metrics":{"duration":1}}"#;
        assert!(matches!(
            compat_payload("RunCompleted", other),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    /// Records of every shape the run object has: each kind, with and without output fields,
    /// paused with requirements, failed, a child, with input extras.
    fn records() -> Vec<RunRecord> {
        let base = RunRecord {
            run_id: "0190b6f2-0000-7000-8000-000000000001".parse().unwrap(),
            session_id: "s".into(),
            user_id: Some("u".into()),
            kind: ComponentKind::Workflow,
            component_id: "wf".into(),
            parent_run_id: None,
            status: RunStatus::Completed,
            input: json!({"input": "hi", "metadata": {"k": 1}, "session_state": {"n": 2}}),
            output: Some(json!({
                "content": "done", "content_type": "str",
                "metrics": {"duration": 1.5},
                "step_results": [{"step_name": "one", "content": "x"}],
            })),
            error: None,
            background: true,
            attempt: 1,
            releases: 0,
            lease_owner: None,
            lease_expires_at: None,
            cancel_requested: false,
            event_count: 8,
            created_at: 1_000,
            updated_at: 2_000,
            started_at: Some(1_500),
            finished_at: Some(2_000),
            webhook_url: Some("http://hook".into()),
        };
        let mut out = vec![base.clone()];
        let mut r = base.clone();
        r.output = Some(json!({"metrics": {"steps": {"one": {}}}, "content": {"a": [1, 2]}}));
        out.push(r);
        let mut r = base.clone();
        r.output = None;
        r.status = RunStatus::Failed;
        r.error = Some("boom".into());
        r.input = json!({});
        out.push(r);
        for kind in [ComponentKind::Agent, ComponentKind::Team] {
            let mut r = base.clone();
            r.kind = kind;
            r.parent_run_id = Some("0190b6f2-0000-7000-8000-000000000002".parse().unwrap());
            r.status = RunStatus::Paused;
            r.input = json!({"input": {"x": 1}, "dependencies": {"d": true}});
            r.output = Some(json!({
                "content": null, "tools": [{"tool_name": "t"}],
                "requirements": [{"id": 1}], "step_requirements": null,
                "metrics": {"input_tokens": 3},
            }));
            out.push(r);
            let mut r = base.clone();
            r.kind = kind;
            r.output = None;
            out.push(r);
        }
        out
    }

    #[test]
    fn the_run_document_serializes_as_its_object_would() {
        // The borrowed fields serialize exactly as the object (a `Map`, keys in order) does:
        // same keys, same values, same bytes.
        for run in records() {
            for name in [None, Some("Name")] {
                for hooks in [None, Some(vec![json!({"id": 1})])] {
                    let mut object = run_object(&run, name);
                    if let Some(d) = hooks.clone() {
                        object.insert("webhook_url".into(), json!(run.webhook_url));
                        object.insert("webhook_deliveries".into(), Value::Array(d));
                    }
                    let mut expected = Value::Object(object).to_string();
                    expected.truncate(expected.len() - 1);
                    expected.push_str(",\"events\":[]}");
                    assert_eq!(run_json(&run, name, &[], hooks), expected);
                }
            }
        }
        let wf = &records()[0];
        let object = run_object(wf, None);
        assert_eq!(object["metrics"], json!({"duration": 1.5, "steps": {}}));
        assert_eq!(object["input"], json!("hi"));
        let agent = &records()[3];
        let object = run_object(agent, None);
        assert_eq!(object["input"], json!({"input_content": {"x": 1}}));
        assert!(
            !object.contains_key("step_requirements"),
            "null is left out"
        );
        assert!(!object.contains_key("step_results"));
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_749_556_800), "2025-06-10T12:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
