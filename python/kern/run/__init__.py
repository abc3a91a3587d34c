"""Run outputs and events: :class:`~kern.run.base.RunStatus`, ``RunOutput`` (agents),
``TeamRunOutput``, ``WorkflowRunOutput``, and the typed events of :mod:`kern.run.events`."""

from kern.run.base import RunStatus

__all__ = ["RunStatus"]
