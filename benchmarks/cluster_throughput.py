"""`web` + N `worker` processes on Postgres: ack latency at `web` under 200
busy trips spread over 2 workers, and LLM steps per second with 1 against 2
workers at 500 trips and a 0.2 s fake LLM, side by side in one run.

Every process is a real `python -m travel_planner.cli web|worker`
(testing/cluster.py) on a throwaway database and a Redis server of the
run's own; Slack, the LLM, search and pages are the loopback fakes. The fake
Slack's per-channel post limit is lifted (all trips share one channel here;
real workspaces spread them).

- ack: `--ack-trips` trips (200) each wait on an LLM call that takes 60 s,
  then `--requests` (1,000) signed requests from 4 senders: replies in the
  trip threads (stored in the busy trips' inboxes) and messages outside any
  trip. Latency is request out to response in, measured by the sender.
- throughput: `--trips` trips (500) research forever (the fake LLM answers
  every call with a search, after `--llm-latency` s); LLM requests started per
  second over a `--window` (20 s) once every trip has made its first call.

The throughput part runs twice side by side: with every process sharing
this machine's CPUs, and with each worker held to `--worker-cpus` (0.4) of
one CPU (benchmarks/cpu_share.py), as a worker dyno or container limit holds
it. On a 2-CPU machine the first is bound by the CPUs that Postgres, `web`
and the fakes take too (the table prints that bound); the second shows what
a second worker adds when each worker has a CPU of its own.

Goals: ack p99 < 50 ms; 2 workers >= 1.5x the LLM steps/s of 1 worker.

Run: `uv run python benchmarks/cluster_throughput.py [--part ack|throughput|both]
[--ack-trips N] [--requests N] [--trips N] [--llm-latency S] [--window S]
[--worker-cpus X | --worker-cpus 0]` (0: skip the held-CPU rows).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cpu_share import CpuShares  # noqa: E402
from benchmarks.slack_bench import percentiles, print_table, unrelated_message  # noqa: E402
from benchmarks.throwaway import redis_server, resonate_database, verdict  # noqa: E402
from testing.bot_process import CHANNEL, SIGNING_SECRET  # noqa: E402
from testing.fakes.llm_server import call_tools, say  # noqa: E402
from testing.fakes.slack_requests import event_envelope, send_signed, slash_command, thread_reply  # noqa: E402
from testing.waiting import poll_until  # noqa: E402
from testing.cluster import Cluster, running_cluster  # noqa: E402

ACK_TRIPS = 200
REQUESTS = 1_000
SENDERS = 4
TRIPS = 500
LLM_LATENCY = 0.2
WINDOW = 20.0
#: Each worker's CPU in the held rows: two of them plus Postgres, web and the
#: fakes (about 1 ms of theirs per ms of a worker's) fit in 2 CPUs.
WORKER_CPUS = 0.4
ACK_GOAL_MS = 50.0
SCALE_GOAL = 1.5
#: Budgets out of the way: the point is throughput, not the budget question.
UNBOUNDED = {
    "TRAVEL_PLANNER_MAX_LLM_CALLS": "1000000",
    "TRAVEL_PLANNER_MAX_TOOL_CALLS": "1000000",
    "TRAVEL_PLANNER_MAX_TOKENS": "1000000000",
}


@contextlib.contextmanager
def cluster(workers: int, script: Any, latency: float) -> Iterator[Cluster]:
    tmp = Path(tempfile.mkdtemp(prefix="tp-cluster-bench-"))
    with resonate_database() as dsn, redis_server() as redis_url:
        with running_cluster(tmp, dsn, redis_url, workers=workers, script=script,
                             llm_kwargs={"latency": latency}, **UNBOUNDED) as c:
            c.slack.posts_per_second = 1_000_000.0  # one channel for every trip (see the docstring)
            c.slack.post_burst = 1_000_000
            yield c


def start_trips(c: Cluster, n: int) -> list[float]:
    """Send `n` /plan-trip commands from 4 senders; their ack times (ms)."""
    def send(i: int) -> float:
        body = slash_command(f"Trip {i} to Lisbon", channel_id=CHANNEL, user_id="U0ANA",
                             response_url=c.slack.response_url())
        status, _, elapsed = send_signed(c.web.events_url, body, signing_secret=SIGNING_SECRET)
        assert status == 200, status
        return elapsed * 1000

    c.player  # noqa: B018 -- subscribes web to the fake's echo of its own posts, as Slack does
    with ThreadPoolExecutor(SENDERS) as pool:
        return list(pool.map(send, range(n)))


def roots(c: Cluster) -> list[str]:
    return [m["ts"] for m in c.slack.posts(CHANNEL) if not m.get("thread_ts")]


def first_calls(c: Cluster) -> int:
    """Trips that have made at least one LLM request (each conversation's first)."""
    return sum(1 for call in list(c.llm.calls) if len(call.messages) == 2)


def ack_part(trips: int, requests: int) -> dict[str, dict[str, float]]:
    with cluster(2, lambda _url: (lambda messages: say("Which dates?")), 60.0) as c:
        slash_ms = start_trips(c, trips)
        poll_until(lambda: sum(1 for call in list(c.llm.calls) if not call.answered) >= trips, 180, interval=0.2)
        poll_until(lambda: len(roots(c)) >= trips, 60, interval=0.2)
        threads = roots(c)
        bodies: list[tuple[str, str]] = []
        for n in range(requests):
            if n % 5 < 3:
                event = thread_reply(CHANNEL, threads[n % trips], f"idea {n}", user="U0ANA")
                bodies.append(("reply in a trip thread (busy trip)", json.dumps(event_envelope(event))))
            else:
                bodies.append(("message outside any trip", unrelated_message()))

        def send(item: tuple[str, str]) -> tuple[str, float]:
            kind, body = item
            status, _, elapsed = send_signed(c.web.events_url, body, signing_secret=SIGNING_SECRET)
            assert status == 200, status
            return kind, elapsed * 1000

        with ThreadPoolExecutor(SENDERS) as pool:
            results = list(pool.map(send, bodies))
        busy = sum(1 for call in list(c.llm.calls) if not call.answered)
        per_worker = [c.llm_connections(w) for w in c.workers]
    rows: dict[str, dict[str, float]] = {"/plan-trip (start a trip)": percentiles(slash_ms)}
    for kind in dict.fromkeys(k for k, _ in results):
        rows[kind] = percentiles([ms for k, ms in results if k == kind])
    rows["all requests after the starts"] = percentiles([ms for _, ms in results])
    print_table(f"ack latency at web, {requests} signed requests, {SENDERS} senders, {trips} trips busy "
                f"on 2 workers (LLM calls in flight at the end: {busy}; LLM connections per worker: {per_worker})", rows)
    return rows


def research_forever(_url: str):  # type: ignore[no-untyped-def]
    def script(messages: list[dict[str, Any]]) -> dict[str, Any]:
        return call_tools(("internet_search", {"search_query": f"lisbon idea {len(messages)}", "num_results": 1}))

    return script


def steps_per_second(
    workers: int, trips: int, latency: float, window: float, cpus: float | None = None
) -> dict[str, float]:
    with cluster(workers, research_forever, latency) as c, CpuShares() if cpus else contextlib.nullcontext() as shares:
        for worker in c.workers if shares is not None else ():
            shares.limit(worker.proc.pid, cpus)  # type: ignore[arg-type]
        started = time.monotonic()
        start_trips(c, trips)
        poll_until(lambda: first_calls(c) >= trips, 300, interval=0.2)
        ramp = time.monotonic() - started
        cpu0, t0 = cpu_seconds(c), time.monotonic()
        time.sleep(window)  # the measurement window itself, not a wait for a condition
        cpu1, t1 = cpu_seconds(c), time.monotonic()
        calls = [call for call in list(c.llm.calls) if t0 <= call.started < t1]
    n = max(len(calls), 1)
    per_step = {f"{k}_ms": (cpu1[k] - cpu0[k]) * 1000 / n for k in cpu0}
    return {"workers": workers, "cpus": cpus or 0.0, "rate": len(calls) / (t1 - t0), "calls": len(calls),
            "ramp": ramp, **per_step}


def cpu_seconds(c: Cluster) -> dict[str, float]:
    """CPU seconds so far of: the workers, web, this database's Postgres
    backends, and this process (the fake Slack, LLM, search and pages)."""
    import psutil

    def cpu(pids: list[int]) -> float:
        total = 0.0
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                t = psutil.Process(pid).cpu_times()
                total += t.user + t.system
        return total

    with psycopg.connect(c.env["DATABASE_URL"]) as conn:
        backends = [int(r[0]) for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
    return {"workers": cpu([w.proc.pid for w in c.workers]), "web": cpu([c.web.proc.pid]),
            "postgres": cpu(backends), "fakes": cpu([os.getpid()])}


def throughput_part(trips: int, latency: float, window: float, cpus: float | None = None) -> list[dict[str, float]]:
    rows = [steps_per_second(n, trips, latency, window, cpus) for n in (1, 2)]
    ideal = trips / latency
    cores = os.cpu_count() or 1
    held = f"each worker held to {cpus:g} CPU" if cpus else "every process sharing the machine's CPUs"
    print(f"LLM steps/s, {trips} trips researching forever, fake LLM {latency:g} s per call, "
          f"{window:g} s window, {held} (ideal, LLM-bound: {ideal:,.0f}/s)")
    print(f"{'workers':>8}{'LLM req/s':>11}{'in window':>11}{'ramp s':>8}{'x 1 worker':>12}"
          f"   CPU ms per LLM step: {'workers':>8}{'web':>6}{'postgres':>9}{'fakes':>7}{'total':>7}"
          f"{f'{cores}-CPU bound/s':>16}")
    for r in rows:
        total = r["workers_ms"] + r["web_ms"] + r["postgres_ms"] + r["fakes_ms"]
        r["bound"] = cores * 1000 / total if total else 0.0
        print(f"{int(r['workers']):>8}{r['rate']:>11.1f}{int(r['calls']):>11}{r['ramp']:>8.1f}"
              f"{r['rate'] / rows[0]['rate']:>12.2f}   {'':<21}{r['workers_ms']:>8.1f}{r['web_ms']:>6.1f}"
              f"{r['postgres_ms']:>9.1f}{r['fakes_ms']:>7.1f}{total:>7.1f}{r['bound']:>16.1f}")
    if cpus:
        print(f"(a worker's bound: {cpus:g} CPU / its CPU ms per step = "
              f"{cpus * 1000 / max(rows[0]['workers_ms'], 0.001):.1f} steps/s for 1 worker)")
    else:
        print(f"(the bound: steps/s if this machine's {cores} CPUs did nothing else; a ratio of 2 workers to 1 above "
              f"{rows[1]['bound'] / rows[0]['rate']:.2f} cannot be had here)")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("ack", "throughput", "both"), default="both")
    parser.add_argument("--ack-trips", type=int, default=ACK_TRIPS)
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--trips", type=int, default=TRIPS)
    parser.add_argument("--llm-latency", type=float, default=LLM_LATENCY)
    parser.add_argument("--window", type=float, default=WINDOW)
    parser.add_argument("--worker-cpus", type=float, default=WORKER_CPUS,
                        help="CPU each worker is held to in the held rows (0: skip them)")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average at start {os.getloadavg()[0]:.2f}")
    goals: list[tuple[str, float, bool]] = []
    if args.part in ("ack", "both"):
        p99 = ack_part(args.ack_trips, args.requests)["all requests after the starts"]["p99"]
        goals.append((f"ack p99 < {ACK_GOAL_MS:g} ms ({args.ack_trips} busy trips, 2 workers)", p99, p99 < ACK_GOAL_MS))
        print()
    if args.part in ("throughput", "both"):
        one, two = throughput_part(args.trips, args.llm_latency, args.window)
        ratio = two["rate"] / one["rate"]
        goals.append((f"2 workers >= {SCALE_GOAL:g}x LLM steps/s of 1, shared CPUs", ratio, ratio >= SCALE_GOAL))
        print()
        if args.worker_cpus:
            one, two = throughput_part(args.trips, args.llm_latency, args.window, args.worker_cpus)
            ratio = two["rate"] / one["rate"]
            goals.append((f"2 workers >= {SCALE_GOAL:g}x LLM steps/s of 1, {args.worker_cpus:g} CPU each",
                          ratio, ratio >= SCALE_GOAL))
            print()
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    print(f"{'goal':<58}{'measured':>10}{'result':>8}")
    for name, value, ok in goals:
        print(f"{name:<58}{value:>10.2f}{verdict(ok):>8}")


if __name__ == "__main__":
    main()
