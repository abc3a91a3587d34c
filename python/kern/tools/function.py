"""Python functions as tools: the JSON schema the model sees, from the function's signature,
type hints and docstring.

- Each parameter becomes a property; parameters without a default are required.
- Types: ``str``, ``int``, ``float``, ``bool``, ``list[T]``/``List[T]``, ``dict``,
  ``Optional[T]``, ``Literal[...]`` (an enum), ``Enum`` subclasses, dataclasses and pydantic
  models (their own schema), anything else: no type constraint.
- The docstring's first paragraph is the description; Google-style ``Args:`` (or Sphinx
  ``:param x:``) lines describe the parameters.

The model's arguments reach the function as keyword arguments; what it returns goes back to
the model as text (strings as they are, other values as JSON). Synchronous functions run on a
thread of their own, ``async def`` ones on kern's event loop; either way the engine never
waits on them while holding anything else.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import re
import typing
from typing import Any, Callable, Dict, List, Optional

_AGNO_TYPES = {
    "string": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "array": "list",
    "object": "dict",
}

_SKIPPED = {"self", "cls", "agent", "team", "run_context", "session_state", "dependencies"}


def _schema_for(annotation: Any) -> Dict[str, Any]:
    if annotation is inspect.Parameter.empty or annotation is Any:
        return {}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _schema_for(rest[0])
        return {"anyOf": [_schema_for(a) for a in rest]}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (list, List, tuple, set, frozenset):
        item = _schema_for(args[0]) if args else {}
        return {"type": "array", "items": item} if item else {"type": "array"}
    if origin in (dict, Dict):
        return {"type": "object"}
    if annotation is str:
        return {"type": "string"}
    if annotation is bool:
        return {"type": "boolean"}
    if annotation is int:
        return {"type": "integer"}
    if annotation is float:
        return {"type": "number"}
    if annotation in (list, tuple, set):
        return {"type": "array"}
    if annotation is dict:
        return {"type": "object"}
    if inspect.isclass(annotation) and issubclass(annotation, enum.Enum):
        return {"enum": [m.value for m in annotation]}
    if inspect.isclass(annotation) and hasattr(annotation, "model_json_schema"):
        return annotation.model_json_schema()
    if dataclasses.is_dataclass(annotation):
        hints = typing.get_type_hints(annotation)
        props = {
            f.name: _schema_for(hints.get(f.name, Any)) for f in dataclasses.fields(annotation)
        }
        required = [
            f.name
            for f in dataclasses.fields(annotation)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING  # type: ignore[misc]
        ]
        return {"type": "object", "properties": props, "required": required}
    return {}


_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")


def parse_docstring(doc: Optional[str]) -> tuple[str, Dict[str, str]]:
    """The description and the per-parameter descriptions of a docstring."""
    if not doc:
        return "", {}
    text = inspect.cleandoc(doc)
    params: Dict[str, str] = {}
    description_lines: List[str] = []
    section = None
    current = None
    for line in text.splitlines():
        stripped = line.strip()
        lower = stripped.lower()
        if lower in ("args:", "arguments:", "parameters:", "params:"):
            section, current = "args", None
            continue
        if lower in (
            "returns:",
            "return:",
            "raises:",
            "yields:",
            "examples:",
            "example:",
            "note:",
            "notes:",
        ):
            section, current = "other", None
            continue
        sphinx = re.match(r"^:param\s+(?:\w+\s+)?(\w+):\s*(.*)$", stripped)
        if sphinx:
            params[sphinx.group(1)] = sphinx.group(2).strip()
            current = sphinx.group(1)
            section = "sphinx"
            continue
        if stripped.startswith(":"):
            section, current = "other", None
            continue
        if section == "args":
            m = _ARG_LINE.match(line)
            if m and not line.startswith("        "):
                current = m.group(1).lstrip("*")
                params[current] = m.group(3).strip()
            elif current and stripped:
                params[current] = (params[current] + " " + stripped).strip()
            continue
        if section in ("other", "sphinx"):
            if section == "sphinx" and current and stripped:
                params[current] = (params[current] + " " + stripped).strip()
            continue
        description_lines.append(line)
    description = "\n".join(description_lines).strip()
    # The first paragraph is the description.
    description = description.split("\n\n")[0].replace("\n", " ").strip()
    return description, params


class Function:
    """A tool made from a Python callable (see the module docs for the schema rules)."""

    def __init__(
        self,
        entrypoint: Callable[..., Any],
        name: Optional[str] = None,
        description: Optional[str] = None,
        parameters: Optional[Dict[str, Any]] = None,
        strict: bool = False,
        requires_confirmation: bool = False,
        requires_user_input: bool = False,
        user_input_fields: Optional[List[str]] = None,
        external_execution: bool = False,
        at_most_once: bool = False,
        **agno_options: Any,
    ) -> None:
        if not callable(entrypoint):
            raise TypeError(f"a tool must be callable, got {entrypoint!r}")
        self.entrypoint = entrypoint
        self.name = name or getattr(entrypoint, "__name__", None) or "tool"
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", self.name):
            raise ValueError(
                f"tool name {self.name!r}: use letters, digits, '_' and '-' (at most 64)"
            )
        doc_description, doc_params = parse_docstring(inspect.getdoc(entrypoint))
        self.description = description if description is not None else doc_description
        self.parameters = parameters if parameters is not None else self._schema(doc_params)
        self.strict = strict
        self.is_async = inspect.iscoroutinefunction(entrypoint) or inspect.iscoroutinefunction(
            getattr(entrypoint, "__call__", None)  # noqa: B004
        )
        self.agno_options = agno_options
        gates = [
            requires_confirmation,
            requires_user_input or bool(user_input_fields),
            external_execution,
        ]
        if sum(gates) > 1:
            raise ValueError(
                f"tool {self.name!r}: choose one of requires_confirmation, requires_user_input and external_execution"
            )
        #: What a call needs from a person first (human in the loop), as the engine takes it.
        self.human_in_loop: Optional[Dict[str, Any]] = None
        if requires_confirmation:
            self.human_in_loop = {"type": "confirmation"}
        elif external_execution:
            self.human_in_loop = {"type": "external"}
        elif requires_user_input or user_input_fields:
            props = self.parameters.get("properties", {})
            names = list(user_input_fields or props.keys())
            unknown = [n for n in names if n not in props]
            if unknown:
                raise ValueError(
                    f"tool {self.name!r}: user_input_fields {unknown} are not parameters of the function"
                )
            fields = [
                {
                    "name": n,
                    "field_type": _AGNO_TYPES.get(props[n].get("type"), "str"),
                    "description": props[n].get("description"),
                    "value": None,
                }
                for n in names
            ]
            self.human_in_loop = {"type": "user_input", "fields": fields}
        self.requires_confirmation = requires_confirmation
        self.requires_user_input = requires_user_input or bool(user_input_fields)
        self.external_execution = external_execution
        #: Delivered at most once (kern): a run interrupted during a call fails instead of
        #: calling it again.
        self.at_most_once = at_most_once

    def _schema(self, doc_params: Dict[str, str]) -> Dict[str, Any]:
        try:
            signature = inspect.signature(self.entrypoint)
        except (TypeError, ValueError):
            return {"type": "object", "properties": {}}
        try:
            hints = typing.get_type_hints(self.entrypoint)
        except Exception:
            hints = {}
        properties: Dict[str, Any] = {}
        required: List[str] = []
        for pname, param in signature.parameters.items():
            if pname in _SKIPPED or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            schema = dict(_schema_for(hints.get(pname, param.annotation)))
            if pname in doc_params:
                schema["description"] = doc_params[pname]
            if param.default is inspect.Parameter.empty:
                required.append(pname)
            elif param.default is not None and _jsonable(param.default):
                schema["default"] = param.default
            properties[pname] = schema
        out: Dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            out["required"] = required
        return out

    def _adapter(self) -> Callable[[Dict[str, Any]], Any]:
        """The callable kern's engine calls: arguments dict in, text or JSON out."""
        fn = self.entrypoint

        if self.is_async:

            async def call_async(args: Dict[str, Any]) -> Any:
                return _result(await fn(**(args or {})))

            return call_async

        def call(args: Dict[str, Any]) -> Any:
            return _result(fn(**(args or {})))

        return call

    def _spec(self) -> Dict[str, Any]:
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "callable": self._adapter(),
            "is_async": self.is_async,
            "human_in_loop": self.human_in_loop,
            "at_most_once": self.at_most_once,
        }

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.entrypoint(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Function(name={self.name!r})"


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def _result(value: Any) -> Any:
    """What goes back to the model: text as is; JSON data as JSON; other objects as text."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return "" if value is None else value if isinstance(value, str) else json.dumps(value)
    if hasattr(value, "model_dump"):
        return json.dumps(value.model_dump(), default=str)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json.dumps(dataclasses.asdict(value), default=str)
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)
