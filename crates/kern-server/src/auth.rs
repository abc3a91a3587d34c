//! Authentication: who is calling.
//!
//! A middleware resolves each request's credentials into a [`Caller`] (stored as a request
//! extension, read by handlers as an extractor) or refuses it with 401 JSON. Two schemes,
//! either or both:
//!
//! - the AgentOS **security key** (`Authorization: Bearer <key>`, compared in constant time):
//!   an operator, who sees every run and session;
//! - **JWT** ([`JwtConfig`]: HS256 with a shared secret and/or RS256 with a PEM public key;
//!   `exp` required and checked, optional audience and issuer): the token's `sub` is the
//!   caller's `user_id`, and the handlers show, cancel and resume only that user's runs and
//!   sessions (others' answer 404, as if they did not exist). A token whose `scopes` claim
//!   (a JSON array of strings, or one space-separated string) or `scope` claim (the OAuth 2
//!   form: a space-separated string) names `admin` (or Agno's `agent_os:admin`) is an
//!   operator's: [`Caller::admin`], which the operator routes (`/queue/…`) require of JWT
//!   callers.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::convert::Infallible;

/// JWT verification settings: which keys, and which audience and issuer to require.
#[derive(Clone)]
pub struct JwtConfig {
    hs256: Option<DecodingKey>,
    rs256: Option<DecodingKey>,
    audience: Option<String>,
    issuer: Option<String>,
    leeway_secs: u64,
}

/// A JWT key that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid JWT key: {0}")]
pub struct JwtKeyError(String);

impl JwtConfig {
    /// Accepts HS256 tokens signed with `secret`.
    pub fn hs256(secret: impl AsRef<[u8]>) -> Self {
        Self::empty().with_hs256(secret)
    }

    /// Accepts RS256 tokens signed by the private key of this PEM public key (`BEGIN PUBLIC
    /// KEY` or `BEGIN RSA PUBLIC KEY`).
    pub fn rs256_pem(pem: impl AsRef<[u8]>) -> Result<Self, JwtKeyError> {
        Self::empty().with_rs256_pem(pem)
    }

    fn empty() -> Self {
        Self {
            hs256: None,
            rs256: None,
            audience: None,
            issuer: None,
            leeway_secs: 30,
        }
    }

    /// Also accepts HS256 tokens signed with `secret`.
    pub fn with_hs256(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.hs256 = Some(DecodingKey::from_secret(secret.as_ref()));
        self
    }

    /// Also accepts RS256 tokens verified by this PEM public key.
    pub fn with_rs256_pem(mut self, pem: impl AsRef<[u8]>) -> Result<Self, JwtKeyError> {
        self.rs256 =
            Some(DecodingKey::from_rsa_pem(pem.as_ref()).map_err(|e| JwtKeyError(e.to_string()))?);
        Ok(self)
    }

