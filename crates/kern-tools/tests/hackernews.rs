//! HackerNewsTools end to end against the local fake API.
//! Error statuses, timeouts and cancellation, the same for every toolkit, are rows of
//! `toolkits.rs`.

mod common;

use std::time::Duration;

use common::{assert_invalid_at, assert_refused, call, call_list, tool};
use kern_tools::testing::{fixtures, FakeToolServer};
use kern_tools::{HackerNewsTools, Tool, ToolError, Toolkit};
use serde_json::json;

#[tokio::test]
async fn tools_and_schemas_match_agno() {
    let toolkit = HackerNewsTools::new();
    assert_eq!(toolkit.name(), "hackernews");
    let tools = toolkit.tools();
    let top = tool(&tools, "get_top_hackernews_stories");
    assert_eq!(top.parameters()["properties"]["num_stories"]["default"], 10);
    assert!(top.parameters().get("required").is_none());
    let story = tool(&tools, "get_story_with_comments");
    assert_eq!(story.parameters()["required"], json!(["story_id"]));
    let user = tool(&tools, "get_user_details");
    assert_eq!(user.parameters()["required"], json!(["username"]));

    let only_top = HackerNewsTools::new()
        .enable_get_story_with_comments(false)
        .enable_get_user_details(false)
        .tools();
    assert_eq!(only_top.len(), 1);
}

#[tokio::test]
async fn top_stories_are_fetched_in_order_and_null_items_skipped() {
    let server = FakeToolServer::start().await;
    let tools = server.hacker_news_tools().tools();
    let top = tool(&tools, "get_top_hackernews_stories");

    let stories = call_list(&top, json!({"num_stories": 3})).await;
    // The first three ids, one of which the API answers `null` for.
    assert_eq!(stories.len(), 2);
    assert_eq!(stories[0]["id"], fixtures::TOP_STORY_IDS[0]);
    assert_eq!(stories[0]["title"], fixtures::TOP_STORY_TITLE);
    assert_eq!(stories[0]["username"], "kern_dev");
    assert_eq!(stories[0]["by"], "kern_dev");
    assert_eq!(stories[0]["score"], 512);
    assert!(stories[0].get("kids").is_none());
    assert_eq!(stories[1]["id"], fixtures::ASK_STORY_ID);
    assert_eq!(
        stories[1]["text"],
        "What do you use for durable agents?\n\nCurious & asking."
    );

    // Default: 10.
    let stories = call(&top, json!({})).await.unwrap();
    let ids: Vec<u64> = stories
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = fixtures::TOP_STORY_IDS[..10]
        .iter()
        .copied()
        .filter(|&id| id != 40000)
        .collect();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn item_requests_are_concurrent_but_bounded() {
    let server = FakeToolServer::start().await;
    let tools = server
        .hacker_news_tools()
        .max_concurrent_requests(3)
        .tools();
    let top = tool(&tools, "get_top_hackernews_stories");
    // Slow answers, so that requests overlap whenever the toolkit lets them.
    server.delay(Duration::from_millis(100));
    assert_eq!(call_list(&top, json!({"num_stories": 12})).await.len(), 11);
    // Concurrent (more than one at a time), but never more than 3.
    assert_eq!(server.max_in_flight(), 3);
    let item_requests = server
        .requests()
        .iter()
        .filter(|r| r.contains("/item/"))
        .count();
    assert_eq!(item_requests, 12);
}

#[tokio::test]
async fn a_story_with_its_comments() {
    let server = FakeToolServer::start().await;
    let tools = server.hacker_news_tools().tools();
    let story = tool(&tools, "get_story_with_comments");

    let out = call(&story, json!({"story_id": 41001, "max_comments": 2}))
        .await
        .unwrap();
    assert_eq!(out["story"]["title"], fixtures::TOP_STORY_TITLE);
    let comments = out["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0]["id"], 51001);
    assert_eq!(comments[0]["by"], "commenter1");
    assert_eq!(comments[0]["text"], fixtures::FIRST_COMMENT_TEXT);
    // 51002 is deleted: skipped, the next one taken instead.
    assert_eq!(comments[1]["id"], 51003);

    let out = call(&story, json!({"story_id": 41001})).await.unwrap();
    let ids: Vec<u64> = out["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    // Deleted and dead comments skipped.
    assert_eq!(ids, [51001, 51003, 51005]);
    assert_eq!(out["comments"][2]["text"], "Nice > 9000");

    let out = call(&story, json!({"story_id": 41002, "max_comments": 0}))
        .await
        .unwrap();
    assert_eq!(out["comments"], json!([]));

    let err = call(&story, json!({"story_id": 12345})).await.unwrap_err();
    assert_invalid_at(&err, "story_id");
    assert!(err
        .to_string()
        .contains("no Hacker News item with id 12345"));

    let err = call(&story, json!({"story_id": "abc"})).await.unwrap_err();
    assert!(matches!(err, ToolError::InvalidArguments { .. }));
}

#[tokio::test]
async fn user_details() {
    let server = FakeToolServer::start().await;
    let tools = server.hacker_news_tools().tools();
    let user = tool(&tools, "get_user_details");
    let out = call(&user, json!({"username": fixtures::USER}))
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({
            "id": fixtures::USER,
            "karma": fixtures::USER_KARMA,
            "about": "Bug fixer.\n\nCo-founder of YC.",
            "total_items_submitted": 3
        })
    );
    let err = call(&user, json!({"username": "nobody_here"}))
        .await
        .unwrap_err();
    assert!(err
        .to_string()
        .contains("no Hacker News user called `nobody_here`"));
}

#[tokio::test]
async fn arguments_out_of_range_are_invalid() {
    let server = FakeToolServer::start().await;
    let tools = server.hacker_news_tools().tools();
    let top = tool(&tools, "get_top_hackernews_stories");
    for n in [0, 101] {
        assert_refused(
            &top,
            json!({"num_stories": n}),
            "num_stories",
            "between 1 and 100",
        )
        .await;
    }
    let err = call(&top, json!({"num_stories": "ten"})).await.unwrap_err();
    assert!(err.to_string().contains("at `num_stories`"), "{err}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn unreachable_servers_are_http_errors_without_status() {
    // A port nothing listens on: bind one, then free it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let tools = HackerNewsTools::new()
        .base_url(format!("http://{addr}/v0"))
        .tools();
    let err = call(&tool(&tools, "get_top_hackernews_stories"), json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ToolError::Http { status: None, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("could not connect"), "{err}");
}
