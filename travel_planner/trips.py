"""`travel-planner trips`: list trips, show one's steps and transcript, cancel one.

- `trips` lists every trip the registry knows: state, last activity, usage.
- `trips show ID` prints the trip's record, then its durable history read
  straight from the embedded store (segments, their steps and states), then
  the transcript (who said what).
- `trips cancel ID` hands the trip a cancel control, like the Cancel button.

Where it reads: the embedded store's SQLite file in TRAVEL_PLANNER_STATE_DIR,
opened without the owner lock (a `run` process may own it: SQLite in WAL mode
lets readers and a short writer work beside it), or Redis when RESONATE_URL
and REDIS_URL are both set, as for `web` and `worker` (multi-process mode;
`show` then prints what the registry knows, since the durable history lives
in the Resonate server).

How `cancel` reaches the trip:
- no process owns the state directory: the embedded runtime is opened
  briefly (like a short `run`, so it needs the same settings), the control is
  delivered with `engine.deliver_reply`, and the trip is followed until it has
  stopped and told its thread;
- a `run` process owns it: the control is written into the trip's inbox in
  the registry, and that process wakes the trip (it looks for stranded
  waiters every couple of seconds);
- server mode: delivered through the registry in Redis, and the trip's reply
  promise is resolved on the Resonate server.

Exit codes: 0 ok, 1 unknown trip, 2 configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import getpass
import json
import re
import sqlite3
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bot.trip_starts import is_pending_start
from workflows.config import state_dir_from_env
from workflows.durable.state_dir import DB_NAME, StateDir, StateDirBusy, open_database
from workflows.errors import ConfigError
from workflows.ports import Reply, ThreadRef, ThreadRegistry, TripRecord

OK = 0
UNKNOWN_TRIP = 1
CONFIG_ERROR = 2

#: States after which a trip does nothing more.
FINAL_STATES = frozenset({"done", "cancelled", "expired", "failed"})
#: How long `cancel` follows the trip before reporting.
CANCEL_WAIT_SECONDS = 15.0


def add_parser(sub: Any) -> None:
    trips = sub.add_parser("trips", help="list trips; show one's steps and transcript; cancel one")
    actions = trips.add_subparsers(dest="trips_action")
    actions.add_parser("list", help="every trip: state, last activity, usage (the default)")
    show = actions.add_parser("show", help="a trip's segments, steps and transcript")
    show.add_argument("trip_id")
    cancel = actions.add_parser("cancel", help="cancel a trip (as its Cancel button does)")
    cancel.add_argument("trip_id")


def trips_command(args: argparse.Namespace, env: Mapping[str, str], out: TextIO | None = None) -> int:
    out = out or sys.stdout
    action = getattr(args, "trips_action", None) or "list"
    if action == "list":
        return asyncio.run(list_trips(env, out))
    if action == "show":
        return asyncio.run(show_trip(env, args.trip_id, out))
    return asyncio.run(cancel_trip(env, args.trip_id, out))


# ---------------------------------------------------------------------------
# where trips live


@dataclass
class Store:
    registry: ThreadRegistry | None  # None: no embedded state yet
    mode: str  # "embedded" | "server"
    where: str  # the state file, or the Redis URL's host part
    db_path: Path | None = None


def _server_mode(env: Mapping[str, str]) -> bool:
    """The same rule as the processes: `web`/`worker` need both; `run` ignores REDIS_URL."""
    return bool(env.get("REDIS_URL", "").strip()) and bool(env.get("RESONATE_URL", "").strip())


@contextlib.asynccontextmanager
async def open_store(env: Mapping[str, str]) -> AsyncIterator[Store]:
    """The registry, opened for a short visit (never taking the owner lock)."""
    if _server_mode(env):
        from workflows.registry import RedisThreadRegistry, open_redis_client

        url = env["REDIS_URL"].strip()
        client = open_redis_client(url)
        try:
            yield Store(RedisThreadRegistry(client), "server", url.rsplit("@", 1)[-1])
        finally:
            await client.aclose()
        return
    from workflows.registry import SqliteThreadRegistry

    db_path = state_dir_from_env(env) / DB_NAME
    if not db_path.exists():
        yield Store(None, "embedded", str(db_path), db_path)
        return
    conn = open_database(db_path)
    try:
        yield Store(SqliteThreadRegistry(conn), "embedded", str(db_path), db_path)
    finally:
        conn.close()


# ---------------------------------------------------------------------------
# words and numbers


def usage_text(usage: Mapping[str, Any]) -> str:
    if not usage:
        return "-"
    calls = int(usage.get("llm_calls", 0) or 0)
    tokens = int(usage.get("prompt_tokens", 0) or 0) + int(usage.get("completion_tokens", 0) or 0)
    lookups = int(usage.get("tool_calls", 0) or 0)
    return f"{calls} AI calls, {tokens:,} tokens, {lookups} lookups"


def ago(seconds: float, now: float | None = None) -> str:
    if not seconds:
        return "-"
    delta = max(0.0, (time.time() if now is None else now) - seconds)
    if delta < 90:
        rel = f"{int(delta)}s ago"
    elif delta < 90 * 60:
        rel = f"{int(delta // 60)}m ago"
    elif delta < 36 * 3600:
        rel = f"{delta / 3600:.0f}h ago"
    else:
        rel = f"{delta / 86400:.0f}d ago"
    return f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(seconds))} ({rel})"


_FENCES = re.compile(r"<<<[A-Z_]+(?: id=[0-9a-f]+)?>>>")


def _one_line(text: str, limit: int = 100) -> str:
    line = " ".join(_FENCES.sub(" ", str(text)).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# ---------------------------------------------------------------------------
# list


async def list_trips(env: Mapping[str, str], out: TextIO) -> int:
    async with open_store(env) as store:
        trips = await store.registry.list_trips() if store.registry is not None else []
        trips = [t for t in trips if not is_pending_start(t)]
    if not trips:
        out.write(f"No trips yet ({store.mode} store: {store.where}).\n")
        return OK
    rows = [
        (t.trip_id, t.state, ago(t.updated_at), usage_text(t.usage), _one_line(t.request or "-", 60))
        for t in trips
    ]
    header = ("TRIP", "STATE", "LAST ACTIVITY", "USAGE", "REQUEST")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        out.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4] + "\n")
    out.write(f"{len(trips)} trip{'s' if len(trips) != 1 else ''} ({store.mode} store: {store.where})\n")
    return OK


# ---------------------------------------------------------------------------
# show


def _decode(value: Any) -> Any:
    """A promise's param/value: base64 JSON inside `data` (None when absent)."""
    if not isinstance(value, Mapping):
        return None
    data = value.get("data")
    if not data:
        return None
    try:
        return json.loads(base64.b64decode(data))
    except (ValueError, TypeError):
        return None


