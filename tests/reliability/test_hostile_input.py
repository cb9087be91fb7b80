"""Hostile and broken input through a real `travel-planner run` (issue 5, item 5).

One bot process: forged, replayed and malformed requests aimed at a waiting
trip (clear 4xx, nothing forged ever reaches the LLM, the trip then takes
its real answers once each), and one trip per kind of broken input (odd
Unicode in requests, replies and model output; 40,000-character request and
reply; empty and garbage LLM answers; broken tool calls; garbage search
JSON; the SSRF corpus with a server listening on every local address).

Also on demand: `uv run python -m reliability --only hostile_input`.
"""

from __future__ import annotations

import pytest

from reliability.hostile_input import TRIP_CASES, Row, rows_table, run_cases

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[Row]:
    result = run_cases(tmp_path_factory.mktemp("hostile"), timeout=30.0)
    print(rows_table("hostile_input [pytest]", result).render())
    return result


def test_forged_and_malformed_requests_get_clear_errors(rows: list[Row]) -> None:
    http = [r for r in rows if r.case.startswith("http: ")]
    assert len(http) >= 25
    bad = [f"{r.case}: {r.violations}" for r in http if r.violations]
    assert bad == []
    statuses = {r.case: r.got.split()[0] for r in http}
    assert statuses["http: timestamp not a number"] == "401"  # was a 500
    assert statuses["http: body over 1 MB"] == "413"  # was a 401


def test_the_waiting_trip_lost_nothing_and_read_nothing_forged(rows: list[Row]) -> None:
    canary = next(r for r in rows if r.case == "http: canary trip afterwards")
    assert canary.violations == [] and canary.nothing_lost, canary


@pytest.mark.parametrize("name", list(TRIP_CASES))
def test_broken_input_gets_a_safe_outcome_and_loses_nothing(rows: list[Row], name: str) -> None:
    row = next(r for r in rows if r.case == f"trip: {name}")
    assert row.violations == [], row
    assert row.nothing_lost, row


def test_the_bot_survived(rows: list[Row]) -> None:
    assert not [r for r in rows if r.case == "bot process"]
