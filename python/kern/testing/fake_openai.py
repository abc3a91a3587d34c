"""A local fake OpenAI server that speaks the real wire protocol.

What it is for
--------------
Running Kern agents, teams and workflows without an API key and without a network: in the
pytest suite, and in demos such as the README's quick start. Kern's OpenAI clients (the
Rust providers behind ``openai:<model>`` and ``openai-responses:<model>``) are pointed at it
with environment variables::

    python -m kern.testing.fake_openai --port 8765 &
    export OPENAI_BASE_URL=http://127.0.0.1:8765/v1
    export OPENAI_API_KEY=fake          # any value: the key is never checked

or from Python::

    from kern.testing.fake_openai import FakeOpenAI

    with FakeOpenAI(token_delay=0.01) as fake:
        os.environ["OPENAI_BASE_URL"] = fake.base_url
        os.environ["OPENAI_API_KEY"] = "fake"
        ...                                  # run agents
        assert fake.request_count == 2

The server only listens on the address it is given (loopback by default) and never reaches
the internet: every answer is computed locally from the request.

What it answers
---------------
- ``POST /v1/chat/completions``: Chat Completions. With ``"stream": true``, server-sent
  events ``data: {chunk}`` (a role chunk, one chunk per word-sized content delta or tool-call
  delta, a chunk with the ``finish_reason``, a usage chunk when
  ``stream_options.include_usage`` is set, then ``data: [DONE]``); otherwise one
  ``chat.completion`` object.
- ``POST /v1/responses``: the Responses API. With ``"stream": true``, named events
  (``response.created``, ``response.output_item.added``, ``response.output_text.delta``,
  ``response.function_call_arguments.delta`` / ``.done``, ``response.output_item.done``,
  ``response.completed`` with usage, ...); otherwise one ``response`` object.
- ``GET /v1/models``: a small model list. Unknown paths get a 404 and malformed JSON a 400,
  both with OpenAI's ``{"error": {...}}`` body. (The ``/v1`` prefix is optional.)

How it decides what to say
--------------------------
The answers are deterministic:

- When tool calls are enabled, the request offers tools, ``tool_choice`` is not ``"none"``
  and the conversation has no tool call or tool result after its last user message, the
  answer is ONE call to the first tool whose name does not start with ``forward`` (else the
  first tool; a ``tool_choice`` naming a function wins), with arguments built from the tool's
  JSON schema: every required property is filled (strings: the first ``enum`` value, else a
  few words of the user message; integers and numbers: 1 or the minimum; booleans: true;
  arrays: []; objects: their own required properties). So agents call a tool once and team
  leaders delegate once.
- Otherwise the answer is text: ``"[<model>] "`` followed by the first dozen words of the
  last user message and, for each tool result after it, ``"— using <tool> results: <first 60
  characters>"``. A ``reply`` callable (``request_json -> str``) or string replaces the text.
  When the request asks for a JSON schema (``response_format`` / ``text.format``), the text
  is a JSON object built from that schema instead.
- The text is streamed in word-sized deltas, ``token_delay`` seconds apart. Usage: prompt
  tokens are about the request size / 4, completion tokens the number of deltas.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple, Union

__all__ = ["FakeOpenAI", "RecordedRequest", "example_from_schema", "main"]

#: What the ``reply`` argument may be: a fixed text, or a function of the request's JSON body.
Reply = Union[str, Callable[[Dict[str, Any]], Optional[str]]]

#: The models listed by ``GET /v1/models``.
MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini", "o4-mini")

_ECHO_WORDS = 12
_ARG_WORDS = 6
_TOOL_SNIPPET = 60
_ARGUMENT_PIECES = 3
_SCHEMA_DEPTH = 6


class RecordedRequest(NamedTuple):
    """A model request the server received."""

    method: str
    """The HTTP method, e.g. ``POST``."""
    path: str
    """The path, e.g. ``/v1/chat/completions``."""
    headers: Dict[str, str]
    """The headers, names lowercase."""
    body: Dict[str, Any]
    """The JSON body."""


# ---------------------------------------------------------------------------------------
# The conversation, read from either API's request
# ---------------------------------------------------------------------------------------


class _ToolResult(NamedTuple):
    name: str
    output: str


class _Conversation:
    """What the answer depends on, read from a Chat Completions or Responses request."""

    def __init__(self, body: Dict[str, Any], api: str) -> None:
        self.body = body
        self.api = api
        self.model = str(body.get("model") or "fake-model")
        self.last_user = ""
        #: Tool results after the last user message, in order.
        self.tool_results: List[_ToolResult] = []
        #: Whether the assistant called a tool after the last user message.
        self.called_tool = False
        #: (name, JSON schema) of each offered tool.
        self.tools: List[Tuple[str, Dict[str, Any]]] = []
        self.tool_choice = body.get("tool_choice")
        self.schema: Optional[Dict[str, Any]] = None
        if api == "chat":
            self._read_chat(body)
        else:
            self._read_responses(body)

    def _read_chat(self, body: Dict[str, Any]) -> None:
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        names: Dict[str, str] = {}
        last_user = -1
        for i, message in enumerate(messages):
            if message.get("role") == "user":
                last_user = i
            for call in message.get("tool_calls") or []:
                if isinstance(call, dict):
                    function = call.get("function") or {}
                    names[str(call.get("id"))] = str(function.get("name") or "tool")
        if last_user >= 0:
            self.last_user = _text_of(messages[last_user].get("content"))
        for message in messages[last_user + 1 :]:
            role = message.get("role")
            if role == "assistant" and message.get("tool_calls"):
                self.called_tool = True
            elif role in ("tool", "function"):
                name = names.get(str(message.get("tool_call_id")), message.get("name") or "tool")
                self.tool_results.append(_ToolResult(str(name), _text_of(message.get("content"))))
        for tool in body.get("tools") or []:
            if isinstance(tool, dict):
                function = tool.get("function") or {}
                if function.get("name"):
                    self.tools.append((str(function["name"]), _as_dict(function.get("parameters"))))
        fmt = body.get("response_format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            self.schema = _as_dict(_as_dict(fmt.get("json_schema")).get("schema"))
        elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
            self.schema = {"type": "object"}

    def _read_responses(self, body: Dict[str, Any]) -> None:
        items = body.get("input")
        if isinstance(items, str):
            items = [{"role": "user", "content": items}]
        items = [i for i in items or [] if isinstance(i, dict)]
        names: Dict[str, str] = {}
        last_user = -1
        for i, item in enumerate(items):
            if item.get("role") == "user":
                last_user = i
            if item.get("type") == "function_call":
                names[str(item.get("call_id"))] = str(item.get("name") or "tool")
        if last_user >= 0:
            self.last_user = _text_of(items[last_user].get("content"))
        for item in items[last_user + 1 :]:
            kind = item.get("type")
            if kind == "function_call":
                self.called_tool = True
            elif kind == "function_call_output":
                name = names.get(str(item.get("call_id")), "tool")
                self.tool_results.append(_ToolResult(name, _text_of(item.get("output"))))
        for tool in body.get("tools") or []:
            if (
                isinstance(tool, dict)
                and tool.get("type", "function") == "function"
                and tool.get("name")
            ):
                self.tools.append((str(tool["name"]), _as_dict(tool.get("parameters"))))
        fmt = _as_dict(_as_dict(body.get("text")).get("format"))
        if fmt.get("type") == "json_schema":
            self.schema = _as_dict(fmt.get("schema"))
        elif fmt.get("type") == "json_object":
            self.schema = {"type": "object"}

    def tool_to_call(self) -> Optional[Tuple[str, Dict[str, Any]]]:
        """The tool to call now, or ``None`` to answer with text."""
        if not self.tools or self.tool_results or self.called_tool:
            return None
        choice = self.tool_choice
        if choice == "none":
            return None
        if isinstance(choice, dict):
            wanted = _as_dict(choice.get("function")).get("name") or choice.get("name")
            for tool in self.tools:
                if tool[0] == wanted:
                    return tool
        for tool in self.tools:
            if not tool[0].startswith("forward"):
                return tool
        return self.tools[0]


def _as_dict(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text_of(content: Any) -> str:
    """The text of a message's content: a string, or a list of parts with ``text``."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return " ".join(parts)
    return json.dumps(content, ensure_ascii=False)


