"""A trip's durable history, read from whichever store holds it: its segments,
their steps with their state, and the conversation they carry.

Both stores keep the SDK's promise records. The embedded store's journaled
state is rebuilt read-only (`read_embedded`); Postgres keeps them in
`resonate.promises` (`read_postgres`). Either becomes a list of
`StoredPromise` with its param and value decoded once, and everything after
that (segments, step names, what each step did, the transcript) is one code
path for both.

A step's name: the SDK stores a function's name only for what it dispatches
(a segment's param is the SDK's TaskData, whose `func` is the workflow's
name). A `ctx.run` step's param is left empty, so its name is read off its
stored result: each leaf step in workflows/steps.py returns a shape of its
own.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workflows.errors import ConfigError
from workflows.trip import TRIP_WORKFLOW


@dataclass(frozen=True)
class StoredPromise:
    """One durable promise of a trip, as either store keeps it."""

    id: str
    state: str  # pending | resolved | rejected | rejected_canceled | rejected_timedout
    tags: Mapping[str, str]
    param: Any  # the decoded JSON (None when empty)
    value: Any
    created_at: int  # epoch ms
    timeout_at: int
    settled_at: int | None = None

    @property
    def pending(self) -> bool:
        return self.state == "pending"

    @property
    def is_timer(self) -> bool:
        return self.tags.get("resonate:timer") == "true"

    @property
    def is_workflow(self) -> bool:
        """A segment: dispatched to a target, and not a durable sleep."""
        return "resonate:target" in self.tags and not self.is_timer


def decode_data(data: Any) -> Any:
    """A param or value as the SDK encodes it: JSON, then base64 (None when empty or not ours)."""
    if not data or not isinstance(data, str):
        return None
    try:
        return json.loads(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        return None


# ---------------------------------------------------------------------------
# reading the stores


def read_embedded(db_path: Path, trip_id: str) -> list[StoredPromise] | None:
    """The trip's promises in the embedded store, rebuilt read-only (snapshot +
    journal, in one read transaction) beside any process that owns and writes
    it; None when the store cannot be read."""
    from workflows.durable.journal import DurableJournal

    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error:
        return None
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        journal = DurableJournal(conn)  # CREATE TABLE IF NOT EXISTS: nothing to write on a store that exists
        conn.execute("BEGIN")  # one snapshot of snapshot + journal, even if the owner compacts meanwhile
        try:
            state = journal.load().state
        finally:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return [
        StoredPromise(
            id=p.id, state=p.state, tags=dict(p.tags),
            param=decode_data((p.param or {}).get("data")), value=decode_data((p.value or {}).get("data")),
            created_at=p.created_at, timeout_at=p.timeout_at, settled_at=p.settled_at,
        )
        for pid, p in state.promises.items()
        if pid == trip_id or pid.startswith(trip_id + ":")
    ]


_TRIP_PROMISES = (
    "SELECT id, state, param_data, value_data, tags, created_at, timeout_at, settled_at"
    " FROM resonate.promises WHERE id = %(trip)s OR origin_id = %(trip)s"
)


async def read_postgres(conninfo: str, trip_id: str) -> list[StoredPromise]:
    """The trip's promises in `resonate.promises`: the root segment and every
    promise whose origin is the trip (its successor segments and all steps).
    A database that cannot be read is a ConfigError naming DATABASE_URL."""
    import psycopg

    from workflows.postgres.engine import DATABASE_URL_ENV, redact

    try:
        async with await psycopg.AsyncConnection.connect(conninfo, connect_timeout=10) as conn:
            cursor = await conn.execute(_TRIP_PROMISES, {"trip": trip_id})
            rows = await cursor.fetchall()
    except psycopg.Error as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(DATABASE_URL_ENV, f"cannot read the trip's history ({redact(detail, conninfo)})") from None
    return [
        StoredPromise(
            id=pid, state=state, tags=dict(tags or {}), param=decode_data(param), value=decode_data(value),
            created_at=int(created), timeout_at=int(timeout), settled_at=None if settled is None else int(settled),
        )
        for pid, state, param, value, tags, created, timeout, settled in rows
    ]


# ---------------------------------------------------------------------------
# segments and steps


@dataclass
class Segment:
    promise: StoredPromise
    start: dict[str, Any] | None  # the TripState it started from (None: compacted)
    steps: list[StoredPromise]
    successor: str | None = None  # the segment it handed over to

    @property
    def name(self) -> str:
        return step_name(self.promise)

    @property
    def result(self) -> Any:
        """What the segment returned (None while it runs)."""
        return None if self.promise.pending else self.promise.value


def child_seq(parent: str, child: str) -> int:
    """A step's place in its segment: ids are `{segment}:{n}` or `{segment}.{n}`."""
    tail = child[len(parent) + 1 :]
    return int(tail) if tail.isdigit() else 1 << 30


