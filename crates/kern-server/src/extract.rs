//! Extractors whose rejections are JSON errors, and the query parameters several handlers
//! share. Shared by every handler module and the WebSocket (see `routes/mod.rs`).

use crate::error::{ApiError, ApiResult};
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use kern_core::store::RunStatus;
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// `Path` with a JSON 404 rejection.
pub(crate) struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| ApiPath(t))
            .map_err(|_| ApiError::RouteNotFound)
    }
}

/// `Query` with a JSON 422 rejection.
pub(crate) struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(t)| ApiQuery(t))
            .map_err(|e| ApiError::InvalidField {
                field: "query".into(),
                reason: e.body_text(),
            })
    }
}

/// A boolean query parameter (`true/false`, `1/0`, `yes/no`, `on/off`; absent or empty:
/// `default`).
pub(crate) fn query_flag(value: Option<&str>, name: &str, default: bool) -> ApiResult<bool> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(_) => Err(ApiError::InvalidField {
            field: name.into(),
            reason: "expected true or false".into(),
        }),
    }
}

/// A run status filter (the wire names, `PENDING` … `PAUSED`; absent or empty: none).
pub(crate) fn parse_status(s: Option<&str>) -> ApiResult<Option<RunStatus>> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| ApiError::InvalidField {
            field: "status".into(),
            reason: format!(
                "unknown status {s:?} (PENDING, RUNNING, COMPLETED, ERROR, CANCELLED, PAUSED)"
            ),
        }),
    }
}

/// The query of a run listing (`GET /{kind}/{id}/runs`, `GET /sessions/{id}/runs`).
#[derive(Deserialize, Default)]
pub(crate) struct ListRunsQuery {
    /// Only the runs of this session.
    pub(crate) session_id: Option<String>,
    /// Only the runs with this status (see [`parse_status`]).
    pub(crate) status: Option<String>,
    /// Only this user's runs (a JWT user lists only their own).
    pub(crate) user_id: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub(crate) limit: Option<usize>,
    /// Skip this many.
    pub(crate) offset: Option<usize>,
    /// Whether each listed run carries its events (default false).
    pub(crate) include_events: Option<String>,
}
