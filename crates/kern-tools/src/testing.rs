//! A local fake of the Hacker News, Yahoo Finance, DuckDuckGo, Google Programmable Search and
//! Exa endpoints the toolkits use, for tests and examples that must not touch the network
//! (feature `testing`).
//!
//! One [`FakeToolServer`] on `127.0.0.1` serves them all, with fixed, recorded-shape data (see
//! [`fixtures`]), records what it receives ([`FakeToolServer::requests`],
//! [`FakeToolServer::recorded_requests`] with headers and bodies), and can be told to fail
//! ([`FakeToolServer::fail_with`]) or to be slow ([`FakeToolServer::delay`]). The Google and
//! Exa fakes check the API key ([`fixtures::GOOGLE_API_KEY`], [`fixtures::EXA_API_KEY`]) and
//! answer a wrong one with the real APIs' error bodies.
//!
//! ```
//! use kern_tools::testing::FakeToolServer;
//! use kern_tools::{Toolkit, ToolContext};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let server = FakeToolServer::start().await;
//! let tools = server.hacker_news_tools().tools();
//! let top = &tools[0];
//! let out = top.call(serde_json::json!({"num_stories": 2}), ToolContext::default()).await.unwrap();
//! assert!(out.as_str().contains(kern_tools::testing::fixtures::TOP_STORY_TITLE));
//! # });
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::{DuckDuckGoTools, ExaTools, GoogleSearchTools, HackerNewsTools, YFinanceTools};

/// The data the fake server serves, for assertions.
pub mod fixtures {
    /// `topstories.json`: the first ids; the third (`40000`) is an item the API answers `null`
    /// for, which `get_top_hackernews_stories` skips (as Agno does).
    pub const TOP_STORY_IDS: [u64; 12] = [
        41001, 41002, 40000, 41003, 41004, 41005, 41006, 41007, 41008, 41009, 41010, 41011,
    ];
    /// The title of the top story (41001).
    pub const TOP_STORY_TITLE: &str = "Kern: a durable runtime for AI agents";
    /// The id of an "Ask HN" story with a `text` (41002).
    pub const ASK_STORY_ID: u64 = 41002;
    /// The top story's comments, in order: 51001, 51002 (deleted), 51003, 51004 (dead), 51005.
    pub const TOP_STORY_COMMENT_IDS: [u64; 5] = [51001, 51002, 51003, 51004, 51005];
    /// The text of the first comment, as plain text.
    pub const FIRST_COMMENT_TEXT: &str =
        "Durable runs are the feature I'd want.\n\nSee https://example.com/durable";
    /// A Hacker News user.
    pub const USER: &str = "pg";
    /// That user's karma.
    pub const USER_KARMA: u64 = 157_316;

    /// The symbol the Yahoo fake knows (others are 404, as Yahoo answers for unknown ones).
    pub const SYMBOL: &str = "AAPL";
    /// Its current price.
    pub const PRICE: f64 = 196.89;
    /// Its company name.
    pub const COMPANY_NAME: &str = "Apple Inc.";
    /// The daily closes of its history (one day has no trade and is `null` in Yahoo's answer).
    pub const DAILY_CLOSES: [f64; 4] = [194.48, 195.87, 196.89, 197.12];

    /// Results on the fake DuckDuckGo page (plus one ad, which is skipped).
    pub const SEARCH_RESULTS: usize = 8;
    /// A query the fake DuckDuckGo, Google and Exa find nothing for.
    pub const QUERY_WITHOUT_RESULTS: &str = "zzqx nothing at all";
    /// A query the fake DuckDuckGo answers with its rate-limit (captcha) page.
    pub const QUERY_THROTTLED: &str = "throttle me";
    /// News results the fake DuckDuckGo returns.
    pub const NEWS_RESULTS: usize = 6;

    /// The API key the fake Google accepts (others get Google's 400 "API key not valid").
    pub const GOOGLE_API_KEY: &str = "fake-google-api-key";
    /// The search engine id (`cx`) the fake Google accepts.
    pub const GOOGLE_CSE_ID: &str = "fake-cse-id";
    /// A query the fake Google answers with its 429 "Quota exceeded" error. (For
    /// [`QUERY_WITHOUT_RESULTS`] it answers without `items`, as Google does.)
    pub const QUERY_OVER_QUOTA: &str = "over quota";
    /// The result of the fake Google (1-based) that has no snippet.
    pub const GOOGLE_RESULT_WITHOUT_SNIPPET: usize = 3;

    /// The API key the fake Exa accepts (others get Exa's 401 `INVALID_API_KEY`).
    pub const EXA_API_KEY: &str = "fake-exa-api-key";
    /// The most results the fake Exa returns for a search or similar pages.
    pub const EXA_RESULTS: usize = 8;
    /// The length, in characters, of every page text of the fake Exa (it ignores
    /// `maxCharacters`, so the toolkit's own cut shows). The texts hold non-ASCII characters.
    pub const EXA_TEXT_CHARS: usize = 3000;
    /// URLs containing this are pages the fake Exa cannot read (`/contents` reports them in
    /// `statuses` as `CRAWL_NOT_FOUND`, HTTP 404).
    pub const EXA_UNREADABLE: &str = "unreadable";
}

