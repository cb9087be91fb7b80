"""Where `travel-planner trips` finds trips, by the same rule as the processes.

- embedded (default): the SQLite file in TRAVEL_PLANNER_STATE_DIR, opened
  without the owner lock (a `run` process may own it: SQLite in WAL mode lets
  readers and a short writer work beside it);
- Postgres mode (REDIS_URL and DATABASE_URL, as for `web` and `worker`): the
  registry in Redis, the history in `resonate.promises`;
- Resonate-server mode (REDIS_URL and RESONATE_URL): the registry in Redis;
  the history lives in the server, which `trips show` does not read.

An unreachable Redis, or DATABASE_URL without the schema, is a ConfigError
naming the variable.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from workflows.config import state_dir_from_env
from workflows.durable.state_dir import DB_NAME, open_database
from workflows.errors import ConfigError
from workflows.ports import ThreadRegistry

#: Exit codes of the `trips` commands (a ConfigError is the CLI's 2).
OK = 0
UNKNOWN_TRIP = 1


@dataclass
class Store:
    registry: ThreadRegistry | None  # None: no embedded state yet
    mode: str  # "embedded" | "postgres" | "server" (a Resonate server)
    where: str  # the state file, or the Redis (and Postgres) host part
    db_path: Path | None = None
    database_url: str | None = None  # Postgres mode: where the history is

    @property
    def label(self) -> str:
        """"embedded store: /path/to/travel-planner.sqlite3"."""
        return f"{self.mode} store: {self.where}"


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


__all__ = ["OK", "UNKNOWN_TRIP", "Store", "multi_process_engine", "open_store"]
