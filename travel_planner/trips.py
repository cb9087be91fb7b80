"""`travel-planner trips`: list trips, show one's steps and transcript, cancel one.

- `trips` lists every trip the registry knows: state, last activity, usage.
- `trips show ID` prints the trip's record, then its durable history
  (segments, their steps and states) read straight from the durable store,
  then the transcript (who said what); see travel_planner/history.py.
- `trips cancel ID` hands the trip a cancel control, like the Cancel button.

Where it reads, by the same rule as the processes:
- embedded (default): the SQLite file in TRAVEL_PLANNER_STATE_DIR, opened
  without the owner lock (a `run` process may own it: SQLite in WAL mode lets
  readers and a short writer work beside it);
- Postgres mode (REDIS_URL and DATABASE_URL, as for `web` and `worker`): the
  registry in Redis, the history from `resonate.promises`;
- Resonate-server mode (REDIS_URL and RESONATE_URL): the registry in Redis;
  `show` prints what the registry knows, since the history lives in the
  server.

How `cancel` reaches the trip:
- no process owns the state directory: the embedded runtime is opened
  briefly (like a short `run`, so it needs the same settings), the control is
  delivered with `engine.deliver_reply`, and the trip is followed until it has
  stopped and told its thread;
- a `run` process owns it: the control is written into the trip's inbox in
  the registry, and that process wakes the trip (it looks for stranded
  waiters every couple of seconds);
- Postgres or server mode: the control is written into the inbox in Redis and
  the trip's reply promise is resolved on the engine, by a client that takes
  no work (as `web` does), so a worker wakes the trip.

Exit codes: 0 ok, 1 unknown trip, 2 configuration error (a missing or
unreachable REDIS_URL, DATABASE_URL without the schema: the message names the
variable).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bot.trip_starts import is_pending_start
from travel_planner.history import (
    Segment,
    StoredPromise,
    child_seq,
    describe_step,
    one_line,
    read_embedded,
    read_postgres,
    reply_text,
    segment_messages,
    step_text,
    transcript_lines,
    trip_segments,
)
from workflows.config import state_dir_from_env
from workflows.durable.state_dir import DB_NAME, StateDir, StateDirBusy, open_database
from workflows.errors import ConfigError
from workflows.ports import Inbox, PostLedger, Reply, ThreadRef, ThreadRegistry, TripDirectory, TripRecord

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
    mode: str  # "embedded" | "postgres" | "server" (a Resonate server)
    where: str  # the state file, or the Redis (and Postgres) host part
    db_path: Path | None = None
    database_url: str | None = None  # Postgres mode: where the history is


def multi_process_engine(env: Mapping[str, str]) -> str | None:
    """The engine of `web`/`worker` when both it and REDIS_URL are set
    ("postgres" or "resonate-server", as `workflows.runtime.server_engine`
    chooses), else None: `run` and `chat` ignore REDIS_URL."""
    from workflows.runtime import server_engine

    if not env.get("REDIS_URL", "").strip():
        return None
    try:
        return server_engine(env)
    except ConfigError:  # neither engine: embedded
        return None


def _postgres_where(conninfo: str) -> str:
    """host:port/database, never the password."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:  # a malformed DSN (check_database has said why already)
        return "?"
    return f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}/{parts.get('dbname') or '?'}"


@contextlib.asynccontextmanager
async def open_store(env: Mapping[str, str]) -> AsyncIterator[Store]:
    """The registry, opened for a short visit (never taking the owner lock).
    In Postgres mode the database is checked first, as `web` checks it."""
    engine = multi_process_engine(env)
    if engine is not None:
        from workflows.registry import RedisThreadRegistry, open_redis_client

        url = env["REDIS_URL"].strip()
        redis_where = url.rsplit("@", 1)[-1]
        mode, where, database_url = "server", redis_where, None
        if engine == "postgres":
            from workflows.postgres.engine import check_database

            database_url = env["DATABASE_URL"].strip()
            await check_database(database_url)  # ConfigError naming DATABASE_URL
            mode, where = "postgres", f"{_postgres_where(database_url)}, registry in Redis {redis_where}"
        client = open_redis_client(url)
        try:
            registry = RedisThreadRegistry(client)
            try:
                await registry.ping()
            except Exception as exc:  # redis-py's ConnectionError, a DNS failure, a refused auth
                raise ConfigError("REDIS_URL", f"cannot connect to Redis ({type(exc).__name__})") from None
            yield Store(registry, mode, where, database_url=database_url)
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
        (t.trip_id, t.state, ago(t.updated_at), usage_text(t.usage), one_line(t.request or "-", 60))
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
        lines.append(f"  waiting for:   {one_line(record.last_question, 200)}")
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
        out.write(f"  not read yet:  {'; '.join(reply_text(r.to_dict()) for r in inbox)}\n")
    if store.mode == "server":
        out.write(
            "\nSteps and transcript live in the Resonate server: `trips show` reads them from the "
            "embedded store or Postgres (DATABASE_URL) only.\n"
        )
        return OK
    promises: list[StoredPromise] | None = None
    source = ""
    if store.database_url is not None:
        promises = await read_postgres(store.database_url, trip_id)
        source = "from Postgres, resonate.promises"
    elif store.db_path is not None:
        promises = read_embedded(store.db_path, trip_id)
        source = "from the embedded store"
    segments = trip_segments(promises, trip_id) if promises else []
    if not segments:
        out.write("\nNo durable history for this trip (pruned after it finished, or not started yet).\n")
        return OK
    out.write(f"\nSegments and steps: ({source})\n")
    for n, segment in enumerate(segments):
        out.write("".join(f"{line}\n" for line in _segment_lines(n, segment)))
    live = [s for s in segments if s.start is not None]
    out.write("\nTranscript:\n")
    if live:
        for line in transcript_lines(segment_messages(live[-1])):
            out.write("  " + line.replace("\n", "\n    ") + "\n")  # a long answer stays indented
    last = segments[-1].result
    if isinstance(last, dict) and last.get("plan"):
        if not live:
            out.write("  (the conversation was compacted after the trip finished)\n")
        out.write("\nPlan:\n" + "\n".join(f"  {line}" for line in str(last["plan"]).splitlines()) + "\n")
    elif not live:
        out.write("  (not kept: the trip finished and its history was compacted)\n")
    return OK


