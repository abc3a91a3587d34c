//! ExaTools end to end against the local fake Exa API.
//! Error statuses, timeouts and cancellation, the same for every toolkit, are rows of
//! `toolkits.rs`.

mod common;

use std::sync::Arc;

use common::{assert_invalid_at, assert_refused, call, call_list, http_error, tool, tool_names};
use kern_tools::schema::is_object_schema;
use kern_tools::testing::{fixtures, FakeToolServer, RecordedRequest};
use kern_tools::toolkits::exa::Category;
use kern_tools::{ExaTools, Tool, ToolError, Toolkit};
use serde_json::{json, Value};

fn names(toolkit: &ExaTools) -> Vec<String> {
    tool_names(&toolkit.tools())
}

/// The fake's text of page `i`, as the toolkit should give it: the first `limit` characters.
fn page_text(i: usize, limit: usize) -> String {
    format!("Page {i}: ")
        .chars()
        .chain("Kern é durable — ".chars().cycle())
        .take(limit)
        .collect()
}

fn last_request(server: &FakeToolServer) -> RecordedRequest {
    server.recorded_requests().pop().expect("a request")
}

/// Asserts that `request` is a JSON `POST` to the fake Exa's `endpoint` (e.g. `/search`)
/// with the test key and `body`.
#[track_caller]
fn assert_exa_post(request: &RecordedRequest, endpoint: &str, body: Value) {
    assert_eq!(
        (request.method.as_str(), request.uri.as_str()),
        ("POST", format!("/exa{endpoint}").as_str())
    );
    assert_eq!(request.header("x-api-key"), Some(fixtures::EXA_API_KEY));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.json(), body);
}

