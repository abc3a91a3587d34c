"""Reference 003 (Agno's "Background Workflow Execution" example): the program itself,
examples/python/background_workflow.py (the reference text with `agno` replaced by `kern` in
its imports, nothing else changed), run as a child process in a fresh working directory, its
models pointed at a local fake OpenAI server. Then its SQLite file, tmp/workflow.db in that
directory, is read back by this process: the run is there, completed, with both steps."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT, python_env

from kern import _runtime
from kern.db.sqlite import SqliteDb
from kern.run.base import RunStatus
from kern.run.workflow import WorkflowRunOutput

PROGRAM = ROOT / "examples" / "python" / "background_workflow.py"


def test_the_reference_program_runs_to_completion_and_leaves_its_run_in_sqlite(
    tmp_path, fake_openai
) -> None:
    # The program polls every 5 seconds (its own interval, unchanged): about 5 s here.
    child = subprocess.run(
        [sys.executable, str(PROGRAM)],
        cwd=tmp_path,
        env=python_env(OPENAI_BASE_URL=fake_openai.base_url, OPENAI_API_KEY="fake", NO_COLOR="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = child.stdout
    assert child.returncode == 0, f"stdout:\n{out}\nstderr:\n{child.stderr}"

    # What the program printed: the pending start, its polls, the final panel.
    assert "Starting Async Background Workflow Test" in out
    assert "Initial Response: PENDING - None" in out
    run_id = re.search(r"^Run ID: (\S+)$", out, re.MULTILINE).group(1)
    assert "Poll #1 (every 5s)" in out
    assert "Timeout after" not in out
    final = out.split("Final Result:", 1)[1]
    assert "Workflow · Content Creation Workflow" in final
    assert "✓ COMPLETED" in final
    assert run_id in final
    assert "Step 1/2 · Research Step" in final
    assert "Step 2/2 · Content Planning Step" in final
    assert "[gpt-5.2]" in final  # the content planner's answer, from the fake model

    # The models were asked: the team leader (Agno's default team model, Chat Completions),
    # the Hackernews member and the content planner (Responses API, gpt-5.2).
    calls = {(r.path, r.body.get("model")) for r in fake_openai.recorded}
    assert ("/v1/chat/completions", "gpt-4o") in calls
    assert ("/v1/responses", "gpt-5.2") in calls
    planner = [
        r.body
        for r in fake_openai.recorded
        if r.path == "/v1/responses"
        and "Plan a content schedule over 4 weeks"
        in str(r.body.get("instructions")) + str(r.body.get("input"))
    ]
    assert planner, "the content planner's request carries its instructions"

    # The run, read back from the program's database file by this process. The engine is
    # opened with no component registered, so it only reads (it claims nothing).
    db_file = tmp_path / "tmp" / "workflow.db"
    assert db_file.exists()
    url = SqliteDb(db_file=str(db_file)).url
    try:
        engine = _runtime.engine(url)
        record = engine.get_run_sync(run_id)
        assert record is not None
        result = WorkflowRunOutput(record, "Content Creation Workflow")
        assert result.status == RunStatus.completed and result.has_completed(), result.error
        assert result.workflow_id == "content-creation-workflow"
        assert result.input == "AI trends in 2024"
        assert result.background is True
        assert [s.step_name for s in result.step_results] == [
            "Research Step",
            "Content Planning Step",
        ]
        research, planning = result.step_results
        assert research.success and planning.success
        # The team's answer went through its leader's delegation to a member.
        assert research.content.startswith("[gpt-4o] AI trends in 2024")
        assert "delegate_task_to_member" in research.content
        # The planner received the research as its input, and its answer is the run's.
        assert planning.content.startswith("[gpt-5.2] [gpt-4o] AI trends in 2024")
        assert result.content == planning.content
        assert result.finished_at is not None and result.finished_at >= result.created_at
    finally:
        _runtime.close_engine(url)
