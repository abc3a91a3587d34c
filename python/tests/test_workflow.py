"""Workflows of Python function steps: the four modes, step inputs and outputs, composites,
session state, failures, cancel, and resuming a stream from an event index."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from conftest import run, until

from kern.exceptions import NoDatabaseError
from kern.run.base import RunStatus
from kern.run.events import Transcript
from kern.workflow import (
    Condition,
    Loop,
    Parallel,
    Router,
    Step,
    StepInput,
    StepOutput,
    Steps,
    Workflow,
)


async def shout(step_input: StepInput) -> StepOutput:
    return StepOutput(content=f"{step_input.input}!".upper())


def exclaim(step_input: StepInput) -> str:
    return f"{step_input.previous_step_content} (seen by a sync step)"


def two_steps(db=None, name="Two steps") -> Workflow:
    return Workflow(
        name=name,
        db=db,
        steps=[Step(name="shout", executor=shout), Step(name="exclaim", executor=exclaim)],
    )


def test_four_modes(any_db) -> None:
    wf = two_steps(any_db)

    async def main():
        # Foreground, blocking.
        done = await wf.arun("hi")
        assert done.status == RunStatus.completed and done.has_completed()
        assert done.content == "HI! (seen by a sync step)"
        assert [s.step_name for s in done.step_results] == ["shout", "exclaim"]
        assert done.workflow_id == "two-steps" and done.workflow_name == "Two steps"
        # Foreground, streaming: typed events with gapless indices.
        events = [e async for e in wf.arun("yo", stream=True)]
        assert [e.event_index for e in events] == list(range(len(events)))
        assert (
            events[0].event == "WorkflowStarted"
            and type(events[0]).__name__ == "WorkflowStartedEvent"
        )
        assert (
            events[-1].event == "WorkflowCompleted"
            and events[-1].content == "YO! (seen by a sync step)"
        )
        # Background: pending at once, then polled to completion.
        started = await wf.arun("bg", background=True)
        assert started.status == RunStatus.pending and started.content is None
        result = await until(
            "the background run",
            lambda: (r := wf.get_run(started.run_id)) and r.has_completed() and r,
        )
        assert result.content == "BG! (seen by a sync step)"
        assert result.created_at == started.created_at
        # Background, streaming.
        events = [e async for e in wf.arun("bs", background=True, stream=True)]
        assert events[-1].event == "WorkflowCompleted"
        # Sync face.
        assert wf.run("sync").content == "SYNC! (seen by a sync step)"
        pending = wf.run("sync-bg", background=True)
        assert pending.status == "PENDING"
        assert [e.event for e in wf.run("s", stream=True)][-1] == "WorkflowCompleted"

    run(main())


def test_unknown_runs_and_foreign_runs_are_none(sqlite_db) -> None:
    wf = two_steps(sqlite_db)
    other = two_steps(sqlite_db, name="Other")
    done = wf.run("x")
    assert wf.get_run("01a22f30-0000-7000-8000-000000000000") is None
    assert other.get_run(done.run_id) is None
    assert run(wf.aget_run(done.run_id)).run_id == done.run_id
    with pytest.raises(ValueError, match="not a run id"):
        wf.get_run("nope")


def test_background_needs_a_database() -> None:
    wf = two_steps(None, name="No db")
    with pytest.raises(NoDatabaseError, match="database"):
        run(wf.arun("x", background=True))
    # Foreground runs work without one.
    assert wf.run("x").content == "X! (seen by a sync step)"


def test_composites_and_additional_data(sqlite_db) -> None:
    seen = {}

    def research(step_input: StepInput) -> StepOutput:
        seen["additional"] = step_input.additional_data
        return StepOutput(content={"topic": step_input.input})

    async def web(step_input: StepInput) -> str:
        await asyncio.sleep(0.01)
        return "web notes"

    def hn(step_input: StepInput) -> str:
        return "hn notes"

    def summary(step_input: StepInput) -> str:
        both = step_input.get_step_content("Gather")
        return (
            f"{both['Web']} + {both['HN']} about {step_input.get_step_content('Research')['topic']}"
        )

    wf = Workflow(
        name="Composite",
        db=sqlite_db,
        steps=[
            Step(name="Research", executor=research),
            Parallel(Step(name="Web", executor=web), Step(name="HN", executor=hn), name="Gather"),
            Condition(
                name="Long?",
                evaluator=lambda si: len(si.input) > 3,
                steps=[Step(name="Summary", executor=summary)],
                else_steps=[Step(name="Short", executor=lambda si: "short")],
            ),
            Steps(
                name="Finish",
                steps=[Step(name="Done", executor=lambda si: f"done: {si.previous_step_content}")],
            ),
        ],
    )
    out = wf.run("quantum", additional_data={"webhook_url": "http://example.invalid"})
    assert out.status == "COMPLETED", out.error
    assert out.content == "done: web notes + hn notes about quantum"
    assert seen["additional"] == {"webhook_url": "http://example.invalid"}
    assert [s.step_name for s in out.step_results] == ["Research", "Gather", "Long?", "Finish"]
    assert wf.run("ab").content == "done: short"


def test_loop_and_router(sqlite_db) -> None:
    counter = {"n": 0}

    def tick(step_input: StepInput) -> str:
        counter["n"] += 1
        return f"tick {counter['n']}"

    async def done_after_three(outputs) -> bool:
        return outputs[-1].content == "tick 3"

    a = Step(name="A", executor=lambda si: "route a")
    b = Step(name="B", executor=lambda si: "route b")
    wf = Workflow(
        name="Loops",
        db=sqlite_db,
        steps=[
            Loop(
                name="Ticks",
                steps=[Step(name="Tick", executor=tick)],
                max_iterations=10,
                end_condition=done_after_three,
            ),
            Router(name="Pick", selector=lambda si: [b] if "b" in si.input else a, choices=[a, b]),
        ],
    )
    out = wf.run("go b")
    assert out.status == "COMPLETED", out.error
    assert counter["n"] == 3
    assert out.content == "route b"
    assert wf.run("go a").content == "route a"


def test_session_state_reaches_steps_and_persists(sqlite_db) -> None:
    def count(step_input: StepInput, session_state) -> str:
        session_state["count"] = session_state.get("count", 0) + 1
        return str(session_state["count"])

    wf = Workflow(name="Counter", db=sqlite_db, steps=[Step(name="count", executor=count)])
    first = wf.run("x", session_id="s1")
    second = wf.run("x", session_id="s1", session_state={"seed": 1})
    assert (first.content, second.content) == ("1", "2")
    assert wf.run("x", session_id="s2").content == "1"


def test_a_raising_step_fails_the_run_with_its_type_and_message(any_db) -> None:
    def boom(step_input: StepInput) -> str:
        raise ValueError("the input is not valid")

    calls = {"n": 0}

    def flaky(step_input: StepInput) -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise RuntimeError("try again")
        return "third time"

    wf = Workflow(name="Failing", db=any_db, steps=[Step(name="boom", executor=boom)])
    out = run(wf.arun("x"))
    assert out.status == RunStatus.error and out.status == "failed"
    assert "ValueError: the input is not valid" in out.error
    assert "step 'boom'" in out.error
    retried = Workflow(
        name="Retried",
        db=any_db,
        steps=[Step(name="flaky", executor=flaky, max_retries=2, retry_backoff=0.001)],
    )
    assert retried.run("x").content == "third time"
    skipped = Workflow(
        name="Skipped",
        db=any_db,
        steps=[
            Step(name="boom", executor=boom, skip_on_failure=True),
            Step(name="after", executor=lambda si: "after"),
        ],
    )
    out = skipped.run("x")
    assert out.content == "after" and out.step_results[0].success is False


def test_a_step_returning_something_unstorable_fails_clearly(sqlite_db) -> None:
    wf = Workflow(
        name="Unstorable",
        db=sqlite_db,
        steps=[Step(name="bad", executor=lambda si: StepOutput(content={1, 2}))],
    )
    out = wf.run("x")
    assert out.status == "ERROR"
    assert "JSON" in out.error and "set" in out.error


def test_cancel_a_running_background_run(any_db) -> None:
    started_evt = threading.Event()

    async def slow(step_input: StepInput) -> str:
        started_evt.set()
        await asyncio.sleep(60)
        return "never"

    wf = Workflow(name="Slow", db=any_db, steps=[Step(name="slow", executor=slow)])

    async def main():
        bg = await wf.arun("x", background=True)
        await until("the step to start", started_evt.is_set)
        t0 = time.monotonic()
        assert await wf.acancel_run(bg.run_id) is True
        out = await until(
            "the cancel", lambda: (r := wf.get_run(bg.run_id)) and r.has_completed() and r
        )
        assert out.status == RunStatus.cancelled
        assert time.monotonic() - t0 < 5
        assert wf.cancel_run(bg.run_id) is False  # already finished
        assert wf.cancel_run("01a22f30-0000-7000-8000-000000000000") is False

    run(main())


def test_resume_a_stream_from_an_event_index(any_db) -> None:
    release = threading.Event()

    def gate(step_input: StepInput) -> str:
        release.wait(30)
        return "opened"

    wf = Workflow(
        name="Gated",
        db=any_db,
        steps=[
            Step(name="first", executor=lambda si: "one"),
            Step(name="gate", executor=gate),
            Step(name="last", executor=lambda si: "three"),
        ],
    )

    async def main():
        stream = wf.arun("x", background=True, stream=True)
        seen = []
        async for event in stream:
            seen.append(event)
            if event.event == "StepStarted" and event.step_name == "gate":
                break  # the client drops; the background run goes on
        await stream.aclose()
        run_id = seen[0].run_id
        release.set()
        # Resume after the last index seen: the rest, no gap, no duplicate.
        rest = [e async for e in wf.aresume_stream(run_id, last_event_index=seen[-1].event_index)]
        indices = [e.event_index for e in seen + rest]
        assert indices == list(range(len(indices)))
        assert rest[-1].event == "WorkflowCompleted" and rest[-1].content == "three"
        # From the start, once finished: the whole log.
        whole = list(wf.resume_stream(run_id))
        assert [e.event_index for e in whole] == indices
        t = Transcript()
        for e in whole:
            t.push(e)
        assert len(t.events) == len(whole)  # nothing restarted, nothing voided

    run(main())


def test_caller_loop_closing_does_not_stop_background_runs(sqlite_db) -> None:
    async def slowish(step_input: StepInput) -> str:
        await asyncio.sleep(0.2)
        return "finished without its caller"

    wf = Workflow(name="Detached", db=sqlite_db, steps=[Step(name="s", executor=slowish)])
    bg = run(wf.arun("x", background=True))  # asyncio.run returns: the caller's loop is closed
    out = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = wf.get_run(bg.run_id)
        if out.has_completed():
            break
        time.sleep(0.01)
    assert out is not None and out.content == "finished without its caller"
