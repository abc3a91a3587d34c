"""What steps receive and return: :class:`StepInput` and :class:`StepOutput`.

Both cross into kern's engine as JSON: a step's ``content`` must be JSON data (text, numbers,
lists, dicts; pydantic models and dataclasses are converted), because it is stored as the
step's checkpoint and a resumed run reads it back instead of running the step again.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Dict, List, Optional


class StepOutput:
    """A step's result. Return one from a function step (or just the content: a string, a
    dict, a list, or None)."""

    def __init__(
        self,
        content: Any = None,
        step_name: Optional[str] = None,
        step_id: Optional[str] = None,
        step_type: Optional[str] = None,
        executor_type: Optional[str] = None,
        executor_name: Optional[str] = None,
        success: bool = True,
        error: Optional[str] = None,
        stop: bool = False,
        steps: Optional[List[StepOutput]] = None,
        metrics: Optional[Dict[str, Any]] = None,
        **extra: Any,
    ) -> None:
        self.content = content
        self.step_name = step_name
        self.step_id = step_id
        self.step_type = step_type
        self.executor_type = executor_type
        self.executor_name = executor_name
        self.success = success
        self.error = error
        self.stop = stop
        self.steps = steps
        self.metrics = metrics
        self.extra = extra

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> StepOutput:
        data = dict(data)
        nested = data.pop("steps", None)
        out = cls(**data)
        if nested:
            out.steps = [cls.from_dict(s) for s in nested]
        return out

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {
            "step_name": self.step_name,
            "step_id": self.step_id,
            "step_type": self.step_type,
            "executor_type": self.executor_type,
            "content": _jsonable(self.content),
            "success": self.success,
            "error": self.error,
            "stop": self.stop,
        }
        if self.executor_name is not None:
            out["executor_name"] = self.executor_name
        if self.steps is not None:
            out["steps"] = [s.to_dict() for s in self.steps]
        if self.metrics is not None:
            out["metrics"] = self.metrics
        return out

    def __repr__(self) -> str:
        content = self.content
        if isinstance(content, str) and len(content) > 60:
            content = content[:57] + "..."
        return (
            f"StepOutput(step_name={self.step_name!r}, success={self.success}, content={content!r})"
        )


class StepInput:
    """What a step receives: the workflow's input, earlier steps' outputs, extra data."""

    def __init__(
        self,
        input: Any = None,
        previous_step_content: Any = None,
        previous_step_outputs: Optional[Dict[str, StepOutput]] = None,
        additional_data: Optional[Dict[str, Any]] = None,
        session_state: Optional[Dict[str, Any]] = None,
        run_id: Optional[str] = None,
        session_id: Optional[str] = None,
        step_name: Optional[str] = None,
        attempt: int = 1,
    ) -> None:
        self.input = input
        self.previous_step_content = previous_step_content
        self.previous_step_outputs = previous_step_outputs or {}
        self.additional_data = additional_data
        self.session_state = session_state if session_state is not None else {}
        self.run_id = run_id
        self.session_id = session_id
        self.step_name = step_name
        self.attempt = attempt

    @classmethod
    def _from_kern(cls, data: Dict[str, Any]) -> StepInput:
        outputs: Dict[str, StepOutput] = {}
        for o in data.get("previous_step_outputs") or []:
            out = StepOutput.from_dict(o)
            outputs[out.step_name or f"step_{len(outputs)}"] = out
        return cls(
            input=data.get("input"),
            previous_step_content=data.get("previous_step_content"),
            previous_step_outputs=outputs,
            additional_data=data.get("additional_data"),
            session_state=data.get("session_state") or {},
            run_id=data.get("run_id"),
            session_id=data.get("session_id"),
            step_name=data.get("step_name"),
            attempt=data.get("attempt", 1),
        )

    def get_step_output(self, step_name: str) -> Optional[StepOutput]:
        """The output of an earlier step by name (searching inside groups and branches)."""
        found = self.previous_step_outputs.get(step_name)
        if found is not None:
            return found
        for out in self.previous_step_outputs.values():
            hit = _find(out.steps or [], step_name)
            if hit is not None:
                return hit
        return None

    def get_step_content(self, step_name: str) -> Any:
        """The content of an earlier step by name; a parallel step's is a dict by branch."""
        out = self.get_step_output(step_name)
        return None if out is None else out.content

    def get_last_step_content(self) -> Any:
        return self.previous_step_content

    def get_all_previous_content(self) -> str:
        """Every earlier step's content, as text, separated by blank lines."""
        parts = []
        for name, out in self.previous_step_outputs.items():
            if out.content is not None:
                text = out.content if isinstance(out.content, str) else str(out.content)
                parts.append(f"=== {name} ===\n{text}")
        return "\n\n".join(parts)

    def get_input_as_string(self) -> str:
        return (
            self.input
            if isinstance(self.input, str)
            else ("" if self.input is None else str(self.input))
        )

    def __repr__(self) -> str:
        return f"StepInput(input={self.input!r}, step_name={self.step_name!r})"


def _find(outputs: List[StepOutput], name: str) -> Optional[StepOutput]:
    for o in outputs:
        if o.step_name == name:
            return o
        hit = _find(o.steps or [], name)
        if hit is not None:
            return hit
    return None


def _jsonable(value: Any) -> Any:
    """Content as JSON data: pydantic models and dataclasses become dicts."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def output_to_dict(result: Any) -> Dict[str, Any]:
    """A function step's return value as the engine's StepOutput JSON."""
    if isinstance(result, StepOutput):
        return result.to_dict()
    return {"content": _jsonable(result), "success": True}


def state_changes(before: Dict[str, Any], after: Dict[str, Any]) -> Dict[str, Any]:
    """The keys a step set and deleted in its session state."""
    changed = {k: v for k, v in after.items() if k not in before or before[k] != v}
    deleted = [k for k in before if k not in after]
    return {"state_set": changed, "state_deleted": deleted}


def snapshot(state: Dict[str, Any]) -> Dict[str, Any]:
    return copy.deepcopy(state)
