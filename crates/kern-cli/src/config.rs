//! `kern serve --config kern.toml`: agents, teams and workflows of agent/team steps, declared
//! in TOML and built onto an engine before the server starts.
//!
//! ```toml
//! model = "openai:gpt-4o-mini"          # default model of agents and teams without one
//!
//! [[agents]]
//! id = "hackernews-agent"
//! name = "Hackernews Agent"
//! role = "Extract key insights and content from Hackernews posts"
//! tools = ["hackernews"]                 # or { name = "hackernews", base_url = "http://…" }
//!
//! [[teams]]
//! id = "research-team"
//! members = ["hackernews-agent"]         # agents or teams, by id
//! mode = "coordinate"                    # coordinate | route | collaborate
//!
//! [[workflows]]
//! id = "content-creation"
//! steps = [
//!   { name = "Research", team = "research-team" },
//!   { name = "Parallel", parallel = [ { agent = "a" }, { agent = "b" } ] },
//! ]
//! ```
//!
//! Every problem is reported before the server starts, naming the file, the component and the
//! field: TOML syntax and unknown keys (with line and column), duplicate ids, unknown member,
//! step or toolkit names, membership cycles, model specs (a missing API key is a
//! [`ModelError::MissingApiKey`](kern::models::ModelError::MissingApiKey) naming the variable).

use anyhow::{anyhow, bail, Context, Result};
use kern::agent::{Agent, Team, TeamMode};
use kern::engine::{Component, Engine};
use kern::models::{model_from_spec_with, Model};
use kern::tools::{
    DuckDuckGoTools, ExaTools, GoogleSearchTools, HackerNewsTools, HttpSettings, HttpToolkit,
    Toolkit, YFinanceTools,
};
use kern::workflow::{Parallel, Step, Workflow, WorkflowStep};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The whole file.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The default model spec of agents and teams that name none.
    pub model: Option<String>,
    /// The OS name `/config` reports.
    pub name: Option<String>,
    /// The OS description `/config` reports.
    pub description: Option<String>,
    /// Agents.
    #[serde(default)]
    pub agents: Vec<AgentConfig>,
    /// Teams.
    #[serde(default)]
    pub teams: Vec<TeamConfig>,
    /// Workflows of agent and team steps.
    #[serde(default)]
    pub workflows: Vec<WorkflowConfig>,
}

/// One instruction or a list of them.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum Instructions {
    /// `instructions = "…"`.
    One(String),
    /// `instructions = ["…", "…"]`.
    Many(Vec<String>),
}

impl Instructions {
    fn list(&self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s.clone()],
            Self::Many(v) => v.clone(),
        }
    }
}

/// A built-in toolkit, by name or with options.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum ToolConfig {
    /// `"hackernews"`, `"yfinance"`, `"duckduckgo"`, `"google_search"` or `"exa"`.
    Name(String),
    /// `{ name = "…", base_url = "…", timeout_secs = 10 }` (and `html_url` for DuckDuckGo,
    /// `cookie_url` for Yahoo Finance). Google Search and Exa read their API keys from the
    /// environment (`GOOGLE_API_KEY` and `GOOGLE_CSE_ID`, `EXA_API_KEY`) when a tool is called.
    Table(ToolTable),
}

/// A toolkit with options.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ToolTable {
    /// The toolkit's name.
    pub name: String,
    /// Another API root (a mirror, a proxy, a fake server in tests).
    pub base_url: Option<String>,
    /// DuckDuckGo only: another URL for the HTML search page.
    pub html_url: Option<String>,
    /// Yahoo Finance only: another URL for the cookie/crumb handshake.
    pub cookie_url: Option<String>,
    /// The timeout of one request, in seconds.
    pub timeout_secs: Option<u64>,
}

/// An agent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Its id (unique among agents and teams).
    pub id: String,
    /// Display name (defaults to the id).
    pub name: Option<String>,
    /// Its role in a team.
    pub role: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Instructions.
    pub instructions: Option<Instructions>,
    /// A `model_from_spec` string (defaults to the top-level `model`).
    pub model: Option<String>,
    /// Built-in toolkits.
    #[serde(default)]
    pub tools: Vec<ToolConfig>,
    /// Tool rounds before the model must answer.
    pub max_tool_rounds: Option<u32>,
    /// Earlier runs of the session in the context.
    pub history_runs: Option<usize>,
    /// Structured output: a JSON schema, as an inline table.
    pub output_schema: Option<toml::Value>,
    /// The longest a run may take, in seconds.
    pub timeout_secs: Option<u64>,
}

