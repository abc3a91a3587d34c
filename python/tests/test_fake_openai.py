"""The fake OpenAI server over real HTTP on loopback (``http.client`` only)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

from kern.testing.fake_openai import FakeOpenAI, example_from_schema

PYTHON_DIR = Path(__file__).resolve().parents[1]

WEATHER_CHAT_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 2},
                "detailed": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "optional": {"type": "string"},
            },
            "required": ["city", "unit", "days", "detailed", "tags"],
        },
    },
}
FORWARD_CHAT_TOOL = {
    "type": "function",
    "function": {
        "name": "forward_task_to_member",
        "parameters": {
            "type": "object",
            "properties": {"member_id": {"type": "string", "enum": ["a"]}},
            "required": ["member_id"],
        },
    },
}


def responses_tool(chat_tool: Dict[str, Any]) -> Dict[str, Any]:
    """The Responses API shape of a Chat Completions tool (as Kern sends it)."""
    function = chat_tool["function"]
    return {"type": "function", "strict": False, **function}


@pytest.fixture()
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def post(
    fake: FakeOpenAI, path: str, body: Any, raw: Optional[bytes] = None
) -> Tuple[int, Dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=10)
    try:
        data = raw if raw is not None else json.dumps(body).encode("utf-8")
        conn.request(
            "POST",
            path,
            body=data,
            headers={"Content-Type": "application/json", "Authorization": "Bearer fake"},
        )
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def get(fake: FakeOpenAI, path: str) -> Tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def sse(payload: bytes) -> List[Tuple[Optional[str], str]]:
    """(event name, data) of each server-sent event."""
    events = []
    for block in payload.decode("utf-8").split("\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        events.append((name, "\n".join(data)))
    return events


def chat(messages: List[Dict[str, Any]], stream: bool = True, **extra: Any) -> Dict[str, Any]:
    body: Dict[str, Any] = {"model": "gpt-test", "messages": messages, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    body.update(extra)
    return body


def chat_stream(fake: FakeOpenAI, body: Dict[str, Any]) -> Tuple[List[Dict[str, Any]], bool]:
    """The chunks of a streamed chat completion, and whether it ended with [DONE]."""
    status, headers, payload = post(fake, "/v1/chat/completions", body)
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    events = sse(payload)
    assert all(name is None for name, _ in events)
    done = events[-1][1] == "[DONE]"
    return [json.loads(data) for _, data in events if data != "[DONE]"], done


def assemble_chat(
    chunks: List[Dict[str, Any]],
) -> Tuple[List[str], Dict[int, Dict[str, str]], Optional[str], Optional[Dict[str, Any]]]:
    """Text deltas, tool calls by index, finish reason and usage, as Kern's decoder reads them."""
    deltas: List[str] = []
    calls: Dict[int, Dict[str, str]] = {}
    finish = None
    usage = None
    for chunk in chunks:
        assert chunk["object"] == "chat.completion.chunk"
        if chunk.get("usage"):
            usage = chunk["usage"]
        for choice in chunk["choices"]:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                deltas.append(delta["content"])
            for call in delta.get("tool_calls") or []:
                entry = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                if call.get("id"):
                    entry["id"] = call["id"]
                function = call.get("function") or {}
                if function.get("name"):
                    entry["name"] = function["name"]
                entry["arguments"] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
    return deltas, calls, finish, usage


# ---- Chat Completions ------------------------------------------------------------------


def test_chat_stream_text_deltas_usage_and_done(fake: FakeOpenAI) -> None:
    body = chat(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Tell me about durable runtimes for agents please"},
        ]
    )
    chunks, done = chat_stream(fake, body)
    assert done
    deltas, calls, finish, usage = assemble_chat(chunks)
    assert calls == {}
    assert finish == "stop"
    text = "".join(deltas)
    assert text == "[gpt-test] Tell me about durable runtimes for agents please"
    assert len(deltas) > 3  # word-sized deltas
    assert usage is not None
    assert usage["completion_tokens"] == len(deltas)
    assert usage["prompt_tokens"] >= len(json.dumps(body)) // 4 - 1
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    # The first chunk carries the role, the usage chunk no choices (the real shapes).
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"] == []


def test_chat_echo_is_short_and_usage_only_on_request(fake: FakeOpenAI) -> None:
    words = " ".join("w%d" % i for i in range(30))
    body = chat([{"role": "user", "content": words}])
    del body["stream_options"]
    chunks, done = chat_stream(fake, body)
    deltas, _, _, usage = assemble_chat(chunks)
    assert done and usage is None
    assert "".join(deltas) == "[gpt-test] " + " ".join("w%d" % i for i in range(12)) + "…"


