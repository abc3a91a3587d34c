"""A workflow run's output."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional

if TYPE_CHECKING:
    from kern.workflow.types import StepOutput

from kern.run.base import BaseRunOutput, RunStatus


class WorkflowRunOutput(BaseRunOutput):
    """A workflow run: ``step_results`` holds each top-level step's :class:`StepOutput` (in
    order) once the run completed."""

    _kind = "workflow"

    def __init__(self, record: Dict[str, Any], component_name: Optional[str] = None) -> None:
        # Imported here: kern.workflow imports this module.
        from kern.workflow.types import StepOutput

        super().__init__(record, component_name)
        self.workflow_id: str = record.get("component_id", "")
        self.workflow_name: Optional[str] = component_name
        self.step_results: List[StepOutput] = [
            StepOutput.from_dict(s) for s in (self._output.get("step_results") or [])
        ]
        from kern.run.requirement import StepRequirement

        #: A paused workflow's steps waiting for a person.
        self.step_requirements: Optional[List[StepRequirement]] = (
            [StepRequirement.from_dict(r) for r in self._output.get("step_requirements") or []]
            if self.status == RunStatus.paused
            else None
        )
        # A paused workflow waits on steps, not tool calls.
        self.requirements = None

    @property
    def active_step_requirements(self) -> list:
        return [r for r in (self.step_requirements or []) if not r.is_resolved()]

    @property
    def active_requirements(self) -> list:
        return self.active_step_requirements


__all__ = ["RunStatus", "WorkflowRunOutput"]
