"""Alias module (Agno layout): :class:`kern.workflow.Parallel`."""

from kern.workflow.step import Parallel

__all__ = ["Parallel"]
