"""Resonate on Postgres (resonate-pg) for `web` and `worker`.

`DATABASE_URL` names the database; the schema must have been applied once
(`travel-planner db init`). Every process gets a fresh pid, used by the SDK
and the connector alike (the SDK leases tasks under it). A `worker` joins the
`workers` group's queue and drives timers (`TimerDriver`); a `web` process is
a client with no sources: it starts trips and resolves promises, and never
takes work it could not run.

The task lease (`TRAVEL_PLANNER_TASK_LEASE_SECONDS`, default 5 s) decides how
soon a dead worker's trip moves: the worker heartbeats four times per lease,
and once it lapses the next timer pass hands the task to another worker.

The heartbeat has a database connection of its own. Through the shared pool
it queued behind every trip's requests: a worker busy with 256 trips on 16
connections missed its lease with no crash, another worker took the trips,
and the steps in flight ran twice (14 LLM calls paid twice in one load run).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

import msgspec
import psycopg
from resonate.connections.local import unwrap_request_envelope
from resonate.heartbeat import AsyncHeartbeat
from resonate.resonate import Resonate
from resonate.send import Sender
from resonate.transport import Transport
from resonate_pg import PostgresConnection

from workflows import failpoints
from workflows.durable.connection import settled_promise_id
from workflows.errors import ConfigError
from workflows.postgres.schema import schema_problems
from workflows.postgres.sessions import CheckedSessions

DATABASE_URL_ENV = "DATABASE_URL"
LEASE_ENV = "TRAVEL_PLANNER_TASK_LEASE_SECONDS"
DEFAULT_LEASE_SECONDS = 5.0
#: Beats per lease: a lease survives three missed or slow beats.
HEARTBEATS_PER_LEASE = 4


def lease_from_env(env: Mapping[str, str]) -> timedelta:
    raw = env.get(LEASE_ENV, "").strip()
    if not raw:
        return timedelta(seconds=DEFAULT_LEASE_SECONDS)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 1.0 <= seconds <= 600.0:
        raise ConfigError(LEASE_ENV, f"expected seconds between 1 and 600, got {raw!r}")
    return timedelta(seconds=seconds)


def redact(text: str, conninfo: str) -> str:
    """`text` without the password of `conninfo` (psycopg's messages never
    carry it, but an operator's typo might end up in one)."""
    match = re.match(r"^[a-z+]+://[^:/@]*:([^@]*)@", conninfo)
    return text.replace(match.group(1), "***") if match and match.group(1) else text


def _database_problems(conninfo: str) -> list[str]:
    with psycopg.connect(conninfo, connect_timeout=10) as conn:
        return schema_problems(conn)


async def check_database(conninfo: str) -> None:
    """ConfigError (naming DATABASE_URL, saying what to do) unless the database
    answers and holds the schema with our fix-ups."""
    try:
        problems = await asyncio.to_thread(_database_problems, conninfo)
    except psycopg.Error as exc:
        detail = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, conninfo)
        raise ConfigError(DATABASE_URL_ENV, f"cannot connect to Postgres ({detail})") from None
    if problems:
        raise ConfigError(
            DATABASE_URL_ENV,
            "; ".join(problems) + ": run `travel-planner db init` (with --schema FILE or TRAVEL_PLANNER_RESONATE_SQL) once",
        )


class SettleReportingConnection(PostgresConnection):
    """resonate-pg's connection, telling `on_settled` about each promise whose
    settle Postgres has committed (the crash tests' `after:<step>` points)."""

    def __init__(self, *args: object, on_settled: Callable[[str], None], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._on_settled = on_settled

    async def send(self, req: str, headers: dict[str, str] | None = None) -> str:
        response = await super().send(req, headers)
        settled = settled_promise_id(unwrap_request_envelope(msgspec.json.decode(req)))
        if settled:
            self._on_settled(settled)
        return response


@dataclass
class PostgresEngine:
    resonate: Resonate
    connection: PostgresConnection
    pid: str
    #: The heartbeat's own connection (one session); stop it after `resonate`.
    heartbeat_connection: PostgresConnection


def postgres_resonate(
    conninfo: str, *, role: str, group: str, pid: str, lease: timedelta, max_concurrent_tasks: int
) -> PostgresEngine:
    """The SDK on resonate-pg; a `web` takes no work (`sources=[]`)."""
    # The connector's own timer driver turns itself off after one failure;
    # workers drive timers with `TimerDriver` instead.
    sessions = CheckedSessions(conninfo)
    connection: PostgresConnection
    if failpoints.armed():  # only a crash test pays for reading each request
        connection = SettleReportingConnection(
            sessions=sessions, pid=pid, group=group, drive_timers=False, on_settled=failpoints.on_settle_journaled
        )
    else:
        connection = PostgresConnection(sessions=sessions, pid=pid, group=group, drive_timers=False)
    heartbeat_connection = PostgresConnection(
        sessions=CheckedSessions(conninfo, max_size=1), pid=pid, group=group, drive_timers=False
    )
    heartbeat = AsyncHeartbeat(
        pid, max(int(lease.total_seconds() * 1000) // HEARTBEATS_PER_LEASE, 1),
        Sender(Transport(heartbeat_connection), auth=None),
    )
    resonate = Resonate(
        network=connection,
        sources=[] if role == "web" else None,
        group=group,
        pid=pid,
        ttl=lease,
        env={},
        max_concurrent_tasks=max_concurrent_tasks,
        autostart=False,
        heartbeat=heartbeat,
    )
    return PostgresEngine(resonate, connection, pid, heartbeat_connection)


__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_LEASE_SECONDS",
    "LEASE_ENV",
    "PostgresEngine",
    "check_database",
    "lease_from_env",
    "postgres_resonate",
    "redact",
]