/// A request the server received, for checking what a toolkit sent.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path and query string, e.g. `/exa/search` or `/google/customsearch/v1?key=…`.
    pub uri: String,
    /// The headers, names in lower case, in order of arrival.
    pub headers: Vec<(String, String)>,
    /// The body, as text (empty for a GET).
    pub body: String,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body parsed as JSON (`Value::Null` when it is empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The decoded query-string parameters, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let query = self.uri.split_once('?').map_or("", |(_, query)| query);
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    /// The first value of query-string parameter `name`.
    pub fn query(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }
}

/// What the server does with the next requests.
#[derive(Debug, Clone, Copy, Default)]
struct Mode {
    status: Option<u16>,
    delay: Option<Duration>,
}

#[derive(Debug, Default)]
struct Shared {
    mode: Mutex<Mode>,
    requests: Mutex<Vec<String>>,
    recorded: Mutex<Vec<RecordedRequest>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Bumped to invalidate Yahoo sessions.
    yahoo_generation: AtomicUsize,
}

impl Shared {
    fn crumb(&self) -> String {
        format!("fAkEcRuMb{}", self.yahoo_generation.load(Ordering::SeqCst))
    }

    fn cookie(&self) -> String {
        format!(
            "A3=d=AQABBfake{}&S=AQAAAfake",
            self.yahoo_generation.load(Ordering::SeqCst)
        )
    }
}

/// A fake of the toolkits' APIs on `127.0.0.1:<random port>`, running on the current Tokio
/// runtime until dropped.
#[derive(Debug)]
pub struct FakeToolServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeToolServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeToolServer {
    /// Starts the server on the current runtime.
    ///
    /// # Panics
    /// If no local port can be bound.
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake tool server to 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let app = router(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeToolServer { addr, shared, task }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Hacker News API root (like `https://hacker-news.firebaseio.com/v0`).
    pub fn hacker_news_url(&self) -> String {
        format!("http://{}/hn/v0", self.addr)
    }

    /// The Yahoo Finance host (like `https://query1.finance.yahoo.com`).
    pub fn yahoo_finance_url(&self) -> String {
        format!("http://{}/yahoo", self.addr)
    }

    /// The Yahoo cookie URL (like `https://fc.yahoo.com`).
    pub fn yahoo_cookie_url(&self) -> String {
        format!("http://{}/yahoo-cookie", self.addr)
    }

    /// The DuckDuckGo HTML search page (like `https://html.duckduckgo.com/html/`).
    pub fn duckduckgo_html_url(&self) -> String {
        format!("http://{}/ddg-html/html/", self.addr)
    }

    /// The DuckDuckGo main site (like `https://duckduckgo.com`).
    pub fn duckduckgo_url(&self) -> String {
        format!("http://{}/ddg/", self.addr)
    }

    /// The root of the fake Google APIs (like `https://www.googleapis.com`).
    pub fn google_search_url(&self) -> String {
        format!("http://{}/google", self.addr)
    }

    /// The root of the fake Exa API (like `https://api.exa.ai`).
    pub fn exa_url(&self) -> String {
        format!("http://{}/exa", self.addr)
    }

    /// [`HackerNewsTools`] pointed at this server, with a 5 s timeout.
    pub fn hacker_news_tools(&self) -> HackerNewsTools {
        HackerNewsTools::new()
            .base_url(self.hacker_news_url())
            .timeout(Duration::from_secs(5))
    }

    /// [`YFinanceTools`] pointed at this server, with a 5 s timeout.
    pub fn yfinance_tools(&self) -> YFinanceTools {
        YFinanceTools::new()
            .base_url(self.yahoo_finance_url())
            .cookie_url(self.yahoo_cookie_url())
            .timeout(Duration::from_secs(5))
    }

    /// [`DuckDuckGoTools`] pointed at this server, with a 5 s timeout.
    pub fn duckduckgo_tools(&self) -> DuckDuckGoTools {
        DuckDuckGoTools::new()
            .html_url(self.duckduckgo_html_url())
            .base_url(self.duckduckgo_url())
            .timeout(Duration::from_secs(5))
    }

    /// [`GoogleSearchTools`] pointed at this server, with the key and engine id it accepts
    /// ([`fixtures::GOOGLE_API_KEY`], [`fixtures::GOOGLE_CSE_ID`]) and a 5 s timeout.
    pub fn google_search_tools(&self) -> GoogleSearchTools {
        GoogleSearchTools::new()
            .base_url(self.google_search_url())
            .api_key(fixtures::GOOGLE_API_KEY)
            .cse_id(fixtures::GOOGLE_CSE_ID)
            .timeout(Duration::from_secs(5))
    }

    /// [`ExaTools`] pointed at this server, with the key it accepts
    /// ([`fixtures::EXA_API_KEY`]) and a 5 s timeout.
    pub fn exa_tools(&self) -> ExaTools {
        ExaTools::new()
            .base_url(self.exa_url())
            .api_key(fixtures::EXA_API_KEY)
            .timeout(Duration::from_secs(5))
    }

    /// From now on, every request is answered with `status` and a short text body.
    pub fn fail_with(&self, status: u16) {
        self.shared.mode.lock().unwrap().status = Some(status);
    }

    /// From now on, every request waits `delay` before being answered.
    pub fn delay(&self, delay: Duration) {
        self.shared.mode.lock().unwrap().delay = Some(delay);
    }

    /// Back to normal answers, without delay.
    pub fn reset(&self) {
        *self.shared.mode.lock().unwrap() = Mode::default();
    }

    /// Invalidates the Yahoo session: the crumb handed out so far is refused (401 "Invalid
    /// Crumb") and a new cookie and crumb are issued.
    pub fn expire_yahoo_session(&self) {
        self.shared.yahoo_generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The requests received so far, as `"GET /path?query"`, in order of arrival.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The requests received so far with their headers and bodies, in order of arrival.
    pub fn recorded_requests(&self) -> Vec<RecordedRequest> {
        self.shared.recorded.lock().unwrap().clone()
    }

    /// The most requests that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/hn/v0/topstories.json", get(hn_top_stories))
        .route("/hn/v0/item/{file}", get(hn_item))
        .route("/hn/v0/user/{file}", get(hn_user))
        .route("/yahoo/v8/finance/chart/{symbol}", get(yahoo_chart))
        .route("/yahoo/v1/test/getcrumb", get(yahoo_crumb))
        .route(
            "/yahoo/v10/finance/quoteSummary/{symbol}",
            get(yahoo_summary),
        )
        .route("/yahoo-cookie", get(yahoo_cookie))
        .route("/ddg-html/html/", get(ddg_html))
        .route("/ddg/", get(ddg_home))
        .route("/ddg/news.js", get(ddg_news))
        .route("/google/customsearch/v1", get(google_search))
        .route("/exa/search", post(exa_search))
        .route("/exa/contents", post(exa_contents))
        .route("/exa/findSimilar", post(exa_find_similar))
        .route("/exa/answer", post(exa_answer))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            faults,
        ))
        .with_state(shared)
}

