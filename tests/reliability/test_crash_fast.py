"""The fast crash profile, in CI: a real `travel-planner run` SIGKILLed at one
occurrence of every durable boundary (the reminder, the parking and the
timer cancel of a quiet thread included), and at a few random moments, then
restarted; every run must end with the crash-free plan, no repeated paid
call, no lost or doubled reply and no duplicate post.

The full matrix runs on demand: `uv run python -m reliability --profile full
--only crash_matrix,random_kills`.
"""

from __future__ import annotations

import pytest

from reliability import crash_matrix, random_kills
from reliability.profile import Profile

#: A backstop only: a stuck run fails on its own after seconds without progress.
pytestmark = pytest.mark.timeout(480)

INVARIANTS = ("repeats", "lost", "twice", "duplicates", "plan_mismatch", "errors")


def _check(table) -> None:  # type: ignore[no-untyped-def]
    print(table.render())
    for column in INVARIANTS:
        assert table.total(column) == 0, f"{column}:\n{table.render()}"
    assert table.ok, table.render()


def test_crash_matrix_fast_profile() -> None:
    table = crash_matrix.run(Profile("fast"))
    _check(table)
    killed = {row[0] for row in table.rows if row[2] > 0}
    assert killed == set(crash_matrix.FAST), "every chosen kill point must actually kill the process"


def test_random_kills_fast_profile() -> None:
    table = random_kills.run(Profile("fast"))
    _check(table)
    assert table.total("kills") >= random_kills.RUNS["fast"] * random_kills.KILLS_PER_RUN
