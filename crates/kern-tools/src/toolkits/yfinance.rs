//! [`YFinanceTools`]: stock prices, price history and company profiles from Yahoo Finance, like
//! Agno's `YFinanceTools`.
//!
//! # Limitations
//!
//! Yahoo Finance has no official, documented API. These tools call the endpoints Yahoo's own
//! web pages and the public clients (`yfinance`) use:
//!
//! - prices and history: `GET /v8/finance/chart/{symbol}`, which needs no session;
//! - company information: `GET /v10/finance/quoteSummary/{symbol}`, which needs a session
//!   cookie and a "crumb" token. Like `yfinance`, the toolkit gets the cookie from
//!   `https://fc.yahoo.com`, the crumb from `/v1/test/getcrumb`, caches both and renews them
//!   once when Yahoo answers 401. In some regions (the EU) Yahoo answers with a consent page
//!   instead of a cookie; `get_company_info` then fails with an explanatory error.
//!
//! Yahoo rate-limits aggressively (HTTP 429) and changes these endpoints without notice; errors
//! say so, so the model can try again later or do without.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{COOKIE, SET_COOKIE};
use schemars::JsonSchema;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::error::ToolError;
use crate::http::{endpoint, HttpClient, BROWSER_USER_AGENT};
use crate::time::format_local;
use crate::tool::{Tool, ToolOutput, Toolkit};
use crate::toolkits::common::{api_tool, http_toolkit};

/// Yahoo Finance's query host.
pub const YAHOO_FINANCE_API: &str = "https://query1.finance.yahoo.com";
/// Where a Yahoo session cookie is obtained (it answers 404 and sets the cookie).
pub const YAHOO_COOKIE_URL: &str = "https://fc.yahoo.com";

/// The quoteSummary modules `get_company_info` reads.
const COMPANY_MODULES: &str = "assetProfile,price,summaryDetail,financialData,defaultKeyStatistics";

/// Yahoo Finance tools, like Agno's `YFinanceTools`:
///
/// - `get_current_stock_price(symbol)`: the latest price, as text with 4 decimals (`"196.8900"`);
/// - `get_company_info(symbol)`: a JSON object with Agno's keys (`Name`, `Symbol`,
///   `Current Stock Price`, `Market Cap`, `Sector`, `Industry`, …, `Summary`, `EBITDA`, …);
/// - `get_historical_stock_prices(symbol, period = "1mo", interval = "1d")`: a JSON object
///   from date (in the exchange's time zone; with the time for intraday intervals) to
///   `{"Open", "High", "Low", "Close", "Volume"}`, like Agno's pandas `orient="index"` output
///   but with readable dates instead of epoch milliseconds.
///
/// Agno enables only the price tool by default; Kern enables all three (disable with the
/// `enable_*` methods). See the [module docs](self) for Yahoo's limitations.
#[derive(Debug, Clone)]
pub struct YFinanceTools {
    api: Api,
    stock_price: bool,
    company_info: bool,
    historical_prices: bool,
}

http_toolkit!(
    YFinanceTools,
    api.base_url,
    "Another API host (a fake server in tests), e.g. `http://127.0.0.1:8080`."
);

impl Default for YFinanceTools {
    fn default() -> Self {
        Self::new()
    }
}

impl YFinanceTools {
    /// All three tools, against [`YAHOO_FINANCE_API`], with a 15 s timeout per request.
    pub fn new() -> Self {
        YFinanceTools {
            api: Api {
                base_url: YAHOO_FINANCE_API.to_owned(),
                cookie_url: YAHOO_COOKIE_URL.to_owned(),
                http: HttpClient::new(BROWSER_USER_AGENT, Duration::from_secs(15)),
                session: Mutex::new(None),
            },
            stock_price: true,
            company_info: true,
            historical_prices: true,
        }
    }

    /// Another URL to get the session cookie from (see the [module docs](self)).
    pub fn cookie_url(mut self, cookie_url: impl Into<String>) -> Self {
        self.api.cookie_url = cookie_url.into();
        self
    }