struct InFlight<'a>(&'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn faults(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    shared
        .requests
        .lock()
        .unwrap()
        .push(format!("{} {}", parts.method, parts.uri));
    shared.recorded.lock().unwrap().push(RecordedRequest {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let request = Request::from_parts(parts, Body::from(body));
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _guard = InFlight(&shared);
    let mode = *shared.mode.lock().unwrap();
    if let Some(delay) = mode.delay {
        tokio::time::sleep(delay).await;
    }
    if let Some(status) = mode.status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, format!("{status}: fake failure for tests")).into_response();
    }
    next.run(request).await
}

// --- Hacker News -----------------------------------------------------------------------------

async fn hn_top_stories() -> Json<Value> {
    let mut ids: Vec<u64> = fixtures::TOP_STORY_IDS.to_vec();
    ids.extend(41012..41030);
    Json(json!(ids))
}

fn json_id(file: &str) -> Option<&str> {
    file.strip_suffix(".json")
}

async fn hn_item(Path(file): Path<String>) -> Response {
    let Some(id) = json_id(&file).and_then(|id| id.parse::<u64>().ok()) else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "Permission denied"})),
        )
            .into_response();
    };
    Json(hn_fixture(id)).into_response()
}

fn hn_fixture(id: u64) -> Value {
    const BASE_TIME: u64 = 1_717_000_000;
    match id {
        41001 => json!({
            "by": "kern_dev", "descendants": 5, "id": 41001,
            "kids": fixtures::TOP_STORY_COMMENT_IDS, "score": 512, "time": BASE_TIME,
            "title": fixtures::TOP_STORY_TITLE, "type": "story",
            "url": "https://github.com/kern-rs/kern"
        }),
        41002 => json!({
            "by": "asker", "descendants": 0, "id": 41002, "score": 88, "time": BASE_TIME - 60,
            "text": "What do you use for <i>durable</i> agents?<p>Curious &amp; asking.",
            "title": "Ask HN: How do you run agents in production?", "type": "story"
        }),
        41003..=41029 => json!({
            "by": format!("user{id}"), "descendants": id % 50, "id": id,
            "kids": [id * 10 + 1], "score": 300 - (id - 41000) * 7, "time": BASE_TIME - (id - 41000) * 600,
            "title": format!("Story number {}", id - 41000), "type": "story",
            "url": format!("https://example.com/story/{id}")
        }),
        51001 => json!({
            "by": "commenter1", "id": 51001, "parent": 41001, "time": BASE_TIME + 60, "type": "comment",
            "text": "Durable runs are the feature I&#x27;d want.<p>See <a href=\"https:&#x2F;&#x2F;example.com&#x2F;durable\" rel=\"nofollow\">https:&#x2F;&#x2F;example.com&#x2F;durable</a>",
            "kids": [61001]
        }),
        51002 => {
            json!({"deleted": true, "id": 51002, "parent": 41001, "time": BASE_TIME + 61, "type": "comment"})
        }
        51003 => json!({
            "by": "commenter3", "id": 51003, "parent": 41001, "time": BASE_TIME + 62, "type": "comment",
            "text": "How does it compare to Temporal?"
        }),
        51004 => json!({
            "by": "spammer", "dead": true, "id": 51004, "parent": 41001, "time": BASE_TIME + 63,
            "type": "comment", "text": "[flagged]"
        }),
        51005 => json!({
            "by": "commenter5", "id": 51005, "parent": 41001, "time": BASE_TIME + 64, "type": "comment",
            "text": "Nice &gt; 9000"
        }),
        _ => Value::Null,
    }
}

