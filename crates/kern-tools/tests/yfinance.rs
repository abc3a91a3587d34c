//! YFinanceTools end to end against the local fake Yahoo Finance.
//! Error statuses, timeouts and cancellation, the same for every toolkit, are rows of
//! `toolkits.rs`.

mod common;

use common::{assert_invalid_at, call, call_text, http_error, tool, tool_names};
use kern_tools::testing::{fixtures, FakeToolServer};
use kern_tools::{Tool, ToolError, Toolkit, YFinanceTools};
use serde_json::{json, Value};

#[tokio::test]
async fn tools_and_schemas() {
    let tools = YFinanceTools::new().tools();
    let names: Vec<_> = tool_names(&tools);
    assert_eq!(
        names,
        [
            "get_current_stock_price",
            "get_company_info",
            "get_historical_stock_prices"
        ]
    );
    let history = tool(&tools, "get_historical_stock_prices").parameters();
    assert_eq!(history["required"], json!(["symbol"]));
    assert_eq!(history["properties"]["period"]["default"], "1mo");
    assert_eq!(history["properties"]["interval"]["default"], "1d");
    let periods = history["properties"]["period"].to_string();
    for period in [
        "1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max",
    ] {
        assert!(periods.contains(&format!("\"{period}\"")), "{periods}");
    }
    assert!(!history.to_string().contains("$ref"));

    let only_price = YFinanceTools::new()
        .enable_company_info(false)
        .enable_historical_prices(false)
        .tools();
    assert_eq!(only_price.len(), 1);
}

#[tokio::test]
async fn current_stock_price() {
    let server = FakeToolServer::start().await;
    let tools = server.yfinance_tools().tools();
    let price = tool(&tools, "get_current_stock_price");
    assert_eq!(
        call_text(&price, json!({"symbol": "aapl"})).await.unwrap(),
        "196.8900"
    );
    let request = &server.requests()[0];
    assert!(
        request.starts_with("GET /yahoo/v8/finance/chart/AAPL?range=1d&interval=1d"),
        "{request}"
    );

    let err = call_text(&price, json!({"symbol": "NOPE"}))
        .await
        .unwrap_err();
    let (_, body) = http_error(&err, 404);
    assert_eq!(body, "Not Found: No data found, symbol may be delisted");
    assert!(!err.is_transient());

    let err = call_text(&price, json!({"symbol": "  "}))
        .await
        .unwrap_err();
    assert_invalid_at(&err, "symbol");
}

#[tokio::test]
async fn daily_price_history() {
    let server = FakeToolServer::start().await;
    let tools = server.yfinance_tools().tools();
    let history = tool(&tools, "get_historical_stock_prices");
    let out = call(&history, json!({"symbol": "AAPL", "period": "5d"}))
        .await
        .unwrap();
    let rows = out.as_object().unwrap();
    // Five timestamps, one without a trade (null) skipped; dates in New York time.
    let dates: Vec<_> = rows.keys().map(String::as_str).collect();
    assert_eq!(
        dates,
        ["2024-06-04", "2024-06-05", "2024-06-07", "2024-06-10"]
    );
    let closes: Vec<f64> = rows
        .values()
        .map(|r| r["Close"].as_f64().unwrap())
        .collect();
    assert_eq!(closes, fixtures::DAILY_CLOSES);
    assert_eq!(
        out["2024-06-04"],
        json!({"Open": 194.65, "High": 195.32, "Low": 193.03, "Close": 194.48, "Volume": 47_471_400})
    );
    assert!(server
        .requests()
        .iter()
        .any(|r| r.contains("range=5d&interval=1d")));

    // Defaults: 1mo, 1d.
    call(&history, json!({"symbol": "AAPL"})).await.unwrap();
    assert!(server
        .requests()
        .last()
        .unwrap()
        .contains("range=1mo&interval=1d"));
}

#[tokio::test]
async fn intraday_history_has_times() {
    let server = FakeToolServer::start().await;
    let tools = server.yfinance_tools().tools();
    let history = tool(&tools, "get_historical_stock_prices");
    let out = call(
        &history,
        json!({"symbol": "AAPL", "period": "1d", "interval": "5m"}),
    )
    .await
    .unwrap();
    let dates: Vec<_> = out.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        dates,
        ["2024-06-10 09:30", "2024-06-10 09:35", "2024-06-10 09:40"]
    );
}

