"""Reply-to-resume latency: from a reply event's arrival at the bot to the
next LLM request leaving it, side by side in one run:

- embedded: one `travel-planner run` process takes the reply and calls the LLM;
- postgres: `web` takes the reply (inbox in Redis, promise resolved in
  Postgres) and one of 2 `worker`s resumes the trip and calls the LLM: across
  processes (testing/cluster.py, throwaway database and Redis).

One trip at a time answers `--turns` (40) questions in a row (so every sample
crosses a resume, and some cross a segment hand-over). Both clocks are this
process's: the event is sent from here and the scripted LLM server runs here.
Every resume includes the trip's 0.1 s quiet window for more replies.

Run: `uv run python benchmarks/reply_to_resume.py [--engine embedded|postgres|both] [--turns N]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.slack_bench import percentiles, print_table, running_planner  # noqa: E402
from benchmarks.throwaway import redis_server, resonate_database  # noqa: E402
from testing.bot_process import SlackPlayer  # noqa: E402
from testing.fakes.llm_server import ScriptedLLM, say  # noqa: E402
from testing.cluster import running_cluster  # noqa: E402

TURNS = 40


def script_factory(_url):  # type: ignore[no-untyped-def]
    return lambda messages: say(f"Question {len(messages)}: and then?")


def conversation(player: SlackPlayer, llm: ScriptedLLM, turns: int) -> list[float]:
    samples: list[float] = []
    root = player.plan_trip("Lisbon, as long as it takes")["ts"]
    for turn in range(1, turns + 1):
        player.wait_questions(root, turn)
        calls = len(llm.calls)
        sent = time.monotonic()
        player.reply(root, f"answer {turn}", "U0ANA")
        deadline = sent + 30
        while len(llm.calls) <= calls and time.monotonic() < deadline:
            time.sleep(0.0005)  # a tight poll: this is the measurement's resolution
        samples.append((llm.calls[calls].started - sent) * 1000)
    return samples


def embedded(turns: int) -> list[float]:
    with running_planner(script_factory) as (player, llm):
        return conversation(player, llm, turns)


def postgres(turns: int) -> list[float]:
    tmp = Path(tempfile.mkdtemp(prefix="tp-reply-bench-"))
    with resonate_database() as dsn, redis_server() as redis_url:
        with running_cluster(tmp, dsn, redis_url, workers=2, script=script_factory) as c:
            return conversation(c.player, c.llm, turns)


def main(engine: str, turns: int) -> None:
    rows = {}
    if engine in ("embedded", "both"):
        rows["embedded: run (one process)"] = percentiles(embedded(turns))
    if engine in ("postgres", "both"):
        rows["postgres: web -> worker"] = percentiles(postgres(turns))
    print_table(f"reply-to-resume latency over {turns} turns (event sent -> next LLM request received)", rows)
    if len(rows) == 2:
        e, p = rows.values()
        print(f"{'postgres / embedded (p50)':<34}{p['p50'] / e['p50']:>17.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("embedded", "postgres", "both"), default="both")
    parser.add_argument("--turns", type=int, default=TURNS)
    args = parser.parse_args()
    main(args.engine, args.turns)
