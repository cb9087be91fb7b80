"""Random kills: SIGKILL a real `travel-planner run` at random moments.

Each run plays the scripted Lisbon trip (see `reliability.crash_harness`) and
kills the process after random delays drawn from a seeded RNG: the first
counted from the trip's first LLM request, each next one from the moment the
restarted process answers its health check. Delays are drawn within the
crash-free conversation's own duration, so they land inside the conversation
(a kill still due when the plan is already posted is skipped and shows as a
missing kill). Only a paid call that was in flight at a kill may run again.

Profiles: `full` 25 runs x 2 kills; `fast` 2 runs x 2 kills.
`--seed N` draws other delays; every row prints its delays, and
`--set delays=0.31,0.12` replays one run exactly. `--set runs=N` and
`--set kills=K` change the counts; `--set keep=1` keeps passing runs' logs.
"""

from __future__ import annotations

import random
import sys
import time

from reliability.crash_harness import (
    summary_row,
    RunResult,
    RunSpec,
    cleanup,
    rerun_summary,
    run_many,
    shared_reference,
    work_root,
)
from reliability.profile import Profile
from reliability.table import Table

DEFAULT_SEED = {"fast": 5, "full": 2026}
RUNS = {"fast": 2, "full": 25}
KILLS_PER_RUN = 2
#: Delay ranges as fractions of the crash-free conversation's duration: the
#: first kill anywhere in it, later ones early in what is left after a restart.
FIRST_SPAN = 1.0
LATER_SPAN = 0.6

COLUMNS = ["run (kill delays, s)", "runs", "kills", "repeats", "reruns", "lost", "twice", "duplicates",
           "plan_mismatch", "errors"]
MUST_BE_ZERO = ("repeats", "lost", "twice", "duplicates", "plan_mismatch", "errors")


def draw_delays(seed: int, runs: int, kills: int, conversation_seconds: float) -> list[tuple[float, ...]]:
    rng = random.Random(seed)
    out = []
    for _ in range(runs):
        delays = [rng.uniform(0.0, FIRST_SPAN * conversation_seconds)]
        delays += [rng.uniform(0.0, LATER_SPAN * conversation_seconds) for _ in range(kills - 1)]
        out.append(tuple(round(d, 3) for d in delays))
    return out


def _spec(i: int, delays: tuple[float, ...]) -> RunSpec:
    return RunSpec(f"#{i + 1} ({', '.join(f'{d:.3f}' for d in delays)})", kill_after=delays)


def run(profile: Profile) -> Table:
    profile.embedded_only("random_kills")
    started = time.monotonic()
    reference, _ = shared_reference()
    seed = profile.seed if profile.seed is not None else DEFAULT_SEED[profile.name]
    runs = int(profile.options.get("runs", RUNS[profile.name]))
    kills = int(profile.options.get("kills", KILLS_PER_RUN))
    replay = profile.options.get("delays", "").strip()
    if replay:
        plans = [tuple(float(d) for d in replay.split(",") if d.strip())]
    else:
        plans = draw_delays(seed, runs, kills, reference.conversation_seconds)
    title = f"random kills: SIGKILL at random moments [{profile.name}, seed {seed}]"
    table = Table(title, COLUMNS, MUST_BE_ZERO)
    specs = [_spec(i, delays) for i, delays in enumerate(plans)]
    wanted = sum(len(p) for p in plans)
    rng = random.Random(seed + 1)  # top-up draws: their own stream, still seeded
    state = {"landed": 0, "scheduled": len(specs), "extra": 0}

    def top_up(result: RunResult) -> RunSpec | None:
        """A kill due after the plan was posted never happened: draw another run
        (up to as many extra runs as planned) until the planned kills landed."""
        state["landed"] += len(result.kills)
        state["scheduled"] -= 1
        missing = wanted - state["landed"] - kills * state["scheduled"]
        if replay or missing <= 0 or state["extra"] >= len(plans):
            return None
        state["extra"] += 1
        state["scheduled"] += 1
        delays = draw_delays(rng.randrange(1 << 30), 1, min(kills, missing), reference.conversation_seconds)[0]
        return _spec(len(plans) + state["extra"] - 1, delays)

    def progress(result: RunResult) -> None:
        mark = "ok" if result.ok else "FAILED"
        sys.stderr.write(f"  random_kills {result.label}: {len(result.kills)} kill(s), {mark} ({result.seconds:.1f} s)\n")

    results = run_many(specs, work_root() / "random_kills", reference, profile.jobs, progress, top_up)
    for result in results:
        table.add(*summary_row(result.label, [result]))
    table.footer.append(summary_row("total", results))
    for result in results:
        if not result.ok:
            table.notes.append("failed " + result.describe())
            delays = ",".join(f"{d:.3f}" for d in (result.spec.kill_after if result.spec else ()))
            table.notes.append(f"  replay: uv run python -m reliability --only random_kills --set delays={delays}")
    done = sum(len(r.kills) for r in results)
    table.notes.append(
        f"{done} kills ({wanted} planned; a kill due after the plan was posted is skipped and topped up "
        f"with an extra run); delays drawn from random.Random({seed}) within "
        f"{reference.conversation_seconds:.2f} s, the crash-free conversation"
    )
    table.notes.append("reruns = paid calls in flight at a kill that ran again (allowed); any other repeat counts")
    table.notes.append(rerun_summary(results))
    cleanup(results, keep=profile.options.get("keep") == "1")
    table.seconds = time.monotonic() - started
    return table
