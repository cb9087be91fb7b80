"""Regressions for the defects the hostile-input suite found, pinned small.

1. Lone UTF-16 surrogates (`"\\ud800"` in JSON) from Slack, the LLM or a
   search provider could not be stored: a reply answered 500 and was lost
   (SQLite), and a step result could never be journaled (msgspec), so the
   step re-ran in a hot loop for ever. `workflows.text.scrub` now replaces
   them with U+FFFD where outside text enters durable state.
2. A 200 from the LLM provider that is not a chat completion (a proxy's HTML
   error page, `[]`, `{"choices": "x"}`) raised out of the LLM step and
   silently killed the trip; it is now a transient failure (told once,
   retried on the durable timer).
3. A non-integer `X-Slack-Request-Timestamp` answered 500 (slack_sdk calls
   int() on it); now 401. A body over 1 MB answered 401 (the signature was
   checked against a body never read); now 413.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from tests.engine.harness import planner
from testing.research_fakes import research_env, research_fakes
from testing.fakes.llm_server import Fault, ScriptedLLM, call_tools, say
from testing.fakes.slack_api import FakeSlackWebAPI
from testing.fakes.slack_bot import RunningSlackBot, start_slack_bot
from testing.fakes.slack_requests import JSON, SIGNING_SECRET, compute_signature, send, signed_headers, slash_command
from workflows.config import LlmSettings
from workflows.llm import OpenAIChatModel
from workflows.text import REPLACEMENT, scrub, scrub_text
from workflows.tool_calls import ToolCall, parse_tool_call
from workflows.tools import TOOL_SPECS

ODD = "\u202eRTL\u202c \U0001f469\u200d\U0001f469\u200d\U0001f467 zero\u200bwidth\ufeff Z\u0337a\u0334 nul\x00"


# -- 1. lone surrogates ----------------------------------------------------------------


def test_scrub_replaces_only_lone_surrogates() -> None:
    assert scrub_text("a\ud800b\udfffc") == f"a{REPLACEMENT}b{REPLACEMENT}c"
    assert scrub_text(ODD) == ODD  # every other odd character is kept, NUL included
    assert scrub_text(json.loads('"\\ud83d\\ude00"')) == "\U0001f600"  # a valid pair is one emoji
    nested = scrub({"k\ud800": ["x\udc00", ("y", 1, None)], "n": 2})
    assert nested == {f"k{REPLACEMENT}": [f"x{REPLACEMENT}", ("y", 1, None)], "n": 2}
    json.dumps(nested, ensure_ascii=False).encode("utf-8")  # storable


def test_tool_arguments_with_lone_surrogate_escapes_are_scrubbed() -> None:
    raw = {"id": "c1", "function": {"name": "internet_search", "arguments": '{"search_query": "lisbon \\ud800"}'}}
    call = parse_tool_call(raw, TOOL_SPECS)
    assert isinstance(call, ToolCall)
    assert call.arguments["search_query"] == f"lisbon {REPLACEMENT}"


def _surrogate_script(site_url: str):  # type: ignore[no-untyped-def]
    """Lone surrogates everywhere the model can put them."""

    def script(messages):  # type: ignore[no-untyped-def]
        users = [m for m in messages if m["role"] == "user"]
        if len(users) == 1:
            return say("Which dates \ud83d?")
        if messages[-1]["role"] == "user":
            return call_tools(("internet_search", {"search_query": "lisbon \udfff"}))
        return call_tools(("finish_trip", {"plan": "# Plan \ud800\n\n" + users[-1]["content"]}))

    return script


def test_lone_surrogates_from_people_and_the_model_do_not_stall_a_trip(tmp_path) -> None:
    with research_fakes(_surrogate_script) as (llm, serper, site):

        async def scenario():  # type: ignore[no-untyped-def]
            async with planner(research_env(llm, serper, tmp_path)) as p:
                await p.start("trip-sur", "Lisbon \ud800 in May")
                await p.wait_for("ask", 1)
                assert await p.reply("trip-sur", "May \udc00 1-4 " + ODD)
                return await p.outcome("trip-sur", timeout=20), p.chat

        outcome, chat = asyncio.run(scenario())
    assert outcome["status"] == "done"
    assert chat.of("ask") == [f"Which dates {REPLACEMENT}?"]
    assert chat.of("plan")[0].startswith(f"# Plan {REPLACEMENT}")
    assert f"May {REPLACEMENT} 1-4 {ODD}" in chat.of("plan")[0]
    assert len(llm.answered()) == 3 and llm.repeated_answers() == []  # no hot loop of paid calls


# -- 2. malformed 200s from the LLM provider ----------------------------------------------------


MALFORMED = [
    b"<html>502 Bad Gateway</html>",
    b"",
    b"[]",
    b"null",
    b'{"choices": "x"}',
    b'{"choices": [{"message": "x"}]}',
]


def test_a_200_that_is_not_a_chat_completion_is_transient_not_a_crash() -> None:
    async def outcomes(base_url: str) -> list:  # type: ignore[type-arg]
        model = OpenAIChatModel(
            LlmSettings.from_env({"OPENAI_API_KEY": llm.api_key, "OPENAI_BASE_URL": base_url,
                                  "TRAVEL_PLANNER_MODEL": llm.model, "TRAVEL_PLANNER_LLM_MAX_RETRIES": "1"})
        )
        try:
            messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
            return [await model.complete(messages, [], 10_000) for _ in MALFORMED]
        finally:
            await model.close()

    with ScriptedLLM(lambda m: say("hi")) as llm:
        llm.inject(*[Fault(raw_body=body) for body in MALFORMED])
        results = asyncio.run(outcomes(llm.base_url))
    assert [r.failure for r in results] == ["transient"] * len(MALFORMED)
    assert all("LLM provider sent" in r.detail for r in results)


# -- 3. the HTTP edge ----------------------------------------------------------------------------


@pytest.fixture
def bot() -> Iterator[RunningSlackBot]:
    api = FakeSlackWebAPI().start()
    try:
        with start_slack_bot(api) as running:
            yield running
    finally:
        api.stop()


# The last: superscript digits, which str.isdigit() accepts and int() does not.
@pytest.mark.parametrize("timestamp", ["abc", "1700000000.5", "", " 1700000000", "\u00b9\u00b2\u00b3"])
def test_a_timestamp_that_is_not_an_integer_is_401_not_500(bot: RunningSlackBot, timestamp: str) -> None:
    body = slash_command("Lisbon")
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": compute_signature(SIGNING_SECRET, timestamp, body),
    }
    status, text, _ = send(bot.events_url, body, headers)
    assert status == 401, text
    bot.wait_idle()  # whatever the request set off has finished
    assert bot.trips.started == []


def test_a_body_over_1_mb_is_413(bot: RunningSlackBot) -> None:
    body = json.dumps({"type": "event_callback", "pad": "x" * (1024 * 1024 + 10)})
    status, text, _ = send(bot.events_url, body, signed_headers(body, content_type=JSON))
    assert status == 413, text
    assert json.loads(text)["error"] == "request_too_large"
