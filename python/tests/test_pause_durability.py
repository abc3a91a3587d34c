"""A paused run survives everything a server goes through: an AgentOS program serving a workflow
whose second step waits for a person is stopped with SIGTERM and killed with SIGKILL while the
run waits (it stays paused, holding nothing), continued over HTTP by a client of the restarted
program, killed again in the middle of the continued step, and started once more: the run
resumes from its checkpoint (the approved step runs again, the draft does not) and completes.
Its event log tells the whole story: paused, continued, restarted, completed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from conftest import python_env, wait_sync

from kern.run.events import Transcript, event_from_json

SCRIPT = textwrap.dedent(
    """
    import os, time
    from pathlib import Path
    from kern.db.postgres import PostgresDb
    from kern.db.sqlite import SqliteDb
    from kern.os import AgentOS
    from kern.workflow import Step, Workflow

    MARKS = Path(os.environ["MARKS"])
    url = os.environ["DB"]
    db = PostgresDb(db_url=url) if url.startswith("postgres") else SqliteDb(db_file=url)

    def mark(name):
        with open(MARKS / name, "a") as f:
            f.write("ran\\n")
            f.flush()
            os.fsync(f.fileno())

    def draft(si):
        mark("draft")
        return "draft of " + si.input

    def publish(si):
        mark("publish")
        while not (MARKS / "release").exists():  # the kill lands here
            time.sleep(0.01)
        return "published " + si.previous_step_content

    wf = Workflow(name="Review", db=db, steps=[
        Step(name="draft", executor=draft),
        Step(name="publish", executor=publish, requires_confirmation=True,
             confirmation_message="Publish it?"),
    ])
    # On SIGTERM, running runs get a second to finish before they are handed back.
    agent_os = AgentOS(workflows=[wf], shutdown_grace=1.0)
    app = agent_os.get_app()

    if __name__ == "__main__":
        agent_os.serve(app="app:app", host="127.0.0.1", port=0)
    """
)


class Server:
    """The AgentOS program as a child process, started again and again on one database."""

    def __init__(self, tmp: Path, db_url: str) -> None:
        self.script = tmp / "app.py"
        self.script.write_text(SCRIPT)
        self.marks = tmp / "marks"
        self.marks.mkdir()
        self.db_url = db_url
        self.starts = 0
        # A short lease: a killed server's runs are taken over within a second.
        self.env = python_env(MARKS=str(self.marks), DB=db_url, KERN_LEASE_SECONDS="1")
        self.child: subprocess.Popen | None = None
        self.base = ""

    def start(self) -> str:
        self.starts += 1
        log = open(self.marks.parent / f"server-{self.starts}.log", "w")
        self.child = subprocess.Popen(
            [sys.executable, str(self.script)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        log.close()
        line = self.child.stdout.readline()
        assert "serving on http://127.0.0.1:" in line, line
        self.base = line.split()[-1]
        return self.base

    def stop(self, sig: int) -> int:
        assert self.child is not None
        self.child.send_signal(sig)
        code = self.child.wait(timeout=30)
        self.child.stdout.close()
        self.child = None
        return code

    def close(self) -> None:
        if self.child is not None:
            self.child.kill()
            self.child.wait()

    def run(self, run_id: str) -> dict:
        r = httpx.get(f"{self.base}/workflows/review/runs/{run_id}", timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def status_in_db(self, run_id: str) -> str:
        """The run's status read from the database directly (no server is up)."""
        from kern import _kern

        engine = _kern.Engine.open(self.db_url, {"executor": False})
        try:
            return engine.get_run_sync(run_id)["status"]
        finally:
            engine.shutdown(0)

    def status(self, run_id: str) -> str:
        return str(self.run(run_id)["status"]).upper()

    def marks_of(self, name: str) -> int:
        path = self.marks / name
        return len(path.read_text().splitlines()) if path.exists() else 0

    def events(self, run_id: str) -> list:
        """Every event of a finished run, replayed over /resume from the start."""
        r = httpx.post(f"{self.base}/workflows/review/runs/{run_id}/resume", data={}, timeout=10)
        assert r.status_code == 200, r.text
        return [
            json.loads(line[len("data: ") :])
            for line in r.text.splitlines()
            if line.startswith("data: ")
        ]


def db_url_of(db) -> str:
    return db.url