def read_durable_state(db_path: Path) -> Any | None:
    """The embedded store's state, rebuilt read-only (snapshot + journal) in
    one read transaction, beside any process that owns and writes it."""
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
            return journal.load().state
        finally:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def _child_seq(parent: str, child: str) -> int:
    tail = child[len(parent) + 1 :]
    return int(tail) if tail.isdigit() else 1 << 30


@dataclass
class Segment:
    promise: Any
    state: dict[str, Any] | None  # the TripState it started from (None: compacted)
    steps: list[Any]


def trip_segments(state: Any, trip_id: str) -> list[Segment]:
    """The trip's segments in order, each with its steps in call order."""
    mine = [p for pid, p in state.promises.items() if pid == trip_id or pid.startswith(trip_id + ":")]
    workflows = [
        p for p in mine if "resonate:target" in p.tags and p.tags.get("resonate:timer") != "true"
    ]
    workflows.sort(key=lambda p: (p.created_at, p.id != trip_id))
    segments = []
    for wf in workflows:
        param = _decode(wf.param)
        args = param.get("args") if isinstance(param, dict) else None
        start = args[0] if isinstance(args, list) and args and isinstance(args[0], dict) else None
        steps = [p for p in mine if p.tags.get("resonate:parent") == wf.id and p.id != wf.id]
        steps.sort(key=lambda p: _child_seq(wf.id, p.id))
        segments.append(Segment(wf, start, steps))
    return segments


