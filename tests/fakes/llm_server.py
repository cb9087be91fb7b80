"""A scripted OpenAI-compatible chat completions server on 127.0.0.1.

The real `openai` client is pointed at it with `OPENAI_BASE_URL`. Answers are
chosen from the request itself (by default: how many messages follow the
system prompt), so a process that crashes and replays sends the same request
and gets the same answer. Every request is recorded with a fingerprint of its
messages, which is how tests count repeated LLM calls.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

type Script = Callable[[list[dict[str, Any]]], dict[str, Any]]


def fingerprint(messages: list[dict[str, Any]]) -> str:
    """Identity of an LLM call: the conversation it was asked to continue."""
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]


def say(text: str) -> dict[str, Any]:
    return {"content": text}


def call_tools(*calls: tuple[str, dict[str, Any] | str]) -> dict[str, Any]:
    return {
        "tool_calls": [
            {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}
            for name, args in calls
        ]
    }


@dataclass
class Fault:
    """What to do instead of (or before) answering one request."""

    status: int = 0  # answer with this HTTP status and an OpenAI-style error body
    code: str = ""
    message: str = "scripted failure"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a slow LLM)
    raw_body: bytes | None = None  # send these bytes as a 200 body (garbage)


@dataclass
class LlmCall:
    fingerprint: str
    messages: list[dict[str, Any]]
    tools: list[str]
    started: float
    answered: bool = False
    status: int = 0


class ScriptedLLM:
    """Start with `with ScriptedLLM(script) as llm:`; base URL in `llm.base_url`."""

    def __init__(
        self, script: Script, *, model: str = "scripted-model", latency: float | Callable[[], float] = 0.0
    ) -> None:
        self.script = script
        self.model = model
        self.latency = latency
        self.calls: list[LlmCall] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.in_flight = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> ScriptedLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    # -- assertions --------------------------------------------------------------

    def answered(self) -> list[LlmCall]:
        return [c for c in self.calls if c.answered and c.status == 200]

    def repeated_answers(self) -> list[str]:
        """Fingerprints answered successfully more than once (paid twice)."""
        seen: dict[str, int] = {}
        for c in self.answered():
            seen[c.fingerprint] = seen.get(c.fingerprint, 0) + 1
        return [f for f, n in seen.items() if n > 1]

    # -- HTTP --------------------------------------------------------------------

    def _respond(self, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes, float]:
        messages = body.get("messages", [])
        call = LlmCall(
            fingerprint=fingerprint(messages),
            messages=messages,
            tools=[t["function"]["name"] for t in body.get("tools", []) or []],
            started=time.monotonic(),
        )
        with self._lock:
            self.calls.append(call)
            fault = self.faults.pop(0) if self.faults else None
        base = self.latency() if callable(self.latency) else self.latency
        delay = base + (fault.delay if fault else 0.0)
        if fault and fault.raw_body is not None:
            return 200, {}, fault.raw_body, delay
        if fault and fault.status:
            err = {"error": {"message": fault.message, "type": "scripted", "code": fault.code or None}}
            return fault.status, fault.headers, json.dumps(err).encode(), delay
        answer = self.script([m for m in messages if m.get("role") != "system"])
        message: dict[str, Any] = {"role": "assistant", "content": answer.get("content")}
        if answer.get("tool_calls"):
            message["tool_calls"] = [
                {
                    "id": f"call_{call.fingerprint}_{i}",
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for i, c in enumerate(answer["tool_calls"])
            ]
        payload = {
            "id": f"chatcmpl-{call.fingerprint}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        }
        return 200, {}, json.dumps(payload).encode(), delay

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        llm = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                if not self.path.endswith("/chat/completions"):
                    self._send(404, {}, b'{"error": {"message": "not found"}}')
                    return
                status, headers, data, delay = llm._respond(json.loads(raw))
                call = llm.calls[-1]
                llm.in_flight.set()
                if delay:
                    time.sleep(delay)
                llm.in_flight.clear()
                try:
                    self._send(status, headers, data)
                    call.answered, call.status = True, status
                except OSError:
                    pass  # the client died while we were slow

            def _send(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()

        return Handler
