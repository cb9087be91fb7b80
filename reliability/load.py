"""Load against real processes (issue 5, item 4; Postgres mode: issue 10).

`--engine embedded` (default): one `travel-planner run` process.
`--engine postgres`: `web` + 2 `worker`s on a throwaway Postgres database and
a throwaway Redis (reliability/load_target.py).

1. Many concurrent trips (full: 200) with a fake LLM answering in 0.5-2 s:
   every trip must complete, and Slack must be acknowledged fast throughout
   (a prober sends a signed event every 25 ms from start to end, to `run` or
   `web`; p99 < 100 ms). Reports RSS (summed over the processes, and each),
   durable state size and throughput in LLM steps/s.
2. Many suspended trips (full: 1,000) waiting for people: RSS per suspended
   trip, then a stop (embedded: SIGTERM; postgres: SIGKILL of both workers
   and `web`) and the time to start again from the stored state: to healthy,
   to the first resumed trip's LLM request, and to its next question posted.

Trips are spread over channels, a few to each (`TRIPS_PER_CHANNEL`), and the
fake Slack keeps its per-channel post limit (about one a second, bursts
allowed, as Slack's): hundreds of trips in one channel would measure the
channel, not the processes.

Each trip: request -> question -> (answer) -> one search -> plan. A suspended
trip, once answered, asks a second question instead.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import re
import statistics
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from reliability.load_target import EmbeddedTarget, PostgresTarget, started_target
from reliability.profile import Profile
from reliability.table import Table
from testing.bot_process import CHANNEL, SIGNING_SECRET, duplicate_posts
from testing.fakes.llm_server import call_tools, say
from testing.fakes.slack_requests import channel_message, event_envelope, send_signed, slash_command, thread_reply

QUESTION = "Which dates work for everyone?"
NEXT_QUESTION = "What budget per person?"
ANSWER = "May 1-4"
#: Trips started in one channel: their posts fit in Slack's burst.
TRIPS_PER_CHANNEL = 4

Target = EmbeddedTarget | PostgresTarget


def trip_script(_site_url: str):  # type: ignore[no-untyped-def]
    def script(messages: list[dict[str, Any]]) -> dict[str, Any]:
        n = len(messages)
        if n == 1:
            return say(QUESTION)
        if n == 3:
            return call_tools(("internet_search", {"search_query": messages[0]["content"][-24:], "num_results": 2}))
        return say("# Plan\n\n## Day 1\nWalk.\n\nTRIP PLANNING COMPLETE")

    return script


def suspended_script(_site_url: str):  # type: ignore[no-untyped-def]
    def script(messages: list[dict[str, Any]]) -> dict[str, Any]:
        return say(QUESTION if len(messages) == 1 else NEXT_QUESTION)

    return script


class AckProber:
    """Sends a signed event every `interval` s and records how fast it is acked.

    It runs in a process of its own, so the measured latency is the bot's,
    not this driver's (the driver and the fakes share one interpreter lock).
    Entering waits for its first answer: the process takes seconds to import
    on a busy machine, and the trips must not start unprobed."""

    def __init__(self, url: str, interval: float = 0.025) -> None:
        self.url, self.interval = url, interval
        self.samples: list[float] = []
        self.failures = 0
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        self._probing = ctx.Event()
        self._results = ctx.Queue()
        self._process = ctx.Process(
            target=_probe, args=(url, interval, self._stop, self._probing, self._results), daemon=True
        )

    def __enter__(self) -> AckProber:
        self._process.start()
        if not self._probing.wait(60):
            self._process.kill()
            raise RuntimeError("the ack prober sent nothing within 60 s")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.samples, self.failures = self._results.get(timeout=60)
        self._process.join(10)


def _probe(url: str, interval: float, stop: Any, probing: Any, results: Any) -> None:
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
        probing.set()
        stop.wait(interval)
    results.put((samples, failures))


def _p(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] if len(samples) > 1 else 0.0


def _mib(n: int) -> float:
    return round(n / 2**20, 1)


def channel_of(i: int) -> str:
    return f"C0LOAD{i // TRIPS_PER_CHANNEL:04d}"


def _start_trips(t: Target, n: int, tag: str) -> dict[str, str]:
    """Start `n` trips over n / TRIPS_PER_CHANNEL channels; root ts -> channel, in start order."""
    for c in sorted({channel_of(i) for i in range(n)}):
        t.slack.add_channel(c, name=f"trips-{c[-4:]}")

    def start(i: int) -> int:
        body = slash_command(f"{tag} trip {i:04d}", channel_id=channel_of(i), response_url=t.slack.response_url())
        return send_signed(t.events_url, body, signing_secret=SIGNING_SECRET)[0]

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(start, range(n)))
    assert all(s == 200 for s in statuses), statuses
    pattern = re.compile(rf"{re.escape(tag)} trip (\d{{4}})")
    deadline = time.monotonic() + 120
    roots: dict[int, str] = {}
    while len(roots) < n and time.monotonic() < deadline:
        for m in t.slack.posts():  # one pass over the posts per tick
            if not m.get("thread_ts") and (found := pattern.search(m["text"])):
                roots.setdefault(int(found.group(1)), str(m["ts"]))
        time.sleep(0.1)
    return {roots[i]: channel_of(i) for i in sorted(roots)}


def _threads(t: Target) -> dict[str, list[str]]:
    """Thread ts -> the texts the app posted in it."""
    out: dict[str, list[str]] = {}
    for m in t.slack.posts():
        if m.get("thread_ts"):
            out.setdefault(m["thread_ts"], []).append(m["text"])
    return out


def _reply(t: Target, channel: str, root_ts: str) -> None:
    body = json.dumps(event_envelope(thread_reply(channel, root_ts, ANSWER, user="U0ANA")))
    status = send_signed(t.events_url, body, signing_secret=SIGNING_SECRET)[0]
    assert status == 200, status


def _rss_note(rss: dict[str, int]) -> str:
    return ", ".join(f"{name} {_mib(b)}" for name, b in rss.items())


def _durable_note(durable: dict[str, int]) -> str:
    return ", ".join(f"{name} {b / 2**20:.2f} MiB" for name, b in durable.items())


def concurrent_trips(profile: Profile, table: Table) -> None:
    n = 200 if profile.full else 20
    rng = random.Random(profile.seed or 7)
    lock = threading.Lock()

    def latency() -> float:
        with lock:
            return rng.uniform(0.5, 2.0)

    with started_target(profile.engine, trip_script, latency, "tp-load-") as t:
        peak: dict[str, int] = {}
        peak_total = 0
        with AckProber(t.events_url) as prober:
            started = time.monotonic()
            roots = _start_trips(t, n, "load")
            answered: set[str] = set()
            done: set[str] = set()
            deadline = time.monotonic() + (300 if profile.full else 120)
            while len(done) < len(roots) and time.monotonic() < deadline:
                rss = t.rss()
                peak_total = max(peak_total, sum(rss.values()))
                peak = {k: max(v, peak.get(k, 0)) for k, v in rss.items()}
                threads = _threads(t)
                for ts, channel in roots.items():
                    texts = threads.get(ts, [])
                    if ts in done:
                        continue
                    if any("Day 1" in text for text in texts):
                        done.add(ts)
                    elif ts not in answered and any(QUESTION in text for text in texts):
                        _reply(t, channel, ts)
                        answered.add(ts)
                time.sleep(0.1)
            elapsed = time.monotonic() - started
        durable = t.durable_bytes()
        llm_steps = len(t.llm.answered())
        limited = sum(1 for c in t.slack.calls_to("chat.postMessage") if c.status == 429)
        twice = (len(duplicate_posts(t.slack)), len(t.llm.repeated_answers()))
    acks = prober.samples
    table.add(f"{n} concurrent trips", n, len(done), n - len(done), *twice, prober.failures, len(acks),
              round(_p(acks, 50), 1), round(_p(acks, 99), 1), round(max(acks), 1), int(_p(acks, 99) >= 100),
              _mib(peak_total), round(next(iter(durable.values())) / 2**20, 2), round(llm_steps / elapsed, 1),
              round(elapsed, 1))
    table.notes.append(
        f"{n} concurrent trips over {len(set(roots.values()))} channels: {llm_steps} LLM steps in {elapsed:.1f} s "
        f"({limited} posts answered 429 by the channel limit); peak RSS MiB {_rss_note(peak)}; "
        f"durable: {_durable_note(durable)}; logs in {t.logs}"
    )


def _first(predicate: Any, since: float, within: float) -> float | None:
    """Seconds from `since` until `predicate()` holds, None if not within `within`."""
    while time.monotonic() - since < within:
        if predicate():
            return time.monotonic() - since
        time.sleep(0.01)
    return None


def _asked(t: Target, roots: Iterable[str]) -> int:
    threads = _threads(t)
    return sum(1 for ts in roots if any(QUESTION in text for text in threads.get(ts, [])))


def suspended_trips(profile: Profile, table: Table) -> None:
    n = 1000 if profile.full else 50
    stop_kind = "SIGKILL of both workers and web" if profile.engine == "postgres" else "SIGTERM"
    with started_target(profile.engine, suspended_script, 0.0, "tp-suspended-") as t:
        baseline = t.rss()
        roots = _start_trips(t, n, "idle")
        deadline = time.monotonic() + 300
        while (asked := _asked(t, roots)) < len(roots) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # let the last suspensions settle before reading memory
        loaded = t.rss()
        t.stop()
        durable = t.durable_bytes()
        started = time.monotonic()
        each = t.start_again()
        healthy = time.monotonic() - started
        probe = list(roots)[len(roots) // 2]
        _reply(t, roots[probe], probe)
        # A first call is the system prompt and the request; the resumed one carries the answer too.
        resumed = _first(lambda: any(len(c.messages) > 2 for c in list(t.llm.calls)), started, 120)
        next_question = _first(lambda: any(NEXT_QUESTION in text for text in _threads(t).get(probe, [])), started, 120)
        twice = (len(duplicate_posts(t.slack)), len(t.llm.repeated_answers()))
    if resumed is None or next_question is None:
        table.problems.append(f"{n} suspended trips: the answered trip did not resume within 120 s of the restart")
    per_trip = (sum(loaded.values()) - sum(baseline.values())) / max(len(roots), 1)
    table.add(f"{n} suspended trips", n, asked, n - min(asked, n), *twice, 0, 0, "", "", "", 0,
              _mib(sum(loaded.values())), round(next(iter(durable.values())) / 2**20, 2), "", "")
    table.notes.append(
        f"{n} suspended trips: RSS MiB before {_rss_note(baseline)}, after {_rss_note(loaded)} "
        f"= {per_trip / 1024:.1f} KiB per suspended trip; durable: {_durable_note(durable)}; "
        f"after a {stop_kind}, started again from the stored state: healthy in {healthy:.2f} s "
        f"({', '.join(f'{name} {s:.2f} s' for name, s in each.items())}), "
        f"a reply resumed a trip (LLM request out) {_seconds(resumed)} and it asked its next question "
        f"{_seconds(next_question)} after the start"
    )


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


def run(profile: Profile) -> Table:
    postgres = profile.engine == "postgres"
    table = Table(
        title=f"load [{profile.name}{', postgres: web + 2 workers' if postgres else ''}]",
        columns=["case", "trips", "completed", "missing", "posted twice", "LLM paid twice", "ack errors", "acks",
                 "ack p50 ms", "ack p99 ms", "ack max ms", "p99 >= 100", "RSS MiB", "state MiB", "LLM steps/s", "seconds"],
        must_be_zero=("missing", "posted twice", "LLM paid twice", "ack errors", "p99 >= 100"),
    )
    if postgres:
        table.notes.append("RSS: web + workers summed (each in the notes); state: bytes written to the resonate "
                           "tables (tables, indexes, TOAST), the registry's Redis dataset in the notes")
    concurrent_trips(profile, table)
    suspended_trips(profile, table)
    return table