/// A team.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    /// Its id (unique among agents and teams).
    pub id: String,
    /// Display name (defaults to the id).
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// The leader's model (defaults to the top-level `model`).
    pub model: Option<String>,
    /// Members: agent or team ids.
    pub members: Vec<String>,
    /// `coordinate` (default), `route` or `collaborate`.
    pub mode: Option<String>,
    /// The leader's instructions.
    pub instructions: Option<Instructions>,
    /// Delegation rounds.
    pub max_tool_rounds: Option<u32>,
    /// Earlier runs of the session in the leader's context.
    pub history_runs: Option<usize>,
    /// The longest a run may take, in seconds.
    pub timeout_secs: Option<u64>,
}

/// A workflow.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowConfig {
    /// Its id (unique among workflows).
    pub id: String,
    /// Display name (defaults to the id).
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// The steps, in order.
    pub steps: Vec<StepConfig>,
    /// The longest a run may take, in seconds.
    pub timeout_secs: Option<u64>,
}

/// One workflow step: an agent, a team, or a parallel group of steps.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    /// The step's name (defaults to the agent's or team's id; required for a parallel group).
    pub name: Option<String>,
    /// Run this agent.
    pub agent: Option<String>,
    /// Run this team.
    pub team: Option<String>,
    /// Run these steps in parallel.
    pub parallel: Option<Vec<StepConfig>>,
    /// Retries of the step on failure.
    pub max_retries: Option<u32>,
    /// Go on with the workflow if the step fails.
    pub skip_on_failure: Option<bool>,
}

/// What a config file registered.
#[derive(Debug, Default)]
pub struct Registered {
    /// Agent ids.
    pub agents: Vec<String>,
    /// Team ids.
    pub teams: Vec<String>,
    /// Workflow ids.
    pub workflows: Vec<String>,
}

impl Config {
    /// Reads and parses a file (the error names the file, and the line and column).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("config file {}", path.display()))
    }

    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| anyhow!("{}", e.to_string().trim_end()))
    }
}

/// A loaded file: the config and where it came from (for messages).
pub struct ConfigFile {
    /// The file.
    pub path: PathBuf,
    /// Its contents.
    pub config: Config,
}

impl ConfigFile {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self> {
        Ok(Self {
            path: path.to_owned(),
            config: Config::load(path)?,
        })
    }

    /// Builds every component and registers it on `engine`, with API keys and base URLs looked
    /// up through `env` (the process environment in `kern serve`). Nothing is registered if
    /// anything is wrong.
    pub fn register(
        &self,
        engine: &Engine,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Registered> {
        let file = self.path.display().to_string();
        let built = Builder {
            cfg: &self.config,
            env: &env,
            models: HashMap::new(),
        }
        .build()
        .with_context(|| format!("config file {file}"))?;
        // Everything is valid: register (the engine refuses ids already taken, e.g. by --demo).
        let mut out = Registered::default();
        for (id, c) in built.components {
            engine
                .register(c)
                .with_context(|| format!("config file {file}: registering {id:?}"))?;
        }
        out.agents = built.agents;
        out.teams = built.teams;
        for wf in built.workflows {
            engine.register(wf.def().clone()).with_context(|| {
                format!("config file {file}: registering workflow {:?}", wf.id())
            })?;
            out.workflows.push(wf.id().to_owned());
        }
        Ok(out)
    }
}

/// The teams built so far while walking the membership graph (members before their team).
struct TeamWalk {
    built: HashMap<String, Arc<dyn Component>>,
    order: Vec<(String, Arc<dyn Component>)>,
    /// The teams being built, outermost first: a member found here closes a cycle.
    visiting: Vec<String>,
    teams: Vec<String>,
}

struct Built {
    /// Agents and teams, members before the teams that hold them.
    components: Vec<(String, Arc<dyn Component>)>,
    agents: Vec<String>,
    teams: Vec<String>,
    workflows: Vec<Workflow>,
}

struct Builder<'a> {
    cfg: &'a Config,
    env: &'a dyn Fn(&str) -> Option<String>,
    models: HashMap<String, Arc<dyn Model>>,
}

