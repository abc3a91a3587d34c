"""Run events as typed objects.

Every event a stream yields is an instance of a class named after the event (``RunContent``
→ :class:`RunContentEvent`, ``StepCompleted`` → ``StepCompletedEvent``, …), all subclasses of
:class:`RunEvent`, with the event's fields as attributes: ``event`` (its name),
``event_index`` (its position in the run's log: 0, 1, 2, … with no gaps), ``run_id``,
``session_id``, ``created_at`` and the event's own fields (``content``, ``step_name``, …).

``RunRestarted`` (``voided``: index ranges) says that the run resumed after its process
stopped and that the listed earlier events belong to work it redoes: a program joining
streamed content drops them (:class:`Transcript` does). ``RunRequeued`` (``voided``,
``previous_status``) says that an operator sent a failed or cancelled run back to the queue:
it voids the old terminal event, and the log goes on past it. ``StepRetried`` (``voided``,
``attempt``, ``error``) says that a workflow step's try failed and the step runs again: the
failed try's events are void.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Type

_CLASSES: Dict[str, Type[RunEvent]] = {}


class RunEvent:
    """One event of a run's log."""

    event: str = ""
    event_index: int = -1
    run_id: str = ""
    session_id: str = ""
    created_at: int = 0

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    def __getattr__(self, name: str) -> Any:
        # Fields an event of this type does not carry read as None (as Agno's optional ones).
        if name.startswith("__"):
            raise AttributeError(name)
        return None

    def to_dict(self) -> Dict[str, Any]:
        return dict(self.__dict__)

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @property
    def voided(self) -> List[List[int]]:
        """The ranges (inclusive ``[first, last]`` event indexes) of earlier events this event
        voids: ``RunRestarted``, ``StepRetried`` and ``RunRequeued`` carry them; other events
        void none."""
        voided = self.__dict__.get("voided")
        return voided if isinstance(voided, list) else []

    def __repr__(self) -> str:
        extra = ""
        for key in ("content", "step_name", "error"):
            value = self.__dict__.get(key)
            if value is not None:
                text = repr(value)
                extra = f", {key}={text[:60] + '...' if len(text) > 60 else text}"
                break
        return f"{type(self).__name__}(event_index={self.event_index}{extra})"


def event_class(name: str) -> Type[RunEvent]:
    """The class of events named ``name`` (made on first use)."""
    cls = _CLASSES.get(name)
    if cls is None:
        cls = type(f"{name}Event", (RunEvent,), {"event": name, "__module__": __name__})
        _CLASSES[name] = cls
    return cls


def event_from_json(payload: str) -> RunEvent:
    """An event from its stored JSON."""
    data = json.loads(payload)
    return event_class(data.get("event", "Unknown"))(**data)


# The classes Agno users import by name.
for _name in (
    "RunStarted RunContent RunContentCompleted RunCompleted RunError RunCancelled RunPaused "
    "RunContinued RunRestarted RunRequeued ModelRequestStarted ModelRequestCompleted ToolCallStarted "
    "ToolCallCompleted TeamRunStarted TeamRunContent TeamRunContentCompleted TeamRunCompleted "
    "TeamRunError TeamRunCancelled TeamModelRequestStarted TeamModelRequestCompleted "
    "TeamToolCallStarted TeamToolCallCompleted WorkflowStarted WorkflowCompleted WorkflowError "
    "WorkflowCancelled StepStarted StepOutput StepCompleted StepError StepRetried StepsExecutionStarted "
    "StepsExecutionCompleted ParallelExecutionStarted ParallelExecutionCompleted "
    "ConditionExecutionStarted ConditionExecutionCompleted LoopExecutionStarted "
    "LoopIterationStarted LoopIterationCompleted LoopExecutionCompleted RouterExecutionStarted "
    "RouterExecutionCompleted CustomEvent"
).split():
    globals()[f"{_name}Event"] = event_class(_name)

#: Agno's name for the union of agent events.
RunOutputEvent = RunEvent
TeamRunOutputEvent = RunEvent
WorkflowRunOutputEvent = RunEvent

TERMINAL = frozenset(
    "WorkflowCompleted WorkflowError WorkflowCancelled RunCompleted RunError RunCancelled "
    "TeamRunCompleted TeamRunError TeamRunCancelled".split()
)


class Transcript:
    """A run's events as a person sees them: push every event in order; voided events (those a
    later ``RunRestarted``, ``StepRetried`` or ``RunRequeued`` lists) are dropped, so :meth:`content` is the run's answer, never a
    doubled one."""

    def __init__(self) -> None:
        self.events: List[RunEvent] = []

    def push(self, event: RunEvent) -> int:
        """Adds the next event; returns how many earlier events it voided."""
        removed = 0
        ranges = event.voided
        if ranges:
            before = len(self.events)
            self.events = [
                e for e in self.events if not any(a <= e.event_index <= b for a, b in ranges)
            ]
            removed = before - len(self.events)
        self.events.append(event)
        return removed

    def content(self, run_id: Optional[str] = None) -> str:
        """The joined streamed content of ``run_id`` (default: the first run in the log)."""
        if run_id is None and self.events:
            run_id = self.events[0].run_id
        return "".join(
            e.content or ""
            for e in self.events
            if e.run_id == run_id and e.event in ("RunContent", "TeamRunContent")
        )
