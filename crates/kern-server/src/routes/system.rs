//! The system routes (`/health`, `/config`, `/openapi.json`) and the component routes
//! (`GET /{kind}`, `GET /{kind}/{id}`).

use crate::access::{component, kind_of};
use crate::error::ApiResult;
use crate::extract::ApiPath;
use crate::{openapi, wire, AppState};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use kern_core::store::ComponentKind;
use serde_json::{json, Value};

/// `/health`, `/config`, `/openapi.json`, `GET /{kind}` and `GET /{kind}/{id}`.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/config", get(config))
        .route("/openapi.json", get(openapi_doc))
        .route("/{kind}", get(list_components))
        .route("/{kind}/{id}", get(get_component))
}

/// `GET /health`.
async fn health(State(st): State<AppState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "instantiated_at": wire::rfc3339(st.instantiated_at),
    }))
}

/// The database's id in `/config` and component documents (the backend's name).
fn db_id(st: &AppState) -> &'static str {
    st.engine.backend()
}

/// The registered components of a kind, as `/config` and `GET /{kind}` list them.
fn summaries(st: &AppState, kind: ComponentKind) -> Vec<Value> {
    st.engine
        .components(kind)
        .iter()
        .map(|c| wire::component_summary(&**c, db_id(st)))
        .collect()
}

/// `GET /config`: the OS, its models, databases and components.
async fn config(State(st): State<AppState>) -> Json<Value> {
    let db = db_id(&st);
    let mut models: Vec<Value> = Vec::new();
    for kind in [ComponentKind::Agent, ComponentKind::Team] {
        for c in st.engine.components(kind) {
            if let Some(m) = c.info().get("model") {
                if !models.contains(m) {
                    models.push(m.clone());
                }
            }
        }
    }
    Json(json!({
        "os_id": st.os_id,
        "name": st.name,
        "description": st.description,
        "available_models": models,
        "os_database": db,
        "databases": [db],
        "agents": summaries(&st, ComponentKind::Agent),
        "teams": summaries(&st, ComponentKind::Team),
        "workflows": summaries(&st, ComponentKind::Workflow),
        "interfaces": [],
        "company": null,
        "queue": { "durable": st.engine.is_durable(), "queue_per_session": false },
        "auth_mode": st.auth.mode(),
        "kern": {
            "version": env!("CARGO_PKG_VERSION"),
            "backend": db,
            "durable": st.engine.is_durable(),
        },
    }))
}

/// `GET /openapi.json`.
async fn openapi_doc() -> Json<Value> {
    Json(openapi::document())
}

/// `GET /{kind}`.
async fn list_components(
    State(st): State<AppState>,
    ApiPath(seg): ApiPath<String>,
) -> ApiResult<Json<Vec<Value>>> {
    let kind = kind_of(&seg)?;
    Ok(Json(summaries(&st, kind)))
}

/// `GET /{kind}/{id}`.
async fn get_component(
    State(st): State<AppState>,
    ApiPath((seg, id)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    let c = component(&st, &seg, &id)?;
    Ok(Json(wire::component_detail(&*c, db_id(&st))))
}
