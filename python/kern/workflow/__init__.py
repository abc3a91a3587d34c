"""Workflows: :class:`Workflow` of :class:`Step` (an agent, a team or a function),
:class:`Steps`, :class:`Parallel`, :class:`Condition`, :class:`Loop`, :class:`Router`; steps
receive a :class:`StepInput` and return a :class:`StepOutput`."""

from kern.workflow.step import Condition, Loop, Parallel, Router, Step, Steps
from kern.workflow.types import StepInput, StepOutput
from kern.workflow.workflow import Workflow

__all__ = [
    "Condition",
    "Loop",
    "Parallel",
    "Router",
    "Step",
    "StepInput",
    "StepOutput",
    "Steps",
    "Workflow",
]