def test_chat_tool_call_then_text_after_the_tool_result(fake: FakeOpenAI) -> None:
    messages: List[Dict[str, Any]] = [
        {"role": "user", "content": "What is the weather in Paris today?"}
    ]
    chunks, done = chat_stream(fake, chat(messages, tools=[FORWARD_CHAT_TOOL, WEATHER_CHAT_TOOL]))
    assert done
    deltas, calls, finish, usage = assemble_chat(chunks)
    assert deltas == [] and finish == "tool_calls"
    assert list(calls) == [0]
    call = calls[0]
    assert call["name"] == "get_weather"  # not the forward_* tool
    assert call["id"]
    args = json.loads(call["arguments"])
    assert args == {
        "city": "What is the weather in Paris",
        "unit": "celsius",
        "days": 2,
        "detailed": True,
        "tags": [],
    }
    assert usage is not None and usage["completion_tokens"] >= 1
    # The arguments arrive in several deltas, as from OpenAI.
    pieces = [c for c in chunks if c["choices"] and "tool_calls" in c["choices"][0]["delta"]]
    assert len(pieces) > 2

    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": call["id"],
            "content": "18C and sunny over the whole city, light wind from the west, no rain expected",
        },
    ]
    chunks, done = chat_stream(fake, chat(messages, tools=[FORWARD_CHAT_TOOL, WEATHER_CHAT_TOOL]))
    deltas, calls, finish, _ = assemble_chat(chunks)
    assert done and calls == {} and finish == "stop"
    text = "".join(deltas)
    assert text.startswith("[gpt-test] What is the weather in Paris today?")
    assert (
        "using get_weather results: 18C and sunny over the whole city, light wind from the wes"
        in text
    )

    # A new user message after the tool round calls the tool again.
    messages += [
        {"role": "assistant", "content": text},
        {"role": "user", "content": "And tomorrow?"},
    ]
    chunks, _ = chat_stream(fake, chat(messages, tools=[WEATHER_CHAT_TOOL]))
    _, calls, finish, _ = assemble_chat(chunks)
    assert finish == "tool_calls" and calls[0]["name"] == "get_weather"
    assert fake.request_count == 3


def test_forward_tool_is_the_fallback_and_tool_choice_wins(fake: FakeOpenAI) -> None:
    messages = [{"role": "user", "content": "Bonjour"}]
    _, calls, _, _ = assemble_chat(chat_stream(fake, chat(messages, tools=[FORWARD_CHAT_TOOL]))[0])
    assert calls[0]["name"] == "forward_task_to_member"
    assert json.loads(calls[0]["arguments"]) == {"member_id": "a"}

    choice = {"type": "function", "function": {"name": "forward_task_to_member"}}
    body = chat(messages, tools=[WEATHER_CHAT_TOOL, FORWARD_CHAT_TOOL], tool_choice=choice)
    _, calls, _, _ = assemble_chat(chat_stream(fake, body)[0])
    assert calls[0]["name"] == "forward_task_to_member"

    body = chat(messages, tools=[WEATHER_CHAT_TOOL], tool_choice="none")
    deltas, calls, _, _ = assemble_chat(chat_stream(fake, body)[0])
    assert calls == {} and "".join(deltas) == "[gpt-test] Bonjour"


def test_tool_calls_disabled_and_custom_reply() -> None:
    seen: List[Dict[str, Any]] = []

    def reply(request: Dict[str, Any]) -> str:
        seen.append(request)
        return "custom answer for %s" % request["model"]

    with FakeOpenAI(tool_calls=False, reply=reply) as fake:
        body = chat([{"role": "user", "content": "hi"}], tools=[WEATHER_CHAT_TOOL])
        deltas, calls, _, _ = assemble_chat(chat_stream(fake, body)[0])
        assert calls == {}
        assert "".join(deltas) == "custom answer for gpt-test"
        assert seen == [body]


def test_token_delay_spaces_the_deltas() -> None:
    with FakeOpenAI(token_delay=0.05) as fake:
        start = time.monotonic()
        deltas, _, _, _ = assemble_chat(
            chat_stream(fake, chat([{"role": "user", "content": "one two three four"}]))[0]
        )
        elapsed = time.monotonic() - start
    assert len(deltas) == 5
    assert elapsed >= 0.05 * 4 * 0.9


