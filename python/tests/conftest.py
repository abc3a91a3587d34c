"""Shared fixtures: a local fake OpenAI server, a fresh database per test (SQLite file, or a
fresh schema on the test PostgreSQL server), and helpers to wait on conditions with deadlines.

PostgreSQL tests use ``KERN_TEST_PG_URL`` (scripts/test starts a server and sets it); without
it they are skipped, unless ``KERN_REQUIRE_PG=1`` (set by scripts/test and CI), which makes a
missing server a failure.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator, Optional

import pytest

from kern import _runtime
from kern.db.postgres import PostgresDb
from kern.db.sqlite import SqliteDb
from kern.testing.fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference"


@pytest.fixture
def fake_openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """A fake OpenAI server; OPENAI_BASE_URL and OPENAI_API_KEY point models at it."""
    with FakeOpenAI(token_delay=0.0) as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "fake")
        yield fake


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[SqliteDb]:
    db = SqliteDb(db_file=str(tmp_path / "kern.db"))
    yield db
    _runtime.close_engine(db.url)


def pg_base_url() -> Optional[str]:
    url = os.environ.get("KERN_TEST_PG_URL")
    if url:
        return url
    if os.environ.get("KERN_REQUIRE_PG") == "1":
        pytest.fail(
            "KERN_REQUIRE_PG=1 but KERN_TEST_PG_URL is unset: start PostgreSQL with scripts/pg start"
        )
    pytest.skip("KERN_TEST_PG_URL is unset (scripts/test runs the PostgreSQL variants)")
    return None


def pg_schema_url() -> str:
    """A URL whose connections use a fresh, empty schema of the test server."""
    base = pg_base_url()
    schema = f"py_{uuid.uuid4().hex}"
    subprocess.run(
        ["psql", base, "-qc", f"CREATE SCHEMA {schema}"], check=True, capture_output=True
    )
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def postgres_db() -> Iterator[PostgresDb]:
    db = PostgresDb(db_url=pg_schema_url())
    yield db
    _runtime.close_engine(db.url)


@pytest.fixture(params=["sqlite", "postgres"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Each test using it runs on both databases."""
    if request.param == "sqlite":
        db: Any = SqliteDb(db_file=str(tmp_path / "kern.db"))
    else:
        db = PostgresDb(db_url=pg_schema_url())
    yield db
    _runtime.close_engine(db.url)


def run(coro: Awaitable[Any]) -> Any:
    """Runs a coroutine on a fresh event loop (the tests need no pytest plugin)."""
    return asyncio.run(coro)  # type: ignore[arg-type]


async def until(
    what: str, check: Callable[[], Any], timeout: float = 30.0, every: float = 0.01
) -> Any:
    """Polls ``check`` until it returns something truthy; fails with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(every)


def wait_sync(
    what: str, check: Callable[[], Any], timeout: float = 30.0, every: float = 0.01
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def python_env(**extra: str) -> dict:
    """The environment for a child Python process that imports this kern."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    env.update(extra)
    return env
