//! Creating a run: the decoded form, its idempotency key and the checks every entry point
//! applies before the engine is asked. Shared by `routes/runs.rs` and `ws.rs`.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::form::Fields;
use kern_core::engine::RunRequest;
use kern_core::store::ComponentKind;
use serde_json::{json, Value};

/// The run-creation form, decoded.
pub(crate) struct CreateRun {
    pub(crate) stream: bool,
    pub(crate) background: bool,
    pub(crate) request: RunRequest,
}

pub(crate) fn create_run_form(fields: &Fields, caller: &Caller) -> ApiResult<CreateRun> {
    let input = fields.message()?;
    let stream = fields.bool("stream", true)?;
    let background = fields.bool("background", false)?;
    let session_id = fields.session_id()?;
    let user_id = caller
        .user_id
        .clone()
        .map(Some)
        .map_or_else(|| fields.opt_string("user_id"), Ok)?;
    let session_state = fields.json("session_state", true)?;
    let dependencies = fields.json("dependencies", true)?;
    let mut metadata = fields.json("metadata", true)?;
    let additional_data = fields.json("additional_data", false)?;
    let webhook_url = match fields.opt_string("webhook_url")? {
        None => None,
        Some(u) => Some(check_webhook_url(&u)?),
    };
    if let Some(deps) = dependencies {
        // The engine has no field for dependencies yet: they ride in the metadata.
        if let Value::Object(m) = metadata.get_or_insert_with(|| json!({})) {
            m.insert("dependencies".into(), deps);
        }
    }
    Ok(CreateRun {
        stream,
        background,
        request: RunRequest {
            input,
            session_id,
            user_id,
            additional_data,
            session_state,
            metadata,
            webhook_url,
            ..Default::default()
        },
    })
}

/// A webhook URL must be an absolute `http(s)://` URL.
pub(crate) fn check_webhook_url(u: &str) -> ApiResult<String> {
    let t = u.trim();
    let ok = (t.starts_with("http://") || t.starts_with("https://"))
        && t.len() <= 2048
        && !t.chars().any(|c| c.is_whitespace() || c.is_control())
        && t.split("://")
            .nth(1)
            .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    if ok {
        Ok(t.to_owned())
    } else {
        Err(ApiError::InvalidField {
            field: "webhook_url".into(),
            reason: "expected an absolute http:// or https:// URL".into(),
        })
    }
}

/// JSON with object keys sorted at every level (a stable text for hashing).
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), canonical(&m[*k])))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// The `Idempotency-Key` header, scoped to the caller (users never share keys), with a hash
/// of the normalised request: the component and every decoded field, so the same request in
/// another encoding (form or JSON, fields in another order) is the same request.
pub(crate) fn idempotency(
    headers: &axum::http::HeaderMap,
    caller: &Caller,
    kind: ComponentKind,
    id: &str,
    form: &CreateRun,
) -> ApiResult<Option<kern_core::store::Idempotency>> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = |reason: &str| ApiError::InvalidField {
        field: "Idempotency-Key".into(),
        reason: reason.into(),
    };
    let key = v.to_str().map_err(|_| bad("not visible ASCII"))?.trim();
    if key.is_empty() || key.len() > 255 {
        return Err(bad("expected 1 to 255 characters"));
    }
    let r = &form.request;
    let normalised = json!({
        "kind": kind.as_str(),
        "component_id": id,
        "stream": form.stream,
        "background": form.background,
        "input": r.input,
        "session_id": r.session_id,
        "user_id": r.user_id,
        "session_state": r.session_state,
        "metadata": r.metadata,
        "additional_data": r.additional_data,
        "webhook_url": r.webhook_url,
    });
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical(&normalised).as_bytes());
    let hash: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let scope = caller.user_id.as_deref().unwrap_or("");
    Ok(Some(kern_core::store::Idempotency {
        key: format!("{scope}\u{1f}{key}"),
        request_hash: hash,
    }))
}