def _words(text: str, limit: int) -> str:
    """The first ``limit`` words of ``text`` on one line, with ``…`` when cut."""
    words = text.split()
    head = " ".join(words[:limit])
    return head + "…" if len(words) > limit else head


def _default_reply(conversation: _Conversation) -> str:
    """The default text answer: the model name, an echo of the user, and tool results used."""
    echo = _words(conversation.last_user, _ECHO_WORDS) or "(no message)"
    text = "[%s] %s" % (conversation.model, echo)
    for result in conversation.tool_results:
        snippet = " ".join(result.output.split())
        if len(snippet) > _TOOL_SNIPPET:
            snippet = snippet[:_TOOL_SNIPPET] + "…"
        text += " — using %s results: %s" % (result.name, snippet)
    return text


# ---------------------------------------------------------------------------------------
# Values from JSON schemas
# ---------------------------------------------------------------------------------------


def example_from_schema(
    schema: Any,
    text: str,
    *,
    fill_optional: bool = False,
    root: Optional[Dict[str, Any]] = None,
    depth: int = 0,
) -> Any:
    """A value matching ``schema``: strings are ``text`` (or the first enum value), numbers
    1 or the minimum, booleans true, arrays empty (or one item when ``minItems`` asks), and
    objects have their required properties (all of them with ``fill_optional``).

    ``$ref`` to ``#/$defs/...`` / ``#/definitions/...``, ``anyOf`` / ``oneOf`` / ``allOf``
    (the first non-null branch) and ``type`` lists are followed.
    """
    root = root if root is not None else _as_dict(schema)
    schema = _as_dict(schema)
    if depth > _SCHEMA_DEPTH:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = _as_dict(target).get(part)
        return example_from_schema(
            target, text, fill_optional=fill_optional, root=root, depth=depth + 1
        )
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf", "allOf"):
        branches = [b for b in schema.get(key) or [] if _as_dict(b).get("type") != "null"]
        if branches:
            return example_from_schema(
                branches[0], text, fill_optional=fill_optional, root=root, depth=depth + 1
            )
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "string":
        value = text or "example"
        return value + "." * max(0, int(schema.get("minLength") or 0) - len(value))
    if kind in ("integer", "number"):
        if isinstance(schema.get("minimum"), (int, float)):
            value: Union[int, float] = schema["minimum"]
        elif isinstance(schema.get("exclusiveMinimum"), (int, float)):
            value = schema["exclusiveMinimum"] + 1
        else:
            value = 1
        if isinstance(schema.get("maximum"), (int, float)) and value > schema["maximum"]:
            value = schema["maximum"]
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "array":
        if int(schema.get("minItems") or 0) > 0:
            item = example_from_schema(
                schema.get("items"), text, fill_optional=fill_optional, root=root, depth=depth + 1
            )
            return [item] * int(schema["minItems"])
        return []
    properties = _as_dict(schema.get("properties"))
    required = schema.get("required") or []
    names = list(properties) if fill_optional else [n for n in required if isinstance(n, str)]
    return {
        name: example_from_schema(
            properties.get(name), text, fill_optional=fill_optional, root=root, depth=depth + 1
        )
        for name in names
    }


