"""The Python reference for `kern bench`: Agno's AgentOS on SQLite serving `bench3`, the same
trivial 3-step function workflow as Kern's demo `bench3` (`kern serve --demo`).

    $(scripts/agno-venv) bench/agno_reference.py --port 7778 --db tmp/agno-bench.db

Used by bench/compare.sh. Only loopback; stops on SIGINT/SIGTERM.
"""

import argparse
import os

os.environ.setdefault("AGNO_TELEMETRY", "false")

import uvicorn  # noqa: E402
from agno.db.sqlite import SqliteDb  # noqa: E402
from agno.os import AgentOS  # noqa: E402
from agno.workflow import Step, Workflow  # noqa: E402
from agno.workflow.types import StepInput, StepOutput  # noqa: E402


def one(step_input: StepInput) -> StepOutput:
    return StepOutput(content=f"one: {step_input.input}")


def two(step_input: StepInput) -> StepOutput:
    return StepOutput(content=f"two: {step_input.previous_step_content}")


def three(step_input: StepInput) -> StepOutput:
    return StepOutput(content=f"three: {step_input.previous_step_content}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7778)
    p.add_argument("--db", default="tmp/agno-bench.db")
    args = p.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(args.db)), exist_ok=True)
    db = SqliteDb(db_file=args.db)
    workflow = Workflow(
        id="bench3",
        name="Bench 3 steps",
        description="Three trivial function steps in a row: the load generator's workload.",
        db=db,
        steps=[
            Step(name="one", executor=one),
            Step(name="two", executor=two),
            Step(name="three", executor=three),
        ],
    )
    agent_os = AgentOS(id="agno-reference", workflows=[workflow], db=db)
    app = agent_os.get_app()
    print(f"agno reference listening on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
