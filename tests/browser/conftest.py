"""Fixtures of the browser tests: `kern serve --demo` with a security key (a fresh SQLite
database per test module, or a fresh schema of the test PostgreSQL server), Debian's Chromium
driven by Playwright, and a small HTTP client for setting up runs.

The server is the `target/debug/kern` binary that `cargo test --workspace` builds (built here
with `cargo build -p kern-cli` when it is missing; `KERN_BIN` overrides it). Chromium is
`/usr/bin/chromium` (`KERN_CHROMIUM` overrides it); `scripts/browser-deps` installs both it and
Playwright. Nothing waits by sleeping: Playwright's `expect` polls conditions until a deadline.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import re
import signal
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
KEY = "browser-test-key"
CHROMIUM = os.environ.get("KERN_CHROMIUM", "/usr/bin/chromium")
# Generous: CI machines are small, and every wait ends as soon as its condition holds.
expect.set_options(timeout=30_000)


def kern_binary() -> Path:
    path = Path(os.environ.get("KERN_BIN") or ROOT / "target" / "debug" / "kern")
    if not path.exists():
        subprocess.run(["cargo", "build", "-p", "kern-cli"], cwd=ROOT, check=True)
    return path


class Server:
    """A `kern serve` process; its address is the one it prints (it binds port 0)."""

    def __init__(
        self,
        db: str,
        extra: tuple[str, ...] = (),
        key: Optional[str] = KEY,
        log: str = "warn",
    ):
        args = [str(kern_binary()), "--db", db, "serve", "--demo", "--host", "127.0.0.1"]
        args += ["--port", "0", "--shutdown-grace", "1s", *extra]
        if key:
            args += ["--security-key", key]
        self.key = key
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "KERN_LOG": log},
        )
        found: queue.Queue[str] = queue.Queue()

        def read() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.lines.append(line)
                m = re.search(r"listening on (http://\S+)", line)
                if m:
                    found.put(m.group(1))
            found.put("")

        threading.Thread(target=read, daemon=True).start()
        try:
            self.url = found.get(timeout=60)
        except queue.Empty:
            self.url = ""
        if not self.url:
            self.stop()
            raise RuntimeError("kern serve did not start:\n" + "".join(self.lines))

    def request(self, method: str, path: str, **form: Any) -> Any:
        """A JSON request with the key; form fields are sent urlencoded."""
        body = urllib.parse.urlencode(form).encode() if form else None
        req = urllib.request.Request(self.url + path, data=body, method=method)
        req.add_header("Accept", "application/json")
        if self.key:
            req.add_header("Authorization", f"Bearer {self.key}")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def start(self, workflow: str, message: str, **form: Any) -> dict:
        """Starts a background run of a demo workflow; returns the 202 answer."""
        return self.request(
            "POST",
            f"/workflows/{workflow}/runs",
            message=message,
            background="true",
            stream="false",
            **form,
        )

    def run(self, workflow: str, run_id: str) -> dict:
        return self.request("GET", f"/workflows/{workflow}/runs/{run_id}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = tmp_path_factory.mktemp("kern") / "kern.db"
    s = Server(str(db))
    yield s
    s.stop()


def pg_schema_url() -> str:
    """A fresh, empty schema of the test PostgreSQL server (`KERN_TEST_PG_URL`)."""
    base = os.environ.get("KERN_TEST_PG_URL")
    if not base:
        if os.environ.get("KERN_REQUIRE_PG") == "1":
            pytest.fail("KERN_REQUIRE_PG=1 but KERN_TEST_PG_URL is unset (scripts/pg start)")
        pytest.skip("KERN_TEST_PG_URL is unset (scripts/test runs the PostgreSQL variants)")
    schema = f"browser_{uuid.uuid4().hex}"
    subprocess.run(
        ["psql", base, "-qc", f"CREATE SCHEMA {schema}"], check=True, capture_output=True
    )
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="module")
def pg_server() -> Iterator[Server]:
    s = Server(pg_schema_url())
    yield s
    s.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


def open_page(browser: Browser, server: Server, token: Optional[str] = KEY) -> Page:
    """A fresh browser context on the server; with `token`, already entered once."""
    context = browser.new_context(base_url=server.url)
    if token:
        context.add_init_script(f"localStorage.setItem('kern.token', {json.dumps(token)})")
    page = context.new_page()
    return page


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    p = open_page(browser, server)
    yield p
    p.context.close()


def http_status(url: str, headers: Optional[dict] = None) -> tuple[int, dict, bytes]:
    """Status, headers and body of a GET that does not follow redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with opener.open(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def load_fake_openai() -> Any:
    """`python/kern/testing/fake_openai.py` (a standalone module: no extension needed)."""
    path = ROOT / "python" / "kern" / "testing" / "fake_openai.py"
    spec = importlib.util.spec_from_file_location("kern_fake_openai", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def agents_config(path: Path, base_url: str) -> Path:
    """A `kern serve --config` file: agents `assistant` and `writer`, and the team `research`
    of both, on the fake OpenAI server at `base_url`."""
    path.write_text(
        f'model = "openai-compatible:{base_url}#fake-model"\n'
        '[[agents]]\nid = "assistant"\nname = "Assistant"\ninstructions = "Be brief"\n'
        '[[agents]]\nid = "writer"\nname = "Writer"\nrole = "Writes"\n'
        '[[teams]]\nid = "research"\nname = "Research team"\n'
        'members = ["assistant", "writer"]\nmode = "coordinate"\n'
    )
    return path
