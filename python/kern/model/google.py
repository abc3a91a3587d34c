"""Alias of :mod:`kern.models.google`."""

from kern.models.google import Gemini

__all__ = ["Gemini"]
