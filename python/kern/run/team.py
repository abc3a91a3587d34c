"""A team run's output."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from kern.run.base import BaseRunOutput, RunStatus


class TeamRunOutput(BaseRunOutput):
    """A team run: the leader's answer (``content``), its mode, the delegations it made."""

    _kind = "team"

    def __init__(self, record: Dict[str, Any], component_name: Optional[str] = None) -> None:
        super().__init__(record, component_name)
        self.team_id: str = record.get("component_id", "")
        self.team_name: Optional[str] = component_name
        self.model: Optional[str] = self._output.get("model")
        self.model_provider: Optional[str] = self._output.get("model_provider")
        self.mode: Optional[str] = self._output.get("mode")
        from kern.run.requirement import ToolExecution

        self.tools: List[ToolExecution] = [
            ToolExecution.from_dict(t) for t in self._output.get("tools") or []
        ]


__all__ = ["RunStatus", "TeamRunOutput"]
