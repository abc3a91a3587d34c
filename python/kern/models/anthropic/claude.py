"""Anthropic's Messages API."""

from __future__ import annotations

from kern.models.base import Model


class Claude(Model):
    """``Claude(id="claude-sonnet-4-5")``: key from ``ANTHROPIC_API_KEY``, base URL from
    ``ANTHROPIC_BASE_URL``."""

    provider_key = "anthropic"
    provider = "Anthropic"
    api_key_env = ("ANTHROPIC_API_KEY",)
    base_url_env = ("ANTHROPIC_BASE_URL",)
    default_id = "claude-sonnet-4-5"
