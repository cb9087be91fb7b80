"""Reply-to-resume latency of a real `travel-planner run`: from a reply
event's arrival at the bot to the next LLM request leaving it.

One trip at a time answers 40 questions in a row (so every sample crosses a
resume, and some cross a segment hand-over). Both clocks are this process's:
the event is sent from here and the scripted LLM server runs here.

Run: `uv run python benchmarks/reply_to_resume.py`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.slack_bench import percentiles, print_table, running_planner  # noqa: E402
from tests.fakes.llm_server import say  # noqa: E402

TURNS = 40


def main() -> None:
    def script_factory(_url):  # type: ignore[no-untyped-def]
        return lambda messages: say(f"Question {len(messages)}: and then?")

    samples: list[float] = []
    with running_planner(script_factory) as (player, llm):
        root = player.plan_trip("Lisbon, as long as it takes")["ts"]
        for turn in range(1, TURNS + 1):
            player.wait_questions(root, turn)
            calls = len(llm.calls)
            sent = time.monotonic()
            player.reply(root, f"answer {turn}", "U0ANA")
            deadline = sent + 30
            while len(llm.calls) <= calls and time.monotonic() < deadline:
                time.sleep(0.0005)
            samples.append((llm.calls[calls].started - sent) * 1000)
    print_table(f"reply-to-resume latency over {TURNS} turns (event sent -> next LLM request received)",
                {"reply -> LLM request": percentiles(samples)})


if __name__ == "__main__":
    main()
