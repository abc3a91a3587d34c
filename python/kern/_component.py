"""What agents, teams and workflows share: the four ways to run, and reading runs back.

| call | background | stream | what it does |
|---|---|---|---|
| ``await x.arun(input)`` | no | no | runs to the end; returns the output |
| ``async for e in x.arun(input, stream=True)`` | no | yes | runs, yields events; leaving the loop early (``break``, ``aclose()``) cancels the run |
| ``await x.arun(input, background=True)`` | yes | no | returns at once, status ``pending``; poll ``get_run`` |
| ``async for e in x.arun(input, background=True, stream=True)`` | yes | yes | yields events; leaving the loop does not stop the run |

``run()`` does the same synchronously (it waits with the interpreter released, so other
threads and kern's own work go on). Background runs need a database (``db=SqliteDb(...)``):
without one they raise :class:`~kern.exceptions.NoDatabaseError` before anything starts.
"""

from __future__ import annotations

import collections
import hashlib
import json
import re
from typing import Any, Deque, Dict, List, Optional

from kern import _kern
from kern.run.base import BaseRunOutput
from kern.run.events import RunEvent, event_from_json


def slug(name: Optional[str]) -> Optional[str]:
    """A stable id from a name, as Agno derives one (``"Research Team"`` → ``research-team``)."""
    if not name:
        return None
    s = re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")
    return s or None


def digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, default=lambda o: type(o).__name__)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _input_value(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool, list, dict)):
        return value
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)


