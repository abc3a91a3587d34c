//! The checks every toolkit passes against the fake tool server, one table row per tool:
//! an error status is an `Http` error naming the URL, a slow server times out after the
//! toolkit's timeout, and cancelling the run stops a call. What only one toolkit does is in
//! that toolkit's file.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{call, http_error, tool};
use kern_tools::testing::{fixtures, FakeToolServer};
use kern_tools::{Tool, ToolContext, ToolError, Toolkit};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// A tool of each toolkit, built against `server` with a 100 ms timeout; a call to make;
/// the URL (without its query) the call requests first.
struct Case {
    tool: Arc<dyn Tool>,
    args: Value,
    url: String,
}

const TIMEOUT: Duration = Duration::from_millis(100);

fn cases(server: &FakeToolServer) -> Vec<Case> {
    let case = |tools: Vec<Arc<dyn Tool>>, name: &str, args: Value, url: String| Case {
        tool: tool(&tools, name),
        args,
        url,
    };
    let ddg = server.duckduckgo_tools().timeout(TIMEOUT).tools();
    let exa = server.exa_tools().timeout(TIMEOUT).tools();
    vec![
        case(
            ddg.clone(),
            "duckduckgo_search",
            json!({"query": "x"}),
            server.duckduckgo_html_url(),
        ),
        case(
            ddg,
            "duckduckgo_news",
            json!({"query": "x"}),
            server.duckduckgo_url(),
        ),
        case(
            exa.clone(),
            "search_exa",
            json!({"query": "kern"}),
            format!("{}/search", server.exa_url()),
        ),
        case(
            exa,
            "find_similar",
            json!({"url": "https://kern.rs"}),
            format!("{}/findSimilar", server.exa_url()),
        ),
        case(
            server.google_search_tools().timeout(TIMEOUT).tools(),
            "google_search",
            json!({"query": "kern"}),
            format!("{}/customsearch/v1", server.google_search_url()),
        ),
        case(
            server.hacker_news_tools().timeout(TIMEOUT).tools(),
            "get_top_hackernews_stories",
            json!({"num_stories": 1}),
            format!("{}/topstories.json", server.hacker_news_url()),
        ),
        case(
            server.yfinance_tools().timeout(TIMEOUT).tools(),
            "get_current_stock_price",
            json!({"symbol": "AAPL"}),
            format!("{}/v8/finance/chart/AAPL", server.yahoo_finance_url()),
        ),
    ]
}

#[tokio::test]
async fn an_error_status_is_a_transient_http_error_naming_the_url_and_status() {
    let server = FakeToolServer::start().await;
    for (status, reason, says) in [
        (
            429,
            "429 Too Many Requests",
            ["failed with status 429", "rate limited"],
        ),
        (
            500,
            "500 Internal Server Error",
            ["failed with status 500", "server error"],
        ),
        (
            503,
            "503 Service Unavailable",
            ["failed with status 503", "server error"],
        ),
    ] {
        server.fail_with(status);
        for case in cases(&server) {
            let name = case.tool.name().to_owned();
            let err = call(&case.tool, case.args).await.unwrap_err();
            let (url, body) = http_error(&err, status);
            assert_eq!(url, case.url, "{name}");
            assert_eq!(body, format!("{reason}: fake failure for tests"), "{name}");
            assert!(err.is_transient(), "{name}");
            for says in says {
                assert!(err.to_string().contains(says), "{name}: {err}");
            }
        }
    }
    // Once the server recovers, the same calls succeed.
    server.reset();
    for case in cases(&server) {
        let name = case.tool.name().to_owned();
        let result = call(&case.tool, case.args).await;
        assert!(result.is_ok(), "{name}: {result:?}");
    }
}

#[tokio::test]
async fn a_slow_server_times_out_after_the_toolkits_timeout() {
    let server = FakeToolServer::start().await;
    server.delay(Duration::from_secs(3));
    for case in cases(&server) {
        let name = case.tool.name().to_owned();
        let started = Instant::now();
        let err = call(&case.tool, case.args).await.unwrap_err();
        assert!(
            matches!(&err, ToolError::Timeout { after, .. } if *after == TIMEOUT),
            "{name}: {err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(3), "{name}");
        let text = err.to_string();
        assert!(
            text.contains(&format!("request to {} timed out after 100ms", case.url)),
            "{name}: {text}"
        );
        // The URL is given without its query, so no API key is shown.
        for key in [fixtures::GOOGLE_API_KEY, fixtures::EXA_API_KEY] {
            assert!(!text.contains(key), "{name}: {text}");
        }
    }
}

#[tokio::test]
async fn cancelling_the_run_stops_a_slow_call() {
    let server = FakeToolServer::start().await;
    server.delay(Duration::from_secs(10));
    for case in cases(&server) {
        let name = case.tool.name().to_owned();
        let cancel = CancellationToken::new();
        let ctx = ToolContext::new("run", "session").with_cancel(cancel.clone());
        let (tool, args) = (case.tool, case.args);
        let call = tokio::spawn(async move { tool.call(args, ctx).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        cancel.cancel();
        let err = call.await.unwrap().unwrap_err();
        assert!(matches!(err, ToolError::Cancelled), "{name}: {err:?}");
        assert!(started.elapsed() < Duration::from_secs(1), "{name}");
    }
}
