"""`web` + N `worker` processes on Postgres and Redis, with loopback fakes.

    with running_cluster(tmp_path, resonate_db, redis.url, workers=2) as c:
        root = c.player.plan_trip("Lisbon in May")["ts"]
        c.kill_worker(0)

Every process is a real `python -m travel_planner.cli web|worker`; the
worker's readiness is its "running trips" log line (it serves no HTTP).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.bot_process import CHANNEL, BotProcess, SlackPlayer, bot_env, free_port
from tests.engine.harness import research_fakes
from tests.fakes.llm_server import LlmCall, ScriptedLLM
from tests.fakes.research import FakeSerper, PageSite
from tests.fakes.scenario import lisbon_script
from tests.fakes.slack_api import FakeSlackWebAPI
from tests.fakes.waiting import poll_until
from workflows.postgres.schema import SCHEMA_ENV

ROOT = Path(__file__).resolve().parents[2]
SHARED_SCHEMA = ROOT.parent / "shared" / "resonate-pg" / "resonate.sql"


def schema_path() -> str:
    """Where resonate.sql is: TRAVEL_PLANNER_RESONATE_SQL, else beside the checkout."""
    given = os.environ.get(SCHEMA_ENV, "").strip()
    if given:
        return given
    if SHARED_SCHEMA.exists():
        return str(SHARED_SCHEMA)
    raise RuntimeError(
        f"resonate.sql not found: set {SCHEMA_ENV} to a copy of the pinned file "
        f"(looked at {SHARED_SCHEMA}); the Postgres tests cannot run without it"
    )


DEADLINE = 60.0
#: What a command-line run needs besides its own variables.
CLI_ENV = {"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": "sk-x", "SERPER_API_KEY": "k"}
WORKER_READY = b"travel-planner worker: running trips"
#: Short enough that a dead worker's trip moves within seconds.
TEST_LEASE_SECONDS = "3"


class WorkerProcess:
    """`python -m travel_planner.cli worker`, started and killed for real."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115
        self._start_offset = log_path.stat().st_size
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "travel_planner.cli", "worker"],
            env={**os.environ, **env}, stdout=self._log, stderr=subprocess.STDOUT,
        )
        poll_until(self._ready, DEADLINE, interval=0.05)

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"worker exited with {self.proc.returncode}: {self.output()[-2000:]}")
        return WORKER_READY in self.log_path.read_bytes()[self._start_offset :]

    def output(self) -> str:
        return self.log_path.read_bytes()[self._start_offset :].decode("utf-8", "replace")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(DEADLINE)
        self._log.close()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait(DEADLINE)
        else:
            code = self.proc.returncode
        self._log.close()
        return code


@dataclass
class Cluster:
    slack: FakeSlackWebAPI
    llm: ScriptedLLM
    serper: FakeSerper
    site: PageSite
    env: dict[str, str]
    logs: Path
    web: BotProcess
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def player(self) -> SlackPlayer:
        return SlackPlayer(self.slack, self.web.events_url)

    def start_worker(self, **extra: str) -> WorkerProcess:
        n = len(self.workers)
        worker = WorkerProcess({**self.env, **extra}, self.logs / f"worker-{n}.log")
        self.workers.append(worker)
        return worker

    def restart_web(self, **extra: str) -> BotProcess:
        """A new `web` on the same port (after the old one died)."""
        self.web = BotProcess({**self.env, **extra}, self.logs / "web.log", command="web")
        return self.web

    def llm_connections(self, worker: WorkerProcess) -> int:
        """TCP connections `worker` holds to the fake LLM right now (its calls in flight, or kept alive)."""
        import psutil

        port = int(self.llm.base_url.rsplit(":", 1)[1].split("/", 1)[0])
        connections = psutil.Process(worker.proc.pid).net_connections(kind="tcp")
        return sum(1 for k in connections if k.raddr and k.raddr.port == port and k.status == "ESTABLISHED")

    def worker_in_llm_call(self) -> WorkerProcess | None:
        """The live worker holding a connection to the fake LLM right now."""
        for worker in self.workers:
            if worker.proc.poll() is None and self.llm_connections(worker):
                return worker
        return None

    def worker_of_call(self, call: LlmCall) -> WorkerProcess | None:
        """The live worker that sent `call` to the fake LLM (by its TCP port)."""
        import psutil

        for worker in self.workers:
            if worker.proc.poll() is None:
                ports = {k.laddr.port for k in psutil.Process(worker.proc.pid).net_connections(kind="tcp") if k.laddr}
                if call.client_port in ports:
                    return worker
        return None

    def worker_output(self) -> str:
        return "\n".join(p.read_text("utf-8", "replace") for p in sorted(self.logs.glob("worker-*.log")))


@contextlib.contextmanager
def running_cluster(
    tmp_path: Path,
    database_url: str,
    redis_url: str,
    *,
    workers: int = 2,
    script: Any = lisbon_script,
    llm_kwargs: dict[str, Any] | None = None,
    web_env: dict[str, str] | None = None,
    **extra_env: str,
) -> Iterator[Cluster]:
    """`extra_env` goes to every process, `web_env` to the first `web` only
    (a failpoint, say)."""
    logs = tmp_path / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    slack = FakeSlackWebAPI()
    slack.add_channel(CHANNEL, name="trips")
    slack.add_user("U0ANA", display_name="Ana")
    slack.add_user("U0BEN", display_name="Ben")
    with slack, research_fakes(script, **(llm_kwargs or {})) as (llm, serper, site):
        env = bot_env(slack, llm, serper, tmp_path / "state", free_port())
        env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, TRAVEL_PLANNER_TASK_LEASE_SECONDS=TEST_LEASE_SECONDS)
        env.update(extra_env)  # may override the test lease (a benchmark at the product's default)
        started: list[WorkerProcess] = []
        cluster: Cluster | None = None
        try:
            for n in range(workers):
                started.append(WorkerProcess(env, logs / f"worker-{n}.log"))
            web = BotProcess({**env, **(web_env or {})}, logs / "web.log", command="web")
            cluster = Cluster(slack, llm, serper, site, env, logs, web, started)
            yield cluster
        finally:
            for worker in started:  # the cluster's list: workers started later too
                with contextlib.suppress(Exception):
                    worker.stop()
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.web.stop()


def travel_planner(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`python -m travel_planner.cli ARGS...`, to its end."""
    return subprocess.run(
        [sys.executable, "-m", "travel_planner.cli", *args],
        env={**CLI_ENV, "HOME": str(tmp_path), **env}, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )


__all__ = ["Cluster", "WorkerProcess", "running_cluster", "schema_path", "travel_planner"]