    /// The `User-Agent` sent (Yahoo rejects requests without a browser-like one).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.api.http.set_user_agent(user_agent);
        self
    }

    /// Whether `get_current_stock_price` is offered (default: yes).
    pub fn enable_stock_price(mut self, enable: bool) -> Self {
        self.stock_price = enable;
        self
    }

    /// Whether `get_company_info` is offered (default: yes).
    pub fn enable_company_info(mut self, enable: bool) -> Self {
        self.company_info = enable;
        self
    }

    /// Whether `get_historical_stock_prices` is offered (default: yes).
    pub fn enable_historical_prices(mut self, enable: bool) -> Self {
        self.historical_prices = enable;
        self
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
struct SymbolArgs {
    /// The stock symbol (ticker), e.g. "AAPL", "MSFT", "BRK-B", "7203.T".
    symbol: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct HistoryArgs {
    /// The stock symbol (ticker), e.g. "AAPL".
    symbol: String,
    /// The period for which to retrieve historical prices. Defaults to "1mo".
    #[serde(default)]
    period: Period,
    /// The interval between data points. Defaults to "1d". Intraday intervals (under "1d")
    /// are only available for recent periods (1m: the last 7 days; others: 60 days).
    #[serde(default)]
    interval: Interval,
}

/// Yahoo's `range` values.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema)]
enum Period {
    #[serde(rename = "1d")]
    OneDay,
    #[serde(rename = "5d")]
    FiveDays,
    #[default]
    #[serde(rename = "1mo")]
    OneMonth,
    #[serde(rename = "3mo")]
    ThreeMonths,
    #[serde(rename = "6mo")]
    SixMonths,
    #[serde(rename = "1y")]
    OneYear,
    #[serde(rename = "2y")]
    TwoYears,
    #[serde(rename = "5y")]
    FiveYears,
    #[serde(rename = "10y")]
    TenYears,
    #[serde(rename = "ytd")]
    YearToDate,
    #[serde(rename = "max")]
    Max,
}

impl Period {
    fn as_str(self) -> &'static str {
        match self {
            Period::OneDay => "1d",
            Period::FiveDays => "5d",
            Period::OneMonth => "1mo",
            Period::ThreeMonths => "3mo",
            Period::SixMonths => "6mo",
            Period::OneYear => "1y",
            Period::TwoYears => "2y",
            Period::FiveYears => "5y",
            Period::TenYears => "10y",
            Period::YearToDate => "ytd",
            Period::Max => "max",
        }
    }
}

/// Yahoo's `interval` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
enum Interval {
    #[serde(rename = "1m")]
    OneMinute,
    #[serde(rename = "2m")]
    TwoMinutes,
    #[serde(rename = "5m")]
    FiveMinutes,
    #[serde(rename = "15m")]
    FifteenMinutes,
    #[serde(rename = "30m")]
    ThirtyMinutes,
    #[serde(rename = "60m")]
    SixtyMinutes,
    #[serde(rename = "90m")]
    NinetyMinutes,
    #[serde(rename = "1h")]
    OneHour,
    #[default]
    #[serde(rename = "1d")]
    OneDay,
    #[serde(rename = "5d")]
    FiveDays,
    #[serde(rename = "1wk")]
    OneWeek,
    #[serde(rename = "1mo")]
    OneMonth,
    #[serde(rename = "3mo")]
    ThreeMonths,
}

impl Interval {
    fn as_str(self) -> &'static str {
        match self {
            Interval::OneMinute => "1m",
            Interval::TwoMinutes => "2m",
            Interval::FiveMinutes => "5m",
            Interval::FifteenMinutes => "15m",
            Interval::ThirtyMinutes => "30m",
            Interval::SixtyMinutes => "60m",
            Interval::NinetyMinutes => "90m",
            Interval::OneHour => "1h",
            Interval::OneDay => "1d",
            Interval::FiveDays => "5d",
            Interval::OneWeek => "1wk",
            Interval::OneMonth => "1mo",
            Interval::ThreeMonths => "3mo",
        }
    }

    fn is_intraday(self) -> bool {
        matches!(
            self,
            Interval::OneMinute
                | Interval::TwoMinutes
                | Interval::FiveMinutes
                | Interval::FifteenMinutes
                | Interval::ThirtyMinutes
                | Interval::SixtyMinutes
                | Interval::NinetyMinutes
                | Interval::OneHour
        )
    }
}

