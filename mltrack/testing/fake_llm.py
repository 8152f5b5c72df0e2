"""A local, deterministic stand-in for LLM vendor APIs, for tests, examples and docs.

:class:`FakeLLMServer` listens on ``127.0.0.1`` and speaks three wire formats well enough
for the official client libraries to use it unchanged through their ``base_url`` option:

* OpenAI Chat Completions: ``POST /v1/chat/completions`` (``stream=True`` with
  ``stream_options={"include_usage": True}`` sends a final usage chunk, like OpenAI);
* OpenAI Responses: ``POST /v1/responses`` (streaming sends ``response.completed`` with usage);
* Anthropic Messages: ``POST /v1/messages`` (streaming sends ``message_start`` and
  ``message_delta`` usage events, like Anthropic).

Replies are deterministic: the text is ``"Reply from MODEL: "`` followed by the last user
message (cut to ``max_tokens`` words), and a token is a whitespace-separated word, so a
test can compute the expected usage. Every call is recorded (API, model, stream flag and
the usage returned) and can be read back with :meth:`FakeLLMServer.calls`, also from
another process through ``GET /_fake/calls``. API keys are never recorded; only whether
one was sent.

Examples:
    >>> from openai import OpenAI
    >>> from mltrack.testing import FakeLLMServer
    >>> with FakeLLMServer() as llm:
    ...     client = OpenAI(base_url=llm.openai_base_url, api_key="sk-fake")
    ...     reply = client.chat.completions.create(
    ...         model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    ...     )

Run it standalone with ``python -m mltrack.testing.fake_llm [--port N]``; the first line
printed is the base URL.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from mltrack._process import exit_with_parent
from mltrack.errors import ServerStartError

__all__ = ["FakeLLMServer", "count_tokens", "fake_reply"]

_CREATED = 1_700_000_000  # fixed timestamp: identical responses in every run
_REPLY_WORDS = 40
# Not ``-m``: the package __init__ already imports this module, which runpy warns about.
_CHILD_MAIN = "import sys; from mltrack.testing.fake_llm import main; main(sys.argv[1:])"


def count_tokens(text: str) -> int:
    """The fake tokenizer: one token per whitespace-separated word."""
    return len(text.split())


def fake_reply(model: str, last_user_text: str, max_tokens: int | None = None) -> str:
    """The deterministic reply the server sends for ``last_user_text``."""
    words = f"Reply from {model}: {last_user_text}".split()[:_REPLY_WORDS]
    if max_tokens is not None:
        words = words[: max(int(max_tokens), 1)]
    return " ".join(words)


def _text_of(content: Any) -> str:
    """Text of an OpenAI/Anthropic message content: a string or a list of parts."""
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
    return ""


def _conversation(body: dict[str, Any], api: str) -> tuple[list[str], str]:
    """All input texts of a request and the last user text."""
    texts: list[str] = []
    if api == "messages" and body.get("system"):
        texts.append(_text_of(body["system"]))
    if api == "responses":
        if body.get("instructions"):
            texts.append(str(body["instructions"]))
        raw = body.get("input", "")
        messages = [{"role": "user", "content": raw}] if isinstance(raw, str) else raw
    else:
        messages = body.get("messages", [])
    last_user = ""
    for message in messages or []:
        if not isinstance(message, dict):
            continue
        text = _text_of(message.get("content", ""))
        texts.append(text)
        if message.get("role", "user") == "user":
            last_user = text
    return texts, last_user


class _Usage:
    def __init__(self, input_tokens: int, output_tokens: int, cached: int) -> None:
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cached = min(cached, input_tokens)

    def as_record(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_input_tokens": self.cached,
        }


def _sse(events: list[tuple[str | None, Any]]) -> bytes:
    """Encode server-sent events; ``None`` as name omits the ``event:`` line."""
    out = []
    for name, data in events:
        payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        out.append((f"event: {name}\n" if name else "") + f"data: {payload}\n\n")
    return "".join(out).encode()


def _pieces(reply: str) -> list[str]:
    words = reply.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


# --- OpenAI Chat Completions ---------------------------------------------------------------


def _chat_usage(u: _Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def _chat_response(n: int, model: str, reply: str, u: _Usage, stream: bool, body: dict) -> bytes:
    ident = f"chatcmpl-fake-{n}"
    base = {"id": ident, "created": _CREATED, "model": model, "system_fingerprint": "fp_fake"}
    if not stream:
        message = {"role": "assistant", "content": reply, "refusal": None}
        choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
        doc = {**base, "object": "chat.completion", "choices": [choice], "usage": _chat_usage(u)}
        return json.dumps(doc).encode()
    chunk = {**base, "object": "chat.completion.chunk"}
    events: list[tuple[str | None, Any]] = []
    first = {"role": "assistant", "content": ""}
    events.append(
        (None, {**chunk, "choices": [{"index": 0, "delta": first, "finish_reason": None}]})
    )
    for piece in _pieces(reply):
        delta = {"content": piece}
        events.append(
            (None, {**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        )
    events.append(
        (None, {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    )
    if (body.get("stream_options") or {}).get("include_usage"):
        events.append((None, {**chunk, "choices": [], "usage": _chat_usage(u)}))
    events.append((None, "[DONE]"))
    return _sse(events)


# --- OpenAI Responses ----------------------------------------------------------------------


def _responses_doc(n: int, model: str, reply: str, u: _Usage, status: str) -> dict[str, Any]:
    done = status == "completed"
    item = {
        "type": "message",
        "id": f"msg_fake_{n}",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": reply, "annotations": [], "logprobs": []}],
    }
    usage = {
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "input_tokens_details": {"cached_tokens": u.cached},
        "output_tokens_details": {"reasoning_tokens": 0},
    }
    return {
        "id": f"resp_fake_{n}",
        "object": "response",
        "created_at": _CREATED,
        "status": status,
        "model": model,
        "output": [item] if done else [],
        "usage": usage if done else None,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "parallel_tool_calls": True,
        "temperature": 1.0,
        "top_p": 1.0,
        "tool_choice": "auto",
        "tools": [],
        "text": {"format": {"type": "text"}},
    }


def _responses_response(n: int, model: str, reply: str, u: _Usage, stream: bool) -> bytes:
    final = _responses_doc(n, model, reply, u, "completed")
    if not stream:
        return json.dumps(final).encode()
    item_id = f"msg_fake_{n}"
    item = final["output"][0]
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    loc = {"item_id": item_id, "output_index": 0, "content_index": 0}
    pending = _responses_doc(n, model, reply, u, "in_progress")
    raw: list[dict[str, Any]] = [
        {"type": "response.created", "response": pending},
        {"type": "response.in_progress", "response": pending},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {**item, "status": "in_progress", "content": []}},
        {"type": "response.content_part.added", **loc, "part": part},
    ]  # fmt: skip
    raw += [
        {"type": "response.output_text.delta", **loc, "delta": p, "logprobs": []}
        for p in _pieces(reply)
    ]
    raw += [
        {"type": "response.output_text.done", **loc, "text": reply, "logprobs": []},
        {"type": "response.content_part.done", **loc, "part": {**part, "text": reply}},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": final},
    ]
    events = [(e["type"], {**e, "sequence_number": i}) for i, e in enumerate(raw)]
    return _sse(events)


# --- Anthropic Messages --------------------------------------------------------------------


def _anthropic_usage(u: _Usage, output_tokens: int) -> dict[str, Any]:
    # Anthropic reports input_tokens excluding the tokens read from the prompt cache.
    return {
        "input_tokens": u.input_tokens - u.cached,
        "output_tokens": output_tokens,
        "cache_read_input_tokens": u.cached,
        "cache_creation_input_tokens": 0,
    }


def _messages_response(n: int, model: str, reply: str, u: _Usage, stream: bool) -> bytes:
    message = {
        "id": f"msg_fake_{n}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": reply}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": _anthropic_usage(u, u.output_tokens),
    }
    if not stream:
        return json.dumps(message).encode()
    start = {**message, "content": [], "stop_reason": None, "usage": _anthropic_usage(u, 1)}
    events: list[tuple[str | None, Any]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"}),
    ]  # fmt: skip
    for piece in _pieces(reply):
        delta = {"type": "text_delta", "text": piece}
        events.append(
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta",
                           "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": u.output_tokens}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return _sse(events)


# --- HTTP plumbing -------------------------------------------------------------------------

_ROUTES = {
    "/v1/chat/completions": "chat.completions",
    "/v1/responses": "responses",
    "/v1/messages": "messages",
}


class _State:
    def __init__(self, cached_input_tokens: int, latency_s: float) -> None:
        self.lock = threading.Lock()
        self.calls: list[dict[str, Any]] = []
        self.cached_input_tokens = cached_input_tokens
        self.latency_s = latency_s

    def record(self, call: dict[str, Any]) -> int:
        with self.lock:
            self.calls.append(call)
            return len(self.calls)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms per call on Linux) and every timing against this server is skewed.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: tests and docs capture stderr

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        doc = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
        self._send(status, json.dumps(doc).encode())

    def do_GET(self) -> None:
        state = self.server.state
        if self.path == "/health":
            self._send(200, b'{"status":"ok"}')
        elif self.path == "/_fake/calls":
            with state.lock:
                self._send(200, json.dumps(state.calls).encode())
        else:
            self._error(404, f"no such endpoint: GET {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path == "/_fake/reset":
            with self.server.state.lock:
                self.server.state.calls.clear()
            self._send(200, b"{}")
            return
        api = _ROUTES.get(self.path.split("?", 1)[0])
        if api is None:
            self._error(404, f"no such endpoint: POST {self.path}")
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._error(400, "request body is not valid JSON")
            return
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            self._error(400, "the request needs a 'model' string")
            return
        self._answer(api, body)

    def _answer(self, api: str, body: dict[str, Any]) -> None:
        state = self.server.state
        model = body["model"]
        stream = bool(body.get("stream"))
        texts, last_user = _conversation(body, api)
        max_tokens = (
            body.get("max_tokens")
            or body.get("max_completion_tokens")
            or body.get("max_output_tokens")
        )
        reply = fake_reply(model, last_user, max_tokens)
        u = _Usage(
            sum(count_tokens(t) for t in texts), count_tokens(reply), state.cached_input_tokens
        )
        has_key = bool(self.headers.get("Authorization") or self.headers.get("x-api-key"))
        include_usage = (
            api != "chat.completions"
            or not stream
            or bool((body.get("stream_options") or {}).get("include_usage"))
        )
        n = state.record(
            {
                "api": api,
                "model": model,
                "stream": stream,
                "reply": reply,
                "usage_sent": include_usage,
                "api_key_sent": has_key,
                **u.as_record(),
            }  # fmt: skip
        )
        if state.latency_s:
            time.sleep(state.latency_s)  # simulated vendor latency, opt-in only
        if api == "chat.completions":
            payload = _chat_response(n, model, reply, u, stream, body)
        elif api == "responses":
            payload = _responses_response(n, model, reply, u, stream)
        else:
            payload = _messages_response(n, model, reply, u, stream)
        self._send(200, payload, "text/event-stream" if stream else "application/json")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: _State) -> None:
        self.state = state
        super().__init__(address, _Handler)


class FakeLLMServer:
    """A fake OpenAI + Anthropic API server on ``127.0.0.1``.

    Use it as a context manager (or call :meth:`start` and :meth:`stop`). By default it
    runs in a daemon thread of this process; ``in_process=False`` runs it in a child
    process (its own process group, killed on :meth:`stop`), which keeps the server off
    this interpreter's GIL, as the benchmark wants.

    Args:
        port: TCP port; 0 picks a free one.
        cached_input_tokens: input tokens reported as served from the prompt cache, per call.
        latency_ms: simulated vendor latency added to every answer.
        in_process: thread in this process (default) or a child process.

    Attributes:
        url: base URL, e.g. ``http://127.0.0.1:50123`` (set once started).
    """

    def __init__(
        self,
        port: int = 0,
        *,
        cached_input_tokens: int = 0,
        latency_ms: float = 0.0,
        in_process: bool = True,
    ) -> None:
        self.port = port
        self.cached_input_tokens = cached_input_tokens
        self.latency_ms = latency_ms
        self.in_process = in_process
        self.url = ""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen[str] | None = None

    @property
    def openai_base_url(self) -> str:
        """``base_url`` for ``openai.OpenAI`` / ``AsyncOpenAI``."""
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """``base_url`` for ``anthropic.Anthropic`` / ``AsyncAnthropic``."""
        return self.url

    def start(self) -> FakeLLMServer:
        """Start serving; returns ``self``. Raises :class:`ServerStartError` on failure."""
        if self.url:
            return self
        if self.in_process:
            state = _State(self.cached_input_tokens, self.latency_ms / 1000)
            self._server = _Server(("127.0.0.1", self.port), state)
            self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="mltrack-fake-llm", daemon=True
            )
            self._thread.start()
        else:
            self._start_process()
        return self

    def _start_process(self) -> None:
        cmd = [sys.executable, "-c", _CHILD_MAIN, "--port", str(self.port),
               "--cached-input-tokens", str(self.cached_input_tokens),
               "--latency-ms", str(self.latency_ms)]  # fmt: skip
        self._process = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line.startswith("http://"):
            self.stop()
            raise ServerStartError("the fake LLM server did not start; run it by hand with "
                                   "`python -m mltrack.testing.fake_llm` to see why")  # fmt: skip
        self.url = line

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._process is not None:
            if self._process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGTERM)
                try:
                    self._process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(self._process.pid, signal.SIGKILL)
                    self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None
        self.url = ""

    def calls(self) -> list[dict[str, Any]]:
        """Every call answered so far: api, model, stream, reply and the usage sent."""
        if self._server is not None:
            with self._server.state.lock:
                return [dict(c) for c in self._server.state.calls]
        with urllib.request.urlopen(self.url + "/_fake/calls", timeout=10) as resp:
            return list(json.loads(resp.read()))

    def reset(self) -> None:
        """Forget the recorded calls."""
        request = urllib.request.Request(self.url + "/_fake/reset", data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m mltrack.testing.fake_llm``: serve until killed."""
    parser = argparse.ArgumentParser(description="Fake OpenAI/Anthropic API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cached-input-tokens", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    state = _State(args.cached_input_tokens, args.latency_ms / 1000)
    server = _Server(("127.0.0.1", args.port), state)
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Never outlive the process that started us, even if it was killed with SIGKILL.
    exit_with_parent()
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