fn assert_valid_parameters(tool: &Arc<dyn Tool>) {
    let schema = tool.parameters();
    let name = tool.name();
    assert!(is_object_schema(&schema), "{name}: {schema}");
    let text = schema.to_string();
    for key in ["$ref", "$defs", "definitions", "$schema"] {
        assert!(!text.contains(key), "{name}: {text}");
    }
    let props = schema["properties"].as_object().expect("properties");
    for required in schema["required"].as_array().expect("required") {
        assert!(
            props.contains_key(required.as_str().unwrap()),
            "{name}: {required}"
        );
    }
    for (prop_name, prop) in props {
        assert!(
            prop["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{name}.{prop_name} has no description"
        );
        if let Some(default) = prop.get("default").and_then(Value::as_u64) {
            assert!(default >= prop["minimum"].as_u64().unwrap(), "{name}");
            assert!(default <= prop["maximum"].as_u64().unwrap(), "{name}");
        }
    }
}

#[tokio::test]
async fn tools_enable_flags_and_schemas() {
    // Building never fails, even with no key anywhere.
    let toolkit = ExaTools::new().env(|_| None);
    assert_eq!(toolkit.name(), "exa");
    assert_eq!(
        names(&toolkit),
        ["search_exa", "get_contents", "find_similar"]
    );
    assert_eq!(
        names(&toolkit.clone().enable_answer(true)),
        ["search_exa", "get_contents", "find_similar", "exa_answer"]
    );
    assert_eq!(
        names(&toolkit.clone().enable_search(false)),
        ["get_contents", "find_similar"]
    );
    assert_eq!(
        names(&toolkit.clone().enable_get_contents(false)),
        ["search_exa", "find_similar"]
    );
    assert_eq!(
        names(
            &toolkit
                .clone()
                .enable_find_similar(false)
                .enable_answer(true)
        ),
        ["search_exa", "get_contents", "exa_answer"]
    );
    let none = toolkit
        .clone()
        .enable_search(false)
        .enable_get_contents(false)
        .enable_find_similar(false);
    assert!(none.tools().is_empty());

    let tools = toolkit.enable_answer(true).tools();
    for t in &tools {
        assert_valid_parameters(t);
    }

    let search = tool(&tools, "search_exa").parameters();
    assert_eq!(search["required"], json!(["query"]));
    assert_eq!(search["properties"]["query"]["type"], "string");
    assert_eq!(search["properties"]["num_results"]["type"], "integer");
    assert_eq!(search["properties"]["num_results"]["default"], 5);
    assert_eq!(search["properties"]["num_results"]["minimum"], 1);
    assert_eq!(search["properties"]["num_results"]["maximum"], 25);
    // Optional, a plain string enum (Agno's categories).
    assert_eq!(
        search["properties"]["category"],
        json!({
            "type": "string",
            "description": "Only results of this kind (optional).",
            "enum": [
                "company", "research paper", "news", "pdf", "github", "tweet",
                "personal site", "linkedin profile", "financial report"
            ]
        })
    );

    let contents = tool(&tools, "get_contents").parameters();
    assert_eq!(contents["required"], json!(["urls"]));
    let urls = &contents["properties"]["urls"];
    assert_eq!(urls["type"], "array");
    assert_eq!(urls["items"]["type"], "string");
    assert_eq!(urls["minItems"], 1);
    assert_eq!(urls["maxItems"], 10);

    let similar = tool(&tools, "find_similar").parameters();
    assert_eq!(similar["required"], json!(["url"]));
    assert_eq!(similar["properties"]["num_results"]["default"], 5);

    let answer = tool(&tools, "exa_answer").parameters();
    assert_eq!(answer["required"], json!(["query"]));
    assert_eq!(
        answer["properties"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["query"]
    );
}

#[tokio::test]
async fn search_sends_key_and_body_and_maps_results() {
    let server = FakeToolServer::start().await;
    let search = tool(&server.exa_tools().tools(), "search_exa");
    let results = call_list(&search, json!({"query": "durable agents"})).await;
    // Default num_results: 5.
    assert_eq!(results.len(), 5);
    assert_eq!(
        results[0],
        json!({
            "title": "Page 1",
            "url": "https://example.com/exa/1",
            "author": "Ada Lovelace",
            "published_date": "2024-06-01T00:00:00.000Z",
            "text": page_text(1, 1000),
        })
    );
    // No title (null), an empty author and no date: left out.
    assert_eq!(
        results[1],
        json!({"url": "https://example.com/exa/2", "text": page_text(2, 1000)})
    );
    // The fake sends 3000 characters (some of them multi-byte); 1000 are kept.
    let text = results[0]["text"].as_str().unwrap();
    assert_eq!(text.chars().count(), 1000);
    assert!(text.len() > 1000);

    let requests = server.recorded_requests();
    assert_eq!(requests.len(), 1);
    assert_exa_post(
        &requests[0],
        "/search",
        json!({
            "query": "durable agents",
            "numResults": 5,
            "contents": {"text": {"maxCharacters": 1000}}
        }),
    );
}

#[tokio::test]
async fn num_results_bounds_and_search_options() {
    let server = FakeToolServer::start().await;
    let search = tool(&server.exa_tools().tools(), "search_exa");

    let results = call(
        &search,
        json!({"query": "kern", "num_results": 25, "category": "research paper"}),
    )
    .await
    .unwrap();
    assert_eq!(results.as_array().unwrap().len(), fixtures::EXA_RESULTS);
    let body = last_request(&server).json();
    assert_eq!(body["numResults"], 25);
    assert_eq!(body["category"], "research paper");
    assert_eq!(
        call_list(&search, json!({"query": "kern", "num_results": 1}))
            .await
            .len(),
        1
    );
    assert!(last_request(&server).json().get("category").is_none());
    assert_eq!(
        call_list(&search, json!({"query": "kern", "category": null}))
            .await
            .len(),
        5
    );

    // Refused before any request.
    let before = server.requests().len();
    for num in [0, 26, 1000] {
        assert_refused(
            &search,
            json!({"query": "kern", "num_results": num}),
            "num_results",
            "between 1 and 25",
        )
        .await;
    }
    let err = call(&search, json!({"query": "kern", "category": "blogs"}))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("at `category`"), "{text}");
    assert!(text.contains("unknown variant `blogs`"), "{text}");
    let err = call(&search, json!({"query": " "})).await.unwrap_err();
    assert_invalid_at(&err, "query");
    assert_eq!(server.requests().len(), before);

    // The builder's choices win over the model's.
    let fixed = server
        .exa_tools()
        .num_results(2)
        .category(Category::News)
        .include_domains(["arxiv.org", "acm.org"])
        .exclude_domains(vec!["spam.example".to_owned()])
        .tools();
    let results = call(
        &tool(&fixed, "search_exa"),
        json!({"query": "kern", "num_results": 9, "category": "pdf"}),
    )
    .await
    .unwrap();
    assert_eq!(results.as_array().unwrap().len(), 2);
    assert_eq!(
        last_request(&server).json(),
        json!({
            "query": "kern",
            "numResults": 2,
            "category": "news",
            "includeDomains": ["arxiv.org", "acm.org"],
            "excludeDomains": ["spam.example"],
            "contents": {"text": {"maxCharacters": 1000}}
        })
    );
    // num_results is clamped to the tools' bound.
    let clamped = server.exa_tools().num_results(500).tools();
    call(&tool(&clamped, "search_exa"), json!({"query": "kern"}))
        .await
        .unwrap();
    assert_eq!(last_request(&server).json()["numResults"], 25);

    let empty = call(&search, json!({"query": fixtures::QUERY_WITHOUT_RESULTS}))
        .await
        .unwrap();
    assert_eq!(empty, json!([]));
}

#[tokio::test]
async fn text_can_be_left_out_or_unlimited_or_shorter() {
    let server = FakeToolServer::start().await;

    let no_text = server.exa_tools().text(false).tools();
    let results = call(&tool(&no_text, "search_exa"), json!({"query": "kern"}))
        .await
        .unwrap();
    assert_eq!(
        results[0],
        json!({
            "title": "Page 1",
            "url": "https://example.com/exa/1",
            "author": "Ada Lovelace",
            "published_date": "2024-06-01T00:00:00.000Z"
        })
    );
    assert_eq!(
        last_request(&server).json()["contents"],
        json!({"text": false})
    );
    call(
        &tool(&no_text, "get_contents"),
        json!({"urls": ["https://example.com/a"]}),
    )
    .await
    .unwrap();
    assert_eq!(last_request(&server).json()["text"], json!(false));

    let unlimited = server.exa_tools().text_length_limit(0).tools();
    let results = call(&tool(&unlimited, "search_exa"), json!({"query": "kern"}))
        .await
        .unwrap();
    assert_eq!(
        results[0]["text"],
        json!(page_text(1, fixtures::EXA_TEXT_CHARS))
    );
    assert_eq!(
        last_request(&server).json()["contents"],
        json!({"text": true})
    );

    let short = server.exa_tools().text_length_limit(12).tools();
    let results = call(
        &tool(&short, "find_similar"),
        json!({"url": "https://kern.rs"}),
    )
    .await
    .unwrap();
    assert_eq!(results[0]["text"], "Page 1: Kern");
    assert_eq!(
        last_request(&server).json()["contents"],
        json!({"text": {"maxCharacters": 12}})
    );
}

#[tokio::test]
async fn get_contents_reads_pages_and_reports_unreadable_ones() {
    let server = FakeToolServer::start().await;
    let contents = tool(&server.exa_tools().tools(), "get_contents");
    let unreadable = format!("https://example.org/{}", fixtures::EXA_UNREADABLE);
    let results = call(
        &contents,
        json!({"urls": [" https://example.org/one ", unreadable, "http://example.org/three"]}),
    )
    .await
    .unwrap();
    assert_eq!(
        results,
        json!([
            {
                "title": "Page 1",
                "url": "https://example.org/one",
                "author": "Ada Lovelace",
                "published_date": "2024-06-01T00:00:00.000Z",
                "text": page_text(1, 1000),
            },
            {
                "title": "Page 3",
                "url": "http://example.org/three",
                "author": "Ada Lovelace",
                "published_date": "2024-06-03T00:00:00.000Z",
                "text": page_text(3, 1000),
            },
            {
                "url": unreadable,
                "error": "CRAWL_NOT_FOUND: the page could not be read (HTTP 404)",
            }
        ])
    );
    let request = last_request(&server);
    assert_exa_post(
        &request,
        "/contents",
        json!({
            "urls": ["https://example.org/one", unreadable, "http://example.org/three"],
            "text": {"maxCharacters": 1000}
        }),
    );

    let before = server.requests().len();
    let err = call(&contents, json!({"urls": []})).await.unwrap_err();
    assert_invalid_at(&err, "urls");
    let eleven: Vec<String> = (0..11).map(|i| format!("https://e.com/{i}")).collect();
    let err = call(&contents, json!({"urls": eleven})).await.unwrap_err();
    assert!(
        err.to_string().contains("between 1 and 10 URLs, got 11"),
        "{err}"
    );
    let err = call(
        &contents,
        json!({"urls": ["https://example.org", "example.org/page"]}),
    )
    .await
    .unwrap_err();
    assert_invalid_at(&err, "urls[1]");
    assert!(
        err.to_string()
            .contains("`example.org/page` is not an http(s) URL"),
        "{err}"
    );
    let err = call(&contents, json!({"urls": "https://example.org"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at `urls`"), "{err}");
    assert_eq!(server.requests().len(), before);
}

#[tokio::test]
async fn find_similar_sends_the_url_and_bounds() {
    let server = FakeToolServer::start().await;
    let similar = tool(&server.exa_tools().tools(), "find_similar");
    let results = call_list(
        &similar,
        json!({"url": "https://kern.rs/blog/durable", "num_results": 3}),
    )
    .await;
    assert_eq!(results.len(), 3);
    assert_eq!(results[2]["url"], "https://similar.example.com/3");
    assert_eq!(results[2]["text"], json!(page_text(3, 1000)));
    let request = last_request(&server);
    assert_exa_post(
        &request,
        "/findSimilar",
        json!({
            "url": "https://kern.rs/blog/durable",
            "numResults": 3,
            "contents": {"text": {"maxCharacters": 1000}}
        }),
    );

    assert_eq!(
        call_list(&similar, json!({"url": "https://kern.rs"}))
            .await
            .len(),
        5
    );

    let before = server.requests().len();
    let err = call(&similar, json!({"url": "kern.rs"})).await.unwrap_err();
    assert_invalid_at(&err, "url");
    let err = call(
        &similar,
        json!({"url": "https://kern.rs", "num_results": 26}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("num_results"), "{err}");
    assert_eq!(server.requests().len(), before);
}

#[tokio::test]
async fn exa_answer_gives_the_answer_and_citations() {
    let server = FakeToolServer::start().await;
    let answer = tool(
        &server.exa_tools().enable_answer(true).tools(),
        "exa_answer",
    );
    let out = call(&answer, json!({"query": "What is Kern?"}))
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({
            "answer": "Answer to: What is Kern?",
            "citations": [
                {"title": "Page 1", "url": "https://example.com/exa/answer-1"},
                // No title; a citation without a URL is dropped.
                {"url": "https://example.com/exa/answer-2"}
            ]
        })
    );
    let request = last_request(&server);
    assert_exa_post(
        &request,
        "/answer",
        json!({"query": "What is Kern?", "text": false}),
    );
}

#[tokio::test]
async fn api_errors_carry_exas_tag_and_message() {
    let server = FakeToolServer::start().await;
    let tools = server
        .exa_tools()
        .api_key("wrong-exa-key-5678")
        .enable_answer(true)
        .tools();
    for (name, args) in [
        ("search_exa", json!({"query": "kern"})),
        ("get_contents", json!({"urls": ["https://kern.rs"]})),
        ("find_similar", json!({"url": "https://kern.rs"})),
        ("exa_answer", json!({"query": "kern"})),
    ] {
        let err = call(&tool(&tools, name), args).await.unwrap_err();
        let (_, body) = http_error(&err, 401);
        assert_eq!(body, "INVALID_API_KEY: Invalid API key", "{name}");
        assert!(!err.is_transient());
        assert!(!err.to_string().contains("wrong-exa-key"), "{err}");
    }
    let sent = server.recorded_requests();
    assert_eq!(sent.len(), 4);
    assert!(sent
        .iter()
        .all(|r| r.header("x-api-key") == Some("wrong-exa-key-5678")));
}

#[tokio::test]
async fn a_missing_key_is_a_call_error_naming_exa_api_key() {
    let server = FakeToolServer::start().await;
    let tools = ExaTools::new()
        .base_url(server.exa_url())
        .env(|_| None)
        .enable_answer(true)
        .tools();
    for (name, args) in [
        ("search_exa", json!({"query": "kern"})),
        ("get_contents", json!({"urls": ["https://kern.rs"]})),
        ("find_similar", json!({"url": "https://kern.rs"})),
        ("exa_answer", json!({"query": "kern"})),
    ] {
        let err = call(&tool(&tools, name), args).await.unwrap_err();
        assert!(matches!(err, ToolError::Failed(_)), "{name}: {err:?}");
        let text = err.to_string();
        assert!(
            text.contains(&format!("`{name}` is not configured")),
            "{text}"
        );
        assert!(
            text.contains("the environment variable EXA_API_KEY is not set"),
            "{text}"
        );
        assert!(text.contains("ExaTools::api_key"), "{text}");
    }
    assert!(server.requests().is_empty());

    // The key from the environment goes into the header.
    let from_env = ExaTools::new()
        .base_url(server.exa_url())
        .env(|name| (name == "EXA_API_KEY").then(|| fixtures::EXA_API_KEY.to_owned()))
        .tools();
    call(&tool(&from_env, "search_exa"), json!({"query": "kern"}))
        .await
        .unwrap();
    assert_eq!(
        last_request(&server).header("x-api-key"),
        Some(fixtures::EXA_API_KEY)
    );
}
