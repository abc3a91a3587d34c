"""Workflow nodes: :class:`Step` and the composites (:class:`Steps`, :class:`Parallel`,
:class:`Condition`, :class:`Loop`, :class:`Router`).

A node only describes itself; :meth:`_spec` turns it into the definition kern's engine runs.
User functions (a step's ``executor``, a condition's ``evaluator``, a router's ``selector``, a
loop's ``end_condition``) may be plain or ``async def``: plain ones run on a thread of their
own, async ones on kern's event loop, so neither blocks the engine or the caller.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, List, Optional, Sequence

from kern.workflow.types import StepInput, StepOutput, output_to_dict, snapshot, state_changes


def _is_async(fn: Callable[..., Any]) -> bool:
    # A callable object with an `async def __call__` counts as async too.
    call = getattr(fn, "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call)


def _wants(fn: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _step_adapter(fn: Callable[..., Any]) -> Callable[[Dict[str, Any]], Any]:
    """The callable the engine calls for a function step: the engine's StepInput JSON in,
    ``{"output", "state_set", "state_deleted"}`` out."""
    pass_state = _wants(fn, "session_state")

    def prepare(data: Dict[str, Any]):
        step_input = StepInput._from_kern(data)
        before = snapshot(step_input.session_state)
        kwargs = {"session_state": step_input.session_state} if pass_state else {}
        return step_input, before, kwargs

    def finish(step_input: StepInput, before: Dict[str, Any], result: Any) -> Dict[str, Any]:
        out = {"output": output_to_dict(result)}
        out.update(state_changes(before, step_input.session_state))
        return out

    if _is_async(fn):

        async def run_async(data: Dict[str, Any]) -> Dict[str, Any]:
            step_input, before, kwargs = prepare(data)
            return finish(step_input, before, await fn(step_input, **kwargs))

        return run_async

    def run(data: Dict[str, Any]) -> Dict[str, Any]:
        step_input, before, kwargs = prepare(data)
        return finish(step_input, before, fn(step_input, **kwargs))

    return run


def _decision_adapter(
    fn: Callable[..., Any], convert: Callable[[Any], Any]
) -> Callable[[Dict[str, Any]], Any]:
    if _is_async(fn):

        async def decide_async(data: Dict[str, Any]) -> Any:
            return convert(await fn(StepInput._from_kern(data)))

        return decide_async

    def decide(data: Dict[str, Any]) -> Any:
        return convert(fn(StepInput._from_kern(data)))

    return decide


class Node:
    """A node of a workflow."""

    name: Optional[str]

    def _spec(self, index: int) -> Dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _default_name(self, index: int) -> str:
        return self.name or f"{type(self).__name__.lower()}_{index + 1}"


class Step(Node):
    """A step: an agent, a team, or a function (``executor``) that takes a
    :class:`StepInput` and returns a :class:`StepOutput` (or just content)."""

    def __init__(
        self,
        name: Optional[str] = None,
        agent: Any = None,
        team: Any = None,
        executor: Optional[Callable[..., Any]] = None,
        step_id: Optional[str] = None,
        description: Optional[str] = None,
        max_retries: int = 0,
        skip_on_failure: bool = False,
        retry_backoff: Optional[float] = None,
        requires_confirmation: bool = False,
        confirmation_message: Optional[str] = None,
        on_reject: str = "cancel",
        requires_user_input: bool = False,
        user_input_message: Optional[str] = None,
        user_input_schema: Optional[List[Any]] = None,
        human_review: Any = None,
        at_most_once: bool = False,
        **agno_options: Any,
    ) -> None:
        given = [x for x in (agent, team, executor) if x is not None]
        if len(given) != 1:
            raise ValueError(
                f"Step {name!r} needs exactly one of agent=, team= or executor= (got {len(given)})"
            )
        if executor is not None and not callable(executor):
            raise TypeError(f"Step {name!r}: executor must be a function, got {executor!r}")
        self.name = name
        self.agent = agent
        self.team = team
        self.executor = executor
        self.step_id = step_id
        self.description = description
        self.max_retries = max_retries
        self.skip_on_failure = skip_on_failure
        self.retry_backoff = retry_backoff
        #: Delivered at most once (kern): a run interrupted inside this step fails instead of
        #: running it again (the default, at least once, runs it again).
        self.at_most_once = at_most_once
        self.agno_options = agno_options
        if human_review is not None:  # Agno's HumanReview(...) (or a dict of its fields)
            get = (
                human_review.get
                if isinstance(human_review, dict)
                else lambda k, d=None: getattr(human_review, k, d)
            )
            requires_confirmation = get("requires_confirmation", False) or requires_confirmation
            confirmation_message = get("confirmation_message") or confirmation_message
            requires_user_input = get("requires_user_input", False) or requires_user_input
            user_input_message = get("user_input_message") or user_input_message
            user_input_schema = get("user_input_schema") or user_input_schema
            on_reject = str(
                getattr(get("on_reject", on_reject), "value", get("on_reject", on_reject))
            )
        if requires_confirmation and requires_user_input:
            raise ValueError(f"Step {name!r}: choose requires_confirmation or requires_user_input")
        if on_reject not in ("cancel", "skip"):
            raise ValueError(
                f"Step {name!r}: on_reject must be 'cancel' or 'skip', got {on_reject!r}"
            )
        self.review: Optional[Dict[str, Any]] = None
        if requires_confirmation:
            self.review = {
                "type": "confirmation",
                "message": confirmation_message,
                "on_reject": on_reject,
            }
        elif requires_user_input:
            fields = []
            for f in user_input_schema or []:
                if isinstance(f, str):
                    f = {"name": f}
                elif not isinstance(f, dict):
                    f = f.to_dict() if hasattr(f, "to_dict") else {"name": f.name}
                ftype = f.get("field_type", "str")
                fields.append(
                    {
                        "name": f["name"],
                        "field_type": getattr(ftype, "__name__", ftype),
                        "description": f.get("description"),
                    }
                )
            if not fields:
                raise ValueError(
                    f"Step {name!r}: requires_user_input needs user_input_schema (the fields to ask for)"
                )
            self.review = {"type": "user_input", "message": user_input_message, "fields": fields}

    def _default_name(self, index: int) -> str:
        if self.name:
            return self.name
        for who in (self.agent, self.team):
            if who is not None and getattr(who, "name", None):
                return who.name
        if self.executor is not None:
            return getattr(self.executor, "__name__", f"step_{index + 1}")
        return f"step_{index + 1}"

    def _spec(self, index: int) -> Dict[str, Any]:
        spec: Dict[str, Any] = {
            "type": "step",
            "name": self._default_name(index),
            "id": self.step_id,
            "description": self.description,
            "max_retries": self.max_retries,
            "skip_on_failure": self.skip_on_failure,
            "retry_backoff": self.retry_backoff,
            "review": self.review,
            "at_most_once": self.at_most_once,
        }
        if self.agent is not None:
            spec["agent"] = self.agent._component()
        elif self.team is not None:
            spec["team"] = self.team._component()
        else:
            spec["executor"] = _step_adapter(self.executor)
            spec["is_async"] = _is_async(self.executor)
        return spec

    def __repr__(self) -> str:
        return f"Step(name={self.name!r})"


def as_node(item: Any, where: str) -> Node:
    """A workflow node from what a user may put in ``steps``: a node, an agent, a team, or a
    function."""
    if isinstance(item, Node):
        return item
    kind = getattr(item, "_kind", None)
    if kind == "agent":
        return Step(name=item.name, agent=item)
    if kind == "team":
        return Step(name=item.name, team=item)
    if callable(item):
        return Step(name=getattr(item, "__name__", None), executor=item)
    raise TypeError(f"{where}: {item!r} is not a step (use Step, an Agent, a Team or a function)")


def nodes_spec(items: Sequence[Any], where: str) -> List[Dict[str, Any]]:
    return [as_node(item, where)._spec(i) for i, item in enumerate(items)]


def step_names(items: Sequence[Any], where: str) -> List[str]:
    return [as_node(item, where)._default_name(i) for i, item in enumerate(items)]


class Steps(Node):
    """A named group of steps, run in order."""

    def __init__(
        self,
        name: Optional[str] = None,
        steps: Optional[Sequence[Any]] = None,
        description: Optional[str] = None,
        **agno_options: Any,
    ) -> None:
        self.name = name
        self.steps = list(steps or [])
        self.description = description

    def _spec(self, index: int) -> Dict[str, Any]:
        name = self._default_name(index)
        return {"type": "steps", "name": name, "steps": nodes_spec(self.steps, f"Steps {name!r}")}


class Parallel(Node):
    """Branches that run at once: ``Parallel(step_a, step_b, name="Research")``. Its content
    is a dict of each branch's content by branch name."""

    def __init__(
        self,
        *steps: Any,
        name: Optional[str] = None,
        description: Optional[str] = None,
        **agno_options: Any,
    ) -> None:
        self.steps = list(steps)
        self.name = name
        self.description = description

    def _spec(self, index: int) -> Dict[str, Any]:
        name = self._default_name(index)
        return {
            "type": "parallel",
            "name": name,
            "steps": nodes_spec(self.steps, f"Parallel {name!r}"),
        }


