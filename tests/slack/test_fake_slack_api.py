"""The fake Slack Web API behaves like Slack where our code depends on it."""

from __future__ import annotations

import time

import pytest
from slack_sdk.errors import SlackApiError

from bot.slack_client import make_web_client
from tests.fakes.loop import LoopThread
from tests.fakes.slack_api import FakeSlackWebAPI


def test_json_form_and_get_bodies_are_understood(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    client = make_web_client(api.token, api.api_url)
    loop.run(client.chat_postMessage(channel="C1", text="json body", metadata={"event_type": "x", "event_payload": {}}))
    loop.run(client.api_call("chat.postMessage", data={"channel": "C1", "text": "form body"}))
    api.add_user("U1", "Uno")
    assert loop.run(client.users_info(user="U1"))["user"]["profile"]["display_name"] == "Uno"  # GET
    assert [m["text"] for m in api.posts()] == ["json body", "form body"]
    assert api.posts()[0]["metadata"] == {"event_type": "x", "event_payload": {}}
    assert {c.http_method for c in api.calls} == {"POST", "GET"}
    assert all(c.headers["authorization"] == f"Bearer {api.token}" for c in api.calls)


def test_wrong_token_is_invalid_auth(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    client = make_web_client("xoxb-wrong", api.api_url)
    with pytest.raises(SlackApiError) as caught:
        loop.run(client.auth_test())
    assert caught.value.response["error"] == "invalid_auth"


def test_latency_and_slack_errors(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    client = make_web_client(api.token, api.api_url)
    api.method_latency["auth.test"] = 0.2
    started = time.monotonic()
    loop.run(client.auth_test())
    assert time.monotonic() - started >= 0.2
    api.error("chat.postMessage", "not_in_channel", channel="C9")
    with pytest.raises(SlackApiError):
        loop.run(client.chat_postMessage(channel="C9", text="x"))
    loop.run(client.chat_postMessage(channel="C9", text="x"))  # times=1: only once


def test_external_file_upload_flow(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    client = make_web_client(api.token, api.api_url)
    loop.run(
        client.files_upload_v2(channel="C1", thread_ts="1.2", content="itinerary", filename="plan.md", title="Plan")
    )
    [shared] = api.shared_files
    assert shared["content"] == b"itinerary" and shared["channel_id"] == "C1" and shared["thread_ts"] == "1.2"
