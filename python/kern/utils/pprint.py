"""Readable terminal views of Kern runs, with no dependencies.

:func:`pprint_run_response` is Kern's version of Agno's ``pprint_run_response(run_response,
markdown=False, show_time=False)``. It takes either a finished run output (an agent's,
team's or workflow's) or the events of a streamed run, and prints:

- for a run output: a header panel (name, status, run id, duration), one panel per step
  result for workflows, the content (rendered as markdown with ``markdown=True``, JSON
  pretty-printed for dicts and lists) and the error when the run failed;
- for events: the content deltas as they arrive, a line when a workflow step starts or
  finishes, and the final answer in a panel at the end. A ``RunRestarted`` event (a
  background run resumed after a crash or a graceful stop) voids earlier events; when that
  removes text already printed, a line says so and the content is printed again as it now
  stands, so the text after the last such line is the final answer. A ``RunRequeued`` event
  (an operator sent an ended run back to the queue) voids the old ending: a line says so and
  the panel shows the run's new end.

:func:`apprint_run_response` does the same for async iterables of events, and
:func:`render_markdown` is the small markdown renderer used for ``markdown=True``.

Output objects and events are duck-typed (attributes, or keys of a mapping), so this module
imports nothing else from Kern. Panels are drawn with box-drawing characters, at most 100
columns wide (the terminal's width when smaller). ANSI styles are used only when the output
is a terminal and ``NO_COLOR`` is unset (or when ``color=True`` is passed).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import inspect
import json
import os
import re
import shutil
import sys
import textwrap
import time
import unicodedata
from typing import IO, Any, FrozenSet, Iterable, List, Optional, Sequence, Tuple

__all__ = [
    "apprint_run_response",
    "format_run_output",
    "pprint_run_response",
    "render_markdown",
    "visible_width",
]

MAX_WIDTH = 100
MIN_WIDTH = 24

# ---------------------------------------------------------------------------------------
# Styles and widths
# ---------------------------------------------------------------------------------------

_SGR = {
    "bold": "1",
    "dim": "2",
    "italic": "3",
    "underline": "4",
    "strike": "9",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
}
_RESET = "\x1b[0m"
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
_ZERO_WIDTH = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}

Styles = FrozenSet[str]
Segment = Tuple[str, Styles]
_PLAIN: Styles = frozenset()


def _paint(text: str, styles: Iterable[str], color: bool) -> str:
    """``text`` in the given styles (names of :data:`_SGR`), or as-is without colour."""
    if not color or not text:
        return text
    codes = ";".join(_SGR[s] for s in sorted(set(styles)) if s in _SGR)
    return "\x1b[%sm%s%s" % (codes, text, _RESET) if codes else text


def _char_width(ch: str) -> int:
    if ch in _ZERO_WIDTH or unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def visible_width(text: str) -> int:
    """The number of terminal columns ``text`` takes (ANSI codes excluded, wide chars 2)."""
    return sum(_char_width(ch) for ch in _ANSI_RE.sub("", text))


def _hard_split(line: str, width: int) -> List[str]:
    """Cuts ``line`` into pieces at most ``width`` columns wide, keeping its ANSI styles."""
    if visible_width(line) <= width:
        return [line]
    pieces: List[str] = []
    current, used, active, i = "", 0, "", 0
    while i < len(line):
        match = _ANSI_RE.match(line, i)
        if match:
            code = match.group()
            current += code
            active = "" if code in (_RESET, "\x1b[m") else active + code
            i = match.end()
            continue
        ch = line[i]
        w = _char_width(ch)
        if used + w > width and used > 0:
            pieces.append(current + (_RESET if active else ""))
            current, used = active, 0
        current += ch
        used += w
        i += 1
    pieces.append(current)
    return pieces


def _use_color(file: IO[str], color: Optional[bool]) -> bool:
    if color is not None:
        return color
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError):
        return False


def _terminal_width(width: Optional[int]) -> int:
    if width is None:
        width = min(shutil.get_terminal_size((MAX_WIDTH, 24)).columns, MAX_WIDTH)
    return max(MIN_WIDTH, int(width))


# ---------------------------------------------------------------------------------------
# Inline markdown
# ---------------------------------------------------------------------------------------

_INLINE_RE = re.compile(
    r"(?P<esc>\\[\\`*_{}\[\]()#+\-.!~|>])"
    r"|(?P<code>(?P<ticks>`+)(?P<code_text>.+?)(?P=ticks))"
    r"|(?P<bi>\*\*\*(?=\S)(?P<bi_text>.+?)(?<=\S)\*\*\*)"
    r"|(?P<bold>\*\*(?=\S)(?P<bold_text>.+?)(?<=\S)\*\*)"
    r"|(?P<ubold>(?<!\w)__(?=\S)(?P<ubold_text>.+?)(?<=\S)__(?!\w))"
    r"|(?P<strike>~~(?=\S)(?P<strike_text>.+?)(?<=\S)~~)"
    r"|(?P<em>\*(?=[^\s*])(?P<em_text>.+?)(?<=[^\s*])\*)"
    r"|(?P<uem>(?<!\w)_(?=[^\s_])(?P<uem_text>.+?)(?<=[^\s_])_(?!\w))"
    r"|(?P<image>!\[(?P<image_alt>[^\]]*)\]\((?P<image_url>[^)\s]*)(?:\s+\"[^\"]*\")?\))"
    r"|(?P<link>\[(?P<link_text>[^\]]+)\]\((?P<link_url>[^)\s]*)(?:\s+\"[^\"]*\")?\))"
    r"|(?P<auto><(?P<auto_url>(?:https?|mailto):[^>\s]+)>)"
)
_BREAK: Segment = ("\n", frozenset({"break"}))


def _inline(text: str, styles: Styles = _PLAIN) -> List[Segment]:
    """Parses inline markdown into (text, styles) segments, markers removed."""
    segments: List[Segment] = []
    pos = 0
    for match in _INLINE_RE.finditer(text):
        if match.start() > pos:
            segments.append((text[pos : match.start()], styles))
        if match.group("esc"):
            segments.append((match.group("esc")[1], styles))
        elif match.group("code"):
            code = match.group("code_text")
            if len(code) > 2 and code.startswith(" ") and code.endswith(" "):
                code = code[1:-1]
            segments.append((code, styles | {"code"}))
        elif match.group("bi"):
            segments.extend(_inline(match.group("bi_text"), styles | {"bold", "italic"}))
        elif match.group("bold"):
            segments.extend(_inline(match.group("bold_text"), styles | {"bold"}))
        elif match.group("ubold"):
            segments.extend(_inline(match.group("ubold_text"), styles | {"bold"}))
        elif match.group("strike"):
            segments.extend(_inline(match.group("strike_text"), styles | {"strike"}))
        elif match.group("em"):
            segments.extend(_inline(match.group("em_text"), styles | {"italic"}))
        elif match.group("uem"):
            segments.extend(_inline(match.group("uem_text"), styles | {"italic"}))
        elif match.group("image"):
            alt = match.group("image_alt") or "image"
            segments.append(("[image: %s]" % alt, styles | {"dim"}))
        elif match.group("link"):
            label, url = match.group("link_text"), match.group("link_url")
            segments.extend(_inline(label, styles | {"link"}))
            if url and url != label:
                segments.append((" (%s)" % url, styles | {"dim"}))
        elif match.group("auto"):
            segments.append((match.group("auto_url"), styles | {"link"}))
        pos = match.end()
    if pos < len(text):
        segments.append((text[pos:], styles))
    return segments


def _segment_styles(styles: Styles) -> List[str]:
    """The terminal styles of markdown styles."""
    out = [s for s in styles if s in ("bold", "italic", "strike", "dim", "underline")]
    if "code" in styles:
        out.append("cyan")
    if "link" in styles:
        out.extend(["underline", "blue"])
    return out


def _render_pieces(pieces: Sequence[Segment], color: bool) -> str:
    """Joins segments, merging neighbours of the same style into one styled run."""
    out: List[str] = []
    run_text, run_styles = "", None
    for text, styles in pieces:
        if styles != run_styles and run_text:
            out.append(_paint(run_text, _segment_styles(run_styles or _PLAIN), color))
            run_text = ""
        run_text += text
        run_styles = styles
    if run_text:
        out.append(_paint(run_text, _segment_styles(run_styles or _PLAIN), color))
    return "".join(out)


def _wrap_segments(
    segments: Sequence[Segment],
    width: int,
    color: bool,
    first_prefix: str = "",
    rest_prefix: str = "",
) -> List[str]:
    """Word-wraps styled segments to ``width`` columns; whitespace between words collapses.

    The prefixes (already styled) start the first and the following lines.
    """
    words: List[Optional[List[Segment]]] = []  # None: a hard line break
    current: List[Segment] = []
    for text, styles in segments:
        if (text, styles) == _BREAK:
            if current:
                words.append(current)
                current = []
            words.append(None)
            continue
        for part in re.split(r"(\s+)", text):
            if not part:
                continue
            if part.isspace():
                if current:
                    words.append(current)
                    current = []
            else:
                current.append((part, styles))
    if current:
        words.append(current)

    lines: List[str] = []
    line: List[List[Segment]] = []
    used = 0

    def available() -> int:
        prefix = first_prefix if not lines else rest_prefix
        return max(1, width - visible_width(prefix))

    def emit() -> None:
        nonlocal line, used
        prefix = first_prefix if not lines else rest_prefix
        joined: List[Segment] = []
        for n, word in enumerate(line):
            if n:
                # The space between two words takes the styles they share (an underlined
                # heading stays underlined across it).
                joined.append((" ", joined[-1][1] & word[0][1]))
            joined.extend(word)
        lines.append((prefix + _render_pieces(joined, color)).rstrip())
        line, used = [], 0

    for word in words:
        if word is None:
            emit()
            continue
        size = sum(visible_width(t) for t, _ in word)
        if line and used + 1 + size > available():
            emit()
        if not line and size > available():
            # A word longer than the line: cut it.
            chunk: List[Segment] = []
            chunk_size = 0
            for text, styles in word:
                for ch in text:
                    w = _char_width(ch)
                    if chunk_size + w > available() and chunk_size:
                        line, used = [chunk], chunk_size
                        emit()
                        chunk, chunk_size = [], 0
                    if chunk and chunk[-1][1] == styles:
                        chunk[-1] = (chunk[-1][0] + ch, styles)
                    else:
                        chunk.append((ch, styles))
                    chunk_size += w
            word, size = chunk, chunk_size
        used += size + (1 if line else 0)
        line.append(word)
    if line or not lines:
        emit()
    return lines


# ---------------------------------------------------------------------------------------
# Block markdown
# ---------------------------------------------------------------------------------------

_FENCE_RE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^`\s]*)")
_HEADING_RE = re.compile(r"^\s{0,3}(#{1,6})(?:\s+(.*?))?(?:\s+#+)?\s*$")
_HR_RE = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_QUOTE_RE = re.compile(r"^\s{0,3}>\s?(.*)$")
_ITEM_RE = re.compile(r"^(\s*)([-*+•]|\d{1,9}[.)])(?:\s+(.*))?$")
_TABLE_SEP_RE = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_SETEXT_H1_RE = re.compile(r"^\s{0,3}=+\s*$")
_SETEXT_H2_RE = re.compile(r"^\s{0,3}-+\s*$")
_BULLETS = ("•", "◦", "▪")


def _is_table_start(lines: Sequence[str], i: int) -> bool:
    return (
        "|" in lines[i]
        and i + 1 < len(lines)
        and "|" in lines[i + 1]
        and "-" in lines[i + 1]
        and bool(_TABLE_SEP_RE.match(lines[i + 1]))
    )


def _starts_block(lines: Sequence[str], i: int) -> bool:
    line = lines[i]
    return bool(
        _FENCE_RE.match(line)
        or _HEADING_RE.match(line)
        or _HR_RE.match(line)
        or _QUOTE_RE.match(line)
        or _ITEM_RE.match(line)
        or _is_table_start(lines, i)
    )


def _split_cells(line: str) -> List[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)]


def _render_table(rows: List[str], width: int, color: bool) -> List[str]:
    """Aligned columns when they fit, else the table's lines as written."""
    header = _split_cells(rows[0])
    aligns = []
    for cell in _split_cells(rows[1]):
        left, right = cell.startswith(":"), cell.endswith(":")
        aligns.append("center" if left and right else "right" if right else "left")
    body = [_split_cells(r) for r in rows[2:]]
    columns = max([len(header)] + [len(r) for r in body])
    table = [header, *body]
    rendered = [
        [_render_pieces(_inline(row[c] if c < len(row) else ""), color) for c in range(columns)]
        for row in table
    ]
    widths = [max(visible_width(r[c]) for r in rendered) for c in range(columns)]
    if sum(widths) + 3 * (columns - 1) > width:
        return [r.rstrip() for r in rows]
    aligns += ["left"] * (columns - len(aligns))

    def cell(text: str, c: int) -> str:
        pad = widths[c] - visible_width(text)
        if aligns[c] == "right":
            return " " * pad + text
        if aligns[c] == "center":
            return " " * (pad // 2) + text + " " * (pad - pad // 2)
        return text + " " * pad

    bar = _paint(" │ ", ["dim"], color)
    out = [
        bar.join(
            cell(_paint(_ANSI_RE.sub("", t), ["bold"], color), c) for c, t in enumerate(rendered[0])
        ).rstrip()
    ]
    out.append(_paint("─┼─".join("─" * w for w in widths), ["dim"], color))
    for row in rendered[1:]:
        out.append(bar.join(cell(t, c) for c, t in enumerate(row)).rstrip())
    return out


def _render_list(items: List[Tuple[int, str, List[str]]], width: int, color: bool) -> List[str]:
    """Renders (indent, marker, text lines) items, nesting them by indent."""
    out: List[str] = []
    stack: List[int] = []
    for indent, marker, text in items:
        while stack and stack[-1] > indent:
            stack.pop()
        if not stack or indent > stack[-1]:
            stack.append(indent)
        level = len(stack) - 1
        content = " ".join(t.strip() for t in text)
        if marker[0].isdigit():
            symbol = marker
        else:
            symbol = _BULLETS[level % len(_BULLETS)]
        task = re.match(r"^\[([ xX])\]\s+", content)
        if task:
            symbol = "☑" if task.group(1) in "xX" else "☐"
            content = content[task.end() :]
        pad = "  " * level
        prefix = pad + _paint(symbol, ["cyan"], color) + " "
        rest = pad + " " * (visible_width(symbol) + 1)
        out.extend(_wrap_segments(_inline(content), width, color, prefix, rest))
    return out


def _paragraph_segments(lines: Sequence[str]) -> List[Segment]:
    """The inline segments of a paragraph's lines; trailing double spaces or ``\\`` break."""
    segments: List[Segment] = []
    for n, line in enumerate(lines):
        hard = line.endswith("  ") or line.rstrip(" ").endswith("\\")
        text = line.strip()
        if hard and text.endswith("\\"):
            text = text[:-1]
        segments.extend(_inline(text))
        if n < len(lines) - 1:
            segments.append(_BREAK if hard else (" ", _PLAIN))
    return segments


def _render_blocks(lines: Sequence[str], width: int, color: bool) -> List[str]:
    out: List[str] = []

    def gap() -> None:
        if out and out[-1] != "":
            out.append("")

    def heading(level: int, segments: List[Segment]) -> None:
        gap()
        styles = {"bold"} | ({"underline"} if level == 1 and color else set())
        styled = [(t, s | styles) for t, s in segments]
        wrapped = _wrap_segments(styled, width, color)
        out.extend(wrapped)
        if not color:
            out.append("─" * min(width, max(visible_width(l) for l in wrapped)))
        gap()

    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        fence = _FENCE_RE.match(line)
        if fence:
            marker, indent = fence.group(2), len(fence.group(1))
            closing = re.compile(r"^\s*%s{%d,}\s*$" % (re.escape(marker[0]), len(marker)))
            code: List[str] = []
            i += 1
            while i < n and not closing.match(lines[i]):
                text = lines[i]
                strip = min(indent, len(text) - len(text.lstrip(" ")))
                code.append(text[strip:].rstrip())
                i += 1
            i += 1  # the closing fence
            gap()
            out.extend(_paint("    " + c, ["dim"], color) if c else "" for c in code)
            gap()
            continue
        match = _HEADING_RE.match(line)
        if match:
            heading(len(match.group(1)), _inline(match.group(2) or ""))
            i += 1
            continue
        if _HR_RE.match(line):
            gap()
            out.append(_paint("─" * width, ["dim"], color))
            gap()
            i += 1
            continue
        if _QUOTE_RE.match(line):
            quoted: List[str] = []
            while i < n and lines[i].strip():
                m = _QUOTE_RE.match(lines[i])
                quoted.append(m.group(1) if m else lines[i])
                i += 1
            gap()
            bar = _paint("│", ["dim"], color) + " "
            inner = _render_blocks(quoted, max(1, width - 2), color)
            out.extend((bar + l).rstrip() for l in inner)
            gap()
            continue
        if _is_table_start(lines, i):
            rows = []
            while i < n and lines[i].strip() and "|" in lines[i]:
                rows.append(lines[i])
                i += 1
            gap()
            out.extend(_render_table(rows, width, color))
            gap()
            continue
        item = _ITEM_RE.match(line)
        if item:
            items: List[Tuple[int, str, List[str]]] = []
            while i < n:
                current = lines[i]
                m = _ITEM_RE.match(current)
                if m and not _HR_RE.match(current):
                    items.append((len(m.group(1)), m.group(2), [m.group(3) or ""]))
                    i += 1
                    continue
                if not current.strip():
                    # A blank line ends the list unless an item or an indented line follows.
                    j = i
                    while j < n and not lines[j].strip():
                        j += 1
                    if (
                        j < n
                        and (_ITEM_RE.match(lines[j]) or lines[j].startswith("  "))
                        and not _FENCE_RE.match(lines[j])
                    ):
                        i = j
                        continue
                    break
                if _starts_block(lines, i):
                    break
                items[-1][2].append(current)  # a continuation line
                i += 1
            gap()
            out.extend(_render_list(items, width, color))
            gap()
            continue
        paragraph = [line]
        i += 1
        while i < n and lines[i].strip() and not _starts_block(lines, i):
            if _SETEXT_H1_RE.match(lines[i]):
                break
            paragraph.append(lines[i])
            i += 1
        # A setext heading: the paragraph underlined with === or --- (no blank line between).
        if i < n and (_SETEXT_H1_RE.match(lines[i]) or _SETEXT_H2_RE.match(lines[i])):
            heading(1 if "=" in lines[i] else 2, _paragraph_segments(paragraph))
            i += 1
            continue
        gap()
        out.extend(_wrap_segments(_paragraph_segments(paragraph), width, color))
        gap()
    while out and out[-1] == "":
        out.pop()
    return out


def render_markdown(text: str, width: int = 80, color: bool = False) -> str:
    """Renders markdown ``text`` for a terminal ``width`` columns wide.

    Supports ATX (``#``) and setext headings, paragraphs (reflowed), bullet and numbered
    lists (nested by indent, task boxes), ``**bold**``, ``*italic*`` / ``_italic_``,
    ``~~strike~~``, inline ``code``, links, fenced code blocks (kept verbatim, indented),
    block quotes, horizontal rules and tables (aligned when they fit). With ``color`` the
    styles are ANSI codes; without, the markers are removed and headings are underlined
    with ``─``. Lines are at most ``width`` columns, except code and table lines, which are
    kept as written.
    """
    source = text.replace("\r\n", "\n").replace("\r", "\n").expandtabs(4).split("\n")
    return "\n".join(_render_blocks(source, max(8, width), color))


# ---------------------------------------------------------------------------------------
# Duck-typed access to outputs and events
# ---------------------------------------------------------------------------------------


def _field(obj: Any, name: str, default: Any = None) -> Any:
    """``obj.name`` or ``obj[name]``, else ``default``."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    try:
        value = getattr(obj, name, default)
    except Exception:  # a property that raises
        return default
    return default if callable(value) and not isinstance(value, str) else value


def _enum_text(value: Any) -> str:
    """The text of a (str-subclass) enum or plain value."""
    return str(getattr(value, "value", value)) if value is not None else ""


def _name_of(obj: Any) -> Tuple[str, str]:
    """(kind, name) of a run output or event: Workflow, Team or Agent, and its name or id."""
    for kind, prefix in (("Workflow", "workflow"), ("Team", "team"), ("Agent", "agent")):
        name = _field(obj, prefix + "_name") or _field(obj, prefix + "_id")
        if name:
            return kind, str(name)
    return "Run", ""


def _duration(metrics: Any) -> Optional[float]:
    value = _field(metrics, "duration")
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _fmt_duration(seconds: float) -> str:
    if seconds < 60:
        return "%.2fs" % seconds
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return "%dm %02ds" % (minutes, secs)
    hours, minutes = divmod(minutes, 60)
    return "%dh %02dm" % (hours, minutes)


_STATUS = {
    "COMPLETED": ("✓", "green"),
    "ERROR": ("✗", "red"),
    "FAILED": ("✗", "red"),
    "CANCELLED": ("⊘", "yellow"),
    "PAUSED": ("⏸", "yellow"),
    "RUNNING": ("…", "cyan"),
    "PENDING": ("…", "cyan"),
}


def _status_label(status: str, color: bool) -> str:
    symbol, style = _STATUS.get(status.upper(), ("•", "yellow"))
    return _paint("%s %s" % (symbol, status or "UNKNOWN"), [style, "bold"], color)


def _is_error_status(status: str) -> bool:
    return status.upper() in ("ERROR", "FAILED")


def _jsonable(content: Any) -> Any:
    """Content as JSON-able data when it is structured (dict, list, model, dataclass)."""
    if isinstance(content, (dict, list, tuple)):
        return content
    dump = getattr(content, "model_dump", None)
    if callable(dump):
        try:
            return dump()
        except Exception:
            return None
    if dataclasses.is_dataclass(content) and not isinstance(content, type):
        return dataclasses.asdict(content)
    return None


def _wrap_plain(text: str, width: int) -> List[str]:
    """Wraps plain text to ``width``, keeping line breaks, blank lines and indentation."""
    out: List[str] = []
    for line in text.expandtabs(4).splitlines() or [""]:
        if not line.strip():
            out.append("")
            continue
        indent = line[: len(line) - len(line.lstrip())]
        out.extend(
            textwrap.wrap(
                line,
                width=max(1, width),
                subsequent_indent=indent if len(indent) < width // 2 else "",
                break_long_words=True,
                break_on_hyphens=False,
            )
            or [""]
        )
    return out


def _content_lines(content: Any, width: int, markdown: bool, color: bool) -> List[str]:
    """The lines showing ``content``: JSON pretty-printed, markdown rendered, or wrapped."""
    if content is None:
        return []
    data = _jsonable(content)
    if data is not None:
        return json.dumps(data, indent=2, ensure_ascii=False, default=str).splitlines()
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    text = str(content)
    if markdown:
        return render_markdown(text, width, color).split("\n")
    return _wrap_plain(text, width)


# ---------------------------------------------------------------------------------------
# Panels
# ---------------------------------------------------------------------------------------


def _panel(
    title: str, lines: Sequence[str], width: int, color: bool, border: Sequence[str] = ("dim",)
) -> List[str]:
    """A box ``width`` columns wide around ``lines`` (cut to fit), ``title`` in its top edge."""
    inner = width - 4
    if title:
        if visible_width(title) > width - 6:
            title = _hard_split(title, width - 7)[0] + "…"
        fill = width - 5 - visible_width(title)
        top = (
            _paint("╭─", border, color)
            + " "
            + title
            + " "
            + _paint("─" * fill + "╮", border, color)
        )
    else:
        top = _paint("╭" + "─" * (width - 2) + "╮", border, color)
    side = _paint("│", border, color)
    out = [top]
    for line in lines or [""]:
        for piece in _hard_split(line, inner):
            out.append("%s %s%s %s" % (side, piece, " " * (inner - visible_width(piece)), side))
    out.append(_paint("╰" + "─" * (width - 2) + "╯", border, color))
    return out


def _kv(key: str, value: str, color: bool) -> str:
    return _paint("%-9s" % key, ["dim"], color) + " " + value


def _header_lines(output: Any, status: str, show_time: bool, color: bool) -> List[str]:
    lines = [_kv("Status", _status_label(status, color), color)]
    run_id = _field(output, "run_id")
    if run_id:
        lines.append(_kv("Run", str(run_id), color))
    session_id = _field(output, "session_id")
    if session_id:
        lines.append(_kv("Session", str(session_id), color))
    metrics = _field(output, "metrics")
    duration = _duration(metrics)
    if duration is not None:
        lines.append(_kv("Duration", _fmt_duration(duration), color))
    tokens_in, tokens_out = _field(metrics, "input_tokens"), _field(metrics, "output_tokens")
    if tokens_in or tokens_out:
        lines.append(_kv("Tokens", "%s in · %s out" % (tokens_in or 0, tokens_out or 0), color))
    if show_time:
        created = _field(output, "created_at")
        if isinstance(created, (int, float)) and created > 0:
            when = datetime.datetime.fromtimestamp(created).strftime("%Y-%m-%d %H:%M:%S")
            lines.append(_kv("Started", when, color))
            elapsed = duration if duration is not None else max(0.0, time.time() - created)
            lines.append(_kv("Elapsed", _fmt_duration(elapsed), color))
        elif duration is not None:
            lines.append(_kv("Elapsed", _fmt_duration(duration), color))
    return lines


def _step_panel(
    step: Any, number: int, total: int, width: int, markdown: bool, color: bool
) -> List[str]:
    name = str(_field(step, "step_name") or _field(step, "name") or "step %d" % number)
    success = _field(step, "success")
    error = _field(step, "error")
    ok = success is not False and not error
    mark = _paint("✓" if ok else "✗", ["green" if ok else "red", "bold"], color)
    title = "%s Step %d/%d · %s" % (mark, number, total, _paint(name, ["bold"], color))
    step_type = _field(step, "step_type")
    if step_type:
        title += " " + _paint("(%s)" % _enum_text(step_type), ["dim"], color)
    duration = _duration(_field(step, "metrics"))
    if duration is not None:
        title += " · " + _fmt_duration(duration)
    inner = width - 4
    body: List[str] = []
    for child in _field(step, "steps") or []:
        child_ok = _field(child, "success") is not False and not _field(child, "error")
        child_mark = _paint("✓" if child_ok else "✗", ["green" if child_ok else "red"], color)
        child_line = "%s %s" % (child_mark, _field(child, "step_name") or "step")
        child_duration = _duration(_field(child, "metrics"))
        if child_duration is not None:
            child_line += _paint(" · " + _fmt_duration(child_duration), ["dim"], color)
        body.append(child_line)
    if body:
        body.append("")
    body.extend(_content_lines(_field(step, "content"), inner, markdown, color))
    if error:
        if body:
            body.append("")
        body.extend(_paint(l, ["red"], color) for l in _wrap_plain("Error: %s" % error, inner))
    if not body:
        body = [_paint("(no output)", ["dim"], color)]
    return _panel(title, body, width, color, ("green",) if ok else ("red",))


def format_run_output(
    run_output: Any,
    markdown: bool = False,
    show_time: bool = False,
    *,
    width: Optional[int] = None,
    color: bool = False,
) -> str:
    """The text :func:`pprint_run_response` prints for a finished run output (no trailing
    newline): header, step results, content and error panels."""
    width = _terminal_width(width)
    inner = width - 4
    status = _enum_text(_field(run_output, "status")) or "UNKNOWN"
    kind, name = _name_of(run_output)
    title = _paint(kind, ["bold"], color) + (" · " + name if name else "")
    out = _panel(
        title, _header_lines(run_output, status, show_time, color), width, color, ("cyan",)
    )
    steps = list(_field(run_output, "step_results") or [])
    for number, step in enumerate(steps, 1):
        out.extend(_step_panel(step, number, len(steps), width, markdown, color))
    content = _field(run_output, "content")
    if content is not None and content != "":
        heading = "Response"
        duration = _duration(_field(run_output, "metrics"))
        if show_time and duration is not None:
            heading += " (%s)" % _fmt_duration(duration)
        out.extend(
            _panel(
                _paint(heading, ["bold"], color),
                _content_lines(content, inner, markdown, color),
                width,
                color,
                ("blue",),
            )
        )
    error = _field(run_output, "error")
    if error or _is_error_status(status):
        text = str(error) if error else "(no error message)"
        out.extend(
            _panel(
                _paint("Error", ["bold", "red"], color),
                [_paint(l, ["red"], color) for l in _wrap_plain(text, inner)],
                width,
                color,
                ("red",),
            )
        )
    return "\n".join(out)


# ---------------------------------------------------------------------------------------
# Event streams
# ---------------------------------------------------------------------------------------

_CONTENT_EVENTS = {"RunContent", "TeamRunContent"}
_COMPLETED_EVENTS = {
    "RunCompleted": "Agent",
    "TeamRunCompleted": "Team",
    "WorkflowCompleted": "Workflow",
}
_ERROR_EVENTS = {"RunError", "TeamRunError", "WorkflowError"}
_CANCELLED_EVENTS = {"RunCancelled", "TeamRunCancelled", "WorkflowCancelled"}


class _StreamPrinter:
    """Prints a run's events as they arrive (see :func:`pprint_run_response`).

    Content deltas are written as they come. When the content switches to another run (a
    team member, a workflow step's agent), a dim line names the run, unless only the root
    run has written content so far: a single run's text is never interrupted.
    """

    def __init__(
        self, file: IO[str], markdown: bool, show_time: bool, width: int, color: bool
    ) -> None:
        self.file = file
        self.markdown = markdown
        self.show_time = show_time
        self.width = width
        self.color = color
        self.started = time.monotonic()
        self.root_run: Any = None
        self.final: Any = None
        #: Content shown so far: (event_index, run_id, is_root, run name, text).
        self.printed: List[Tuple[Any, Any, bool, str, str]] = []
        #: The run whose content was written last (None after any other line).
        self.content_run: Any = None
        #: Whether a run other than the root one has shown content (then runs are labelled).
        self.labelled = False
        self.at_line_start = True

    # -- writing ----------------------------------------------------------------------

    def write(self, text: str) -> None:
        if not text:
            return
        self.file.write(text)
        self.file.flush()
        self.at_line_start = text.endswith("\n")

    def line(self, text: str) -> None:
        """Writes ``text`` on a line of its own."""
        if not self.at_line_start:
            self.write("\n")
        self.write(text + "\n")
        self.content_run = None

    # -- events -----------------------------------------------------------------------

    def feed(self, event: Any) -> None:
        kind = _enum_text(_field(event, "event"))
        run_id = _field(event, "run_id")
        if self.root_run is None and run_id is not None:
            self.root_run = run_id
        is_root = run_id is None or run_id == self.root_run
        if kind in ("RunRestarted", "StepRetried"):
            self.restart(event)
        elif kind == "RunRequeued":
            self.requeued(event)
        elif kind in _CONTENT_EVENTS:
            text = _field(event, "content")
            if isinstance(text, str) and text:
                name = _name_of(event)[1] or "run %s" % str(run_id)[:8]
                entry = (_field(event, "event_index"), run_id, is_root, name, text)
                self.printed.append(entry)
                self.show_content(entry)
        elif kind == "StepStarted":
            name = _field(event, "step_name") or "step"
            self.line(_paint("▸ %s" % name, ["bold"], self.color))
        elif kind == "StepCompleted":
            self.step_done(event)
        elif kind == "StepError":
            name = _field(event, "step_name") or "step"
            self.line(
                _paint("✗ %s: %s" % (name, _field(event, "error") or "failed"), ["red"], self.color)
            )
        elif is_root and (
            kind in _COMPLETED_EVENTS or kind in _ERROR_EVENTS or kind in _CANCELLED_EVENTS
        ):
            self.final = event

    def show_content(self, entry: Tuple[Any, Any, bool, str, str]) -> None:
        _, run_id, is_root, name, text = entry
        if run_id != self.content_run:
            if not is_root:
                self.labelled = True
            if self.labelled:
                self.line(_paint("── %s ──" % name, ["dim"], self.color))
            elif not self.at_line_start:
                self.write("\n")
            self.content_run = run_id
        self.write(text)

    def step_done(self, event: Any) -> None:
        name = _field(event, "step_name") or "step"
        response = _field(event, "step_response")
        ok = _field(response, "success") is not False and not _field(response, "error")
        duration = _duration(_field(response, "metrics"))
        text = "%s %s" % ("✓" if ok else "✗", name)
        if duration is not None:
            text += " (%s)" % _fmt_duration(duration)
        self.line(_paint(text, ["green" if ok else "red"], self.color))

    def restart(self, event: Any) -> None:
        """Applies a ``RunRestarted`` or ``StepRetried``: drops the voided events; shows the
        content again when some of it was voided."""
        ranges: List[Tuple[int, int]] = []
        for pair in _field(event, "voided") or []:
            try:
                ranges.append((int(pair[0]), int(pair[1])))
            except (TypeError, ValueError, IndexError):
                continue

        def voided(index: Any) -> bool:
            return isinstance(index, int) and any(a <= index <= b for a, b in ranges)

        kept = [p for p in self.printed if not voided(p[0])]
        if len(kept) == len(self.printed):
            return
        self.printed = kept
        attempt = _field(event, "attempt")
        if _enum_text(_field(event, "event")) == "StepRetried":
            notice = "↻ Step %s failed (try %s) and runs again; the output, as it now stands:" % (
                _field(event, "step_name") or "?",
                attempt or "?",
            )
        else:
            notice = "↻ The run restarted%s; its output so far, as it now stands:" % (
                " (attempt %s)" % attempt if attempt else ""
            )
        self.line(_paint(notice, ["yellow"], self.color))
        self.labelled = False
        for entry in kept:
            self.show_content(entry)

    def requeued(self, event: Any) -> None:
        """Applies a ``RunRequeued``: an operator sent the ended run back to the queue, so its
        old ending (the voided terminal event) is no longer the run's end."""
        ranges = []
        for pair in _field(event, "voided") or []:
            try:
                ranges.append((int(pair[0]), int(pair[1])))
            except (TypeError, ValueError, IndexError):
                continue
        index = _field(self.final, "event_index") if self.final is not None else None
        if isinstance(index, int) and any(a <= index <= b for a, b in ranges):
            self.final = None
        previous = _field(event, "previous_status")
        notice = "↻ Requeued by an operator%s; the run goes on:" % (
            " (it had %s)" % previous if previous else ""
        )
        self.line(_paint(notice, ["yellow"], self.color))

    def finish(self) -> None:
        """Ends the streamed text and prints the final panel."""
        if not self.at_line_start:
            self.write("\n")
        final = self.final
        if final is None:
            return
        inner = self.width - 4
        kind = _enum_text(_field(final, "event"))
        _, name = _name_of(final)
        elapsed = time.monotonic() - self.started
        if kind in _COMPLETED_EVENTS:
            content = _field(final, "content")
            if content is not None and content != "":
                parts = [_paint(_COMPLETED_EVENTS[kind], ["bold"], self.color)]
                if name:
                    parts.append(name)
                parts.append(_status_label("COMPLETED", self.color))
                duration = _duration(_field(final, "metrics"))
                if duration is not None:
                    parts.append(_fmt_duration(duration))
                lines = _content_lines(content, inner, self.markdown, self.color)
                self.write(
                    "\n"
                    + "\n".join(_panel(" · ".join(parts), lines, self.width, self.color, ("blue",)))
                    + "\n"
                )
        elif kind in _ERROR_EVENTS:
            message = _field(final, "error") or _field(final, "content") or "(no error message)"
            lines = [_paint(l, ["red"], self.color) for l in _wrap_plain(str(message), inner)]
            title = _paint("Error", ["bold", "red"], self.color) + (" · " + name if name else "")
            self.write(
                "\n" + "\n".join(_panel(title, lines, self.width, self.color, ("red",))) + "\n"
            )
        else:
            reason = _field(final, "reason") or "cancelled"
            title = _paint("Cancelled", ["bold", "yellow"], self.color) + (
                " · " + name if name else ""
            )
            lines = _wrap_plain(str(reason), inner)
            self.write(
                "\n" + "\n".join(_panel(title, lines, self.width, self.color, ("yellow",))) + "\n"
            )
        if self.show_time:
            self.write(_paint("Elapsed %s" % _fmt_duration(elapsed), ["dim"], self.color) + "\n")


def _is_event_stream(value: Any) -> bool:
    """Whether ``value`` is events (an iterable of them, or one event), not a run output."""
    if isinstance(value, (str, bytes)):
        return False
    if isinstance(value, dict):
        return "event" in value
    if not hasattr(value, "__iter__"):
        return _field(value, "event") is not None
    # Iterable run outputs (e.g. models that iterate over their fields) are still outputs.
    return not all(hasattr(value, a) for a in ("run_id", "status", "content"))


# ---------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------


def pprint_run_response(
    run_response: Any,
    markdown: bool = False,
    show_time: bool = False,
    *,
    file: Optional[IO[str]] = None,
    width: Optional[int] = None,
    color: Optional[bool] = None,
) -> None:
    """Prints a run output, or a run's events as they arrive, in a readable terminal view.

    ``run_response`` is a run output (an agent's, team's or workflow's: ``status``,
    ``content``, ``error``, ``metrics``, ``step_results``...) or an iterable of events
    (``event``, ``event_index``, ``content``, ``step_name``, ``voided``...). An async
    iterable is consumed with :func:`asyncio.run` when no event loop is running; inside one,
    ``await apprint_run_response(...)`` instead.

    ``markdown`` renders the content as markdown; ``show_time`` adds the elapsed time.
    ``file`` defaults to ``sys.stdout``; ``width`` to the terminal's (at most 100 columns);
    ``color`` to whether ``file`` is a terminal and ``NO_COLOR`` is unset.
    """
    out = file if file is not None else sys.stdout
    use_color = _use_color(out, color)
    columns = _terminal_width(width)
    if hasattr(run_response, "__aiter__") and not hasattr(run_response, "__iter__"):
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(
                apprint_run_response(
                    run_response, markdown, show_time, file=out, width=columns, color=use_color
                )
            )
            return
        raise TypeError(
            "an async iterable of events: use `await apprint_run_response(...)` inside an event loop"
        )
    if _is_event_stream(run_response):
        printer = _StreamPrinter(out, markdown, show_time, columns, use_color)
        single = isinstance(run_response, dict) or not hasattr(run_response, "__iter__")
        events = [run_response] if single else run_response
        for event in events:
            printer.feed(event)
        printer.finish()
        return
    out.write(
        format_run_output(run_response, markdown, show_time, width=columns, color=use_color) + "\n"
    )
    out.flush()


async def apprint_run_response(
    run_response: Any,
    markdown: bool = False,
    show_time: bool = False,
    *,
    file: Optional[IO[str]] = None,
    width: Optional[int] = None,
    color: Optional[bool] = None,
) -> None:
    """:func:`pprint_run_response` for async iterables of events (and awaitables of run
    outputs); anything else is printed as :func:`pprint_run_response` does."""
    out = file if file is not None else sys.stdout
    use_color = _use_color(out, color)
    columns = _terminal_width(width)
    if inspect.isawaitable(run_response):
        run_response = await run_response
    if hasattr(run_response, "__aiter__"):
        printer = _StreamPrinter(out, markdown, show_time, columns, use_color)
        async for event in run_response:
            printer.feed(event)
        printer.finish()
        return
    pprint_run_response(run_response, markdown, show_time, file=out, width=columns, color=use_color)