async fn hn_user(Path(file): Path<String>) -> Json<Value> {
    match json_id(&file) {
        Some(fixtures::USER) => Json(json!({
            "about": "Bug fixer.<p>Co-founder of YC.",
            "created": 1_160_418_092,
            "id": fixtures::USER,
            "karma": fixtures::USER_KARMA,
            "submitted": [41_000_001, 41_000_002, 41_000_003]
        })),
        _ => Json(Value::Null),
    }
}

// --- Yahoo Finance ---------------------------------------------------------------------------

fn yahoo_not_found(root: &str, description: String) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({root: {"result": null, "error": {"code": "Not Found", "description": description}}})),
    )
        .into_response()
}

async fn yahoo_chart(
    Path(symbol): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if symbol != fixtures::SYMBOL {
        return yahoo_not_found("chart", "No data found, symbol may be delisted".to_owned());
    }
    let range = query.get("range").map_or("1mo", String::as_str);
    let interval = query.get("interval").map_or("1d", String::as_str);
    // 2024-06-04 .. 2024-06-10, 09:30 New York time (UTC-4).
    let (timestamps, open, high, low, close, volume): (
        Vec<i64>,
        Value,
        Value,
        Value,
        Value,
        Value,
    ) = if range == "1d" && interval == "1d" {
        (
            vec![1_718_026_200],
            json!([196.9]),
            json!([197.3]),
            json!([192.15]),
            json!([fixtures::PRICE]),
            json!([53_103_900]),
        )
    } else if interval.ends_with('m') && !interval.ends_with("mo") || interval == "1h" {
        (
            vec![1_718_026_200, 1_718_026_500, 1_718_026_800],
            json!([196.9, 196.1, 195.5]),
            json!([197.3, 196.5, 196.0]),
            json!([196.0, 195.9, 195.2]),
            json!([196.2, 195.95, 195.8]),
            json!([1_200_000, 800_000, 650_000]),
        )
    } else {
        let c = fixtures::DAILY_CLOSES;
        (
            vec![
                1_717_507_800,
                1_717_594_200,
                1_717_680_600,
                1_717_767_000,
                1_718_026_200,
            ],
            json!([194.64999389648438, 195.4, null, 196.9, 197.2]),
            json!([195.32000732421875, 196.9, null, 197.1, 197.3]),
            json!([193.02999877929688, 194.2, null, 194.1, 192.15]),
            json!([c[0], c[1], null, c[2], c[3]]),
            json!([47_471_400, 54_156_800, null, 53_103_900, 97_262_100]),
        )
    };
    Json(json!({"chart": {"result": [{
        "meta": {
            "currency": "USD", "symbol": fixtures::SYMBOL, "exchangeName": "NMS",
            "fullExchangeName": "NasdaqGS", "instrumentType": "EQUITY",
            "firstTradeDate": 345_479_400, "regularMarketTime": 1_718_049_601,
            "hasPrePostMarketData": true, "gmtoffset": -14_400, "timezone": "EDT",
            "exchangeTimezoneName": "America/New_York", "regularMarketPrice": fixtures::PRICE,
            "fiftyTwoWeekHigh": 199.62, "fiftyTwoWeekLow": 164.08,
            "regularMarketDayHigh": 197.3, "regularMarketDayLow": 192.15,
            "regularMarketVolume": 97_262_100, "longName": fixtures::COMPANY_NAME,
            "shortName": fixtures::COMPANY_NAME, "chartPreviousClose": 194.48,
            "priceHint": 2, "dataGranularity": interval, "range": range,
            "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"]
        },
        "timestamp": timestamps,
        "indicators": {
            "quote": [{"open": open, "high": high, "low": low, "close": close, "volume": volume}],
            "adjclose": [{"adjclose": close}]
        }
    }], "error": null}}))
    .into_response()
}

