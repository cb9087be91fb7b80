"""Resume latency as a conversation grows: from a reply's delivery to the
next LLM call starting, at turns 5, 50 and 200.

Each mode runs the same 200-turn conversation several times (a fresh store
each time) and reports, per turn, the median over the runs, so one GC pause
or snapshot does not decide a cell. Turns 5, 50 and 200 are all turns at which
a segment hands over (every 5 turns by default); turns 4, 49 and 199 are
mid-segment turns. Segmented (the default) against one unbounded segment,
side by side in one run. Run: `uv run python benchmarks/resume_cost.py`.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.trip_driver import open_trip  # noqa: E402

MARKS = (5, 50, 200)
RUNS = 5


async def one_conversation(env: dict[str, str], turns: int) -> dict[int, float]:
    run = await open_trip(turns + 1, env)
    latencies: dict[int, float] = {}
    try:
        for turn in range(1, turns + 1):
            await run.next_question()
            latencies[turn] = await run.answer(turn) * 1000
    finally:
        await run.runtime.close()
    return latencies


def measure(env: dict[str, str]) -> dict[int, float]:
    runs = [asyncio.run(one_conversation(env, max(MARKS))) for _ in range(RUNS)]
    wanted = [t for m in MARKS for t in (m - 1, m)]
    return {t: statistics.median(r[t] for r in runs) for t in wanted}


def main() -> None:
    modes = {
        "segmented (default)": {},
        "one segment (no hand-over)": {
            "TRAVEL_PLANNER_TURNS_PER_SEGMENT": "100000",
            "TRAVEL_PLANNER_STEPS_PER_SEGMENT": "100000",
        },
    }
    results = {name: measure(env) for name, env in modes.items()}
    print(f"resume latency, ms (median of {RUNS} runs at each turn)")
    print(f"{'mode':<28}{'turns':>14}{'first':>10}{'middle':>10}{'last':>10}{'last / first':>14}")
    for name, row in results.items():
        for shift in (0, 1):
            turns = [m - shift for m in MARKS]
            cells = [row[t] for t in turns]
            label = ", ".join(str(t) for t in turns)
            print(f"{name:<28}{label:>14}" + "".join(f"{c:>10.2f}" for c in cells) + f"{cells[-1] / cells[0]:>14.2f}")
    print("(segmented: turns 5, 50 and 200 are hand-over turns; 4, 49 and 199 are mid-segment)")


if __name__ == "__main__":
    main()