_MARKS = {"pending": "…", "resolved": "✓"}


def _segment_lines(n: int, segment: Segment) -> list[str]:
    p = segment.promise
    what = describe_step(segment.name, p.param, segment.result)
    lines = [f"  segment {n} ({p.id}) {what if p.pending else f'{p.state}: {what}'}"]
    if not segment.steps and not p.pending:
        lines.append("     (its steps were compacted once it finished)")
    for step in segment.steps:
        name, what = step_text(step)
        mark = _MARKS.get(step.state, step.state)
        lines.append(f"    {child_seq(p.id, step.id):>4}  {name:<19} {mark}  {what}")
    if segment.successor is not None:
        lines.append(f"      ->  {'hand-over':<19} →  next segment {segment.successor}")
    return lines


# ---------------------------------------------------------------------------
# cancel


def _cancel_reply() -> Reply:
    who = f"{getpass.getuser()} (command line)"
    return Reply(key=f"cli:cancel:{uuid.uuid4().hex}", author=who, text="cancel", ts=f"{time.time():.6f}", kind="cancel")


async def _wait_for_state(directory: TripDirectory, trip_id: str, seconds: float) -> TripRecord | None:
    deadline = time.monotonic() + seconds
    record = await directory.get_trip(trip_id)
    while record is not None and record.state not in FINAL_STATES and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        record = await directory.get_trip(trip_id)
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
        if store.mode in ("postgres", "server"):
            return await _cancel_on_server(env, store.registry, trip_id, out)
        state_path = state_dir_from_env(env)
        try:
            probe = StateDir(state_path)
        except StateDirBusy as busy:
            return await _cancel_through_owner(store.registry, store.registry, trip_id, busy.owner, out)
        probe.close()
    return await _cancel_embedded(env, record, out)


async def _cancel_through_owner(directory: TripDirectory, inbox: Inbox, trip_id: str, owner: str, out: TextIO) -> int:
    """A `run` process owns the store: write the control into the trip's
    inbox; that process wakes the trip (it looks every couple of seconds)."""
    delivery = await inbox.deliver(trip_id, _cancel_reply())
    who = f"pid {owner}" if owner else "another process"
    record = await _wait_for_state(directory, trip_id, CANCEL_WAIT_SECONDS)
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


async def _cancel_on_server(env: Mapping[str, str], directory: TripDirectory, trip_id: str, out: TextIO) -> int:
    from workflows.runtime import open_server_mode

    runtime = await open_server_mode(env, role="web", parts=None)
    try:
        await runtime.engine.deliver_reply(trip_id, _cancel_reply())
    finally:
        await runtime.close()
    record = await _wait_for_state(directory, trip_id, CANCEL_WAIT_SECONDS)
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

    def chat(ledger: PostLedger) -> SurfaceChatPort:
        chats.append(SurfaceChatPort(ledger, env, out))
        return chats[-1]

    try:
        runtime = await open_embedded(env, research_collaborators(env, chat))
    except StateDirBusy as busy:  # a `run` started meanwhile
        async with open_store(env) as store:
            assert store.registry is not None
            return await _cancel_through_owner(store.registry, store.registry, record.trip_id, busy.owner, out)
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

    def __init__(self, ledger: PostLedger, env: Mapping[str, str], out: TextIO) -> None:
        self._ledger = ledger
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
                self._slack = SlackChatPort(workspaces, self._ledger)
            return self._slack
        if self._text is None:
            from travel_planner.terminal import TerminalChatPort

            self._text = TerminalChatPort(self._ledger, self._out)
        return self._text

    async def ask(self, thread: ThreadRef, question: str, *, key: str, choices: Sequence[str] = ()) -> None:
        await self._port(thread).ask(thread, question, key=key, choices=choices)

    async def progress(self, thread: ThreadRef, text: str, *, key: str) -> None:
        await self._port(thread).progress(thread, text, key=key)

    async def progress_done(self, thread: ThreadRef, text: str, *, key: str) -> None:
        await self._port(thread).progress_done(thread, text, key=key)

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
    "show_trip",
    "trips_command",
]
