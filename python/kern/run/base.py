"""Run statuses and what every run output has in common."""

from __future__ import annotations

import enum
import json
from typing import Any, Dict, List, Optional


class RunStatus(str, enum.Enum):
    """A run's status, with Agno's names and values (``RunStatus.completed == "COMPLETED"``).

    kern also accepts the spellings its own docs and Agno's guides use when comparing:
    ``RunStatus.error == "failed"``, ``RunStatus.completed == "completed"`` (any case).
    """

    pending = "PENDING"
    running = "RUNNING"
    completed = "COMPLETED"
    paused = "PAUSED"
    cancelled = "CANCELLED"
    error = "ERROR"

    @classmethod
    def parse(cls, value: Any) -> RunStatus:
        """A status from kern's engine (``failed``) or from the wire (``ERROR``)."""
        if isinstance(value, RunStatus):
            return value
        text = str(value).strip().lower()
        return _ALIASES[text]

    @property
    def is_terminal(self) -> bool:
        """True for completed, error and cancelled."""
        return self in (RunStatus.completed, RunStatus.error, RunStatus.cancelled)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str) and not isinstance(other, RunStatus):
            found = _ALIASES.get(other.strip().lower())
            return found is self
        return super().__eq__(other)

    def __hash__(self) -> int:
        return hash(self.value)

    def __str__(self) -> str:
        return self.value


_ALIASES: Dict[str, RunStatus] = {}
for _s in RunStatus:
    _ALIASES[_s.value.lower()] = _s
    _ALIASES[_s.name] = _s
_ALIASES["failed"] = RunStatus.error
_ALIASES["canceled"] = RunStatus.cancelled


def _secs(millis: Optional[int]) -> Optional[int]:
    return None if millis is None else int(millis) // 1000


class BaseRunOutput:
    """The result of a run (or what is known of it so far), built from the engine's record.

    ``has_completed()`` is true for every terminal status (completed, error, cancelled);
    Agno's is true for completed and error only, so check ``status`` to tell them apart. ``content`` is
    the final content (None until the run completes); ``error`` says why a run failed.
    """

    _kind = ""

    def __init__(self, record: Dict[str, Any], component_name: Optional[str] = None) -> None:
        output = record.get("output") or {}
        self.run_id: str = record["run_id"]
        self.session_id: str = record.get("session_id", "")
        self.user_id: Optional[str] = record.get("user_id")
        self.parent_run_id: Optional[str] = record.get("parent_run_id")
        self.status: RunStatus = RunStatus.parse(record.get("status", "pending"))
        stored_input = record.get("input") or {}
        self.input: Any = stored_input.get("input")
        self.additional_data: Any = stored_input.get("additional_data")
        self.content: Any = output.get("content")
        self.content_type: str = output.get("content_type") or (
            "str" if isinstance(self.content, str) else "json"
        )
        self.metrics: Optional[Dict[str, Any]] = output.get("metrics")
        self.error: Optional[str] = record.get("error")
        self.created_at: Optional[int] = _secs(record.get("created_at"))
        self.updated_at: Optional[int] = _secs(record.get("updated_at"))
        self.started_at: Optional[int] = _secs(record.get("started_at"))
        self.finished_at: Optional[int] = _secs(record.get("finished_at"))
        self.attempt: int = record.get("attempt", 0)
        self.event_count: int = record.get("event_count", 0)
        self.background: bool = bool(record.get("background"))
        self._output = output
        self._record = record
        self._name = component_name
        # Human in the loop: the waiting calls of a paused run.
        from kern.run.requirement import RunRequirement

        self.requirements: Optional[List[RunRequirement]] = (
            [RunRequirement.from_dict(r) for r in output["requirements"]]
            if self.status == RunStatus.paused and output.get("requirements") is not None
            else None
        )

    @property
    def active_requirements(self) -> list:
        """The requirements of a paused run still waiting for a decision."""
        return [r for r in (self.requirements or []) if not r.is_resolved()]

    @property
    def tools_requiring_confirmation(self) -> list:
        return [r.tool_execution for r in self.active_requirements if r.needs_confirmation]

    @property
    def tools_requiring_user_input(self) -> list:
        return [r.tool_execution for r in self.active_requirements if r.needs_user_input]

    @property
    def tools_awaiting_external_execution(self) -> list:
        return [r.tool_execution for r in self.active_requirements if r.needs_external_execution]

    def has_completed(self) -> bool:
        """True once the run ended: completed, error or cancelled."""
        return self.status.is_terminal

    @property
    def is_paused(self) -> bool:
        return self.status == RunStatus.paused

    @property
    def is_cancelled(self) -> bool:
        return self.status == RunStatus.cancelled

    def get_content_as_string(self, **json_kwargs: Any) -> str:
        if isinstance(self.content, str):
            return self.content
        return json.dumps(self.content, **json_kwargs)

    def to_dict(self) -> Dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        out["status"] = self.status.value
        return out

    def to_json(self, indent: Optional[int] = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=_default)

    def __repr__(self) -> str:
        content = self.content
        if isinstance(content, str) and len(content) > 60:
            content = content[:57] + "..."
        return f"{type(self).__name__}(run_id={self.run_id!r}, status={self.status.value}, content={content!r})"


def _default(o: Any) -> Any:
    if hasattr(o, "to_dict"):
        return o.to_dict()
    return str(o)
