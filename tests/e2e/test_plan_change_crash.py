"""A crash between a change after the plan and the revised plan (workflow
v3), with `travel-planner run` as a real process SIGKILLed at a failpoint
and run again: no completed LLM call is paid twice, Plan v2 is posted
once, and the root message ends up linking it."""

from __future__ import annotations

import pytest

from testing.bot_process import CHANNEL, DEADLINE, BotProcess, SlackPlayer, bot_env, duplicate_posts, running_bot
from testing.fakes.slack_api import FakeSlackWebAPI
from testing.loopback import free_port
from testing.research_fakes import research_fakes
from tests.slack.test_plan_changes import SWAP, changes_script, plans, read_once

#: The Lisbon trip makes 7 LLM calls in one process; the change is the 8th.
MOMENTS = [
    "after:llm_step:8",  # the revised plan written and stored, nothing posted yet
    "after:chat_plan:2",  # Plan v2 in the thread, its step not stored: the hard case
    "before:show_state_step:2",  # Plan v2's step stored, the root not yet pointing at it
]


@pytest.mark.parametrize("failpoint", MOMENTS)
def test_a_crash_between_the_change_and_plan_v2_repeats_nothing(tmp_path, failpoint):
    api = FakeSlackWebAPI()
    with api, research_fakes(changes_script) as (llm, serper, site):
        env = bot_env(api, llm, serper, tmp_path / "state", free_port())
        bot = BotProcess({**env, "TRAVEL_PLANNER_FAILPOINT": failpoint}, tmp_path / "bot.log")
        player = SlackPlayer(api, bot.events_url)
        root_ts = player.plan_trip("Lisbon in May, 4 people")["ts"]
        for n, answer in enumerate(("May 1-4", "2000 EUR", "vegetarian"), start=1):
            player.wait_questions(root_ts, n)
            player.reply(root_ts, answer, "U0ANA")
        api.wait_for(lambda: len(plans(api, root_ts)) == 1, timeout=DEADLINE)
        player.reply(root_ts, SWAP, "U0BEN")
        assert bot.wait_exit() == -9
        assert f"failpoint {failpoint} reached: SIGKILL" in bot.output()
        bot.reap()

        with running_bot(env, tmp_path / "bot.log"):
            api.wait_for(lambda: len(plans(api, root_ts)) == 2, timeout=DEADLINE)
            v2 = plans(api, root_ts)[1]
            link = f"https://test.slack.com/archives/{CHANNEL}/p{v2['ts'].replace('.', '')}"
            api.wait_for(lambda: link in str((api.message(CHANNEL, root_ts) or {}).get("blocks")), timeout=DEADLINE)
            api.wait_for(lambda: len(api.thread_files(CHANNEL, root_ts)) == 2, timeout=DEADLINE)

    assert [p["blocks"][0]["text"]["text"] for p in plans(api, root_ts)] == ["Lisbon trip", "Plan v2 · Lisbon trip"]
    assert llm.repeated_answers() == []  # no completed LLM call paid twice
    assert read_once(llm.calls, SWAP) == 1
    assert duplicate_posts(api) == []
    assert [f["name"] for f in api.thread_files(CHANNEL, root_ts)] == ["lisbon-trip.md", "lisbon-trip-v2.md"]
