"""Alias of :mod:`kern.models.openai`."""

from kern.models.openai import *  # noqa: F403
