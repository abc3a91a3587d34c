"""``kern.utils.pprint``: run outputs, event streams and the markdown renderer, with
stand-in classes (no Kern runtime needed)."""

from __future__ import annotations

import asyncio
import enum
import io
import json
import re
from typing import Any, Dict, List, Optional

import pytest

from kern.utils.pprint import (
    apprint_run_response,
    format_run_output,
    pprint_run_response,
    render_markdown,
    visible_width,
)

ANSI = re.compile(r"\x1b\[[0-9;]*m")


class RunStatus(str, enum.Enum):
    COMPLETED = "COMPLETED"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"
    RUNNING = "RUNNING"


class StepResult:
    def __init__(
        self,
        step_name: str,
        content: Any,
        success: bool = True,
        error: Optional[str] = None,
        duration: float = 0.5,
    ) -> None:
        self.step_name = step_name
        self.step_type = "agent"
        self.content = content
        self.success = success
        self.error = error
        self.metrics = {"duration": duration}


class RunOutput:
    def __init__(self, **fields: Any) -> None:
        self.run_id = "run-123"
        self.session_id = "session-9"
        self.status = RunStatus.COMPLETED
        self.content: Any = None
        self.error: Optional[str] = None
        self.created_at = 1_700_000_000
        self.metrics: Optional[Dict[str, Any]] = {
            "duration": 1.25,
            "input_tokens": 10,
            "output_tokens": 5,
        }
        self.__dict__.update(fields)


class Event:
    def __init__(self, event: str, event_index: int, run_id: str = "run-1", **fields: Any) -> None:
        self.event = event
        self.event_index = event_index
        self.run_id = run_id
        self.__dict__.update(fields)


def render(value: Any, **kwargs: Any) -> str:
    out = io.StringIO()
    kwargs.setdefault("width", 80)
    pprint_run_response(value, file=out, **kwargs)
    return out.getvalue()


MARKDOWN = """# Weekly plan

Some **bold words**, *italic*, _also italic_ and `inline code`.

## Posts

- first **post**
  - nested item
- second post

1. one
2. two

```python
def f(x):
    return x * 2
```

> a quote
"""


# ---- run outputs ---------------------------------------------------------------------


def test_workflow_output_shows_steps_statuses_and_content() -> None:
    output = RunOutput(
        workflow_name="Content Creation Workflow",
        content="The final plan.",
        step_results=[
            StepResult("Research Step", "Three stories found.", duration=1.5),
            StepResult(
                "Planning Step", None, success=False, error="model timed out", duration=0.25
            ),
        ],
    )
    text = render(output)
    assert "Workflow · Content Creation Workflow" in text
    assert "✓ COMPLETED" in text and "run-123" in text and "1.25s" in text
    assert "✓ Step 1/2 · Research Step" in text and "1.50s" in text
    assert "Three stories found." in text
    assert "✗ Step 2/2 · Planning Step" in text and "model timed out" in text
    assert "The final plan." in text
    # Steps come before the final content.
    assert text.index("Research Step") < text.index("Planning Step") < text.index("The final plan.")


def test_agent_and_team_names() -> None:
    assert "Agent · Writer" in render(RunOutput(agent_name="Writer", content="hi"))
    assert "Team · Research Team" in render(RunOutput(team_name="Research Team", content="hi"))
    # No name at all still renders.
    assert "COMPLETED" in render(RunOutput(content="hi"))


def test_markdown_rendered_without_markers() -> None:
    text = render(RunOutput(agent_name="A", content=MARKDOWN), markdown=True)
    for marker in (
        "# Weekly",
        "## Posts",
        "**",
        "`inline",
        "```",
        "_also",
        "*italic*",
        "> a quote",
    ):
        assert marker not in text, marker
    assert "Weekly plan" in text and "─────" in text  # underlined heading
    assert "bold words" in text and "inline code" in text and "also italic" in text
    assert "• first post" in text and "◦ nested item" in text
    assert "1. one" in text and "2. two" in text
    assert "def f(x):" in text and "    return x * 2" in text  # code kept verbatim
    assert "│ a quote" in text


