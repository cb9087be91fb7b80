"""A scripted OpenAI-compatible chat completions server on 127.0.0.1.

The real `openai` client is pointed at it with `OPENAI_BASE_URL`. Answers are
chosen from the request itself (by default: how many messages follow the
system prompt), so a process that crashes and replays sends the same request
and gets the same answer. Every request is recorded with a fingerprint of its
messages, which is how tests count repeated LLM calls.

It refuses what OpenAI refuses, with OpenAI's status codes and error bodies: a
key other than the one it was started with (401), an unknown model (404), and
a request OpenAI would not take (400): a `tool` message that answers no tool
call right before it, an assistant tool call left unanswered, a tool without
`type: "function"`. Those refusals are recorded (`refusals()`), so a harness
can fail a test that sent one instead of letting it stall.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from testing.loopback import LoopbackHTTP

type Script = Callable[[list[dict[str, Any]]], dict[str, Any]]

#: The key a `ScriptedLLM` accepts unless it is started with another one.
DEFAULT_API_KEY = "sk-test-scripted-llm-0000"
#: The model a `ScriptedLLM` serves unless it is started with another one.
DEFAULT_MODEL = "scripted-model"
_ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def fingerprint(messages: list[dict[str, Any]]) -> str:
    """Identity of an LLM call: the conversation it was asked to continue."""
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]


def say(text: str) -> dict[str, Any]:
    return {"content": text}


def cached(answer: dict[str, Any], tokens: int) -> dict[str, Any]:
    """`answer`, reported with `tokens` of its 100 prompt tokens served from OpenAI's prompt cache."""
    return {**answer, "cached_tokens": tokens}


def call_tools(*calls: tuple[str, dict[str, Any] | str]) -> dict[str, Any]:
    return {
        "tool_calls": [
            {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}
            for name, args in calls
        ]
    }


def cut(answer: dict[str, Any], keep: int = 40) -> dict[str, Any]:
    """`answer` cut off at the output limit after `keep` characters, as OpenAI
    sends it (`finish_reason` "length"): the text cut, or the tool calls before
    the limit whole, the one at the limit with its JSON arguments cut, the rest gone."""
    content = answer.get("content") or ""
    out: dict[str, Any] = {"finish_reason": "length", "content": content[:keep] or None}
    left = keep - len(content)
    calls = []
    for call in answer.get("tool_calls") or []:
        if left <= 0:
            break
        calls.append({**call, "arguments": call["arguments"][:left]})
        left -= len(call["arguments"])
    if calls:
        out["tool_calls"] = calls
    return out


