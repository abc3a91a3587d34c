//! Cross-origin requests from browsers (CORS), as AgentOS allows them.
//!
//! Browser clients written for AgentOS (Agno's Agent UI on `http://localhost:3000`, Agno's
//! control plane) live on another origin than the server, so every request they make is
//! checked by the browser: a *preflight* `OPTIONS` first (for any request with an
//! `Authorization` header, a JSON body, or a method other than GET/POST), then the request,
//! whose response the page may read only if it names the page's origin.
//!
//! Policy (Agno's): a list of exact origins, by default Agno's own
//! ([`DEFAULT_ORIGINS`]); credentials allowed; any method and any request header allowed (the
//! preflight echoes what the browser asks for); a few response headers exposed. `*` in the list
//! allows every origin (each response names the caller's origin, never `*`, so credentials
//! still work). An empty list turns CORS off: no header is added and a preflight is an
//! ordinary request (405 or 404).
//!
//! Edge cases:
//! - This layer is outermost: a preflight never reaches authentication (browsers send no
//!   `Authorization` on a preflight), and error responses (401, 404, 429) carry the CORS
//!   headers too, so a page can read why it was refused.
//! - A preflight from an origin not in the list is answered `400 {"code":
//!   "cors_origin_not_allowed"}`; an ordinary request from such an origin is served without
//!   CORS headers (the browser then hides the response from the page), as Starlette does.
//! - Every response that depends on `Origin` says `Vary: Origin`, so caches keep them apart.

use axum::extract::Request;
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// The origins AgentOS allows by default: a local Agent UI and Agno's hosted UIs.
pub const DEFAULT_ORIGINS: &[&str] = &[
    "http://localhost:3000",
    "https://agno.com",
    "https://www.agno.com",
    "https://app.agno.com",
    "https://os-stg.agno.com",
    "https://os.agno.com",
];

/// Methods a preflight is told are allowed when it does not name one.
const METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";

/// Response headers a page may read besides the safe ones.
const EXPOSED: &str = "Retry-After, Content-Type, Content-Length, Location";

/// Which origins may call the server from a browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorsOrigins {
    exact: Vec<String>,
    any: bool,
}

impl CorsOrigins {
    /// Agno's defaults ([`DEFAULT_ORIGINS`]).
    pub fn agno_defaults() -> Self {
        Self::list(DEFAULT_ORIGINS.iter().copied())
    }

    /// These origins (`scheme://host[:port]`, compared exactly after trimming a trailing `/`);
    /// `*` allows every origin; an empty list allows none (CORS off).
    pub fn list<I, S>(origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut exact = Vec::new();
        let mut any = false;
        for o in origins {
            let o = o.as_ref().trim().trim_end_matches('/');
            match o {
                "" => {}
                "*" => any = true,
                o if !exact.iter().any(|e| e == o) => exact.push(o.to_owned()),
                _ => {}
            }
        }
        Self { exact, any }
    }

    /// Whether CORS is off (no origin allowed).
    pub fn is_off(&self) -> bool {
        !self.any && self.exact.is_empty()
    }

    /// Whether a page on `origin` may call the server.
    pub fn allows(&self, origin: &str) -> bool {
        self.any || self.exact.iter().any(|e| e == origin)
    }
}

impl Default for CorsOrigins {
    fn default() -> Self {
        Self::agno_defaults()
    }
}

/// CORS for one request (see the module docs): the origin to answer, if any. Taken before the
/// request goes in ([`Cors::of`]); [`Cors::preflight`] answers a preflight, which never
/// reaches the routes; [`Cors::decorate`] adds the headers to any other response.
pub(crate) struct Cors(Option<String>);

impl Cors {
    /// The request's `Origin`, unless CORS is off or the request has none (not a
    /// cross-origin browser request).
    pub(crate) fn of(origins: &CorsOrigins, req: &Request) -> Self {
        if origins.is_off() {
            return Self(None);
        }
        Self(
            req.headers()
                .get(ORIGIN)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        )
    }

    /// The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`).
    pub(crate) fn preflight(&self, origins: &CorsOrigins, req: &Request) -> Option<Response> {
        let origin = self.0.as_deref()?;
        let preflight = req.method() == Method::OPTIONS
            && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
        preflight.then(|| preflight_response(origins, origin, req.headers()))
    }

    /// `response` with the CORS headers its request calls for.
    pub(crate) fn decorate(self, origins: &CorsOrigins, mut response: Response) -> Response {
        let Some(origin) = self.0 else {
            return response;
        };
        let headers = response.headers_mut();
        append_vary_origin(headers);
        if origins.allows(&origin) {
            allow(headers, &origin);
            headers.insert(
                ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSED),
            );
        }
        response
    }
}

fn preflight_response(origins: &CorsOrigins, origin: &str, asked: &HeaderMap) -> Response {
    if !origins.allows(origin) {
        let mut r = (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({
                "detail": format!("Disallowed CORS origin: {origin}"),
                "code": "cors_origin_not_allowed",
            })),
        )
            .into_response();
        append_vary_origin(r.headers_mut());
        return r;
    }
    let mut r = StatusCode::OK.into_response();
    let headers = r.headers_mut();
    allow(headers, origin);
    append_vary_origin(headers);
    headers.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(METHODS),
    );
    // Any request header is allowed: echo what the browser asks for.
    if let Some(h) = asked.get(ACCESS_CONTROL_REQUEST_HEADERS) {
        headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, h.clone());
    }
    headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    r
}

fn allow(headers: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, v);
        headers.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
}

fn append_vary_origin(headers: &mut HeaderMap) {
    headers.append(VARY, HeaderValue::from_static("Origin"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_exact_and_star_means_any() {
        let o = CorsOrigins::list(["http://localhost:3000/", "", "https://x.dev"]);
        assert!(o.allows("http://localhost:3000"));
        assert!(!o.allows("http://localhost:3001"));
        assert!(!o.allows("https://x.dev.evil.com"));
        assert!(CorsOrigins::list(["*"]).allows("https://anything.example"));
        assert!(CorsOrigins::list(Vec::<String>::new()).is_off());
        assert!(CorsOrigins::default().allows("https://os.agno.com"));
    }
}