def describe_step(step: Any, segment_ids: Sequence[str]) -> tuple[str, str]:
    """(kind, what happened) for one durable step, from its stored result."""
    tags = step.tags
    if step.id in segment_ids:
        return "hand-over", f"next segment {step.id}"
    if tags.get("resonate:timer") == "true":
        due = time.strftime("%Y-%m-%d %H:%M", time.localtime(step.timeout_at / 1000))
        return "timer", f"due {due}" if step.state == "pending" else "settled"
    if tags.get("resonate:external") == "true":
        return "wait", "waiting for people" if step.state == "pending" else "woken"
    if step.state == "pending":
        return "step", "in progress"
    value = _decode(step.value)
    if isinstance(value, dict) and "message" in value and "failure" in value:
        usage = value.get("usage") or {}
        tokens = int(usage.get("prompt_tokens", 0) or 0) + int(usage.get("completion_tokens", 0) or 0)
        failure = value.get("failure")
        if failure == "control":
            return "llm", f"not called: people asked to {value.get('detail') or 'stop'}"
        if failure:
            return "llm", f"failed ({failure}: {_one_line(value.get('detail') or '', 60)})"
        message = value.get("message") or {}
        calls = message.get("tool_calls") or []
        if calls:
            what = ", ".join(_tool_call_text(c) for c in calls)
            return "llm", f"called {what} · {tokens:,} tokens"
        return "llm", f"said: {_one_line(message.get('content') or '', 80)} · {tokens:,} tokens"
    if isinstance(value, list):
        if not value:
            return "replies", "nothing new"
        return "replies", "; ".join(_reply_text(r) for r in value if isinstance(r, dict))
    if isinstance(value, bool):
        return "waiter", "published (replies were already waiting)" if value else "published"
    if isinstance(value, int):
        return "choice", "a reply came first" if value == 0 else "the timer came first"
    if isinstance(value, str):
        if value == "":
            return "post", "posted"
        return "tool", _one_line(value, 90)
    return "record", "done"


def _tool_call_text(call: Mapping[str, Any]) -> str:
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
        return f"{name}({_one_line(str(shown), 60)!s})" if shown else f"{name}()"
    return f"{name}(…)"


def _reply_text(reply: Mapping[str, Any]) -> str:
    kind = reply.get("kind") or "message"
    if kind != "message":
        return f"{reply.get('author')} pressed {kind}"
    return f"[{reply.get('author')}] {_one_line(reply.get('text') or '', 60)}"


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
            calls = m.get("tool_calls") or []
            if content.strip():
                lines.append(f"planner: {content.strip()}")
            for call in calls:
                lines.append(f"planner -> {_tool_call_text(call)}")
        elif role == "tool":
            lines.append(f"   tool result: {_one_line(content, 90)} ({len(content):,} chars)")
    return lines


def segment_messages(segment: Segment) -> list[dict[str, Any]]:
    """The conversation as this segment knows it: the compacted transcript it
    was handed, plus what its own steps added (LLM answers, tool results,
    replies), in order."""
    if segment.state is None:
        return []
    messages = list(segment.state.get("messages") or [])
    if not messages and segment.state.get("request"):
        messages.append(
            {"role": "user", "content": f"Trip request from {segment.state.get('starter') or 'the team'}: {segment.state['request']}"}
        )
    for step in segment.steps:
        if step.state == "pending" or "resonate:target" in step.tags:
            continue
        value = _decode(step.value)
        if isinstance(value, dict) and isinstance(value.get("message"), dict) and not value.get("failure"):
            messages.append(value["message"])
        elif isinstance(value, list) and value and all(isinstance(r, dict) and "author" in r for r in value):
            words = [r for r in value if (r.get("kind") or "message") == "message"]
            if words:
                messages.append({"role": "user", "content": "\n".join(f"[{r['author']}] {r['text']}" for r in words)})
        elif isinstance(value, str) and value:
            messages.append({"role": "tool", "content": value})
    return messages


