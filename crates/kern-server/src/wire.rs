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
    let mut m = Map::new();
    let output = run.output.as_ref();
    let field = |k: &str| output.and_then(|o| o.get(k)).cloned();
    let input = run.input.get("input").cloned().unwrap_or(Value::Null);
    m.insert("run_id".into(), json!(run.run_id.to_string()));
    m.insert("session_id".into(), json!(run.session_id));
    m.insert("user_id".into(), json!(run.user_id));
    m.insert(id_key(run.kind).into(), json!(run.component_id));
    if let Some(name) = component_name {
        m.insert(name_key(run.kind).into(), json!(name));
    }
    if let Some(p) = run.parent_run_id {
        m.insert("parent_run_id".into(), json!(p.to_string()));
    }
    m.insert("status".into(), json!(wire_status(run.status)));
    m.insert("content".into(), field("content").unwrap_or(Value::Null));
    m.insert(
        "content_type".into(),
        field("content_type").unwrap_or_else(|| json!("str")),
    );
    m.insert("run_input".into(), json!(input_text(&input)));
    // Agno's agent and team runs hold a `RunInput` object; its workflow runs the input itself.
    let input = match run.kind {
        ComponentKind::Workflow => input,
        _ => json!({ "input_content": input }),
    };
    m.insert("input".into(), input);
    let metrics = field("metrics").unwrap_or_else(|| json!({}));
    let metrics = match run.kind {
        ComponentKind::Workflow => workflow_metrics(metrics),
        _ => metrics,
    };
    m.insert("metrics".into(), metrics);
    if run.kind == ComponentKind::Workflow {
        m.insert(
            "step_results".into(),
            field("step_results").unwrap_or_else(|| json!([])),
        );
    }
    for k in [
        "metadata",
        "session_state",
        "additional_data",
        "dependencies",
    ] {
        if let Some(v) = run.input.get(k) {
            m.insert(k.into(), v.clone());
        }
    }
    // An agent's tool calls, and a paused run's waiting calls and requirements (Agno's
    // clients read `is_paused` and `requirements` from these; a workflow's
    // `WorkflowRunOutput` reads `step_requirements`).
    for k in ["tools", "requirements", "step_requirements"] {
        if let Some(v) = field(k).filter(|v| !v.is_null()) {
            m.insert(k.into(), v);
        }
    }
    if let Some(e) = &run.error {
        m.insert("error".into(), json!(e));
    }
    m.insert("created_at".into(), json!(secs(run.created_at)));
    m.insert("updated_at".into(), json!(secs(run.updated_at)));
    m.insert("started_at".into(), json!(run.started_at.map(secs)));
    m.insert("finished_at".into(), json!(run.finished_at.map(secs)));
    m.insert("background".into(), json!(run.background));
    m.insert("event_count".into(), json!(run.event_count));
    m.insert("cancel_requested".into(), json!(run.cancel_requested));
    m
}

/// A run as JSON text with its stored events spliced in verbatim.
pub(crate) fn run_json(
    run: &RunRecord,
    component_name: Option<&str>,
    events: &[StoredEvent],
    webhook_deliveries: Option<Vec<Value>>,
) -> String {
    let mut object = run_object(run, component_name);
    if let Some(d) = webhook_deliveries {
        object.insert("webhook_url".into(), json!(run.webhook_url));
        object.insert("webhook_deliveries".into(), Value::Array(d));
    }
    let object = Value::Object(object).to_string();
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

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_749_556_800), "2025-06-10T12:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