async fn yahoo_cookie(State(shared): State<Arc<Shared>>) -> Response {
    // Like fc.yahoo.com: 404, but with the session cookie.
    let cookie = format!(
        "{}; Expires=Wed, 11 Jun 2025 15:48:54 GMT; Max-Age=31557600; Domain=.yahoo.com; Path=/; SameSite=None; Secure; HttpOnly",
        shared.cookie()
    );
    (
        StatusCode::NOT_FOUND,
        [(SET_COOKIE, cookie)],
        "<html><body>Not Found</body></html>",
    )
        .into_response()
}

fn has_cookie(shared: &Shared, headers: &HeaderMap) -> bool {
    let cookie = shared.cookie();
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(';').any(|pair| pair.trim() == cookie))
}

async fn yahoo_crumb(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !has_cookie(&shared, &headers) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(CONTENT_TYPE, "text/html")],
            "Too Many Requests",
        )
            .into_response();
    }
    ([(CONTENT_TYPE, "text/plain")], shared.crumb()).into_response()
}

async fn yahoo_summary(
    State(shared): State<Arc<Shared>>,
    Path(symbol): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if query.get("crumb") != Some(&shared.crumb()) || !has_cookie(&shared, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"finance": {"result": null, "error": {"code": "Unauthorized", "description": "Invalid Crumb"}}})),
        )
            .into_response();
    }
    if symbol != fixtures::SYMBOL {
        return yahoo_not_found(
            "quoteSummary",
            format!("Quote not found for symbol: {symbol}"),
        );
    }
    let modules: Vec<&str> = query
        .get("modules")
        .map(|m| m.split(',').collect())
        .unwrap_or_default();
    let all = json!({
        "assetProfile": {
            "address1": "One Apple Park Way", "city": "Cupertino", "state": "CA", "zip": "95014",
            "country": "United States", "phone": "(408) 996-1010", "website": "https://www.apple.com",
            "industry": "Consumer Electronics", "industryKey": "consumer-electronics",
            "sector": "Technology", "sectorKey": "technology",
            "longBusinessSummary": "Apple Inc. designs, manufactures, and markets smartphones, personal computers, tablets, wearables, and accessories worldwide.",
            "fullTimeEmployees": 150_000, "companyOfficers": [], "maxAge": 86_400
        },
        "price": {
            "maxAge": 1, "regularMarketPrice": fixtures::PRICE, "currency": "USD",
            "symbol": fixtures::SYMBOL, "shortName": fixtures::COMPANY_NAME,
            "longName": fixtures::COMPANY_NAME, "marketCap": 3_019_131_060_224_u64,
            "exchangeName": "NasdaqGS", "quoteType": "EQUITY"
        },
        "summaryDetail": {
            "maxAge": 1, "previousClose": 194.48, "trailingPE": 30.67, "forwardPE": 27.1,
            "fiftyTwoWeekLow": 164.08, "fiftyTwoWeekHigh": 199.62, "fiftyDayAverage": 180.12,
            "twoHundredDayAverage": 181.34, "marketCap": 3_019_131_060_224_u64, "currency": "USD",
            "dividendYield": 0.0051
        },
        "financialData": {
            "maxAge": 86_400, "currentPrice": fixtures::PRICE, "recommendationKey": "buy",
            "numberOfAnalystOpinions": 38, "totalCash": 67_150_000_128_u64, "ebitda": 129_629_003_776_u64,
            "freeCashflow": 84_726_874_112_u64, "operatingCashflow": 110_563_000_320_u64,
            "revenueGrowth": -0.043, "grossMargins": 0.45586, "ebitdaMargins": 0.33744,
            "financialCurrency": "USD"
        },
        "defaultKeyStatistics": {
            "maxAge": 1, "trailingEps": 6.42, "enterpriseValue": 3_056_589_209_600_u64,
            "beta": 1.264
        }
    });
    let formatted = query.get("formatted").map(String::as_str) != Some("false");
    let mut result = serde_json::Map::new();
    for module in modules {
        if let Some(value) = all.get(module) {
            let value = if formatted {
                format_values(value.clone())
            } else {
                value.clone()
            };
            result.insert(module.to_owned(), value);
        }
    }
    Json(json!({"quoteSummary": {"result": [result], "error": null}})).into_response()
}

/// Yahoo's default (`formatted=true`) shape: numbers as `{"raw": …, "fmt": "…"}`.
fn format_values(value: Value) -> Value {
    match value {
        Value::Number(number) => json!({"raw": number.clone(), "fmt": number.to_string()}),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let value = if key == "maxAge" {
                        value
                    } else {
                        format_values(value)
                    };
                    (key, value)
                })
                .collect(),
        ),
        other => other,
    }
}

