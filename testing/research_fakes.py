"""The planner's paid research collaborators, faked: the LLM (`ScriptedLLM`),
the search API (`FakeSerper`) and the pages it reads (`PageSite`), and the
environment that points the planner at them."""

from __future__ import annotations

import contextlib
from pathlib import Path

from testing.fakes.llm_server import ScriptedLLM
from testing.fakes.research import FakeSerper, PageSite
from testing.fakes.scenario import PAGES


def research_env(llm: ScriptedLLM, serper: FakeSerper, state_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_API_KEY": llm.api_key,
        "TRAVEL_PLANNER_MODEL": llm.model,
        "TRAVEL_PLANNER_LLM_MAX_RETRIES": "2",
        "SERPER_URL": serper.url,
        "SERPER_API_KEY": "serper-test-key",
        "SCRAPE_ALLOW_HOSTS": "127.0.0.1",
        "TRAVEL_PLANNER_STATE_DIR": str(state_dir),
        **extra,
    }


@contextlib.contextmanager
def research_fakes(script_factory, *, allow_refusals: bool = False, **llm_kwargs):  # type: ignore[no-untyped-def]
    """The fake LLM, search API and pages. A request the fake LLM refused as
    OpenAI would (a broken tool sequence, a wrong key) fails the test, unless
    it is what the test is about (`allow_refusals`)."""
    with PageSite(PAGES) as site, FakeSerper() as serper:
        with ScriptedLLM(script_factory(site.url), **llm_kwargs) as llm:
            try:
                yield llm, serper, site
            except Exception as exc:  # a refused request usually shows up as a stalled trip: say why
                if llm.refusals() and not allow_refusals:
                    raise AssertionError(f"OpenAI would have refused: {llm.refusals()}") from exc
                raise
            assert allow_refusals or not llm.refusals(), f"OpenAI would have refused: {llm.refusals()}"


__all__ = ["research_env", "research_fakes"]
