//! Models from string specs, for configuration files.

use std::sync::Arc;

use crate::error::ModelError;
use crate::model::Model;
use crate::providers::anthropic::Anthropic;
use crate::providers::gemini::Gemini;
use crate::providers::ollama::Ollama;
use crate::providers::openai_chat::{OpenAiChat, OpenAiCompatible};
use crate::providers::openai_responses::OpenAiResponses;
use crate::providers::{first_env, process_env};

/// Builds a model from a spec `provider:model`, reading keys and base URLs from the process
/// environment.
///
/// | spec | model | environment |
/// |---|---|---|
/// | `openai:gpt-4o-mini` | [`OpenAiChat`] (Chat Completions) | `OPENAI_API_KEY` (required), `OPENAI_BASE_URL` |
/// | `openai-responses:gpt-4.1` | [`OpenAiResponses`] | the same |
/// | `anthropic:claude-sonnet-4-5` | [`Anthropic`] | `ANTHROPIC_API_KEY` (required), `ANTHROPIC_BASE_URL` |
/// | `gemini:gemini-2.5-flash` (or `google:…`) | [`Gemini`] | `GOOGLE_API_KEY` or `GEMINI_API_KEY` (required), `GEMINI_BASE_URL` |
/// | `ollama:llama3.1` (tags allowed: `ollama:qwen3:8b`) | [`Ollama`] | `OLLAMA_HOST` |
/// | `openai-compatible:http://host:8000/v1#model` | [`OpenAiCompatible`] at that base URL | `OPENAI_COMPATIBLE_API_KEY` (optional) |
///
/// Everything after the first `:` is the model name (or, for `openai-compatible`, the base
/// URL, `#`, and the model name). A required key that is unset is
/// [`ModelError::MissingApiKey`], before any request; an unknown provider is
/// [`ModelError::UnknownProvider`]; a spec without a model is [`ModelError::UnknownModel`].
///
/// ```
/// use kern_models::{model_from_spec, ModelError};
/// let model = model_from_spec("ollama:llama3.1").unwrap();
/// assert_eq!((model.provider(), model.id()), ("ollama", "llama3.1"));
/// assert!(matches!(model_from_spec("nope:x"), Err(ModelError::UnknownProvider(_))));
/// ```
pub fn model_from_spec(spec: &str) -> Result<Arc<dyn Model>, ModelError> {
    model_from_spec_with(spec, process_env)
}

