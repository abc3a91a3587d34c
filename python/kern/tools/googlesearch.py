"""Google search (the Programmable Search JSON API)."""

from __future__ import annotations

from kern.tools.toolkit import BuiltinToolkit


class GoogleSearchTools(BuiltinToolkit):
    """``google_search(query, max_results, language)``: needs ``GOOGLE_API_KEY`` and
    ``GOOGLE_CSE_ID`` (or ``api_key=`` / ``cse_id=``); a missing one fails the tool call with a
    message naming it, not the program."""

    toolkit = "google_search"
    known_options = ("base_url", "timeout", "api_key", "cse_id")
