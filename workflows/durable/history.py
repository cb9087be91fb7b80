"""A trip's durable history, read from whichever store holds it: its segments,
their steps with their state and names, what each step did, and the
conversation they carry.

Both stores keep the SDK's promise records. The embedded store's journaled
state is rebuilt read-only (`read_embedded`); Postgres keeps them in
`resonate.promises` (`read_postgres`, or `PROMISE_COLUMNS` and
`promise_from_row` for a caller with its own connection). Either becomes a
list of `StoredPromise` with its param and value decoded once, and everything
after that is one code path for both.

A step's name is read from what the SDK stores:
- what it dispatches (a segment, started by the engine's `rpc` or by its
  predecessor's `ctx.detached`) has the SDK's TaskData as its param, whose
  `func` is the name;
- a durable sleep is tagged `resonate:timer`, a wait for people (a bare
  `ctx.promise`) `resonate:external`;
- a leaf step (`ctx.run`) keeps no name at all in resonate-sdk 0.8.1: its
  param is empty (`Value()`), its tags are the four fixed ones (scope,
  branch, parent, origin) and its id is the segment's plus a sequence number.
  The SDK offers no way to add one (`Context.options` takes no tags or data,
  and `ctx.run` builds the create request inline), so the name is read off the
  stored result: each leaf step in workflows/steps.py returns a shape of its
  own (`_name_from_result`).
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
from workflows.steps import (  # the names a trip's steps are registered under
    CANCEL_TIMER_STEP,
    CHOICE_STEP,
    CLAIM_STEP,
    LLM_STEP,
    NOW_STEP,
    POST_STEP,
    PUBLISH_WAITER_STEP,
    SHOW_STATE_STEP,
    TOOL_STEP,
    TRIP_STATE_STEP,
)
from workflows.trip import TRIP_WORKFLOW
from workflows.usage import token_count

# The names this reader gives the SDK's own promises and the steps it cannot
# tell apart (a segment is workflows/trip.py's TRIP_WORKFLOW).
SLEEP = "sleep"  # a durable sleep (`ctx.sleep`)
WAIT = "wait"  # a wait for people (`ctx.promise`, resolved from outside)
RECORD = "record"  # TRIP_STATE_STEP, SHOW_STATE_STEP or CANCEL_TIMER_STEP: each returns None
STEP = "step"  # a leaf step still running or failed: it has no result to name it by


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


def read_embedded(db_path: Path, trip_id: str | None = None) -> list[StoredPromise] | None:
    """The trip's promises in the embedded store (every promise without a
    trip id), rebuilt read-only (snapshot + journal, in one read transaction)
    beside any process that owns and writes it; none in a store that has no
    journal yet, None when the store cannot be read."""
    from workflows.durable.journal import DurableJournal

    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error:
        return None
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'durable_snapshot'").fetchone() is None:
            return []  # created, not yet journaled to
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
        if trip_id is None or pid == trip_id or pid.startswith(trip_id + ":")
    ]


#: The columns of `resonate.promises` that `promise_from_row` reads, in its order.
PROMISE_COLUMNS = "id, state, param_data, value_data, tags, created_at, timeout_at, settled_at"


def promise_from_row(row: Sequence[Any]) -> StoredPromise:
    """One row of `SELECT {PROMISE_COLUMNS} FROM resonate.promises`."""
    pid, state, param, value, tags, created, timeout, settled = row
    return StoredPromise(
        id=pid, state=state, tags=dict(tags or {}), param=decode_data(param), value=decode_data(value),
        created_at=int(created), timeout_at=int(timeout), settled_at=None if settled is None else int(settled),
    )


_TRIP_PROMISES = f"SELECT {PROMISE_COLUMNS} FROM resonate.promises WHERE id = %(trip)s OR origin_id = %(trip)s"


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
    return [promise_from_row(row) for row in rows]


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
        return SLEEP
    if step.tags.get("resonate:external") == "true":
        return WAIT
    if step.state != "resolved":
        return STEP
    return _name_from_result(step.value)


#: `now_step` returns the clock in epoch ms, `choice_step` a small index:
#: anything from here on (September 2001) is a time.
_EPOCH_MS_FROM = 10**12


def _name_from_result(value: Any) -> str:
    """A leaf step's name, from the shape only it returns (steps.py)."""
    if isinstance(value, dict) and "message" in value and "failure" in value:
        return LLM_STEP
    if isinstance(value, list):
        return CLAIM_STEP
    if isinstance(value, bool):  # before int: a bool is an int
        return PUBLISH_WAITER_STEP
    if isinstance(value, int):
        return NOW_STEP if value >= _EPOCH_MS_FROM else CHOICE_STEP
    if isinstance(value, str):
        return POST_STEP if value == "" else TOOL_STEP
    return RECORD


