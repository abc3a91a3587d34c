//! The dashboard's server side (`src/ui`), over real HTTP on loopback: `/` sends browsers to
//! `/ui` and answers JSON clients; the page and its assets are public (ETag, CSP) while the data
//! needs credentials; `GET /ui/api/runs` is `/queue/jobs`'s page, filtered by component and
//! scoped to the caller (a JWT user lists only their own runs). The page itself is tested in a
//! real browser: `tests/browser`.

mod common;

use common::*;
use jsonwebtoken::{encode, EncodingKey, Header};
use kern_server::JwtConfig;
use kern_testkit::{both_backends, Backend};
use serde_json::{json, Value};

const SECRET: &[u8] = b"test-only-ui-secret";
const KEY: &str = "ui-key";

fn token(sub: &str) -> String {
    let claims = json!({"sub": sub, "exp": kern_core::store::now_millis() / 1000 + 3600});
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_page_and_root_are_public_and_the_data_is_not() {
    let opts = Opts {
        security_key: Some(KEY.into()),
        ..Default::default()
    };
    let s = TestServer::start(Backend::Sqlite, opts).await.unwrap();
    let anyone = no_redirects();
    // A browser at `/` is sent to the dashboard; a JSON client gets AgentOS's landing object.
    let r = anyone
        .get(s.url("/"))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/ui");
    let r = anyone.get(s.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["name"].as_str(), v["health"].as_str()),
        (Some("AgentOS"), Some("/health"))
    );
    // The page, at /ui and at any client route below it, and its assets: no key needed.
    for path in ["/ui", "/ui/", "/ui/runs/anything"] {
        let r = anyone.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'none'"));
        assert!(r.text().await.unwrap().contains("/ui/app.js"));
    }
    for (path, mime) in [
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let r = anyone.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(mime));
        let tag = r.headers()["etag"].clone();
        // Revalidation: the same bytes are not sent again.
        let again = anyone
            .get(s.url(path))
            .header("if-none-match", tag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
    }
    // The data needs the key: the listing, and unknown API paths stay JSON errors.
    let (status, v) = body(anyone.get(s.url("/ui/api/runs")).send().await.unwrap()).await;
    assert_eq!((status, v["code"].as_str()), (401, Some("unauthorized")));
    let (status, v) = body(anyone.get(s.url("/ui/api/nothing")).send().await.unwrap()).await;
    assert_eq!((status, v["code"].as_str()), (404, Some("not_found")));
    let (status, _) = body(s.client.get(s.url("/ui/api/runs")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    s.shutdown().await;
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["run_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn the_listing_is_paged_filtered_and_scoped(backend: Backend) {
    let opts = Opts {
        security_key: Some(KEY.into()),
        jwt: Some(JwtConfig::hs256(SECRET)),
        ..Default::default()
    };
    let Some(s) = TestServer::start(backend, opts).await else {
        return;
    };
    let anyone = reqwest::Client::new();
    let start = |user: &'static str, workflow: &'static str, message: String| {
        let req = anyone
            .post(s.url(&format!("/workflows/{workflow}/runs")))
            .bearer_auth(token(user))
            .form(&[
                ("message", message.as_str()),
                ("stream", "false"),
                ("background", "true"),
            ]);
        async move {
            let (status, v) = body(req.send().await.unwrap()).await;
            assert_eq!(status, 202, "{v}");
            v["run_id"].as_str().unwrap().to_owned()
        }
    };
    let mut alice = Vec::new();
    for i in 0..3 {
        alice.push(start("alice", "echo", format!("a{i}")).await);
    }
    let bob = start("bob", "fail", "b".into()).await;
    for id in alice.iter().chain([&bob]) {
        s.wait_status(id.parse().unwrap(), |st| st.is_terminal())
            .await;
    }
    let list = |bearer: String, query: &str| {
        let req = anyone
            .get(s.url(&format!("/ui/api/runs?{query}")))
            .bearer_auth(bearer);
        async move {
            let (status, v) = body(req.send().await.unwrap()).await;
            assert_eq!(status, 200, "{v}");
            v
        }
    };
    let newest_first = |mut v: Vec<String>| {
        v.reverse();
        v
    };
    // The operator (the key) sees everyone's runs, newest first, without their events.
    let page = list(KEY.into(), "").await;
    assert_eq!(page["meta"]["total_count"], 4);
    assert_eq!(ids(&page)[0], bob);
    assert!(page["data"][0].get("events").is_none());
    // Filters: component (either spelling of the kind), status, user; paged with a total.
    let page = list(KEY.into(), "component_type=workflow&component_id=echo").await;
    assert_eq!(ids(&page), newest_first(alice.clone()));
    let page = list(
        KEY.into(),
        "component_type=workflows&component_id=echo&limit=2&page=2",
    )
    .await;
    assert_eq!(ids(&page), vec![alice[0].clone()]);
    assert_eq!(
        (
            page["meta"]["total_pages"].as_u64(),
            page["meta"]["total_count"].as_u64()
        ),
        (Some(2), Some(3))
    );
    let page = list(KEY.into(), "status=ERROR").await;
    assert_eq!(ids(&page), vec![bob.clone()]);
    let page = list(KEY.into(), "user_id=bob").await;
    assert_eq!(ids(&page), vec![bob.clone()]);
    let page = list(KEY.into(), "component_type=agent").await;
    assert_eq!(page["meta"]["total_count"], 0);
    let (status, v) = body(
        anyone
            .get(s.url("/ui/api/runs?component_type=robot"))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, v["code"].as_str()), (422, Some("invalid_field")));
    // The same filters on the operator's /queue/jobs.
    let (status, v) = body(
        anyone
            .get(s.url("/queue/jobs?component_type=workflow&component_id=fail"))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, ids(&v)), (200, vec![bob.clone()]));
    // A JWT user lists only their own runs (no admin scope needed), and asking for another
    // user's lists nothing.
    let page = list(token("alice"), "").await;
    assert_eq!(ids(&page), newest_first(alice.clone()));
    let page = list(token("alice"), "user_id=bob").await;
    assert_eq!(page["meta"]["total_count"], 0);
    let page = list(token("bob"), "status=ERROR&status=COMPLETED").await;
    assert_eq!(ids(&page), vec![bob.clone()]);
    s.shutdown().await;
}

both_backends!(the_listing_is_paged_filtered_and_scoped);

/// Status and JSON body of a response.
async fn body(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}
