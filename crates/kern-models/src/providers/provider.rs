//! What every provider shares, written once: [`Provider`], one wire protocol with the
//! settings common to all (the model, the base URL of the API, the API key, the HTTP client's
//! timeouts, retries and extra headers), their builder methods, reading them from the
//! environment, and the [`Model`] implementation. A protocol module gives only what differs
//! ([`Protocol`]): the request body, the path, how the key is sent, the response framing and
//! its decoder.

use std::fmt;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, AUTHORIZATION};
use serde_json::Value;

use super::{first_env, Env};
use crate::error::ModelError;
use crate::http::{header_value, join_url, ClientOptions, Decoder, Framing, HttpClient};
use crate::model::{Model, ModelStream};
use crate::types::ChatRequest;

/// A model at a provider: the settings every provider shares and one wire protocol `P`.
///
/// Each provider is one of these: [`OpenAiChat`](crate::OpenAiChat),
/// [`OpenAiCompatible`](crate::OpenAiCompatible), [`OpenAiResponses`](crate::OpenAiResponses),
/// [`Anthropic`](crate::Anthropic), [`Gemini`](crate::Gemini) and [`Ollama`](crate::Ollama),
/// each built by its own constructors (`new`, `from_env`) and configured with the builder
/// methods here, plus its own where it has more (e.g.
/// [`Anthropic::default_max_tokens`](crate::Anthropic::default_max_tokens)).
///
/// ```
/// use std::time::Duration;
/// use kern_models::{Anthropic, ClientOptions, Model, RetryPolicy};
/// let model = Anthropic::new("claude-sonnet-4-5", "sk-ant-…")
///     .base_url("https://anthropic-proxy.internal")
///     .options(
///         ClientOptions::default()
///             .idle_timeout(Duration::from_secs(60))
///             .retry(RetryPolicy::default().max_attempts(5)),
///     );
/// assert_eq!((model.provider(), model.id()), ("anthropic", "claude-sonnet-4-5"));
/// ```
#[derive(Clone)]
pub struct Provider<P> {
    model: String,
    base_url: String,
    api_key: Option<String>,
    http: HttpClient,
    pub(crate) protocol: P,
}

impl<P> Provider<P> {
    /// `model` at `base_url` with `protocol`, default client options.
    pub(crate) fn with_protocol(
        protocol: P,
        model: impl Into<String>,
        base_url: impl Into<String>,
        api_key: Option<String>,
    ) -> Self {
        Self {
            model: model.into(),
            base_url: base_url.into(),
            api_key,
            http: HttpClient::new(ClientOptions::default()),
            protocol,
        }
    }

    /// `model` with `protocol`, its settings from the environment: the key from the first
    /// set variable of `vars.api_key` ([`ModelError::MissingApiKey`] naming them when none
    /// is), the base URL from `vars.base_url` when set, else `default_base_url`.
    pub(crate) fn from_env_vars(
        protocol: P,
        model: String,
        default_base_url: &str,
        vars: &EnvVars,
        env: Env<'_>,
    ) -> Result<Self, ModelError> {
        let key = first_env(env, vars.api_key).ok_or_else(|| ModelError::MissingApiKey {
            provider: vars.provider.into(),
            env_var: vars.api_key.join(" or "),
        })?;
        let base_url =
            first_env(env, &[vars.base_url]).unwrap_or_else(|| default_base_url.to_string());
        Ok(Self::with_protocol(protocol, model, base_url, Some(key)))
    }

    /// Sets the base URL of the provider's API: the part before the path the protocol
    /// appends (`/chat/completions`, `/responses`, `/v1/messages`, `/models/…`,
    /// `/api/chat`).
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// Sets the API key: sent as `Authorization: Bearer …` (OpenAI, compatible servers,
    /// Ollama behind an authenticating proxy), `x-api-key` (Anthropic) or `x-goog-api-key`
    /// (Gemini).
    pub fn api_key(mut self, api_key: impl Into<String>) -> Self {
        self.api_key = Some(api_key.into());
        self
    }

