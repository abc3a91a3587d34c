"""Alias module (Agno layout): :class:`kern.workflow.Router`."""

from kern.workflow.step import Router

__all__ = ["Router"]
