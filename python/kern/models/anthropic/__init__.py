"""Anthropic models."""

from kern.models.anthropic.claude import Claude

__all__ = ["Claude"]
