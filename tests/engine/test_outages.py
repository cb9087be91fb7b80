"""Outages: the LLM provider down for minutes, Redis restarted mid-trip."""

from __future__ import annotations

import asyncio
import logging
import time

from workflows.registry import RedisThreadRegistry, open_redis_client

from tests.engine.harness import DEADLINE, planner, until
from testing.clock import ManualClock
from testing.research_fakes import research_env, research_fakes
from testing.fakes.llm_server import Fault
from testing.fakes.scenario import QUESTIONS, lisbon_script

EXPECTED = "[ana] May 1-4 | [ana] 2000 EUR | [ana] vegetarian"


def test_llm_provider_down_for_minutes_then_back(tmp_path):
    """Bounded retries per attempt, the thread told once, the trip resumes by itself."""
    clock = ManualClock()
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path, TRAVEL_PLANNER_LLM_MAX_RETRIES="1",
                           TRAVEL_PLANNER_PROVIDER_RETRY_MINUTES="2")

        def failures() -> int:
            return sum(1 for c in llm.calls if c.status == 503)

        async def scenario():
            async with planner(env, clock=clock) as p:
                await p.start("outage", "Lisbon in May")
                await p.wait_for("ask", 1)
                await p.reply("outage", "May 1-4")
                # The provider goes down: every request fails for a while.
                llm.inject(*[Fault(status=503, message="upstream overloaded") for _ in range(6)])
                await p.wait_for("notice", 1)
                attempts: list[int] = [failures()]
                for _ in range(3):  # minutes pass; each pause ends in one bounded attempt
                    await until(p.settled_on_a_timer)  # the trip sleeps out the pause...
                    clock.advance(seconds=130 * 5)
                    # ...then makes one attempt, and sleeps again (another pause, or on question 2).
                    await until(lambda: p.caught_up(clock))
                    attempts.append(failures())
                for i, answer in ((2, "2000 EUR"), (3, "vegetarian")):
                    await p.wait_for("ask", i)
                    await p.reply("outage", answer)
                return await p.outcome("outage"), p.chat, attempts

        outcome, chat, attempts = asyncio.run(scenario())

    # One attempt = the call plus one client retry, then a pause; the fourth attempt succeeds.
    assert attempts == [2, 4, 6, 6]
    notices = chat.of("notice")
    assert len(notices) == 1 and "can't reach the AI provider" in notices[0] and "503" in notices[0]
    assert chat.of("ask") == list(QUESTIONS)
    assert EXPECTED in outcome["plan"]
    assert llm.repeated_answers() == []


def test_redis_restarted_mid_trip_loses_no_reply(tmp_path, private_redis_server, caplog):
    """Distributed-registry mode: the registry lives in Redis, which restarts twice."""
    redis = private_redis_server
    caplog.set_level(logging.WARNING)

    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)

        def waits_for_registry() -> int:
            return caplog.text.count("waits for the registry")

        async def scenario():
            client = open_redis_client(redis.url)
            registry = RedisThreadRegistry(client)
            try:
                async with planner(env, registry=registry) as p:
                    await p.start("redis", "Lisbon in May")
                    await p.wait_for("ask", 1)
                    redis._command(b"SAVE")
                    redis.stop(kill=True)  # Redis dies...
                    delivery = asyncio.create_task(p.reply("redis", "May 1-4"))  # ...as someone answers
                    await until(lambda: waits_for_registry() >= 1)
                    assert not delivery.done()  # the reply waits for the registry, it is not dropped
                    redis.start()  # ...and comes back with its data
                    assert await asyncio.wait_for(delivery, DEADLINE) is True
                    await p.wait_for("ask", 2)
                    redis._command(b"SAVE")
                    redis.stop(kill=True)  # down again while the trip waits
                    started = time.monotonic()
                    seen = waits_for_registry()
                    delivery = asyncio.create_task(p.reply("redis", "2000 EUR"))
                    await until(lambda: waits_for_registry() > seen)
                    redis.start()
                    await asyncio.wait_for(delivery, DEADLINE)
                    await p.wait_for("ask", 3)
                    await p.reply("redis", "vegetarian")
                    return await p.outcome("redis"), time.monotonic() - started
            finally:
                await client.aclose()

        outcome, _ = asyncio.run(scenario())

    assert EXPECTED in outcome["plan"]
    assert llm.repeated_answers() == []
    logs = caplog.text
    assert "Redis is unavailable during deliver" in logs
    assert "waits for the registry" in logs