/// [`model_from_spec`] with the environment looked up through `env` (for tests, or
/// configuration that keeps secrets elsewhere).
pub fn model_from_spec_with(
    spec: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Arc<dyn Model>, ModelError> {
    let env: &dyn Fn(&str) -> Option<String> = &env;
    let spec = spec.trim();
    let Some((provider, rest)) = spec.split_once(':') else {
        return Err(ModelError::UnknownModel(format!(
            "{spec:?} is not a model spec: expected provider:model, e.g. openai:gpt-4o-mini"
        )));
    };
    let provider = provider.trim().to_ascii_lowercase();
    let rest = rest.trim();
    let model = |what: &str| -> Result<String, ModelError> {
        if rest.is_empty() {
            Err(ModelError::UnknownModel(format!(
                "{spec:?} names no {what}: expected {provider}:<{what}>"
            )))
        } else {
            Ok(rest.to_string())
        }
    };
    Ok(match provider.as_str() {
        "openai" => Arc::new(OpenAiChat::from_env_with(model("model")?, env)?),
        "openai-responses" => Arc::new(OpenAiResponses::from_env_with(model("model")?, env)?),
        "anthropic" => Arc::new(Anthropic::from_env_with(model("model")?, env)?),
        "gemini" | "google" => Arc::new(Gemini::from_env_with(model("model")?, env)?),
        "ollama" => Arc::new(Ollama::from_env_with(model("model")?, env)),
        "openai-compatible" => {
            let target = model("base-url#model")?;
            let Some((base_url, name)) = target
                .rsplit_once('#')
                .filter(|(b, m)| !b.trim().is_empty() && !m.trim().is_empty())
            else {
                return Err(ModelError::UnknownModel(format!(
                    "{spec:?}: expected openai-compatible:<base-url>#<model>, e.g. openai-compatible:http://localhost:8000/v1#llama"
                )));
            };
            let mut model = OpenAiCompatible::new(base_url.trim(), name.trim());
            if let Some(key) = first_env(env, &["OPENAI_COMPATIBLE_API_KEY"]) {
                model = model.api_key(key);
            }
            Arc::new(model)
        }
        _ => return Err(ModelError::UnknownProvider(provider)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn specs_build_each_provider() {
        let env = env_with(&[
            ("OPENAI_API_KEY", "sk-test"),
            ("ANTHROPIC_API_KEY", "ak"),
            ("GEMINI_API_KEY", "gk"),
        ]);
        for (spec, provider, id) in [
            ("openai:gpt-4o-mini", "openai", "gpt-4o-mini"),
            ("openai-responses:gpt-4.1", "openai-responses", "gpt-4.1"),
            (
                "anthropic:claude-sonnet-4-5",
                "anthropic",
                "claude-sonnet-4-5",
            ),
            ("gemini:gemini-2.5-flash", "gemini", "gemini-2.5-flash"),
            ("google:gemini-2.5-pro", "gemini", "gemini-2.5-pro"),
            ("ollama:qwen3:8b", "ollama", "qwen3:8b"),
            (" OpenAI : gpt-4o ", "openai", "gpt-4o"),
            (
                "openai-compatible:http://localhost:8000/v1#meta/llama-3",
                "openai-compatible",
                "meta/llama-3",
            ),
        ] {
            let model = model_from_spec_with(spec, &env).unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!((model.provider(), model.id()), (provider, id), "{spec}");
        }
    }

    #[test]
    fn missing_keys_are_reported_before_any_request() {
        let none = env_with(&[]);
        for (spec, var) in [
            ("openai:gpt-4o-mini", "OPENAI_API_KEY"),
            ("openai-responses:gpt-4o-mini", "OPENAI_API_KEY"),
            ("anthropic:claude-haiku-4-5", "ANTHROPIC_API_KEY"),
            (
                "gemini:gemini-2.5-flash",
                "GOOGLE_API_KEY or GEMINI_API_KEY",
            ),
        ] {
            match model_from_spec_with(spec, &none) {
                Err(ModelError::MissingApiKey { env_var, .. }) => assert_eq!(env_var, var),
                other => panic!("{spec}: {:?}", other.map(|m| m.id().to_string())),
            }
        }
        // An empty variable counts as unset.
        let empty = env_with(&[("OPENAI_API_KEY", "  ")]);
        assert!(matches!(
            model_from_spec_with("openai:gpt-4o", &empty),
            Err(ModelError::MissingApiKey { .. })
        ));
        // No key needed.
        assert!(model_from_spec_with("ollama:llama3.1", &none).is_ok());
        assert!(model_from_spec_with("openai-compatible:http://h/v1#m", &none).is_ok());
    }

    #[test]
    fn bad_specs() {
        let env = env_with(&[("OPENAI_API_KEY", "k")]);
        let err = |spec: &str| model_from_spec_with(spec, &env).err().unwrap();
        assert!(matches!(err("mistral:large"), ModelError::UnknownProvider(p) if p == "mistral"));
        assert!(matches!(err("gpt-4o"), ModelError::UnknownModel(_)));
        assert!(matches!(err("openai:"), ModelError::UnknownModel(_)));
        assert!(matches!(
            err("openai-compatible:http://h/v1"),
            ModelError::UnknownModel(_)
        ));
        assert!(matches!(
            err("openai-compatible:http://h/v1#"),
            ModelError::UnknownModel(_)
        ));
    }
}
