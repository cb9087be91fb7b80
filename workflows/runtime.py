"""Assembles a running planner: Resonate, the trip workflow, the engine.

Two modes, one workflow:
- embedded (default): durable state in a SQLite file this process owns, via
  `JournaledConnection`; the thread registry lives in the same database.
- server (`RESONATE_URL`): the Resonate server holds durable state and the
  registry is Redis; `web` processes start trips and deliver replies, `worker`
  processes run them.
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
from workflows.ports import ChatPort, ThreadRegistry
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

    chat: Callable[[ThreadRegistry], ChatPort]
    tools: ResearchTools
    tool_specs: list[dict]
    untrusted_rule: str
    model: ChatModel | None = None  # default: OpenAI-compatible client from env
    versions: TripVersions = TRIP_VERSIONS


def research_collaborators(
    env: Mapping[str, str], chat: Callable[[ThreadRegistry], ChatPort]
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
        registry=registry,
        resolver=engine,
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
            resonate, registry, settings, target=EMBEDDED_GROUP, versions=parts.versions, clock=clock
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
            for origin in runtime.connection.prune_finished(horizon_ms):
                await runtime.registry.forget_trip(origin)
                logger.info("pruned finished trip %s", origin)
            await asyncio.sleep(MAINTENANCE_INTERVAL_SECONDS)


async def open_server_mode(
    env: Mapping[str, str],
    *,
    role: str,
    parts: Collaborators | None,
    clock: Callable[[], float] = time.time,
) -> Runtime:
    """`web` or `worker` against a Resonate server, with the registry in Redis."""
    import redis.asyncio as aioredis

    from workflows.registry import RedisThreadRegistry

    url = env.get("RESONATE_URL", "").strip()
    redis_url = env.get("REDIS_URL", "").strip()
    from workflows.errors import ConfigError

    if not url:
        raise ConfigError("RESONATE_URL", f"`travel-planner {role}` needs the Resonate server's URL")
    if not redis_url:
        raise ConfigError("REDIS_URL", f"`travel-planner {role}` needs Redis for the thread registry")
    settings = TripSettings.from_env(env)
    client = aioredis.from_url(redis_url)
    registry = RedisThreadRegistry(client, clock=clock)
    group = WORKER_GROUP if role == "worker" else f"web-{uuid.uuid4().hex[:8]}"
    resonate = Resonate(
        url=url, group=group, env={}, max_concurrent_tasks=MAX_CONCURRENT_TRIPS, autostart=False
    )
    versions = parts.versions if parts is not None else TRIP_VERSIONS
    engine = TripEngine(resonate, registry, settings, target=WORKER_GROUP, versions=versions, clock=clock)
    closers: list[Callable[[], object]] = [client.aclose]
    if role == "worker":
        assert parts is not None
        resonate.with_dependency(_services(env, parts, registry, engine, settings, closers))
        _register(resonate, parts.versions)
    resonate.start()
    runtime = Runtime(resonate, engine, registry, settings, closers=closers)
    if role == "web":
        await engine.kick_stranded()
    return runtime