class Runnable:
    """The base of :class:`~kern.agent.Agent`, :class:`~kern.team.Team` and
    :class:`~kern.workflow.Workflow`."""

    _kind = ""
    _output: type = BaseRunOutput
    _compiled: Optional[_kern.Component] = None

    # Set by subclasses.
    name: Optional[str]
    id: str
    db: Any

    # --- compilation -----------------------------------------------------------------------

    def _spec(self) -> Dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _component(self) -> _kern.Component:
        """The engine's component for this definition, compiled (and registered on its
        database's engine) on first use."""
        if self._compiled is None:
            engine = self.db._engine() if getattr(self, "db", None) is not None else None
            self._compiled = getattr(_kern.Component, self._kind)(self._spec(), engine)
        return self._compiled

    def _register_if_durable(self) -> None:
        # A component with a database is registered at once, so that this process's executor
        # resumes the runs a previous process left unfinished (the same script started again).
        if getattr(self, "db", None) is not None:
            self._component()

    # --- starting runs ---------------------------------------------------------------------

    def _request(
        self,
        input: Any,
        session_id: Optional[str],
        user_id: Optional[str],
        additional_data: Optional[Dict[str, Any]],
        session_state: Optional[Dict[str, Any]],
        metadata: Optional[Dict[str, Any]],
        dependencies: Optional[Dict[str, Any]],
    ) -> Dict[str, Any]:
        return {
            "input": _input_value(input),
            "session_id": session_id or getattr(self, "session_id", None),
            "user_id": user_id or getattr(self, "user_id", None),
            "additional_data": additional_data,
            "session_state": session_state,
            "metadata": metadata,
            "dependencies": dependencies,
        }

    def arun(
        self,
        input: Any = None,
        *,
        stream: Optional[bool] = None,
        background: bool = False,
        session_id: Optional[str] = None,
        user_id: Optional[str] = None,
        additional_data: Optional[Dict[str, Any]] = None,
        session_state: Optional[Dict[str, Any]] = None,
        metadata: Optional[Dict[str, Any]] = None,
        dependencies: Optional[Dict[str, Any]] = None,
        **agno_options: Any,
    ) -> Any:
        """Runs asynchronously (see the module docs for the four modes). Without ``stream``,
        returns a coroutine of the run's output; with it, an async iterator of events."""
        doc = self._request(
            input, session_id, user_id, additional_data, session_state, metadata, dependencies
        )
        component = self._component()
        if stream:
            return AsyncRunStream(component.stream(doc, background), self)
        if background:
            return self._start(component, doc)
        return self._run(component, doc)

    async def _start(self, component: _kern.Component, doc: Dict[str, Any]) -> BaseRunOutput:
        return self._wrap(await component.start(doc))

    async def _run(self, component: _kern.Component, doc: Dict[str, Any]) -> BaseRunOutput:
        return self._wrap(await component.run(doc))

    def run(
        self,
        input: Any = None,
        *,
        stream: Optional[bool] = None,
        background: bool = False,
        session_id: Optional[str] = None,
        user_id: Optional[str] = None,
        additional_data: Optional[Dict[str, Any]] = None,
        session_state: Optional[Dict[str, Any]] = None,
        metadata: Optional[Dict[str, Any]] = None,
        dependencies: Optional[Dict[str, Any]] = None,
        **agno_options: Any,
    ) -> Any:
        """Runs synchronously: the output, or with ``stream`` an iterator of events. Unlike
        Agno, ``background=True`` works here too (it returns the pending run at once)."""
        doc = self._request(
            input, session_id, user_id, additional_data, session_state, metadata, dependencies
        )
        component = self._component()
        if stream:
            return RunStream(component.stream(doc, background), self)
        if background:
            return self._wrap(component.start_sync(doc))
        return self._wrap(component.run_sync(doc))

    # --- reading runs back -----------------------------------------------------------------

    def _wrap(self, record: Optional[Dict[str, Any]]) -> Optional[BaseRunOutput]:
        return None if record is None else self._output(record, self.name)

    def get_run(self, run_id: str) -> Optional[BaseRunOutput]:
        """The run's output so far (any process sharing the database may have run it), or
        None for an unknown id or another component's run."""
        return self._wrap(self._component().get_run_sync(str(run_id)))

    async def aget_run(self, run_id: str) -> Optional[BaseRunOutput]:
        return self._wrap(await self._component().get_run(str(run_id)))

    def get_run_output(
        self, run_id: str, session_id: Optional[str] = None
    ) -> Optional[BaseRunOutput]:
        """Like :meth:`get_run`; with ``session_id``, None unless the run is in that session."""
        out = self.get_run(run_id)
        return out if out is None or session_id is None or out.session_id == session_id else None

    async def aget_run_output(
        self, run_id: str, session_id: Optional[str] = None
    ) -> Optional[BaseRunOutput]:
        out = await self.aget_run(run_id)
        return out if out is None or session_id is None or out.session_id == session_id else None

    def get_runs(
        self, session_id: Optional[str] = None, status: Optional[str] = None, limit: int = 100
    ) -> List[BaseRunOutput]:
        """This component's runs, newest first (``session_id`` and ``status`` filter)."""
        records = self._component().list_runs_sync(
            session_id, str(status) if status else None, limit
        )
        return [self._output(r, self.name) for r in records]

    async def await_run(self, run_id: str) -> BaseRunOutput:
        """Waits (without polling) until the run has ended; its output. (**kern**)"""
        return self._wrap(await self._component().wait(str(run_id)))

    def cancel_run(self, run_id: str) -> bool:
        """Cancels a run: True if it was pending or running (it stops at once, in any process
        sharing the database), False if it had already ended or is unknown."""
        try:
            outcome = self._component().cancel_run_sync(str(run_id))
        except _kern.RunNotFoundError:
            return False
        return not outcome.startswith("finished")

    async def acancel_run(self, run_id: str) -> bool:
        try:
            outcome = await self._component().cancel_run(str(run_id))
        except _kern.RunNotFoundError:
            return False
        return not outcome.startswith("finished")

    # --- human in the loop ---------------------------------------------------------------

    def _continuation(
        self, run_response, run_id, requirements, updated_tools, step_requirements=None
    ):
        from kern.run.requirement import decisions_from

        if run_id is None:
            if run_response is None:
                raise ValueError("continue_run needs run_response= or run_id=")
            run_id = run_response.run_id
        if self._kind == "workflow":
            steps = step_requirements if step_requirements is not None else requirements
            if steps is None and run_response is not None:
                steps = getattr(run_response, "step_requirements", None) or []
            items = [s.to_dict() if hasattr(s, "to_dict") else s for s in steps or []]
            return str(run_id), {"step_requirements": items}
        items = requirements if requirements is not None else updated_tools
        if items is None and run_response is not None:
            items = run_response.requirements or []
        return str(run_id), decisions_from(items)

    def continue_run(
        self,
        run_response: Optional[BaseRunOutput] = None,
        *,
        run_id: Optional[str] = None,
        requirements: Optional[List[Any]] = None,
        updated_tools: Optional[List[Any]] = None,
        step_requirements: Optional[List[Any]] = None,
        stream: bool = False,
        **agno_options: Any,
    ) -> Any:
        """Continues a paused run with the decisions made on its requirements (or on
        ``updated_tools``): the same run goes on, in this process or any other sharing the
        database. Returns the output once the run settles again (completed, failed, or paused
        once more), or with ``stream`` its events from ``RunContinued`` on."""
        run_id, decisions = self._continuation(
            run_response, run_id, requirements, updated_tools, step_requirements
        )
        component = self._component()
        if stream:
            return RunStream(component.continue_stream(run_id, decisions), self)
        return self._wrap(component.continue_run_sync(run_id, decisions))

    def acontinue_run(
        self,
        run_response: Optional[BaseRunOutput] = None,
        *,
        run_id: Optional[str] = None,
        requirements: Optional[List[Any]] = None,
        updated_tools: Optional[List[Any]] = None,
        step_requirements: Optional[List[Any]] = None,
        stream: bool = False,
        **agno_options: Any,
    ) -> Any:
        """:meth:`continue_run` for async code: a coroutine of the output, or with ``stream``
        an async iterator of events."""
        run_id, decisions = self._continuation(
            run_response, run_id, requirements, updated_tools, step_requirements
        )
        component = self._component()
        if stream:
            return AsyncRunStream(component.continue_stream(run_id, decisions), self)

        async def go() -> Optional[BaseRunOutput]:
            return self._wrap(await component.continue_run(run_id, decisions))

        return go()

    def resume_stream(self, run_id: str, last_event_index: Optional[int] = None) -> RunStream:
        """The run's events after ``last_event_index`` (all when None), then live until it
        ends: every event is stored, so this works at any time, from any process sharing the
        database, also after restarts. (**kern**)"""
        return RunStream(self._component().subscribe(str(run_id), last_event_index), self)

    def aresume_stream(self, run_id: str, last_event_index: Optional[int] = None) -> AsyncRunStream:
        """:meth:`resume_stream` for ``async for``."""
        return AsyncRunStream(self._component().subscribe(str(run_id), last_event_index), self)


