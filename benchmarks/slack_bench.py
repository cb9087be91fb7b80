"""Shared setup for the Slack benchmarks: a real `travel-planner run` process
against loopback fakes (Slack Web API, scripted LLM, search, pages)."""

from __future__ import annotations

import contextlib
import json
import statistics
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from testing.bot_process import CHANNEL, SlackPlayer, bot_env, running_bot  # noqa: E402
from testing.loopback import free_port  # noqa: E402
from testing.research_fakes import research_fakes  # noqa: E402
from testing.fakes.llm_server import ScriptedLLM  # noqa: E402
from testing.fakes.slack_api import FakeSlackWebAPI  # noqa: E402
from testing.fakes.slack_requests import channel_message, event_envelope  # noqa: E402


@contextlib.contextmanager
def running_planner(script_factory, llm_latency: float = 0.0) -> Iterator[tuple[SlackPlayer, ScriptedLLM]]:  # type: ignore[no-untyped-def]
    api = FakeSlackWebAPI()
    api.add_channel(CHANNEL, name="trips")
    api.add_user("U0ANA", display_name="Ana")
    tmp = Path(tempfile.mkdtemp(prefix="tp-slack-bench-"))
    with api, research_fakes(script_factory, latency=llm_latency) as (llm, serper, _site):
        env = bot_env(api, llm, serper, tmp / "state", free_port())
        env["TRAVEL_PLANNER_LOG_LEVEL"] = "WARNING"
        with running_bot(env, tmp / "bot.log") as bot:
            yield SlackPlayer(api, bot.events_url), llm


def unrelated_message() -> str:
    """A channel message in no trip thread: verified, deduped, ignored."""
    return json.dumps(event_envelope(channel_message(CHANNEL, "lunch anyone?")))


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"n": len(ordered), "p50": q[49], "p90": q[89], "p99": q[98], "max": ordered[-1]}


def print_table(title: str, rows: dict[str, dict[str, float]]) -> None:
    width = max([34, *(len(name) + 2 for name in rows)])
    print(title)
    print(f"{'':<{width}}{'n':>7}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for name, r in rows.items():
        print(f"{name:<{width}}{int(r['n']):>7}{r['p50']:>10.2f}{r['p90']:>10.2f}{r['p99']:>10.2f}{r['max']:>10.2f}")