# ---------------------------------------------------------------------------------------
# The answer
# ---------------------------------------------------------------------------------------


class _Answer(NamedTuple):
    """What to send: text deltas, or one tool call."""

    deltas: List[str]
    call_id: Optional[str]
    call_name: Optional[str]
    call_arguments: str
    prompt_tokens: int

    @property
    def text(self) -> str:
        return "".join(self.deltas)

    @property
    def argument_pieces(self) -> List[str]:
        args = self.call_arguments
        size = max(1, -(-len(args) // _ARGUMENT_PIECES))
        return [args[i : i + size] for i in range(0, len(args), size)] or [""]

    @property
    def completion_tokens(self) -> int:
        return len(self.argument_pieces) if self.call_name else len(self.deltas)


def _split_words(text: str) -> List[str]:
    """Word-sized deltas (each word with the whitespace after it) that join back to ``text``."""
    return re.findall(r"\S+\s*|\s+", text) or [""]


# ---------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: Tuple[str, int], fake: FakeOpenAI) -> None:
        self.fake = fake
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "KernFakeOpenAI/1.0"
    server: _Server

    # -- plumbing ---------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the fake server does not log requests."""

    def _path(self) -> str:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        return path[3:] if path.startswith("/v1/") or path == "/v1" else path

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, message: str, kind: str, code: Optional[str] = None) -> None:
        self._send_json(
            status, {"error": {"message": message, "type": kind, "param": None, "code": code}}
        )

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, text: str) -> None:
        data = text.encode("utf-8")
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    # -- routes -----------------------------------------------------------------------

    def do_GET(self) -> None:
        path = self._path()
        if path == "/models":
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": m, "object": "model", "created": 0, "owned_by": "kern-fake"}
                        for m in MODELS
                    ],
                },
            )
        elif path.startswith("/models/") and path[len("/models/") :] in MODELS:
            model = path[len("/models/") :]
            self._send_json(
                200, {"id": model, "object": "model", "created": 0, "owned_by": "kern-fake"}
            )
        elif path in ("/chat/completions", "/responses"):
            self._send_error(405, "Use POST for %s." % self.path, "invalid_request_error")
        else:
            self._send_error(
                404, "Unknown path %s." % self.path, "invalid_request_error", "not_found"
            )

    def do_POST(self) -> None:
        path = self._path()
        raw = self._read_body()
        api = {"/chat/completions": "chat", "/responses": "responses"}.get(path)
        if api is None:
            self._send_error(
                404, "Unknown path %s." % self.path, "invalid_request_error", "not_found"
            )
            return
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            self._send_error(400, "The body is not valid JSON: %s" % e, "invalid_request_error")
            return
        if not isinstance(body, dict):
            self._send_error(400, "The body must be a JSON object.", "invalid_request_error")
            return
        fake = self.server.fake
        fake._record(
            RecordedRequest(
                "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body
            )
        )
        conversation = _Conversation(body, api)
        answer = fake._answer(conversation, len(raw))
        stream = body.get("stream") is True
        try:
            if api == "chat" and stream:
                self._stream_chat(conversation, answer)
            elif api == "chat":
                self._complete_chat(conversation, answer)
            elif stream:
                self._stream_responses(conversation, answer)
            else:
                self._complete_responses(conversation, answer)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def _other_method(self) -> None:
        self._read_body()
        if self._path() in ("/chat/completions", "/responses", "/models"):
            self._send_error(405, "Method %s not allowed." % self.command, "invalid_request_error")
        else:
            self._send_error(
                404, "Unknown path %s." % self.path, "invalid_request_error", "not_found"
            )

    do_PUT = do_PATCH = do_DELETE = _other_method

    # -- Chat Completions -------------------------------------------------------------

    def _chat_chunk(
        self, answer_id: str, model: str, delta: Dict[str, Any], finish: Optional[str]
    ) -> str:
        return json.dumps(
            {
                "id": answer_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            },
            ensure_ascii=False,
        )

    def _stream_chat(self, conversation: _Conversation, answer: _Answer) -> None:
        fake = self.server.fake
        answer_id = "chatcmpl-fake-%d" % fake._next_id()
        model = conversation.model
        self._start_stream()

        def send(data: str) -> None:
            self._chunk("data: %s\n\n" % data)

        send(self._chat_chunk(answer_id, model, {"role": "assistant", "content": ""}, None))
        if answer.call_name is None:
            for n, delta in enumerate(answer.deltas):
                fake._pause(n)
                send(self._chat_chunk(answer_id, model, {"content": delta}, None))
            finish = "stop"
        else:
            send(
                self._chat_chunk(
                    answer_id,
                    model,
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": answer.call_id,
                                "type": "function",
                                "function": {"name": answer.call_name, "arguments": ""},
                            }
                        ]
                    },
                    None,
                )
            )
            for n, piece in enumerate(answer.argument_pieces):
                fake._pause(n + 1)
                send(
                    self._chat_chunk(
                        answer_id,
                        model,
                        {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]},
                        None,
                    )
                )
            finish = "tool_calls"
        send(self._chat_chunk(answer_id, model, {}, finish))
        options = conversation.body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            send(
                json.dumps(
                    {
                        "id": answer_id,
                        "object": "chat.completion.chunk",
                        "created": int(time.time()),
                        "model": model,
                        "choices": [],
                        "usage": _chat_usage(answer),
                    }
                )
            )
        send("[DONE]")
        self._end_stream()

    def _complete_chat(self, conversation: _Conversation, answer: _Answer) -> None:
        fake = self.server.fake
        fake._pause_total(answer.completion_tokens)
        message: Dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if answer.call_name is None:
            message["content"] = answer.text
        else:
            message["tool_calls"] = [
                {
                    "id": answer.call_id,
                    "type": "function",
                    "function": {"name": answer.call_name, "arguments": answer.call_arguments},
                }
            ]
        self._send_json(
            200,
            {
                "id": "chatcmpl-fake-%d" % fake._next_id(),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": conversation.model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "stop" if answer.call_name is None else "tool_calls",
                    }
                ],
                "usage": _chat_usage(answer),
            },
        )

    # -- Responses --------------------------------------------------------------------

    def _stream_responses(self, conversation: _Conversation, answer: _Answer) -> None:
        fake = self.server.fake
        response_id = "resp_fake_%d" % fake._next_id()
        sequence = itertools.count()
        self._start_stream()

        def send(name: str, payload: Dict[str, Any]) -> None:
            event = {"type": name, "sequence_number": next(sequence)}
            event.update(payload)
            self._chunk("event: %s\ndata: %s\n\n" % (name, json.dumps(event, ensure_ascii=False)))

        shell = _response_object(response_id, conversation, answer, status="in_progress", output=[])
        send("response.created", {"response": shell})
        send("response.in_progress", {"response": shell})
        if answer.call_name is None:
            item_id = "msg_%s" % response_id[len("resp_") :]
            item = {
                "id": item_id,
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            }
            send("response.output_item.added", {"output_index": 0, "item": item})
            part = {"type": "output_text", "text": "", "annotations": []}
            where = {"item_id": item_id, "output_index": 0, "content_index": 0}
            send("response.content_part.added", dict(where, part=part))
            for n, delta in enumerate(answer.deltas):
                fake._pause(n)
                send("response.output_text.delta", dict(where, delta=delta, logprobs=[]))
            send("response.output_text.done", dict(where, text=answer.text, logprobs=[]))
            send("response.content_part.done", dict(where, part=dict(part, text=answer.text)))
        else:
            item_id = "fc_%s" % response_id[len("resp_") :]
            item = {
                "id": item_id,
                "type": "function_call",
                "status": "in_progress",
                "call_id": answer.call_id,
                "name": answer.call_name,
                "arguments": "",
            }
            send("response.output_item.added", {"output_index": 0, "item": item})
            where = {"item_id": item_id, "output_index": 0}
            for n, piece in enumerate(answer.argument_pieces):
                fake._pause(n)
                send("response.function_call_arguments.delta", dict(where, delta=piece))
            send(
                "response.function_call_arguments.done",
                dict(where, arguments=answer.call_arguments),
            )
        final = _response_object(response_id, conversation, answer, status="completed")
        send("response.output_item.done", {"output_index": 0, "item": final["output"][0]})
        send("response.completed", {"response": final})
        self._end_stream()

    def _complete_responses(self, conversation: _Conversation, answer: _Answer) -> None:
        fake = self.server.fake
        fake._pause_total(answer.completion_tokens)
        response_id = "resp_fake_%d" % fake._next_id()
        self._send_json(
            200, _response_object(response_id, conversation, answer, status="completed")
        )


