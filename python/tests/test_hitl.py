"""Human in the loop from Python: a tool marked ``requires_confirmation``,
``requires_user_input`` or ``external_execution`` pauses the agent's run; the output's
``active_requirements`` say what it waits for; ``continue_run`` (sync, async, streaming) goes
on with the decisions under the same ``run_id``. And over HTTP: Agno's own ``AgentOSClient``
continues a paused run served by ``kern.os.AgentOS``."""

from __future__ import annotations

from typing import List

import pytest
from conftest import run

from kern.agent import Agent
from kern.exceptions import ConflictError
from kern.models.openai import OpenAIChat
from kern.run.base import RunStatus
from kern.tools import tool


def mailer(db, sent: List[str], **gate) -> Agent:
    @tool(**gate)
    def send_email(to: str, body: str) -> str:
        """Send an email.

        Args:
            to: The recipient.
            body: What to say.
        """
        sent.append(to)
        return f"sent to {to}"

    return Agent(name="Mailer", model=OpenAIChat(id="gpt-test"), tools=[send_email], db=db)


def test_confirmation_pauses_and_continues(any_db, fake_openai) -> None:
    sent: List[str] = []
    agent = mailer(any_db, sent, requires_confirmation=True)
    out = agent.run("Email the team")
    assert out.status == RunStatus.paused and out.is_paused
    assert not out.has_completed()
    [req] = out.active_requirements
    assert req.needs_confirmation and req.tool_execution.tool_name == "send_email"
    assert out.tools_requiring_confirmation[0].tool_args["to"]
    assert sent == [], "nothing runs before a person says so"
    req.confirm()
    done = agent.continue_run(run_id=out.run_id, requirements=out.requirements)
    assert done.run_id == out.run_id
    assert done.status == RunStatus.completed, done.error
    assert "sent to" in done.content and len(sent) == 1
    with pytest.raises(ConflictError, match="not paused"):
        agent.continue_run(run_id=out.run_id, requirements=out.requirements)


def test_rejection_user_input_and_external_execution_async(sqlite_db, fake_openai) -> None:
    async def main():
        sent: List[str] = []
        rejecting = mailer(sqlite_db, sent, requires_confirmation=True)
        out = await rejecting.arun("Email the team")
        out.active_requirements[0].reject("not today")
        done = await rejecting.acontinue_run(out)
        assert done.status == RunStatus.completed and "not today" in done.content and sent == []

        asking = Agent(
            name="Asker",
            model=OpenAIChat(id="gpt-test"),
            tools=[mailer(None, sent, requires_user_input=True, user_input_fields=["to"]).tools[0]],
            db=sqlite_db,
        )
        out = await asking.arun("Email someone")
        [req] = out.active_requirements
        assert req.needs_user_input and [f.name for f in req.user_input_schema] == ["to"]
        req.provide_user_input({"to": "person@example.com"})
        done = await asking.acontinue_run(run_id=out.run_id, requirements=out.requirements)
        assert "sent to person@example.com" in done.content and sent == ["person@example.com"]

        external = mailer(sqlite_db, sent, external_execution=True)
        external.name, external.id = "External", "external"
        out = await external.arun("Email them")
        [req] = out.active_requirements
        assert req.is_external_tool_execution
        req.set_external_execution_result("queued by the caller")
        events = [e async for e in external.acontinue_run(out, stream=True)]
        assert events[0].event == "RunContinued" and events[-1].event == "RunCompleted"
        assert "queued by the caller" in events[-1].content
        assert len(sent) == 1, "the external call never ran here"

    run(main())


def test_agno_client_continues_a_paused_run(any_db, fake_openai) -> None:
    agno_client = pytest.importorskip("agno.client")
    from agno.models.response import ToolExecution

    from kern.os import AgentOS

    sent: List[str] = []
    agent = mailer(any_db, sent, requires_confirmation=True)
    os_ = AgentOS(agents=[agent])
    base = os_.start("127.0.0.1", 0)

    async def main():
        client = agno_client.AgentOSClient(base_url=base, timeout=30.0)
        try:
            paused = await client.run_agent(agent_id="mailer", message="Email the team")
            assert paused.is_paused, paused.status
            tools = [t for t in paused.tools if t.requires_confirmation]
            assert [t.tool_name for t in tools] == ["send_email"]
            tools[0].confirmed = True
            done = await client.continue_agent_run(
                agent_id="mailer",
                run_id=paused.run_id,
                tools=[ToolExecution.from_dict(t.to_dict()) for t in tools],
            )
            assert str(getattr(done.status, "value", done.status)).upper() == "COMPLETED"
            assert "sent to" in done.content and len(sent) == 1
        finally:
            from agno.utils.http import get_default_async_client

            await get_default_async_client().aclose()

    try:
        run(main())
    finally:
        os_.stop()