    /// Requires the `aud` claim to contain `aud`.
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audience = Some(aud.into());
        self
    }

    /// Requires the `iss` claim to be `iss`.
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuer = Some(iss.into());
        self
    }

    /// Clock skew tolerated on `exp` and `nbf`, in seconds (default 30).
    pub fn leeway_secs(mut self, secs: u64) -> Self {
        self.leeway_secs = secs;
        self
    }

    /// Verifies a token; returns its subject and whether its scopes name the admin scope.
    fn verify(&self, token: &str) -> Result<(String, bool), ApiError> {
        let bad = ApiError::Unauthorized("Invalid authentication credentials");
        let header = jsonwebtoken::decode_header(token).map_err(|_| bad)?;
        let key = match header.alg {
            Algorithm::HS256 => self.hs256.as_ref(),
            Algorithm::RS256 => self.rs256.as_ref(),
            _ => None,
        }
        .ok_or(ApiError::Unauthorized(
            "Invalid token: algorithm not accepted by this server",
        ))?;
        let mut v = Validation::new(header.alg);
        v.leeway = self.leeway_secs;
        v.validate_exp = true;
        v.validate_nbf = true;
        v.set_required_spec_claims(&["exp", "sub"]);
        match &self.audience {
            Some(a) => v.set_audience(&[a]),
            None => v.validate_aud = false,
        }
        if let Some(i) = &self.issuer {
            v.set_issuer(&[i]);
        }
        let data = jsonwebtoken::decode::<Claims>(token, key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            ApiError::Unauthorized(match e.kind() {
                ErrorKind::ExpiredSignature => "Invalid token: expired",
                ErrorKind::InvalidSignature => "Invalid token: bad signature",
                ErrorKind::InvalidAudience => "Invalid token: wrong audience",
                ErrorKind::InvalidIssuer => "Invalid token: wrong issuer",
                ErrorKind::ImmatureSignature => "Invalid token: not valid yet",
                ErrorKind::MissingRequiredClaim(_) => "Invalid token: missing exp or sub",
                _ => "Invalid authentication credentials",
            })
        })?;
        let sub = data.claims.sub.trim();
        if sub.is_empty() {
            return Err(ApiError::Unauthorized("Invalid token: empty sub"));
        }
        Ok((sub.to_owned(), data.claims.is_admin()))
    }
}

/// The scope names that make a JWT caller an operator: Kern's `admin`, and Agno's default
/// admin scope.
pub(crate) const ADMIN_SCOPES: [&str; 2] = ["admin", "agent_os:admin"];

#[derive(serde::Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    scopes: Option<Scopes>,
    #[serde(default)]
    scope: Option<Scopes>,
}

impl Claims {
    /// Whether the `scopes` or `scope` claim names an admin scope.
    fn is_admin(&self) -> bool {
        [&self.scopes, &self.scope]
            .into_iter()
            .flatten()
            .any(Scopes::has_admin)
    }
}

/// A scopes claim: a list of names, or one string of space-separated names. Any other JSON
/// grants nothing (it does not make the token invalid).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Scopes {
    List(Vec<serde_json::Value>),
    Text(String),
    Other(serde::de::IgnoredAny),
}

impl Scopes {
    fn has_admin(&self) -> bool {
        let admin = |s: &str| ADMIN_SCOPES.contains(&s);
        match self {
            Scopes::List(items) => items.iter().filter_map(|v| v.as_str()).any(admin),
            Scopes::Text(s) => s.split_whitespace().any(admin),
            Scopes::Other(_) => false,
        }
    }
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("hs256", &self.hs256.is_some())
            .field("rs256", &self.rs256.is_some())
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .finish()
    }
}

/// How the server authenticates requests.
#[derive(Clone, Default)]
pub(crate) struct Auth {
    /// The operator's key: sees everything.
    pub(crate) security_key: Option<String>,
    /// End users' tokens: see their own runs and sessions.
    pub(crate) jwt: Option<JwtConfig>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field(
                "security_key",
                &self.security_key.as_ref().map(|_| "<redacted>"),
            )
            .field("jwt", &self.jwt)
            .finish()
    }
}

impl Auth {
    /// True when callers must present credentials.
    pub(crate) fn required(&self) -> bool {
        self.security_key.is_some() || self.jwt.is_some()
    }

