"""DuckDuckGo web and news search."""

from __future__ import annotations

from typing import Any

from kern.tools.toolkit import BuiltinToolkit


class DuckDuckGoTools(BuiltinToolkit):
    """``duckduckgo_search`` and ``duckduckgo_news``."""

    toolkit = "duckduckgo"
    known_options = ("base_url", "html_url", "timeout", "enable_search", "enable_news")

    def __init__(self, **options: Any) -> None:
        for old, new in (("search", "enable_search"), ("news", "enable_news")):
            if old in options and new not in options:
                options[new] = options.pop(old)
        super().__init__(**options)
