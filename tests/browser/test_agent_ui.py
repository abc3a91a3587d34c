"""Agno's Agent UI (its Next.js app, unchanged) in headless Chromium against `kern serve`: it
connects, lists agents and teams, streams an agent's answer to the end (the rendered answer is
the run's content, whole), reopens a session from its sidebar, and chats with a team.

The Agent UI is vendored unchanged in `tests/browser/vendor/agent-ui` (see its VENDORED.md);
`scripts/agent-ui` builds it and prints the build's directory, which `KERN_AGENT_UI_DIR` names
(`scripts/test` does both). This module starts it with `next start` on a free port, and skips
without `KERN_AGENT_UI_DIR` (fails instead with `KERN_REQUIRE_AGENT_UI=1`, as CI runs it).
kern serve runs agents from a config on the fake OpenAI server of `python/kern/testing`, and
allows the UI's origin (CORS: `--cors-origin http://localhost:<port>`, as AgentOS allows
Agno's `http://localhost:3000` by default).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlparse

import pytest
from conftest import Server, agents_config, load_fake_openai
from playwright.sync_api import Browser, Page, expect

UI_DIR = os.environ.get("KERN_AGENT_UI_DIR", "")
# Long enough to be streamed in many deltas while the UI re-reads its sessions.
ANSWER = (
    "Kern keeps every run durable and resumable. Each token of this answer is streamed as a "
    "RunContent event, stored before anyone sees it, and the answer shown at the end is the "
    "whole text, from its first word to its very last word."
)


@pytest.fixture(scope="module")
def ui_dir() -> Path:
    if not UI_DIR:
        if os.environ.get("KERN_REQUIRE_AGENT_UI") == "1":
            pytest.fail("KERN_REQUIRE_AGENT_UI=1 but KERN_AGENT_UI_DIR is unset")
        pytest.skip("KERN_AGENT_UI_DIR is unset: no Agent UI build to test against")
    path = Path(UI_DIR).resolve()
    assert (path / ".next" / "BUILD_ID").exists(), f"{path} has no production build (next build)"
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    """Waits until `url` answers (the process must stay alive meanwhile)."""
    deadline = time.monotonic() + seconds
    while True:
        assert proc.poll() is None, f"the process serving {url} exited ({proc.returncode})"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)  # polling a port that is not open yet: no event to wait on


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[Any]:
    with load_fake_openai().FakeOpenAI(token_delay=0.03, reply=ANSWER) as fake:
        yield fake


@pytest.fixture(scope="module")
def agent_ui(ui_dir: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        ["node", "node_modules/next/dist/bin/next", "start", "-p", str(port), "-H", "127.0.0.1"],
        cwd=ui_dir,
        env={**os.environ, "NEXT_TELEMETRY_DISABLED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc)
        yield f"http://localhost:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def kern(
    tmp_path_factory: pytest.TempPathFactory, fake_openai: Any, agent_ui: str
) -> Iterator[Server]:
    d = tmp_path_factory.mktemp("agent-ui")
    config = agents_config(d / "kern.toml", fake_openai.base_url)
    s = Server(
        str(d / "kern.db"),
        extra=("--config", str(config), "--cors-origin", agent_ui),
        key=None,
        log="info",  # the request log shows what the UI asked while it streamed
    )
    yield s
    s.stop()


class SessionLists:
    """The UI's session listings (`GET /sessions?type=…`) of one page: how many are in flight,
    and how many of each type have been answered.

    The UI adds a new chat's session to its sidebar when the run starts, and replaces the whole
    sidebar with each listing it receives. A foreground run's session is listed once the run
    ends, so a listing answered after a run started drops that run's entry until the next
    listing. A person does not type before the sidebar has loaded; `chat` waits for it too.
    """

    def __init__(self, page: Page) -> None:
        self.in_flight = 0
        self.answered: dict[str, int] = {}
        page.on("request", self._sent)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    @staticmethod
    def _kind(request: Any) -> str | None:
        url = urlparse(request.url)
        if request.method != "GET" or url.path != "/sessions":
            return None
        return parse_qs(url.query).get("type", [""])[0]

    def _sent(self, request: Any) -> None:
        if self._kind(request) is not None:
            self.in_flight += 1

    def _ended(self, request: Any) -> None:
        kind = self._kind(request)
        if kind is not None:
            self.in_flight -= 1
            self.answered[kind] = self.answered.get(kind, 0) + 1

    def settle(self, page: Page, kind: str) -> None:
        """Waits until a listing of `kind` has been answered and none is in flight."""
        deadline = time.monotonic() + 30
        while self.in_flight or not self.answered.get(kind):
            assert time.monotonic() < deadline, (
                f"the UI's {kind} sessions did not load: {self.answered}, {self.in_flight} in flight"
            )
            page.wait_for_timeout(20)  # lets Playwright dispatch the page's request events


LISTS: weakref.WeakKeyDictionary[Page, SessionLists] = weakref.WeakKeyDictionary()


@pytest.fixture
def ui(browser: Browser, agent_ui: str, kern: Server) -> Iterator[Page]:
    """Agent UI connected to kern serve: its endpoint typed into its sidebar, as a person does."""
    context = browser.new_context(base_url=agent_ui, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    LISTS[page] = SessionLists(page)
    page.goto("/")
    page.get_by_text("localhost:7777", exact=False).first.click()
    endpoint = page.locator("aside input[type='text']")
    endpoint.fill(kern.url)
    endpoint.press("Enter")
    yield page
    context.close()


def settled_session_runs(kern: Server, kind: str) -> list[dict]:
    """The top-level runs of the newest session of that kind, once none is in flight (a
    session's listing leaves out foreground runs until they end; 404 while it has no other)."""
    deadline = time.monotonic() + 30
    while True:
        sessions = kern.request("GET", f"/sessions?type={kind}&sort_by=created_at")["data"]
        try:
            runs = kern.request("GET", f"/sessions/{sessions[0]['session_id']}/runs")
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
            runs = []
        if runs and all(r["status"] not in ("PENDING", "RUNNING") for r in runs):
            return runs
        assert time.monotonic() < deadline, f"the {kind} session's runs did not settle: {runs}"
        time.sleep(0.05)  # polling the server's state: no event to wait on


def chat(page: Page, message: str, kind: str = "agent") -> None:
    """Sends `message` once the sidebar holds the server's `kind` sessions (see SessionLists)."""
    box = page.get_by_placeholder("Ask anything")
    expect(box).to_be_enabled()
    LISTS[page].settle(page, kind)
    box.fill(message)
    box.press("Enter")


def last_answer(page: Page) -> Any:
    """The newest agent message's rendered text (Agent UI's AgentMessage markup)."""
    return page.locator("div.flex-row.font-geist div.w-full.flex-col").last


def test_connects_lists_and_streams_an_agent_answer_whole(ui: Page, kern: Server) -> None:
    # Connected: the agents are listed (the first is selected), the model shown.
    expect(ui.locator("aside")).to_contain_text("Assistant")
    ui.locator("aside button[role='combobox']").nth(1).click()
    expect(ui.get_by_role("option", name="Writer")).to_be_visible()
    ui.keyboard.press("Escape")
    chat(ui, "Tell me about durable runs")
    answer = last_answer(ui)
    # Streamed: a part of the answer is shown before the whole of it.
    expect(answer).to_contain_text("Kern keeps")
    expect(answer).to_have_text(ANSWER)
    # Whole to the end: the session listing the UI re-read mid-stream did not erase it, and
    # the rendered text is the run's content.
    runs = settled_session_runs(kern, "agent")
    assert [r["status"] for r in runs] == ["COMPLETED"]
    assert runs[0]["content"] == ANSWER
    expect(answer).to_have_text(runs[0]["content"])
    assert f"session={runs[0]['session_id']}" in ui.url
    # The UI did re-read the session while the run streamed (it was not listed yet: 404) and
    # kept its streamed answer.
    reread = f"method=GET path=/sessions/{runs[0]['session_id']}/runs status=404"
    assert any(reread in line for line in kern.lines), "".join(kern.lines[-40:])


def test_reopens_a_session_from_the_sidebar(ui: Page, kern: Server) -> None:
    chat(ui, "Come back later")  # short: the sidebar shows 20 characters of a session's name
    expect(last_answer(ui)).to_have_text(ANSWER)
    ui.get_by_text("New Chat").click()
    expect(ui.locator("main").get_by_text("Come back later")).to_have_count(0)
    ui.locator("aside").get_by_text("Come back later").click()
    expect(ui.locator("main").get_by_text("Come back later")).to_be_visible()
    expect(last_answer(ui)).to_have_text(ANSWER)
    assert "session=" in ui.url


def test_team_chat(ui: Page, kern: Server) -> None:
    ui.locator("aside button[role='combobox']").first.click()
    ui.get_by_role("option", name="Team").click()
    expect(ui.locator("aside")).to_contain_text("Research team")
    chat(ui, "Research durable execution", "team")
    expect(last_answer(ui)).to_have_text(ANSWER)
    runs = settled_session_runs(kern, "team")
    assert [r["status"] for r in runs] == ["COMPLETED"]
    assert runs[0]["content"] == ANSWER
    expect(last_answer(ui)).to_have_text(runs[0]["content"])
    assert "team=research" in ui.url