def trip_segments(promises: Sequence[StoredPromise], trip_id: str) -> list[Segment]:
    """The trip's segments in order, each with its steps in call order.

    Every segment is a child of the trip's origin (the SDK mints a successor's
    id off the origin), so a hand-over is not listed among the steps of the
    segment whose parent tag it carries: it is the segment's `successor`, the
    next one to start (each segment starts its successor as its last act)."""
    workflows = sorted((p for p in promises if p.is_workflow), key=lambda p: (p.created_at, p.id != trip_id))
    segments = []
    for wf in workflows:
        steps = [p for p in promises if p.tags.get("resonate:parent") == wf.id and p.id != wf.id and not p.is_workflow]
        steps.sort(key=lambda p: child_seq(wf.id, p.id))
        segments.append(Segment(wf, segment_start(wf.param), steps))
    for segment, after in zip(segments, segments[1:], strict=False):
        segment.successor = after.promise.id
    return segments


def segment_start(param: Any) -> dict[str, Any] | None:
    """The TripState a segment starts from: its param is the SDK's TaskData,
    whose only argument it is (None once the embedded store compacted it)."""
    args = param.get("args") if isinstance(param, dict) else None
    return args[0] if isinstance(args, list) and args and isinstance(args[0], dict) else None


def step_name(step: StoredPromise) -> str:
    """The function a step ran (see the module docstring for how it is known)."""
    if isinstance(step.param, dict) and step.param.get("func"):
        return str(step.param["func"])  # dispatched: the SDK's TaskData names it
    if step.is_timer:
        return "sleep"
    if step.tags.get("resonate:external") == "true":
        return "wait"
    if step.state != "resolved":
        return "step"  # a local step's name is known only from its result
    return _name_from_result(step.value)


def _name_from_result(value: Any) -> str:
    if isinstance(value, dict) and "message" in value and "failure" in value:
        return "llm_step"
    if isinstance(value, list):
        return "claim_step"
    if isinstance(value, bool):  # before int: a bool is an int
        return "publish_waiter_step"
    if isinstance(value, int):
        return "choice_step"
    if isinstance(value, str):
        return "post_step" if value == "" else "tool_step"
    return "record"  # None: trip_state_step, show_state_step or cancel_timer_step


def describe_step(name: str, param: Any, value: Any) -> str:
    """What a step did, in words, from its name, its param and its stored
    result (None while it runs)."""
    if name == TRIP_WORKFLOW:  # a segment
        start = segment_start(param)
        status = "running" if value is None else (value.get("status") if isinstance(value, dict) else None)
        turn = f", from turn {start.get('turn', 0)}" if start else ""
        return f"{status or 'ended without a result'}{turn}"
    if name == "llm_step" and isinstance(value, dict):
        usage = value.get("usage") or {}
        tokens = int(usage.get("prompt_tokens", 0) or 0) + int(usage.get("completion_tokens", 0) or 0)
        failure = value.get("failure")
        if failure == "control":
            return f"not called: people asked to {value.get('detail') or 'stop'}"
        if failure:
            return f"failed ({failure}: {one_line(value.get('detail') or '', 60)})"
        message = value.get("message") or {}
        calls = message.get("tool_calls") or []
        if calls:
            return f"called {', '.join(tool_call_text(c) for c in calls)} · {tokens:,} tokens"
        return f"said: {one_line(message.get('content') or '', 80)} · {tokens:,} tokens"
    if name == "claim_step" and isinstance(value, list):
        return "; ".join(reply_text(r) for r in value if isinstance(r, dict)) or "nothing new"
    if name == "publish_waiter_step":
        return "published (replies were already waiting)" if value else "published"
    if name == "choice_step":
        return "a reply came first" if value == 0 else "the timer came first"
    if name == "post_step":
        return "posted" if not value else f"not posted: {one_line(str(value), 80)}"
    if name == "tool_step":
        return one_line(str(value), 90)
    if name == "sleep":
        return "settled"
    if name == "wait":
        return "woken"
    return "done"


