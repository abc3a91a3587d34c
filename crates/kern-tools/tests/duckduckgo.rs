//! DuckDuckGoTools end to end against the local fake DuckDuckGo.
//! Error statuses, timeouts and cancellation, the same for every toolkit, are rows of
//! `toolkits.rs`.

mod common;

use common::{assert_invalid_at, call, call_list, http_error, tool, tool_names};
use kern_tools::testing::{fixtures, FakeToolServer};
use kern_tools::toolkits::duckduckgo::TimeLimit;
use kern_tools::{DuckDuckGoTools, Tool, Toolkit};
use serde_json::{json, Value};

#[tokio::test]
async fn tools_and_schemas() {
    let tools = DuckDuckGoTools::new().tools();
    let names: Vec<_> = tool_names(&tools);
    assert_eq!(names, ["duckduckgo_search", "duckduckgo_news"]);
    let search = tool(&tools, "duckduckgo_search").parameters();
    assert_eq!(search["required"], json!(["query"]));
    assert_eq!(search["properties"]["max_results"]["default"], 5);
    assert_eq!(DuckDuckGoTools::new().enable_news(false).tools().len(), 1);
}

#[tokio::test]
async fn web_search_parses_results() {
    let server = FakeToolServer::start().await;
    let tools = server.duckduckgo_tools().tools();
    let search = tool(&tools, "duckduckgo_search");

    let results = call_list(&search, json!({"query": "rust & tokio"})).await;
    // Default max_results: 5; the ad is skipped.
    assert_eq!(results.len(), 5);
    assert_eq!(
        results[0],
        json!({
            "title": "Result 1 about rust & tokio",
            // A `//duckduckgo.com/l/?uddg=` redirect, unwrapped.
            "href": "https://example.com/1?q=rust+%26+tokio",
            "body": "Snippet 1: all about rust & tokio & more."
        })
    );
    // A direct link.
    assert_eq!(results[1]["href"], "https://example.com/2?q=rust+%26+tokio");
    assert!(server.requests()[0].starts_with("GET /ddg-html/html/?q=rust+%26+tokio"));

    assert_eq!(
        call_list(&search, json!({"query": "rust", "max_results": 50}))
            .await
            .len(),
        fixtures::SEARCH_RESULTS
    );
}

#[tokio::test]
async fn options_reach_the_query() {
    let server = FakeToolServer::start().await;
    let tools = server
        .duckduckgo_tools()
        .modifier("site:example.com")
        .region("de-de")
        .time_limit(TimeLimit::Week)
        .fixed_max_results(2)
        .tools();
    let results = call(
        &tool(&tools, "duckduckgo_search"),
        json!({"query": "kern", "max_results": 10}),
    )
    .await
    .unwrap();
    assert_eq!(results.as_array().unwrap().len(), 2);
    assert_eq!(results[0]["title"], "Result 1 about site:example.com kern");
    let request = &server.requests()[0];
    assert!(
        request.ends_with("?q=site%3Aexample.com+kern&kl=de-de&df=w"),
        "{request}"
    );
}

#[tokio::test]
async fn no_results_and_throttling() {
    let server = FakeToolServer::start().await;
    let tools = server.duckduckgo_tools().tools();
    let search = tool(&tools, "duckduckgo_search");
    let results = call(&search, json!({"query": fixtures::QUERY_WITHOUT_RESULTS}))
        .await
        .unwrap();
    assert_eq!(results, json!([]));

    let err = call(&search, json!({"query": fixtures::QUERY_THROTTLED}))
        .await
        .unwrap_err();
    http_error(&err, 429);
    assert!(err.is_transient());
    assert!(err.to_string().contains("rate-limiting"), "{err}");
}

#[tokio::test]
async fn news_search_uses_the_vqd_token() {
    let server = FakeToolServer::start().await;
    let tools = server.duckduckgo_tools().tools();
    let news = tool(&tools, "duckduckgo_news");
    let results = call_list(&news, json!({"query": "ai agents", "max_results": 3})).await;
    assert_eq!(results.len(), 3);
    assert_eq!(
        results[1],
        json!({
            "date": "2024-05-29T18:26:40+00:00",
            "title": "Headline 2: ai agents",
            "body": "News 2 on ai agents & friends",
            "url": "https://news.example.com/2",
            "image": "https://img.example.com/2.jpg",
            "source": "Example News"
        })
    );
    assert_eq!(results[0]["image"], Value::Null);
    let requests = server.requests();
    assert!(
        requests[0].starts_with("GET /ddg/?q=ai+agents"),
        "{requests:?}"
    );
    assert!(
        requests[1].starts_with("GET /ddg/news.js?l=us-en&o=json"),
        "{requests:?}"
    );
    assert!(requests[1].contains("&vqd=4-"), "{requests:?}");

    assert_eq!(call_list(&news, json!({"query": "ai"})).await.len(), 5);
    assert_eq!(
        call_list(&news, json!({"query": "ai", "max_results": 50}))
            .await
            .len(),
        fixtures::NEWS_RESULTS
    );
}

#[tokio::test]
async fn invalid_arguments() {
    let server = FakeToolServer::start().await;
    let tools = server.duckduckgo_tools().tools();
    let search = tool(&tools, "duckduckgo_search");
    let err = call(&search, json!({"query": "  "})).await.unwrap_err();
    assert_invalid_at(&err, "query");
    let err = call(&search, json!({"query": "x", "max_results": 0}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("max_results"), "{err}");
    let err = call(&search, json!({})).await.unwrap_err();
    assert!(err.to_string().contains("missing field `query`"), "{err}");
    assert!(server.requests().is_empty());
}
