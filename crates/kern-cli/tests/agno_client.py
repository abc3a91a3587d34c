"""Agno's own AgentOS client (`agno.client.AgentOSClient`, agno 3.1.10) against `kern serve`.

Run by crates/kern-cli/tests/agno_client.rs:

    python agno_client.py <base_url> <agent_id>

The server serves an agent `<agent_id>` (on a fake OpenAI server) and the demo workflows
(`echo`, `count`, `pipeline`, `approval`, which pauses for a confirmation). Every check asserts; any failure exits non-zero with the
traceback. Each step prints one line, so the Rust test's output shows how far it got.
"""

import asyncio
import sys
import time
import traceback

from agno.client import AgentOSClient
from agno.run.agent import RunOutput
from agno.run.workflow import WorkflowRunOutput

TERMINAL = {"COMPLETED", "ERROR", "CANCELLED"}


def step(msg: str) -> None:
    print(f"ok: {msg}", flush=True)


def status_of(obj) -> str:
    s = getattr(obj, "status", None)
    s = getattr(s, "value", s)
    return str(s).upper() if s is not None else ""


async def poll(client: AgentOSClient, session_id: str, run_id: str, until, timeout: float = 30.0):
    """Polls a run through the sessions API, as AgentOS clients do, until `until(run)`."""
    deadline = time.monotonic() + timeout
    while True:
        run = await client.get_session_run(session_id=session_id, run_id=run_id)
        if until(run):
            return run
        assert time.monotonic() < deadline, f"run {run_id} stuck at {status_of(run)}"
        await asyncio.sleep(0.05)