def test_markdown_left_as_is_without_markdown() -> None:
    text = render(RunOutput(agent_name="A", content=MARKDOWN), markdown=False)
    assert "# Weekly plan" in text and "**bold words**" in text and "`inline code`" in text
    assert "```python" in text and "- first **post**" in text


def test_error_output_shows_the_error() -> None:
    text = render(
        RunOutput(agent_name="A", status=RunStatus.ERROR, error="rate limited by the provider")
    )
    assert "✗ ERROR" in text
    assert "Error" in text and "rate limited by the provider" in text
    # An error status without a message still gets an error panel.
    assert "(no error message)" in render(RunOutput(status=RunStatus.ERROR))


def test_json_content_is_pretty_printed() -> None:
    content = {"title": "Plan", "posts": [{"day": "Mon", "count": 3}]}
    text = render(RunOutput(content=content))
    assert '"title": "Plan",' in text
    assert "    {" in text and '"count": 3' in text
    inner = [line[2:-2].rstrip() for line in text.splitlines() if line.startswith("│ ")]
    start = inner.index("{")
    assert (
        json.loads(
            "\n".join(inner[start : start + len(json.dumps(content, indent=2).splitlines())])
        )
        == content
    )


def test_show_time_adds_the_elapsed_line() -> None:
    output = RunOutput(content="x")
    assert "Elapsed" not in render(output)
    text = render(output, show_time=True)
    assert "Elapsed   1.25s" in text and "Started" in text


def test_dict_outputs_are_accepted() -> None:
    text = render(
        {"run_id": "r-7", "status": "COMPLETED", "content": "from a dict", "agent_name": "D"}
    )
    assert "Agent · D" in text and "r-7" in text and "from a dict" in text


# ---- colour and width ----------------------------------------------------------------


def test_no_ansi_when_not_a_tty() -> None:
    out = io.StringIO()  # isatty() is False
    pprint_run_response(
        RunOutput(content=MARKDOWN, status=RunStatus.ERROR, error="x"), markdown=True, file=out
    )
    assert "\x1b[" not in out.getvalue()


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_ansi_on_a_tty_unless_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = FakeTty()
    pprint_run_response(RunOutput(content=MARKDOWN), markdown=True, file=out, width=80)
    assert "\x1b[1m" in out.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    out = FakeTty()
    pprint_run_response(RunOutput(content=MARKDOWN), markdown=True, file=out, width=80)
    assert "\x1b[" not in out.getvalue()


def test_width_is_respected_with_and_without_colour() -> None:
    long_text = (
        " ".join(["word"] * 200)
        + " "
        + "x" * 150
        + "\n\n"
        + MARKDOWN
        + "\n"
        + "`" * 3
        + "\n"
        + "y" * 120
        + "\n```"
    )
    output = RunOutput(
        workflow_name="W" * 120,
        content=long_text,
        step_results=[StepResult("s" * 90, {"k": "v" * 200})],
    )
    for color in (False, True):
        for width in (40, 63, 100):
            out = io.StringIO()
            pprint_run_response(output, markdown=True, file=out, width=width, color=color)
            lines = out.getvalue().splitlines()
            assert lines
            assert all(visible_width(line) == width for line in lines), (width, color)
            assert ("\x1b[" in out.getvalue()) == color


