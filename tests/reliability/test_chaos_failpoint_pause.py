"""The `pause` action of `TRAVEL_PLANNER_FAILPOINT` the chaos suite relies on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from workflows import failpoints


@pytest.fixture(autouse=True)
def disarmed() -> Iterator[None]:
    yield
    failpoints.arm(None)


def test_spec_parsing() -> None:
    failpoints.arm("after:handover:1:pause=2.5")
    assert failpoints._armed == ("after:handover", 1) and failpoints._pause == 2.5
    failpoints.arm("after:llm_step:2")  # the crash form is unchanged
    assert failpoints._armed == ("after:llm_step", 2) and failpoints._pause == 0.0
    for bad in ("after:handover:1:pause=0", "after:handover:1:pause=x", "after:handover:pause=1", "nope"):
        with pytest.raises(ValueError):
            failpoints.arm(bad)


def test_an_async_pause_lets_the_event_loop_run(capsys: pytest.CaptureFixture[str]) -> None:
    failpoints.arm("before:handover:2:pause=0.3")

    async def scenario() -> tuple[float, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        await failpoints.reached_async("before:handover")  # 1st: no pause
        started = time.monotonic()
        await failpoints.reached_async("before:handover")  # 2nd: pauses
        took = time.monotonic() - started
        task.cancel()
        return took, ticks

    took, ticks = asyncio.run(scenario())
    assert 0.25 < took < 2.0
    assert ticks >= 10  # other work ran during the pause
    err = capsys.readouterr().err
    assert "failpoint before:handover:2 reached: pause 0.3 s" in err
    assert "failpoint before:handover:2 resumed" in err


def test_a_sync_point_pauses_the_thread() -> None:
    failpoints.arm("after:slack_post:1:pause=0.2")
    started = time.monotonic()
    failpoints.reached("after:slack_post")
    assert time.monotonic() - started >= 0.2
