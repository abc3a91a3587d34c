//! [`HackerNewsTools`]: top stories, a story with its comments, and user details from the
//! official Hacker News API (Firebase), like Agno's `HackerNewsTools`.

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::ToolError;
use crate::html;
use crate::http::{endpoint, HttpClient, KERN_USER_AGENT};
use crate::tool::{Tool, ToolOutput, Toolkit};
use crate::toolkits::common::{api_tool, http_toolkit, non_empty, one_to};

/// The official Hacker News API.
pub const HACKER_NEWS_API: &str = "https://hacker-news.firebaseio.com/v0";

const MAX_STORIES: u32 = 100;
const MAX_COMMENTS: u32 = 50;

/// Hacker News tools, like Agno's `HackerNewsTools`:
///
/// - `get_top_hackernews_stories(num_stories = 10)`: the current top stories, as a JSON array
///   of items (`id`, `title`, `url`, `score`, `by`, `username`, `time`, `descendants`, `type`, …);
///   unlike Agno's, without the `kids` id lists (use `get_story_with_comments`), and with
///   `text` as plain text;
/// - `get_story_with_comments(story_id, max_comments = 10)`: `{"story": {…}, "comments":
///   [{"id", "by", "time", "text"}, …]}`, the first top-level comments, deleted ones skipped;
/// - `get_user_details(username)`: `{"id", "karma", "about", "total_items_submitted"}`, as
///   Agno's.
///
/// Items are fetched concurrently (at most [`max_concurrent_requests`](Self::max_concurrent_requests)
/// at a time), in order.
///
/// ```
/// use kern_tools::{HackerNewsTools, Toolkit};
///
/// let tools = HackerNewsTools::new().tools();
/// let names: Vec<_> = tools.iter().map(|t| t.name().to_owned()).collect();
/// assert_eq!(names, ["get_top_hackernews_stories", "get_story_with_comments", "get_user_details"]);
/// ```
#[derive(Debug, Clone)]
pub struct HackerNewsTools {
    api: Api,
    top_stories: bool,
    story_with_comments: bool,
    user_details: bool,
}

http_toolkit!(
    HackerNewsTools,
    api.base_url,
    "Another API root (a mirror, or a fake server in tests), e.g. `http://127.0.0.1:8080/v0`."
);

impl Default for HackerNewsTools {
    fn default() -> Self {
        Self::new()
    }
}

impl HackerNewsTools {
    /// All three tools, against [`HACKER_NEWS_API`], with a 30 s timeout per request (Agno's)
    /// and 8 concurrent requests.
    pub fn new() -> Self {
        HackerNewsTools {
            api: Api {
                base_url: HACKER_NEWS_API.to_owned(),
                http: HttpClient::new(KERN_USER_AGENT, Duration::from_secs(30)),
                concurrency: 8,
            },
            top_stories: true,
            story_with_comments: true,
            user_details: true,
        }
    }

    /// How many item requests run at once (at least 1).
    pub fn max_concurrent_requests(mut self, max: usize) -> Self {
        self.api.concurrency = max.max(1);
        self
    }

    /// Whether `get_top_hackernews_stories` is offered (default: yes).
    pub fn enable_get_top_stories(mut self, enable: bool) -> Self {
        self.top_stories = enable;
        self
    }

    /// Whether `get_story_with_comments` is offered (default: yes).
    pub fn enable_get_story_with_comments(mut self, enable: bool) -> Self {
        self.story_with_comments = enable;
        self
    }

