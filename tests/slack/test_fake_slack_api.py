"""The fake Slack Web API behaves like Slack where our code depends on it,
and refuses what Slack refuses."""

from __future__ import annotations

import time

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError

from bot.slack_client import make_web_client
from testing.loop import LoopThread
from testing.fakes.slack_api import DROPPED, MAX_TEXT_CHARS, FakeSlackWebAPI

META = {"event_type": "x", "event_payload": {}}


def _client(api: FakeSlackWebAPI, **kwargs):  # type: ignore[no-untyped-def]
    return make_web_client(api.token, api.api_url, **kwargs)


def _error(loop: LoopThread, call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(SlackApiError) as caught:
        loop.run(call)
    return str(caught.value.response["error"])


def test_json_form_and_get_bodies_are_understood(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    api.add_channel("C1", is_member=True)
    client = _client(api)
    loop.run(client.chat_postMessage(channel="C1", text="json body", metadata=META))
    loop.run(client.api_call("chat.postMessage", data={"channel": "C1", "text": "form body"}))
    api.add_user("U1", "Uno")
    assert loop.run(client.users_info(user="U1"))["user"]["profile"]["display_name"] == "Uno"  # GET
    assert [m["text"] for m in api.posts()] == ["json body", "form body"]
    assert api.posts()[0]["metadata"] == META
    assert {c.http_method for c in api.calls} == {"POST", "GET"}
    assert all(c.headers["authorization"] == f"Bearer {api.token}" for c in api.calls)


def test_wrong_token_is_invalid_auth(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    client = make_web_client("xoxb-wrong", api.api_url)
    assert _error(loop, client.auth_test()) == "invalid_auth"


def test_latency_and_slack_errors(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    api.add_channel("C9", is_member=True)
    client = _client(api)
    api.method_latency["auth.test"] = 0.2
    started = time.monotonic()
    loop.run(client.auth_test())
    assert time.monotonic() - started >= 0.2
    api.error("chat.postMessage", "not_in_channel", channel="C9")
    with pytest.raises(SlackApiError):
        loop.run(client.chat_postMessage(channel="C9", text="x"))
    loop.run(client.chat_postMessage(channel="C9", text="x"))  # times=1: only once


def test_not_in_channel_until_the_bot_joined(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    client = _client(api)
    assert _error(loop, client.chat_postMessage(channel="C0NEW", text="hi")) == "not_in_channel"
    api.add_channel("G0PRIV", is_private=True)
    assert _error(loop, client.chat_postMessage(channel="G0PRIV", text="hi")) == "channel_not_found"
    loop.run(client.conversations_join(channel="C0NEW"))
    loop.run(client.chat_postMessage(channel="C0NEW", text="hi"))
    assert [m["text"] for m in api.posts("C0NEW")] == ["hi"]


def test_post_refusals(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    api.add_channel("C1", is_member=True)
    client = _client(api)
    root = loop.run(client.chat_postMessage(channel="C1", text="root"))["ts"]
    assert _error(loop, client.chat_postMessage(channel="C1", thread_ts="1.000001", text="x")) == "thread_not_found"
    assert _error(loop, client.chat_postMessage(
        channel="C1", thread_ts=root, text="x", metadata={"event_payload": {"a": 1}})) == "invalid_metadata_format"
    assert _error(loop, client.chat_postMessage(
        channel="C1", thread_ts=root, text="x", metadata={"event_type": "t", "event_payload": "no"})) == (
        "invalid_metadata_format")
    assert _error(loop, client.chat_postMessage(channel="C1", text="x" * (MAX_TEXT_CHARS + 1))) == "msg_too_long"
    loop.run(client.chat_postMessage(channel="C1", thread_ts=root, text="x" * MAX_TEXT_CHARS, metadata=META))
    assert len(api.posts("C1")) == 2


def test_update_refusals(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    api.add_channel("C1", is_member=True)
    client = _client(api)
    ours = loop.run(client.chat_postMessage(channel="C1", text="ours"))["ts"]
    theirs = api.add_message("C1", "a person's message", user="U0ANA")
    assert _error(loop, client.chat_update(channel="C1", ts=theirs, text="edited")) == "cant_update_message"
    assert _error(loop, client.chat_update(channel="C1", ts="1.000009", text="edited")) == "message_not_found"
    assert _error(loop, client.chat_update(channel="C1", ts=ours, text="y" * (MAX_TEXT_CHARS + 1))) == "msg_too_long"
    loop.run(client.chat_update(channel="C1", ts=ours, text="edited"))
    assert api.message("C1", ours)["text"] == "edited"
    assert api.message("C1", theirs)["text"] == "a person's message"


def test_posts_are_rate_limited_per_channel_with_bursts(loop: LoopThread) -> None:
    with FakeSlackWebAPI(post_burst=3, posts_per_second=1.0) as api:
        api.add_channel("C1", is_member=True)
        api.add_channel("C2", is_member=True)
        client = _client(api, rate_limit_retries=0)
        for n in range(3):  # the burst
            loop.run(client.chat_postMessage(channel="C1", text=f"burst {n}"))
        assert _error(loop, client.chat_postMessage(channel="C1", text="one too many")) == "ratelimited"
        limited = api.calls_to("chat.postMessage")[-1]
        assert limited.status == 429 and limited.response == {"ok": False, "error": "ratelimited"}
        loop.run(client.chat_postMessage(channel="C2", text="another channel has its own budget"))
        # slack-sdk honours Retry-After, and the post lands once.
        patient = _client(api, rate_limit_retries=3)
        started = time.monotonic()
        loop.run(patient.chat_postMessage(channel="C1", text="after waiting"))
        assert time.monotonic() - started >= 0.9
        assert [m["text"] for m in api.posts("C1")] == ["burst 0", "burst 1", "burst 2", "after waiting"]


def test_done_then_500_posts_and_answers_500(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    api.add_channel("C1", is_member=True)
    api.fail("chat.postMessage", status=500, after_doing=True)
    client = _client(api)
    with pytest.raises(SlackApiError) as caught:
        loop.run(client.chat_postMessage(channel="C1", text="posted anyway"))
    assert caught.value.response.status_code == 500
    assert [m["text"] for m in api.posts("C1")] == ["posted anyway"]  # and not posted again by a retry
    assert [c.status for c in api.calls_to("chat.postMessage")] == [500]


def test_done_then_the_connection_drops(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    api.add_channel("C1", is_member=True)
    api.fail("chat.postMessage", after_doing=True, drop=True)
    client = _client(api)
    with pytest.raises(aiohttp.ClientError):
        loop.run(client.chat_postMessage(channel="C1", text="posted anyway"))
    assert [m["text"] for m in api.posts("C1")] == ["posted anyway"]
    assert [c.status for c in api.calls_to("chat.postMessage")] == [DROPPED]


def test_safe_calls_are_still_retried_after_a_500(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    api.add_channel("C1", is_member=True)
    client = _client(api)
    ts = loop.run(client.chat_postMessage(channel="C1", text="v1"))["ts"]
    api.fail("chat.update", status=500)
    loop.run(client.chat_update(channel="C1", ts=ts, text="v2"))
    assert [c.status for c in api.calls_to("chat.update")] == [500, 200]
    api.fail("conversations.replies", after_doing=True, drop=True)
    loop.run(client.conversations_replies(channel="C1", ts=ts))
    assert [c.status for c in api.calls_to("conversations.replies")] == [DROPPED, 200]


def test_external_file_upload_flow(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    client = _client(api)
    root = api.add_message("C1", "root", bot=True)
    loop.run(
        client.files_upload_v2(channel="C1", thread_ts=root, content="itinerary", filename="plan.md", title="Plan")
    )
    [shared] = api.shared_files
    assert shared["content"] == b"itinerary" and shared["channel_id"] == "C1" and shared["thread_ts"] == root
    api.add_channel("C0OUT")
    assert _error(loop, client.files_upload_v2(channel="C0OUT", content="x", filename="p.md")) == "not_in_channel"


def _button(action_id: str, text: str = "Go", value: str = "v", **extra) -> dict:  # type: ignore[no-untyped-def]
    return {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": text}, "value": value, **extra}


@pytest.mark.parametrize(
    ("blocks", "why"),
    [
        ([{"type": "actions", "elements": [_button("a"), _button("a")]}], "an action_id twice in a message"),
        ([{"type": "actions", "elements": [_button("a")]}, {"type": "actions", "elements": [_button("a")]}],
         "an action_id twice, in two blocks"),
        ([{"type": "actions", "elements": [_button(f"b{i}") for i in range(26)]}], "26 elements in an actions block"),
        ([{"type": "actions", "elements": [_button("a", text="x" * 76)]}], "a button label of 76 characters"),
        ([{"type": "actions", "elements": [_button("a", text="")]}], "an empty button label"),
        ([{"type": "actions", "elements": [{**_button("a"), "text": {"type": "mrkdwn", "text": "*x*"}}]}],
         "a mrkdwn button label"),
        ([{"type": "actions", "elements": [_button("a", value="v" * 2001)]}], "a button value of 2,001 characters"),
        ([{"type": "actions", "elements": [_button("a", style="green")]}], "an unknown button style"),
        ([{"type": "actions", "elements": [{"type": "slider", "action_id": "s"}]}], "an unknown element type"),
        ([{"type": "poll", "text": "x"}], "an unknown block type"),
        ([{"type": "divider", "block_id": "x"}, {"type": "divider", "block_id": "x"}], "a block_id twice"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x"}, "accessory": _button("a", text="y" * 80)}],
         "a section's accessory button with a long label"),
    ],
)
def test_buttons_and_blocks_slack_refuses_are_refused(api: FakeSlackWebAPI, loop: LoopThread, blocks, why) -> None:  # type: ignore[no-untyped-def]
    api.add_channel("C1", is_member=True)
    client = _client(api)
    assert _error(loop, client.chat_postMessage(channel="C1", text="x", blocks=blocks)) == "invalid_blocks", why
    ts = loop.run(client.chat_postMessage(channel="C1", text="fine"))["ts"]
    assert _error(loop, client.chat_update(channel="C1", ts=ts, text="x", blocks=blocks)) == "invalid_blocks", why


def test_buttons_within_slacks_limits_are_taken(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    api.add_channel("C1", is_member=True)
    buttons = [_button(f"b{i}", text="x" * 75, value="v" * 2000) for i in range(24)] + [_button("z", style="danger")]
    blocks = [{"type": "actions", "block_id": "row", "elements": buttons}, {"type": "divider"}]
    loop.run(_client(api).chat_postMessage(channel="C1", text="x", blocks=blocks))
    assert api.posts()[0]["blocks"] == blocks
