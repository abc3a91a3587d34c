"""An agent run's output, and the agent events."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from kern.run.base import BaseRunOutput, RunStatus
from kern.run.events import *  # noqa: F403  (Agno exports the event classes here)
from kern.run.events import RunEvent, RunOutputEvent


class RunOutput(BaseRunOutput):
    """An agent run: its answer (``content``), the tools it called, its model."""

    _kind = "agent"

    def __init__(self, record: Dict[str, Any], component_name: Optional[str] = None) -> None:
        super().__init__(record, component_name)
        self.agent_id: str = record.get("component_id", "")
        self.agent_name: Optional[str] = component_name
        self.model: Optional[str] = self._output.get("model")
        self.model_provider: Optional[str] = self._output.get("model_provider")
        from kern.run.requirement import ToolExecution

        self.tools: List[ToolExecution] = [
            ToolExecution.from_dict(t) for t in self._output.get("tools") or []
        ]


__all__ = ["RunEvent", "RunOutput", "RunOutputEvent", "RunStatus"]