// --- DuckDuckGo ------------------------------------------------------------------------------

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn ddg_html(Query(query): Query<HashMap<String, String>>) -> Response {
    let q = query.get("q").cloned().unwrap_or_default();
    let html_page = |status: StatusCode, body: String| {
        (
            status,
            [(CONTENT_TYPE, "text/html; charset=UTF-8")],
            format!(
                "<!DOCTYPE html PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\">\n<html>\n<head>\
                 <meta http-equiv=\"content-type\" content=\"text/html; charset=UTF-8\">\
                 <title>{} at DuckDuckGo</title><style>.x{{color:red}}</style></head>\n\
                 <body><div id=\"links_wrapper\"><div class=\"serp__results\">\
                 <div id=\"links\" class=\"results\">{body}</div></div></div></body></html>",
                html_escape(&q)
            ),
        )
            .into_response()
    };
    if q == fixtures::QUERY_THROTTLED {
        return html_page(
            StatusCode::ACCEPTED,
            "<div class=\"anomaly-modal__title\">Unfortunately, bots use DuckDuckGo too.</div>\
             <form id=\"challenge-form\" action=\"//duckduckgo.com/anomaly.js\"></form>"
                .to_owned(),
        );
    }
    if q.contains(fixtures::QUERY_WITHOUT_RESULTS) {
        return html_page(
            StatusCode::OK,
            "<div class=\"result results_links_deep\"><div class=\"no-results\">No  results.</div></div>"
                .to_owned(),
        );
    }
    let escaped = html_escape(&q);
    let mut body = format!(
        "<div class=\"result results_links results_links_deep result--ad \">\
         <div class=\"links_main links_deep result__body\"><h2 class=\"result__title\">\
         <a rel=\"nofollow\" class=\"result__a\" href=\"https://duckduckgo.com/y.js?ad_domain=ads.example&amp;ad_provider=bingv7aa\">Sponsored: {escaped}</a>\
         </h2><a class=\"result__snippet\" href=\"https://duckduckgo.com/y.js?ad_domain=ads.example\">Buy now</a></div></div>\n"
    );
    for i in 1..=fixtures::SEARCH_RESULTS {
        let target = format!("https://example.com/{i}?q={}", encode(&q));
        let href = if i % 2 == 1 {
            format!(
                "//duckduckgo.com/l/?uddg={}&amp;rut=8c1f{i}",
                encode(&target)
            )
        } else {
            html_escape(&target)
        };
        body.push_str(&format!(
            "<div class=\"result results_links results_links_deep web-result \">\n\
             <div class=\"links_main links_deep result__body\">\n\
             <h2 class=\"result__title\">\n\
             <a rel=\"nofollow\" class=\"result__a\" href=\"{href}\">Result {i} about <b>{escaped}</b></a>\n\
             </h2>\n\
             <div class=\"result__extras\"><div class=\"result__extras__url\">\
             <span class=\"result__icon\"><a rel=\"nofollow\" href=\"{href}\">\
             <img class=\"result__icon__img\" width=\"16\" height=\"16\" alt=\"\" src=\"//external-content.duckduckgo.com/ip3/example.com.ico\" name=\"i15\" /></a></span>\
             <a class=\"result__url\" href=\"{href}\">example.com/{i}</a></div></div>\n\
             <a class=\"result__snippet\" href=\"{href}\">Snippet {i}: all about <b>{escaped}</b> &amp; more.</a>\n\
             <div class=\"clear\"></div>\n</div>\n</div>\n"
        ));
    }
    html_page(StatusCode::OK, body)
}

const VQD: &str = "4-211296553317237213436282938381437651523";

async fn ddg_home(Query(query): Query<HashMap<String, String>>) -> Response {
    let q = html_escape(query.get("q").map_or("", String::as_str));
    (
        [(CONTENT_TYPE, "text/html; charset=UTF-8")],
        format!(
            "<!DOCTYPE html><html><head><title>{q} at DuckDuckGo</title></head><body>\
             <script>DDG.ready(function () {{DDG.duckbar.future_signal_tab({{signal:'medium',from:'news'}});}});\
             DDG.deep.initialize('/d.js?q={q}&amp;l=us-en&amp;s=0&amp;vqd={VQD}&amp;p_ent=&amp;ex=-1');</script>\
             </body></html>"
        ),
    )
        .into_response()
}

async fn ddg_news(Query(query): Query<HashMap<String, String>>) -> Response {
    if query.get("vqd").map(String::as_str) != Some(VQD) {
        return (StatusCode::FORBIDDEN, "bad vqd").into_response();
    }
    let q = query.get("q").cloned().unwrap_or_default();
    let results: Vec<Value> = (1..=fixtures::NEWS_RESULTS)
        .map(|i| {
            json!({
                "date": 1_717_000_000 + i as i64 * 3600,
                "excerpt": format!("News {i} on <b>{}</b> &amp; friends", html_escape(&q)),
                "image": if i % 2 == 0 { format!("https://img.example.com/{i}.jpg") } else { String::new() },
                "relative_time": format!("{i} hours ago"),
                "source": "Example News",
                "title": format!("Headline {i}: {q}"),
                "url": format!("https://news.example.com/{i}"),
                "syndicate": "Bing"
            })
        })
        .collect();
    Json(json!({
        "ads": [], "next": "news.js?q=x&s=30", "query": q, "queryEncoded": encode(&q),
        "response_type": "places", "results": results, "vqd": {q: VQD}
    }))
    .into_response()
}

