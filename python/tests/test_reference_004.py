"""Reference 004 (Agno's "Background execution" page): the fire-and-forget program, run in this
process on the test PostgreSQL server with its models pointed at a local fake OpenAI server
(the only changes: the db_url value and the model server), and the execution-mode table's
rows that the other tests do not already cover:

| background | stream | covered by |
|---|---|---|
| False | True | agents, workflows: test_agents / test_workflow (events); teams here; "client disconnect cancels the run": here, for all three |
| False | False | agents, teams, workflows: test_agents / test_workflow; teams on PostgreSQL here |
| True | False | agents, workflows: test_agents / test_workflow; teams here |
| True | True | workflows (drop and resume from an event index): test_workflow; agents and teams here |

AgentOS's HTTP ``/resume`` endpoint is not exercised here (kern.os is being built elsewhere);
kern's in-process equivalent, ``aresume_stream(run_id, last_event_index)``, is.
"""

from __future__ import annotations

import asyncio
import re
import threading

import pytest
from conftest import pg_schema_url, run, until

from kern import _runtime
from kern.agent import Agent
from kern.db.postgres import PostgresDb
from kern.models.openai import OpenAIChat, OpenAIResponses
from kern.run.base import RunStatus
from kern.run.events import Transcript
from kern.team import Team
from kern.workflow import Step, StepInput, Workflow


def sqlalchemy_style(url: str) -> str:
    """``postgres://…`` (the test server's URL) → ``postgresql+psycopg://…``, the form the
    reference (and Agno) writes."""
    assert url.startswith("postgres://"), url
    return "postgresql+psycopg://" + url[len("postgres://") :]


def test_fire_and_forget_agent_on_postgres(fake_openai, capsys) -> None:
    schema_url = pg_schema_url()

    # --- the reference program (imports: agno → kern; db_url: the test server) -------------
    db = PostgresDb(
        db_url=sqlalchemy_style(
            schema_url
        ),  # reference: "postgresql+psycopg://ai:ai@localhost:5532/ai"
        session_table="background_exec_sessions",
    )

    agent = Agent(
        name="BackgroundAgent",
        model=OpenAIResponses(id="gpt-5-mini"),
        db=db,
    )

    async def main():
        # Returns immediately with PENDING status
        run_output = await agent.arun(
            "Write a short analysis of quantum computing trends.",
            background=True,
        )
        print(f"Run ID: {run_output.run_id}, Status: {run_output.status}")

        # Poll until complete
        for _ in range(60):
            await asyncio.sleep(1)
            result = await agent.aget_run_output(
                run_id=run_output.run_id,
                session_id=run_output.session_id,
            )
            if result and result.status == RunStatus.completed:
                print(f"Done: {result.content}")
                break

    # ------------------------------------------------------------------------------------------
    try:
        # The SQLAlchemy-style URL became the URL kern opens, the schema option kept.
        assert db.url == schema_url
        assert db.db_url.startswith("postgresql+psycopg://")
        assert db.agno_options == {"session_table": "background_exec_sessions"}

        asyncio.run(main())

        out = capsys.readouterr().out
        m = re.search(r"^Run ID: (\S+), Status: PENDING$", out, re.MULTILINE)
        assert m, out
        run_id = m.group(1)
        assert "Done: [gpt-5-mini] Write a short analysis of quantum computing trends." in out
        # One Responses API request, for the program's model.
        assert [(r.path, r.body["model"]) for r in fake_openai.recorded] == [
            ("/v1/responses", "gpt-5-mini")
        ]
        # The run is in PostgreSQL, in the schema the URL names: a second handle on the same
        # database (plain postgres:// URL this time) reads it back.
        again = Agent(
            name="BackgroundAgent",
            model=OpenAIResponses(id="gpt-5-mini"),
            db=PostgresDb(db_url=schema_url),
        )
        stored = again.get_run(run_id)
        assert stored.status == RunStatus.completed and stored.background is True
        assert stored.agent_id == "backgroundagent"
        assert stored.content.startswith("[gpt-5-mini] Write a short analysis")
    finally:
        _runtime.close_engine(db.url)


