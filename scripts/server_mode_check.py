"""Check the multi-process mode against a real Resonate server (on demand).

    RESONATE_URL=http://127.0.0.1:8001 uv run python scripts/server_mode_check.py

Starts Redis, a `travel-planner worker` and a `travel-planner web` with
loopback fakes for Slack, the LLM and search; plans the scripted trip; kills
the worker while the trip waits for a reply and starts another; prints what it
saw (timings, duplicate posts, repeated LLM calls, the plan's answers).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from testing.bot_process import (  # noqa: E402
    CHANNEL,
    BotProcess,
    SlackPlayer,
    bot_env,
    duplicate_posts,
)
from testing.loopback import free_port  # noqa: E402
from testing.research_fakes import research_fakes  # noqa: E402
from testing.fakes.scenario import lisbon_script  # noqa: E402
from testing.fakes.slack_api import FakeSlackWebAPI  # noqa: E402
from testing.redis_server import RedisServer  # noqa: E402


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log = open(log_path, "ab")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "travel_planner.cli", "worker"],
        env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
    )


def main() -> None:
    resonate_url = os.environ["RESONATE_URL"]
    slack = FakeSlackWebAPI()
    slack.add_channel(CHANNEL, name="trips")
    slack.add_user("U0ANA", display_name="Ana")
    slack.add_user("U0BEN", display_name="Ben")
    tmp = Path(tempfile.mkdtemp(prefix="tp-server-mode-"))
    redis = RedisServer()
    redis.start()
    with slack, research_fakes(lisbon_script) as (llm, serper, _site):
        env = bot_env(slack, llm, serper, tmp / "state", free_port())
        env.update(RESONATE_URL=resonate_url, REDIS_URL=redis.url)
        worker_env = {**env, "PORT": str(free_port())}
        worker = start_worker(worker_env, tmp / "worker.log")
        time.sleep(4)  # let the worker open its SSE poll before trips start
        web = BotProcess(env, tmp / "web.log", command="web")
        started = time.monotonic()

        def mark(what: str) -> None:
            print(f"{time.monotonic() - started:7.2f} s  {what}")

        try:
            player = SlackPlayer(slack, web.events_url)
            root_ts = player.plan_trip("Lisbon in May, 4 people")["ts"]
            mark("root message posted")
            player.wait_questions(root_ts, 1, timeout=90)
            mark("question 1 in the thread")
            player.reply(root_ts, "May 1-4", "U0ANA", retries=1)
            player.wait_questions(root_ts, 2, timeout=90)
            mark("question 2 in the thread")
            worker.kill()
            worker.wait()
            worker = start_worker(worker_env, tmp / "worker.log")
            mark("worker SIGKILLed while the trip waits; a new worker started")
            player.mention_reply(root_ts, "2000 EUR", "U0BEN")
            player.wait_questions(root_ts, 3, timeout=120)
            mark("question 3 in the thread")
            player.reply(root_ts, "vegetarian", "U0ANA")
            plans = slack.wait_for(
                lambda: [m for m in player.thread(root_ts) if "Lisbon trip" in m["text"]], timeout=120
            )
            mark("plan posted")
            told = [line for line in plans[0]["text"].splitlines() if "told" in line]
            print(f"plans: {len(plans)}  duplicate posts: {duplicate_posts(slack)}  "
                  f"LLM calls answered: {len(llm.answered())}  repeated: {llm.repeated_answers()}")
            print(f"answers in the plan: {told}")
            print(f"slowest ack: {max(player.acks) * 1000:.1f} ms  (logs in {tmp})")
        finally:
            web.stop()
            worker.terminate()
            worker.wait()
            redis.stop()


if __name__ == "__main__":
    main()
