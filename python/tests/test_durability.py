"""Durability with Python code: a Python process killed with SIGKILL while background runs of
Python steps are in flight; the same script started again resumes them from their last
completed step (completed steps do not run again, proved by marks on disk), and a script whose
workflow definition changed fails the runs it cannot resume, saying why. Also: a graceful exit
of the interpreter hands runs back instead of failing them."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import python_env, wait_sync

from kern.db.sqlite import SqliteDb
from kern.run.base import RunStatus

SCRIPT = textwrap.dedent(
    """
    import asyncio, os, sys, time
    from pathlib import Path
    from kern.db.sqlite import SqliteDb
    from kern.db.postgres import PostgresDb
    from kern.workflow import Step, StepInput, Workflow

    MARKS = Path(os.environ["MARKS"])
    HANG = os.environ.get("HANG") == "1"
    url = os.environ["DB"]
    db = PostgresDb(db_url=url) if url.startswith("postgres") else SqliteDb(db_file=url)

    def mark(step, run_id):
        with open(MARKS / f"{run_id}.{step}", "a") as f:
            f.write("ran\\n")
            f.flush()
            os.fsync(f.fileno())

    async def one(si: StepInput) -> str:
        mark("one", si.run_id)
        return f"one<{si.input}>"

    def two(si: StepInput) -> str:
        mark("two", si.run_id)
        if HANG:
            # The kill (or the exit) lands here. Short sleeps: the thread keeps re-entering the
            # interpreter, as real work does, also while the interpreter finalizes at exit.
            while True:
                time.sleep(0.005)
        return f"two<{si.previous_step_content}>"

    async def three(si: StepInput) -> str:
        mark("three", si.run_id)
        return f"three<{si.previous_step_content}>"

    steps = [
        Step(name="one", executor=one),
        Step(name="two", executor=two, at_most_once=os.environ.get("AT_MOST_ONCE") == "1"),
        Step(name="three", executor=three),
    ]
    if os.environ.get("CHANGED") == "1":
        steps.insert(1, Step(name="inserted", executor=lambda si: "new"))
    workflow = Workflow(name="Durable Pipeline", db=db, steps=steps)

    async def main():
        if os.environ.get("START"):
            for i in range(int(os.environ["START"])):
                run = await workflow.arun(input=f"job {i}", background=True)
                print("RUN", run.run_id, flush=True)
        # Poll every run of this workflow until none is unfinished (the restarted script's
        # executor resumes the dead process's runs meanwhile).
        while True:
            runs = workflow.get_runs(limit=1000)
            if runs and all(r.has_completed() for r in runs):
                break
            await asyncio.sleep(0.02)
        print("DONE", flush=True)

    asyncio.run(main())
    """
)


def _spawn(tmp: Path, db_url: str, **env: str) -> subprocess.Popen:
    script = tmp / "durable.py"
    script.write_text(SCRIPT)
    return subprocess.Popen(
        [sys.executable, str(script)],
        env=python_env(DB=db_url, MARKS=str(tmp / "marks"), KERN_LOG="warn", **env),
        stdout=subprocess.PIPE,
        text=True,
    )


def _marks(tmp: Path, run_id: str, step: str) -> int:
    p = tmp / "marks" / f"{run_id}.{step}"
    return len(p.read_text().splitlines()) if p.exists() else 0


def _sigkill_mid_step(tmp: Path, db_url: str, changed: bool, **env: str) -> list:
    (tmp / "marks").mkdir()
    child = _spawn(tmp, db_url, START="3", HANG="1", **env)
    ids = []
    try:
        while len(ids) < 3:
            line = child.stdout.readline()
            assert line, "the child died before starting its runs"
            if line.startswith("RUN "):
                ids.append(line.split()[1])
        wait_sync("every run inside step two", lambda: all(_marks(tmp, i, "two") == 1 for i in ids))
    finally:
        child.send_signal(signal.SIGKILL)  # no atexit, no hand-back, no final write
        child.wait()
    second = _spawn(tmp, db_url, CHANGED="1" if changed else "0", **env)
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 0 and "DONE" in out, out
    return ids


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_sigkill_then_the_same_script_resumes_from_the_last_completed_step(
    tmp_path, backend
) -> None:
    if backend == "sqlite":
        url = str(tmp_path / "durable.db")
    else:
        from conftest import pg_schema_url

        url = pg_schema_url()
    ids = _sigkill_mid_step(tmp_path, url, changed=False)
    db = (
        SqliteDb(db_file=url)
        if backend == "sqlite"
        else __import__("kern.db.postgres", fromlist=["PostgresDb"]).PostgresDb(db_url=url)
    )
    from kern.workflow import Step, Workflow

    reader = Workflow(
        name="Durable Pipeline",
        db=db,
        steps=[Step(name=n, executor=lambda si: None) for n in ("one", "two", "three")],
    )
    for run_id in ids:
        out = reader.get_run(run_id)
        assert out.status == RunStatus.completed, out.error
        assert out.content.startswith("three<two<one<job")
        assert out.attempt == 2
        assert _marks(tmp_path, run_id, "one") == 1, "a completed step ran again"
        assert _marks(tmp_path, run_id, "two") == 2, "the interrupted step runs once more"
        assert _marks(tmp_path, run_id, "three") == 1
        events = list(reader.resume_stream(run_id))
        assert [e.event_index for e in events] == list(range(len(events)))
        assert [e.event for e in events].count("RunRestarted") == 1
    from kern import _runtime

    _runtime.close_engine(db.url)


def test_a_changed_definition_fails_the_runs_it_cannot_resume(tmp_path) -> None:
    url = str(tmp_path / "changed.db")
    ids = _sigkill_mid_step(tmp_path, url, changed=True)
    from kern.workflow import Step, Workflow

    reader = Workflow(
        name="Durable Pipeline",
        db=SqliteDb(db_file=url),
        steps=[Step(name="x", executor=lambda si: None)],
    )
    for run_id in ids:
        out = reader.get_run(run_id)
        assert out.status == RunStatus.error
        assert "changed since this run started" in out.error
        assert _marks(tmp_path, run_id, "three") == 0


def test_interpreter_exit_hands_runs_back(tmp_path) -> None:
    """A script that exits while its background runs are executing does not fail them: they
    are handed back, and the next process with the same workflow finishes them."""
    url = str(tmp_path / "exit.db")
    (tmp_path / "marks").mkdir()
    script = tmp_path / "exit.py"
    script.write_text(
        SCRIPT.replace("asyncio.run(main())", "")
        + textwrap.dedent(
            """
            async def start_and_leave():
                run = await workflow.arun(input="leaving", background=True)
                print("RUN", run.run_id, flush=True)
                while not (MARKS / f"{run.run_id}.two").exists():
                    await asyncio.sleep(0.01)
            asyncio.run(start_and_leave())
            """
        )
    )
    env = python_env(DB=url, MARKS=str(tmp_path / "marks"), HANG="1")
    first = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60
    )
    assert first.returncode == 0, first.stderr
    run_id = first.stdout.split()[1]
    # Read through an engine with no component registered: this process must not claim it.
    from kern import _runtime
    from kern.run.workflow import WorkflowRunOutput

    engine = _runtime.engine(SqliteDb(db_file=url).url)
    left = WorkflowRunOutput(engine.get_run_sync(run_id))
    assert left.status == RunStatus.pending, f"{left.status}: {left.error}"
    assert left.attempt == 1 and _marks(tmp_path, run_id, "three") == 0
    second = _spawn(tmp_path, url)
    out, _ = second.communicate(timeout=120)
    assert "DONE" in out
    done = WorkflowRunOutput(engine.get_run_sync(run_id))
    assert done.status == RunStatus.completed and done.content.startswith("three<two<one<leaving")
    assert _marks(tmp_path, run_id, "one") == 1
    _runtime.close_engine(engine.url)


def test_an_at_most_once_step_interrupted_by_a_crash_is_not_run_again(tmp_path) -> None:
    url = str(tmp_path / "amo.db")
    ids = _sigkill_mid_step(tmp_path, url, changed=False, AT_MOST_ONCE="1")
    from kern import _runtime
    from kern.run.workflow import WorkflowRunOutput

    engine = _runtime.engine(SqliteDb(db_file=url).url)
    for run_id in ids:
        out = WorkflowRunOutput(engine.get_run_sync(run_id))
        assert out.status == RunStatus.error
        assert "at-most-once" in out.error and "'two'" in out.error
        assert _marks(tmp_path, run_id, "two") == 1, "the step ran once, before the crash"
        assert _marks(tmp_path, run_id, "three") == 0
    _runtime.close_engine(engine.url)
