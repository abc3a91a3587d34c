"""OpenAI's Chat Completions API."""

from __future__ import annotations

from kern.models.base import Model


class OpenAIChat(Model):
    """``OpenAIChat(id="gpt-4o-mini")``: key from ``OPENAI_API_KEY``, base URL from
    ``OPENAI_BASE_URL`` (for compatible servers and local fakes)."""

    provider_key = "openai"
    provider = "OpenAI"
    api_key_env = ("OPENAI_API_KEY",)
    base_url_env = ("OPENAI_BASE_URL",)
    default_id = "gpt-4o"