def _chat_usage(answer: _Answer) -> Dict[str, Any]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _response_object(
    response_id: str,
    conversation: _Conversation,
    answer: _Answer,
    *,
    status: str,
    output: Optional[List[Dict[str, Any]]] = None,
) -> Dict[str, Any]:
    """A Responses API ``response`` object; with ``output=None``, the answer's output items."""
    suffix = response_id[len("resp_") :]
    if output is None:
        if answer.call_name is None:
            output = [
                {
                    "id": "msg_%s" % suffix,
                    "type": "message",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": answer.text, "annotations": []}],
                }
            ]
        else:
            output = [
                {
                    "id": "fc_%s" % suffix,
                    "type": "function_call",
                    "status": "completed",
                    "call_id": answer.call_id,
                    "name": answer.call_name,
                    "arguments": answer.call_arguments,
                }
            ]
    done = status == "completed"
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": conversation.model,
        "output": output,
        "output_text": answer.text if done and answer.call_name is None else "",
        "usage": {
            "input_tokens": answer.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": answer.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": answer.prompt_tokens + answer.completion_tokens,
        }
        if done
        else None,
        "error": None,
        "incomplete_details": None,
    }


class FakeOpenAI:
    """A fake OpenAI server on a background thread (see the module documentation).

    ``port=0`` picks a free port; ``token_delay`` is the pause in seconds between streamed
    deltas; ``tool_calls=False`` never calls tools; ``reply`` (a string, or a callable
    taking the request's JSON body and returning the text or ``None`` for the default)
    replaces the default text answers.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token_delay: float = 0.0,
        tool_calls: bool = True,
        reply: Optional[Reply] = None,
    ) -> None:
        self.host = host
        self.token_delay = max(0.0, float(token_delay))
        self.tool_calls = tool_calls
        self.reply = reply
        self._port = port
        self._lock = threading.Lock()
        self._recorded: List[RecordedRequest] = []
        self._ids = itertools.count(1)
        self._connections: set = set()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        """Binds the port and serves on a daemon thread (no-op when already started)."""
        if self._server is not None:
            return self
        self._server = _Server((self.host, self._port), self)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-openai-%d" % self._port,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving, closes open connections and releases the port."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.base_url if self._server is not None else "stopped"
        return "FakeOpenAI(%s)" % state

    # -- addresses --------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port (the one picked once started, when created with ``port=0``)."""
        return self._port

    @property
    def url(self) -> str:
        """The server's root URL, ``http://127.0.0.1:<port>``."""
        host = self.host if self.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        if ":" in host:
            host = "[%s]" % host
        return "http://%s:%d" % (host, self._port)

    @property
    def base_url(self) -> str:
        """The base URL for OpenAI clients (``OPENAI_BASE_URL``): ``http://127.0.0.1:<port>/v1``."""
        return self.url + "/v1"

    # -- what was received ------------------------------------------------------------

    @property
    def requests(self) -> List[Dict[str, Any]]:
        """The JSON bodies of the model requests received so far, in order (a copy)."""
        with self._lock:
            return [r.body for r in self._recorded]

    @property
    def recorded(self) -> List[RecordedRequest]:
        """The model requests received so far with their method, path and headers (a copy)."""
        with self._lock:
            return list(self._recorded)

    @property
    def request_count(self) -> int:
        """The number of model requests (chat completions and responses) answered so far."""
        with self._lock:
            return len(self._recorded)

    def clear(self) -> None:
        """Forgets the requests received so far."""
        with self._lock:
            self._recorded.clear()

    # -- used by the handler ----------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._recorded.append(request)

    def _track(self, connection: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def _pause(self, n: int) -> None:
        """Waits ``token_delay`` before every delta but the first (``n`` counts from 0)."""
        if n > 0 and self.token_delay > 0:
            time.sleep(self.token_delay)

    def _pause_total(self, deltas: int) -> None:
        """Waits as long as streaming ``deltas`` deltas would (non-streaming answers)."""
        if deltas > 1 and self.token_delay > 0:
            time.sleep(self.token_delay * (deltas - 1))

    def _text(self, conversation: _Conversation) -> str:
        if callable(self.reply):
            text = self.reply(conversation.body)
            if text is not None:
                return str(text)
        elif isinstance(self.reply, str):
            return self.reply
        text = _default_reply(conversation)
        if conversation.schema is not None:
            value = example_from_schema(conversation.schema, text, fill_optional=True)
            return json.dumps(value, ensure_ascii=False)
        return text

    def _answer(self, conversation: _Conversation, size: int) -> _Answer:
        prompt_tokens = max(1, size // 4)
        tool = conversation.tool_to_call() if self.tool_calls else None
        if tool is not None:
            name, schema = tool
            hint = _words(conversation.last_user, _ARG_WORDS).rstrip("…") or "example"
            arguments = example_from_schema(schema or {"type": "object"}, hint)
            if not isinstance(arguments, dict):
                arguments = {}
            call_id = "call_fake_%d" % self._next_id()
            return _Answer(
                [], call_id, name, json.dumps(arguments, ensure_ascii=False), prompt_tokens
            )
        return _Answer(_split_words(self._text(conversation)), None, None, "", prompt_tokens)


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m kern.testing.fake_openai``: serves until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m kern.testing.fake_openai",
        description="A local fake OpenAI server (Chat Completions and Responses, streaming "
        "included) for tests and demos without an API key. It never reaches the internet. "
        "Point clients at it with OPENAI_BASE_URL=<the printed URL> and OPENAI_API_KEY=fake.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")
    parser.add_argument(
        "--token-delay", type=float, default=0.0, help="seconds between streamed deltas (default 0)"
    )
    parser.add_argument(
        "--no-tool-calls", action="store_true", help="always answer with text, never call tools"
    )
    args = parser.parse_args(argv)

    fake = FakeOpenAI(
        host=args.host,
        port=args.port,
        token_delay=args.token_delay,
        tool_calls=not args.no_tool_calls,
    )
    try:
        fake.start()
    except OSError as e:
        print(
            "fake OpenAI server: cannot listen on %s:%s: %s" % (args.host, args.port, e),
            file=sys.stderr,
        )
        return 1
    stopping = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print("fake OpenAI server listening on %s" % fake.base_url, flush=True)
    print(
        "use it with: OPENAI_BASE_URL=%s OPENAI_API_KEY=fake" % fake.base_url,
        file=sys.stderr,
        flush=True,
    )
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
