"""Agents: a model, instructions and tools, run durably by kern's engine."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from kern._component import Runnable, digest, slug
from kern._definition import instructions_list, model_spec, schema_of, tool_specs
from kern.run.agent import RunOutput


class Agent(Runnable):
    """An agent. Its model streams its answer (``RunContent`` events), calls its tools
    (concurrently when it asks for several), and every turn and tool result is checkpointed:
    a run resumed after a crash does not ask the model again for a finished turn, nor call a
    tool again whose result it has.

    The id is ``id``, else derived from ``name``. Without a model: ``OpenAIChat(id="gpt-4o")``.
    """

    _kind = "agent"
    _output = RunOutput

    def __init__(
        self,
        name: Optional[str] = None,
        id: Optional[str] = None,
        model: Any = None,
        tools: Optional[Sequence[Any]] = None,
        instructions: Any = None,
        role: Optional[str] = None,
        description: Optional[str] = None,
        db: Any = None,
        output_schema: Any = None,
        num_history_runs: Optional[int] = None,
        add_history_to_context: Optional[bool] = None,
        tool_call_limit: Optional[int] = None,
        session_id: Optional[str] = None,
        user_id: Optional[str] = None,
        markdown: bool = False,
        timeout: Optional[float] = None,
        **agno_options: Any,
    ) -> None:
        self.name = name
        self.model = model
        self.tools: List[Any] = list(tools or [])
        self.instructions = instructions
        self.role = role
        self.description = description
        self.db = db
        self.output_schema = output_schema
        self.num_history_runs = num_history_runs
        self.add_history_to_context = add_history_to_context
        self.tool_call_limit = tool_call_limit
        self.session_id = session_id
        self.user_id = user_id
        self.markdown = markdown
        self.timeout = timeout
        self.agno_options = agno_options
        self.id = (
            id
            or slug(name)
            or f"agent-{digest([role, description, instructions_list(instructions)])}"
        )
        self._register_if_durable()

    def _spec(self) -> Dict[str, Any]:
        owner = f"agent {self.name or self.id!r}"
        instructions = instructions_list(self.instructions)
        if self.markdown:
            instructions.append("Use markdown to format your answers.")
        history = self.num_history_runs
        if self.add_history_to_context is False:
            history = 0
        return {
            "id": self.id,
            "name": self.name or self.id,
            "role": self.role,
            "description": self.description,
            "instructions": instructions,
            "model": model_spec(self.model, owner),
            "tools": tool_specs(self.tools, owner),
            "output_schema": schema_of(self.output_schema),
            "history_runs": history,
            "max_tool_rounds": self.tool_call_limit,
            "timeout": self.timeout,
        }

    def _wrap(self, record):
        out = super()._wrap(record)
        schema = self.output_schema
        if out is not None and hasattr(schema, "model_validate") and isinstance(out.content, dict):
            try:
                out.content = schema.model_validate(out.content)
            except Exception:  # the raw content stays; validation is the engine's job
                pass
        return out

    def __repr__(self) -> str:
        return f"Agent(id={self.id!r})"
