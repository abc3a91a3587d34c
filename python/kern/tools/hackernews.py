"""Hacker News: top stories, a story with comments, user details."""

from __future__ import annotations

from typing import Any, Optional

from kern.tools.toolkit import BuiltinToolkit


class HackerNewsTools(BuiltinToolkit):
    """``get_top_hackernews_stories``, ``get_user_details`` (Hacker News' public API)."""

    toolkit = "hackernews"
    known_options = ("base_url", "timeout", "enable_get_top_stories", "enable_get_user_details")

    def __init__(
        self,
        enable_get_top_stories: Optional[bool] = None,
        enable_get_user_details: Optional[bool] = None,
        all: bool = False,
        **options: Any,
    ) -> None:
        # Agno's older flag names.
        top = options.pop("get_top_stories", None)
        user = options.pop("get_user_details", None)
        super().__init__(
            enable_get_top_stories=enable_get_top_stories
            if enable_get_top_stories is not None
            else top,
            enable_get_user_details=enable_get_user_details
            if enable_get_user_details is not None
            else user,
            **options,
        )
