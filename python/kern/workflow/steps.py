"""Alias module (Agno layout): :class:`kern.workflow.Steps`."""

from kern.workflow.step import Steps

__all__ = ["Steps"]
