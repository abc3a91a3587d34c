"""Human in the loop: what a paused run waits for, and the decisions that continue it.

A run pauses when its model calls a tool marked ``requires_confirmation``,
``requires_user_input`` or ``external_execution``. Its output then has ``is_paused`` true and
``active_requirements``: one :class:`RunRequirement` per waiting call. Decide each (``confirm()``
or ``reject()``, give the ``user_input_schema`` values or ``provide_user_input({...})``,
``set_external_execution_result(...)``), then ``agent.continue_run(run_id=...,
requirements=run.requirements)``: the same run goes on (in this process or any other sharing
the database).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional


class UserInputField:
    """An argument a person gives (``value``)."""

    def __init__(
        self,
        name: str,
        field_type: str = "str",
        description: Optional[str] = None,
        value: Any = None,
    ) -> None:
        self.name = name
        self.field_type = field_type
        self.description = description
        self.value = value

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> UserInputField:
        return cls(d["name"], d.get("field_type") or "str", d.get("description"), d.get("value"))

    def to_dict(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "field_type": self.field_type,
            "description": self.description,
            "value": self.value,
        }

    def __repr__(self) -> str:
        return f"UserInputField(name={self.name!r}, value={self.value!r})"


class ToolExecution:
    """One tool call, as a run reports it (with its human-in-the-loop state when paused)."""

    def __init__(self, **fields: Any) -> None:
        self.tool_call_id: Optional[str] = fields.get("tool_call_id")
        self.tool_name: Optional[str] = fields.get("tool_name")
        self.tool_args: Any = fields.get("tool_args")
        self.tool_call_error: Optional[bool] = fields.get("tool_call_error")
        self.result: Optional[str] = fields.get("result")
        self.child_run_id: Optional[str] = fields.get("child_run_id")
        self.metrics: Any = fields.get("metrics")
        self.requires_confirmation: Optional[bool] = fields.get("requires_confirmation")
        self.confirmed: Optional[bool] = fields.get("confirmed")
        self.confirmation_note: Optional[str] = fields.get("confirmation_note")
        self.requires_user_input: Optional[bool] = fields.get("requires_user_input")
        schema = fields.get("user_input_schema")
        self.user_input_schema: Optional[List[UserInputField]] = (
            [f if isinstance(f, UserInputField) else UserInputField.from_dict(f) for f in schema]
            if schema is not None
            else None
        )
        self.external_execution_required: Optional[bool] = fields.get("external_execution_required")

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> ToolExecution:
        return cls(**d)

    @property
    def is_paused(self) -> bool:
        return bool(
            self.requires_confirmation
            or self.requires_user_input
            or self.external_execution_required
        )

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {
            "tool_call_id": self.tool_call_id,
            "tool_name": self.tool_name,
            "tool_args": self.tool_args,
            "result": self.result,
            "requires_confirmation": self.requires_confirmation,
            "confirmed": self.confirmed,
            "confirmation_note": self.confirmation_note,
            "requires_user_input": self.requires_user_input,
            "external_execution_required": self.external_execution_required,
        }
        if self.user_input_schema is not None:
            out["user_input_schema"] = [f.to_dict() for f in self.user_input_schema]
        return out

    def __repr__(self) -> str:
        return f"ToolExecution(tool_name={self.tool_name!r}, tool_call_id={self.tool_call_id!r})"


class RunRequirement:
    """What one waiting tool call needs, and the decision once made."""

    def __init__(
        self, tool_execution: ToolExecution, id: Optional[str] = None, created_at: Any = None
    ) -> None:
        self.id = id or tool_execution.tool_call_id
        self.tool_execution = tool_execution
        self.created_at = created_at
        self.user_input_schema = tool_execution.user_input_schema
        self.confirmation: Optional[bool] = tool_execution.confirmed
        self.confirmation_note: Optional[str] = tool_execution.confirmation_note
        self.external_execution_result: Optional[str] = None

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> RunRequirement:
        req = cls(
            ToolExecution.from_dict(d.get("tool_execution") or {}), d.get("id"), d.get("created_at")
        )
        if d.get("user_input_schema") is not None:
            req.user_input_schema = [UserInputField.from_dict(f) for f in d["user_input_schema"]]
            req.tool_execution.user_input_schema = req.user_input_schema
        req.confirmation = d.get("confirmation", req.confirmation)
        req.confirmation_note = d.get("confirmation_note", req.confirmation_note)
        req.external_execution_result = d.get("external_execution_result")
        return req

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.tool_execution.requires_confirmation) and self.confirmation is None

    @property
    def needs_user_input(self) -> bool:
        return bool(self.tool_execution.requires_user_input) and any(
            f.value is None for f in (self.user_input_schema or [])
        )

    @property
    def is_external_tool_execution(self) -> bool:
        return bool(self.tool_execution.external_execution_required)

    @property
    def needs_external_execution(self) -> bool:
        return self.is_external_tool_execution and self.external_execution_result is None

    def confirm(self) -> None:
        """Lets the call run."""
        self.confirmation = True
        self.tool_execution.confirmed = True

    def reject(self, note: Optional[str] = None) -> None:
        """Refuses the call: the model is told so (with ``note``) instead."""
        self.confirmation = False
        self.tool_execution.confirmed = False
        if note is not None:
            self.confirmation_note = note
            self.tool_execution.confirmation_note = note

    def provide_user_input(self, values: Dict[str, Any]) -> None:
        """Gives the values of the requested arguments."""
        for f in self.user_input_schema or []:
            if f.name in values:
                f.value = values[f.name]

    def set_external_execution_result(self, result: Any) -> None:
        """The result of a call you ran yourself."""
        self.external_execution_result = result if isinstance(result, str) else str(result)
        self.tool_execution.result = self.external_execution_result

    def is_resolved(self) -> bool:
        return not (
            self.needs_confirmation or self.needs_user_input or self.needs_external_execution
        )

    def to_decision(self) -> Dict[str, Any]:
        """The decision as the engine takes it."""
        d = self.tool_execution.to_dict()
        d["confirmed"] = self.confirmation
        d["confirmation_note"] = self.confirmation_note
        if self.user_input_schema is not None:
            d["user_input_schema"] = [f.to_dict() for f in self.user_input_schema]
        if self.external_execution_result is not None:
            d["result"] = self.external_execution_result
        return d

    def to_dict(self) -> Dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at,
            "confirmation": self.confirmation,
            "confirmation_note": self.confirmation_note,
            "external_execution_result": self.external_execution_result,
            "tool_execution": self.tool_execution.to_dict(),
            "user_input_schema": [f.to_dict() for f in self.user_input_schema]
            if self.user_input_schema
            else None,
        }

    def __repr__(self) -> str:
        return (
            f"RunRequirement(tool={self.tool_execution.tool_name!r}, resolved={self.is_resolved()})"
        )


def decisions_from(items: Optional[List[Any]]) -> List[Dict[str, Any]]:
    """The engine's decisions from requirements, tool executions, or plain dicts."""
    out: List[Dict[str, Any]] = []
    for item in items or []:
        if isinstance(item, RunRequirement):
            out.append(item.to_decision())
        elif isinstance(item, ToolExecution):
            out.append(item.to_dict())
        elif isinstance(item, dict):
            out.append(item)
        else:
            raise TypeError(
                f"continue_run takes RunRequirement, ToolExecution or dict items, got {item!r}"
            )
    return out


