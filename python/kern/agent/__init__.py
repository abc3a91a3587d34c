"""Agents: :class:`Agent`."""

from kern.agent.agent import Agent
from kern.run.agent import RunOutput

__all__ = ["Agent", "RunOutput"]
