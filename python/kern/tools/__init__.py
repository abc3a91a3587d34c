"""Tools for agents: Python functions (plain, or decorated with :func:`tool`), toolkits of
them (:class:`Toolkit`), and the built-in toolkits (``kern.tools.hackernews``,
``kern.tools.yfinance``, ``kern.tools.duckduckgo``, ``kern.tools.googlesearch``,
``kern.tools.exa``)."""

from kern.tools.decorator import tool
from kern.tools.function import Function
from kern.tools.toolkit import Toolkit

__all__ = ["Function", "Toolkit", "tool"]