def test_workflow_steps_wait_for_confirmation_and_input(any_db) -> None:
    from kern.workflow import Step, StepInput, Workflow

    calls: List[str] = []

    def make(name: str):
        def run_step(step_input: StepInput) -> str:
            extra = (step_input.additional_data or {}).get("user_input")
            calls.append(name if extra is None else f"{name}:{extra['audience']}")
            return f"{name} done"

        return run_step

    wf = Workflow(
        name="Review Pipeline",
        db=any_db,
        steps=[
            Step(name="draft", executor=make("draft")),
            Step(
                name="publish",
                executor=make("publish"),
                requires_confirmation=True,
                confirmation_message="Publish now?",
                on_reject="skip",
            ),
            Step(
                name="announce",
                executor=make("announce"),
                requires_user_input=True,
                user_input_message="For whom?",
                user_input_schema=[
                    {"name": "audience", "field_type": "str", "description": "Readers"}
                ],
            ),
        ],
    )

    async def main():
        out = await wf.arun("x")
        assert out.is_paused and calls == ["draft"]
        [req] = out.active_step_requirements
        assert req.step_name == "publish" and req.confirmation_message == "Publish now?"
        req.confirm()
        out = await wf.acontinue_run(out)
        assert out.is_paused, out.status
        [req] = out.active_step_requirements
        assert req.step_name == "announce" and [f.name for f in req.user_input_schema] == [
            "audience"
        ]
        req.set_user_input(audience="developers")
        done = await wf.acontinue_run(run_id=out.run_id, step_requirements=out.step_requirements)
        assert done.status == RunStatus.completed, done.error
        assert calls == ["draft", "publish", "announce:developers"]
        assert [s.step_name for s in done.step_results] == ["draft", "publish", "announce"]

    run(main())


def test_agno_client_continues_a_paused_workflow(any_db) -> None:
    agno_client = pytest.importorskip("agno.client")

    from kern.os import AgentOS
    from kern.workflow import Step, Workflow

    published: List[str] = []

    def publish(step_input) -> str:
        published.append(step_input.previous_step_content)
        return "published " + step_input.previous_step_content

    wf = Workflow(
        name="Review",
        db=any_db,
        steps=[
            Step(name="draft", executor=lambda si: "draft of " + si.input),
            Step(
                name="publish",
                executor=publish,
                requires_confirmation=True,
                confirmation_message="Publish it?",
            ),
        ],
    )
    os_ = AgentOS(workflows=[wf])
    base = os_.start("127.0.0.1", 0)

    async def main():
        client = agno_client.AgentOSClient(base_url=base, timeout=30.0)
        try:
            paused = await client.run_workflow(workflow_id="review", message="the post")
            assert str(getattr(paused.status, "value", paused.status)).upper() == "PAUSED"
            # Agno's own WorkflowRunOutput reads the requirements off kern's record.
            [req] = paused.active_step_requirements
            assert req.step_name == "publish" and req.confirmation_message == "Publish it?"
            assert published == []
            req.confirm()
            done = await client.continue_workflow_run(
                workflow_id="review", run_id=paused.run_id, requirements=[req]
            )
            assert str(getattr(done.status, "value", done.status)).upper() == "COMPLETED"
            assert done.content == "published draft of the post"
            assert published == ["draft of the post"]
        finally:
            from agno.utils.http import get_default_async_client

            await get_default_async_client().aclose()

    try:
        run(main())
    finally:
        os_.stop()


def test_a_team_leaders_tool_pauses_the_team_and_agnos_client_continues_it(
    any_db, fake_openai
) -> None:
    agno_client = pytest.importorskip("agno.client")

    from kern.os import AgentOS
    from kern.team import Team

    sent: List[str] = []

    @tool(requires_confirmation=True)
    def send_email(to: str, body: str) -> str:
        """Send an email.

        Args:
            to: The recipient.
            body: What to say.
        """
        sent.append(to)
        return f"sent to {to}"

    writer = Agent(name="Writer", model=OpenAIChat(id="gpt-test"), db=any_db)
    team = Team(
        name="Desk",
        members=[writer],
        model=OpenAIChat(id="gpt-test"),
        tools=[send_email],
        respond_directly=True,  # the fake model calls the first tool not named forward*
        db=any_db,
    )
    # From Python: the team pauses and continues like an agent.
    out = team.run("Email the team")
    assert out.is_paused, out.status
    [req] = out.active_requirements
    assert req.tool_execution.tool_name == "send_email" and sent == []
    req.confirm()
    done = team.continue_run(run_id=out.run_id, requirements=out.requirements)
    assert done.status == RunStatus.completed, done.error
    assert "sent to" in done.content and len(sent) == 1

    # Over HTTP, with Agno's own continue_team_run (it sends `requirements`).
    os_ = AgentOS(teams=[team])
    base = os_.start("127.0.0.1", 0)

    async def main():
        from agno.run.requirement import RunRequirement

        client = agno_client.AgentOSClient(base_url=base, timeout=30.0)
        try:
            paused = await client.run_team(team_id="desk", message="Email them again")
            assert str(getattr(paused.status, "value", paused.status)).upper() == "PAUSED"
            reqs = [RunRequirement.from_dict(r.to_dict()) for r in paused.requirements]
            assert [r.tool_execution.tool_name for r in reqs] == ["send_email"]
            reqs[0].confirm()
            done = await client.continue_team_run(
                team_id="desk", run_id=paused.run_id, requirements=reqs
            )
            assert str(getattr(done.status, "value", done.status)).upper() == "COMPLETED"
            assert "sent to" in done.content and len(sent) == 2
        finally:
            from agno.utils.http import get_default_async_client

            await get_default_async_client().aclose()

    try:
        run(main())
    finally:
        os_.stop()