class _StreamBase:
    def __init__(self, native: _kern.EventStream, owner: Runnable) -> None:
        self._native = native
        self._owner = owner
        self._buffer: Deque[str] = collections.deque()
        self._ended = False
        self._run_id: Optional[str] = None

    def _next_event(self) -> RunEvent:
        event = event_from_json(self._buffer.popleft())
        if self._run_id is None:
            self._run_id = event.run_id
        return event

    @property
    def run_id(self) -> Optional[str]:
        """The run's id, once the stream has started."""
        if self._run_id is None:
            record = self._native.started_record()
            if record is not None:
                self._run_id = record["run_id"]
        return self._run_id

    def get_run(self) -> Optional[BaseRunOutput]:
        """The streamed run's output so far."""
        return None if self.run_id is None else self._owner.get_run(self.run_id)


class RunStream(_StreamBase):
    """A run's events, for ``for event in ...``. ``close()`` (or leaving a ``with`` block)
    stops reading; a foreground run is then cancelled."""

    def __iter__(self) -> RunStream:
        return self

    def __next__(self) -> RunEvent:
        while not self._buffer:
            if self._ended:
                raise StopIteration
            batch = self._native.next_batch_sync()
            if not batch:
                self._ended = True
                raise StopIteration
            self._buffer.extend(batch)
        return self._next_event()

    def close(self) -> None:
        self._ended = True
        self._buffer.clear()
        self._native.close()

    def __enter__(self) -> RunStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncRunStream(_StreamBase):
    """A run's events, for ``async for event in ...``. ``aclose()`` stops reading; a
    foreground run is then cancelled."""

    def __aiter__(self) -> AsyncRunStream:
        return self

    async def __anext__(self) -> RunEvent:
        while not self._buffer:
            if self._ended:
                raise StopAsyncIteration
            batch = await self._native.next_batch()
            if not batch:
                self._ended = True
                raise StopAsyncIteration
            self._buffer.extend(batch)
        return self._next_event()

    async def aclose(self) -> None:
        self._ended = True
        self._buffer.clear()
        self._native.close()

    def __await__(self):
        raise TypeError(
            "arun(stream=True) returns an async iterator: use `async for event in x.arun(..., stream=True)`"
        )
