"""``kern.os.AgentOS`` serving Python-defined agents, teams and workflows over HTTP, driven by
Agno's own client (``agno.client.AgentOSClient``, from the test venv, which scripts/py-venv
builds on Agno's): discovery, a run of each kind, streaming, background runs polled through the
sessions API, cancel. And ``serve()`` as a program runs it: SIGTERM stops it gracefully."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from conftest import python_env, run

from kern.agent import Agent
from kern.models.openai import OpenAIChat
from kern.os import AgentOS
from kern.team import Team
from kern.workflow import Step, StepInput, Workflow

agno_client = pytest.importorskip(
    "agno.client", reason="Agno's client is installed by scripts/py-venv"
)
TERMINAL = {"COMPLETED", "ERROR", "CANCELLED"}


def status_of(obj) -> str:
    s = getattr(obj, "status", None)
    return str(getattr(s, "value", s)).upper()


async def poll(client, session_id: str, run_id: str, until, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        r = await client.get_session_run(session_id=session_id, run_id=run_id)
        if until(r):
            return r
        assert time.monotonic() < deadline, f"run {run_id} stuck at {status_of(r)}"
        await asyncio.sleep(0.02)


def test_agno_client_against_kern_agentos(any_db, fake_openai) -> None:
    release = threading.Event()

    async def slow(step_input: StepInput) -> str:
        while not release.is_set():
            await asyncio.sleep(0.01)
        return "released"

    helper = Agent(name="Helper", model=OpenAIChat(id="fake-model"), db=any_db)
    critic = Agent(name="Critic", model=OpenAIChat(id="fake-model"))
    team = Team(name="Pair", members=[helper, critic], model=OpenAIChat(id="leader"), db=any_db)
    echo = Workflow(
        name="Echo", db=any_db, steps=[Step(name="echo", executor=lambda si: f"echo {si.input}")]
    )
    waiting = Workflow(name="Waiting", db=any_db, steps=[Step(name="wait", executor=slow)])
    os_ = AgentOS(agents=[helper], teams=[team], workflows=[echo, waiting], name="Kern test OS")
    base = os_.start("127.0.0.1", 0)

    async def main():
        try:
            await exercise(agno_client.AgentOSClient(base_url=base, timeout=30.0))
        finally:
            # Agno's client shares one httpx client per process, bound to this event loop.
            from agno.utils.http import get_default_async_client

            await get_default_async_client().aclose()

    async def exercise(client):
        config = await client.aget_config()
        assert [a.id for a in config.agents] == ["helper"]
        assert {w.id for w in config.workflows} == {"echo", "waiting"}
        assert [t.id for t in await client.list_teams()] == ["pair"]

        out = await client.run_agent(agent_id="helper", message="Say hello")
        assert status_of(out) == "COMPLETED" and out.content.startswith("[fake-model] Say hello")
        wout = await client.run_workflow(workflow_id="echo", message="kern")
        assert wout.content == "echo kern"
        tout = await client.run_team(team_id="pair", message="Work together")
        assert status_of(tout) == "COMPLETED", tout

        events = [e async for e in client.run_agent_stream(agent_id="helper", message="Stream it")]
        text = "".join(e.content for e in events if e.event == "RunContent")
        assert events[-1].event == "RunCompleted" and text == events[-1].content

        bg = await client.run_workflow(workflow_id="echo", message="later", background=True)
        done = await poll(client, bg.session_id, bg.run_id, lambda r: status_of(r) in TERMINAL)
        assert done.content == "echo later"
        # The run is the same one the Python API sees.
        assert echo.get_run(bg.run_id).content == "echo later"

        long = await client.run_workflow(workflow_id="waiting", message="x", background=True)
        await poll(client, long.session_id, long.run_id, lambda r: status_of(r) == "RUNNING")
        await client.cancel_workflow_run(workflow_id="waiting", run_id=long.run_id)
        cancelled = await poll(
            client, long.session_id, long.run_id, lambda r: status_of(r) in TERMINAL
        )
        assert status_of(cancelled) == "CANCELLED"

    try:
        run(main())
    finally:
        release.set()
        os_.stop()


def test_serve_runs_until_sigterm_and_hands_runs_back(tmp_path) -> None:
    script = tmp_path / "os_app.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from kern.db.sqlite import SqliteDb
            from kern.os import AgentOS
            from kern.workflow import Step, Workflow

            wf = Workflow(name="Hello", db=SqliteDb(db_file={str(tmp_path / "os.db")!r}),
                          steps=[Step(name="hi", executor=lambda si: "hi " + si.input)])
            agent_os = AgentOS(workflows=[wf])
            app = agent_os.get_app()

            if __name__ == "__main__":
                agent_os.serve(app="os_app:app", host="127.0.0.1", port=0)
            """
        )
    )
    child = subprocess.Popen(
        [sys.executable, str(script)], env=python_env(), stdout=subprocess.PIPE, text=True
    )
    try:
        line = child.stdout.readline()
        assert "serving on http://127.0.0.1:" in line, line
        base = line.split()[-1]
        import httpx

        r = httpx.post(f"{base}/workflows/hello/runs", data={"message": "there", "stream": "false"})
        assert r.status_code == 200 and r.json()["content"] == "hi there"
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
