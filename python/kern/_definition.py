"""Helpers shared by agent and team definitions."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

from kern.models.base import Model
from kern.tools.function import Function
from kern.tools.toolkit import BuiltinToolkit, Toolkit


def default_model() -> Model:
    """The model of an agent or team defined without one: ``OpenAIChat(id="gpt-4o")``, as in
    Agno (the key comes from ``OPENAI_API_KEY``, the base URL from ``OPENAI_BASE_URL``)."""
    from kern.models.openai import OpenAIChat

    return OpenAIChat(id="gpt-4o")


def model_spec(model: Any, owner: str) -> Dict[str, Any]:
    if model is None:
        model = default_model()
    if isinstance(model, str):
        provider, _, model_id = model.partition(":")
        from kern.models.anthropic import Claude
        from kern.models.google import Gemini
        from kern.models.ollama import Ollama
        from kern.models.openai import OpenAIChat, OpenAIResponses

        classes = {
            "openai": OpenAIChat,
            "openai-responses": OpenAIResponses,
            "anthropic": Claude,
            "google": Gemini,
            "gemini": Gemini,
            "ollama": Ollama,
        }
        if provider not in classes or not model_id:
            raise ValueError(
                f"{owner}: model {model!r} is not 'provider:model-id' (e.g. openai:gpt-4o-mini)"
            )
        model = classes[provider](id=model_id)
    if not isinstance(model, Model):
        raise TypeError(
            f"{owner}: model must be a kern model (e.g. OpenAIChat(id=...)), got {model!r}"
        )
    return model._spec()


def instructions_list(instructions: Union[str, Sequence[str], Any, None]) -> List[str]:
    if instructions is None:
        return []
    if callable(instructions):
        instructions = instructions()
    if isinstance(instructions, str):
        return [instructions]
    return [str(i) for i in instructions]


def tool_specs(tools: Optional[Sequence[Any]], owner: str) -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = []
    for t in tools or []:
        if isinstance(t, (Toolkit, BuiltinToolkit)):
            out.extend(t._specs())
        elif isinstance(t, Function):
            out.append(t._spec())
        elif callable(t):
            out.append(Function(t)._spec())
        else:
            raise TypeError(f"{owner}: {t!r} is not a tool (a function, @tool, or a toolkit)")
    names = [s["name"] for s in out if s.get("type") == "function"]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"{owner}: two tools are named {sorted(dupes)[0]!r}")
    return out


def schema_of(output_schema: Any) -> Optional[Dict[str, Any]]:
    if output_schema is None:
        return None
    if isinstance(output_schema, dict):
        return output_schema
    if hasattr(output_schema, "model_json_schema"):
        return output_schema.model_json_schema()
    raise TypeError(
        f"output_schema must be a pydantic model class or a JSON schema dict, got {output_schema!r}"
    )