async def main(base_url: str, agent_id: str) -> None:
    client = AgentOSClient(base_url=base_url, timeout=30.0)

    # --- Discovery ------------------------------------------------------------------------
    config = await client.aget_config()
    assert any(a.id == agent_id for a in config.agents), config.agents
    assert {"echo", "count", "pipeline"} <= {w.id for w in config.workflows}, config.workflows
    step(f"config: os_id={config.os_id} databases={config.databases}")

    agents = await client.list_agents()
    assert [a.id for a in agents] == [agent_id], agents
    agent = await client.aget_agent(agent_id)
    assert agent.id == agent_id and agent.name == "Assistant", agent
    step(f"agents: {[a.id for a in agents]}; detail name={agent.name!r}")

    workflows = await client.list_workflows()
    ids = sorted(w.id for w in workflows)
    assert {"echo", "count", "pipeline"} <= set(ids), ids
    wf = await client.aget_workflow("pipeline")
    assert wf.id == "pipeline", wf
    step(f"workflows: {ids}; detail pipeline name={wf.name!r}")

    teams = await client.list_teams()
    assert isinstance(teams, list)
    step(f"teams: {[t.id for t in teams]}")

    # --- Run an agent and a workflow (foreground, not streaming) ------------------------------
    out = await client.run_agent(agent_id=agent_id, message="Say hello", user_id="py-user")
    assert isinstance(out, RunOutput), type(out)
    assert out.content == "tok0 tok1 tok2", out.content
    assert status_of(out) == "COMPLETED", out.status
    assert out.run_id and out.session_id
    step(f"run_agent: content={out.content!r} status={status_of(out)}")

    wout = await client.run_workflow(workflow_id="echo", message="hello kern")
    assert isinstance(wout, WorkflowRunOutput), type(wout)
    assert wout.content == "hello kern", wout.content
    assert status_of(wout) == "COMPLETED", wout.status
    step(f"run_workflow: content={wout.content!r}")

    # A follow-up in the same session, then the sessions API sees both runs.
    out2 = await client.run_agent(agent_id=agent_id, message="Again", session_id=out.session_id)
    assert out2.session_id == out.session_id
    runs = await client.get_session_runs(session_id=out.session_id)
    assert [r.run_id for r in runs] == [out.run_id, out2.run_id], runs
    session = await client.get_session(out.session_id)
    assert session.session_id == out.session_id
    sessions = await client.get_sessions(limit=50)
    assert any(s.session_id == out.session_id for s in sessions.data), sessions
    step(f"sessions: {sessions.meta.total_count} sessions; this one has {len(runs)} runs")

    # --- Stream an agent and a workflow -------------------------------------------------------
    events = [e async for e in client.run_agent_stream(agent_id=agent_id, message="Stream it")]
    names = [e.event for e in events]
    assert names[0] == "RunStarted", names
    assert names[-1] == "RunCompleted", names
    assert names.count("RunContent") == 3, names
    text = "".join(e.content for e in events if e.event == "RunContent")
    assert text == "tok0 tok1 tok2", text
    assert events[-1].content == "tok0 tok1 tok2", events[-1]
    step(f"run_agent_stream: {len(events)} events {names}")

    wevents = [e async for e in client.run_workflow_stream(workflow_id="pipeline", message="rust")]
    wnames = [e.event for e in wevents]
    assert wnames[0] == "WorkflowStarted", wnames
    assert wnames[-1] == "WorkflowCompleted", wnames
    assert "StepCompleted" in wnames and "ParallelExecutionStarted" in wnames, wnames
    assert "news about rust" in str(wevents[-1].content), wevents[-1].content
    step(f"run_workflow_stream: {len(wevents)} events, last={wnames[-1]}")

    # --- Background: 202 at once, then poll to the end ---------------------------------------
    bg = await client.run_workflow(workflow_id="count", message="5 20", background=True)
    assert bg.run_id and bg.session_id, bg
    assert status_of(bg) in {"PENDING", "RUNNING"}, bg.status
    done = await poll(client, bg.session_id, bg.run_id, lambda r: status_of(r) in TERMINAL)
    assert status_of(done) == "COMPLETED", done
    assert done.content == "counted to 5", done.content
    step(f"background workflow: {status_of(bg)} -> {status_of(done)} content={done.content!r}")

    abg = await client.run_agent(agent_id=agent_id, message="In the background", background=True)
    adone = await poll(client, abg.session_id, abg.run_id, lambda r: status_of(r) in TERMINAL)
    assert status_of(adone) == "COMPLETED" and adone.content == "tok0 tok1 tok2", adone
    step(f"background agent: {status_of(abg)} -> {status_of(adone)}")

    # --- Cancel a running background run --------------------------------------------------------
    long = await client.run_workflow(workflow_id="count", message="100000 50", background=True)
    await poll(client, long.session_id, long.run_id, lambda r: status_of(r) == "RUNNING")
    await client.cancel_workflow_run(workflow_id="count", run_id=long.run_id)
    cancelled = await poll(client, long.session_id, long.run_id, lambda r: status_of(r) in TERMINAL)
    assert status_of(cancelled) == "CANCELLED", cancelled
    step(f"cancel_workflow_run: {status_of(cancelled)}")

    # Cancelling a finished agent run is harmless.
    await client.cancel_agent_run(agent_id=agent_id, run_id=out.run_id)
    step("cancel_agent_run on a finished run: accepted")

    # --- Pause and continue: a workflow step that waits for a person ---------------------------
    paused = await client.run_workflow(workflow_id="approval", message="the launch post")
    assert status_of(paused) == "PAUSED", paused
    [req] = paused.active_step_requirements
    assert req.step_name == "publish" and req.confirmation_message == "Publish this draft?", req
    req.confirm()
    approved = await client.continue_workflow_run(
        workflow_id="approval", run_id=paused.run_id, requirements=[req]
    )
    assert status_of(approved) == "COMPLETED", approved
    assert approved.content == "published draft: the launch post", approved.content
    step(f"continue_workflow_run: {status_of(paused)} -> {status_of(approved)}")
    # A second continue is refused (409 run_not_paused).
    try:
        await client.continue_workflow_run(
            workflow_id="approval", run_id=paused.run_id, requirements=[req]
        )
    except Exception as e:  # noqa: BLE001 - Agno raises its own HTTP error type
        assert "409" in str(e) or "not paused" in str(e).lower(), e
    else:
        raise AssertionError("a second continue was accepted")
    step("a second continue: refused")

    print("ALL OK", flush=True)


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1], sys.argv[2]))
    except Exception:  # noqa: BLE001 - any failure fails the test
        traceback.print_exc()
        sys.exit(1)
