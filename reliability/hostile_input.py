"""Hostile and broken input (issue 5, item 5), through a real `travel-planner run`.

One bot process serves every case (`SCRAPE_ALLOW_HOSTS` empty, so the page
reader trusts no internal address at all):

- HTTP level, aimed at a "canary" trip that waits for an answer: missing and
  invalid signatures, replayed (old) and future timestamps, malformed JSON and
  form bodies, non-UTF-8, oversize bodies, odd field types. Each forged request
  carries a reply token that must never reach the LLM; each malformed one
  must get a clear 4xx; afterwards the canary must still take its real
  answers, once each.
- Trip level, one trip per case, concurrently: odd Unicode (RTL overrides,
  zero-width, emoji ZWJ, combining marks, NUL, lone surrogates in JSON
  escapes) in the request, in replies and in the model's own output;
  40,000-character request and reply; LLM answers with null or empty content
  and broken bodies; invalid tool JSON, unknown tools, huge arguments; garbage
  JSON from the search provider; the SSRF corpus (the LLM asks scrape_website
  for loopback, private and metadata URLs in every spelling while a server
  listens on every local address: it must see no request).

A row passes when the outcome is the expected one and nothing was lost: every
real answer reached the LLM exactly once, the trip posted its plan once, and
nothing was posted twice.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import hmac
import json
import random
import secrets
import shutil
import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from reliability.chaos_delivery import Case, HookedSerper, Rig, user_answers, workdir_for
from reliability.profile import Profile
from reliability.table import Table
from testing.bot_process import CHANNEL, SIGNING_SECRET
from testing.fakes.llm_server import call_tools, say
from testing.fakes.slack_api import BOT_USER_ID
from testing.fakes.slack_requests import (
    FORM,
    JSON,
    app_mention,
    as_message_event,
    event_envelope,
    send,
    slash_command,
    thread_reply,
)

COLUMNS = ["case", "expected", "got", "nothing lost", "violations"]
MUST_BE_ZERO = ("violations",)

#: Odd but valid Unicode: RTL override, emoji ZWJ family, zero-width chars,
#: combining marks (zalgo), NUL.
RTL = "\u202eesrever\u202c"
ZWJ_FAMILY = "\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
ZERO_WIDTH = "zero\u200b\u200c\u200d\ufeffwidth"
ZALGO = "Z\u0337\u0322\u0348a\u0334l\u0335g\u0336o\u0338"
NUL = "nul\x00byte"
ODD = f"{RTL} {ZWJ_FAMILY} {ZERO_WIDTH} {ZALGO} {NUL}"
LONG = 40_000


@dataclass
class Row:
    case: str
    expected: str
    got: str
    nothing_lost: bool
    violations: list[str] = field(default_factory=list)

    def cells(self) -> list[Any]:
        return [self.case, self.expected, self.got, "yes" if self.nothing_lost else "NO", len(self.violations)]


# ---------------------------------------------------------------------------
# signing raw bytes (the fakes' helper signs text)


def sign(body: bytes, *, secret: str = SIGNING_SECRET, timestamp: str | int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + digest}


def _detail(text: str) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        data = json.loads(text)
        return str(data.get("detail") or data.get("error") or "")[:70]
    return " ".join(text.split())[:70]


# ---------------------------------------------------------------------------
# HTTP level: forged and malformed requests at a waiting trip


@dataclass
class HttpCase:
    name: str
    expected: int
    build: Callable[[], tuple[bytes, dict[str, str]]]
    clear_error: bool = True  # a 4xx must say what is wrong


def http_cases(rig: Rig, canary: Case, forged: list[str]) -> list[HttpCase]:
    def forged_body(name: str) -> bytes:
        token = f"forged-{name}-{secrets.token_hex(3)}"
        forged.append(token)
        event = thread_reply(CHANNEL, canary.root_ts, f"answer {token}", user="U0EVE", ts=rig.api.next_ts())
        return json.dumps(event_envelope(event)).encode()

    def signed(body: bytes, content_type: str = JSON, **kw: Any) -> tuple[bytes, dict[str, str]]:
        return body, {"Content-Type": content_type, **sign(body, **kw)}

    def unsigned(name: str, drop: tuple[str, ...]) -> Callable[[], tuple[bytes, dict[str, str]]]:
        def build() -> tuple[bytes, dict[str, str]]:
            body, headers = signed(forged_body(name))
            return body, {k: v for k, v in headers.items() if k not in drop}

        return build

    def with_headers(name: str, **kw: Any) -> Callable[[], tuple[bytes, dict[str, str]]]:
        return lambda: signed(forged_body(name), **kw)

    def tampered() -> tuple[bytes, dict[str, str]]:
        body, headers = signed(forged_body("tampered"))
        return body.replace(b'"U0EVE"', b'"U0ANA"'), headers

    def other_body() -> tuple[bytes, dict[str, str]]:
        body = forged_body("other-body")
        _, headers = signed(forged_body("decoy"))
        return body, headers

    def v1() -> tuple[bytes, dict[str, str]]:
        body, headers = signed(forged_body("v1"))
        headers["X-Slack-Signature"] = headers["X-Slack-Signature"].replace("v0=", "v1=")
        return body, headers

    now = int(time.time())
    thread_event = lambda **fields: json.dumps(  # noqa: E731
        event_envelope({**thread_reply(CHANNEL, canary.root_ts, "odd", user="U0EVE", ts=rig.api.next_ts()), **fields})
    ).encode()
    def elsewhere() -> bytes:  # a reply in a thread that is no trip
        event = thread_reply(CHANNEL, rig.api.next_ts(), "not a trip", user="U0EVE", ts=rig.api.next_ts())
        return json.dumps(event_envelope(event)).encode()

    deep = ("[" * 100_000 + "]" * 100_000).encode()
    too_big = json.dumps({"type": "event_callback", "pad": "x" * (1024 * 1024 + 10)}).encode()

    return [
        HttpCase("no signature headers", 401, unsigned("no-headers", ("X-Slack-Signature", "X-Slack-Request-Timestamp"))),
        HttpCase("signature header missing", 401, unsigned("no-signature", ("X-Slack-Signature",))),
        HttpCase("timestamp header missing", 401, unsigned("no-timestamp", ("X-Slack-Request-Timestamp",))),
        HttpCase("wrong signing secret", 401, with_headers("wrong-secret", secret="not-the-secret-0123456789abcdef")),
        HttpCase("signature of another body", 401, other_body),
        HttpCase("body changed after signing", 401, tampered),
        HttpCase("signature scheme v1=", 401, v1),
        HttpCase("replayed: timestamp 6 min old", 401, with_headers("stale-6min", timestamp=now - 360)),
        HttpCase("replayed: timestamp 1 day old", 401, with_headers("stale-1day", timestamp=now - 86_400)),
        HttpCase("timestamp 6 min in the future", 401, with_headers("future", timestamp=now + 360)),
        HttpCase("timestamp not a number", 401, with_headers("ts-nan", timestamp="abc")),
        HttpCase("timestamp with a fraction", 401, with_headers("ts-float", timestamp=f"{now}.5")),
        HttpCase("timestamp empty", 401, with_headers("ts-empty", timestamp="")),
        HttpCase("truncated JSON", 400, lambda: signed(b'{"type": "event_callback", "event": {"type": "mess')),
        HttpCase("JSON array", 400, lambda: signed(b"[1, 2, 3]")),
        HttpCase("JSON null", 400, lambda: signed(b"null")),
        HttpCase("JSON string", 400, lambda: signed(b'"event_callback"')),
        HttpCase("JSON nested 100,000 deep", 400, lambda: signed(deep)),
        HttpCase("event_callback without event", 400, lambda: signed(b'{"type": "event_callback", "event_id": "Ev1"}')),
        HttpCase("event without a type", 400, lambda: signed(b'{"type": "event_callback", "event": {"text": "hi"}}')),
        HttpCase("form payload= that is not JSON", 400, lambda: signed(b"payload=%7Bnot+json", FORM)),
        HttpCase(
            "slash command without channel_id", 400,
            lambda: signed(urlencode({"command": "/plan-trip", "team_id": "T0001", "user_id": "U0ANA", "text": "x"}).encode(), FORM),
        ),
        HttpCase("form body of garbage", 400, lambda: signed(b"%%%&&&===\x7f", FORM)),
        HttpCase("body not UTF-8", 400, lambda: signed(b'{"type": "event_callback", "x": "\xff\xfe\xfa"}')),
        HttpCase("empty body", 400, lambda: signed(b"")),
        # Signed, so from Slack: Bolt reads a body starting with "{" as JSON whatever the type says.
        HttpCase("JSON sent as a form", 200, lambda: signed(elsewhere(), FORM), clear_error=False),
        HttpCase("body over 1 MB", 413, lambda: signed(too_big), clear_error=False),
        HttpCase(
            "event with odd field types", 200,
            lambda: signed(thread_event(text={"t": "odd-object"}, user=["U0EVE"], files="nope", blocks=7)),
            clear_error=False,
        ),
        HttpCase("event with a numeric ts", 200, lambda: signed(thread_event(ts=12.5, text=7)), clear_error=False),
    ]


def run_http_cases(rig: Rig, canary: Case) -> tuple[list[Row], list[str]]:
    forged: list[str] = []
    rows = []
    for case in http_cases(rig, canary, forged):
        body, headers = case.build()
        try:
            status, text, _ = send(rig.bot.events_url, body, headers)
        except Exception as exc:  # the bot hung up: that is a result too
            status, text = 0, f"{type(exc).__name__}: {exc}"
        violations = []
        if status != case.expected:
            violations.append(f"answered {status}, expected {case.expected}: {text[:200]}")
        if case.clear_error and status == 400 and not _detail(text):
            violations.append("400 without a detail")
        got = f"{status} {_detail(text)}".strip() if status >= 400 else f"{status}"
        rows.append(Row(f"http: {case.name}", str(case.expected), got, True, violations))
    return rows, forged


# ---------------------------------------------------------------------------
# trip level


class ScriptedCase(Case):
    """A Case whose LLM script is given; it may keep state (LLM calls are not
    repeated without a crash)."""

    def __init__(self, rig: Rig, name: str, answers: int, script: Callable[[ScriptedCase, list[dict[str, Any]]], dict[str, Any]]) -> None:
        super().__init__(rig, name, answers)
        self._script = script
        self.calls = 0
        self.seen: dict[str, Any] = {}

    def script(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        return self._script(self, messages)

    def generic(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return Case.script(self, messages)


def tool_results(messages: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], str]]:
    """(tool name, raw arguments, result) of the latest research round."""
    calls: dict[str, tuple[str, Any]] = {}
    for m in messages:
        for c in m.get("tool_calls") or []:
            calls[c["id"]] = (c["function"]["name"], c["function"]["arguments"])
    last_assistant = max((i for i, m in enumerate(messages) if m.get("tool_calls")), default=-1)
    out = []
    for m in messages[last_assistant + 1:]:
        if m.get("role") == "tool":
            name, args = calls.get(m.get("tool_call_id"), ("?", ""))
            out.append((name, args, str(m.get("content") or "")))
    return out


def auto_answer(case: Case, timeout: float, first: int = 0, user: str = "U0ANA") -> None:
    """Answer each new question with the next token until the plan is posted."""
    deadline = time.monotonic() + timeout
    answered = 0
    i = first
    while time.monotonic() < deadline:
        if case.plans():
            case.wait_plan(max(1.0, deadline - time.monotonic()))
            return
        asked = len(case.questions())
        if asked > answered and i < len(case.tokens):
            answered = asked
            case.deliver(case.reply_event(i, user))
            i += 1
        time.sleep(0.02)
    raise AssertionError(f"{case.name}: no plan within {timeout:g} s")


def trip_row(case: Case, expected: str, got: str, extra: list[str], seconds: float, error: str = "") -> Row:
    outcome = case.outcome(seconds, error)
    violations = list(extra)
    if outcome.error:
        violations.append(outcome.error)
    if outcome.lost:
        violations.append(f"{outcome.lost} answer(s) lost")
    if outcome.duplicates:
        violations.append(f"{outcome.duplicates} answer(s) seen twice")
    if outcome.dup_posts:
        violations.append(f"{outcome.dup_posts} duplicate post(s)")
    plans = len({str(((m.get("metadata") or {}).get("event_payload") or {}).get("step")) for m in case.plans()})
    if plans != 1:
        violations.append(f"{plans} plans posted")
    lost_nothing = not (outcome.lost or outcome.duplicates or outcome.dup_posts or outcome.error) and plans == 1
    return Row(f"trip: {case.name}", expected, got, lost_nothing, violations)


def _drive(case: Case, body: Callable[[], tuple[str, list[str]]], expected: str) -> Row:
    started = time.monotonic()
    got, extra, error = "", [], ""
    try:
        got, extra = body()
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        got = got or "did not finish"
    finally:
        case.close()
    return trip_row(case, expected, got, extra, time.monotonic() - started, error)


def _raw_request_body(case: Case, text_with_placeholders: str, replacements: dict[str, str], i: int, user: str) -> str:
    """A reply event whose JSON text carries raw escapes (lone surrogates)."""
    event = case.reply_event(i, user)
    event["text"] = text_with_placeholders
    event.pop("blocks", None)
    body = json.dumps(event_envelope(event))
    for placeholder, escape in replacements.items():
        body = body.replace(placeholder, escape)
    return body


# -- odd Unicode -----------------------------------------------------------------


def case_unicode_request(rig: Rig, timeout: float) -> Row:
    case = ScriptedCase(rig, "unicode_request", 1, lambda c, m: c.generic(m))

    def body() -> tuple[str, list[str]]:
        request = f"[case:{case.name}] Lisbon {ODD} <!channel> ENDMARK"
        form = slash_command(request, channel_id=CHANNEL, user_id="U0ANA", response_url=rig.api.response_url())
        form = form.replace("ENDMARK", "ENDMARK%ED%A0%80")  # a UTF-8-encoded surrogate: invalid UTF-8
        status, text, _ = send(rig.bot.events_url, form.encode(), {"Content-Type": FORM, **sign(form.encode())})
        if status != 200:
            return f"/plan-trip answered {status}", [text[:200]]
        roots = rig.api.wait_for(
            lambda: [p for p in rig.api.posts(CHANNEL) if not p.get("thread_ts") and f"[case:{case.name}]" in p.get("text", "")],
            timeout=20,
        )
        case.root_ts = str(roots[0]["ts"])
        auto_answer(case, timeout)
        request_seen = str(rig.llm_calls(case.name)[0].messages[1]["content"])
        kept = [n for n, s in (("RTL", RTL), ("ZWJ", ZWJ_FAMILY), ("zero-width", ZERO_WIDTH), ("combining", ZALGO), ("NUL", NUL)) if s in request_seen]
        problems = [] if len(kept) == 5 else [f"request reached the LLM without {5 - len(kept)} of the odd strings"]
        if "<!channel>" in roots[0].get("text", ""):
            problems.append("the root message pings the channel")
        if len(roots) != 1:
            problems.append(f"{len(roots)} root messages")
        bad_utf8 = "\ufffd" if "ENDMARK\ufffd" in request_seen else "dropped" if "ENDMARK" in request_seen else "?"
        return f"planned; LLM got {'/'.join(kept)}; bad UTF-8 -> {bad_utf8!r}", problems

    return _drive(case, body, "trip starts, request intact")


def case_unicode_replies(rig: Rig, timeout: float) -> Row:
    case = ScriptedCase(rig, "unicode_replies", 3, lambda c, m: c.generic(m))

    def body() -> tuple[str, list[str]]:
        case.start()
        case.wait_questions(1)
        event = case.reply_event(0, "U0ANA")
        event["text"] = f"answer {case.tokens[0]} {ODD}"
        case.deliver(event)
        case.wait_questions(2)
        raw = _raw_request_body(
            case, f"answer {case.tokens[1]} LONE_HIGH LONE_LOW PAIR",
            {"LONE_HIGH": "\\ud800", "LONE_LOW": "\\udfff", "PAIR": "\\ud83d\\ude00"}, 1, "U0BEN",
        )
        status, text, _ = rig.post(raw)
        case.deliveries += 1
        if status != 200:
            return f"reply with lone surrogates answered {status}", [text[:200]]
        case.wait_questions(3)
        mention = app_mention(
            CHANNEL, f"<@{BOT_USER_ID}> answer {case.tokens[2]} {ZALGO}{ZWJ_FAMILY}", user="U0CAT",
            ts=rig.api.next_ts(), thread_ts=case.root_ts,
        )
        case.ts[case.tokens[2]] = mention["ts"]
        case.deliver(mention)
        case.deliver(as_message_event(mention))
        case.wait_plan(timeout)
        seen = "\n".join(user_answers([m for m in rig.llm_calls(case.name)[-1].messages if m["role"] != "system"]))
        problems = []
        if ODD not in seen:
            problems.append("the odd Unicode of reply 1 did not reach the LLM intact")
        if "\U0001f600" not in seen:
            problems.append("a valid escaped surrogate pair did not reach the LLM as one emoji")
        lone = "kept lone" if "\ud800" in seen else "U+FFFD" if "\ufffd" in seen else "dropped"
        return f"planned; odd text intact; lone surrogates -> {lone}", problems

    return _drive(case, body, "each reply once, text intact")


def case_unicode_model_output(rig: Rig, timeout: float) -> Row:
    def script(c: ScriptedCase, messages: list[dict[str, Any]]) -> dict[str, Any]:
        answers = user_answers(messages)
        if not answers:
            return say(f"Question 1 {ODD} lone\ud83d here {c.name}?")
        if messages[-1]["role"] == "user":
            return call_tools(("internet_search", {"search_query": f"{c.name} \udfff {ZWJ_FAMILY}", "num_results": 2}))
        return say(f"# Plan {ODD} \ud800\n\n" + "\n".join(answers) + "\n\nTRIP PLANNING COMPLETE")

    case = ScriptedCase(rig, "unicode_model_output", 1, script)

    def body() -> tuple[str, list[str]]:
        case.start()
        auto_answer(case, timeout)
        questions = case.rig.of_kind(case.root_ts, "ask")
        problems = [] if len(questions) == 1 else [f"{len(questions)} questions posted"]
        return "question, search and plan posted once", problems

    return _drive(case, body, "posted once, trip goes on")


# -- 40,000 characters -------------------------------------------------------------


def _filler(n: int, rnd: random.Random) -> str:
    words = ["lisbon", "tram", "pastel", "fado", "alfama", "river", "miradouro", "sardine"]
    out: list[str] = []
    size = 0
    while size < n:
        w = rnd.choice(words)
        out.append(w)
        size += len(w) + 1
    return " ".join(out)[:n]


def case_long_reply(rig: Rig, timeout: float) -> Row:
    case = ScriptedCase(rig, "long_reply", 2, lambda c, m: c.generic(m))

    def body() -> tuple[str, list[str]]:
        case.start()
        case.wait_questions(1)
        event = case.reply_event(0, "U0ANA")
        case.ts[case.tokens[1]] = event["ts"]
        head, tail = f"answer {case.tokens[0]} ", f" {case.tokens[1]}"
        event["text"] = head + _filler(LONG - len(head) - len(tail), random.Random(1)) + tail
        event.pop("blocks", None)
        case.deliver(event, 2)
        case.wait_plan(timeout)
        parts = [p for p in case.plans()]
        return f"planned; 40,000-char answer read once; plan in {len(parts)} parts", []

    return _drive(case, body, "read once, plan split")


def case_long_request(rig: Rig, timeout: float) -> Row:
    case = ScriptedCase(rig, "long_request", 1, lambda c, m: c.generic(m))

    def body() -> tuple[str, list[str]]:
        head, tail = f"[case:{case.name}] ", " ENDOFREQUEST"
        request = head + _filler(LONG - len(head) - len(tail), random.Random(2)) + tail
        case.root_ts = rig.start_trip(request)
        auto_answer(case, timeout)
        first = str(rig.llm_calls(case.name)[0].messages[1]["content"])
        problems = [] if first.endswith("ENDOFREQUEST") else ["the request reached the LLM cut"]
        roots = [p for p in rig.api.posts(CHANNEL) if not p.get("thread_ts") and f"[case:{case.name}]" in p.get("text", "")]
        if len(roots) != 1:
            problems.append(f"{len(roots)} root messages")
        return f"planned; LLM got all {len(first):,} chars of the request", problems

    return _drive(case, body, "trip starts, request whole")


# -- the LLM answering nothing, or garbage ---------------------------------------------


EMPTY_NOTICE = "keeps answering with nothing"


def case_llm_empty(rig: Rig, timeout: float) -> Row:
    """null content, "" and whitespace in a row: the thread is told, a reply resumes."""

    def script(c: ScriptedCase, messages: list[dict[str, Any]]) -> dict[str, Any]:
        if c.calls == 1:
            return {"content": None}
        if c.calls == 2:
            return say("")
        if c.calls == 3:
            return say("   \n ")
        return c.generic(messages)

    case = ScriptedCase(rig, "llm_empty", 2, script)

    def body() -> tuple[str, list[str]]:
        case.start()
        auto_answer(case, timeout)
        asks = [m.get("text", "") for m in rig.of_kind(case.root_ts, "ask")]
        told = sum(EMPTY_NOTICE in a for a in asks)
        problems = [] if told == 1 else [f"the thread was told {told} times"]
        return f"2 nudges, thread told once, reply resumed ({case.calls} LLM calls)", problems

    return _drive(case, body, "told once, resumes")


def case_llm_garbage(rig: Rig, timeout: float) -> Row:
    """A 200 that is not JSON, no choices, a tool call without a function."""

    def script(c: ScriptedCase, messages: list[dict[str, Any]]) -> dict[str, Any]:
        if c.calls == 1:
            return {"_raw": b"<html>502 Bad Gateway</html>"}
        if c.calls == 2:
            return {"_raw": json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []}).encode()}
        if c.calls == 3:
            message = {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": None}]}
            return {"_raw": json.dumps({
                "id": "x", "object": "chat.completion", "created": 0, "model": "m",
                "choices": [{"index": 0, "finish_reason": "tool_calls", "message": message}],
            }).encode()}
        return c.generic(messages)

    case = ScriptedCase(rig, "llm_garbage", 1, script)

    def body() -> tuple[str, list[str]]:
        case.start()
        auto_answer(case, timeout)
        notices = rig.of_kind(case.root_ts, "notice")
        return f"recovered after {case.calls - 1} LLM calls; {len(notices)} notice(s)", []

    return _drive(case, body, "recovers, trip goes on")


# -- broken tool calls -------------------------------------------------------------------


def case_broken_tools(rig: Rig, timeout: float) -> Row:
    huge = "x" * 60_000
    long_ok = "broken_tools long " + "y" * 15_000

    def script(c: ScriptedCase, messages: list[dict[str, Any]]) -> dict[str, Any]:
        answers = user_answers(messages)
        if c.calls == 1:
            return call_tools(
                ("internet_search", '{"search_query": "lisbon'),
                ("book_flight", {"to": "LIS"}),
                ("internet_search", {"search_query": huge}),
                ("internet_search", "null"),
                ("internet_search", "[1, 2]"),
                ("internet_search", {"search_query": "broken_tools typed", "num_results": "five"}),
                ("scrape_website", {}),
                ("finish_trip", {}),
                ("internet_search", {"search_query": long_ok}),
                ("internet_search", {"search_query": "broken_tools valid", "num_results": 99}),
            )
        if c.calls == 2:
            c.seen["round"] = tool_results(messages)
            return say(f"Question 1 for {c.name}?")
        if messages[-1]["role"] == "user":
            return call_tools(("finish_trip", {"plan": f"# Plan {c.name}\n\n" + "\n".join(answers)}))
        return say("unreachable")

    case = ScriptedCase(rig, "broken_tools", 1, script)

    def body() -> tuple[str, list[str]]:
        case.start()
        auto_answer(case, timeout)
        results = case.seen.get("round", [])
        errors = [r for r in results if r[2].startswith("Error:")]
        ran = [r for r in results if not r[2].startswith("Error:")]
        problems = []
        if len(results) != 10:
            problems.append(f"{len(results)} tool results for 10 calls")
        if len(errors) != 8 or len(ran) != 2:
            problems.append(f"{len(errors)} errors and {len(ran)} results, expected 8 and 2")
        queries = [json.loads(b).get("q", "") for p, b in rig.serper.requests if "broken_tools" in b]
        if sorted(len(q) for q in queries) != sorted([len("broken_tools valid"), 400]):
            problems.append(f"search provider got {[q[:30] for q in queries]}")
        sizes = max(len(json.dumps(c.messages)) for c in rig.llm_calls(case.name))
        return f"8 error strings to the LLM, 2 ran; largest LLM request {sizes:,} chars", problems

    return _drive(case, body, "errors to the LLM, trip goes on")


# -- garbage from the search provider -------------------------------------------------------


GARBAGE: dict[str, tuple[str, bytes]] = {
    "html": ("text/html", b"<html><body>502 Bad Gateway</body></html>"),
    "truncated": ("application/json", b'{"organic": [{"title": "Lis'),
    "array": ("application/json", b"[1, 2, 3]"),
    "null": ("application/json", b"null"),
    "empty": ("application/json", b""),
    "wrong_shape": ("application/json", b'{"organic": "none", "answerBox": [1], "knowledgeGraph": "x"}'),
    "bad_items": (
        "application/json",
        b'{"organic": [null, 7, "s", {"link": 5}, {"link": "javascript:alert(1)"},'
        b' {"title": {"x": 1}, "link": "https://ok.example/a", "snippet": ["a"]}]}',
    ),
    "nan": ("application/json", b'{"organic": [{"title": NaN, "link": "https://ok.example/nan", "snippet": Infinity}]}'),
    "lone_surrogates": (
        "application/json",
        b'{"organic": [{"title": "bad \\ud800 title", "link": "https://ok.example/s", "snippet": "\\udfff"}]}',
    ),
    "deep": ("application/json", b"[" * 50_000 + b"]" * 50_000),
}


class GarbageSerper(HookedSerper):
    """Serper that answers garbage for queries containing `garbage:<kind>`."""

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        query = str(json.loads(body or b"{}").get("q", ""))
        for kind, (ctype, data) in GARBAGE.items():
            if f"garbage:{kind} " in query + " ":
                return 200, ctype, data
        return super().answer(method, path, body)


def case_garbage_search(rig: Rig, timeout: float) -> Row:
    def script(c: ScriptedCase, messages: list[dict[str, Any]]) -> dict[str, Any]:
        if c.calls == 1:
            return call_tools(*[("internet_search", {"search_query": f"garbage:{k}"}) for k in GARBAGE])
        if c.calls == 2:
            c.seen["round"] = tool_results(messages)
            return say(f"Question 1 for {c.name}?")
        return c.generic(messages)

    case = ScriptedCase(rig, "garbage_search", 1, script)

    def body() -> tuple[str, list[str]]:
        case.start()
        auto_answer(case, timeout)
        results = case.seen.get("round", [])
        failed = [r for r in results if r[2].startswith("Search failed:")]
        usable = [r for r in results if not r[2].startswith("Search failed:")]
        problems = [] if len(results) == len(GARBAGE) else [f"{len(results)} results for {len(GARBAGE)} searches"]
        for _name, args, text in usable:
            if "Error:" in text[:20]:
                problems.append(f"{args}: {text[:80]}")
        return f"{len(failed)} 'Search failed', {len(usable)} usable (bad items skipped)", problems

    return _drive(case, body, "search failed / skipped, trip goes on")


# -- the SSRF corpus ------------------------------------------------------------------------


class TargetServer:
    """Answers on every local address (IPv4 and IPv6) on one port, counting requests."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        target = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:  # noqa: N802
                target.paths.append(self.path)
                data = b"<html><body><p>internal secret page</p></body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_GET  # noqa: N815

        class DualStack(ThreadingHTTPServer):
            address_family = socket.AF_INET6
            daemon_threads = True

            def server_bind(self) -> None:
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                super().server_bind()

        self._server = DualStack(("::", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def __enter__(self) -> TargetServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def hits(self) -> list[str]:
        return [p for p in self.paths if not p.startswith("/control")]


def own_addresses() -> list[str]:
    """This machine's non-loopback addresses (they reach the target too)."""
    try:
        import psutil
    except ImportError:
        return []
    out = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family in (socket.AF_INET, socket.AF_INET6) and "%" not in a.address:
                if not a.address.startswith(("127.", "::1")):
                    out.append(a.address)
    return out


def ssrf_corpus(port: int) -> list[str]:
    p = port
    urls = [
        f"http://127.0.0.1:{p}/s", f"http://localhost:{p}/s", f"http://LOCALHOST:{p}/s", f"http://localhost.:{p}/s",
        f"http://127.1:{p}/s", f"http://127.0.1:{p}/s", f"http://127.0.0.2:{p}/s", f"http://0x7f000001:{p}/s",
        f"http://0x7f.0.0.1:{p}/s", f"http://2130706433:{p}/s", f"http://017700000001:{p}/s", f"http://0177.0.0.1:{p}/s",
        f"http://127.000.000.001:{p}/s", f"http://0:{p}/s", f"http://0.0.0.0:{p}/s", f"http://[::1]:{p}/s",
        f"http://[0:0:0:0:0:0:0:1]:{p}/s", f"http://[::]:{p}/s", f"http://[::ffff:127.0.0.1]:{p}/s",
        f"http://[::ffff:7f00:1]:{p}/s", f"http://[64:ff9b::7f00:1]:{p}/s", f"http://[2002:7f00:1::]:{p}/s",
        f"http://[fe80::1%25lo]:{p}/s", f"https://127.0.0.1:{p}/s", f"HTTP://127.0.0.1:{p}/s",
        f"http://127.0.0.1:{p}#@example.com/", f"http://example.com@127.0.0.1:{p}/s", f"http://user:pw@localhost:{p}/s",
        f"http://%31%32%37.0.0.1:{p}/s", f"http://\u2460\u2461\u2466.0.0.1:{p}/s", f"http://127\u30020\u30020\u30021:{p}/s",
        f"http://\uff11\uff12\uff17.0.0.1:{p}/s", f"  http://127.0.0.1:{p}/s  ", f"http://127.0.0.1:{p}\\@example.com/",
        "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/latest/meta-data/",
        "http://169.254.170.2/v2/credentials", "http://100.100.100.200/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/", "http://metadata.google.internal/computeMetadata/v1/",
        "http://10.0.0.1/", "http://172.16.0.1/", "http://192.168.1.1/", "http://100.64.0.1/", "http://198.18.0.1/",
        "http://224.0.0.1/", "http://240.0.0.1/", "http://255.255.255.255/",
        "file:///etc/passwd", f"gopher://127.0.0.1:{p}/_GET", "ftp://127.0.0.1/", f"dict://127.0.0.1:{p}/",
        "http:///etc/passwd", "javascript:alert(1)", "data:text/html,<p>hi</p>",
    ]
    for address in own_addresses():
        urls.append(f"http://[{address}]:{p}/s" if ":" in address else f"http://{address}:{p}/s")
    return urls


def control_reaches(target: TargetServer) -> int:
    """Plain unguarded requests from here do reach the target (so 0 means refused)."""
    reached = 0
    for url in (f"http://127.0.0.1:{target.port}/control", f"http://[::1]:{target.port}/control",
                *[f"http://{a if ':' not in a else f'[{a}]'}:{target.port}/control" for a in own_addresses()]):
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=2) as r:
                reached += r.status == 200
    return reached


def case_ssrf(rig: Rig, timeout: float, target: TargetServer) -> Row:
    corpus = ssrf_corpus(target.port)

    def script(c: ScriptedCase, messages: list[dict[str, Any]]) -> dict[str, Any]:
        if c.calls == 1:
            return call_tools(*[("scrape_website", {"url": u}) for u in corpus])
        if "round" not in c.seen and tool_results(messages):
            c.seen["round"] = tool_results(messages)
            return say(f"Question 1 for {c.name}?")
        return c.generic(messages)

    case = ScriptedCase(rig, "ssrf", 1, script)

    def body() -> tuple[str, list[str]]:
        controls = control_reaches(target)
        case.start()
        auto_answer(case, timeout)
        results = case.seen.get("round", [])
        refused = [r for r in results if r[2].startswith("Could not read page:")]
        problems = []
        if len(results) != len(corpus):
            problems.append(f"{len(results)} results for {len(corpus)} URLs")
        for _name, args, text in results:
            if not text.startswith("Could not read page:"):
                problems.append(f"read {args}: {text[:80]}")
        if target.hits():
            problems.append(f"the internal server saw {len(target.hits())} request(s): {target.hits()[:5]}")
        return (
            f"{len(refused)}/{len(corpus)} URLs refused; target saw {len(target.hits())} requests "
            f"(control: {controls} unguarded reached it)"
        ), problems

    return _drive(case, body, "all refused, 0 requests")


# ---------------------------------------------------------------------------
# the suite


TRIP_CASES: dict[str, Callable[..., Row]] = {
    "unicode_request": case_unicode_request,
    "unicode_replies": case_unicode_replies,
    "unicode_model_output": case_unicode_model_output,
    "long_reply": case_long_reply,
    "long_request": case_long_request,
    "llm_empty": case_llm_empty,
    "llm_garbage": case_llm_garbage,
    "broken_tools": case_broken_tools,
    "garbage_search": case_garbage_search,
    "ssrf": case_ssrf,
}


def run_cases(workdir: Path, timeout: float, only: list[str] | None = None) -> list[Row]:
    """Every case against one bot process; trip cases run concurrently."""
    env = {
        "SCRAPE_ALLOW_HOSTS": "",
        "TRAVEL_PLANNER_PROVIDER_RETRY_MINUTES": "0.01",
        "TRAVEL_PLANNER_MAX_TOOL_CALLS": "500",  # the SSRF round alone reads ~60 URLs
    }
    with TargetServer() as target, Rig(workdir, "hostile", env=env, serper=GarbageSerper()) as rig:
        canary = Case(rig, "canary", 2)
        names = [n for n in TRIP_CASES if only is None or n in only]
        with cf.ThreadPoolExecutor(max_workers=len(names) + 1) as pool:
            futures = [
                pool.submit(TRIP_CASES[n], rig, timeout, target) if n == "ssrf" else pool.submit(TRIP_CASES[n], rig, timeout)
                for n in names
            ]
            rows = run_canary(rig, canary, timeout) if only is None or "http" in only else []
            rows += [f.result() for f in futures]
        if rig.bot.proc.poll() is not None:
            rows.append(Row("bot process", "alive", f"exited {rig.bot.proc.returncode}", False, ["the bot died"]))
        return rows


def run_canary(rig: Rig, canary: Case, timeout: float) -> list[Row]:
    started = time.monotonic()
    canary.start()
    canary.wait_questions(1)
    rows, forged = run_http_cases(rig, canary)
    # A real reply, then the very same request again (a replay inside the 5 min window).
    event = canary.reply_event(0, "U0ANA")
    body = json.dumps(event_envelope(event)).encode()
    headers = {"Content-Type": JSON, **sign(body)}
    first = send(rig.bot.events_url, body, headers)[0]
    again = send(rig.bot.events_url, body, headers)[0]
    canary.deliveries += 2
    error = ""
    try:
        canary.wait_questions(2)
        canary.deliver(canary.reply_event(1, "U0BEN"))
        canary.wait_plan(timeout)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        canary.close()
    seen = "\n".join(json.dumps(c.messages) for c in rig.llm_calls(canary.name))
    leaked = [t for t in forged if t in seen]
    row = trip_row(canary, "real answers once, forged never", "", [], time.monotonic() - started, error)
    row.case = "http: canary trip afterwards"
    if first != 200 or again != 200:
        row.violations.append(f"real reply answered {first}, its replay {again}")
    if leaked:
        row.violations.append(f"{len(leaked)} forged replies reached the LLM: {leaked[:3]}")
        row.nothing_lost = False
    row.got = f"planned; {len(forged)} forged replies never reached the LLM" if not leaked else f"{len(leaked)} forged replies LEAKED"
    row.got += "; replayed request deduped" if not row.violations else ""
    for r in rows:
        r.nothing_lost = row.nothing_lost
    return [*rows, row]


def run(profile: Profile) -> Table:
    profile.embedded_only("hostile_input")
    started = time.monotonic()
    workdir = workdir_for(profile, "hostile_input")
    rows = run_cases(workdir, 30.0 if profile.fast else 60.0)
    table = rows_table(f"hostile_input [{profile.name}]", rows)
    table.seconds = time.monotonic() - started
    if table.ok and not profile.options.get("workdir"):
        shutil.rmtree(workdir, ignore_errors=True)
        table.notes.append("logs removed (all OK); --set workdir=DIR keeps them")
    else:
        table.notes.append(f"bot log and state in {workdir}")
    return table


def rows_table(title: str, rows: list[Row]) -> Table:
    table = Table(title=title, columns=list(COLUMNS), must_be_zero=MUST_BE_ZERO)
    for row in rows:
        table.add(*row.cells())
        for v in row.violations:
            table.notes.append(f"{row.case}: {v}")
    return table


__all__ = ["GARBAGE", "Row", "TargetServer", "TRIP_CASES", "run", "run_cases", "rows_table", "ssrf_corpus"]
