"""What the load suite (reliability/load.py) runs against, one per engine.

- embedded: one `travel-planner run` process on its own state directory;
- postgres: `web` + 2 `worker`s (testing/cluster.py) on a throwaway
  database with the resonate schema and a Redis server of the run's own.

Both show the suite one surface: the fake Slack and LLM, the URL Slack events
go to (`run`'s or `web`'s, where acks are measured), the RSS of every process,
the durable bytes written, and a stop followed by a start from the stored
state. The fake Slack keeps Slack's per-channel post limit: the suite spreads
its trips over channels as a workspace does.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import psutil
import psycopg
import redis

from reliability.postgres_cluster import WORKERS, postgres_server
from testing.bot_process import CHANNEL, SIGNING_SECRET, BotProcess, bot_env
from testing.cluster import Cluster, running_cluster
from testing.fakes.llm_server import ScriptedLLM
from testing.fakes.slack_api import FakeSlackWebAPI
from testing.loopback import free_port
from testing.postgres_server import throwaway_database
from testing.redis_server import RedisServer
from testing.research_fakes import research_fakes
from workflows.postgres.engine import DEFAULT_LEASE_SECONDS, LEASE_ENV
from workflows.postgres.schema import apply_schema

#: Every table, index and TOAST byte of the Resonate schema.
RESONATE_BYTES = (
    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
    " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'resonate' AND c.relkind IN ('r', 'm')"
)


class EmbeddedTarget:
    """One `travel-planner run`; its durable state is the state directory."""

    engine = "embedded"

    def __init__(self, slack: FakeSlackWebAPI, llm: ScriptedLLM, env: dict[str, str], workdir: Path) -> None:
        self.slack, self.llm, self.env, self.workdir = slack, llm, env, workdir
        self.logs = workdir
        self.bot: BotProcess | None = BotProcess(env, workdir / "bot.log")
        self.events_url = self.bot.events_url
        slack.deliver_events_to(self.events_url, SIGNING_SECRET)  # the app's own posts come back, as from Slack

    def rss(self) -> dict[str, int]:
        return {"run": psutil.Process(self.bot.proc.pid).memory_info().rss} if self.bot else {}

    def durable_bytes(self) -> dict[str, int]:
        state = self.workdir / "state"
        return {"state directory": sum(f.stat().st_size for f in state.iterdir() if f.is_file())}

    def stop(self) -> None:
        """SIGTERM (the process shuts down as in a deploy)."""
        if self.bot is not None:
            self.bot.stop()
            self.bot = None

    def start_again(self) -> dict[str, float]:
        """Start from the stored state; returns once the process is healthy, with its seconds to healthy."""
        started = time.monotonic()
        self.bot = BotProcess(self.env, self.workdir / "bot.log")
        return {"run": time.monotonic() - started}


class PostgresTarget:
    """`web` + 2 `worker`s; durable state: the resonate tables (and the registry in Redis)."""

    engine = "postgres"

    def __init__(self, cluster: Cluster, dsn: str, redis_url: str) -> None:
        self.cluster, self.dsn, self.redis_url = cluster, dsn, redis_url
        self.slack, self.llm, self.logs = cluster.slack, cluster.llm, cluster.logs
        self.events_url = cluster.web.events_url
        self.slack.deliver_events_to(self.events_url, SIGNING_SECRET)
        self._empty = self._measure()

    def _live(self) -> dict[str, int]:
        out: dict[str, int] = {}
        if self.cluster.web.proc.poll() is None:
            out["web"] = self.cluster.web.proc.pid
        live = [w for w in self.cluster.workers if w.proc.poll() is None]
        out.update({f"worker {n}": w.proc.pid for n, w in enumerate(live)})
        return out

    def rss(self) -> dict[str, int]:
        out = {}
        for name, pid in self._live().items():
            with contextlib.suppress(psutil.Error):
                out[name] = psutil.Process(pid).memory_info().rss
        return out

    def _measure(self) -> dict[str, int]:
        with psycopg.connect(self.dsn, connect_timeout=10) as conn:
            row = conn.execute(RESONATE_BYTES).fetchone()
        client = redis.Redis.from_url(self.redis_url)
        try:
            dataset = int(client.info("memory")["used_memory_dataset"])
        finally:
            client.close()
        return {"resonate tables": int(row[0]) if row else 0, "redis dataset": dataset}

    def durable_bytes(self) -> dict[str, int]:
        """Bytes written since the cluster started (the empty schema's are left out)."""
        now = self._measure()
        return {k: v - self._empty[k] for k, v in now.items()}

    def stop(self) -> None:
        """SIGKILL of both workers and `web`, as a host failure would."""
        for worker in self.cluster.workers:
            if worker.proc.poll() is None:
                worker.kill()
        if self.cluster.web.proc.poll() is None:
            self.cluster.web.kill()

    def start_again(self) -> dict[str, float]:
        """Both workers and `web` at once, as a platform restarts them;
        returns once `web` is healthy and each worker is running trips, with
        each one's seconds to that."""
        c = self.cluster
        first = len(c.workers)
        started = time.monotonic()

        def timed(start: Callable[[], object]) -> tuple[object, float]:
            return start(), time.monotonic() - started

        seconds: dict[str, float] = {}
        with ThreadPoolExecutor(WORKERS + 1) as pool:
            workers = [pool.submit(timed, partial(BotProcess, c.env, c.logs / f"worker-{first + n}.log", "worker"))
                       for n in range(WORKERS)]
            web = pool.submit(timed, c.restart_web)
            for n, future in enumerate(workers):
                with contextlib.suppress(Exception):  # one that failed to start is reported below
                    worker, seconds[f"worker {n}"] = future.result()
                    c.workers.append(worker)  # type: ignore[arg-type]
            _, seconds["web"] = web.result()
        if len(c.workers) < first + WORKERS:
            raise RuntimeError(f"a worker did not start again; logs in {c.logs}")
        return seconds


@contextlib.contextmanager
def started_target(
    engine: str, script: Callable, latency: float | Callable[[], float], prefix: str
) -> Iterator[EmbeddedTarget | PostgresTarget]:
    """A running target on `engine`, with the fake LLM playing `script`."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    if engine == "postgres":
        with _postgres_target(script, latency, workdir) as target:
            yield target
        return
    slack = FakeSlackWebAPI()  # Slack's per-channel post limit: the suite spreads its trips over channels
    slack.add_channel(CHANNEL, name="trips")
    with slack, research_fakes(script, latency=latency) as (llm, serper, _site):
        env = bot_env(slack, llm, serper, workdir / "state", free_port())
        env["TRAVEL_PLANNER_LOG_LEVEL"] = "WARNING"
        target = EmbeddedTarget(slack, llm, env, workdir)
        try:
            yield target
        finally:
            target.stop()


@contextlib.contextmanager
def _postgres_target(script: Callable, latency: float | Callable[[], float], workdir: Path) -> Iterator[PostgresTarget]:
    server_url, schema = postgres_server()
    with RedisServer() as redis_server, throwaway_database(server_url, prefix="tp_load") as dsn:
        apply_schema(dsn, schema)
        # The product's lease, not the tests' shorter one: the load measures the product.
        with running_cluster(workdir, dsn, redis_server.url, workers=WORKERS, script=script,
                             llm_kwargs={"latency": latency}, **{LEASE_ENV: str(DEFAULT_LEASE_SECONDS)}) as c:
            yield PostgresTarget(c, dsn, redis_server.url)