def test_team_four_modes_on_postgres(postgres_db, fake_openai) -> None:
    hn = Agent(name="Hackernews Agent", model=OpenAIChat(id="member"), role="Hacker News")
    fin = Agent(name="Finance Agent", model=OpenAIChat(id="member"), role="Stocks")
    team = Team(
        name="Research Team",
        members=[hn, fin],
        model=OpenAIChat(id="leader"),
        instructions="Research tech topics and related stocks",
        db=postgres_db,
    )

    async def main():
        # background=False, stream=False: the full response.
        done = await team.arun("Write about AI stocks")
        assert done.status == RunStatus.completed, done.error
        assert done.content.startswith("[leader] Write about AI stocks")
        assert "delegate_task_to_member" in done.content
        # background=False, stream=True: events inline, the members' runs among them.
        events = [e async for e in team.arun("Stream it", stream=True)]
        assert [e.event_index for e in events] == list(range(len(events)))
        assert events[0].event == "TeamRunStarted" and events[-1].event == "TeamRunCompleted"
        assert any(e.event == "RunCompleted" and e.run_id != events[0].run_id for e in events)
        # background=True, stream=False: PENDING at once, then polled.
        bg = await team.arun("In the background", background=True)
        assert bg.status == RunStatus.pending and bg.content is None
        out = await until(
            "the background team run",
            lambda: (r := team.get_run(bg.run_id)) and r.has_completed() and r,
        )
        assert out.status == RunStatus.completed, out.error
        assert out.content.startswith("[leader] In the background")
        polled = await team.aget_run_output(run_id=bg.run_id, session_id=bg.session_id)
        assert polled.status == RunStatus.completed and polled.team_id == "research-team"
        # background=True, stream=True: the events, the same answer as polling gives.
        t = Transcript()
        async for e in team.arun("bg stream", background=True, stream=True):
            t.push(e)
        assert t.events[-1].event == "TeamRunCompleted"
        stored = team.get_run(t.events[0].run_id)
        assert stored.status == RunStatus.completed and stored.content == t.events[-1].content

    run(main())


# --- disconnects: a foreground stream's client leaving cancels the run; a background one's does
# not, and the client catches up from its last event index -------------------------------------


class Gate:
    """A tool (or step) that blocks until the test opens it, so a client can leave mid-run."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    def tool(self):
        def wait_for_gate(topic: str) -> str:
            """Waits until the gate opens."""
            self.entered.set()
            self.opened.wait(30)
            return "gate opened"

        return wait_for_gate

    def step(self, step_input: StepInput) -> str:
        self.entered.set()
        self.opened.wait(30)
        return "gate opened"


def at_the_gate(event) -> bool:
    """The event after which the run blocks at the gate (nothing more comes until it opens)."""
    if event.event == "ToolCallStarted":
        return event.tool["tool_name"] == "wait_for_gate"
    return event.event == "StepStarted" and event.step_name == "gate"


def build(kind: str, db, gate: Gate):
    """An agent, a team or a workflow whose run blocks at the gate."""
    if kind == "agent":
        return Agent(name="Gated Agent", model=OpenAIChat(id="m"), tools=[gate.tool()], db=db)
    if kind == "team":
        member = Agent(
            name="Gated Member", model=OpenAIChat(id="member"), tools=[gate.tool()], role="Waits"
        )
        return Team(name="Gated Team", members=[member], model=OpenAIChat(id="leader"), db=db)
    return Workflow(
        name="Gated Workflow",
        db=db,
        steps=[
            Step(name="first", executor=lambda si: "one"),
            Step(name="gate", executor=gate.step),
            Step(name="last", executor=lambda si: "three"),
        ],
    )


@pytest.mark.parametrize("kind", ["agent", "team", "workflow"])
def test_a_foreground_stream_whose_client_leaves_cancels_the_run(
    postgres_db, fake_openai, kind
) -> None:
    gate = Gate()
    component = build(kind, postgres_db, gate)

    async def main():
        stream = component.arun("Write a detailed story about a brave knight.", stream=True)
        seen = []
        try:
            async for event in stream:
                seen.append(event)
                if at_the_gate(event):
                    break  # the client disconnects mid-run
            await stream.aclose()
            run_id = seen[0].run_id
            out = await until(
                "the run to end",
                lambda: (r := component.get_run(run_id)) and r.has_completed() and r,
            )
        finally:
            gate.opened.set()
        assert out.status == RunStatus.cancelled, f"{out.status}: {out.error}"
        assert out.content is None

    run(main())


@pytest.mark.parametrize("kind", ["agent", "team"])  # workflows: test_workflow
def test_a_background_stream_survives_its_client_and_resumes_from_the_last_index(
    postgres_db, fake_openai, kind
) -> None:
    gate = Gate()
    component = build(kind, postgres_db, gate)

    async def main():
        stream = component.arun(
            "Write a detailed story about a brave knight.", background=True, stream=True
        )
        seen = []
        try:
            async for event in stream:
                seen.append(event)
                if at_the_gate(event):
                    break  # the client disconnects; the run goes on
            await stream.aclose()
            run_id = seen[0].run_id
            running = component.get_run(run_id)
            assert running.status == RunStatus.running
        finally:
            gate.opened.set()
        last_event_index = seen[-1].event_index
        # Reconnect after the last event seen: the missed events and the live ones, no gap, no
        # duplicate, up to the end.
        rest = [e async for e in component.aresume_stream(run_id, last_event_index)]
        indices = [e.event_index for e in seen + rest]
        assert indices == list(range(len(indices)))
        final = rest[-1]
        assert final.event == ("RunCompleted" if kind == "agent" else "TeamRunCompleted")
        done = component.get_run(run_id)
        assert done.status == RunStatus.completed, done.error
        assert done.content == final.content
        # The tool's result reached the answer of the agent that called it.
        assert any(
            e.event == "RunCompleted" and "wait_for_gate results: gate opened" in e.content
            for e in rest
        )
        # The whole log, once finished, from the start.
        whole = [e async for e in component.aresume_stream(run_id)]
        assert [e.event_index for e in whole] == indices

    run(main())
