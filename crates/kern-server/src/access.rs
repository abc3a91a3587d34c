//! What a caller may reach: components named by a path, runs and sessions. Another user's run
//! or session is not found (a JWT user sees only their own). Shared by every handler module
//! and the WebSocket (see `routes/mod.rs`).

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::form::check_session_id;
use crate::wire::kind_from_plural;
use crate::AppState;
use kern_core::engine::Component;
use kern_core::store::{ComponentKind, RunId, RunRecord, SessionRecord, StoredEvent};
use std::sync::Arc;

/// The kind named by a path's first segment (`agents`, `teams`, `workflows`).
pub(crate) fn kind_of(seg: &str) -> ApiResult<ComponentKind> {
    kind_from_plural(seg).ok_or(ApiError::RouteNotFound)
}

/// The registered component named by a path's kind segment and id (an unknown kind is
/// [`ApiError::RouteNotFound`], an unknown id [`ApiError::ComponentNotFound`]).
pub(crate) fn component(st: &AppState, seg: &str, id: &str) -> ApiResult<Arc<dyn Component>> {
    let kind = kind_of(seg)?;
    st.engine
        .component(kind, id)
        .map_err(|_| ApiError::ComponentNotFound {
            kind,
            id: id.to_owned(),
        })
}

/// A run id from a path (a malformed one is not found).
pub(crate) fn parse_run_id(s: &str) -> ApiResult<RunId> {
    RunId::parse_str(s.trim()).map_err(|_| ApiError::RunNotFound)
}

/// The run, if it exists, belongs to this component (and session, when given) and the caller
/// may see it.
pub(crate) async fn find_run(
    st: &AppState,
    caller: &Caller,
    kind: ComponentKind,
    id: &str,
    run_id: &str,
    session_id: Option<&str>,
) -> ApiResult<Option<RunRecord>> {
    let Ok(run_id) = parse_run_id(run_id) else {
        return Ok(None);
    };
    let run = st.engine.get_run(run_id).await?;
    Ok(run.filter(|r| visible(r, caller, kind, id, session_id)))
}

/// [`find_run`] with the run's whole log, read together in one call (what `GET` of a run
/// shows; one read instead of a read of the run and then of its events).
pub(crate) async fn find_run_with_events(
    st: &AppState,
    caller: &Caller,
    kind: ComponentKind,
    id: &str,
    run_id: &str,
    session_id: Option<&str>,
) -> ApiResult<Option<(Arc<RunRecord>, Arc<Vec<StoredEvent>>)>> {
    let Ok(run_id) = parse_run_id(run_id) else {
        return Ok(None);
    };
    let found = st.engine.run_with_events_shared(run_id).await?;
    Ok(found.filter(|(r, _)| visible(r, caller, kind, id, session_id)))
}

/// Whether the run belongs to this component (and session, when given) and the caller may
/// see it.
fn visible(
    r: &RunRecord,
    caller: &Caller,
    kind: ComponentKind,
    id: &str,
    session_id: Option<&str>,
) -> bool {
    r.kind == kind
        && r.component_id == id
        && session_id.is_none_or(|s| s == r.session_id)
        && caller.may_see(r.user_id.as_deref())
}

/// The `user_id` filter of a listing: a user lists only their own (asking for another's gives
/// `None`: nothing); the operator lists what they ask for.
pub(crate) fn scoped_user(caller: &Caller, asked: Option<String>) -> Option<Option<String>> {
    let asked = asked.filter(|s| !s.is_empty());
    match (&caller.user_id, asked) {
        (None, asked) => Some(asked),
        (Some(me), Some(a)) if a != *me => None,
        (Some(me), _) => Some(Some(me.clone())),
    }
}

/// A session the caller may see (another user's is [`ApiError::SessionNotFound`]).
pub(crate) async fn visible_session(
    st: &AppState,
    caller: &Caller,
    session_id: &str,
) -> ApiResult<SessionRecord> {
    check_session_id(session_id)?;
    st.engine
        .get_session(session_id)
        .await?
        .filter(|s| caller.may_see(s.user_id.as_deref()))
        .ok_or(ApiError::SessionNotFound)
}
