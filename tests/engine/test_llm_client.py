"""The fake OpenAI refuses what OpenAI refuses, seen through the real `openai`
client, and the product's LLM client classifies each answer (`OpenAIChatModel`)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from testing.fakes.llm_server import ScriptedLLM, cached, call_tools, cut, say
from workflows.config import LlmSettings
from workflows.llm import LlmOutcome, OpenAIChatModel

WRONG_KEY = "sk-wrong-key-for-the-fake-9876"
TOOLS = [{"type": "function", "function": {"name": "internet_search", "parameters": {"type": "object"}}}]


def _script(messages: list[dict[str, Any]]) -> dict[str, Any]:
    last = str(messages[-1].get("content") or "")
    if last == "cut text":
        return cut(say("A long answer that goes on and on about Lisbon and Porto."), keep=12)
    if last == "cut calls":
        return cut(call_tools(("internet_search", {"search_query": "lisbon"}),
                              ("internet_search", {"search_query": "porto hotels"})), keep=40)
    if last == "cached":
        return cached(say("Which dates?"), 64)
    if last == "search":
        return call_tools(("internet_search", {"search_query": "lisbon"}))
    return say("Which dates?")


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM(_script) as fake:
        yield fake


def _client(llm: ScriptedLLM, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(api_key=key or llm.api_key, base_url=llm.base_url, max_retries=0)


def _ask(llm: ScriptedLLM, messages: list[dict[str, Any]], key: str | None = None, **kwargs: Any) -> Any:
    with _client(llm, key) as client:
        return client.chat.completions.create(model=llm.model, messages=messages, **kwargs)  # type: ignore[arg-type]


def _complete(llm: ScriptedLLM, messages: list[dict[str, Any]], key: str | None = None,
              model: str | None = None) -> LlmOutcome:
    env = {"OPENAI_API_KEY": key or llm.api_key, "OPENAI_BASE_URL": llm.base_url,
           "TRAVEL_PLANNER_MODEL": model or llm.model, "TRAVEL_PLANNER_LLM_MAX_RETRIES": "1"}

    async def run() -> LlmOutcome:
        chat_model = OpenAIChatModel(LlmSettings.from_env(env))
        try:
            return await chat_model.complete([{"role": "system", "content": "s"}, *messages], [], 10_000)
        finally:
            await chat_model.close()

    return asyncio.run(run())


def _assistant_calling(*ids: str) -> dict[str, Any]:
    return {"role": "assistant", "content": "", "tool_calls": [
        {"id": i, "type": "function", "function": {"name": "internet_search", "arguments": "{}"}} for i in ids
    ]}


def _tool(call_id: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": "results"}


USER = {"role": "user", "content": "Lisbon in May"}


# -- the key ----------------------------------------------------------------------------------


def test_a_wrong_key_is_refused_with_openais_401(llm):
    with pytest.raises(openai.AuthenticationError) as refused:
        _ask(llm, [USER], key=WRONG_KEY)
    assert refused.value.status_code == 401
    error = refused.value.body
    assert isinstance(error, dict) and error["code"] == "invalid_api_key" and error["type"] == "invalid_request_error"
    assert error["message"].startswith("Incorrect API key provided: sk-")
    assert WRONG_KEY not in error["message"]  # OpenAI masks it, and so does the fake
    assert llm.answered() == [] and [c.status for c in llm.calls] == [401]
    assert _ask(llm, [USER]).choices[0].message.content == "Which dates?"  # the right key is served


def test_a_request_without_a_key_is_refused_with_401(llm):
    request = urllib.request.Request(
        llm.base_url + "/chat/completions", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps({"model": llm.model, "messages": [USER]}).encode(),
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
    assert "You didn't provide an API key" in json.loads(refused.value.read())["error"]["message"]


def test_the_llm_client_calls_a_wrong_key_auth_and_never_repeats_the_key(llm):
    outcome = _complete(llm, [USER], key=WRONG_KEY)
    assert outcome.failure == "auth" and "invalid_api_key" in outcome.detail
    assert WRONG_KEY[-4:] not in outcome.detail and WRONG_KEY[:6] not in outcome.detail
    assert len(llm.calls) == 1  # a 401 is not retried


def test_an_unknown_model_is_refused_with_404_model_not_found(llm):
    with pytest.raises(openai.NotFoundError) as refused:
        with _client(llm) as client:
            client.chat.completions.create(model="gpt-nonexistent", messages=[USER])  # type: ignore[list-item]
    assert isinstance(refused.value.body, dict) and refused.value.body["code"] == "model_not_found"
    assert _complete(llm, [USER], model="gpt-nonexistent").failure == "model"


# -- the tool-call sequence -----------------------------------------------------------------


def test_a_tool_message_that_follows_no_tool_call_is_refused_with_400(llm):
    with pytest.raises(openai.BadRequestError) as refused:
        _ask(llm, [USER, {"role": "assistant", "content": "Which dates?"}, _tool("call_1")])
    error = refused.value.body
    assert isinstance(error, dict) and error["type"] == "invalid_request_error" and error["param"] == "messages.[2].role"
    assert error["message"] == (
        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'."
    )
    assert llm.refusals() == [error["message"]] and llm.answered() == []


def test_a_tool_message_answering_another_call_id_is_refused(llm):
    with pytest.raises(openai.BadRequestError) as refused:
        _ask(llm, [USER, _assistant_calling("call_1"), _tool("call_2")])
    assert "must be a response to a preceeding message with 'tool_calls'" in refused.value.message
    # A user message between a call and its answer breaks the sequence too.
    with pytest.raises(openai.BadRequestError) as refused:
        _ask(llm, [USER, _assistant_calling("call_1"), USER, _tool("call_1")])
    assert "did not have response messages: call_1" in refused.value.message


def test_an_assistant_tool_call_left_unanswered_is_refused_with_400(llm):
    with pytest.raises(openai.BadRequestError) as refused:
        _ask(llm, [USER, _assistant_calling("call_1", "call_2"), _tool("call_1"), USER])
    error = refused.value.body
    assert isinstance(error, dict) and error["param"] == "messages.[1].role"
    assert error["message"] == (
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        "'tool_call_id'. The following tool_call_ids did not have response messages: call_2"
    )
    with pytest.raises(openai.BadRequestError) as at_the_end:
        _ask(llm, [USER, _assistant_calling("call_1")])
    assert "did not have response messages: call_1" in at_the_end.value.message
    outcome = _complete(llm, [USER, _assistant_calling("call_1")])
    assert outcome.failure == "bad_request" and "call_1" in outcome.detail


def test_a_complete_tool_sequence_is_answered(llm):
    answer = _ask(llm, [USER, _assistant_calling("call_1", "call_2"), _tool("call_2"), _tool("call_1"),
                        {"role": "assistant", "content": "Which dates?"}, USER], tools=TOOLS)
    assert answer.choices[0].message.content == "Which dates?"
    assert llm.refusals() == []


def test_tools_must_be_functions(llm):
    with pytest.raises(openai.BadRequestError) as untyped:
        _ask(llm, [USER], tools=[{"function": TOOLS[0]["function"]}])
    assert isinstance(untyped.value.body, dict) and untyped.value.body["param"] == "tools[0].type"
    assert untyped.value.body["code"] == "missing_required_parameter"
    with pytest.raises(openai.BadRequestError) as mistyped:
        _ask(llm, [USER], tools=[{**TOOLS[0], "type": "retrieval"}])
    assert isinstance(mistyped.value.body, dict) and mistyped.value.body["code"] == "invalid_value"
    assert len(llm.refusals()) == 2


# -- finish_reason ----------------------------------------------------------------------------


def test_finish_reason_is_stop_for_text_and_tool_calls_for_calls(llm):
    assert _ask(llm, [USER]).choices[0].finish_reason == "stop"
    answer = _ask(llm, [{"role": "user", "content": "search"}], tools=TOOLS)
    assert answer.choices[0].finish_reason == "tool_calls" and answer.choices[0].message.tool_calls


def test_a_cut_answer_says_length_with_the_text_or_arguments_cut(llm):
    text = _ask(llm, [{"role": "user", "content": "cut text"}]).choices[0]
    assert text.finish_reason == "length" and text.message.content == "A long answe"
    calls = _ask(llm, [{"role": "user", "content": "cut calls"}], tools=TOOLS).choices[0]
    assert calls.finish_reason == "length"
    assert calls.message.tool_calls is not None
    first, second = (c.function.arguments for c in calls.message.tool_calls)  # type: ignore[union-attr]
    assert json.loads(first) == {"search_query": "lisbon"}  # before the limit: whole
    with pytest.raises(json.JSONDecodeError):
        json.loads(second)  # at the limit: cut


def test_the_llm_client_gives_no_message_for_a_cut_answer(llm):
    for prompt in ("cut text", "cut calls"):
        outcome = _complete(llm, [{"role": "user", "content": prompt}])
        assert outcome.failure == "cut" and outcome.message is None
        assert outcome.usage == {"prompt_tokens": 100, "completion_tokens": 20}  # paid all the same
        assert "output limit" in outcome.detail
    assert LlmOutcome.from_dict(outcome.to_dict()) == outcome  # stored as before


def test_the_llm_client_keeps_the_prompt_tokens_openais_cache_served(llm):
    served = _complete(llm, [{"role": "user", "content": "cached"}])
    assert served.usage == {"prompt_tokens": 100, "completion_tokens": 20, "cached_tokens": 64}
    assert LlmOutcome.from_dict(served.to_dict()) == served  # kept in the step's stored result
    none_cached = _complete(llm, [{"role": "user", "content": "hello"}])
    assert none_cached.usage == {"prompt_tokens": 100, "completion_tokens": 20}  # as stored before
