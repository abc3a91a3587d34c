"""Backpressure from Python: with ``KERN_MAX_PENDING`` set, a background start beyond the
queue's bound raises ``QueueFullError`` (with ``retry_after``, ``scope``, ``pending`` and
``limit``) and starts nothing; foreground runs are not refused; the bound frees up as runs
are taken."""

from __future__ import annotations

import threading

import pytest
from conftest import run, wait_sync

from kern import _runtime
from kern.db.sqlite import SqliteDb
from kern.exceptions import KernError, QueueFullError
from kern.run.base import RunStatus
from kern.workflow import Step, StepInput, Workflow


def test_a_full_queue_refuses_background_starts(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KERN_MAX_PENDING", "1")
    monkeypatch.setenv("KERN_MAX_CONCURRENT_RUNS", "1")
    gate = threading.Event()
    started = []

    def work(si: StepInput) -> str:
        started.append(si.input)
        gate.wait(30)
        return "done " + si.input

    db = SqliteDb(db_file=str(tmp_path / "bp.db"))
    wf = Workflow(name="Busy", db=db, steps=[Step(name="work", executor=work)])

    async def main():
        first = await wf.arun("one", background=True)
        wait_sync("the first run to start", lambda: started == ["one"])
        second = await wf.arun("two", background=True)  # waits: the executor is busy
        with pytest.raises(QueueFullError) as refused:
            await wf.arun("three", background=True)
        err = refused.value
        assert isinstance(err, KernError)
        assert err.scope == "server" and err.pending == 1 and err.limit == 1
        assert 1 <= err.retry_after <= 60 and "queue is full" in str(err).lower()
        assert len(wf.get_runs(limit=10)) == 2, "nothing was started"
        gate.set()
        for r in (first, second):
            done = wait_sync(
                f"run {r.run_id}",
                lambda r=r: (x := wf.get_run(r.run_id)) is not None and x.has_completed() and x,
            )
            assert done.status == RunStatus.completed, done.error
        # The queue drained: background starts are taken again, and foreground runs never
        # waited on the bound.
        again = await wf.arun("four", background=True)
        assert again.status == RunStatus.pending
        assert (await wf.arun("five")).content == "done five"

    try:
        run(main())
    finally:
        gate.set()
        _runtime.close_engine(db.url)


def test_malformed_limits_are_named(monkeypatch) -> None:
    monkeypatch.setenv("KERN_MAX_PENDING", "lots")
    with pytest.raises(ValueError, match="KERN_MAX_PENDING must be a whole number"):
        _runtime._engine_settings()
