"""Chaotic Slack delivery through a real `travel-planner run` (issue 5, item 3).

One bot process carries six trips at once (retries 1-4x, app_mention +
message pairs, replies out of ts order while busy and while waiting, replies
during research, five people within 100 ms); a second one pauses its first
hand-over to a successor segment while replies arrive. Every reply must reach
the LLM exactly once, batches in ts order, the plan must quote each answer
once, and nothing may be posted twice.

The full set (each case three times at once, plus pauses before the
hand-over, before the reply promise is published and before the inbox is
claimed): `uv run python -m reliability --profile full --only chaos_delivery`.
"""

from __future__ import annotations

import pytest

from reliability.chaos_delivery import (
    SHARED_CASES,
    Outcome,
    outcomes_table,
    pause_cases,
    run_pause_case,
    run_shared_cases,
)
from reliability.profile import Profile

pytestmark = pytest.mark.timeout(120)

PAUSES = {c.name: c for c in pause_cases(Profile("fast"))}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    workdir = tmp_path_factory.mktemp("chaos")
    results = run_shared_cases(workdir, list(SHARED_CASES), seed=5, timeout=30.0)
    results += [run_pause_case(workdir, spec, timeout=30.0) for spec in PAUSES.values()]
    print(outcomes_table("chaos_delivery [pytest]", results).render())
    return {o.name: o for o in results}


def _assert_clean(o: Outcome) -> None:
    detail = f"{o.name}: {o.row()} batches={o.claims} error={o.error!r} notes={o.notes}"
    assert not o.error, detail
    assert o.saw == o.expected, detail
    assert (o.lost, o.duplicates, o.out_of_order, o.dup_posts) == (0, 0, 0, 0), detail


@pytest.mark.parametrize("name", list(SHARED_CASES))
def test_every_reply_once_in_order_under_chaotic_delivery(outcomes: dict[str, Outcome], name: str) -> None:
    _assert_clean(outcomes[name])


def test_the_chaos_was_real(outcomes: dict[str, Outcome]) -> None:
    # More deliveries than replies: the duplicates were actually sent.
    assert outcomes["retries"].deliveries == 1 + 2 + 3 + 4
    assert outcomes["mention_pairs"].deliveries > 2 * outcomes["mention_pairs"].expected
    # Replies sent while the planner was busy are handed over together, in ts order.
    assert [len(c) for c in outcomes["out_of_order_busy"].claims] == [1, 2]
    assert [len(c) for c in outcomes["while_researching"].claims] == [1, 3]


@pytest.mark.parametrize("name", list(PAUSES))
def test_replies_during_a_paused_hand_over_are_kept(outcomes: dict[str, Outcome], name: str) -> None:
    o = outcomes[name]
    _assert_clean(o)
    assert any("sent during" in n for n in o.notes), o.notes  # the replies really met the pause
