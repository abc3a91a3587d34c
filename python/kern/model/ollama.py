"""Alias of :mod:`kern.models.ollama`."""

from kern.models.ollama import *  # noqa: F403
