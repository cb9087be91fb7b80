"""The crash harness's own judgement: it must recognise every paid result the
store holds (else a real repeat would pass as an allowed in-flight rerun) and
count repeats as the invariant "nothing paid twice" means them: a completed
paid call executed again is a repeat; one in flight at a kill may run once more."""

from __future__ import annotations

import asyncio
from pathlib import Path

from reliability.crash_harness import Driver, RunSpec, count_repeats, llm_signature, recorded_identities, running_fakes
from testing.research_fakes import research_env
from workflows.tools import WebTools


def test_real_tool_outputs_and_llm_outcomes_are_recognised(tmp_path: Path) -> None:
    with running_fakes() as f:
        tools = WebTools.from_env(research_env(f.llm, f.serper, tmp_path))
        search = asyncio.run(tools.internet_search("Lisbon hotels", 3))
        page = asyncio.run(tools.scrape_website(f"{f.site.url}/sintra"))
        outcome = {"message": {"role": "assistant", "content": "Which dates?"}, "usage": {}, "failure": None}
        promises = {
            "t:1": ("resolved", search),
            "t:2": ("resolved", page),
            "t:3": ("resolved", outcome),
            "t:4": ("resolved", ""),  # a post step
            "t:5": ("pending", None),
        }
        found, unknown = recorded_identities(promises, {llm_signature(outcome["message"]): "llm#1"})
    assert unknown == []
    assert found == {"search:Lisbon hotels", "scrape:/sintra", "llm#1"}


def test_anything_else_stored_as_text_or_failed_is_reported_not_ignored() -> None:
    promises = {
        "t:1": ("resolved", "Search failed: the provider answered 500"),
        "t:2": ("resolved", {"message": None, "usage": {}, "failure": "transient", "detail": "down"}),
        "t:3": ("resolved", {"message": {"content": "never asked"}, "usage": {}, "failure": None}),
    }
    found, unknown = recorded_identities(promises, {})
    assert found == set()
    assert len(unknown) == 3


def _judged(lives: list[list[str]], recorded_at_kills: list[set[str]]) -> tuple[int, int]:
    repeats, reruns, _, _ = count_repeats(lives, recorded_at_kills)
    return repeats, reruns


def test_only_a_call_in_flight_at_a_kill_may_run_again() -> None:
    # llm#3 was asked, not recorded, when the process died: once more is fine.
    assert _judged([["llm#1", "llm#3"], ["llm#3", "llm#5"]], [{"llm#1"}]) == (0, 1)
    # llm#1 was recorded before the kill: asking again is a repeat.
    assert _judged([["llm#1"], ["llm#1", "llm#3"]], [{"llm#1"}]) == (1, 0)
    # In flight at the first kill, not reached by the second life: one rerun only.
    assert _judged([["llm#1", "llm#3"], [], ["llm#3", "llm#3"]], [{"llm#1"}, {"llm#1"}]) == (1, 1)
    # A repeat within one life, no kill at all.
    assert _judged([["llm#1", "llm#1"]], []) == (1, 0)


def test_a_chain_arms_one_failpoint_per_life() -> None:
    spec = RunSpec("chain", failpoints=("after:llm_step:2", "before:tool_step:1"))
    driver = Driver.__new__(Driver)
    driver.spec = spec
    assert [driver._armed_for(n) for n in (1, 2, 3)] == ["after:llm_step:2", "before:tool_step:1", None]
