//! The [`Model`] trait.

use std::pin::Pin;

use async_trait::async_trait;
use futures::{Stream, StreamExt};

use crate::error::ModelError;
use crate::types::{ChatRequest, ChatResponse, StreamEvent};

/// A model's response stream: deltas as they arrive, then exactly one
/// [`StreamEvent::Completed`], last. An `Err` item ends the stream (nothing follows it).
pub type ModelStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, ModelError>> + Send>>;

/// A chat model behind some provider.
///
/// Implementations retry rate limits and server errors themselves, but only before the
/// stream has handed out anything; once a delta was yielded, a failure ends the stream with
/// an error and the caller decides (see [`ModelError::is_retryable`]).
#[async_trait]
pub trait Model: Send + Sync + 'static {
    /// The model's name at its provider, e.g. `"gpt-4o-mini"`.
    fn id(&self) -> &str;

    /// The provider's name, e.g. `"openai"`, `"anthropic"`, `"gemini"`, `"ollama"`.
    fn provider(&self) -> &str;

    /// Sends the request and returns the response stream once the provider accepted it
    /// (HTTP success). Errors before that (credentials, rate limits after retries, …) are
    /// returned here; errors after it are items of the stream.
    async fn stream(&self, req: ChatRequest) -> Result<ModelStream, ModelError>;

    /// Sends the request and waits for the complete response (drains [`Model::stream`]).
    async fn complete(&self, req: ChatRequest) -> Result<ChatResponse, ModelError> {
        let mut stream = self.stream(req).await?;
        while let Some(item) = stream.next().await {
            if let StreamEvent::Completed(response) = item? {
                return Ok(response);
            }
        }
        Err(ModelError::StreamDropped)
    }
}

/// Anything that can be an agent's or a team's model: a provider value (`OpenAiChat::new(…)`),
/// an `Arc` of one, or an `Arc<dyn Model>` shared between components.
pub trait IntoModel {
    /// The model, shared.
    fn into_model(self) -> std::sync::Arc<dyn Model>;
}

impl<M: Model> IntoModel for M {
    fn into_model(self) -> std::sync::Arc<dyn Model> {
        std::sync::Arc::new(self)
    }
}

impl<M: Model> IntoModel for std::sync::Arc<M> {
    fn into_model(self) -> std::sync::Arc<dyn Model> {
        self
    }
}

impl IntoModel for std::sync::Arc<dyn Model> {
    fn into_model(self) -> std::sync::Arc<dyn Model> {
        self
    }
}