// --- Google Programmable Search --------------------------------------------------------------

fn google_error(status: StatusCode, reason: &str, grpc_status: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {
            "code": status.as_u16(),
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": grpc_status
        }})),
    )
        .into_response()
}

async fn google_search(Query(query): Query<HashMap<String, String>>) -> Response {
    if query.get("key").map(String::as_str) != Some(fixtures::GOOGLE_API_KEY) {
        return google_error(
            StatusCode::BAD_REQUEST,
            "badRequest",
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
        );
    }
    if query.get("cx").map(String::as_str) != Some(fixtures::GOOGLE_CSE_ID) {
        return google_error(
            StatusCode::BAD_REQUEST,
            "badRequest",
            "INVALID_ARGUMENT",
            "Request contains an invalid argument.",
        );
    }
    let num = query.get("num").map_or("10", String::as_str);
    let num = match num.parse::<usize>() {
        Ok(n) if (1..=10).contains(&n) => n,
        _ => {
            return google_error(
                StatusCode::BAD_REQUEST,
                "invalid",
                "INVALID_ARGUMENT",
                &format!("Invalid value '{num}'. Values must be within the range: [1, 10]"),
            )
        }
    };
    let q = query.get("q").cloned().unwrap_or_default();
    if q == fixtures::QUERY_OVER_QUOTA {
        return google_error(
            StatusCode::TOO_MANY_REQUESTS,
            "rateLimitExceeded",
            "RESOURCE_EXHAUSTED",
            "Quota exceeded for quota metric 'Queries' and limit 'Queries per day' of service \
             'customsearch.googleapis.com' for consumer 'project_number:000000000000'.",
        );
    }
    let mut answer = json!({
        "kind": "customsearch#search",
        "url": {"type": "application/json", "template": "https://www.googleapis.com/customsearch/v1?q={searchTerms}"},
        "queries": {"request": [{"title": format!("Google Custom Search - {q}"), "searchTerms": q, "count": num, "startIndex": 1}]},
        "context": {"title": "Kern fake"},
        "searchInformation": {"searchTime": 0.21, "formattedSearchTime": "0.21", "totalResults": "0", "formattedTotalResults": "0"}
    });
    if q.contains(fixtures::QUERY_WITHOUT_RESULTS) {
        return Json(answer).into_response();
    }
    let escaped = html_escape(&q);
    let items: Vec<Value> = (1..=num)
        .map(|i| {
            let mut item = json!({
                "kind": "customsearch#result",
                "title": format!("Result {i} about {q}"),
                "htmlTitle": format!("Result {i} about <b>{escaped}</b>"),
                "link": format!("https://example.com/google/{i}"),
                "displayLink": "example.com",
                "formattedUrl": format!("https://example.com/google/{i}"),
                "pagemap": {"metatags": [{"og:type": "article"}]}
            });
            if i != fixtures::GOOGLE_RESULT_WITHOUT_SNIPPET {
                item["snippet"] = json!(format!("Snippet {i}: all about {q}\n  and more."));
                item["htmlSnippet"] = json!(format!(
                    "Snippet {i}: all about <b>{escaped}</b><br>  and more."
                ));
            }
            item
        })
        .collect();
    answer["searchInformation"]["totalResults"] = json!("1230000");
    answer["items"] = json!(items);
    Json(answer).into_response()
}

// --- Exa -------------------------------------------------------------------------------------

/// An Exa error answer: `{"requestId", "error", "tag"}` with a status.
struct ExaError {
    status: StatusCode,
    tag: &'static str,
    message: String,
}

impl ExaError {
    fn new(status: StatusCode, tag: &'static str, message: impl Into<String>) -> Self {
        ExaError {
            status,
            tag,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        ExaError::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST_BODY", message)
    }
}

impl IntoResponse for ExaError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"requestId": "fake-request-id", "error": self.message, "tag": self.tag})),
        )
            .into_response()
    }
}

/// The request's JSON body, when the key is right and the body a JSON object.
fn exa_request(headers: &HeaderMap, body: &str) -> Result<Value, ExaError> {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    if key != Some(fixtures::EXA_API_KEY) {
        return Err(ExaError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_API_KEY",
            "Invalid API key",
        ));
    }
    match serde_json::from_str::<Value>(body) {
        Ok(value) if value.is_object() => Ok(value),
        _ => Err(ExaError::bad_request(
            "Invalid request body: expected a JSON object",
        )),
    }
}

fn exa_num_results(body: &Value) -> Result<usize, ExaError> {
    match body.get("numResults") {
        None => Ok(10),
        Some(n) => match n.as_u64() {
            Some(n @ 1..=100) => Ok(n as usize),
            _ => Err(ExaError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_NUM_RESULTS",
                format!("numResults must be between 1 and 100, got {n}"),
            )),
        },
    }
}

fn exa_required_string<'a>(body: &'a Value, field: &str) -> Result<&'a str, ExaError> {
    body.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            ExaError::bad_request(format!("Invalid request body: `{field}` is required"))
        })
}

