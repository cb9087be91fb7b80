"""Load against one real `travel-planner run` process (issue 5, item 4).

1. Many concurrent trips (full: 200) with a fake LLM answering in 0.5-2 s:
   every trip must complete, and Slack must be acknowledged fast throughout
   (a prober sends a signed event every 25 ms from start to end; p99 < 100 ms).
   Reports RSS, durable state size and throughput in LLM steps/s.
2. Many suspended trips (full: 1,000) waiting for people: RSS per suspended
   trip, then the time to start again from the stored state (process start to
   healthy, and to the first resumed trip asking its next question).

Each trip: request -> question -> (answer) -> one search -> plan.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil

from reliability.profile import Profile
from reliability.table import Table
from testing.bot_process import CHANNEL, SIGNING_SECRET, BotProcess, SlackPlayer, bot_env
from testing.loopback import free_port
from testing.research_fakes import research_fakes
from testing.fakes.llm_server import call_tools, say
from testing.fakes.slack_api import FakeSlackWebAPI
from testing.fakes.slack_requests import channel_message, event_envelope, send_signed, slash_command

QUESTION = "Which dates work for everyone?"


def trip_script(_site_url: str):  # type: ignore[no-untyped-def]
    def script(messages: list[dict[str, Any]]) -> dict[str, Any]:
        n = len(messages)
        if n == 1:
            return say(QUESTION)
        if n == 3:
            return call_tools(("internet_search", {"search_query": messages[0]["content"][-24:], "num_results": 2}))
        return say("# Plan\n\n## Day 1\nWalk.\n\nTRIP PLANNING COMPLETE")

    return script


class AckProber:
    """Sends a signed event every `interval` s and records how fast it is acked.

    It runs in a process of its own, so the measured latency is the bot's,
    not this driver's (the driver and the fakes share one interpreter lock)."""

    def __init__(self, url: str, interval: float = 0.025) -> None:
        self.url, self.interval = url, interval
        self.samples: list[float] = []
        self.failures = 0
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        self._results = ctx.Queue()
        self._process = ctx.Process(target=_probe, args=(url, interval, self._stop, self._results), daemon=True)

    def __enter__(self) -> AckProber:
        self._process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.samples, self.failures = self._results.get(timeout=60)
        self._process.join(10)


def _probe(url: str, interval: float, stop: Any, results: Any) -> None:
    body = json.dumps(event_envelope(channel_message(CHANNEL, "lunch anyone?")))
    samples: list[float] = []
    failures = 0
    while not stop.is_set():
        try:
            status, _, elapsed = send_signed(url, body, signing_secret=SIGNING_SECRET)
            samples.append(elapsed * 1000)
            failures += status != 200
        except OSError:
            failures += 1
        stop.wait(interval)
    results.put((samples, failures))


def _p(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] if len(samples) > 1 else 0.0


def _root_ts(api: FakeSlackWebAPI, request: str) -> str | None:
    for m in api.posts(CHANNEL):
        if not m.get("thread_ts") and request in m["text"]:
            return str(m["ts"])
    return None


def _start_trips(player: SlackPlayer, api: FakeSlackWebAPI, n: int, tag: str) -> list[str]:
    requests = [f"{tag} trip {i:04d}" for i in range(n)]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda r: send_signed(
            player.events_url, slash_command(r, channel_id=CHANNEL, response_url=api.response_url()),
            signing_secret=SIGNING_SECRET)[0], requests))
    assert all(s == 200 for s in statuses), statuses
    deadline = time.monotonic() + 120
    roots: dict[str, str] = {}
    while len(roots) < n and time.monotonic() < deadline:
        for r in requests:
            if r not in roots and (ts := _root_ts(api, r)):
                roots[r] = ts
        time.sleep(0.1)
    return [roots[r] for r in requests if r in roots]