enum Member<'a> {
    Agent,
    Team(&'a TeamConfig),
}

impl<'a> Builder<'a> {
    fn model(&mut self, what: &str, spec: Option<&str>) -> Result<Arc<dyn Model>> {
        let (spec, field) = match (spec, self.cfg.model.as_deref()) {
            (Some(s), _) => (s, "model"),
            (None, Some(s)) => (s, "model (the top-level default)"),
            (None, None) => bail!(
                "{what}: missing field `model` (a model spec such as \"openai:gpt-4o-mini\"; or set a top-level `model` default)"
            ),
        };
        if let Some(m) = self.models.get(spec) {
            return Ok(m.clone());
        }
        let env = self.env;
        let model = model_from_spec_with(spec, env)
            .with_context(|| format!("{what}: field `{field}` = {spec:?}"))?;
        self.models.insert(spec.to_owned(), model.clone());
        Ok(model)
    }

    fn build(mut self) -> Result<Built> {
        let cfg = self.cfg;
        // Ids: agents and teams share one namespace (members name either).
        let mut members: HashMap<&str, Member> = HashMap::new();
        for a in &cfg.agents {
            check_id("agent", &a.id)?;
            if members.insert(&a.id, Member::Agent).is_some() {
                bail!(
                    "agent {:?}: duplicate id (ids are unique among agents and teams)",
                    a.id
                );
            }
        }
        for t in &cfg.teams {
            check_id("team", &t.id)?;
            if members.insert(&t.id, Member::Team(t)).is_some() {
                bail!(
                    "team {:?}: duplicate id (ids are unique among agents and teams)",
                    t.id
                );
            }
        }
        let mut wf_ids = HashSet::new();
        for w in &cfg.workflows {
            check_id("workflow", &w.id)?;
            if !wf_ids.insert(&w.id) {
                bail!("workflow {:?}: duplicate id", w.id);
            }
        }

        // Agents first, then teams in dependency order (members before their team).
        let mut built: HashMap<String, Arc<dyn Component>> = HashMap::new();
        let mut order = Vec::new();
        let mut agents = Vec::new();
        for a in &cfg.agents {
            let c = self.agent(a)?;
            built.insert(a.id.clone(), c.clone());
            order.push((a.id.clone(), c));
            agents.push(a.id.clone());
        }
        let mut walk = TeamWalk {
            built,
            order,
            visiting: Vec::new(),
            teams: Vec::new(),
        };
        for t in &cfg.teams {
            self.team(t, &members, &mut walk)?;
        }
        let TeamWalk {
            built,
            order,
            teams,
            ..
        } = walk;

        let mut workflows = Vec::new();
        for w in &cfg.workflows {
            workflows.push(self.workflow(w, &built, &members)?);
        }
        Ok(Built {
            components: order,
            agents,
            teams,
            workflows,
        })
    }

    fn agent(&mut self, a: &AgentConfig) -> Result<Arc<dyn Component>> {
        let what = format!("agent {:?}", a.id);
        let model = self.model(&what, a.model.as_deref())?;
        let mut b = Agent::builder(&a.id).model(model);
        if let Some(n) = &a.name {
            b = b.name(n);
        }
        if let Some(r) = &a.role {
            b = b.role(r);
        }
        if let Some(d) = &a.description {
            b = b.description(d);
        }
        if let Some(i) = &a.instructions {
            b = b.instructions(i.list());
        }
        for (i, t) in a.tools.iter().enumerate() {
            let kit = toolkit(t).with_context(|| format!("{what}: field `tools[{i}]`"))?;
            b = b.toolkit(&*kit);
        }
        if let Some(n) = a.max_tool_rounds {
            b = b.max_tool_rounds(n);
        }
        if let Some(n) = a.history_runs {
            b = b.history_runs(n);
        }
        if let Some(s) = &a.output_schema {
            let schema =
                json_schema(s).with_context(|| format!("{what}: field `output_schema`"))?;
            b = b.output_schema(schema);
        }
        if let Some(t) = a.timeout_secs {
            b = b.timeout(Duration::from_secs(t));
        }
        // Built without an engine: registered once everything is valid.
        let agent = b.build().with_context(|| what.clone())?;
        Ok(agent.def().clone())
    }