    /// `"none"`, `"security_key"`, `"jwt"` or `"security_key+jwt"`.
    pub(crate) fn mode(&self) -> &'static str {
        match (self.security_key.is_some(), self.jwt.is_some()) {
            (false, false) => "none",
            (true, false) => "security_key",
            (false, true) => "jwt",
            (true, true) => "security_key+jwt",
        }
    }

    /// Checks a bearer token (the WebSocket's `authenticate` action uses this too).
    pub(crate) fn verify_token(&self, token: &str) -> Result<Caller, ApiError> {
        if !self.required() {
            return Ok(Caller::anonymous());
        }
        if let Some(key) = &self.security_key {
            if constant_time_eq(token.as_bytes(), key.as_bytes()) {
                return Ok(Caller {
                    authenticated: true,
                    user_id: None,
                    admin: true,
                });
            }
        }
        match &self.jwt {
            Some(jwt) if token.matches('.').count() == 2 => {
                let (user_id, admin) = jwt.verify(token)?;
                Ok(Caller {
                    authenticated: true,
                    user_id: Some(user_id),
                    admin,
                })
            }
            _ => Err(ApiError::Unauthorized("Invalid authentication credentials")),
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
    /// The user the credentials name (a JWT's `sub`). `None` for the security key and on an
    /// open server: such callers see every run and session.
    pub user_id: Option<String>,
    /// Whether the credentials are the operator's: the security key, or a JWT whose
    /// `scopes`/`scope` claim names `admin` (or `agent_os:admin`). An admin JWT caller still
    /// sees only their own runs on the component and session routes; the flag opens the
    /// operator routes (`/queue/…`).
    pub admin: bool,
}

impl Caller {
    pub(crate) fn anonymous() -> Self {
        Self::default()
    }

    /// Whether this caller may use the operator routes (`/queue/…`): on an open server or
    /// with the security key anyone who got in may; a JWT caller needs the admin scope.
    pub fn is_operator(&self) -> bool {
        self.user_id.is_none() || self.admin
    }

    /// Whether this caller may see something owned by `owner` (a run's or session's
    /// `user_id`): a user sees only their own; the operator and open servers see everything.
    pub fn may_see(&self, owner: Option<&str>) -> bool {
        match &self.user_id {
            None => true,
            Some(me) => owner == Some(me.as_str()),
        }
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

/// Routes reachable without credentials: `/health`, the WebSocket (it authenticates in its
/// own protocol), and `/metrics` unless the server protects it.
fn is_public(path: &str, state: &AppState) -> bool {
    path == "/health" || path == "/workflows/ws" || (path == "/metrics" && !state.protect_metrics)
}

/// The authentication middleware.
pub(crate) async fn middleware(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    if is_public(req.uri().path(), &state) {
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
        let auth = Auth {
            security_key: Some("k3y".into()),
            jwt: None,
        };
        let mut h = HeaderMap::new();
        assert!(auth.authenticate(&h).is_err());
        h.insert(header::AUTHORIZATION, "Bearer nope".parse().unwrap());
        assert!(auth.authenticate(&h).is_err());
        h.insert(header::AUTHORIZATION, "Bearer k3y".parse().unwrap());
        assert!(auth.authenticate(&h).unwrap().authenticated);
        assert!(Auth::default().authenticate(&HeaderMap::new()).is_ok());
    }

    #[test]
    fn the_admin_scope_is_read_from_scopes_or_scope() {
        let has = |claims: serde_json::Value| {
            serde_json::from_value::<Claims>(claims).unwrap().is_admin()
        };
        assert!(has(
            serde_json::json!({"sub": "u", "scopes": ["read", "admin"]})
        ));
        assert!(has(serde_json::json!({"sub": "u", "scopes": "read admin"})));
        assert!(has(
            serde_json::json!({"sub": "u", "scope": "openid agent_os:admin"})
        ));
        assert!(!has(
            serde_json::json!({"sub": "u", "scopes": ["administrator", "read"]})
        ));
        assert!(!has(serde_json::json!({"sub": "u", "scope": "readadmin"})));
        assert!(!has(
            serde_json::json!({"sub": "u", "scopes": {"admin": true}})
        ));
        assert!(!has(serde_json::json!({"sub": "u"})));
        let key = Auth {
            security_key: Some("k".into()),
            jwt: None,
        };
        assert!(key.verify_token("k").unwrap().is_operator());
        assert!(Caller::anonymous().is_operator());
        let user = Caller {
            authenticated: true,
            user_id: Some("u".into()),
            admin: false,
        };
        assert!(!user.is_operator());
    }
}