def _record_lines(record: TripRecord) -> list[str]:
    lines = [
        f"Trip {record.trip_id}",
        f"  state:         {record.state}",
        f"  request:       {record.request or '-'}",
        f"  started by:    {record.starter or '-'}, {ago(record.created_at)}",
        f"  last activity: {ago(record.updated_at)}",
        f"  usage:         {usage_text(record.usage)}",
    ]
    where = record.thread
    if where.get("surface") == "slack":
        lines.append(f"  thread:        Slack {where.get('channel')} {where.get('thread_ts')} (team {where.get('team')})")
    if record.state in ("waiting", "parked") and record.last_question:
        lines.append(f"  waiting for:   {_one_line(record.last_question, 200)}")
    return lines


async def show_trip(env: Mapping[str, str], trip_id: str, out: TextIO) -> int:
    async with open_store(env) as store:
        record = await store.registry.get_trip(trip_id) if store.registry is not None else None
        inbox = await store.registry.unclaimed_replies(trip_id) if record is not None and store.registry else []
    if record is None:
        out.write(f"Unknown trip {trip_id!r} ({store.mode} store: {store.where}).\n")
        return UNKNOWN_TRIP
    out.write("\n".join(_record_lines(record)) + "\n")
    if inbox:
        out.write(f"  not read yet:  {'; '.join(_reply_text(r.to_dict()) for r in inbox)}\n")
    if store.mode == "server":
        out.write(
            "\nSteps and transcript live in the Resonate server: `trips show` reads them from the "
            "embedded store only (unset RESONATE_URL and point TRAVEL_PLANNER_STATE_DIR at it).\n"
        )
        return OK
    state = read_durable_state(store.db_path) if store.db_path is not None else None
    segments = trip_segments(state, trip_id) if state is not None else []
    if not segments:
        out.write("\nNo durable history for this trip (pruned after it finished, or not started yet).\n")
        return OK
    ids = [s.promise.id for s in segments]
    out.write("\nSegments and steps:\n")
    for n, segment in enumerate(segments):
        p = segment.promise
        result = _decode(p.value) if p.state != "pending" else None
        status = p.state if p.state != "pending" else "running"
        if isinstance(result, dict) and result.get("status"):
            status = f"{p.state}: {result['status']}"
        turn = f", from turn {segment.state.get('turn', 0)}" if segment.state else ""
        out.write(f"  segment {n} ({p.id}) {status}{turn}\n")
        if not segment.steps and p.state != "pending":
            out.write("     (its steps were compacted once it finished)\n")
        for step in segment.steps:
            kind, what = describe_step(step, ids)
            mark = "…" if step.state == "pending" else ("✓" if step.state == "resolved" else step.state)
            seq = _child_seq(p.id, step.id)
            if step.id in ids:
                mark, seq_text = "→", "  ->"
            else:
                seq_text = f"{seq:>4}"
            out.write(f"    {seq_text}  {kind:<9} {mark}  {what}\n")
    live = [s for s in segments if s.state is not None]
    out.write("\nTranscript:\n")
    if live:
        for line in transcript_lines(segment_messages(live[-1])):
            out.write(f"  {line}\n")
    last = _decode(segments[-1].promise.value) if segments[-1].promise.state != "pending" else None
    if isinstance(last, dict) and last.get("plan"):
        if not live:
            out.write("  (the conversation was compacted after the trip finished)\n")
        out.write("\nPlan:\n" + "\n".join(f"  {line}" for line in str(last["plan"]).splitlines()) + "\n")
    elif not live:
        out.write("  (not kept: the trip finished and its history was compacted)\n")
    return OK


# ---------------------------------------------------------------------------
# cancel


def _cancel_reply() -> Reply:
    who = f"{getpass.getuser()} (command line)"
    return Reply(key=f"cli:cancel:{uuid.uuid4().hex}", author=who, text="cancel", ts=f"{time.time():.6f}", kind="cancel")


