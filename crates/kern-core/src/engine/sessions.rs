//! Sessions as the engine serves them: read, listed a page at a time, renamed, deleted.
//!
//! A session is made by the first run that names it (or that names none: the engine makes an
//! id) and lives as long as one of its runs does. Its `kind`, `component_id` and `user_id`
//! are the first run's. These methods are the server's view of sessions: it never reads the
//! store itself (ARCHITECTURE.md, kern-server).

use super::Engine;
use crate::error::EngineResult;
use kern_store::{SessionFilter, SessionRecord};
use serde_json::Value;
use std::collections::HashMap;

/// One page of a session listing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionPage {
    /// The sessions of the page, in the filter's order.
    pub sessions: Vec<SessionRecord>,
    /// How many sessions match the filter's conditions (`kind`, `component_id`, `user_id`),
    /// whatever its `limit` and `offset`.
    pub total: u64,
}

impl Engine {
    /// One session, or `None` when no run ever named it or it was deleted. The id is
    /// compared exactly (no trimming, case matters); any string is a valid question.
    pub async fn get_session(&self, session_id: &str) -> EngineResult<Option<SessionRecord>> {
        Ok(self.inner.store.get_session(session_id).await?)
    }

    /// A page of the sessions matching `filter`, sorted by its `sort_by` (ties broken by
    /// session id in the same direction), with the total for paging. The total is read with
    /// the page, so the two agree; an offset past the end gives an empty page and the total.
    /// `limit: None` is 20.
    pub async fn list_sessions(&self, filter: &SessionFilter) -> EngineResult<SessionPage> {
        let (sessions, total) = self.inner.store.list_sessions(filter).await?;
        Ok(SessionPage { sessions, total })
    }

    /// For each of `session_ids`, the input of its first top-level run (the oldest by
    /// creation time, then run id; child runs, such as a team's members, never count): what
    /// a session without a name is shown by. One store read for the whole list, so a page of
    /// sessions costs one query, not one per session. Unknown ids, sessions with only child
    /// runs, and runs stored without an input are absent from the map; an id given twice is
    /// answered once. An empty list reads nothing.
    pub async fn first_inputs(
        &self,
        session_ids: &[String],
    ) -> EngineResult<HashMap<String, Value>> {
        Ok(self.inner.store.first_inputs(session_ids).await?)
    }

    /// Sets a session's display name (any string, kept as given; an empty one too) and bumps
    /// its `updated_at`; returns the session as it now is. An unknown session fails with
    /// [`StoreError::SessionNotFound`](kern_store::StoreError::SessionNotFound) (in
    /// [`EngineError::Store`](crate::EngineError::Store)).
    pub async fn rename_session(
        &self,
        session_id: &str,
        name: &str,
    ) -> EngineResult<SessionRecord> {
        Ok(self.inner.store.rename_session(session_id, name).await?)
    }

    /// Deletes a session with every run in it (child runs included), their events,
    /// checkpoints, idempotency keys and webhook deliveries; returns how many runs went.
    /// Refused, deleting nothing, while a run of the session is pending, running or paused
    /// ([`StoreError::SessionBusy`](kern_store::StoreError::SessionBusy): cancel or wait
    /// first); an unknown session fails with
    /// [`StoreError::SessionNotFound`](kern_store::StoreError::SessionNotFound) (both in
    /// [`EngineError::Store`](crate::EngineError::Store)). A run started in the session
    /// meanwhile either makes the delete busy or lands after it, making the session anew.
    pub async fn delete_session(&self, session_id: &str) -> EngineResult<u64> {
        let deleted = self.inner.store.delete_session(session_id).await?;
        // Its runs are gone; which of them had views is not worth a lookup.
        self.inner.views.forget_all();
        Ok(deleted)
    }
}