    /// Sets timeouts, retries and extra headers (e.g. an organisation header, or
    /// `anthropic-beta`).
    pub fn options(mut self, options: ClientOptions) -> Self {
        self.http = HttpClient::new(options);
        self
    }
}

/// The API key is left out, so that a model can be logged.
impl<P: fmt::Debug> fmt::Debug for Provider<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("model", &self.model)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "…"))
            .field("http", &self.http)
            .field("protocol", &self.protocol)
            .finish()
    }
}

/// Where a provider finds its settings in the environment.
pub(crate) struct EnvVars {
    /// The provider, as [`ModelError::MissingApiKey`] names it.
    pub provider: &'static str,
    /// The variables that may hold the API key, the first set one wins.
    pub api_key: &'static [&'static str],
    /// The variable that overrides the base URL.
    pub base_url: &'static str,
}

/// What differs between providers: their wire protocol.
pub(crate) trait Protocol: Send + Sync + 'static {
    /// Turns the response's frames into stream events.
    type Decoder: Decoder + Default;

    /// How the response body is cut into frames.
    const FRAMING: Framing;

    /// The provider's name ([`Model::provider`]).
    const NAME: &'static str;

    /// The path of a streamed chat request, under the base URL.
    fn path(&self, model: &str) -> String;

    /// The request body.
    fn body(&self, model: &str, req: &ChatRequest) -> Result<Value, ModelError>;

    /// Adds the headers that carry the API key, if there is one: `Authorization: Bearer …`
    /// unless the protocol says otherwise.
    fn credentials(
        &self,
        api_key: Option<&str>,
        headers: &mut HeaderMap,
    ) -> Result<(), ModelError> {
        if let Some(key) = api_key {
            headers.insert(AUTHORIZATION, header_value(&format!("Bearer {key}"))?);
        }
        Ok(())
    }
}

#[async_trait]
impl<P: Protocol> Model for Provider<P> {
    fn id(&self) -> &str {
        &self.model
    }

    fn provider(&self) -> &str {
        P::NAME
    }

    async fn stream(&self, req: ChatRequest) -> Result<ModelStream, ModelError> {
        let body = self.protocol.body(&self.model, &req)?;
        let mut headers = HeaderMap::new();
        self.protocol
            .credentials(self.api_key.as_deref(), &mut headers)?;
        let url = join_url(&self.base_url, &self.protocol.path(&self.model));
        let decoder = P::Decoder::default();
        self.http
            .post_stream(&url, headers, &body, P::FRAMING, decoder)
            .await
    }
}

#[cfg(test)]
mod tests {
    use crate::{Anthropic, ClientOptions, Gemini, Model, Ollama, OpenAiChat, RetryPolicy};

    #[test]
    fn the_shared_builders_configure_every_provider_and_debug_hides_the_key() {
        let options = ClientOptions::default().retry(RetryPolicy::none());
        let openai = OpenAiChat::new("gpt", "sk-openai-secret")
            .base_url("http://proxy/v1")
            .options(options.clone());
        let anthropic = Anthropic::new("claude", "first")
            .api_key("sk-ant-secret")
            .default_max_tokens(100);
        let gemini = Gemini::new("gemini", "g-secret").base_url("http://g/v1beta");
        let ollama = Ollama::new("llama")
            .host("gpu-box:11434")
            .api_key("o-secret");
        let shown = format!("{openai:?} {anthropic:?} {gemini:?} {ollama:?}");
        for secret in ["sk-openai-secret", "sk-ant-secret", "g-secret", "o-secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("http://proxy/v1") && shown.contains("http://gpu-box:11434"));
        assert!(shown.contains("default_max_tokens: 100"), "{shown}");
        let ids = [openai.id(), anthropic.id(), gemini.id(), ollama.id()];
        assert_eq!(ids, ["gpt", "claude", "gemini", "llama"]);
        let names = [
            openai.provider(),
            anthropic.provider(),
            gemini.provider(),
            ollama.provider(),
        ];
        assert_eq!(names, ["openai", "anthropic", "gemini", "ollama"]);
    }
}