def test_chat_non_streaming(fake: FakeOpenAI) -> None:
    status, headers, payload = post(
        fake,
        "/v1/chat/completions",
        chat([{"role": "user", "content": "hello there"}], stream=False),
    )
    assert status == 200 and headers["content-type"] == "application/json"
    completion = json.loads(payload)
    assert completion["object"] == "chat.completion"
    choice = completion["choices"][0]
    assert choice["message"] == {
        "role": "assistant",
        "content": "[gpt-test] hello there",
        "refusal": None,
    }
    assert choice["finish_reason"] == "stop"
    assert completion["usage"]["completion_tokens"] == 3

    body = chat(
        [{"role": "user", "content": "weather in Rome"}], stream=False, tools=[WEATHER_CHAT_TOOL]
    )
    completion = json.loads(post(fake, "/v1/chat/completions", body)[2])
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["type"] == "function" and call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"])["city"] == "weather in Rome"


def test_structured_output_is_json_of_the_schema(fake: FakeOpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "score": {"type": "number", "minimum": 3},
            "tags": {"type": "array", "items": {"type": "string"}},
            "kind": {"$ref": "#/$defs/Kind"},
        },
        "required": ["title", "score"],
        "$defs": {"Kind": {"type": "string", "enum": ["news", "blog"]}},
    }
    body = chat(
        [{"role": "user", "content": "summarise"}],
        stream=False,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": schema, "strict": True},
        },
    )
    content = json.loads(post(fake, "/v1/chat/completions", body)[2])["choices"][0]["message"][
        "content"
    ]
    assert json.loads(content) == {
        "title": "[gpt-test] summarise",
        "score": 3,
        "tags": [],
        "kind": "news",
    }


def test_example_from_schema_handles_nesting() -> None:
    schema = {
        "type": "object",
        "properties": {
            "inner": {
                "type": "object",
                "properties": {"n": {"type": ["integer", "null"]}, "x": {"type": "string"}},
                "required": ["n"],
            },
            "choice": {"anyOf": [{"type": "null"}, {"type": "boolean"}]},
        },
        "required": ["inner", "choice"],
    }
    assert example_from_schema(schema, "text") == {"inner": {"n": 1}, "choice": True}


# ---- Responses API ---------------------------------------------------------------------


def responses_body(input_items: Any, stream: bool = True, **extra: Any) -> Dict[str, Any]:
    body: Dict[str, Any] = {
        "model": "gpt-resp",
        "input": input_items,
        "stream": stream,
        "store": False,
    }
    body.update(extra)
    return body


def responses_stream(fake: FakeOpenAI, body: Dict[str, Any]) -> List[Tuple[str, Dict[str, Any]]]:
    status, headers, payload = post(fake, "/v1/responses", body)
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    events = []
    for name, data in sse(payload):
        event = json.loads(data)
        assert name == event["type"]
        events.append((name, event))
    numbers = [e["sequence_number"] for _, e in events]
    assert numbers == list(range(len(events)))
    return events