class StepRequirement:
    """What a paused workflow waits for at one step (Agno's ``StepRequirement``): a
    confirmation (``confirm()`` / ``reject(feedback)``) or input (``set_user_input(**values)``)."""

    def __init__(self, **fields: Any) -> None:
        self.step_id: Optional[str] = fields.get("step_id")
        self.step_name: Optional[str] = fields.get("step_name")
        self.step_index: Any = fields.get("step_index")
        self.step_path: Optional[str] = fields.get("step_path")
        self.step_type: Optional[str] = fields.get("step_type")
        self.requires_confirmation: bool = bool(fields.get("requires_confirmation"))
        self.confirmation_message: Optional[str] = fields.get("confirmation_message")
        self.confirmed: Optional[bool] = fields.get("confirmed")
        self.on_reject: str = fields.get("on_reject") or "cancel"
        self.rejection_feedback: Optional[str] = fields.get("rejection_feedback")
        self.requires_user_input: bool = bool(fields.get("requires_user_input"))
        self.user_input_message: Optional[str] = fields.get("user_input_message")
        schema = fields.get("user_input_schema")
        self.user_input_schema: Optional[List[UserInputField]] = (
            [UserInputField.from_dict(f) if isinstance(f, dict) else f for f in schema]
            if schema is not None
            else None
        )
        self.user_input: Optional[Dict[str, Any]] = fields.get("user_input")

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> StepRequirement:
        return cls(**d)

    @property
    def needs_confirmation(self) -> bool:
        return self.requires_confirmation and self.confirmed is None

    @property
    def needs_user_input(self) -> bool:
        if not self.requires_user_input:
            return False
        given = dict(self.user_input or {})
        return any(f.name not in given and f.value is None for f in (self.user_input_schema or []))

    def confirm(self) -> None:
        self.confirmed = True

    def reject(self, feedback: Optional[str] = None) -> None:
        """Rejects the step: it is skipped or the run is cancelled (its ``on_reject``)."""
        self.confirmed = False
        if feedback is not None:
            self.rejection_feedback = feedback

    def set_user_input(self, **values: Any) -> None:
        self.user_input = {**(self.user_input or {}), **values}
        for f in self.user_input_schema or []:
            if f.name in values:
                f.value = values[f.name]

    def is_resolved(self) -> bool:
        return not (self.needs_confirmation or self.needs_user_input)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "step_id": self.step_id,
            "step_name": self.step_name,
            "step_index": self.step_index,
            "step_path": self.step_path,
            "step_type": self.step_type,
            "requires_confirmation": self.requires_confirmation,
            "confirmation_message": self.confirmation_message,
            "confirmed": self.confirmed,
            "on_reject": self.on_reject,
            "rejection_feedback": self.rejection_feedback,
            "requires_user_input": self.requires_user_input,
            "user_input_message": self.user_input_message,
            "user_input_schema": [f.to_dict() for f in self.user_input_schema]
            if self.user_input_schema
            else None,
            "user_input": self.user_input,
        }

    def __repr__(self) -> str:
        return f"StepRequirement(step_name={self.step_name!r}, resolved={self.is_resolved()})"