class Condition(Node):
    """Runs ``steps`` when ``evaluator(step_input)`` is true (else ``else_steps``). The answer
    is checkpointed: a resumed run takes the same branch without asking again."""

    def __init__(
        self,
        evaluator: Callable[..., Any],
        steps: Optional[Sequence[Any]] = None,
        name: Optional[str] = None,
        description: Optional[str] = None,
        else_steps: Optional[Sequence[Any]] = None,
        **agno_options: Any,
    ) -> None:
        if not callable(evaluator):
            raise TypeError(f"Condition {name!r}: evaluator must be a function")
        self.evaluator = evaluator
        self.steps = list(steps or [])
        self.else_steps = list(else_steps or [])
        self.name = name
        self.description = description

    def _spec(self, index: int) -> Dict[str, Any]:
        name = self._default_name(index)
        return {
            "type": "condition",
            "name": name,
            "evaluator": _decision_adapter(self.evaluator, bool),
            "is_async": _is_async(self.evaluator),
            "steps": nodes_spec(self.steps, f"Condition {name!r}"),
            "else_steps": nodes_spec(self.else_steps, f"Condition {name!r}"),
        }


class Loop(Node):
    """Runs ``steps`` up to ``max_iterations`` times (default 3), stopping early once
    ``end_condition(outputs)`` (the iteration's list of :class:`StepOutput`) is true."""

    def __init__(
        self,
        steps: Optional[Sequence[Any]] = None,
        name: Optional[str] = None,
        description: Optional[str] = None,
        max_iterations: int = 3,
        end_condition: Optional[Callable[..., Any]] = None,
        **agno_options: Any,
    ) -> None:
        if max_iterations < 1:
            raise ValueError(f"Loop {name!r}: max_iterations must be at least 1")
        self.steps = list(steps or [])
        self.name = name
        self.description = description
        self.max_iterations = max_iterations
        self.end_condition = end_condition

    def _spec(self, index: int) -> Dict[str, Any]:
        name = self._default_name(index)
        spec: Dict[str, Any] = {
            "type": "loop",
            "name": name,
            "steps": nodes_spec(self.steps, f"Loop {name!r}"),
            "max_iterations": self.max_iterations,
        }
        if self.end_condition is not None:
            end = self.end_condition
            if _is_async(end):

                async def check_async(outputs: List[Dict[str, Any]]) -> bool:
                    return bool(await end([StepOutput.from_dict(o) for o in outputs]))

                spec["end_condition"], spec["is_async"] = check_async, True
            else:

                def check(outputs: List[Dict[str, Any]]) -> bool:
                    return bool(end([StepOutput.from_dict(o) for o in outputs]))

                spec["end_condition"], spec["is_async"] = check, False
        return spec


