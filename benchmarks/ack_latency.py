"""Ack latency of a real `travel-planner run`: 1,000 signed requests while 20
trips wait on a slow LLM (each LLM call takes 60 s).

Requests: replies in the 20 trip threads (stored in each trip's inbox while
the planner is busy) and messages outside any trip (ignored), from 4
concurrent senders. Latency is measured by the sender: request out to
response in, over loopback.

Run: `uv run python benchmarks/ack_latency.py`.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.slack_bench import percentiles, print_table, running_planner, unrelated_message  # noqa: E402
from testing.bot_process import CHANNEL, SIGNING_SECRET  # noqa: E402
from testing.fakes.llm_server import say  # noqa: E402
from testing.fakes.slack_requests import event_envelope, send_signed, thread_reply  # noqa: E402

TRIPS = 20
REQUESTS = 1_000
SENDERS = 4


def main() -> None:
    with running_planner(lambda _url: (lambda messages: say("Which dates?")), llm_latency=60.0) as (player, llm):
        roots = [player.plan_trip(f"Trip {i} to Lisbon")["ts"] for i in range(TRIPS)]
        deadline = time.monotonic() + 30
        while sum(1 for c in llm.calls if not c.answered) < TRIPS and time.monotonic() < deadline:
            time.sleep(0.05)
        waiting = sum(1 for c in llm.calls if not c.answered)

        bodies: list[tuple[str, str]] = []
        for n in range(REQUESTS):
            if n % 5 < 3:
                event = thread_reply(CHANNEL, roots[n % TRIPS], f"idea {n}", user="U0ANA")
                bodies.append(("reply in a trip thread (busy trip)", json.dumps(event_envelope(event))))
            else:
                bodies.append(("message outside any trip", unrelated_message()))

        def send(item: tuple[str, str]) -> tuple[str, float, int]:
            kind, body = item
            status, _, elapsed = send_signed(player.events_url, body, signing_secret=SIGNING_SECRET)
            return kind, elapsed * 1000, status

        with ThreadPoolExecutor(SENDERS) as pool:
            results = list(pool.map(send, bodies))
        still_waiting = sum(1 for c in llm.calls if not c.answered)

    by_kind: dict[str, list[float]] = {}
    for kind, ms, status in results:
        assert status == 200, status
        by_kind.setdefault(kind, []).append(ms)
    rows = {kind: percentiles(ms) for kind, ms in by_kind.items()}
    rows["all requests"] = percentiles([ms for _, ms, _ in results])
    print_table(
        f"ack latency, {REQUESTS} signed requests, {SENDERS} senders, "
        f"{waiting} trips waiting on the LLM (still {still_waiting} at the end)",
        rows,
    )


if __name__ == "__main__":
    main()