async def _wait_for_state(registry: ThreadRegistry, trip_id: str, seconds: float) -> TripRecord | None:
    deadline = time.monotonic() + seconds
    record = await registry.get_trip(trip_id)
    while record is not None and record.state not in FINAL_STATES and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        record = await registry.get_trip(trip_id)
    return record


async def cancel_trip(env: Mapping[str, str], trip_id: str, out: TextIO) -> int:
    async with open_store(env) as store:
        record = await store.registry.get_trip(trip_id) if store.registry is not None else None
        if record is None:
            out.write(f"Unknown trip {trip_id!r} ({store.mode} store: {store.where}).\n")
            return UNKNOWN_TRIP
        if record.state in FINAL_STATES:
            out.write(f"Trip {trip_id} has already ended ({record.state}); nothing to cancel.\n")
            return OK
        if store.mode == "server":
            return await _cancel_on_server(env, store.registry, trip_id, out)
        state_path = state_dir_from_env(env)
        try:
            probe = StateDir(state_path)
        except StateDirBusy as busy:
            return await _cancel_through_owner(store.registry, trip_id, busy.owner, out)
        probe.close()
    return await _cancel_embedded(env, record, out)


async def _cancel_through_owner(registry: ThreadRegistry, trip_id: str, owner: str, out: TextIO) -> int:
    """A `run` process owns the store: write the control into the trip's
    inbox; that process wakes the trip (it looks every couple of seconds)."""
    delivery = await registry.deliver(trip_id, _cancel_reply())
    who = f"pid {owner}" if owner else "another process"
    record = await _wait_for_state(registry, trip_id, CANCEL_WAIT_SECONDS)
    if record is not None and record.state == "cancelled":
        out.write(f"Cancelled trip {trip_id}: the running travel-planner ({who}) stopped it and told its thread.\n")
    else:
        state = record.state if record else "unknown"
        waiting = "it was waiting for people" if delivery.waiter else "it is busy"
        out.write(
            f"Cancel recorded for trip {trip_id} (now {state}; {waiting}). The running travel-planner ({who}) "
            "stops it before its next AI call.\n"
        )
    return OK


async def _cancel_on_server(env: Mapping[str, str], registry: ThreadRegistry, trip_id: str, out: TextIO) -> int:
    from workflows.runtime import open_server_mode

    runtime = await open_server_mode(env, role="web", parts=None)
    try:
        await runtime.engine.deliver_reply(trip_id, _cancel_reply())
    finally:
        await runtime.close()
    record = await _wait_for_state(registry, trip_id, CANCEL_WAIT_SECONDS)
    if record is not None and record.state == "cancelled":
        out.write(f"Cancelled trip {trip_id}: a worker stopped it and told its thread.\n")
    else:
        out.write(f"Cancel delivered to trip {trip_id}; a worker stops it before its next AI call.\n")
    return OK


async def _cancel_embedded(env: Mapping[str, str], record: TripRecord, out: TextIO) -> int:
    """No process owns the store: open the embedded runtime briefly (it needs
    the settings `run` needs), deliver the control and follow the trip until
    it has stopped and told its thread."""
    from workflows.runtime import open_embedded, research_collaborators

    if record.thread.get("surface") == "slack":
        from bot.installations import OAuthCredentials

        if OAuthCredentials.from_env(env) is None:  # ConfigError now, before anything runs
            _slack_token(env)
    chats: list[SurfaceChatPort] = []

    def chat(registry: ThreadRegistry) -> SurfaceChatPort:
        chats.append(SurfaceChatPort(registry, env, out))
        return chats[-1]

    try:
        runtime = await open_embedded(env, research_collaborators(env, chat))
    except StateDirBusy as busy:  # a `run` started meanwhile
        async with open_store(env) as store:
            assert store.registry is not None
            return await _cancel_through_owner(store.registry, record.trip_id, busy.owner, out)
    try:
        await runtime.engine.deliver_reply(record.trip_id, _cancel_reply())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runtime.engine.outcome(record.trip_id), CANCEL_WAIT_SECONDS)
        final = await runtime.registry.get_trip(record.trip_id)
    finally:
        for port in chats:
            await port.aclose()
        await runtime.close()
    if final is not None and final.state == "cancelled":
        out.write(f"Cancelled trip {record.trip_id} and told its thread.\n")
    else:
        state = final.state if final else "unknown"
        out.write(
            f"Cancel recorded for trip {record.trip_id} (now {state}); it takes effect when the trip next runs "
            "(`travel-planner run`, or `travel-planner chat --trip ID`).\n"
        )
    return OK