    /// Builds team `t` after its member teams (depth first, refusing membership cycles).
    fn team(
        &mut self,
        t: &'a TeamConfig,
        members: &HashMap<&str, Member<'a>>,
        walk: &mut TeamWalk,
    ) -> Result<()> {
        if walk.built.contains_key(&t.id) {
            return Ok(());
        }
        let what = format!("team {:?}", t.id);
        if let Some(pos) = walk.visiting.iter().position(|v| *v == t.id) {
            let mut cycle = walk.visiting[pos..].to_vec();
            cycle.push(t.id.clone());
            bail!(
                "{what}: field `members`: membership cycle {}",
                cycle.join(" → ")
            );
        }
        if t.members.is_empty() {
            bail!("{what}: field `members` is empty (a team needs at least one agent or team)");
        }
        walk.visiting.push(t.id.clone());
        let mut list = Vec::new();
        for m in &t.members {
            match members.get(m.as_str()) {
                None => bail!(
                    "{what}: field `members`: unknown member id {m:?} (no agent or team has it; known: {})",
                    known(members.keys().copied())
                ),
                Some(Member::Team(sub)) => {
                    self.team(sub, members, walk)?;
                }
                Some(Member::Agent) => {}
            }
            list.push(walk.built[m.as_str()].clone());
        }
        walk.visiting.pop();
        let model = self.model(&what, t.model.as_deref())?;
        let mode = match t.mode.as_deref().map(str::trim) {
            None | Some("coordinate") => TeamMode::Coordinate,
            Some("route") => TeamMode::Route,
            Some("collaborate") => TeamMode::Collaborate,
            Some(other) => bail!(
                "{what}: field `mode`: unknown mode {other:?} (coordinate, route or collaborate)"
            ),
        };
        let mut b = Team::builder(&t.id).model(model).mode(mode);
        for c in list {
            b = b.member_component(c);
        }
        if let Some(n) = &t.name {
            b = b.name(n);
        }
        if let Some(d) = &t.description {
            b = b.description(d);
        }
        if let Some(i) = &t.instructions {
            b = b.instructions(i.list());
        }
        if let Some(n) = t.max_tool_rounds {
            b = b.max_tool_rounds(n);
        }
        if let Some(n) = t.history_runs {
            b = b.history_runs(n);
        }
        if let Some(s) = t.timeout_secs {
            b = b.timeout(Duration::from_secs(s));
        }
        let team = b.build().with_context(|| what.clone())?;
        let c: Arc<dyn Component> = team.def().clone();
        walk.built.insert(t.id.clone(), c.clone());
        walk.order.push((t.id.clone(), c));
        walk.teams.push(t.id.clone());
        Ok(())
    }

    fn workflow(
        &mut self,
        w: &WorkflowConfig,
        built: &HashMap<String, Arc<dyn Component>>,
        members: &HashMap<&str, Member>,
    ) -> Result<Workflow> {
        let what = format!("workflow {:?}", w.id);
        if w.steps.is_empty() {
            bail!("{what}: field `steps` is empty");
        }
        let mut b = Workflow::builder(&w.id);
        if let Some(n) = &w.name {
            b = b.name(n);
        }
        if let Some(d) = &w.description {
            b = b.description(d);
        }
        if let Some(t) = w.timeout_secs {
            b = b.timeout(Duration::from_secs(t));
        }
        let mut names = HashSet::new();
        for (i, s) in w.steps.iter().enumerate() {
            let step = step(s, &format!("steps[{i}]"), built, members, &mut names)
                .with_context(|| what.clone())?;
            b = b.step(step);
        }
        b.build().with_context(|| what.clone())
    }
}

fn check_id(kind: &str, id: &str) -> Result<()> {
    if id.trim().is_empty() {
        bail!("a {kind} has an empty `id`");
    }
    if id.contains(['/', '?', '#']) || id.chars().any(char::is_whitespace) {
        bail!("{kind} {id:?}: field `id` must not contain '/', '?', '#' or spaces (it is a URL path segment)");
    }
    Ok(())
}