class Router(Node):
    """Runs the choices ``selector(step_input)`` picks, in order: it returns steps (or their
    names), one or a list. The choice is checkpointed."""

    def __init__(
        self,
        selector: Callable[..., Any],
        choices: Optional[Sequence[Any]] = None,
        name: Optional[str] = None,
        description: Optional[str] = None,
        **agno_options: Any,
    ) -> None:
        if not callable(selector):
            raise TypeError(f"Router {name!r}: selector must be a function")
        self.selector = selector
        self.choices = list(choices or [])
        self.name = name
        self.description = description

    def _spec(self, index: int) -> Dict[str, Any]:
        name = self._default_name(index)
        where = f"Router {name!r}"
        names = step_names(self.choices, where)
        by_identity = {id(c): n for c, n in zip(self.choices, names)}

        def to_names(chosen: Any) -> List[str]:
            if chosen is None:
                return []
            if not isinstance(chosen, (list, tuple)):
                chosen = [chosen]
            out = []
            for c in chosen:
                if isinstance(c, str):
                    out.append(c)
                elif id(c) in by_identity:
                    out.append(by_identity[id(c)])
                elif getattr(c, "name", None):
                    out.append(c.name)
                else:
                    raise ValueError(
                        f"{where}: the selector returned {c!r}, which is not one of its choices"
                    )
            return out

        return {
            "type": "router",
            "name": name,
            "selector": _decision_adapter(self.selector, to_names),
            "is_async": _is_async(self.selector),
            "choices": nodes_spec(self.choices, where),
        }
