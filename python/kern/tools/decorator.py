"""The ``@tool`` decorator."""

from __future__ import annotations

from typing import Any, Callable, Optional, Union, overload

from kern.tools.function import Function


@overload
def tool(func: Callable[..., Any]) -> Function: ...


@overload
def tool(
    func: None = None,
    *,
    name: Optional[str] = None,
    description: Optional[str] = None,
    **options: Any,
) -> Callable[[Callable[..., Any]], Function]: ...


def tool(
    func: Optional[Callable[..., Any]] = None,
    *,
    name: Optional[str] = None,
    description: Optional[str] = None,
    **options: Any,
) -> Union[Function, Callable[[Callable[..., Any]], Function]]:
    """Makes a function a tool, as Agno's ``@tool`` does: ``@tool`` or
    ``@tool(name=..., description=...)``. The schema comes from the signature, type hints and
    docstring (see :mod:`kern.tools.function`). The decorated object still calls the function.
    """

    def wrap(f: Callable[..., Any]) -> Function:
        return Function(f, name=name, description=description, **options)

    return wrap(func) if func is not None else wrap
