"""Resume latency as a conversation grows: from a reply's delivery to the
next LLM call starting, at turns 5, 50 and 200.

Segmented (the default hand-over every few turns) against one unbounded
segment, side by side in one run. Run: `uv run python benchmarks/resume_cost.py`.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.trip_driver import open_trip  # noqa: E402

MARKS = (5, 50, 200)
WINDOW = 3  # turns averaged around each mark


async def measure(env: dict[str, str]) -> dict[int, float]:
    run = await open_trip(max(MARKS) + 1, env)
    latencies: dict[int, float] = {}
    try:
        for turn in range(1, max(MARKS) + 1):
            await run.next_question()
            latencies[turn] = await run.answer(turn)
    finally:
        await run.runtime.close()
    return {m: statistics.median(latencies[t] for t in range(m - WINDOW + 1, m + 1)) * 1000 for m in MARKS}


def main() -> None:
    modes = {
        "segmented (default)": {},
        "one segment (no hand-over)": {
            "TRAVEL_PLANNER_TURNS_PER_SEGMENT": "100000",
            "TRAVEL_PLANNER_STEPS_PER_SEGMENT": "100000",
        },
    }
    results = {name: asyncio.run(measure(env)) for name, env in modes.items()}
    print(f"resume latency, ms (median of turns m-{WINDOW - 1}..m)")
    print(f"{'mode':<28}" + "".join(f"{'turn ' + str(m):>12}" for m in MARKS) + f"{'200 / 5':>10}")
    for name, row in results.items():
        ratio = row[200] / row[5]
        print(f"{name:<28}" + "".join(f"{row[m]:>12.2f}" for m in MARKS) + f"{ratio:>10.2f}")


if __name__ == "__main__":
    main()
