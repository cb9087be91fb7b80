"""Seconds from a worker's SIGKILL to its trip's next step on another worker.

A real `web` + 2 `worker`s on Postgres (testing/cluster.py, throwaway
database and Redis), at the product's default task lease (5 s). Each trial:
a reply makes the trip call the fake LLM, which holds that call; the worker
holding it is SIGKILLed; the clock stops when the LLM request of the same
step arrives again, from the other worker. A fresh worker then replaces the
dead one, so every trial starts with 2.

Goal: every takeover < 15 s.

Run: `uv run python benchmarks/takeover.py [--trials N] [--lease S]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.throwaway import redis_server, resonate_database, verdict  # noqa: E402
from testing.fakes.llm_server import say  # noqa: E402
from testing.waiting import poll_until  # noqa: E402
from testing.cluster import running_cluster  # noqa: E402
from workflows.postgres.engine import DEFAULT_LEASE_SECONDS  # noqa: E402

TRIALS = 5
GOAL_SECONDS = 15.0
HOLD_SECONDS = 60.0


def main(trials: int, lease: float) -> None:
    hold = threading.Event()  # set: the next LLM call is held (the worker is inside it when killed)

    def latency() -> float:
        return HOLD_SECONDS if hold.is_set() else 0.0

    def questions(_url):  # type: ignore[no-untyped-def]
        return lambda messages: say(f"Question {len(messages)}: and then?")

    samples: list[float] = []
    load = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="tp-takeover-"))
    with resonate_database() as dsn, redis_server() as redis_url:
        with running_cluster(tmp, dsn, redis_url, workers=2, script=questions, llm_kwargs={"latency": latency},
                             TRAVEL_PLANNER_TASK_LEASE_SECONDS=repr(lease)) as c:
            player = c.player
            root = player.plan_trip("Lisbon, as long as it takes")["ts"]
            for n in range(1, trials + 1):
                player.wait_questions(root, n, timeout=120)
                hold.set()
                before = len(c.llm.calls)
                player.reply(root, f"answer {n}", "U0ANA")
                call = poll_until(lambda: len(c.llm.calls) > before and c.llm.calls[before].client_port
                                  and c.llm.calls[before], 60, interval=0.02)
                victim = poll_until(lambda: c.worker_of_call(call), 10, interval=0.02)
                hold.clear()  # the step's second run is answered at once
                victim.kill()
                killed = time.monotonic()
                poll_until(lambda: len(c.llm.calls) > before + 1, 120, interval=0.01)
                samples.append(c.llm.calls[before + 1].started - killed)
                c.start_worker()
            player.wait_questions(root, trials + 1, timeout=120)
    print(f"takeover after SIGKILL, {trials} trials, task lease {lease:g} s, 2 workers "
          f"(load average {load:.2f} at start, {os.getloadavg()[0]:.2f} at the end)")
    print(f"{'':<34}{'n':>4}{'median s':>10}{'min s':>8}{'max s':>8}")
    print(f"{'SIGKILL -> next LLM request':<34}{len(samples):>4}{statistics.median(samples):>10.2f}"
          f"{min(samples):>8.2f}{max(samples):>8.2f}")
    print("per trial: " + ", ".join(f"{s:.2f}" for s in samples))
    print()
    print(f"{'goal':<40}{'measured':>10}{'result':>8}")
    print(f"{f'every takeover < {GOAL_SECONDS:g} s (max)':<40}{max(samples):>10.2f}{verdict(max(samples) < GOAL_SECONDS):>8}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=TRIALS)
    parser.add_argument("--lease", type=float, default=DEFAULT_LEASE_SECONDS, help="TRAVEL_PLANNER_TASK_LEASE_SECONDS")
    args = parser.parse_args()
    main(args.trials, args.lease)