def _when(epoch_ms: int, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return time.strftime(fmt, time.localtime(epoch_ms / 1000))


def describe_step(name: str, param: Any, value: Any) -> str:
    """What a step did, in words, from its name, its param and its stored
    result (None while it runs). The name says what the result is."""
    if name == TRIP_WORKFLOW:  # a segment: its result is a dict once it ended
        start = segment_start(param)
        status = "running" if value is None else (value.get("status") if isinstance(value, dict) else None)
        turn = f", from turn {start.get('turn', 0)}" if start else ""
        return f"{status or 'ended without a result'}{turn}"
    if name == LLM_STEP:
        return _llm_words(value)
    if name == CLAIM_STEP:
        return "; ".join(reply_text(r) for r in value) or "nothing new"
    if name == PUBLISH_WAITER_STEP:
        return "published (replies were already waiting)" if value else "published"
    if name == CHOICE_STEP:
        return "a reply came first" if value == 0 else "the timer came first"
    if name == NOW_STEP:
        return f"the time was {_when(value, '%Y-%m-%d %H:%M:%S')}"
    if name == POST_STEP:
        return "posted" if not value else f"not posted: {one_line(str(value), 80)}"
    if name == TOOL_STEP:
        return one_line(str(value), 90)
    if name == SLEEP:
        return "settled"
    if name == WAIT:
        return "woken"
    return "done"


def _llm_words(outcome: Mapping[str, Any]) -> str:
    """An `llm_step` result (workflows/llm.py `LlmOutcome.to_dict`)."""
    failure = outcome.get("failure")
    if failure == "control":
        return f"not called: people asked to {outcome.get('detail') or 'stop'}"
    if failure:
        return f"failed ({failure}: {one_line(outcome.get('detail') or '', 60)})"
    tokens = token_count(outcome.get("usage") or {})
    message = outcome.get("message") or {}
    calls = message.get("tool_calls") or []
    if calls:
        return f"called {', '.join(tool_call_text(c) for c in calls)} · {tokens:,} tokens"
    return f"said: {one_line(message.get('content') or '', 80)} · {tokens:,} tokens"


def step_text(step: StoredPromise) -> tuple[str, str]:
    """(name, what happened) for one durable step, whatever its state."""
    name = step_name(step)
    if step.pending:
        if name == SLEEP:
            return name, f"due {_when(step.timeout_at)}"
        if name == WAIT:
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
        if name == LLM_STEP and isinstance(value.get("message"), dict) and not value.get("failure"):
            messages.append(value["message"])
        elif name == CLAIM_STEP:
            words = [r for r in value if (r.get("kind") or "message") == "message"]
            if words:
                messages.append({"role": "user", "content": "\n".join(f"[{r.get('author')}] {r.get('text', '')}" for r in words)})
        elif name == TOOL_STEP:
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
    "CANCEL_TIMER_STEP",
    "CHOICE_STEP",
    "CLAIM_STEP",
    "LLM_STEP",
    "NOW_STEP",
    "POST_STEP",
    "PROMISE_COLUMNS",
    "PUBLISH_WAITER_STEP",
    "RECORD",
    "SHOW_STATE_STEP",
    "SLEEP",
    "STEP",
    "TOOL_STEP",
    "TRIP_STATE_STEP",
    "WAIT",
    "Segment",
    "StoredPromise",
    "child_seq",
    "decode_data",
    "describe_step",
    "one_line",
    "promise_from_row",
    "read_embedded",
    "read_postgres",
    "reply_text",
    "segment_messages",
    "segment_start",
    "step_name",
    "step_text",
    "tool_call_text",
    "transcript_lines",
    "trip_segments",
]
