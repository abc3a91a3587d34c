"""Toolkits: a named set of tools."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from kern.tools.function import Function


class Toolkit:
    """A named set of tools, made from Python callables (a subclass usually passes its own
    methods: ``super().__init__(name="shop", tools=[self.search, self.order])``)."""

    def __init__(
        self,
        name: str = "toolkit",
        tools: Optional[Sequence[Union[Callable[..., Any], Function]]] = None,
        instructions: Optional[str] = None,
        include_tools: Optional[Sequence[str]] = None,
        exclude_tools: Optional[Sequence[str]] = None,
        **agno_options: Any,
    ) -> None:
        self.name = name
        self.instructions = instructions
        functions = [t if isinstance(t, Function) else Function(t) for t in (tools or [])]
        if include_tools is not None:
            functions = [f for f in functions if f.name in include_tools]
        if exclude_tools is not None:
            functions = [f for f in functions if f.name not in exclude_tools]
        self.functions: List[Function] = functions
        self.agno_options = agno_options

    def _specs(self) -> List[Dict[str, Any]]:
        return [f._spec() for f in self.functions]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, tools={[f.name for f in self.functions]!r})"
        )


class BuiltinToolkit:
    """A toolkit implemented in kern's engine (Rust): its requests are made there."""

    #: The engine's name for it.
    toolkit: str = ""
    #: The options the engine understands (others are accepted and kept).
    known_options: tuple = ()

    def __init__(self, **options: Any) -> None:
        self.name = self.toolkit
        self.options = options

    def _specs(self) -> List[Dict[str, Any]]:
        opts = {k: v for k, v in self.options.items() if k in self.known_options and v is not None}
        return [{"type": "toolkit", "toolkit": self.toolkit, "options": opts}]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