#[tokio::test]
async fn unknown_periods_are_invalid_arguments_listing_the_valid_ones() {
    let server = FakeToolServer::start().await;
    let tools = server.yfinance_tools().tools();
    let history = tool(&tools, "get_historical_stock_prices");
    let err = call(&history, json!({"symbol": "AAPL", "period": "2w"}))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("at `period`"), "{text}");
    assert!(text.contains("unknown variant `2w`"), "{text}");
    assert!(text.contains("`1mo`"), "{text}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn company_info_with_cookie_and_crumb() {
    let server = FakeToolServer::start().await;
    let tools = server.yfinance_tools().tools();
    let info = tool(&tools, "get_company_info");
    let text = call_text(&info, json!({"symbol": "AAPL"})).await.unwrap();
    // Agno's keys, in Agno's order.
    assert!(text.starts_with(r#"{"Name":"Apple Inc.","Symbol":"AAPL","Current Stock Price":"196.89 USD","Market Cap":"3019131060224 USD","Sector":"Technology""#), "{text}");
    let out: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(out["Industry"], "Consumer Electronics");
    assert_eq!(out["City"], "Cupertino");
    assert_eq!(out["EPS"], 6.42);
    assert_eq!(out["P/E Ratio"], 30.67);
    assert_eq!(out["52 Week High"], 199.62);
    assert_eq!(out["Analyst Recommendation"], "buy");
    assert_eq!(out["Employees"], 150_000);
    assert_eq!(out["EBITDA"], 129_629_003_776_u64);
    assert_eq!(out["Gross Margins"], 0.45586);
    assert!(out["Summary"]
        .as_str()
        .unwrap()
        .starts_with("Apple Inc. designs"));

    let requests = server.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert!(requests[0].starts_with("GET /yahoo-cookie"));
    assert!(requests[1].starts_with("GET /yahoo/v1/test/getcrumb"));
    assert!(requests[2].starts_with(
        "GET /yahoo/v10/finance/quoteSummary/AAPL?modules=assetProfile%2Cprice%2CsummaryDetail"
    ));
    assert!(requests[2].contains("crumb=fAkEcRuMb0"));

    // The session is cached.
    call(&info, json!({"symbol": "AAPL"})).await.unwrap();
    assert_eq!(server.requests().len(), 4);

    // A refused crumb: a new session, once, then success.
    server.expire_yahoo_session();
    let again = call(&info, json!({"symbol": "AAPL"})).await.unwrap();
    assert_eq!(again["Name"], fixtures::COMPANY_NAME);
    let requests = server.requests();
    assert_eq!(requests.len(), 8, "{requests:?}");
    assert!(requests[7].contains("crumb=fAkEcRuMb1"));

    let err = call(&info, json!({"symbol": "NOPE"})).await.unwrap_err();
    let (_, body) = http_error(&err, 404);
    assert_eq!(body, "Not Found: Quote not found for symbol: NOPE");
}

#[tokio::test]
async fn company_info_without_a_cookie_explains_why() {
    let server = FakeToolServer::start().await;
    let tools = server
        .yfinance_tools()
        // A cookie URL that sets no cookie (like a consent page).
        .cookie_url(format!("{}/v1/test/getcrumb", server.yahoo_finance_url()))
        .tools();
    let err = call(&tool(&tools, "get_company_info"), json!({"symbol": "AAPL"}))
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::Failed(_)), "{err:?}");
    assert!(
        err.to_string().contains("did not grant a session cookie"),
        "{err}"
    );
}

#[tokio::test]
async fn formatted_values_are_read_too() {
    // Yahoo's default answer wraps numbers as {"raw", "fmt"}; the fake does so unless
    // `formatted=false`, which the toolkit sends. Check the fake's shape directly.
    let server = FakeToolServer::start().await;
    let client = reqwest::Client::new();
    let cookie = client
        .get(server.yahoo_cookie_url())
        .send()
        .await
        .unwrap()
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let crumb = client
        .get(format!("{}/v1/test/getcrumb", server.yahoo_finance_url()))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let body: Value = client
        .get(format!(
            "{}/v10/finance/quoteSummary/AAPL?modules=price&crumb={crumb}",
            server.yahoo_finance_url()
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["quoteSummary"]["result"][0]["price"]["regularMarketPrice"],
        json!({"raw": 196.89, "fmt": "196.89"})
    );
}
