"""Serving agents, teams and workflows over HTTP: :class:`AgentOS`."""

from kern.os.app import AgentOS

__all__ = ["AgentOS"]