    /// Whether `get_user_details` is offered (default: yes).
    pub fn enable_get_user_details(mut self, enable: bool) -> Self {
        self.user_details = enable;
        self
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
struct TopStoriesArgs {
    /// Number of stories to return, from 1 to 100. Defaults to 10.
    #[serde(default = "ten")]
    #[schemars(range(min = 1, max = 100))]
    num_stories: u32,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct StoryArgs {
    /// The story's id (the `id` field of a story).
    story_id: u64,
    /// Number of top-level comments to return, from 0 to 50. Defaults to 10.
    #[serde(default = "ten")]
    #[schemars(range(min = 0, max = 50))]
    max_comments: u32,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct UserArgs {
    /// The user's Hacker News username (case-sensitive).
    username: String,
}

fn ten() -> u32 {
    10
}

/// What the tools share: the client and the configuration.
#[derive(Debug, Clone)]
struct Api {
    base_url: String,
    http: HttpClient,
    concurrency: usize,
}

impl Api {
    async fn item(&self, id: u64) -> Result<Option<Map<String, Value>>, ToolError> {
        let url = endpoint(&self.base_url, &["item", &format!("{id}.json")])?;
        // The API answers `null` for ids it does not know.
        self.http.get_json(&url).await
    }

    async fn items(&self, ids: &[u64]) -> Result<Vec<Map<String, Value>>, ToolError> {
        let items: Vec<Option<Map<String, Value>>> = futures::stream::iter(ids.iter().copied())
            .map(|id| self.item(id))
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        Ok(items.into_iter().flatten().collect())
    }

    async fn top_stories(&self, args: TopStoriesArgs) -> Result<ToolOutput, ToolError> {
        one_to(
            "get_top_hackernews_stories",
            "num_stories",
            args.num_stories,
            MAX_STORIES,
        )?;
        let url = endpoint(&self.base_url, &["topstories.json"])?;
        let ids: Vec<u64> = self.http.get_json(&url).await?;
        let take = ids.len().min(args.num_stories as usize);
        let stories: Vec<Value> = self
            .items(&ids[..take])
            .await?
            .into_iter()
            .map(story_for_model)
            .collect();
        ToolOutput::json(&stories)
    }

    async fn story_with_comments(&self, args: StoryArgs) -> Result<ToolOutput, ToolError> {
        const TOOL: &str = "get_story_with_comments";
        if args.max_comments > MAX_COMMENTS {
            return Err(ToolError::invalid_argument_at(
                TOOL,
                "max_comments",
                format!("must be at most {MAX_COMMENTS}, got {}", args.max_comments),
            ));
        }
        let Some(story) = self.item(args.story_id).await? else {
            return Err(ToolError::invalid_argument_at(
                TOOL,
                "story_id",
                format!("there is no Hacker News item with id {}", args.story_id),
            ));
        };
        let kids: Vec<u64> = story
            .get("kids")
            .and_then(Value::as_array)
            .map(|kids| kids.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        let mut comments = Vec::new();
        // Deleted and dead comments are skipped, so ask for a few more than needed.
        let wanted = args.max_comments as usize;
        let mut next = 0;
        while comments.len() < wanted && next < kids.len() {
            let batch = &kids[next..kids.len().min(next + wanted - comments.len())];
            next += batch.len();
            for comment in self.items(batch).await? {
                if comment.get("deleted").and_then(Value::as_bool) == Some(true)
                    || comment.get("dead").and_then(Value::as_bool) == Some(true)
                {
                    continue;
                }
                comments.push(serde_json::json!({
                    "id": comment.get("id"),
                    "by": comment.get("by"),
                    "time": comment.get("time"),
                    "text": comment.get("text").and_then(Value::as_str).map(html::to_text),
                }));
            }
        }
        ToolOutput::json(&serde_json::json!({
            "story": story_for_model(story),
            "comments": comments,
        }))
    }

    async fn user_details(&self, args: UserArgs) -> Result<ToolOutput, ToolError> {
        let username = non_empty("get_user_details", "username", &args.username)?;
        let url = endpoint(&self.base_url, &["user", &format!("{username}.json")])?;
        let user: Option<Map<String, Value>> = self.http.get_json(&url).await?;
        let Some(user) = user else {
            return Err(ToolError::invalid_argument_at(
                "get_user_details",
                "username",
                format!("there is no Hacker News user called `{username}`"),
            ));
        };
        let submitted = user
            .get("submitted")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        ToolOutput::json(&serde_json::json!({
            "id": user.get("id"),
            "karma": user.get("karma"),
            "about": user.get("about").and_then(Value::as_str).map(html::to_text),
            "total_items_submitted": submitted,
        }))
    }
}

/// An item as given to the model: Agno's shape (the item plus `username`), without `kids`,
/// with `text` as plain text.
fn story_for_model(mut item: Map<String, Value>) -> Value {
    item.remove("kids");
    let username = item
        .get("by")
        .cloned()
        .unwrap_or_else(|| Value::String("unknown".into()));
    item.insert("username".into(), username);
    if let Some(Value::String(text)) = item.get_mut("text") {
        *text = html::to_text(text);
    }
    Value::Object(item)
}

impl Toolkit for HackerNewsTools {
    fn name(&self) -> &str {
        "hackernews"
    }

    fn tools(&self) -> Vec<Arc<dyn Tool>> {
        let api = Arc::new(self.api.clone());
        let mut tools: Vec<Arc<dyn Tool>> = Vec::new();
        if self.top_stories {
            tools.push(api_tool(
                &api,
                "get_top_hackernews_stories",
                "Use this function to get top stories from Hacker News. Returns a JSON array of \
                 stories (id, title, url, score, by, time, descendants = number of comments).",
                |api, args: TopStoriesArgs| async move { api.top_stories(args).await },
            ));
        }
        if self.story_with_comments {
            tools.push(api_tool(
                &api,
                "get_story_with_comments",
                "Use this function to get a Hacker News story and the text of its first \
                 top-level comments. Returns JSON: {\"story\": {...}, \"comments\": [{\"id\", \
                 \"by\", \"time\", \"text\"}]}.",
                |api, args: StoryArgs| async move { api.story_with_comments(args).await },
            ));
        }
        if self.user_details {
            tools.push(api_tool(
                &api,
                "get_user_details",
                "Use this function to get the details of a Hacker News user using their \
                 username. Returns JSON: id, karma, about, total_items_submitted.",
                |api, args: UserArgs| async move { api.user_details(args).await },
            ));
        }
        tools
    }
}
