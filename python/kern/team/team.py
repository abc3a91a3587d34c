"""Teams: a leader model and member agents (or teams)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from kern._component import Runnable, digest, slug
from kern._definition import instructions_list, model_spec, tool_specs
from kern.run.team import TeamRunOutput

_MODES = ("coordinate", "route", "collaborate")


class Team(Runnable):
    """A team: its leader (``model``) delegates the task to its ``members`` and composes the
    answer. Modes, as in Agno: ``coordinate`` (the default: the leader delegates parts, several
    at once if it wants), ``route`` (``respond_directly=True``: one member answers), and
    ``collaborate`` (``delegate_task_to_all_members=True``: every member answers, the leader
    synthesises). Each member's work is a child run of the team's; its result is checkpointed.

    The leader may have ``tools`` of its own (functions, ``@tool``, toolkits), called besides
    delegating; one marked ``requires_confirmation`` (or needing input, or external execution)
    pauses the team's run, continued with ``continue_run`` like an agent's.

    Without a model, the leader uses ``OpenAIChat(id="gpt-4o")`` (Agno's default).
    """

    _kind = "team"
    _output = TeamRunOutput

    def __init__(
        self,
        members: Optional[Sequence[Any]] = None,
        name: Optional[str] = None,
        id: Optional[str] = None,
        model: Any = None,
        instructions: Any = None,
        description: Optional[str] = None,
        db: Any = None,
        tools: Optional[Sequence[Any]] = None,
        mode: Optional[str] = None,
        respond_directly: bool = False,
        delegate_task_to_all_members: bool = False,
        num_history_runs: Optional[int] = None,
        tool_call_limit: Optional[int] = None,
        session_id: Optional[str] = None,
        user_id: Optional[str] = None,
        markdown: bool = False,
        timeout: Optional[float] = None,
        **agno_options: Any,
    ) -> None:
        if mode is None:
            mode = (
                "route"
                if respond_directly
                else "collaborate"
                if delegate_task_to_all_members
                else "coordinate"
            )
        if mode not in _MODES:
            raise ValueError(
                f"Team {name!r}: mode must be one of {', '.join(_MODES)}, got {mode!r}"
            )
        self.members: List[Any] = list(members or [])
        for m in self.members:
            if getattr(m, "_kind", None) not in ("agent", "team"):
                raise TypeError(f"Team {name!r}: members must be Agents or Teams, got {m!r}")
        if not self.members:
            raise ValueError(f"Team {name!r} needs at least one member")
        self.name = name
        self.model = model
        self.instructions = instructions
        self.description = description
        self.db = db
        self.tools: List[Any] = list(tools or [])
        self.mode = mode
        self.num_history_runs = num_history_runs
        self.tool_call_limit = tool_call_limit
        self.session_id = session_id
        self.user_id = user_id
        self.markdown = markdown
        self.timeout = timeout
        self.agno_options = agno_options
        self.id = id or slug(name) or f"team-{digest([m.id for m in self.members])}"
        self._register_if_durable()

    def _spec(self) -> Dict[str, Any]:
        owner = f"team {self.name or self.id!r}"
        instructions = instructions_list(self.instructions)
        if self.markdown:
            instructions.append("Use markdown to format your answers.")
        return {
            "id": self.id,
            "name": self.name or self.id,
            "description": self.description,
            "instructions": instructions,
            "model": model_spec(self.model, owner),
            "members": [m._component() for m in self.members],
            "tools": tool_specs(self.tools, owner),
            "mode": self.mode,
            "history_runs": self.num_history_runs,
            "max_tool_rounds": self.tool_call_limit,
            "timeout": self.timeout,
        }

    def __repr__(self) -> str:
        return f"Team(id={self.id!r}, members={[m.id for m in self.members]!r})"
