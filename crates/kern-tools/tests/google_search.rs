//! GoogleSearchTools end to end against the local fake Programmable Search JSON API.
//! Error statuses, timeouts and cancellation, the same for every toolkit, are rows of
//! `toolkits.rs`.

mod common;

use std::sync::{Arc, Mutex};

use common::{assert_invalid_at, assert_refused, call, call_list, http_error, tool, tool_names};
use kern_tools::schema::is_object_schema;
use kern_tools::testing::{fixtures, FakeToolServer};
use kern_tools::{GoogleSearchTools, Tool, ToolError, Toolkit};
use serde_json::json;

fn search(tools: &GoogleSearchTools) -> Arc<dyn Tool> {
    tool(&tools.tools(), "google_search")
}

#[tokio::test]
async fn tool_and_schema() {
    // Building never fails, even with no key anywhere.
    let toolkit = GoogleSearchTools::new().env(|_| None);
    assert_eq!(toolkit.name(), "google_search");
    let tools = toolkit.tools();
    let names: Vec<_> = tool_names(&tools);
    assert_eq!(names, ["google_search"]);

    let schema = tools[0].parameters();
    assert!(is_object_schema(&schema), "{schema}");
    assert!(!schema.to_string().contains("$ref"), "{schema}");
    assert_eq!(schema["required"], json!(["query"]));
    let props = &schema["properties"];
    assert_eq!(
        props.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["language", "max_results", "query"]
    );
    assert_eq!(props["query"]["type"], "string");
    assert_eq!(props["max_results"]["type"], "integer");
    assert_eq!(props["max_results"]["default"], 5);
    assert_eq!(props["max_results"]["minimum"], 1);
    assert_eq!(props["max_results"]["maximum"], 10);
    assert_eq!(props["language"]["type"], "string");
    assert_eq!(props["language"]["default"], "en");
    for (name, prop) in props.as_object().unwrap() {
        assert!(
            prop["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{name} has no description"
        );
    }
    assert!(tools[0].description().contains("title, url, description"));

    assert!(GoogleSearchTools::new()
        .enable_google_search(false)
        .tools()
        .is_empty());
}

#[tokio::test]
async fn results_are_mapped_and_the_request_carries_key_cx_num_and_language() {
    let server = FakeToolServer::start().await;
    let search = search(&server.google_search_tools());
    let results = call_list(&search, json!({"query": "rust & tokio"})).await;
    // Default max_results: 5.
    assert_eq!(results.len(), 5);
    assert_eq!(
        results[0],
        json!({
            "title": "Result 1 about rust & tokio",
            "url": "https://example.com/google/1",
            // Google's line break and indentation collapsed.
            "description": "Snippet 1: all about rust & tokio and more."
        })
    );
    // An item without a snippet.
    assert_eq!(
        results[fixtures::GOOGLE_RESULT_WITHOUT_SNIPPET - 1],
        json!({
            "title": "Result 3 about rust & tokio",
            "url": "https://example.com/google/3",
            "description": ""
        })
    );

    let requests = server.recorded_requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "GET");
    assert!(
        request.uri.starts_with("/google/customsearch/v1?"),
        "{}",
        request.uri
    );
    assert_eq!(
        request.query_pairs(),
        [
            ("key".to_owned(), fixtures::GOOGLE_API_KEY.to_owned()),
            ("cx".to_owned(), fixtures::GOOGLE_CSE_ID.to_owned()),
            ("q".to_owned(), "rust & tokio".to_owned()),
            ("num".to_owned(), "5".to_owned()),
            ("hl".to_owned(), "en".to_owned()),
        ]
    );
    assert!(request.body.is_empty());
}

