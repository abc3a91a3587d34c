"""Agents and teams on a local fake OpenAI server (Chat Completions and Responses): the four
modes, Python tools (schema from the signature, called by the model), teams delegating, the
default team model, and a missing API key failing the run with the variable's name."""

from __future__ import annotations

import asyncio
from typing import List, Optional

import pytest
from conftest import run, until

from kern.agent import Agent
from kern.models.anthropic import Claude
from kern.models.openai import OpenAIChat, OpenAIResponses
from kern.run.base import RunStatus
from kern.run.events import Transcript
from kern.team import Team
from kern.tools import tool


@pytest.mark.parametrize("model_class", [OpenAIChat, OpenAIResponses])
def test_agent_four_modes(any_db, fake_openai, model_class) -> None:
    agent = Agent(
        name="Writer", model=model_class(id="gpt-test"), db=any_db, instructions="Be brief"
    )

    async def main():
        done = await agent.arun("Write about quantum computing trends")
        assert done.status == RunStatus.completed, done.error
        assert done.content.startswith("[gpt-test] Write about quantum")
        assert done.agent_id == "writer" and done.agent_name == "Writer"
        events = [e async for e in agent.arun("Stream it", stream=True)]
        names = [e.event for e in events]
        assert names[0] == "RunStarted" and names[-1] == "RunCompleted"
        joined = "".join(e.content for e in events if e.event == "RunContent")
        assert joined == events[-1].content
        bg = await agent.arun("In the background", background=True)
        assert bg.status == RunStatus.pending
        out = await until(
            "the agent run", lambda: (r := agent.get_run(bg.run_id)) and r.has_completed() and r
        )
        assert out.content.startswith("[gpt-test] In the background")
        result = await agent.aget_run_output(run_id=bg.run_id, session_id=bg.session_id)
        assert result.status == RunStatus.completed
        assert await agent.aget_run_output(run_id=bg.run_id, session_id="another") is None
        t = Transcript()
        async for e in agent.arun("bg stream", background=True, stream=True):
            t.push(e)
        assert t.content() == t.events[-1].content

    run(main())


def test_python_tools_are_described_and_called(sqlite_db, fake_openai) -> None:
    calls: List[tuple] = []

    @tool
    def get_weather(city: str, days: int = 1, units: Optional[str] = None) -> dict:
        """Get the weather forecast.

        Args:
            city: The city to look up.
            days: How many days ahead.
        """
        calls.append((city, days))
        return {"city": city, "forecast": "sunny"}

    async def get_time(zone: str) -> str:
        """The current time in a time zone."""
        await asyncio.sleep(0)
        return "12:00"

    agent = Agent(
        name="Helper", model=OpenAIChat(id="m"), tools=[get_weather, get_time], db=sqlite_db
    )
    out = agent.run("What is the weather in Paris")
    assert out.status == "COMPLETED", out.error
    # The fake model called the first tool once, with the required argument filled in.
    assert len(calls) == 1 and calls[0][1] == 1
    assert "get_weather" in out.content and "sunny" in out.content
    sent = fake_openai.requests[0]["tools"]
    weather = next(t["function"] for t in sent if t["function"]["name"] == "get_weather")
    assert weather["description"] == "Get the weather forecast."
    props = weather["parameters"]["properties"]
    assert props["city"] == {"type": "string", "description": "The city to look up."}
    assert (
        props["days"]["type"] == "integer"
        and props["days"]["description"] == "How many days ahead."
    )
    assert weather["parameters"]["required"] == ["city"]
    assert any(t["function"]["name"] == "get_time" for t in sent)
    assert [t.tool_name for t in out.tools] == ["get_weather"]


def test_a_raising_tool_is_reported_to_the_model(sqlite_db, fake_openai) -> None:
    def lookup(query: str) -> str:
        """Look something up."""
        raise KeyError("no such entry")

    agent = Agent(name="Looker", model=OpenAIChat(id="m"), tools=[lookup], db=sqlite_db)
    out = agent.run("find it")
    assert out.status == "COMPLETED"
    assert "KeyError" in out.content  # the tool's error went back to the model as its result


@pytest.mark.parametrize("mode", ["coordinate", "route", "collaborate"])
def test_team_modes(any_db, fake_openai, mode) -> None:
    a = Agent(name="Researcher", model=OpenAIChat(id="member"), role="Research")
    b = Agent(name="Critic", model=OpenAIChat(id="member"), role="Criticise")
    team = Team(
        name="Research Team", members=[a, b], model=OpenAIChat(id="leader"), mode=mode, db=any_db
    )
    out = team.run("Research tech topics")
    assert out.status == "COMPLETED", out.error
    assert out.team_id == "research-team" and out.mode == mode
    events = list(team.run("again", stream=True))
    member_runs = {e.run_id for e in events if e.event == "RunCompleted"}
    assert member_runs, "the members ran as child runs, their events in the team's stream"
    assert events[-1].event == "TeamRunCompleted"


def test_a_team_without_a_model_uses_the_documented_default(sqlite_db, fake_openai) -> None:
    member = Agent(name="Member", model=OpenAIChat(id="member"))
    team = Team(name="Default Team", members=[member], db=sqlite_db)
    out = team.run("hello")
    assert out.status == "COMPLETED", out.error
    assert out.model == "gpt-4o"
    assert any(r.get("model") == "gpt-4o" for r in fake_openai.requests)


def test_a_missing_api_key_fails_the_run_naming_the_variable(sqlite_db, monkeypatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    agent = Agent(name="Keyless", model=Claude(id="claude-test"), db=sqlite_db)  # no error here
    out = agent.run("hi")
    assert out.status == "ERROR"
    assert "ANTHROPIC_API_KEY" in out.error
