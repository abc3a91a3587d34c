"""Alias module (Agno layout): :class:`kern.workflow.Loop`."""

from kern.workflow.step import Loop

__all__ = ["Loop"]