#[tokio::test]
async fn max_results_and_language() {
    let server = FakeToolServer::start().await;
    let search = search(&server.google_search_tools());

    let results = call(
        &search,
        json!({"query": "kern", "max_results": 10, "language": "fr"}),
    )
    .await
    .unwrap();
    assert_eq!(results.as_array().unwrap().len(), 10);
    let request = server.recorded_requests().pop().unwrap();
    assert_eq!(request.query("num").as_deref(), Some("10"));
    assert_eq!(request.query("hl").as_deref(), Some("fr"));

    assert_eq!(
        call_list(&search, json!({"query": "kern", "max_results": 1}))
            .await
            .len(),
        1
    );

    // Out of bounds: refused before any request.
    let before = server.requests().len();
    for max in [0, 11, 100] {
        assert_refused(
            &search,
            json!({"query": "kern", "max_results": max}),
            "max_results",
            "between 1 and 10",
        )
        .await;
    }
    let err = call(&search, json!({"query": "kern", "max_results": -1}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("max_results"), "{err}");
    let err = call(&search, json!({"query": "kern", "language": "en&num=50"}))
        .await
        .unwrap_err();
    assert_invalid_at(&err, "language");
    let err = call(&search, json!({"query": "   "})).await.unwrap_err();
    assert_invalid_at(&err, "query");
    let err = call(&search, json!({})).await.unwrap_err();
    assert!(err.to_string().contains("missing field `query`"), "{err}");
    assert_eq!(server.requests().len(), before);

    // Fixed values win over the model's.
    let fixed = search_with(&server, |t| t.fixed_max_results(2).fixed_language("de"));
    let results = call(
        &fixed,
        json!({"query": "kern", "max_results": 9, "language": "fr"}),
    )
    .await
    .unwrap();
    assert_eq!(results.as_array().unwrap().len(), 2);
    let request = server.recorded_requests().pop().unwrap();
    assert_eq!(request.query("num").as_deref(), Some("2"));
    assert_eq!(request.query("hl").as_deref(), Some("de"));
    // fixed_max_results is clamped to what the API allows.
    let results = call(
        &search_with(&server, |t| t.fixed_max_results(50)),
        json!({"query": "kern"}),
    )
    .await
    .unwrap();
    assert_eq!(results.as_array().unwrap().len(), 10);
}

fn search_with(
    server: &FakeToolServer,
    configure: impl FnOnce(GoogleSearchTools) -> GoogleSearchTools,
) -> Arc<dyn Tool> {
    search(&configure(server.google_search_tools()))
}

#[tokio::test]
async fn no_results_is_an_empty_list() {
    let server = FakeToolServer::start().await;
    let search = search(&server.google_search_tools());
    let results = call(&search, json!({"query": fixtures::QUERY_WITHOUT_RESULTS}))
        .await
        .unwrap();
    assert_eq!(results, json!([]));
}

#[tokio::test]
async fn api_errors_carry_googles_message_and_never_the_key() {
    let server = FakeToolServer::start().await;
    let bad_key = search_with(&server, |t| t.api_key("wrong-key-1234"));
    let err = call(&bad_key, json!({"query": "kern"})).await.unwrap_err();
    let (url, body) = http_error(&err, 400);
    assert_eq!(
        body,
        "INVALID_ARGUMENT: API key not valid. Please pass a valid API key."
    );
    assert_eq!(
        url,
        format!("{}/customsearch/v1", server.google_search_url())
    );
    assert!(!err.is_transient());
    assert!(!err.to_string().contains("wrong-key-1234"), "{err}");

    let bad_cx = search_with(&server, |t| t.cse_id("nope"));
    let err = call(&bad_cx, json!({"query": "kern"})).await.unwrap_err();
    assert!(
        err.to_string()
            .ends_with("status 400: INVALID_ARGUMENT: Request contains an invalid argument."),
        "{err}"
    );

    let search = search(&server.google_search_tools());
    let err = call(&search, json!({"query": fixtures::QUERY_OVER_QUOTA}))
        .await
        .unwrap_err();
    let (_, body) = http_error(&err, 429);
    assert!(
        body.starts_with("RESOURCE_EXHAUSTED: Quota exceeded for quota metric 'Queries'"),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(err.to_string().contains("rate limited"), "{err}");
}

#[tokio::test]
async fn missing_key_or_engine_id_is_a_call_error_naming_the_variable() {
    let server = FakeToolServer::start().await;
    let env: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let lookup = {
        let env = Arc::clone(&env);
        move |name: &str| {
            env.lock()
                .unwrap()
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        }
    };
    let search = search(
        &GoogleSearchTools::new()
            .base_url(server.google_search_url())
            .env(lookup),
    );

    let err = call(&search, json!({"query": "kern"})).await.unwrap_err();
    assert!(matches!(err, ToolError::Failed(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("`google_search` is not configured"), "{text}");
    assert!(
        text.contains("the environment variable GOOGLE_API_KEY is not set"),
        "{text}"
    );
    assert!(text.contains("GoogleSearchTools::api_key"), "{text}");

    // The environment is read at each call, not when the toolkit is built.
    env.lock()
        .unwrap()
        .push(("GOOGLE_API_KEY".into(), fixtures::GOOGLE_API_KEY.into()));
    let err = call(&search, json!({"query": "kern"})).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("the environment variable GOOGLE_CSE_ID is not set"),
        "{text}"
    );
    assert!(text.contains("GoogleSearchTools::cse_id"), "{text}");
    assert!(server.requests().is_empty());

    env.lock().unwrap().push((
        "GOOGLE_CSE_ID".into(),
        format!(" {} ", fixtures::GOOGLE_CSE_ID),
    ));
    assert_eq!(call_list(&search, json!({"query": "kern"})).await.len(), 5);
    let request = server.recorded_requests().pop().unwrap();
    assert_eq!(
        request.query("key").as_deref(),
        Some(fixtures::GOOGLE_API_KEY)
    );
    assert_eq!(
        request.query("cx").as_deref(),
        Some(fixtures::GOOGLE_CSE_ID)
    );

    // Values given to the builder win over the environment.
    let given = search_with(&server, |t| t.env(|_| Some("from-env".into())));
    call(&given, json!({"query": "kern"})).await.unwrap();
    let request = server.recorded_requests().pop().unwrap();
    assert_eq!(
        request.query("key").as_deref(),
        Some(fixtures::GOOGLE_API_KEY)
    );
}