def step_text(step: StoredPromise) -> tuple[str, str]:
    """(name, what happened) for one durable step, whatever its state."""
    name = step_name(step)
    if step.pending:
        if name == "sleep":
            return name, f"due {time.strftime('%Y-%m-%d %H:%M', time.localtime(step.timeout_at / 1000))}"
        if name == "wait":
            return name, "waiting for people"
        return name, "in progress"
    if step.state != "resolved":
        reason = step.value.get("message") if isinstance(step.value, dict) else None
        return name, f"{step.state.replace('_', ' ')}" + (f": {one_line(str(reason), 80)}" if reason else "")
    return name, describe_step(name, step.param, step.value)


# ---------------------------------------------------------------------------
# the conversation


def tool_call_text(call: Mapping[str, Any]) -> str:
    function = call.get("function") or {}
    name = str(function.get("name") or "?")
    try:
        arguments = json.loads(function.get("arguments") or "{}")
    except ValueError:
        arguments = {}
    if isinstance(arguments, dict):
        shown = arguments.get("search_query") or arguments.get("url") or ""
        if name == "finish_trip":
            shown = "(the plan)"
        return f"{name}({one_line(str(shown), 60)!s})" if shown else f"{name}()"
    return f"{name}(…)"


def reply_text(reply: Mapping[str, Any]) -> str:
    kind = reply.get("kind") or "message"
    if kind != "message":
        return f"{reply.get('author')} pressed {kind}"
    return f"[{reply.get('author')}] {one_line(reply.get('text') or '', 60)}"


def segment_messages(segment: Segment) -> list[dict[str, Any]]:
    """The conversation as this segment knows it: the compacted transcript it
    was handed, plus what its own steps added (LLM answers, tool results,
    replies), in order."""
    if segment.start is None:
        return []
    messages = list(segment.start.get("messages") or [])
    if not messages and segment.start.get("request"):
        messages.append(
            {"role": "user", "content": f"Trip request from {segment.start.get('starter') or 'the team'}: {segment.start['request']}"}
        )
    for step in segment.steps:
        if step.pending:
            continue
        name, value = step_name(step), step.value
        if name == "llm_step" and isinstance(value.get("message"), dict) and not value.get("failure"):
            messages.append(value["message"])
        elif name == "claim_step" and isinstance(value, list):
            words = [r for r in value if isinstance(r, dict) and (r.get("kind") or "message") == "message"]
            if words:
                messages.append({"role": "user", "content": "\n".join(f"[{r.get('author')}] {r.get('text', '')}" for r in words)})
        elif name == "tool_step":
            messages.append({"role": "tool", "content": value})
    return messages


def transcript_lines(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    """Who said what, one entry per message (tool output shortened)."""
    lines: list[str] = []
    for m in messages:
        role = m.get("role")
        content = str(m.get("content") or "")
        if role == "user":
            if content.startswith("Trip request from "):
                who, _, text = content[len("Trip request from ") :].partition(": ")
                lines.append(f"{who or 'someone'}: {text}")
                continue
            for line in content.splitlines():
                if line.startswith("[") and "] " in line:
                    who, _, text = line[1:].partition("] ")
                    lines.append(f"{who}: {text}")
                elif line.strip():
                    lines.append(f"people: {line}")
        elif role == "assistant":
            if content.strip():
                lines.append(f"planner: {content.strip()}")
            for call in m.get("tool_calls") or []:
                lines.append(f"planner -> {tool_call_text(call)}")
        elif role == "tool":
            lines.append(f"   tool result: {one_line(content, 90)} ({len(content):,} chars)")
    return lines


_FENCES = re.compile(r"<<<[A-Z_]+(?: id=[0-9a-f]+)?>>>")


def one_line(text: str, limit: int = 100) -> str:
    line = " ".join(_FENCES.sub(" ", str(text)).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


__all__ = [
    "Segment",
    "StoredPromise",
    "child_seq",
    "decode_data",
    "describe_step",
    "one_line",
    "read_embedded",
    "read_postgres",
    "segment_start",
    "reply_text",
    "segment_messages",
    "step_name",
    "step_text",
    "tool_call_text",
    "transcript_lines",
    "trip_segments",
]
