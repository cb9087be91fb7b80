"""Crash matrix: SIGKILL a real `travel-planner run` at every durable boundary.

Each run arms one failpoint (`TRAVEL_PLANNER_FAILPOINT=<point>:<n>`: the
process SIGKILLs itself exactly there), plays the scripted Lisbon trip through
Slack, restarts the bot on the same state after the kill, and lets the
conversation finish (see `reliability.crash_harness` for how a run is
judged). Hand-overs happen at every turn, so successor segments are crossed.

Kill points: `before:`/`after:` every leaf step the runtime registers
(`workflows.steps.STEPS`), the hand-over, a reply received / stored
(`deliver_reply`), `after:slack_post` (in Slack, not yet in the ledger), and
the reminder and parking posts of a quiet thread (`reminder_post`,
`park_post`). A run armed at a quiet point holds the first answer back until
the trip is reminded and parked (seconds, in that run), then answers.

Profiles: `full` kills at every occurrence n of every point, found by trying
n = 1, 2, ... until a run no longer reaches it (that last run is checked as a
crash-free run), and fails if a point is never reached; `fast` at one chosen
occurrence per point. `--set points=after:llm_step:4,...` runs just those;
`--set keep=1` keeps the directories of passing runs too.

`--engine postgres` runs the same trip against `web` + 2 `worker`s on a
throwaway Postgres database and Redis per run (reliability/postgres_cluster.py):
the armed point is shared by every process, so whichever reaches it dies; a
dead worker's trip must move to the other worker (the seconds from the death
to its next step are the `takeover` columns) before a fresh worker is
started, and the promises are read from `resonate.promises`. Its fast profile
is `POSTGRES_FAST_CHAINS`; its full profile is every point, as above.
"""

from __future__ import annotations

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

#: Points that are not leaf steps, or one call of a leaf step named apart.
EXTRA_POINTS = (
    "after:slack_post",
    "before:handover",
    "after:handover",
    "before:deliver_reply",
    "after:deliver_reply",
    "before:reminder_post",
    "after:reminder_post",
    "before:park_post",
    "after:park_post",
)
#: Reached only in a quiet run (nobody answers for a while).
QUIET_POINTS = frozenset({"before:reminder_post", "after:reminder_post", "before:park_post", "after:park_post"})
#: Leaf steps the scripted trip cannot reach, and why: not in the matrix
#: (the full profile fails on a point it never reaches).
OUTSIDE_THE_SCRIPT = {
    "trip_state_step": "runs only once the thread can never be posted to again (the trip then fails)",
}

#: The fast profile: every point kind once, in three runs whose lives are
#: each armed with the next point of a chain (`n` counts from that life's
#: start), so 15 kills cost 18 process starts instead of 30. Each chain follows
#: the conversation, so every point is still ahead when its life starts.
FAST_CHAINS: tuple[tuple[str, ...], ...] = (
    (  # a quiet thread (the longest chain, so it starts first): reminded, parked, woken
        "before:reminder_post:1",  # the quiet period is over, the reminder not posted
        "after:reminder_post:1",  # reminded; the parking timer not created yet
        "before:park_post:1",
        "after:show_state_step:1",  # parked and shown as parked
        "before:cancel_timer_step:1",  # the late answer won; the trip's deadline timer still runs
        "after:cancel_timer_step:1",
    ),
    (  # answer 1 and the first hand-over
        "before:deliver_reply:1",  # answer 1 received, not stored: Slack must retry it
        "after:deliver_reply:1",  # the retry stored, the waiting trip not woken
        "before:claim_step:1",
        "after:claim_step:1",
        "before:handover:1",
    ),
    (  # the first research rounds
        "after:llm_step:2",  # the search decided and recorded
        "before:tool_step:1",
        "after:tool_step:1",
        "before:llm_step:1",  # the next decision
        "after:slack_post:1",  # the next post in Slack, the ledger not updated
    ),
    (  # the successor segment: research posts, then question 2
        "after:handover:1",  # the successor exists, the first segment not finished
        "before:post_step:1",
        "after:post_step:1",
        "before:publish_waiter_step:1",
        "after:publish_waiter_step:1",
    ),
)
FAST: tuple[str, ...] = tuple(p.rpartition(":")[0] for chain in FAST_CHAINS for p in chain)

