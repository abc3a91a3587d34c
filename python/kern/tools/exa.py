"""Exa search, contents and similar pages."""

from __future__ import annotations

from kern.tools.toolkit import BuiltinToolkit


class ExaTools(BuiltinToolkit):
    """``search_exa``, ``get_contents``, ``find_similar`` (and ``exa_answer``): needs
    ``EXA_API_KEY`` (or ``api_key=``)."""

    toolkit = "exa"
    known_options = ("base_url", "timeout", "api_key")
