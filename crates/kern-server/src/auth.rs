//! Authentication: who is calling.
//!
//! A middleware resolves each request's credentials into a [`Caller`] (stored as a request
//! extension, read by handlers as an extractor) or refuses it with 401 JSON. Today the only
//! scheme is the AgentOS security key (`Authorization: Bearer <key>`, compared in constant
//! time); JWT verification slots in as another [`Auth`] scheme producing a `Caller` with a
//! `user_id`, without touching the handlers.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;

/// How the server authenticates requests.
#[derive(Clone, Default)]
pub(crate) enum Auth {
    /// Everyone may call every route.
    #[default]
    Open,
    /// Every route but `/health` needs `Authorization: Bearer <key>`.
    SecurityKey(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Open => f.write_str("Open"),
            Auth::SecurityKey(_) => f.write_str("SecurityKey(<redacted>)"),
        }
    }
}

impl Auth {
    /// True when callers must present credentials.
    pub(crate) fn required(&self) -> bool {
        !matches!(self, Auth::Open)
    }

    /// `"none"` or `"security_key"` (AgentOS's `auth_mode`).
    pub(crate) fn mode(&self) -> &'static str {
        match self {
            Auth::Open => "none",
            Auth::SecurityKey(_) => "security_key",
        }
    }

    /// Checks a bearer token (the WebSocket's `authenticate` action uses this too).
    pub(crate) fn verify_token(&self, token: &str) -> Result<Caller, ApiError> {
        match self {
            Auth::Open => Ok(Caller::anonymous()),
            Auth::SecurityKey(key) => {
                if constant_time_eq(token.as_bytes(), key.as_bytes()) {
                    Ok(Caller {
                        authenticated: true,
                        user_id: None,
                    })
                } else {
                    Err(ApiError::Unauthorized("Invalid authentication credentials"))
                }
            }
        }
    }

    /// Resolves a request's headers into a caller.
    pub(crate) fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if !self.required() {
            return Ok(Caller::anonymous());
        }
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::Unauthorized("Authorization header required"))?
            .to_str()
            .map_err(|_| ApiError::Unauthorized("Invalid authentication credentials"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(ApiError::Unauthorized(
                "Invalid authorization header: expected `Bearer <key>`",
            ))?;
        self.verify_token(token.trim())
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // Fold the length difference in, and always walk the longer input, so neither the
    // position of the first difference nor a length mismatch returns early.
    let n = a.len().max(b.len());
    let mut diff = (a.len() ^ b.len()) as u8 | ((a.len() ^ b.len()) >> 8) as u8;
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0 && a.len() == b.len()
}

/// The identity behind a request.
#[derive(Clone, Debug, Default)]
pub struct Caller {
    /// Whether the caller presented valid credentials.
    pub authenticated: bool,
    /// The user the credentials name (set by JWT authentication, which comes later; `None`
    /// with a security key).
    pub user_id: Option<String>,
}

impl Caller {
    fn anonymous() -> Self {
        Self::default()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or_default())
    }
}

/// Routes reachable without credentials: `/health`, and the WebSocket (it authenticates in
/// its own protocol).
fn is_public(path: &str) -> bool {
    path == "/health" || path == "/workflows/ws"
}

/// The authentication middleware.
pub(crate) async fn middleware(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    if is_public(req.uri().path()) {
        return next.run(req).await;
    }
    match state.auth.authenticate(req.headers()) {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_exactly() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
        // Lengths differing by a multiple of 256 are still different.
        assert!(!constant_time_eq(&[0u8; 256], b""));
    }

    #[test]
    fn bearer_tokens_are_checked() {
        let auth = Auth::SecurityKey("k3y".into());
        let mut h = HeaderMap::new();
        assert!(auth.authenticate(&h).is_err());
        h.insert(header::AUTHORIZATION, "Bearer nope".parse().unwrap());
        assert!(auth.authenticate(&h).is_err());
        h.insert(header::AUTHORIZATION, "Bearer k3y".parse().unwrap());
        assert!(auth.authenticate(&h).unwrap().authenticated);
        assert!(Auth::Open.authenticate(&HeaderMap::new()).is_ok());
    }
}
