"""The reference's polling program as a benchmark, for `kern` and for `agno` (only the imports
differ): a 3-step workflow of async Python function steps on SQLite; N runs started with
`await workflow.arun(..., background=True)` (each start timed), then polled with
`workflow.get_run(run_id)` until every one `has_completed()`.

    python bench/python_polling.py --impl kern -n 1000 [--steps 3] [--poll 0.005] [--json]

Reports runs/s (completed runs over the wall time from the first start to the last
completion), start latency p50/p99/max, the process's peak RSS, and whether every run
completed. bench/python_compare.sh runs it for both packages, side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import resource
import sys
import tempfile
import time


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(-(-p / 100 * len(sorted_values) // 1))))
    return sorted_values[rank - 1]


def rss_mb() -> float:
    """Peak resident set size of this process, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(impl: str, steps: int, db_file: str, sync: bool = False):
    workflow_mod = importlib.import_module(f"{impl}.workflow")
    types_mod = importlib.import_module(f"{impl}.workflow.types")
    sqlite_mod = importlib.import_module(f"{impl}.db.sqlite")
    Workflow, Step = workflow_mod.Workflow, workflow_mod.Step
    StepInput, StepOutput = types_mod.StepInput, types_mod.StepOutput  # noqa: F841
    SqliteDb = sqlite_mod.SqliteDb

    def make_step(i: int):
        def sync_step(step_input):
            previous = step_input.previous_step_content or step_input.input
            return StepOutput(content=f"{previous}|{i}")

        async def async_step(step_input):
            return sync_step(step_input)

        step = sync_step if sync else async_step

        step.__name__ = f"step_{i}"
        return Step(name=f"step {i}", executor=step)

    return Workflow(
        name="Bench Pipeline",
        db=SqliteDb(db_file=db_file),
        steps=[make_step(i) for i in range(steps)],
    )


async def bench(impl: str, n: int, steps: int, poll: float, sync: bool = False) -> dict:
    tmp = tempfile.mkdtemp(prefix=f"bench-{impl}-")
    workflow = build(impl, steps, os.path.join(tmp, "bench.db"), sync)
    starts = []
    run_ids = []
    t0 = time.perf_counter()
    for i in range(n):
        s = time.perf_counter()
        response = await workflow.arun(input=f"job {i}", background=True)
        starts.append((time.perf_counter() - s) * 1000)
        run_ids.append(response.run_id)
    started_all = time.perf_counter()
    pending = set(run_ids)
    completed = failed = 0
    step_ms = []
    while pending:
        for run_id in list(pending):
            result = workflow.get_run(run_id)
            if result is not None and result.has_completed():
                pending.discard(run_id)
                status = str(getattr(result.status, "value", result.status)).upper()
                if status == "COMPLETED":
                    completed += 1
                    step_ms.extend(step_durations(result))
                else:
                    failed += 1
        if pending:
            await asyncio.sleep(poll)
    wall = time.perf_counter() - t0
    starts.sort()
    step_ms.sort()
    return {
        "impl": impl,
        "runs": n,
        "steps": steps,
        "sync": sync,
        "completed": completed,
        "failed": failed,
        "wall_secs": round(wall, 3),
        "runs_per_sec": round(completed / wall, 1),
        "start_phase_secs": round(started_all - t0, 3),
        "start_ms": {
            "p50": round(percentile(starts, 50), 3),
            "p99": round(percentile(starts, 99), 3),
            "max": round(starts[-1], 3),
        },
        "peak_rss_mb": round(rss_mb(), 1),
        # How long each step took as the engine measured it around the step function: for
        # these no-op steps, the cost of calling Python code from the engine.
        "step_ms": {
            "p50": round(percentile(step_ms, 50), 3),
            "p99": round(percentile(step_ms, 99), 3),
        },
    }


def step_durations(result):
    out = []
    for step in getattr(result, "step_results", None) or []:
        metrics = getattr(step, "metrics", None) or {}
        duration = (
            metrics.get("duration")
            if isinstance(metrics, dict)
            else getattr(metrics, "duration", None)
        )
        if isinstance(duration, (int, float)):
            out.append(duration * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--impl", choices=["kern", "agno"], default="kern")
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--poll", type=float, default=0.005, help="seconds between polling rounds")
    ap.add_argument("--sync", action="store_true", help="plain `def` steps instead of `async def`")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    report = asyncio.run(bench(args.impl, args.n, args.steps, args.poll, args.sync))
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"[{report['impl']}] {report['completed']}/{report['runs']} runs of {report['steps']} {'sync' if report.get('sync') else 'async'} Python steps "
            f"in {report['wall_secs']} s: {report['runs_per_sec']} runs/s; start p50 {report['start_ms']['p50']} ms, "
            f"p99 {report['start_ms']['p99']} ms, max {report['start_ms']['max']} ms; peak RSS {report['peak_rss_mb']} MB; "
            f"step p50 {report['step_ms']['p50']} ms p99 {report['step_ms']['p99']} ms"
        )
    sys.stdout.flush()
    os._exit(0)  # agno leaves threads behind; kern hands nothing back (all runs completed)


if __name__ == "__main__":
    main()