/// Whether a `text` option asks for text (`true` or an options object).
fn exa_wants_text(option: Option<&Value>) -> bool {
    matches!(option, Some(Value::Bool(true)) | Some(Value::Object(_)))
}

fn exa_text(i: usize) -> String {
    format!("Page {i}: ")
        .chars()
        .chain("Kern é durable — ".chars().cycle())
        .take(fixtures::EXA_TEXT_CHARS)
        .collect()
}

/// A page: odd ones have an author and a date, even ones an empty author and none; the second
/// has no title.
fn exa_page(url: &str, i: usize, text: bool) -> Value {
    let mut page = json!({"id": url, "url": url, "score": 1.0 / i as f64});
    page["title"] = if i == 2 {
        Value::Null
    } else {
        json!(format!("Page {i}"))
    };
    if i % 2 == 1 {
        page["author"] = json!("Ada Lovelace");
        page["publishedDate"] = json!(format!("2024-06-{i:02}T00:00:00.000Z"));
    } else {
        page["author"] = json!("");
    }
    if text {
        page["text"] = json!(exa_text(i));
    }
    page
}

fn exa_respond(result: Result<Value, ExaError>) -> Response {
    match result {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn exa_search(headers: HeaderMap, body: String) -> Response {
    exa_respond(exa_search_body(&headers, &body))
}

fn exa_search_body(headers: &HeaderMap, body: &str) -> Result<Value, ExaError> {
    let body = exa_request(headers, body)?;
    let query = exa_required_string(&body, "query")?;
    let num = exa_num_results(&body)?;
    let text = exa_wants_text(body.pointer("/contents/text"));
    let results: Vec<Value> = if query.contains(fixtures::QUERY_WITHOUT_RESULTS) {
        Vec::new()
    } else {
        (1..=num.min(fixtures::EXA_RESULTS))
            .map(|i| exa_page(&format!("https://example.com/exa/{i}"), i, text))
            .collect()
    };
    Ok(json!({
        "requestId": "fake-request-id", "resolvedSearchType": "neural",
        "results": results, "costDollars": {"total": 0.005}
    }))
}

async fn exa_contents(headers: HeaderMap, body: String) -> Response {
    exa_respond(exa_contents_body(&headers, &body))
}

fn exa_contents_body(headers: &HeaderMap, body: &str) -> Result<Value, ExaError> {
    let body = exa_request(headers, body)?;
    let urls: Vec<&str> = body
        .get("urls")
        .and_then(Value::as_array)
        .map(|urls| urls.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if urls.is_empty() {
        return Err(ExaError::bad_request(
            "Invalid request body: `urls` is required",
        ));
    }
    let text = exa_wants_text(body.get("text"));
    let mut results = Vec::new();
    let mut statuses = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        if url.contains(fixtures::EXA_UNREADABLE) {
            statuses.push(json!({"id": url, "status": "error",
                "error": {"tag": "CRAWL_NOT_FOUND", "httpStatusCode": 404}}));
        } else {
            results.push(exa_page(url, i + 1, text));
            statuses.push(json!({"id": url, "status": "success", "source": "cached"}));
        }
    }
    Ok(json!({
        "requestId": "fake-request-id", "results": results, "statuses": statuses,
        "costDollars": {"total": 0.001}
    }))
}

async fn exa_find_similar(headers: HeaderMap, body: String) -> Response {
    exa_respond(exa_find_similar_body(&headers, &body))
}

fn exa_find_similar_body(headers: &HeaderMap, body: &str) -> Result<Value, ExaError> {
    let body = exa_request(headers, body)?;
    exa_required_string(&body, "url")?;
    let num = exa_num_results(&body)?;
    let text = exa_wants_text(body.pointer("/contents/text"));
    let results: Vec<Value> = (1..=num.min(fixtures::EXA_RESULTS))
        .map(|i| exa_page(&format!("https://similar.example.com/{i}"), i, text))
        .collect();
    Ok(json!({
        "requestId": "fake-request-id", "results": results,
        "costDollars": {"total": 0.005}
    }))
}

async fn exa_answer(headers: HeaderMap, body: String) -> Response {
    exa_respond(exa_answer_body(&headers, &body))
}

fn exa_answer_body(headers: &HeaderMap, body: &str) -> Result<Value, ExaError> {
    let body = exa_request(headers, body)?;
    let query = exa_required_string(&body, "query")?;
    let text = body.get("text").and_then(Value::as_bool) == Some(true);
    let citations = vec![
        exa_page("https://example.com/exa/answer-1", 1, text),
        exa_page("https://example.com/exa/answer-2", 2, text),
        // Without a URL: dropped by the toolkit.
        json!({"id": "no-url", "url": null, "title": "Dropped"}),
    ];
    Ok(json!({
        "answer": format!("Answer to: {query}"),
        "citations": citations,
        "requestId": "fake-request-id",
        "costDollars": {"total": 0.005}
    }))
}
