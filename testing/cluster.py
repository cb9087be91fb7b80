"""`web` + N `worker` processes on Postgres and Redis, with loopback fakes.

    with running_cluster(tmp_path, resonate_db, redis.url, workers=2) as c:
        root = c.player.plan_trip("Lisbon in May")["ts"]
        c.kill_worker(0)

Every process is a real `python -m travel_planner.cli web|worker`; the
worker's readiness is its "running trips" log line (it serves no HTTP).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testing.bot_process import CHANNEL, BotProcess, SlackPlayer, bot_env
from testing.fakes.llm_server import LlmCall, ScriptedLLM
from testing.fakes.research import FakeSerper, PageSite
from testing.fakes.scenario import lisbon_script
from testing.fakes.slack_api import FakeSlackWebAPI
from testing.loopback import free_port
from testing.research_fakes import research_fakes

#: What a command-line run needs besides its own variables.
CLI_ENV = {"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": "sk-x", "SERPER_API_KEY": "k"}
#: Short enough that a dead worker's trip moves within seconds.
TEST_LEASE_SECONDS = "3"


@dataclass
class Cluster:
    slack: FakeSlackWebAPI
    llm: ScriptedLLM
    serper: FakeSerper
    site: PageSite
    env: dict[str, str]
    logs: Path
    web: BotProcess
    workers: list[BotProcess] = field(default_factory=list)

    @property
    def player(self) -> SlackPlayer:
        return SlackPlayer(self.slack, self.web.events_url)

    def start_worker(self, **extra: str) -> BotProcess:
        n = len(self.workers)
        worker = BotProcess({**self.env, **extra}, self.logs / f"worker-{n}.log", command="worker")
        self.workers.append(worker)
        return worker

    def restart_web(self, **extra: str) -> BotProcess:
        """A new `web` on the same port (after the old one died)."""
        self.web = BotProcess({**self.env, **extra}, self.logs / "web.log", command="web")
        return self.web

    def llm_connections(self, worker: BotProcess) -> int:
        """TCP connections `worker` holds to the fake LLM right now (its calls in flight, or kept alive)."""
        import psutil

        port = int(self.llm.base_url.rsplit(":", 1)[1].split("/", 1)[0])
        connections = psutil.Process(worker.proc.pid).net_connections(kind="tcp")
        return sum(1 for k in connections if k.raddr and k.raddr.port == port and k.status == "ESTABLISHED")

    def worker_in_llm_call(self) -> BotProcess | None:
        """The live worker holding a connection to the fake LLM right now."""
        for worker in self.workers:
            if worker.proc.poll() is None and self.llm_connections(worker):
                return worker
        return None

    def worker_of_call(self, call: LlmCall) -> BotProcess | None:
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
        started: list[BotProcess] = []
        cluster: Cluster | None = None
        try:
            for n in range(workers):
                started.append(BotProcess(env, logs / f"worker-{n}.log", command="worker"))
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


__all__ = ["CLI_ENV", "TEST_LEASE_SECONDS", "Cluster", "running_cluster", "travel_planner"]