def test_responses_stream_text(fake: FakeOpenAI) -> None:
    events = responses_stream(
        fake,
        responses_body(
            [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is Kern exactly?"},
            ]
        ),
    )
    names = [n for n, _ in events]
    assert names[0] == "response.created" and names[-1] == "response.completed"
    deltas = [e["delta"] for n, e in events if n == "response.output_text.delta"]
    assert "".join(deltas) == "[gpt-resp] What is Kern exactly?"
    assert len(deltas) == 5
    done = next(e for n, e in events if n == "response.output_text.done")
    assert done["text"] == "".join(deltas)
    response = events[-1][1]["response"]
    assert response["status"] == "completed"
    assert response["output"][0]["type"] == "message"
    assert response["output"][0]["content"][0]["text"] == "".join(deltas)
    usage = response["usage"]
    assert usage["output_tokens"] == len(deltas)
    assert usage["input_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_responses_function_call_then_text(fake: FakeOpenAI) -> None:
    tools = [responses_tool(FORWARD_CHAT_TOOL), responses_tool(WEATHER_CHAT_TOOL)]
    items: List[Dict[str, Any]] = [{"role": "user", "content": "Weather in Oslo?"}]
    events = responses_stream(fake, responses_body(items, tools=tools))
    names = [n for n, _ in events]
    assert "response.output_text.delta" not in names
    added = next(e for n, e in events if n == "response.output_item.added")
    item = added["item"]
    assert item["type"] == "function_call" and item["name"] == "get_weather"
    pieces = [e["delta"] for n, e in events if n == "response.function_call_arguments.delta"]
    assert len(pieces) > 1
    arguments = "".join(pieces)
    done = next(e for n, e in events if n == "response.function_call_arguments.done")
    assert done["arguments"] == arguments and done["item_id"] == item["id"]
    assert json.loads(arguments)["city"] == "Weather in Oslo?"
    final = events[-1][1]["response"]["output"]
    assert final == [
        {
            "id": item["id"],
            "type": "function_call",
            "status": "completed",
            "call_id": item["call_id"],
            "name": "get_weather",
            "arguments": arguments,
        }
    ]

    items += [
        {
            "type": "function_call",
            "call_id": item["call_id"],
            "name": "get_weather",
            "arguments": arguments,
        },
        {"type": "function_call_output", "call_id": item["call_id"], "output": "-3C, snow"},
    ]
    events = responses_stream(fake, responses_body(items, tools=tools))
    text = "".join(e["delta"] for n, e in events if n == "response.output_text.delta")
    assert text == "[gpt-resp] Weather in Oslo? — using get_weather results: -3C, snow"
    assert fake.requests[1]["input"][-1]["type"] == "function_call_output"


def test_responses_non_streaming(fake: FakeOpenAI) -> None:
    status, _, payload = post(
        fake, "/v1/responses", responses_body("just a string input", stream=False)
    )
    assert status == 200
    response = json.loads(payload)
    assert response["object"] == "response" and response["status"] == "completed"
    assert response["output"][0]["content"][0]["text"] == "[gpt-resp] just a string input"
    assert response["output_text"] == "[gpt-resp] just a string input"
    assert response["usage"]["output_tokens"] == 5


# ---- the rest of the HTTP surface ------------------------------------------------------


def test_recorded_requests(fake: FakeOpenAI) -> None:
    first = chat([{"role": "user", "content": "one"}])
    second = responses_body("two", stream=False)
    post(fake, "/v1/chat/completions", first)
    post(fake, "/v1/responses", second)
    assert fake.request_count == 2
    assert fake.requests == [first, second]
    recorded = fake.recorded
    assert [r.path for r in recorded] == ["/v1/chat/completions", "/v1/responses"]
    assert recorded[0].headers["authorization"] == "Bearer fake"
    fake.clear()
    assert fake.request_count == 0 and fake.requests == []


def test_bad_json_is_400(fake: FakeOpenAI) -> None:
    status, headers, payload = post(fake, "/v1/chat/completions", None, raw=b"{not json")
    assert status == 400 and headers["content-type"] == "application/json"
    assert "not valid JSON" in json.loads(payload)["error"]["message"]
    status, _, payload = post(fake, "/v1/responses", None, raw=b"[1, 2]")
    assert status == 400 and "error" in json.loads(payload)
    assert fake.request_count == 0


def test_unknown_path_is_404(fake: FakeOpenAI) -> None:
    status, _, payload = post(fake, "/v1/embeddings", {"input": "x"})
    assert status == 404 and "error" in json.loads(payload)
    status, body = get(fake, "/v1/nothing/here")
    assert status == 404 and body["error"]["code"] == "not_found"


def test_models_list(fake: FakeOpenAI) -> None:
    status, body = get(fake, "/v1/models")
    assert status == 200 and body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert "gpt-4o-mini" in ids


def test_keep_alive_connection_serves_several_requests(fake: FakeOpenAI) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=10)
    try:
        for n in range(3):
            conn.request(
                "POST",
                "/v1/chat/completions",
                body=json.dumps(chat([{"role": "user", "content": "n%d" % n}])),
            )
            response = conn.getresponse()
            assert response.status == 200
            assert sse(response.read())[-1][1] == "[DONE]"
    finally:
        conn.close()
    assert fake.request_count == 3


def test_base_url_and_stop_releases_the_port() -> None:
    fake = FakeOpenAI().start()
    port = fake.port
    assert port > 0
    assert fake.base_url == "http://127.0.0.1:%d/v1" % port
    fake.stop()
    fake.stop()  # idempotent
    with pytest.raises(OSError):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/v1/models")
        conn.getresponse()


def test_cli_prints_its_url_and_stops_on_sigterm() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PYTHON_DIR) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kern.testing.fake_openai", "--port", "0", "--token-delay", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        prefix = "fake OpenAI server listening on http://127.0.0.1:"
        assert line.startswith(prefix) and line.endswith("/v1"), line
        port = int(line[len(prefix) : -len("/v1")])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/v1/models")
        assert conn.getresponse().status == 200
        conn.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
