"""Alias module (Agno layout): :class:`kern.workflow.Condition`."""

from kern.workflow.step import Condition

__all__ = ["Condition"]