def concurrent_trips(profile: Profile, table: Table) -> None:
    n = 200 if profile.full else 20
    rng = random.Random(profile.seed or 7)
    lock = threading.Lock()

    def latency() -> float:
        with lock:
            return rng.uniform(0.5, 2.0)

    # Hundreds of trips share one channel here, far more than Slack's ~1 post
    # a second per channel carries: the limit is raised so the suite measures
    # the process, not the channel (the limit itself: tests/slack/test_rate_limits.py).
    api = FakeSlackWebAPI(posts_per_second=1000.0, post_burst=5000)
    api.add_channel(CHANNEL, name="trips")
    tmp = Path(tempfile.mkdtemp(prefix="tp-load-"))
    with api, research_fakes(trip_script, latency=latency) as (llm, serper, _site):
        env = bot_env(api, llm, serper, tmp / "state", free_port())
        env["TRAVEL_PLANNER_LOG_LEVEL"] = "WARNING"
        bot = BotProcess(env, tmp / "bot.log")
        proc = psutil.Process(bot.proc.pid)
        player = SlackPlayer(api, bot.events_url)
        rss_peak = 0
        try:
            with AckProber(bot.events_url) as prober:
                started = time.monotonic()
                roots = _start_trips(player, api, n, "load")
                answered: set[str] = set()
                done: set[str] = set()
                deadline = time.monotonic() + (300 if profile.full else 120)
                while len(done) < len(roots) and time.monotonic() < deadline:
                    rss_peak = max(rss_peak, proc.memory_info().rss)
                    threads: dict[str, list[str]] = {}
                    for m in api.posts(CHANNEL):  # one pass over the posts per tick
                        if m.get("thread_ts"):
                            threads.setdefault(m["thread_ts"], []).append(m["text"])
                    for ts in roots:
                        texts = threads.get(ts, [])
                        if ts in done:
                            continue
                        if any("Day 1" in t for t in texts):
                            done.add(ts)
                        elif ts not in answered and any(QUESTION in t for t in texts):
                            player.reply(ts, "May 1-4", "U0ANA")
                            answered.add(ts)
                    time.sleep(0.1)
                elapsed = time.monotonic() - started
            state_bytes = sum(f.stat().st_size for f in (tmp / "state").iterdir() if f.is_file())
        finally:
            bot.stop()
    llm_steps = len(llm.answered())
    acks = prober.samples
    table.add(f"{n} concurrent trips", n, len(done), n - len(done), prober.failures, len(acks),
              round(_p(acks, 50), 1), round(_p(acks, 99), 1), round(max(acks), 1), int(_p(acks, 99) >= 100),
              round(rss_peak / 2**20, 1), round(state_bytes / 2**20, 2), round(llm_steps / elapsed, 1),
              round(elapsed, 1))
    table.notes.append(f"{n} concurrent trips: {llm_steps} LLM steps in {elapsed:.1f} s; logs in {tmp}")


def suspended_trips(profile: Profile, table: Table) -> None:
    n = 1000 if profile.full else 50
    # Hundreds of trips share one channel here, far more than Slack's ~1 post
    # a second per channel carries: the limit is raised so the suite measures
    # the process, not the channel (the limit itself: tests/slack/test_rate_limits.py).
    api = FakeSlackWebAPI(posts_per_second=1000.0, post_burst=5000)
    api.add_channel(CHANNEL, name="trips")
    tmp = Path(tempfile.mkdtemp(prefix="tp-suspended-"))
    with api, research_fakes(trip_script) as (llm, serper, _site):
        env = bot_env(api, llm, serper, tmp / "state", free_port())
        env["TRAVEL_PLANNER_LOG_LEVEL"] = "WARNING"
        bot = BotProcess(env, tmp / "bot.log")
        baseline = psutil.Process(bot.proc.pid).memory_info().rss
        player = SlackPlayer(api, bot.events_url)
        roots = _start_trips(player, api, n, "idle")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            asked = sum(1 for m in api.posts(CHANNEL) if QUESTION in m["text"])
            if asked >= len(roots):
                break
            time.sleep(0.2)
        time.sleep(1.0)
        loaded = psutil.Process(bot.proc.pid).memory_info().rss
        bot.stop()
        state_bytes = sum(f.stat().st_size for f in (tmp / "state").iterdir() if f.is_file())
        started = time.monotonic()
        bot = BotProcess(env, tmp / "bot.log")  # start again from the stored state
        healthy = time.monotonic() - started
        player.events_url = bot.events_url
        probe = roots[len(roots) // 2]
        calls = len(llm.calls)
        player.reply(probe, "May 1-4", "U0ANA")
        while len(llm.calls) <= calls and time.monotonic() - started < 120:
            time.sleep(0.01)
        resumed = time.monotonic() - started
        bot.stop()
    per_trip = (loaded - baseline) / max(len(roots), 1)
    table.add(f"{n} suspended trips", n, asked, n - min(asked, n), 0, 0, "", "", "", 0,
              round(loaded / 2**20, 1), round(state_bytes / 2**20, 2), "", "")
    table.notes.append(
        f"{n} suspended trips: RSS {baseline / 2**20:.1f} MiB before, {loaded / 2**20:.1f} MiB after "
        f"= {per_trip / 1024:.1f} KiB per suspended trip; restart from stored state: healthy in "
        f"{healthy:.2f} s, a reply resumed a trip (LLM request out) {resumed:.2f} s after start"
    )


def run(profile: Profile) -> Table:
    profile.embedded_only("load")  # a Postgres mode (web + 2 workers) is not written yet
    table = Table(
        title=f"load [{profile.name}]",
        columns=["case", "trips", "completed", "missing", "ack errors", "acks", "ack p50 ms", "ack p99 ms",
                 "ack max ms", "p99 >= 100", "RSS MiB", "state MiB", "LLM steps/s", "seconds"],
        must_be_zero=("missing", "ack errors", "p99 >= 100"),
    )
    concurrent_trips(profile, table)
    suspended_trips(profile, table)
    return table