#: The Postgres fast profile: the LLM, tool, post and hand-over boundaries,
#: a post in Slack not yet in the ledger, and `web` between a reply and its
#: ack, in two chains. Every worker kill costs a lease (3 s) before the other
#: worker moves, so the chains are short; consecutive worker points are a step
#: apart at least, so the survivor is still there when a death needs it.
POSTGRES_FAST_CHAINS: tuple[tuple[str, ...], ...] = (
    (  # answer 1 at `web`, the hand-over, the successor's first research rounds
        "before:deliver_reply:1",  # web: answer 1 received, not stored: Slack must retry it
        "after:deliver_reply:1",  # web: stored, the waiting trip not woken
        "before:handover:1",  # worker: the successor not created yet
        "after:llm_step:1",  # worker: the successor's search decided and recorded
        "after:tool_step:1",  # worker: a search result recorded
    ),
    (  # the research posts, then question 2
        "after:handover:1",  # worker: the successor exists, the first segment not finished
        "before:tool_step:1",  # worker: the successor's first search about to run
        "before:llm_step:1",  # worker: the decision after it
        "after:slack_post:1",  # worker: a post in Slack, the ledger not updated
        "before:post_step:1",
        "after:post_step:1",
    ),
)
POSTGRES_FAST: tuple[str, ...] = tuple(p.rpartition(":")[0] for chain in POSTGRES_FAST_CHAINS for p in chain)

COLUMNS = ["kill point", "runs", "kills", "repeats", "reruns", "lost", "twice", "duplicates", "plan_mismatch", "errors"]
#: Postgres: worker deaths taken over by the other worker, the slowest takeover
#: (death -> its next step), and deaths with no worker left to take over.
TAKEOVER_COLUMNS = ["takeovers", "takeover max s", "no survivor"]
MUST_BE_ZERO = ("repeats", "lost", "twice", "duplicates", "plan_mismatch", "errors")


def all_points() -> list[str]:
    from workflows.steps import STEPS

    steps = [f"{when}:{name}" for name in STEPS if name not in OUTSIDE_THE_SCRIPT for when in ("before", "after")]
    return [*steps, *EXTRA_POINTS]


def _quiet(failpoints: tuple[str, ...]) -> bool:
    return any(_kind(f) in QUIET_POINTS for f in failpoints)


def _spec(point: str, n: int, *, probe: bool = False) -> RunSpec:
    failpoints = (f"{point}:{n}",)
    return RunSpec(f"{point}:{n}", failpoints=failpoints, must_reach=not probe, quiet=_quiet(failpoints))


def _kind(failpoint: str) -> str:
    return failpoint.rpartition(":")[0]


def fast_chains(engine: str) -> tuple[tuple[str, ...], ...]:
    return POSTGRES_FAST_CHAINS if engine == "postgres" else FAST_CHAINS


def run(profile: Profile) -> Table:
    started = time.monotonic()
    engine = profile.engine
    postgres = engine == "postgres"
    title = f"crash matrix: SIGKILL at durable boundaries [{profile.name}{', postgres' if postgres else ''}]"
    table = Table(title, COLUMNS + (TAKEOVER_COLUMNS if postgres else []), MUST_BE_ZERO)
    reference, ref_result = shared_reference(engine)
    root = work_root() / "crash_matrix"
    chosen = [p.strip() for p in profile.options.get("points", "").split(",") if p.strip()]
    discover = profile.full and not chosen
    if chosen:
        # `a:1` runs alone; `a:1>b:1` is a chain (life 1 armed with a:1, life 2 with b:1).
        specs = [RunSpec(p, failpoints=tuple(p.split(">")), quiet=_quiet(tuple(p.split(">")))) for p in chosen]
        points = list(dict.fromkeys(_kind(f) for spec in specs for f in spec.failpoints))
    elif profile.fast:
        chains = fast_chains(engine)
        points = list(dict.fromkeys(_kind(f) for chain in chains for f in chain))
        specs = [RunSpec(" > ".join(chain), failpoints=chain, quiet=_quiet(chain)) for chain in chains]
    else:
        points = all_points()
        specs = [_spec(point, 1, probe=True) for point in points]

    def progress(result: RunResult) -> None:
        reached = any(k.how == "failpoint" for k in result.kills)
        mark = "ok" if result.ok else "FAILED"
        what = "" if reached or not result.spec or not result.spec.failpoint else " (not reached)"
        sys.stderr.write(f"  crash_matrix {result.label}{what}: {mark} ({result.seconds:.1f} s)\n")

    def next_occurrence(result: RunResult) -> RunSpec | None:
        """Full profile: after a run that reached point:n, try point:n+1."""
        if not discover or not any(k.how == "failpoint" for k in result.kills):
            return None
        point, _, n = (result.spec.failpoint or "").rpartition(":")  # type: ignore[union-attr]
        if not point:
            return None
        return _spec(point, int(n) + 1, probe=True)

    results = run_many(specs, root, reference, profile.jobs, progress, next_occurrence, engine=engine)
    tabulate(table, points, ref_result, results, every_point_reached=discover, takeovers=postgres)
    if discover:
        for step, why in OUTSIDE_THE_SCRIPT.items():
            table.notes.append(f"not in the matrix: before/after:{step}, which {why}")
    what = ("`web` + 2 `worker`s on Postgres (the process that reached the point killed, a dead worker's trip taken "
            "over by the other, then a fresh worker started)" if postgres else "a real `travel-planner run`")
    table.notes.append(
        f"{len(results)} runs of {what}, killed at the failpoint and restarted; "
        "reruns = paid calls in flight at a kill that ran again (allowed); "
        f"crash-free reference: {reference.conversation_seconds:.2f} s of conversation, {reference.posts} posts"
    )
    table.notes.append(rerun_summary([ref_result, *results]))
    cleanup(results, keep=profile.options.get("keep") == "1")
    table.seconds = time.monotonic() - started
    return table