fn known<'x>(ids: impl Iterator<Item = &'x str>) -> String {
    let mut v: Vec<&str> = ids.collect();
    v.sort_unstable();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn step(
    s: &StepConfig,
    field: &str,
    built: &HashMap<String, Arc<dyn Component>>,
    members: &HashMap<&str, Member>,
    names: &mut HashSet<String>,
) -> Result<WorkflowStep> {
    let kinds = [s.agent.is_some(), s.team.is_some(), s.parallel.is_some()]
        .iter()
        .filter(|x| **x)
        .count();
    if kinds != 1 {
        bail!("field `{field}`: a step has exactly one of `agent`, `team` or `parallel`");
    }
    let name = match (&s.name, &s.agent, &s.team) {
        (Some(n), _, _) => n.clone(),
        (None, Some(a), _) => a.clone(),
        (None, _, Some(t)) => t.clone(),
        (None, None, None) => bail!("field `{field}`: a parallel group needs a `name`"),
    };
    if !names.insert(name.clone()) {
        bail!(
            "field `{field}`: duplicate step name {name:?} (step names are unique in a workflow)"
        );
    }
    if let Some(group) = &s.parallel {
        if s.max_retries.is_some() || s.skip_on_failure.is_some() {
            bail!("field `{field}`: `max_retries` and `skip_on_failure` go on the group's steps");
        }
        if group.is_empty() {
            bail!("field `{field}.parallel` is empty");
        }
        let mut steps = Vec::new();
        for (i, g) in group.iter().enumerate() {
            steps.push(step(
                g,
                &format!("{field}.parallel[{i}]"),
                built,
                members,
                names,
            )?);
        }
        return Ok(Parallel::new(name, steps).into());
    }
    let (id, want_team) = match (&s.agent, &s.team) {
        (Some(a), _) => (a, false),
        (_, Some(t)) => (t, true),
        _ => unreachable!("checked above"),
    };
    let key = if want_team { "team" } else { "agent" };
    let is_team = match members.get(id.as_str()) {
        Some(Member::Team(_)) => true,
        Some(Member::Agent) => false,
        None => bail!(
            "field `{field}.{key}`: unknown {key} id {id:?} (known {key}s: {})",
            known(members.iter().filter_map(|(k, m)| match (m, want_team) {
                (Member::Team(_), true) | (Member::Agent, false) => Some(*k),
                _ => None,
            }))
        ),
    };
    if is_team != want_team {
        let (actual, article) = if is_team {
            ("team", "a team")
        } else {
            ("agent", "an agent")
        };
        bail!("field `{field}.{key}`: {id:?} is {article}; write `{actual} = {id:?}`");
    }
    let mut st = Step::component(name, built[id.as_str()].clone());
    if let Some(n) = s.max_retries {
        st = st.max_retries(n);
    }
    if let Some(skip) = s.skip_on_failure {
        st = st.skip_on_failure(skip);
    }
    Ok(st.into())
}

fn toolkit(t: &ToolConfig) -> Result<Box<dyn Toolkit>> {
    let table = match t {
        ToolConfig::Name(n) => ToolTable {
            name: n.clone(),
            base_url: None,
            html_url: None,
            cookie_url: None,
            timeout_secs: None,
        },
        ToolConfig::Table(t) => t.clone(),
    };
    let only = |key: &str, v: &Option<String>, kit: &str| -> Result<()> {
        if v.is_some() {
            bail!("`{key}` is not an option of the {kit} toolkit");
        }
        Ok(())
    };
    let settings = HttpSettings {
        base_url: table.base_url,
        timeout: table.timeout_secs.map(Duration::from_secs),
    };
    Ok(match table.name.trim().to_ascii_lowercase().as_str() {
        "hackernews" | "hacker_news" | "hn" => {
            only("html_url", &table.html_url, "hackernews")?;
            only("cookie_url", &table.cookie_url, "hackernews")?;
            with_settings(HackerNewsTools::new(), settings)
        }
        "yfinance" | "yahoo_finance" => {
            only("html_url", &table.html_url, "yfinance")?;
            let mut k = YFinanceTools::new();
            if let Some(u) = table.cookie_url {
                k = k.cookie_url(u);
            }
            with_settings(k, settings)
        }
        "duckduckgo" | "ddg" => {
            only("cookie_url", &table.cookie_url, "duckduckgo")?;
            let mut k = DuckDuckGoTools::new();
            if let Some(u) = table.html_url {
                k = k.html_url(u);
            }
            with_settings(k, settings)
        }
        "google_search" | "google" => {
            only("html_url", &table.html_url, "google_search")?;
            only("cookie_url", &table.cookie_url, "google_search")?;
            with_settings(GoogleSearchTools::new(), settings)
        }
        "exa" => {
            only("html_url", &table.html_url, "exa")?;
            only("cookie_url", &table.cookie_url, "exa")?;
            with_settings(ExaTools::new(), settings)
        }
        other => {
            bail!("unknown toolkit {other:?} (built-in toolkits: hackernews, yfinance, duckduckgo, google_search, exa)")
        }
    })
}

/// `kit` with the settings every HTTP toolkit takes (`base_url`, `timeout_secs`).
fn with_settings<K: HttpToolkit + 'static>(kit: K, settings: HttpSettings) -> Box<dyn Toolkit> {
    Box::new(kit.http_settings(settings))
}

