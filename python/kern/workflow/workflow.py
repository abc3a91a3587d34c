"""Workflows: steps that are agents, teams or functions, in sequence, in parallel,
conditional, looped or routed, run durably by kern's engine."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from kern._component import Runnable, digest, slug
from kern.run.workflow import WorkflowRunOutput
from kern.workflow.step import as_node, nodes_spec


class Workflow(Runnable):
    """A workflow. With a ``db``, its runs are durable: background runs, polling from any
    process, resuming after a crash from the last completed step.

    The id is ``id``, else derived from ``name`` (``"Content Creation Workflow"`` →
    ``content-creation-workflow``): keep it stable, because a restarted program finds its
    unfinished runs by it.
    """

    _kind = "workflow"
    _output = WorkflowRunOutput

    def __init__(
        self,
        name: Optional[str] = None,
        id: Optional[str] = None,
        description: Optional[str] = None,
        db: Any = None,
        steps: Optional[Sequence[Any]] = None,
        session_id: Optional[str] = None,
        user_id: Optional[str] = None,
        timeout: Optional[float] = None,
        **agno_options: Any,
    ) -> None:
        self.name = name
        self.description = description
        self.db = db
        self.steps: List[Any] = list(steps or [])
        self.session_id = session_id
        self.user_id = user_id
        self.timeout = timeout
        self.agno_options = agno_options
        for i, s in enumerate(self.steps):
            as_node(s, f"workflow {name!r}, step {i + 1}")
        self.id = (
            id
            or slug(name)
            or f"workflow-{digest([as_node(s, '')._default_name(i) for i, s in enumerate(self.steps)])}"
        )
        self._register_if_durable()

    def _spec(self) -> Dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name or self.id,
            "description": self.description,
            "timeout": self.timeout,
            "steps": nodes_spec(self.steps, f"workflow {self.name or self.id!r}"),
        }

    def __repr__(self) -> str:
        return f"Workflow(id={self.id!r}, steps={len(self.steps)})"