def tabulate(
    table: Table, points: list[str], ref_result: RunResult, results: list[RunResult], *, every_point_reached: bool,
    takeovers: bool = False,
) -> None:
    """One row per kill point, from the runs that armed it.

    `every_point_reached` (the full profile, which probes n = 1, 2, ... of
    every point): a point that no run reached is a failure, not a footnote;
    a matrix that claims a point must have killed there."""
    crash_free = [ref_result]
    by_point: dict[str, list[RunResult]] = {p: [] for p in points}
    for result in results:
        fired = [k.point for k in result.kills if k.how == "failpoint"]
        if not fired and result.spec is not None and not result.spec.must_reach:
            crash_free.append(result)  # a probe past the last occurrence: a crash-free run
            continue
        # A chained run counts under each of its points (its cells are shared).
        for failpoint in result.spec.failpoints if result.spec else ():
            by_point.setdefault(_kind(failpoint), []).append(result)
    def extra(group: list[RunResult], point: str | None = None) -> list[object]:
        if not takeovers:
            return []
        seconds = [s for r in group for s in r.takeovers]
        return [len(seconds), round(max(seconds), 2) if seconds else "", sum(r.no_survivor for r in group)]

    table.add(*summary_row("(no crash)", crash_free), *extra(crash_free))
    never = []
    for point, group in by_point.items():
        if group:
            table.add(*_pointsummary_row(point, group), *extra(group))
        else:
            never.append(point)
    everything = [*crash_free, *results_excluding(results, crash_free)]
    table.footer.append([*summary_row("total", everything), *extra(everything)])
    if takeovers:
        seconds = sorted(s for r in everything for s in r.takeovers)
        if seconds:
            table.notes.append(
                f"takeover (a worker's death -> the other worker's next step): {len(seconds)} deaths, "
                f"median {seconds[len(seconds) // 2]:.2f} s, max {seconds[-1]:.2f} s "
                "(the lease is 3 s; the fresh worker starts only after the takeover; 'no survivor': every worker was dead at once, the chain having killed the one that had just taken over)"
            )

    failing = [r for r in [ref_result, *results] if not r.ok]
    for result in failing:
        table.notes.append("failed " + result.describe())
    if failing:
        labels = ",".join(">".join(r.spec.failpoints) for r in failing if r.spec and r.spec.failpoints)
        table.notes.append(f"replay: uv run python -m reliability --only crash_matrix --set points={labels}")
    if never:
        table.notes.append(f"not reached by the scripted trip (no run killed there): {', '.join(never)}")
        if every_point_reached:
            table.problems += [f"{point}: never reached" for point in never]


def results_excluding(results: list[RunResult], excluded: list[RunResult]) -> list[RunResult]:
    ids = {id(r) for r in excluded}
    return [r for r in results if id(r) not in ids]


def _pointsummary_row(point: str, group: list[RunResult]) -> list[object]:
    """The runs that armed `point`: kills at that point, then the runs' own
    cells (a chained run's problems show under each of its points)."""
    row = summary_row(point, group)
    row[2] = sum(1 for r in group for k in r.kills if _kind(k.point) == point)
    return row
