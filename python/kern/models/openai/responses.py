"""OpenAI's Responses API."""

from __future__ import annotations

from kern.models.base import Model


class OpenAIResponses(Model):
    """``OpenAIResponses(id="gpt-5-mini")``: key from ``OPENAI_API_KEY``, base URL from
    ``OPENAI_BASE_URL``."""

    provider_key = "openai-responses"
    provider = "OpenAI"
    api_key_env = ("OPENAI_API_KEY",)
    base_url_env = ("OPENAI_BASE_URL",)
    default_id = "gpt-4o"