def test_a_paused_run_survives_stops_kills_and_a_crash_mid_continuation(any_db, tmp_path) -> None:
    server = Server(tmp_path, db_url_of(any_db))
    try:
        base = server.start()
        r = httpx.post(
            f"{base}/workflows/review/runs",
            data={"message": "the launch post", "stream": "false", "background": "true"},
            timeout=10,
        )
        assert r.status_code in (200, 202), r.text
        run_id = r.json()["run_id"]
        wait_sync("the run to pause", lambda: server.status(run_id) == "PAUSED")
        assert server.marks_of("draft") == 1 and server.marks_of("publish") == 0

        # A graceful stop leaves a paused run paused: it was holding nothing.
        assert server.stop(signal.SIGTERM) == 0
        server.start()
        assert server.status(run_id) == "PAUSED"

        # So does a crash, and the restarted server does not run the step on its own.
        server.stop(signal.SIGKILL)
        server.start()
        assert server.status(run_id) == "PAUSED"
        paused = server.run(run_id)
        [req] = paused["step_requirements"]
        assert req["step_name"] == "publish" and req["confirmation_message"] == "Publish it?"
        assert server.marks_of("publish") == 0

        # A person approves; the continued step starts, and the server dies in the middle of it.
        r = httpx.post(
            f"{server.base}/workflows/review/runs/{run_id}/continue",
            data={
                "step_requirements": json.dumps([{"step_name": "publish", "confirmed": True}]),
                "stream": "false",
                "background": "true",
            },
            timeout=10,
        )
        assert r.status_code in (200, 202), r.text
        wait_sync("the approved step to start", lambda: server.marks_of("publish") == 1)
        server.stop(signal.SIGKILL)

        # Restarted, the server takes the run back once the dead one's lease runs out, and the
        # approved step runs again (delivery is at least once); the draft does not.
        server.start()
        wait_sync("the step to run again", lambda: server.marks_of("publish") == 2)

        # A graceful stop in the middle of the continued step hands the run back (a stop is
        # not a failure); the next server takes it at once and runs the step again.
        assert server.stop(signal.SIGTERM) == 0
        assert server.status_in_db(run_id) == "pending"
        server.start()
        wait_sync("the step to run a third time", lambda: server.marks_of("publish") == 3)
        (server.marks / "release").touch()
        wait_sync("the run to complete", lambda: server.status(run_id) == "COMPLETED")
        done = server.run(run_id)
        assert done["content"] == "published draft of the launch post", done
        assert server.marks_of("draft") == 1

        events = server.events(run_id)[1:]  # after the replay marker
        kinds = [e["event"] for e in events]
        story = [k for k in kinds if k in {"RunPaused", "RunContinued", "RunRestarted"}]
        assert story[:2] == ["RunPaused", "RunContinued"] and kinds[-1] == "WorkflowCompleted"
        # The hand-back always leaves a started step to void; the crash may not (an event not
        # yet written when the process died was never seen by anyone).
        assert 1 <= story.count("RunRestarted") <= 2, kinds
        # With the voids applied, the log tells one clean story: the step started and
        # completed once after the continuation.
        t = Transcript()
        for e in events:
            t.push(event_from_json(json.dumps(e)))
        kept = [e.event for e in t.events]
        after = kept[kept.index("RunContinued") :]
        assert after.count("StepStarted") == 1 and after.count("StepCompleted") == 1, kept
    finally:
        server.close()


def test_engine_settings_from_the_environment_are_checked(monkeypatch, tmp_path) -> None:
    from kern import _kern, _runtime

    monkeypatch.setenv("KERN_LEASE_SECONDS", "soon")
    with pytest.raises(ValueError, match="KERN_LEASE_SECONDS"):
        _runtime._engine_settings()
    monkeypatch.setenv("KERN_LEASE_SECONDS", "2.5")
    monkeypatch.setenv("KERN_MAX_CONCURRENT_RUNS", "0")
    with pytest.raises(ValueError, match="KERN_MAX_CONCURRENT_RUNS"):
        _runtime._engine_settings()
    monkeypatch.setenv("KERN_MAX_CONCURRENT_RUNS", "8")
    assert _runtime._engine_settings() == {"lease": 2.5, "max_concurrent_runs": 8}
    with pytest.raises(ValueError, match="lease must be at least"):
        _kern.Engine.open(str(tmp_path / "x.db"), {"lease": 0.01})