def test_default_width_is_the_terminal_capped_at_100(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    lines = render(RunOutput(content="x" * 500), width=None).splitlines()
    assert {len(line) for line in lines} == {100}
    monkeypatch.setenv("COLUMNS", "50")
    lines = render(RunOutput(content="x" * 500), width=None).splitlines()
    assert {len(line) for line in lines} == {50}


def test_format_run_output_returns_the_text() -> None:
    text = format_run_output(RunOutput(content="hello"), width=40)
    assert "hello" in text and not text.endswith("\n")


# ---- the markdown renderer ------------------------------------------------------------


def test_render_markdown_plain() -> None:
    text = render_markdown(
        "## Title\n\nA **b** *c* `d` [e](http://f)\n\n---\n\n| a | b |\n|---|--:|\n| 1 | 22 |", 30
    )
    lines = text.split("\n")
    assert lines[0] == "Title" and lines[1] == "─────"
    assert "A b c d e (http://f)" in lines
    assert "─" * 30 in lines
    assert "a │  b" in lines and "1 │ 22" in lines


def test_render_markdown_reflows_paragraphs_and_nests_lists() -> None:
    text = render_markdown(
        "one two three four five six seven eight nine ten\neleven\n\n- a\n  - b\n    - c\n- d", 20
    )
    lines = text.split("\n")
    assert all(visible_width(line) <= 20 for line in lines)
    assert (
        " ".join(lines[: lines.index("")])
        == "one two three four five six seven eight nine ten eleven"
    )
    assert lines[-4:] == ["• a", "  ◦ b", "    ▪ c", "• d"]


def test_render_markdown_colour_has_styles() -> None:
    text = render_markdown("# T\n\n**b** and `c`", 40, color=True)
    assert "\x1b[1" in text and "\x1b[36m" in text
    assert "**" not in ANSI.sub("", text)


def test_render_markdown_leaves_lone_stars_alone() -> None:
    assert render_markdown("2 * 3 * 4 = 24", 40) == "2 * 3 * 4 = 24"
    assert render_markdown("snake_case_name stays", 40) == "snake_case_name stays"


# ---- event streams --------------------------------------------------------------------


def agent_events_with_restart() -> List[Event]:
    events = [
        Event("RunStarted", 0),
        Event("RunContent", 1, content="The "),
        Event("RunContent", 2, content="first "),
        Event("RunContent", 3, content="try"),
        Event("RunRestarted", 4, attempt=2, voided=[[1, 3]]),
        Event("RunContent", 5, content="The "),
        Event("RunContent", 6, content="final "),
        Event("RunContent", 7, content="answer."),
        Event(
            "RunCompleted",
            8,
            content="The final answer.",
            agent_name="Writer",
            metrics={"duration": 0.5},
        ),
    ]
    return events


def test_events_stream_joins_deltas() -> None:
    events = [e for e in agent_events_with_restart() if e.event_index >= 5] + []
    events.insert(0, Event("RunStarted", 0))
    text = render(iter(events))
    assert text.startswith("The final answer.\n")
    assert "Agent · Writer · ✓ COMPLETED · 0.50s" in text
    assert "restarted" not in text


def test_events_stream_applies_run_restarted() -> None:
    text = render(iter(agent_events_with_restart()))
    assert "The first try" in text  # printed before the restart
    notice = [line for line in text.splitlines() if "restarted" in line]
    assert len(notice) == 1 and "attempt 2" in notice[0]
    after = text.split(notice[0] + "\n", 1)[1]
    streamed = after.split("\n╭", 1)[0]
    assert streamed.strip() == "The final answer."
    # The final panel shows the final answer too.
    assert "│ The final answer." in after


def test_restart_keeps_what_is_not_voided() -> None:
    events = [
        Event("RunContent", 0, content="Kept "),
        Event("RunContent", 1, content="lost "),
        Event("RunRestarted", 2, voided=[[1, 1]]),
        Event("RunContent", 3, content="again"),
        Event("RunCompleted", 4, content="Kept again"),
    ]
    text = render(events)
    notice = [line for line in text.splitlines() if "restarted" in line][-1]
    assert text.split(notice + "\n", 1)[1].split("\n╭", 1)[0].strip() == "Kept again"


def test_restart_that_voids_no_printed_text_prints_nothing() -> None:
    events = [
        Event("RunStarted", 0),
        Event("ToolCallStarted", 1),
        Event("RunRestarted", 2, voided=[[1, 1]]),
        Event("RunContent", 3, content="done"),
        Event("RunCompleted", 4, content="done"),
    ]
    text = render(events)
    assert "restarted" not in text and text.startswith("done\n")


def test_requeue_replaces_the_old_ending() -> None:
    events = [
        Event("RunStarted", 0),
        Event("RunError", 1, error="upstream timed out", agent_name="Writer"),
        Event("RunRequeued", 2, previous_status="failed", voided=[[1, 1]]),
        Event("RunContent", 3, content="Done now."),
        Event("RunCompleted", 4, content="Done now.", agent_name="Writer"),
    ]
    text = render(events)
    [notice] = [line for line in text.splitlines() if "Requeued" in line]
    assert "it had failed" in notice
    assert "COMPLETED" in text and "ERROR" not in text and "timed out" not in text


def test_a_retried_step_replaces_its_failed_output() -> None:
    events = [
        Event("WorkflowStarted", 0, workflow_name="Writer"),
        Event("RunContent", 1, content="A broken "),
        Event("StepRetried", 2, step_name="write", attempt=1, error="boom", voided=[[1, 1]]),
        Event("RunContent", 3, content="A good answer."),
        Event("RunCompleted", 4, content="A good answer.", agent_name="Writer"),
    ]
    text = render(events)
    [notice] = [line for line in text.splitlines() if "runs again" in line]
    assert "write" in notice and "try 1" in notice
    assert text.split(notice + "\n", 1)[1].split("\n╭", 1)[0].strip() == "A good answer."


def test_transcript_drops_what_a_requeue_voids() -> None:
    from kern.run.events import Transcript, event_from_json

    t = Transcript()
    for payload in (
        {"event": "RunContent", "event_index": 0, "run_id": "r", "content": "a"},
        {"event": "RunCancelled", "event_index": 1, "run_id": "r"},
        {
            "event": "RunRequeued",
            "event_index": 2,
            "run_id": "r",
            "previous_status": "cancelled",
            "voided": [[1, 1]],
        },
        {"event": "RunContent", "event_index": 3, "run_id": "r", "content": "b"},
    ):
        t.push(event_from_json(json.dumps(payload)))
    assert [e.event_index for e in t.events] == [0, 2, 3]
    assert t.content() == "ab"
    assert type(t.events[1]).__name__ == "RunRequeuedEvent"


def test_workflow_events_show_steps_and_label_member_runs() -> None:
    events = [
        Event("WorkflowStarted", 0, run_id="wf", workflow_name="Content"),
        Event("StepStarted", 1, run_id="wf", step_name="Research"),
        Event("RunContent", 2, run_id="a1", agent_name="Researcher", content="found it"),
        Event(
            "StepCompleted",
            3,
            run_id="wf",
            step_name="Research",
            step_response=StepResult("Research", "found it", duration=0.4),
        ),
        Event("StepStarted", 4, run_id="wf", step_name="Plan"),
        Event("TeamRunContent", 5, run_id="t1", team_name="Planners", content="the plan"),
        Event("RunCompleted", 6, run_id="t1", content="ignored: not the root run"),
        Event("StepCompleted", 7, run_id="wf", step_name="Plan"),
        Event(
            "WorkflowCompleted",
            8,
            run_id="wf",
            workflow_name="Content",
            content="# The plan",
            metrics={"duration": 2.0},
        ),
    ]
    text = render(events, markdown=True)
    lines = text.splitlines()
    assert lines[:8] == [
        "▸ Research",
        "── Researcher ──",
        "found it",
        "✓ Research (0.40s)",
        "▸ Plan",
        "── Planners ──",
        "the plan",
        "✓ Plan",
    ]
    assert "Workflow · Content · ✓ COMPLETED · 2.00s" in text
    assert "│ The plan" in text and "# The plan" not in text
    assert "ignored" not in text


def test_error_event_shows_an_error_panel() -> None:
    events = [
        Event("RunContent", 0, content="partial"),
        Event("RunError", 1, content="provider exploded"),
    ]
    text = render(events)
    assert "partial" in text and "Error" in text and "provider exploded" in text


def test_dict_events_are_accepted() -> None:
    events = [
        {"event": "RunContent", "event_index": 0, "run_id": "r", "content": "from "},
        {"event": "RunContent", "event_index": 1, "run_id": "r", "content": "dicts"},
        {"event": "RunCompleted", "event_index": 2, "run_id": "r", "content": "from dicts"},
    ]
    assert render(events).startswith("from dicts\n")


def test_async_event_streams() -> None:
    async def stream() -> Any:
        for event in agent_events_with_restart():
            await asyncio.sleep(0)
            yield event

    out = io.StringIO()
    asyncio.run(apprint_run_response(stream(), file=out, width=60))
    assert render(agent_events_with_restart(), width=60) == out.getvalue()
    # The sync entry point runs an async iterable when no loop is running.
    assert render(stream(), width=60) == out.getvalue()


def test_stream_output_has_no_ansi_when_not_a_tty() -> None:
    assert "\x1b[" not in render(agent_events_with_restart())