/// `/v8/finance/chart` responses (the parts used).
#[derive(Debug, Deserialize)]
struct ChartResponse {
    chart: Chart,
}

#[derive(Debug, Deserialize)]
struct Chart {
    result: Option<Vec<ChartResult>>,
    error: Option<YahooError>,
}

#[derive(Debug, Deserialize)]
struct YahooError {
    code: Option<String>,
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChartResult {
    meta: ChartMeta,
    #[serde(default)]
    timestamp: Vec<i64>,
    #[serde(default)]
    indicators: Indicators,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChartMeta {
    regular_market_price: Option<f64>,
    #[serde(default)]
    gmtoffset: i64,
}

#[derive(Debug, Default, Deserialize)]
struct Indicators {
    #[serde(default)]
    quote: Vec<Quote>,
}

#[derive(Debug, Default, Deserialize)]
struct Quote {
    #[serde(default)]
    open: Vec<Option<f64>>,
    #[serde(default)]
    high: Vec<Option<f64>>,
    #[serde(default)]
    low: Vec<Option<f64>>,
    #[serde(default)]
    close: Vec<Option<f64>>,
    #[serde(default)]
    volume: Vec<Option<f64>>,
}

/// One row of the history, in Agno's column order.
#[derive(Debug, Serialize)]
struct Bar {
    #[serde(rename = "Open")]
    open: Option<f64>,
    #[serde(rename = "High")]
    high: Option<f64>,
    #[serde(rename = "Low")]
    low: Option<f64>,
    #[serde(rename = "Close")]
    close: f64,
    #[serde(rename = "Volume")]
    volume: Option<u64>,
}

/// A Yahoo session: the cookie and the crumb that goes with it.
#[derive(Debug, Clone)]
struct Session {
    cookie: String,
    crumb: String,
}

/// The toolkit's settings, which its tools share (each call of `tools` copies them), and the
/// session they share.
#[derive(Debug)]
struct Api {
    base_url: String,
    cookie_url: String,
    http: HttpClient,
    session: Mutex<Option<Session>>,
}

impl Clone for Api {
    /// The settings; a copy starts without a session (it gets its own on its first call).
    fn clone(&self) -> Self {
        Api {
            base_url: self.base_url.clone(),
            cookie_url: self.cookie_url.clone(),
            http: self.http.clone(),
            session: Mutex::new(None),
        }
    }
}

fn check_symbol(tool: &str, symbol: &str) -> Result<String, ToolError> {
    let symbol = symbol.trim();
    if symbol.is_empty() || symbol.len() > 32 || symbol.contains(char::is_whitespace) {
        return Err(ToolError::invalid_argument_at(
            tool,
            "symbol",
            format!("`{symbol}` is not a stock symbol (expected a ticker such as \"AAPL\")"),
        ));
    }
    Ok(symbol.to_uppercase())
}

/// Yahoo's JSON errors (`{"chart": {"error": {"code", "description"}}}`, same for
/// `quoteSummary` and `finance`) made readable.
fn yahoo_error(error: ToolError) -> ToolError {
    match error {
        ToolError::Http { url, status, body } => {
            let description = serde_json::from_str::<Value>(&body).ok().and_then(|v| {
                let error = ["chart", "quoteSummary", "finance"]
                    .iter()
                    .find_map(|key| v.get(key).and_then(|o| o.get("error")))?;
                let description = error.get("description")?.as_str()?.to_owned();
                Some(match error.get("code").and_then(Value::as_str) {
                    Some(code) => format!("{code}: {description}"),
                    None => description,
                })
            });
            ToolError::Http {
                url,
                status,
                body: description.unwrap_or(body),
            }
        }
        other => other,
    }
}

impl Api {
    async fn chart(
        &self,
        symbol: &str,
        range: &str,
        interval: &str,
    ) -> Result<ChartResult, ToolError> {
        let mut url = endpoint(&self.base_url, &["v8", "finance", "chart", symbol])?;
        url.query_pairs_mut()
            .append_pair("range", range)
            .append_pair("interval", interval)
            .append_pair("includePrePost", "false");
        let response: ChartResponse = self.http.get_json(&url).await.map_err(yahoo_error)?;
        if let Some(error) = response.chart.error {
            return Err(ToolError::failed(format!(
                "Yahoo Finance has no data for {symbol}: {}",
                error
                    .description
                    .or(error.code)
                    .unwrap_or_else(|| "unknown error".into())
            )));
        }
        response
            .chart
            .result
            .and_then(|results| results.into_iter().next())
            .ok_or_else(|| ToolError::failed(format!("Yahoo Finance has no data for {symbol}")))
    }

    async fn current_price(&self, args: SymbolArgs) -> Result<ToolOutput, ToolError> {
        let symbol = check_symbol("get_current_stock_price", &args.symbol)?;
        let chart = self.chart(&symbol, "1d", "1d").await?;
        let price = chart.meta.regular_market_price.or_else(|| {
            chart
                .indicators
                .quote
                .first()
                .and_then(|q| q.close.iter().rev().find_map(|c| *c))
        });
        match price {
            Some(price) => Ok(ToolOutput::text(format!("{price:.4}"))),
            None => Err(ToolError::failed(format!(
                "could not fetch the current price for {symbol}"
            ))),
        }
    }

    async fn history(&self, args: HistoryArgs) -> Result<ToolOutput, ToolError> {
        let symbol = check_symbol("get_historical_stock_prices", &args.symbol)?;
        let chart = self
            .chart(&symbol, args.period.as_str(), args.interval.as_str())
            .await?;
        let quote = chart
            .indicators
            .quote
            .into_iter()
            .next()
            .unwrap_or_default();
        let at = |values: &[Option<f64>], i: usize| values.get(i).copied().flatten().map(round4);
        let mut rows = BTreeMap::new();
        for (i, &timestamp) in chart.timestamp.iter().enumerate() {
            // Yahoo leaves holes (null) where it has no trade; skip those rows.
            let Some(close) = at(&quote.close, i) else {
                continue;
            };
            let date = format_local(timestamp, chart.meta.gmtoffset, args.interval.is_intraday());
            rows.insert(
                date,
                Bar {
                    open: at(&quote.open, i),
                    high: at(&quote.high, i),
                    low: at(&quote.low, i),
                    close,
                    volume: quote
                        .volume
                        .get(i)
                        .copied()
                        .flatten()
                        .map(|v| v.max(0.0) as u64),
                },
            );
        }
        ToolOutput::json(&rows)
    }

    /// The cached session, or a new one.
    async fn session(&self, renew: bool) -> Result<Session, ToolError> {
        let mut cached = self.session.lock().await;
        if let (false, Some(session)) = (renew, cached.as_ref()) {
            return Ok(session.clone());
        }
        *cached = None;
        let cookie_url = url::Url::parse(&self.cookie_url).map_err(|e| {
            ToolError::failed(format!("invalid cookie URL `{}`: {e}", self.cookie_url))
        })?;
        // fc.yahoo.com answers 404 but sets the cookie: the status does not matter.
        let response = self
            .http
            .send_any_status(self.http.get(&cookie_url)?, &cookie_url)
            .await?;
        let cookie = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|value| value.split(';').next())
            .map(str::trim)
            .filter(|pair| pair.contains('='))
            .collect::<Vec<_>>()
            .join("; ");
        if cookie.is_empty() {
            return Err(ToolError::failed(
                "Yahoo Finance did not grant a session cookie (in some regions it asks for \
                 consent first), so company information is unavailable; stock prices and \
                 price history still work",
            ));
        }
        let crumb_url = endpoint(&self.base_url, &["v1", "test", "getcrumb"])?;
        let response = self
            .http
            .send(
                self.http.get(&crumb_url)?.header(COOKIE, &cookie),
                &crumb_url,
            )
            .await?;
        let crumb = self
            .http
            .text(response, &crumb_url)
            .await?
            .trim()
            .to_owned();
        if crumb.is_empty() || crumb.len() > 64 || crumb.contains(['<', '{', ' ']) {
            return Err(ToolError::failed(
                "Yahoo Finance did not issue a crumb token, so company information is \
                 unavailable right now; try again later",
            ));
        }
        let session = Session { cookie, crumb };
        *cached = Some(session.clone());
        Ok(session)
    }

    async fn quote_summary(&self, symbol: &str) -> Result<Value, ToolError> {
        let mut renew = false;
        loop {
            let session = self.session(renew).await?;
            let mut url = endpoint(&self.base_url, &["v10", "finance", "quoteSummary", symbol])?;
            url.query_pairs_mut()
                .append_pair("modules", COMPANY_MODULES)
                .append_pair("formatted", "false")
                .append_pair("corsDomain", "finance.yahoo.com")
                .append_pair("symbol", symbol)
                .append_pair("crumb", &session.crumb);
            let request = self.http.get(&url)?.header(COOKIE, &session.cookie);
            match self.http.send(request, &url).await {
                Ok(response) => return self.http.json(response, &url).await,
                // An expired or refused session: get a new one, once.
                Err(ToolError::Http {
                    status: Some(401 | 403),
                    ..
                }) if !renew => renew = true,
                Err(error) => return Err(yahoo_error(error)),
            }
        }
    }

    async fn company_info(&self, args: SymbolArgs) -> Result<ToolOutput, ToolError> {
        let symbol = check_symbol("get_company_info", &args.symbol)?;
        let summary = self.quote_summary(&symbol).await?;
        let result = summary
            .pointer("/quoteSummary/result/0")
            .filter(|r| r.is_object())
            .ok_or_else(|| {
                let reason = summary
                    .pointer("/quoteSummary/error/description")
                    .and_then(Value::as_str)
                    .unwrap_or("no data");
                ToolError::failed(format!(
                    "could not fetch company info for {symbol}: {reason}"
                ))
            })?;
        let get = |paths: &[(&str, &str)]| -> Value {
            paths
                .iter()
                .map(|(module, field)| raw(result.get(*module).and_then(|m| m.get(*field))))
                .find(|v| !v.is_null())
                .unwrap_or(Value::Null)
        };
        let currency = get(&[("price", "currency"), ("summaryDetail", "currency")]);
        let currency = currency.as_str().unwrap_or("USD").to_owned();
        let with_currency = |value: Value| match value {
            Value::Null => Value::Null,
            Value::String(s) => Value::String(format!("{s} {currency}")),
            other => Value::String(format!("{other} {currency}")),
        };
        let info = Ordered(vec![
            (
                "Name",
                get(&[("price", "shortName"), ("price", "longName")]),
            ),
            ("Symbol", get(&[("price", "symbol")]).or(&symbol)),
            (
                "Current Stock Price",
                with_currency(get(&[
                    ("price", "regularMarketPrice"),
                    ("financialData", "currentPrice"),
                ])),
            ),
            (
                "Market Cap",
                with_currency(get(&[
                    ("price", "marketCap"),
                    ("summaryDetail", "marketCap"),
                    ("defaultKeyStatistics", "enterpriseValue"),
                ])),
            ),
            ("Sector", get(&[("assetProfile", "sector")])),
            ("Industry", get(&[("assetProfile", "industry")])),
            ("Address", get(&[("assetProfile", "address1")])),
            ("City", get(&[("assetProfile", "city")])),
            ("State", get(&[("assetProfile", "state")])),
            ("Zip", get(&[("assetProfile", "zip")])),
            ("Country", get(&[("assetProfile", "country")])),
            ("EPS", get(&[("defaultKeyStatistics", "trailingEps")])),
            ("P/E Ratio", get(&[("summaryDetail", "trailingPE")])),
            ("52 Week Low", get(&[("summaryDetail", "fiftyTwoWeekLow")])),
            (
                "52 Week High",
                get(&[("summaryDetail", "fiftyTwoWeekHigh")]),
            ),
            (
                "50 Day Average",
                get(&[("summaryDetail", "fiftyDayAverage")]),
            ),
            (
                "200 Day Average",
                get(&[("summaryDetail", "twoHundredDayAverage")]),
            ),
            ("Website", get(&[("assetProfile", "website")])),
            ("Summary", get(&[("assetProfile", "longBusinessSummary")])),
            (
                "Analyst Recommendation",
                get(&[("financialData", "recommendationKey")]),
            ),
            (
                "Number Of Analyst Opinions",
                get(&[("financialData", "numberOfAnalystOpinions")]),
            ),
            ("Employees", get(&[("assetProfile", "fullTimeEmployees")])),
            ("Total Cash", get(&[("financialData", "totalCash")])),
            ("Free Cash flow", get(&[("financialData", "freeCashflow")])),
            (
                "Operating Cash flow",
                get(&[("financialData", "operatingCashflow")]),
            ),
            ("EBITDA", get(&[("financialData", "ebitda")])),
            ("Revenue Growth", get(&[("financialData", "revenueGrowth")])),
            ("Gross Margins", get(&[("financialData", "grossMargins")])),
            ("Ebitda Margins", get(&[("financialData", "ebitdaMargins")])),
        ]);
        ToolOutput::json(&info)
    }
}

trait OrSymbol {
    fn or(self, symbol: &str) -> Value;
}

impl OrSymbol for Value {
    fn or(self, symbol: &str) -> Value {
        if self.is_null() {
            Value::String(symbol.to_owned())
        } else {
            self
        }
    }
}

/// A quoteSummary value: plain with `formatted=false`, `{"raw": …, "fmt": …}` otherwise, `{}`
/// when Yahoo has none.
fn raw(value: Option<&Value>) -> Value {
    match value {
        Some(Value::Object(object)) => object.get("raw").cloned().unwrap_or(Value::Null),
        Some(value) => value.clone(),
        None => Value::Null,
    }
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// Keys serialised in the given order (serde_json's own map sorts them).
struct Ordered(Vec<(&'static str, Value)>);

impl Serialize for Ordered {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl Toolkit for YFinanceTools {
    fn name(&self) -> &str {
        "yfinance_tools"
    }

    fn tools(&self) -> Vec<Arc<dyn Tool>> {
        let api = Arc::new(self.api.clone());
        let mut tools: Vec<Arc<dyn Tool>> = Vec::new();
        if self.stock_price {
            tools.push(api_tool(
                &api,
                "get_current_stock_price",
                "Use this function to get the current stock price for a given symbol. Returns \
                 the price in the stock's currency.",
                |api, args: SymbolArgs| async move { api.current_price(args).await },
            ));
        }
        if self.company_info {
            tools.push(api_tool(
                &api,
                "get_company_info",
                "Use this function to get company information and overview for a given stock \
                 symbol. Returns JSON containing the company profile and overview.",
                |api, args: SymbolArgs| async move { api.company_info(args).await },
            ));
        }
        if self.historical_prices {
            tools.push(api_tool(
                &api,
                "get_historical_stock_prices",
                "Use this function to get the historical stock price for a given symbol. \
                 Returns JSON mapping each date to Open, High, Low, Close and Volume.",
                |api, args: HistoryArgs| async move { api.history(args).await },
            ));
        }
        tools
    }
}
