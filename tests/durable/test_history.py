"""workflows/durable/history.py: a trip's durable history read back from the
store, each step named by what the store keeps, and told in words by its name."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import time
from datetime import timedelta
from typing import Any

from resonate.resonate import Resonate
from resonate.types import Value

from tests.durable.replaying import until
from workflows.durable.connection import JournaledConnection
from workflows.durable.history import (
    CHOICE_STEP,
    CLAIM_STEP,
    LLM_STEP,
    NOW_STEP,
    POST_STEP,
    PUBLISH_WAITER_STEP,
    RECORD,
    SLEEP,
    STEP,
    TOOL_STEP,
    WAIT,
    StoredPromise,
    describe_step,
    promise_from_row,
    read_embedded,
    segment_messages,
    step_name,
    step_text,
    trip_segments,
)
from workflows.durable.journal import DurableJournal
from workflows.durable.state_dir import DB_NAME, StateDir
from workflows.steps import STEPS
from workflows.trip import TRIP_WORKFLOW

#: The tags the SDK gives every `ctx.run` step: none of them names it.
LOCAL_STEP_TAGS = {"resonate:scope", "resonate:branch", "resonate:parent", "resonate:origin"}


def _encoded(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def _step(pid: str, value: Any, *, state: str = "resolved", **tags: str) -> StoredPromise:
    return StoredPromise(pid, state, {"resonate:parent": "t", **tags}, None, value, created_at=1, timeout_at=2)


async def _choice(ctx, n: int) -> int:  # type: ignore[no-untyped-def]
    return n


async def _segment(ctx, state: dict) -> dict:  # type: ignore[no-untyped-def]
    picked = await ctx.run(CHOICE_STEP, state["turn"])
    await ctx.sleep(timedelta(milliseconds=1))
    reply = await ctx.promise(timeout=timedelta(days=1))
    return {"status": "done", "picked": picked, "reply": reply}


def test_a_segment_and_its_steps_read_back_from_the_embedded_store(tmp_path) -> None:
    async def scenario() -> Any:
        sd = StateDir(tmp_path)
        conn = JournaledConnection(DurableJournal(sd.db), tick_interval=0.05)
        r = Resonate(network=conn, env={}, autostart=False)
        r.register(_choice, name=CHOICE_STEP, version=1)
        r.register(_segment, name=TRIP_WORKFLOW, version=1)
        r.start()
        handle = r.options(timeout=timedelta(days=1)).run("t1", TRIP_WORKFLOW, {"turn": 0})

        def waiting() -> list[str]:
            return [p.id for p in conn.state.promises.values()
                    if p.state == "pending" and p.tags.get("resonate:external") == "true"]

        [wait_id] = await until(waiting, what="the segment waits for people")
        pending = read_embedded(tmp_path / DB_NAME, "t1")  # beside the owner, while it runs
        await r.promises.resolve(wait_id, Value(data=_encoded("yes")))
        result = await asyncio.wait_for(handle.result(), 20)
        await asyncio.wait_for(r.stop(), 5)
        sd.close()
        return pending, result

    pending, result = asyncio.run(scenario())
    assert result["status"] == "done"
    settled = read_embedded(tmp_path / DB_NAME, "t1")
    assert pending is not None and settled is not None

    [segment] = trip_segments(settled, "t1")
    assert segment.name == TRIP_WORKFLOW and segment.start == {"turn": 0} and segment.successor is None
    assert [step_name(s) for s in segment.steps] == [CHOICE_STEP, SLEEP, WAIT]
    choice = segment.steps[0]
    # resonate-sdk 0.8.1 stores no name for a `ctx.run` step: if an upgrade
    # starts to (in its param or a tag), `step_name` should read it there.
    assert choice.param is None and set(choice.tags) == LOCAL_STEP_TAGS
    assert [step_text(s)[1] for s in segment.steps] == ["a reply came first", "settled", "woken"]
    assert describe_step(segment.name, segment.promise.param, segment.result) == "done, from turn 0"

    [running] = trip_segments(pending, "t1")
    assert step_text(running.steps[-1]) == (WAIT, "waiting for people")
    assert describe_step(running.name, running.promise.param, running.result) == "running, from turn 0"


def test_every_registered_step_has_its_name_in_the_reader() -> None:
    from workflows.durable import history

    known = {value for name, value in vars(history).items() if name.endswith("_STEP")}
    assert set(STEPS) <= known


def test_a_leaf_step_is_named_by_the_shape_of_its_result() -> None:
    llm = {"message": {"role": "assistant", "content": "When?"}, "failure": None, "usage": {}}
    now_ms = int(time.time() * 1000)
    cases = [
        (llm, LLM_STEP), ([], CLAIM_STEP), (True, PUBLISH_WAITER_STEP), (1, CHOICE_STEP),
        (now_ms, NOW_STEP), ("", POST_STEP), ("Page: https://x", TOOL_STEP), (None, RECORD),
    ]
    assert [step_name(_step("t:1", value)) for value, _ in cases] == [name for _, name in cases]
    assert step_name(_step("t:2", None, state="pending")) == STEP
    assert step_name(_step("t:3", None, state="rejected")) == STEP
    assert step_name(_step("t:4", None, **{"resonate:timer": "true"})) == SLEEP


def test_a_known_name_says_what_the_result_is() -> None:
    # A failed post returns the error's text: by shape alone it would pass for a tool result.
    assert describe_step(POST_STEP, None, "channel_not_found") == "not posted: channel_not_found"
    assert describe_step(POST_STEP, None, "") == "posted"
    assert describe_step(CHOICE_STEP, None, 1) == "the timer came first"
    stamp = int(time.mktime((2025, 5, 1, 9, 30, 0, 0, 0, -1)) * 1000)
    assert describe_step(NOW_STEP, None, stamp) == "the time was 2025-05-01 09:30:00"
    outcome = {
        "message": {"role": "assistant", "content": None,
                    "tool_calls": [{"function": {"name": "internet_search", "arguments": '{"search_query": "Lisbon"}'}}]},
        "failure": None,
        "usage": {"prompt_tokens": 1200, "completion_tokens": 34},
    }
    assert describe_step(LLM_STEP, None, outcome) == "called internet_search(Lisbon) · 1,234 tokens"
    assert describe_step(LLM_STEP, None, {"failure": "control", "detail": "finish"}) == "not called: people asked to finish"
    assert describe_step(CLAIM_STEP, None, [{"author": "ana", "text": "May", "kind": "message"},
                                            {"author": "ben", "kind": "finish"}]) == "[ana] May; ben pressed finish"


def test_the_conversation_is_the_start_plus_what_the_steps_added() -> None:
    start = {"request": "Lisbon in May", "starter": "ana", "messages": []}
    trip = StoredPromise("t", "pending", {"resonate:target": "workers"}, {"func": TRIP_WORKFLOW, "args": [start]},
                         None, created_at=0, timeout_at=9)
    asked = {"message": {"role": "assistant", "content": "When?"}, "failure": None, "usage": {}}
    steps = [
        _step("t:1", asked),
        _step("t:2", [{"author": "ben", "text": "May 1-4", "kind": "message"}, {"author": "ana", "kind": "finish"}]),
        _step("t:3", "Page: https://example.org"),
        _step("t:4", None, state="pending"),
    ]
    [segment] = trip_segments([trip, *steps], "t")
    assert segment_messages(segment) == [
        {"role": "user", "content": "Trip request from ana: Lisbon in May"},
        {"role": "assistant", "content": "When?"},
        {"role": "user", "content": "[ben] May 1-4"},
        {"role": "tool", "content": "Page: https://example.org"},
    ]


def test_a_postgres_row_is_decoded_like_the_embedded_record() -> None:
    row = ("t:1", "resolved", None, _encoded(""), {"resonate:parent": "t"}, 10, 20, 15)
    promise = promise_from_row(row)
    assert promise == StoredPromise("t:1", "resolved", {"resonate:parent": "t"}, None, "", 10, 20, 15)
    assert step_name(promise) == POST_STEP
    garbled = promise_from_row(("t:2", "pending", "not base64!", None, None, 1, 2, None))
    assert garbled.param is None and garbled.tags == {} and garbled.settled_at is None


def test_a_store_without_a_journal_has_no_history_and_a_missing_one_cannot_be_read(tmp_path) -> None:
    sqlite3.connect(tmp_path / "empty.sqlite3").close()
    assert read_embedded(tmp_path / "empty.sqlite3") == []
    assert read_embedded(tmp_path / "missing.sqlite3") is None
