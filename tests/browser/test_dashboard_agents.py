"""The dashboard with agents and teams (a config on the fake OpenAI server of
`python/kern/testing`): an agent's answer streams into the run's page token by token, and a
team run's timeline shows its member runs."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from conftest import Server, agents_config, load_fake_openai
from playwright.sync_api import Page, expect

ANSWER = "A **durable** answer, streamed word by word:\n\n- first point\n- second point"


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[Any]:
    with load_fake_openai().FakeOpenAI(token_delay=0.02, reply=ANSWER) as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_openai: Any) -> Iterator[Server]:
    d = tmp_path_factory.mktemp("agents")
    config = agents_config(d / "kern.toml", fake_openai.base_url)
    s = Server(str(d / "kern.db"), extra=("--config", str(config)))
    yield s
    s.stop()


def start(server: Server, kind: str, component: str, message: str) -> dict:
    return server.request(
        "POST", f"/{kind}/{component}/runs", message=message, background="true", stream="false"
    )


def test_an_agents_answer_streams_and_renders_as_markdown(page: Page, server: Server) -> None:
    run = start(server, "agents", "assistant", "Say something durable")
    page.goto(f"/ui#/run/agents/assistant/{run['run_id']}")
    expect(page.locator("#run-status")).to_have_text("COMPLETED")
    # The stream is the joined RunContent deltas: the answer's source text, whole.
    expect(page.locator("#stream")).to_have_text(ANSWER)
    out = page.locator("#run-output")
    expect(out.locator("strong")).to_have_text("durable")
    expect(out.locator("li")).to_have_count(2)
    done = server.request("GET", f"/agents/assistant/runs/{run['run_id']}")
    assert done["content"] == ANSWER


def test_a_team_runs_timeline_shows_its_member_runs(page: Page, server: Server) -> None:
    run = start(server, "teams", "research", "Research durable execution")
    page.goto(f"/ui#/run/teams/research/{run['run_id']}")
    expect(page.locator("#run-status")).to_have_text("COMPLETED")
    member = page.locator("#timeline li.member")
    expect(member.first).to_be_visible()
    names = member.evaluate_all("ls => ls.map(l => l.dataset.name)")
    assert set(names) <= {"Assistant", "Writer"} and names, names
    expect(member.first).not_to_contain_text("running")
    # The team's own answer, not its members', is the stream.
    expect(page.locator("#stream")).to_have_text(ANSWER)