/// A TOML value as JSON (a JSON schema written as an inline table). Only tables are schemas.
fn json_schema(v: &toml::Value) -> Result<Value> {
    if !v.is_table() {
        bail!("expected an inline table holding a JSON schema, e.g. {{ type = \"object\", properties = {{ title = {{ type = \"string\" }} }} }}");
    }
    Ok(toml_to_json(v))
}

fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kern::models::ModelError;

    fn fake_env(name: &str) -> Option<String> {
        match name {
            "OPENAI_API_KEY" => Some("sk-test".into()),
            _ => None,
        }
    }

    async fn open_engine() -> (tempfile::TempDir, Engine) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        let engine = Engine::open(path.to_str().unwrap()).await.unwrap();
        (dir, engine)
    }

    fn file(text: &str) -> ConfigFile {
        ConfigFile {
            path: "test.toml".into(),
            config: Config::parse(text).unwrap(),
        }
    }

    fn err_of(text: &str) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (_d, engine) = open_engine().await;
            let e = match Config::parse(text) {
                Err(e) => e,
                Ok(config) => ConfigFile {
                    path: "test.toml".into(),
                    config,
                }
                .register(&engine, fake_env)
                .expect_err("an error"),
            };
            format!("{e:#}")
        })
    }

    #[tokio::test]
    async fn the_shipped_example_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kern.toml");
        let cfg = ConfigFile::load(&path).unwrap();
        let (_d, engine) = open_engine().await;
        let reg = cfg.register(&engine, fake_env).unwrap();
        assert_eq!(
            reg.agents,
            ["hackernews-agent", "finance-agent", "content-planner"]
        );
        assert_eq!(reg.teams, ["research-team"]);
        assert_eq!(reg.workflows, ["content-creation"]);
        use kern::store::ComponentKind;
        assert_eq!(engine.components(ComponentKind::Agent).len(), 3);
        let team = engine
            .component(ComponentKind::Team, "research-team")
            .unwrap();
        assert_eq!(team.name(), "Research Team");
        let wf = engine
            .component(ComponentKind::Workflow, "content-creation")
            .unwrap();
        let info = wf.info().to_string();
        assert!(info.contains("Research Step"), "{info}");
        assert!(info.contains("Content Planning Step"), "{info}");
        let hn = engine
            .component(ComponentKind::Agent, "hackernews-agent")
            .unwrap();
        assert!(hn.info()["tools"]
            .to_string()
            .contains("get_top_hackernews_stories"));
        assert_eq!(hn.info()["model"]["provider"], "openai");

        // Without the key: the model error names the variable, before anything runs.
        let (_d2, engine2) = open_engine().await;
        let e = cfg.register(&engine2, |_: &str| None).err().unwrap();
        let model_err = e
            .chain()
            .find_map(|c| c.downcast_ref::<ModelError>())
            .expect("a ModelError in the chain");
        match model_err {
            ModelError::MissingApiKey { env_var, .. } => assert_eq!(env_var, "OPENAI_API_KEY"),
            other => panic!("{other:?}"),
        }
        let msg = format!("{e:#}");
        assert!(msg.contains("kern.toml"), "{msg}");
        assert!(msg.contains("agent \"hackernews-agent\""), "{msg}");
        assert!(msg.contains("OPENAI_API_KEY"), "{msg}");
        // Nothing was registered.
        assert!(engine2.components(ComponentKind::Agent).is_empty());
    }

    #[test]
    fn errors_name_the_component_and_field() {
        let m = err_of(
            r#"
            model = "openai:gpt-4o-mini"
            [[agents]]
            id = "a"
            tools = ["nope"]
            "#,
        );
        assert!(m.contains("test.toml") && m.contains("agent \"a\""), "{m}");
        assert!(
            m.contains("tools[0]") && m.contains("unknown toolkit \"nope\""),
            "{m}"
        );

        let m = err_of(
            r#"
            model = "openai:gpt-4o-mini"
            [[agents]]
            id = "a"
            [[teams]]
            id = "t"
            members = ["a", "ghost"]
            "#,
        );
        assert!(
            m.contains("team \"t\"") && m.contains("unknown member id \"ghost\""),
            "{m}"
        );

        let m = err_of(
            r#"
            model = "openai:gpt-4o-mini"
            [[agents]]
            id = "a"
            [[teams]]
            id = "a"
            members = ["a"]
            "#,
        );
        assert!(m.contains("duplicate id"), "{m}");

        let m = err_of(
            r#"
            [[agents]]
            id = "a"
            "#,
        );
        assert!(m.contains("agent \"a\": missing field `model`"), "{m}");

        let m = err_of(
            r#"
            [[agents]]
            id = "a"
            model = "anthropic:claude-haiku-4-5"
            "#,
        );
        assert!(
            m.contains("ANTHROPIC_API_KEY") && m.contains("field `model`"),
            "{m}"
        );

        let m = err_of(
            r#"
            [[agents]]
            id = "a"
            modle = "x"
            "#,
        );
        assert!(
            m.contains("unknown field `modle`") && m.contains("line"),
            "{m}"
        );

        let m = err_of(
            r#"
            model = "openai:gpt-4o-mini"
            [[agents]]
            id = "a"
            [[teams]]
            id = "t1"
            members = ["t2"]
            [[teams]]
            id = "t2"
            members = ["t1", "a"]
            "#,
        );
        assert!(m.contains("cycle"), "{m}");

        let m = err_of(
            r#"
            model = "openai:gpt-4o-mini"
            [[agents]]
            id = "a"
            [[workflows]]
            id = "w"
            steps = [{ name = "x", team = "a" }]
            "#,
        );
        assert!(
            m.contains("workflow \"w\"") && m.contains("write `agent = \"a\"`"),
            "{m}"
        );

        let m = err_of(
            r#"
            model = "openai:gpt-4o-mini"
            [[agents]]
            id = "a"
            [[workflows]]
            id = "w"
            steps = [{ name = "x", agent = "b" }]
            "#,
        );
        assert!(
            m.contains("steps[0].agent") && m.contains("unknown agent id \"b\""),
            "{m}"
        );

        let m = err_of(
            r#"
            model = "openai:gpt-4o-mini"
            [[agents]]
            id = "a"
            [[teams]]
            id = "t"
            members = ["a"]
            mode = "vote"
            "#,
        );
        assert!(m.contains("field `mode`") && m.contains("\"vote\""), "{m}");
    }

    #[tokio::test]
    async fn parallel_groups_schemas_and_defaults() {
        let cfg = file(
            r#"
            model = "openai-compatible:http://127.0.0.1:9/v1#m"
            [[agents]]
            id = "a"
            instructions = "one"
            output_schema = { type = "object", properties = { title = { type = "string" } }, required = ["title"] }
            [[agents]]
            id = "b"
            instructions = ["one", "two"]
            tools = [{ name = "duckduckgo", base_url = "http://127.0.0.1:9", html_url = "http://127.0.0.1:9/html" }]
            [[teams]]
            id = "t"
            members = ["a", "b"]
            mode = "collaborate"
            [[workflows]]
            id = "w"
            steps = [
              { name = "both", parallel = [ { agent = "a" }, { agent = "b", max_retries = 1 } ] },
              { name = "team", team = "t" },
            ]
            "#,
        );
        let (_d, engine) = open_engine().await;
        let reg = cfg.register(&engine, |_: &str| None).unwrap();
        assert_eq!(reg.workflows, ["w"]);
        use kern::store::ComponentKind;
        let team = engine.component(ComponentKind::Team, "t").unwrap();
        assert_eq!(team.info()["mode"], "collaborate");
        let a = engine.component(ComponentKind::Agent, "a").unwrap();
        assert_eq!(a.info()["instructions"], serde_json::json!(["one"]));
        // Registering again collides with the ids taken.
        let e = cfg.register(&engine, |_: &str| None).err().unwrap();
        assert!(format!("{e:#}").contains("registering"), "{e:#}");
    }
}
