"""The Slack bot end to end: a real `travel-planner run` process, signed
requests in, a fake Slack Web API out, a scripted LLM, and SIGKILLs."""

from __future__ import annotations


from testing.bot_process import DEADLINE, SlackPlayer, bot_env, duplicate_posts, running_bot
from testing.loopback import free_port
from testing.research_fakes import research_fakes
from testing.fakes.llm_server import Fault
from testing.fakes.scenario import QUESTIONS, lisbon_script

EXPECTED = "[Ana] May 1-4 | [Ben] 2000 EUR | [Ana] vegetarian"


def _plans(player: SlackPlayer, root_ts: str) -> list[dict]:
    return [m for m in player.thread(root_ts)
            if ((m.get("metadata") or {}).get("event_payload") or {}).get("step", "").rsplit("/", 1)[-1].startswith("plan")]


def test_plan_trip_end_to_end_with_retried_and_doubled_replies(slack, tmp_path):
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = bot_env(slack, llm, serper, tmp_path / "state", free_port())
        with running_bot(env, tmp_path / "bot.log") as bot:
            player = SlackPlayer(slack, bot.events_url)
            root = player.plan_trip("Lisbon in May, 4 people")
            assert "<@U0ANA>" in root["text"] and "Lisbon in May" in root["text"]
            root_ts = root["ts"]

            assert QUESTIONS[0] in player.wait_questions(root_ts, 1)[0]
            player.reply(root_ts, "May 1-4", "U0ANA", retries=2)  # Slack retried it twice
            player.wait_questions(root_ts, 2)
            player.mention_reply(root_ts, "2000 EUR", "U0BEN")  # app_mention + message
            player.wait_questions(root_ts, 3)
            player.reply(root_ts, "vegetarian", "U0ANA")
            slack.wait_for(lambda: _plans(player, root_ts), timeout=DEADLINE)

    plan = _plans(player, root_ts)
    assert len(plan) == 1 and EXPECTED in plan[0]["text"]
    assert duplicate_posts(slack) == []
    assert all(m.get("thread_ts") == root_ts for m in player.thread(root_ts))
    assert len(llm.answered()) == 7 and llm.repeated_answers() == []
    # Each reply reached the LLM exactly once, with its author.
    final_request = "\n".join(m["content"] or "" for m in llm.calls[-1].messages if m["role"] == "user")
    assert final_request.count("May 1-4") == 1 and final_request.count("2000 EUR") == 1
    assert max(player.acks) < 1.0


def test_sigkill_during_an_llm_call_and_while_waiting_then_restart(slack, tmp_path):
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = bot_env(slack, llm, serper, tmp_path / "state", free_port())
        with running_bot(env, tmp_path / "bot.log") as bot:
            player = SlackPlayer(slack, bot.events_url)
            root_ts = player.plan_trip("Lisbon in May, 4 people")["ts"]
            player.wait_questions(root_ts, 1)
            llm.inject(Fault(delay=30))  # the next LLM call hangs...
            player.reply(root_ts, "May 1-4", "U0ANA")
            slack.wait_for(llm.in_flight.is_set, timeout=DEADLINE)
            in_flight = llm.calls[-1].fingerprint
            bot.kill()  # ...and the process dies during it
        llm.faults.clear()

        with running_bot(env, tmp_path / "bot.log") as bot:
            player.events_url = bot.events_url
            player.wait_questions(root_ts, 2)
            bot.kill()  # dies while waiting for the answer to question 2

        with running_bot(env, tmp_path / "bot.log") as bot:
            player.events_url = bot.events_url
            player.mention_reply(root_ts, "2000 EUR", "U0BEN")
            player.wait_questions(root_ts, 3)
            player.reply(root_ts, "vegetarian", "U0ANA")
            slack.wait_for(lambda: _plans(player, root_ts), timeout=DEADLINE)

    assert set(llm.repeated_answers()) - {in_flight} == set()
    assert duplicate_posts(slack) == []
    assert len(player.questions(root_ts)) == 3
    plans = _plans(player, root_ts)
    assert len(plans) == 1 and EXPECTED in plans[0]["text"]
