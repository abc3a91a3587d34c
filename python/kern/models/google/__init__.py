"""Google models."""

from kern.models.google.gemini import Gemini

__all__ = ["Gemini"]
