"""What a Python function step costs kern, idle: foreground runs of a one-step workflow, one
at a time, timed by the engine around the step function (``step_results[0].metrics``), for a
plain ``def`` step (run on kern's daemon threads) and an ``async def`` one (run on kern's
loop). The first 50 runs of each are warm-up.

    python bench/python_step_overhead.py [-n RUNS]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile

from kern.db.sqlite import SqliteDb
from kern.workflow import Step, Workflow


def sync_step(step_input) -> str:
    return "x"


async def async_step(step_input) -> str:
    return "x"


def duration_ms(out) -> float:
    metrics = out.step_results[0].metrics
    duration = metrics["duration"] if isinstance(metrics, dict) else metrics.duration
    return duration * 1000


async def main(n: int) -> None:
    folder = tempfile.mkdtemp()
    for name, fn in (("sync", sync_step), ("async", async_step)):
        db = SqliteDb(db_file=os.path.join(folder, f"{name}.db"))
        wf = Workflow(name=f"Idle {name}", db=db, steps=[Step(name="one", executor=fn)])
        times = sorted([duration_ms(await wf.arun("go")) for _ in range(n + 50)][50:])
        p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99)]
        print(f"{name:>5} step: p50 {p50:.3f} ms, p99 {p99:.3f} ms ({n} runs)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=400)
    asyncio.run(main(ap.parse_args().n))
