"""The crash matrix's verdict on kill points: a point it claims must have killed."""

from __future__ import annotations

from pathlib import Path

from reliability import crash_matrix
from reliability.crash_harness import Kill, RunResult, RunSpec
from reliability.table import Table


def _probe(failpoint: str, *, reached: bool) -> RunResult:
    result = RunResult(failpoint, Path("unused"), RunSpec(failpoint, failpoints=(failpoint,), must_reach=False))
    if reached:
        result.kills.append(Kill("failpoint", failpoint, 1.0, (0, 0, 0), set()))
    return result


def _table(results: list[RunResult], *, full: bool) -> Table:
    table = Table("crash matrix", crash_matrix.COLUMNS, crash_matrix.MUST_BE_ZERO)
    points = ["after:llm_step", "before:park_post"]
    crash_matrix.tabulate(table, points, RunResult("no crash", Path("unused")), results, every_point_reached=full)
    return table


def test_the_full_profile_fails_on_a_point_no_run_reached():
    results = [
        _probe("after:llm_step:1", reached=True),
        _probe("after:llm_step:2", reached=False),  # past the last occurrence: a crash-free run
        _probe("before:park_post:1", reached=False),  # never reached at all
    ]
    table = _table(results, full=True)
    assert not table.ok
    assert table.failures == ["before:park_post: never reached"]
    assert any("before:park_post" in note for note in table.notes)
    assert [row[0] for row in table.rows] == ["(no crash)", "after:llm_step"]


def test_the_full_profile_passes_when_every_point_killed_once_at_least():
    results = [_probe("after:llm_step:1", reached=True), _probe("before:park_post:1", reached=True),
               _probe("before:park_post:2", reached=False)]
    assert _table(results, full=True).ok


def test_every_leaf_step_is_a_kill_point_unless_it_is_declared_outside_the_script():
    from workflows.steps import STEPS

    points = set(crash_matrix.all_points())
    for step in STEPS:
        inside = {f"before:{step}", f"after:{step}"} <= points
        assert inside != (step in crash_matrix.OUTSIDE_THE_SCRIPT), step
    assert crash_matrix.QUIET_POINTS <= points
    assert set(crash_matrix.FAST) <= points
