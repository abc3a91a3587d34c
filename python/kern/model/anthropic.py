"""Alias of :mod:`kern.models.anthropic`."""

from kern.models.anthropic import *  # noqa: F403
