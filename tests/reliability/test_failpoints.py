"""Kill points aimed at one call of a step (the reminder post, the parking post)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from resonate.durable import DurableFunction
from resonate.error import ApplicationError

from workflows import failpoints


@failpoints.boundary("demo_step")
async def demo_step(ctx, text: str) -> str:  # type: ignore[no-untyped-def]
    return text


def _ctx(step_id: str) -> SimpleNamespace:
    return SimpleNamespace(info=SimpleNamespace(id=step_id))


def test_the_sdk_accepts_a_step_call_that_names_its_kill_point():
    DurableFunction(demo_step).pack_args("hi", failpoint="reminder_post")
    with pytest.raises(ApplicationError):  # the step's own signature is still checked
        DurableFunction(demo_step).pack_args("hi", nonsense=1)


@pytest.mark.parametrize("point", ["before:reminder_post:1", "after:reminder_post:1", "before:demo_step:1"])
def test_a_named_call_reaches_its_own_points_and_the_steps(point, capsys):
    failpoints.arm(f"{point}:pause=0.01")  # pause instead of SIGKILL: stderr says it was reached
    try:
        result = asyncio.run(demo_step(_ctx("t:7"), "hi", failpoint="reminder_post"))
        failpoints.on_settle_journaled("t:7")  # the store has the result on disk
    finally:
        failpoints.arm(None)
    assert result == "hi"  # the name is not passed on to the step
    assert f"failpoint {point} reached: pause" in capsys.readouterr().err


def test_an_unnamed_call_does_not_reach_a_named_point(capsys):
    failpoints.arm("before:reminder_post:1:pause=0.01")
    try:
        asyncio.run(demo_step(_ctx("t:8"), "hi"))
        failpoints.on_settle_journaled("t:8")
    finally:
        failpoints.arm(None)
    assert "reached" not in capsys.readouterr().err
