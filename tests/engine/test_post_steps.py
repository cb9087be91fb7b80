"""Typed posts through the durable post step: what is stored of them, and
the keys the ledger and the Slack lookup find posts by."""

from __future__ import annotations

import asyncio
import re

from tests.engine.harness import planner
from tests.engine.test_conversation import _converse
from testing.fakes.scenario import lisbon_script
from testing.research_fakes import research_env, research_fakes


def test_no_step_argument_is_stored_so_a_post_may_change_shape_between_releases(tmp_path):
    """A post is a typed value handed to `post_step`. The SDK stores the result
    of a `ctx.run` step, never its arguments, so a trip whose steps an older
    release recorded (with kind strings, the plan and footer joined) replays
    on this one: only results are read back."""
    with research_fakes(lisbon_script) as (llm, serper, site):
        async def scenario():
            async with planner(research_env(llm, serper, tmp_path)) as p:
                outcome = await _converse(p)
                assert p.runtime.connection is not None
                return outcome, p.chat, dict(p.runtime.connection.state.promises)

        outcome, chat, promises = asyncio.run(scenario())

    assert outcome["status"] == "done"
    steps = [x for x in promises.values() if x.tags.get("resonate:scope") == "local"]
    assert len(steps) > 20 and [x.id for x in steps if x.param != {}] == []
    # The post keys keep their shape, `{trip}/{kind}{n}`, as posts already in Slack carry them.
    assert [p.key for p in chat.posts if not re.fullmatch(r"trip-1/(ask|progress|notice|plan)\d+", p.key)] == []
    # The plan and its footer travel apart, end to end.
    (plan,) = chat.of("plan")
    assert len(chat.footers) == 1 and chat.footers[0].startswith("Planning used 7 AI calls")
    assert "Planning used" not in plan and "\u241e" not in plan
