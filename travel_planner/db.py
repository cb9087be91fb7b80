"""`travel-planner db`: the Postgres engine's schema and storage.

    travel-planner db init [--schema FILE]   apply resonate.sql and our fix-ups (idempotent)
    travel-planner db check                   exit 0 when ready, 2 with the reason
    travel-planner db gc [--older-than-days D]   delete finished trips' rows past retention

The database is `DATABASE_URL`. The schema file comes from `--schema`, from
`TRAVEL_PLANNER_RESONATE_SQL`, or is downloaded from the pinned commit of
resonatehq/resonate-pg; it is checked against the pinned sha256 first.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Mapping
from typing import Any, TextIO

import psycopg

from workflows.config import TripSettings
from workflows.errors import ConfigError
from workflows.postgres.engine import DATABASE_URL_ENV, redact
from workflows.postgres.gc import collect_garbage
from workflows.postgres.schema import (
    FIXUPS,
    PINNED_COMMIT,
    PINNED_REPOSITORY,
    SchemaError,
    apply_schema,
    check_schema,
    load_schema,
)

OK = 0
NOT_READY = 2


def add_parser(sub: Any) -> None:
    db = sub.add_parser("db", help="the Postgres engine's schema and storage (DATABASE_URL)")
    actions = db.add_subparsers(dest="db_command", required=True)
    init = actions.add_parser("init", help="apply resonate.sql and our fix-ups (running it twice is harmless)")
    init.add_argument("--schema", help="path to resonate.sql (else TRAVEL_PLANNER_RESONATE_SQL, else downloaded)")
    actions.add_parser("check", help="exit 0 when the schema and the fix-ups are in place, else 2 with the reason")
    gc = actions.add_parser("gc", help="delete the durable rows of trips finished longer ago than the retention")
    gc.add_argument("--older-than-days", type=float, help="retention in days (default TRAVEL_PLANNER_RETENTION_DAYS)")


def _dsn(env: Mapping[str, str]) -> str:
    dsn = env.get(DATABASE_URL_ENV, "").strip()
    if not dsn:
        raise ConfigError(DATABASE_URL_ENV, "`travel-planner db` needs the Postgres database (postgresql://...)")
    return dsn


def _unreachable(exc: psycopg.Error, dsn: str) -> ConfigError:
    text = str(exc).strip()
    return ConfigError(DATABASE_URL_ENV, f"cannot connect to Postgres ({redact(text.splitlines()[0] if text else type(exc).__name__, dsn)})")


def db_command(args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    dsn = _dsn(env)
    try:
        if args.db_command == "init":
            try:
                schema = load_schema(args.schema, env)
            except SchemaError as exc:
                err.write(f"travel-planner db init: {exc}\n")
                return NOT_READY
            apply_schema(dsn, schema)
            problems = check_schema(dsn)
            if problems:
                err.write("travel-planner db init: applied, but: " + "; ".join(problems) + "\n")
                return NOT_READY
            out.write(
                f"Applied resonate.sql ({PINNED_REPOSITORY}@{PINNED_COMMIT[:12]}) and {len(FIXUPS)} fix-up(s). "
                "Workers drive the timers themselves; pg_cron is not needed.\n"
            )
            return OK
        if args.db_command == "check":
            problems = check_schema(dsn)
            if problems:
                err.write("travel-planner db check: not ready: " + "; ".join(problems) + " (run `travel-planner db init`)\n")
                return NOT_READY
            out.write("The database is ready: resonate.sql and our fix-ups are in place.\n")
            return OK
        if args.db_command == "gc":
            days = args.older_than_days if args.older_than_days is not None else TripSettings.from_env(env).retention_days
            if days < 0:
                raise ConfigError("--older-than-days", f"expected a number of days >= 0, got {days}")
            problems = check_schema(dsn)
            if problems:
                err.write("travel-planner db gc: not ready: " + "; ".join(problems) + "\n")
                return NOT_READY
            horizon = time.time() - days * 86400
            deleted = asyncio.run(_gc(dsn, env, horizon))
            if deleted is None:
                out.write("Another process is collecting right now; nothing done.\n")
            else:
                out.write(f"Deleted {deleted[0]} durable rows and {deleted[1]} finished trip records "
                          f"(settled more than {days:g} days ago).\n")
            return OK
    except psycopg.Error as exc:
        raise _unreachable(exc, dsn) from None
    raise AssertionError(args.db_command)


async def _gc(dsn: str, env: Mapping[str, str], horizon: float) -> tuple[int, int] | None:
    deleted = await collect_garbage(dsn, int(horizon * 1000))
    if deleted is None:
        return None
    forgotten = 0
    redis_url = env.get("REDIS_URL", "").strip()
    if redis_url:  # the registry's records of those trips go too
        from workflows.registry import RedisThreadRegistry
        from workflows.registry.redis_registry import open_redis_client
        from workflows.runtime import forget_finished_trips

        client = open_redis_client(redis_url)
        try:
            forgotten = await forget_finished_trips(RedisThreadRegistry(client), horizon)
        finally:
            await client.aclose()
    return deleted, forgotten


__all__ = ["add_parser", "db_command"]
