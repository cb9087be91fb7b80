"""Assembles a running planner: Resonate, the trip workflow, the engine.

Two modes, one workflow:
- embedded (default): durable state in a SQLite file this process owns, via
  `JournaledConnection`; the thread registry lives in the same database.
- multi-process: durable state in Postgres (`DATABASE_URL`, resonate-pg) or a
  Resonate server (`RESONATE_URL`), and the registry in Redis; `web`
  processes start trips and deliver replies, `worker` processes run them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from resonate.resonate import Resonate
from resonate.retry import Never

from workflows import failpoints
from workflows.config import LlmSettings, TripSettings, state_dir_from_env
from workflows.durable.connection import JournaledConnection
from workflows.durable.journal import DurableJournal, StoreWriteError
from workflows.durable.state_dir import StateDir
from workflows.engine import TripEngine
from workflows.llm import ChatModel, OpenAIChatModel
from workflows.plan_revisions import takes_changes
from workflows.ports import ChatPort, PostLedger, ThreadRegistry, TripDirectory
from workflows.services import ResearchTools, TripServices
from workflows.steps import STEPS
from workflows.trip import TRIP_VERSIONS, TRIP_WORKFLOW
from workflows.versions import TripVersions

logger = logging.getLogger(__name__)

WORKER_GROUP = "workers"
EMBEDDED_GROUP = "default"
#: Trips executing at once in one process (each holds a lease while it runs).
MAX_CONCURRENT_TRIPS = 256
MAINTENANCE_INTERVAL_SECONDS = 3600.0
#: How often the embedded runtime looks for replies or controls written into
#: the registry by another process (`travel-planner trips cancel`).
KICK_INTERVAL_SECONDS = 2.0


def _expected_sdk_warnings(record: logging.LogRecord) -> bool:
    """Drop one SDK warning our trips cause by design: a reminder timer that
    lost the race to a reply is settled by a later step, so the SDK sees it
    pending once and re-runs the body (harmless, and not an operator's issue)."""
    return not record.getMessage().startswith("core: workflow returned done with pending remote todos")


logging.getLogger("resonate.core").addFilter(_expected_sdk_warnings)


def _exit_on_write_error(exc: StoreWriteError) -> None:
    """Fail-stop: a step must never run without being recorded."""
    logger.critical("%s", exc)
    logging.shutdown()
    os._exit(75)


@dataclass
class Runtime:
    resonate: Resonate
    engine: TripEngine
    #: The whole registry store: the runtime owns it and hands out its parts.
    registry: ThreadRegistry
    settings: TripSettings
    connection: JournaledConnection | None = None
    state_dir: StateDir | None = None
    closers: list[Callable[[], object]] = field(default_factory=list)
    _background: list[asyncio.Task[None]] = field(default_factory=list)

    async def close(self, timeout: float = 5.0) -> None:
        for task in self._background:
            task.cancel()
        # `stop` waits for in-flight executions, which keep taking steps.
        with contextlib.suppress(TimeoutError, Exception):
            await asyncio.wait_for(self.resonate.stop(), timeout)
        for close in reversed(self.closers):
            result = close()
            if asyncio.iscoroutine(result):
                with contextlib.suppress(Exception):
                    await result
        if self.state_dir is not None:
            self.state_dir.close()


@dataclass
class Collaborators:
    """What the runtime plugs into the trip's steps."""

    chat: Callable[[PostLedger], ChatPort]
    tools: ResearchTools
    tool_specs: list[dict]
    untrusted_rule: str
    model: ChatModel | None = None  # default: OpenAI-compatible client from env
    versions: TripVersions = TRIP_VERSIONS


def research_collaborators(
    env: Mapping[str, str], chat: Callable[[PostLedger], ChatPort]
) -> Collaborators:
    """The production tools (web search, page reader) and prompt rule."""
    from workflows.tools import TOOL_SPECS, UNTRUSTED_CONTENT_RULE, WebTools

    return Collaborators(
        chat=chat,
        tools=WebTools.from_env(env),
        tool_specs=list(TOOL_SPECS),
        untrusted_rule=UNTRUSTED_CONTENT_RULE,
    )


def _services(
    env: Mapping[str, str], parts: Collaborators, registry: ThreadRegistry, engine: TripEngine,
    settings: TripSettings, closers: list[Callable[[], object]], clock: Callable[[], float] = time.time,
) -> TripServices:
    model = parts.model
    if model is None:
        openai_model = OpenAIChatModel(LlmSettings.from_env(env))
        closers.append(openai_model.close)
        model = openai_model
    return TripServices(
        model=model,
        tools=parts.tools,
        tool_specs=parts.tool_specs,
        untrusted_rule=parts.untrusted_rule,
        chat=parts.chat(registry),
        directory=registry,
        inbox=registry,
        engine=engine,
        settings=settings,
        versions=parts.versions,
        clock=clock,
    )


def _register(resonate: Resonate, versions: TripVersions) -> None:
    for name, step in STEPS.items():
        resonate.register(step, name=name, retry_policy=Never())
    for version, fn in versions.registered.items():
        # Workflow bodies never retry as a whole; steps carry their own policies.
        resonate.register(fn, name=TRIP_WORKFLOW, version=version, retry_policy=Never())


async def open_embedded(
    env: Mapping[str, str],
    parts: Collaborators,
    *,
    clock: Callable[[], float] = time.time,
    tick_seconds: float = 1.0,
    on_write_error: Callable[[StoreWriteError], None] = _exit_on_write_error,
    registry: ThreadRegistry | None = None,
) -> Runtime:
    """One process, durable state on local disk. Call inside the event loop.

    `clock` (seconds) drives everything that reads time: promise deadlines,
    durable timers, the registry. Tests pass one they can move by hand, with a
    short `tick_seconds` so due timers fire promptly."""
    from workflows.registry import SqliteThreadRegistry

    def clock_ms() -> int:
        return int(clock() * 1000)

    settings = TripSettings.from_env(env)
    state_dir = StateDir(state_dir_from_env(env))
    try:
        connection = JournaledConnection(
            DurableJournal(state_dir.db),
            pid=uuid.uuid4().hex,
            group=EMBEDDED_GROUP,
            clock=clock_ms,
            tick_interval=tick_seconds,
            on_write_error=on_write_error,
            on_settled=failpoints.on_settle_journaled if failpoints.armed() else None,
        )
        if registry is None:  # the default: in the same database as the store
            registry = SqliteThreadRegistry(
                state_dir.db, clock=clock, on_disk_failure=lambda exc: on_write_error(StoreWriteError(str(exc)))
            )
        resonate = Resonate(
            network=connection,
            group=EMBEDDED_GROUP,
            env={},
            max_concurrent_tasks=MAX_CONCURRENT_TRIPS,
            subscription_refresh_secs=0,
            clock=clock_ms,
            autostart=False,
        )
        engine = TripEngine(
            resonate, directory=registry, inbox=registry, settings=settings, target=EMBEDDED_GROUP,
            versions=parts.versions, clock=clock,
        )
        closers: list[Callable[[], object]] = []
        resonate.with_dependency(_services(env, parts, registry, engine, settings, closers, clock))
        _register(resonate, parts.versions)
    except BaseException:
        state_dir.close()
        raise
    runtime = Runtime(resonate, engine, registry, settings, connection, state_dir, closers)
    resonate.start()
    await asyncio.sleep(0)  # let the connection recover and re-dispatch
    await engine.kick_stranded()
    runtime._background.append(asyncio.create_task(_maintain(runtime, clock)))
    runtime._background.append(asyncio.create_task(_kick_stranded_loop(runtime)))
    logger.info(
        "embedded store at %s: replayed %d journal entries, %d promises",
        state_dir.path, connection.replayed_entries, len(connection.state.promises),
    )
    return runtime


async def _kick_stranded_loop(runtime: Runtime, interval: float | None = None) -> None:
    """Wake trips whose inbox got a reply or control from outside this
    process (`travel-planner trips cancel` writes into the registry while
    `run` owns the store). Each (trip, promise) pair is resolved once: a
    pair that stays listed is a busy trip whose stale waiter was already
    resolved (resolving it again would change nothing)."""
    interval = interval or KICK_INTERVAL_SECONDS
    kicked: set[tuple[str, str]] = set()
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            await asyncio.sleep(interval)
            try:
                stranded = set(await runtime.registry.stranded_waiters())
                for trip_id, promise_id in sorted(stranded - kicked):
                    logger.info("waking trip %s: a reply or control arrived from outside", trip_id)
                    await runtime.engine.resolve(promise_id)
                    kicked.add((trip_id, promise_id))
                kicked &= stranded
            except Exception:
                logger.exception("looking for stranded trips failed; trying again in %g s", interval)


async def _maintain(runtime: Runtime, clock: Callable[[], float]) -> None:
    """Prune finished trips past retention, so state and step cost stay bounded."""
    assert runtime.connection is not None
    retention = timedelta(days=runtime.settings.retention_days).total_seconds()
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            horizon_ms = int((clock() - retention) * 1000)
            for trip_id in runtime.connection.prune_finished(horizon_ms):
                await runtime.registry.forget_trip(trip_id)
                logger.info("pruned finished trip %s", trip_id)
            await asyncio.sleep(MAINTENANCE_INTERVAL_SECONDS)


def server_engine(env: Mapping[str, str]) -> str:
    """Which engine the multi-process mode runs on: "postgres" (`DATABASE_URL`)
    or "resonate-server" (`RESONATE_URL`); ConfigError when neither is set."""
    if env.get("DATABASE_URL", "").strip():
        return "postgres"
    if env.get("RESONATE_URL", "").strip():
        return "resonate-server"
    from workflows.errors import ConfigError

    raise ConfigError(
        "DATABASE_URL",
        "multi-process mode needs an engine: DATABASE_URL (Postgres with resonate-pg) "
        "or RESONATE_URL (a Resonate server)",
    )


async def open_server_mode(
    env: Mapping[str, str],
    *,
    role: str,
    parts: Collaborators | None,
    clock: Callable[[], float] = time.time,
) -> Runtime:
    """`web` or `worker` on Postgres (`DATABASE_URL`) or a Resonate server
    (`RESONATE_URL`), with the registry in Redis (`REDIS_URL`)."""
    from workflows.errors import ConfigError
    from workflows.registry import RedisThreadRegistry
    from workflows.registry.redis_registry import open_redis_client

    engine_kind = server_engine(env)
    redis_url = env.get("REDIS_URL", "").strip()
    if not redis_url:
        raise ConfigError("REDIS_URL", f"`travel-planner {role}` needs Redis for the thread registry")
    settings = TripSettings.from_env(env)
    # Reconnecting retries: after a Redis restart the first command on each
    # pooled connection would fail (a Slack event answered 500).
    client = open_redis_client(redis_url)
    registry = RedisThreadRegistry(client, clock=clock)
    closers: list[Callable[[], object]] = [client.aclose]
    try:
        await registry.ping()
    except Exception as exc:  # redis-py's ConnectionError, a DNS failure, a refused auth
        await client.aclose()
        raise ConfigError("REDIS_URL", f"cannot connect to Redis ({type(exc).__name__})") from None
    group = WORKER_GROUP if role == "worker" else f"web-{uuid.uuid4().hex[:8]}"
    timers = None
    if engine_kind == "postgres":
        from workflows.postgres.engine import check_database, lease_from_env, postgres_resonate
        from workflows.postgres.timers import TimerDriver

        dsn = env["DATABASE_URL"].strip()
        lease = lease_from_env(env)
        try:
            await check_database(dsn)
        except ConfigError:
            await client.aclose()
            raise
        pg = postgres_resonate(
            dsn, role=role, group=group, pid=uuid.uuid4().hex, lease=lease,
            max_concurrent_tasks=MAX_CONCURRENT_TRIPS,
        )
        resonate = pg.resonate
        closers.append(pg.heartbeat_connection.stop)  # closers run after `resonate.stop()`
        if role == "worker":
            timers = TimerDriver(dsn)
            closers.append(timers.stop)
    else:
        resonate = Resonate(
            url=env["RESONATE_URL"].strip(), group=group, env={}, max_concurrent_tasks=MAX_CONCURRENT_TRIPS,
            autostart=False,
        )
    versions = parts.versions if parts is not None else TRIP_VERSIONS
    engine = TripEngine(
        resonate, directory=registry, inbox=registry, settings=settings, target=WORKER_GROUP, versions=versions,
        clock=clock,
    )
    if role == "worker":
        assert parts is not None
        resonate.with_dependency(_services(env, parts, registry, engine, settings, closers))
        _register(resonate, parts.versions)
    resonate.start()
    runtime = Runtime(resonate, engine, registry, settings, closers=closers)
    if timers is not None:
        timers.start()
        runtime._background.append(asyncio.create_task(_collect_garbage(runtime, env["DATABASE_URL"].strip(), clock)))
    if role == "web":
        await engine.kick_stranded()
    return runtime


async def _collect_garbage(runtime: Runtime, dsn: str, clock: Callable[[], float]) -> None:
    """Postgres: delete the durable rows of trips finished past retention, and
    their registry records, so storage stays bounded without pg_cron."""
    from workflows.postgres.gc import collect_garbage

    retention = timedelta(days=runtime.settings.retention_days).total_seconds()
    interval = runtime.settings.gc_interval_minutes * 60
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            try:
                horizon = clock() - retention
                deleted = await collect_garbage(dsn, int(horizon * 1000))
                forgotten = await forget_finished_trips(runtime.registry, horizon)
                if deleted or forgotten:
                    logger.info("gc: %s durable rows and %d finished trips removed", deleted, forgotten)
            except Exception:
                logger.exception("gc failed; trying again in %g s", interval)
            await asyncio.sleep(interval)


#: Trip states after which nothing runs any more.
FINISHED_STATES = frozenset({"done", "closed", "cancelled", "expired", "failed"})


async def forget_finished_trips(directory: TripDirectory, finished_before: float) -> int:
    """Drop the registry records of trips finished before `finished_before` (epoch s)."""
    forgotten = 0
    for record in await directory.list_trips():
        if record.state in FINISHED_STATES and not takes_changes(record) and record.updated_at < finished_before:
            await directory.forget_trip(record.trip_id)
            forgotten += 1
    return forgotten
