"""Google's Gemini API."""

from __future__ import annotations

from kern.models.base import Model


class Gemini(Model):
    """``Gemini(id="gemini-2.5-flash")``: key from ``GOOGLE_API_KEY`` or ``GEMINI_API_KEY``,
    base URL from ``GEMINI_BASE_URL``."""

    provider_key = "gemini"
    provider = "Google"
    api_key_env = ("GOOGLE_API_KEY", "GEMINI_API_KEY")
    base_url_env = ("GEMINI_BASE_URL",)
    default_id = "gemini-2.5-flash"
