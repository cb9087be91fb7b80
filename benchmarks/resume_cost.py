"""Resume latency as a conversation grows: from a reply's delivery to the
next LLM call starting, at turns 5, 50 and 200.

Each mode runs the same 200-turn conversation several times (a fresh store
each time) and reports, per turn, the median over the runs, so one GC pause
or snapshot does not decide a cell. Turns 5, 50 and 200 are all turns at which
a segment hands over (every 5 turns by default); turns 4, 49 and 199 are
mid-segment turns. Segmented (the default) against one unbounded segment,
side by side in one run, on the embedded store and on Postgres (one process
running the trip as a `worker` does, a throwaway database and Redis).

Goal (Postgres, segmented): resume at turn 200 <= 2x resume at turn 5.

Every resume includes the trip's 0.1 s quiet window for more replies
(`GATHER_QUIET_SECONDS`), on both engines. One unbounded segment on Postgres
costs minutes at turn 200 (one round trip per replayed step), so it runs only
with `--postgres-one-segment`.

Run: `uv run python benchmarks/resume_cost.py [--engine embedded|postgres|both] [--runs N]
[--marks 5,50,200] [--postgres-one-segment]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.throwaway import redis_server, resonate_database, verdict  # noqa: E402
from benchmarks.trip_driver import open_trip  # noqa: E402

MARKS = (5, 50, 200)
RUNS = 3
#: The issue's goal: the last mark's resume at most this many times the first's.
GOAL_RATIO = 2.0


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


def measure(env: dict[str, str], marks: tuple[int, ...], runs: int) -> dict[int, float]:
    results = [asyncio.run(one_conversation(env, max(marks))) for _ in range(runs)]
    wanted = [t for m in marks for t in (m - 1, m)]
    return {t: statistics.median(r[t] for r in results) for t in wanted}


SEGMENTED: dict[str, str] = {}
ONE_SEGMENT = {"TRAVEL_PLANNER_TURNS_PER_SEGMENT": "100000", "TRAVEL_PLANNER_STEPS_PER_SEGMENT": "100000"}


def main(engine: str, runs: int, marks: tuple[int, ...], postgres_one_segment: bool) -> None:
    with contextlib.ExitStack() as stack:
        engines: dict[str, dict[str, str]] = {}
        if engine in ("embedded", "both"):
            engines["embedded"] = {}
        if engine in ("postgres", "both"):
            engines["postgres"] = {"DATABASE_URL": stack.enter_context(resonate_database()),
                                   "REDIS_URL": stack.enter_context(redis_server())}
        modes = {"segmented (default)": SEGMENTED, "one segment (no hand-over)": ONE_SEGMENT}
        results = {(e, name): measure({**base, **extra}, marks, runs)
                   for e, base in engines.items() for name, extra in modes.items()
                   if e == "embedded" or extra is SEGMENTED or postgres_one_segment}
    print(f"resume latency, ms (median of {runs} runs at each turn)")
    print(f"{'engine':<10}{'mode':<28}{'turns':>14}{'first':>10}{'middle':>10}{'last':>10}{'last / first':>14}")
    for (e, name), row in results.items():
        for shift in (0, 1):
            turns = [m - shift for m in marks]
            cells = [row[t] for t in turns]
            label = ", ".join(str(t) for t in turns)
            print(f"{e:<10}{name:<28}{label:>14}" + "".join(f"{c:>10.2f}" for c in cells)
                  + f"{cells[-1] / cells[0]:>14.2f}")
    print("(segmented: turns 5, 50 and 200 are hand-over turns; 4, 49 and 199 are mid-segment)")
    print()
    print(f"{'goal':<58}{'measured':>10}{'result':>8}")
    for e in engines:
        for shift in (0, 1):
            row = results[(e, "segmented (default)")]
            first, last = marks[0] - shift, marks[-1] - shift
            ratio = row[last] / row[first]
            print(f"{f'{e}, segmented: turn {last} <= {GOAL_RATIO:g}x turn {first}':<58}{ratio:>10.2f}"
                  f"{verdict(ratio <= GOAL_RATIO):>8}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("embedded", "postgres", "both"), default="both")
    parser.add_argument("--runs", type=int, default=RUNS, help="conversations per mode (medians over them)")
    parser.add_argument("--marks", default=",".join(map(str, MARKS)), help="turns to report, e.g. 5,50,200")
    parser.add_argument("--postgres-one-segment", action="store_true",
                        help="also one unbounded segment on Postgres (slow: one round trip per replayed step)")
    args = parser.parse_args()
    main(args.engine, args.runs, tuple(int(x) for x in args.marks.split(",")), args.postgres_one_segment)