def _error(message: str, *, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def _masked(key: str) -> str:
    """How OpenAI echoes a wrong key: its start and its last four characters."""
    if len(key) <= 8:
        return "*" * len(key)
    return key[:3] + "*" * (len(key) - 7) + key[-4:]


def tool_sequence_error(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """OpenAI's 400 body for a broken tool-call sequence in `messages`, or None.

    Every `tool` message must answer a call of the assistant message right
    before it (or before the tool messages that follow that one); every call
    of an assistant message must be answered before the next other message.
    """
    calls: set[str] = set()  # ids of the tool calls of the current assistant message
    unanswered: list[str] = []
    opened = -1  # index of that assistant message, -1 outside a tool block
    for i, m in enumerate(messages):
        if m.get("role") == "tool":
            if "tool_call_id" not in m:
                return _error(
                    "Missing parameter 'tool_call_id': messages with role 'tool' must have a 'tool_call_id'.",
                    param=f"messages.[{i}].tool_call_id", code="missing_required_parameter",
                )
            if opened < 0 or m["tool_call_id"] not in calls:
                return _error(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                    "message with 'tool_calls'.",
                    param=f"messages.[{i}].role",
                )
            if m["tool_call_id"] in unanswered:
                unanswered.remove(m["tool_call_id"])
            continue
        if unanswered:
            return _unanswered(opened, unanswered)
        opened, calls, unanswered = -1, set(), []
        if m.get("role") == "assistant" and m.get("tool_calls"):
            ids = [str(c.get("id")) for c in m["tool_calls"]]
            opened, calls, unanswered = i, set(ids), list(dict.fromkeys(ids))
    return _unanswered(opened, unanswered) if unanswered else None


def _unanswered(index: int, ids: list[str]) -> dict[str, Any]:
    return _error(
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(ids)}",
        param=f"messages.[{index}].role",
    )


def request_error(body: dict[str, Any], model: str) -> tuple[int, dict[str, Any]] | None:
    """(status, OpenAI error body) for a chat completion request OpenAI refuses, or None."""
    if not body.get("model"):
        return 400, _error("you must provide a model parameter")
    if body["model"] != model:
        return 404, {"error": {
            "message": f"The model `{body['model']}` does not exist or you do not have access to it.",
            "type": "invalid_request_error", "param": None, "code": "model_not_found",
        }}
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 400, _error("Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter")
    if not messages:
        return 400, _error(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            param="messages", code="empty_array",
        )
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in _ROLES:
            supported = ", ".join(f"'{r}'" for r in _ROLES)
            return 400, _error(
                f"Invalid value: '{role}'. Supported values are: {supported}.",
                param=f"messages[{i}].role", code="invalid_value",
            )
        content = m.get("content")
        if content is None and not (role == "assistant" and m.get("tool_calls")):
            return 400, _error(
                "Invalid value for 'content': expected a string, got null.", param=f"messages.[{i}].content"
            )
        for j, c in enumerate(m.get("tool_calls") or [] if role == "assistant" else []):
            if c.get("type") != "function" or not isinstance(c.get("function"), dict):
                return 400, _error(
                    f"Missing required parameter: 'messages.[{i}].tool_calls.[{j}].function'.",
                    param=f"messages.[{i}].tool_calls.[{j}].function", code="missing_required_parameter",
                )
    for i, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or tool.get("type") is None:
            return 400, _error(
                f"Missing required parameter: 'tools[{i}].type'.", param=f"tools[{i}].type",
                code="missing_required_parameter",
            )
        if tool["type"] != "function":
            return 400, _error(
                f"Invalid value: '{tool['type']}'. Supported values are: 'function' and 'custom'.",
                param=f"tools[{i}].type", code="invalid_value",
            )
        if not isinstance(tool.get("function"), dict) or not tool["function"].get("name"):
            return 400, _error(
                f"Missing required parameter: 'tools[{i}].function.name'.", param=f"tools[{i}].function.name",
                code="missing_required_parameter",
            )
    broken = tool_sequence_error(messages)
    return (400, broken) if broken else None


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
    refused: str = ""  # OpenAI's error message when the fake refused the request itself
    client_port: int = 0  # the caller's TCP port: which process asked (a worker of several)
    tool_specs: list[dict[str, Any]] = field(default_factory=list)  # the `tools` entries as sent (token counts)


class ScriptedLLM:
    """Start with `with ScriptedLLM(script) as llm:`; base URL in `llm.base_url`."""

    def __init__(
        self,
        script: Script,
        *,
        model: str = DEFAULT_MODEL,
        api_key: str = DEFAULT_API_KEY,
        latency: float | Callable[[], float] = 0.0,
    ) -> None:
        self.script = script
        self.model = model
        self.api_key = api_key
        self.latency = latency
        self.calls: list[LlmCall] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._current = threading.local()  # the call the handler thread is answering
        self.in_flight = threading.Event()
        self.http = LoopbackHTTP(_Handler, self)

    @property
    def base_url(self) -> str:
        return self.http.url("/v1")

    def __enter__(self) -> ScriptedLLM:
        self.http.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.stop()

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

    def refusals(self) -> list[str]:
        """OpenAI's message for every request the fake refused as OpenAI would."""
        return [c.refused for c in self.calls if c.refused]

    # -- HTTP --------------------------------------------------------------------

    def _record(self, body: dict[str, Any]) -> LlmCall:
        messages = body.get("messages") if isinstance(body.get("messages"), list) else []
        call = LlmCall(
            fingerprint=fingerprint(messages),
            messages=messages,
            tools=[str((t.get("function") or {}).get("name")) for t in body.get("tools") or []],
            started=time.monotonic(),
            tool_specs=list(body.get("tools") or []),
        )
        with self._lock:
            self.calls.append(call)
        self._current.call = call
        return call

    def _refuse(self, call: LlmCall, status: int, error: dict[str, Any]) -> tuple[int, dict[str, str], bytes, float]:
        call.refused = error["error"]["message"]
        return status, {}, json.dumps(error).encode(), 0.0

    def _authorize(self, body: dict[str, Any], authorization: str) -> tuple[int, dict[str, str], bytes, float] | None:
        """OpenAI's 401 for a missing or wrong key (checked before anything else)."""
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() == "bearer" and key.strip() == self.api_key:
            return None
        call = self._record(body)
        if not key.strip():
            return self._refuse(call, 401, _error(
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank "
                "username) if you're accessing the API from your browser and are prompted for a username and "
                "password. You can obtain an API key from https://platform.openai.com/account/api-keys."
            ))
        return self._refuse(call, 401, _error(
            f"Incorrect API key provided: {_masked(key.strip())}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        ))

    def _respond(self, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes, float]:
        call = self._record(body)
        messages = call.messages
        refused = request_error(body, self.model)
        if refused is not None:
            return self._refuse(call, *refused)
        with self._lock:
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
        finish_reason = answer.get("finish_reason") or ("tool_calls" if answer.get("tool_calls") else "stop")
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
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {
                "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                # As OpenAI reports it: the part of the prompt its cache served (billed lower).
                "prompt_tokens_details": {"cached_tokens": int(answer.get("cached_tokens", 0)), "audio_tokens": 0},
            },
        }
        return 200, {}, json.dumps(payload).encode(), delay


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        return

    def do_POST(self) -> None:  # noqa: N802
        llm: ScriptedLLM = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if not self.path.endswith("/chat/completions"):
            self._send(404, {}, b'{"error": {"message": "not found"}}')
            return
        body = json.loads(raw)
        refused = llm._authorize(body, self.headers.get("Authorization", ""))
        status, headers, data, delay = refused or llm._respond(body)
        call = llm._current.call
        call.client_port = int(self.client_address[1])
        llm.in_flight.set()
        if delay:
            time.sleep(delay)
        llm.in_flight.clear()
        # Recorded before the bytes leave: the client may read the
        # answer and a test look at `calls` before this thread runs on.
        call.answered, call.status = True, status
        try:
            self._send(status, headers, data)
        except OSError:
            call.answered = False  # the client died while we were slow

    def _send(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