def _slack_token(env: Mapping[str, str]) -> str:
    token = env.get("SLACK_BOT_TOKEN", "").strip()
    if not token.startswith("xoxb-"):
        raise ConfigError(
            "SLACK_BOT_TOKEN",
            "needed to tell a Slack trip's thread that it was cancelled (xoxb-..., or the OAuth settings `run` uses)",
        )
    return token


class SurfaceChatPort:
    """A `ChatPort` that posts where each trip lives: Slack threads through
    `SlackChatPort` (SLACK_BOT_TOKEN, SLACK_API_URL), anything else as text."""

    def __init__(self, registry: ThreadRegistry, env: Mapping[str, str], out: TextIO) -> None:
        self._registry = registry
        self._env = env
        self._out = out
        self._slack: Any = None
        self._text: Any = None

    def _port(self, thread: ThreadRef) -> Any:
        if thread.get("surface") == "slack":
            if self._slack is None:
                from bot.installations import OAuthCredentials, installed_workspaces
                from bot.slack_chat import SlackChatPort
                from bot.slack_client import make_web_client, slack_api_url
                from bot.workspaces import DeferredWorkspaces, SingleWorkspace

                oauth = OAuthCredentials.from_env(self._env)
                if oauth is None:  # one token; each trip's workspace must be its team
                    workspaces: Any = SingleWorkspace(make_web_client(_slack_token(self._env), slack_api_url(self._env)))
                else:  # each workspace's own token, from the installations

                    async def open_installed() -> Any:
                        return (await installed_workspaces(self._env, oauth))[0]

                    workspaces = DeferredWorkspaces(open_installed)
                self._slack = SlackChatPort(workspaces, self._registry)
            return self._slack
        if self._text is None:
            from travel_planner.terminal import TerminalChatPort

            self._text = TerminalChatPort(self._registry, self._out)
        return self._text

    async def ask(self, thread: ThreadRef, question: str, *, key: str, choices: Sequence[str] = ()) -> None:
        await self._port(thread).ask(thread, question, key=key, choices=choices)

    async def progress(self, thread: ThreadRef, text: str, *, key: str) -> None:
        await self._port(thread).progress(thread, text, key=key)

    async def update_progress(self, thread: ThreadRef, text: str, *, key: str) -> None:
        await self._port(thread).update_progress(thread, text, key=key)

    async def final_plan(self, thread: ThreadRef, plan: str, *, key: str, footer: str = "") -> None:
        await self._port(thread).final_plan(thread, plan, key=key, footer=footer)

    async def show_state(self, thread: ThreadRef, state: str, *, trip: TripRecord, plan_key: str = "") -> None:
        await self._port(thread).show_state(thread, state, trip=trip, plan_key=plan_key)

    async def notice(self, thread: ThreadRef, text: str, *, key: str) -> None:
        await self._port(thread).notice(thread, text, key=key)

    async def set_status(self, thread: ThreadRef, status: str) -> None:
        await self._port(thread).set_status(thread, status)

    async def aclose(self) -> None:
        if self._slack is not None:
            await self._slack.aclose()


__all__ = [
    "CONFIG_ERROR",
    "OK",
    "UNKNOWN_TRIP",
    "SurfaceChatPort",
    "add_parser",
    "cancel_trip",
    "list_trips",
    "read_durable_state",
    "show_trip",
    "trips_command",
]
