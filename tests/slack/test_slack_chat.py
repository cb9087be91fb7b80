"""SlackChatPort against the fake Slack Web API (real HTTP, real registry)."""

from __future__ import annotations

import pickle
import re
import time

import pytest

from bot.formatting import MARKDOWN_BLOCK_LIMIT, MAX_BLOCKS, SECTION_TEXT_LIMIT
from bot.slack_chat import METADATA_EVENT_TYPE, SlackChatPort, SlackPostError
from bot.slack_client import has_retry_handlers, make_web_client, slack_api_url
from testing.loop import LoopThread
from testing.fakes.slack_api import FakeSlackWebAPI
from tests.slack.chat_rig import CHANNEL, Chat, make_chat
from workflows.ports import PostRecord
from workflows.posts import Plan

RAW_MENTION = re.compile(r"<[!@#]")


def all_text(message: dict) -> str:
    parts = [message.get("text", "")]
    for block in message.get("blocks") or []:
        text = block.get("text")
        parts.append(text if isinstance(text, str) else (text or {}).get("text", ""))
    return "\n".join(parts)


# -- where and how it posts ------------------------------------------------


def test_every_post_goes_to_the_thread_with_unfurls_off_and_metadata(chat: Chat) -> None:
    chat.run(chat.port.ask(chat.thread, "Where do you want to go?", key=chat.key(1)))
    chat.run(chat.port.progress(chat.thread, "Searching flights…", key=chat.key(2)))
    chat.run(chat.port.final_plan(chat.thread, Plan("# Plan\n\nDay 1: Colosseum"), key=chat.key(3)))
    chat.run(chat.port.notice(chat.thread, "Search is down, retrying later.", key=chat.key(4)))

    posts = chat.posts()
    assert len(posts) == 4
    for n, post in enumerate(posts, start=1):
        assert post["thread_ts"] == chat.thread["thread_ts"]
        assert post["unfurl_links"] is False and post["unfurl_media"] is False
        assert post["text"]  # fallback text, always
        assert post["metadata"]["event_type"] == METADATA_EVENT_TYPE
        payload = post["metadata"]["event_payload"]
        assert payload["trip_key"] == chat.trip_id
        assert payload["step"] == chat.key(n)
        assert payload["part"] == 0
    assert [p["metadata"]["event_payload"]["kind"] for p in posts] == ["ask", "progress", "plan", "notice"]
    assert posts[3]["blocks"][0]["text"].startswith("⚠️ ")


def test_markdown_is_sent_as_a_markdown_block_and_never_raw_in_mrkdwn(chat: Chat) -> None:
    plan = "## Day 1\n\n**Morning:** the _Forum_.\n\n- [Tickets](https://example.com/t?a=1&b=2)\n- __Lunch__"
    chat.run(chat.port.post(chat.thread, plan, key=chat.key(1)))
    [post] = chat.posts()
    assert post["blocks"] == [{"type": "markdown", "text": plan}]
    # the fallback text is mrkdwn: converted, not raw Markdown
    assert "**" not in post["text"] and "__" not in post["text"]
    assert "*Morning:*" in post["text"]
    assert "<https://example.com/t?a=1&b=2|Tickets>" in post["text"]


def test_mrkdwn_style_converts_markdown(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    chat = make_chat(api, loop, style="mrkdwn")
    chat.run(chat.port.post(chat.thread, "**Day 1**: see [the map](https://m.example)", key=chat.key(1)))
    [post] = chat.posts()
    section = post["blocks"][0]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert section["text"]["text"] == "*Day 1*: see <https://m.example|the map>"
    assert "**" not in post["text"]


def test_long_plan_is_split_into_parts_within_slack_limits(chat: Chat) -> None:
    days = [f"## Day {i}\n\n" + ("**Morning**: walk the old town and eat well. " * 60) for i in range(1, 15)]
    plan = "\n\n".join(days)
    assert len(plan) > 3 * MARKDOWN_BLOCK_LIMIT
    chat.run(chat.port.post(chat.thread, plan, key=chat.key(9)))

    posts = chat.posts()
    assert len(posts) >= 4
    for i, post in enumerate(posts):
        assert post["thread_ts"] == chat.thread["thread_ts"]
        assert post["metadata"]["event_payload"]["part"] == i
        assert post["metadata"]["event_payload"]["parts"] == len(posts)
        markdown = sum(len(b["text"]) for b in post["blocks"] if b["type"] == "markdown")
        assert 0 < markdown <= MARKDOWN_BLOCK_LIMIT
        assert 0 < len(post["text"]) <= 40_000 and "**" not in post["text"]
        # split on a paragraph boundary: every part starts with a heading
        assert post["blocks"][0]["text"].startswith("## Day ")
    body = "\n\n".join(p["blocks"][0]["text"] for p in posts)
    assert all(f"## Day {i}\n" in body for i in range(1, 15))
    # each part has its own ledger entry
    for i, post in enumerate(posts):
        assert chat.run(chat.registry.post_record(f"{chat.key(9)}#{i}")) == PostRecord("done", post["ts"])


def test_long_plan_in_mrkdwn_style_respects_section_and_block_limits(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    chat = make_chat(api, loop, style="mrkdwn")
    plan = "\n\n".join(f"**Stop {i}**: " + "lovely view " * 40 for i in range(400))
    chat.run(chat.port.post(chat.thread, plan, key=chat.key(1)))
    posts = chat.posts()
    assert len(posts) >= 2
    for post in posts:
        assert len(post["blocks"]) <= MAX_BLOCKS
        assert all(len(b["text"]["text"]) <= SECTION_TEXT_LIMIT for b in post["blocks"])
        assert len(post["text"]) <= 40_000
        assert "**" not in all_text(post)


def test_model_mentions_are_neutralised(chat: Chat) -> None:
    text = (
        "Hey <!channel> and <!here|here> and <!everyone>, ping <!subteam^S0TEAM|@travel> "
        "and <@U0BOSS> in <#C0GENERAL|general>. Also @here and @channel!"
    )
    for n, method in enumerate((chat.port.ask, chat.port.progress, chat.port.notice)):
        chat.run(method(chat.thread, text, key=chat.key(n)))
    chat.run(chat.port.final_plan(chat.thread, Plan(text), key=chat.key(3)))
    for post in chat.posts():
        everything = all_text(post)
        assert not RAW_MENTION.search(everything), everything
        assert not re.search(r"(?<![\w@])@(here|channel|everyone)\b", everything)
        assert "channel" in everything  # still readable


def test_mrkdwn_fallback_when_slack_rejects_the_markdown_block(chat: Chat) -> None:
    chat.api.reject_markdown_blocks = True
    chat.run(chat.port.post(chat.thread, "**Day 1**: Rome", key=chat.key(1)))
    [post] = chat.posts()
    assert post["blocks"][0]["type"] == "section"
    assert post["blocks"][0]["text"]["text"] == "*Day 1*: Rome"
    assert post["metadata"]["event_payload"]["step"] == chat.key(1)


# -- exactly once ---------------------------------------------------------


def test_same_key_twice_posts_once(chat: Chat) -> None:
    chat.run(chat.port.ask(chat.thread, "How many people?", key=chat.key(5)))
    chat.run(chat.port.ask(chat.thread, "How many people?", key=chat.key(5)))  # a replay
    assert len(chat.posts()) == 1


def test_concurrent_calls_with_one_key_post_once(chat: Chat) -> None:
    import asyncio

    async def both() -> None:
        await asyncio.gather(
            chat.port.ask(chat.thread, "Budget?", key=chat.key(6)),
            chat.port.ask(chat.thread, "Budget?", key=chat.key(6)),
        )

    chat.api.latency = 0.05
    chat.run(both())
    assert len(chat.posts()) == 1


def _crashed_after_posting(chat: Chat, key: str, text: str) -> str:
    """What a process that died between chat.postMessage and record-done leaves."""
    chat.run(chat.registry.record_post_intent(f"{key}#0"))
    response = chat.run(
        chat.client.chat_postMessage(
            channel=CHANNEL,
            thread_ts=chat.thread["thread_ts"],
            text=text,
            metadata={
                "event_type": METADATA_EVENT_TYPE,
                "event_payload": {"trip_key": chat.trip_id, "step": key, "part": 0},
            },
        )
    )
    return response["ts"]


def test_intent_with_the_post_already_in_the_thread_does_not_post_again(chat: Chat) -> None:
    ts = _crashed_after_posting(chat, chat.key(7), "Which dates?")
    chat.run(chat.port.ask(chat.thread, "Which dates?", key=chat.key(7)))
    assert len(chat.posts()) == 1
    assert chat.run(chat.registry.post_record(f"{chat.key(7)}#0")) == PostRecord("done", ts)
    [lookup] = chat.api.calls_to("conversations.replies")
    assert lookup.params["ts"] == chat.thread["thread_ts"]
    assert str(lookup.params["include_all_metadata"]).lower() in ("1", "true")


def test_intent_lookup_pages_through_a_long_thread(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    api.replies_page_cap = 3
    chat = make_chat(api, loop)
    for i in range(7):
        api.add_message(CHANNEL, f"chatter {i}", thread_ts=chat.thread["thread_ts"])
    _crashed_after_posting(chat, chat.key(8), "Which dates?")
    chat.run(chat.port.ask(chat.thread, "Which dates?", key=chat.key(8)))
    assert len(chat.posts()) == 1
    lookups = chat.api.calls_to("conversations.replies")
    assert len(lookups) == 3  # 9 messages, 3 per page
    assert lookups[1].params.get("cursor")


def test_intent_without_a_post_in_the_thread_posts_once(chat: Chat) -> None:
    # A post for another step must not be mistaken for ours.
    _crashed_after_posting(chat, chat.key(1), "an earlier question")
    chat.run(chat.registry.record_post_intent(f"{chat.key(2)}#0"))  # died before posting
    chat.run(chat.port.ask(chat.thread, "Which dates?", key=chat.key(2)))
    chat.run(chat.port.ask(chat.thread, "Which dates?", key=chat.key(2)))
    texts = [p["text"] for p in chat.posts()]
    assert texts == ["an earlier question", "Which dates?"]


def test_rate_limited_post_is_retried_by_the_client_and_lands_once(chat: Chat) -> None:
    chat.api.fail("chat.postMessage", status=429, times=1, retry_after=0)
    chat.run(chat.port.ask(chat.thread, "Budget per person?", key=chat.key(3)))
    statuses = [c.status for c in chat.api.calls_to("chat.postMessage")]
    assert statuses == [429, 200]
    assert len(chat.posts()) == 1


def test_server_error_is_retried(chat: Chat) -> None:
    chat.api.fail("chat.postMessage", status=500, times=1)
    chat.run(chat.port.progress(chat.thread, "Looking at hotels", key=chat.key(4)))
    assert [c.status for c in chat.api.calls_to("chat.postMessage")] == [500, 200]
    assert len(chat.posts()) == 1


def test_removed_from_a_public_channel_rejoins_and_posts(chat: Chat) -> None:
    chat.api.add_channel(CHANNEL, is_member=False)
    chat.run(chat.port.ask(chat.thread, "Still there?", key=chat.key(1)))
    assert len(chat.posts()) == 1
    assert len(chat.api.calls_to("conversations.join")) == 1


def test_permanent_failure_raises_a_picklable_slack_post_error(chat: Chat) -> None:
    chat.api.error("chat.postMessage", "is_archived", times=None)
    with pytest.raises(SlackPostError) as caught:
        chat.run(chat.port.ask(chat.thread, "Anyone?", key=chat.key(1)))
    assert caught.value.permanent and caught.value.error == "is_archived"
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.error, copy.channel, copy.permanent) == ("is_archived", CHANNEL, True)
    # the ledger kept the intent, so a retry looks the post up before posting
    assert chat.run(chat.registry.post_record(f"{chat.key(1)}#0")) == PostRecord("intent", "")


# -- status ----------------------------------------------------------------


def _statuses(chat: Chat) -> list[str]:
    return [s["status"] for s in chat.api.statuses if s["thread_ts"] == chat.thread["thread_ts"]]


def test_status_is_refreshed_until_cleared(chat: Chat) -> None:
    chat.run(chat.port.set_status(chat.thread, "is searching the web…"))
    chat.api.wait_for(lambda: len(_statuses(chat)) >= 4, timeout=2)
    assert set(_statuses(chat)) == {"is searching the web…"}
    assert chat.api.statuses[0]["channel_id"] == CHANNEL

    chat.run(chat.port.set_status(chat.thread, ""))  # sent in the background
    chat.api.wait_for(lambda: _statuses(chat)[-1] == "", timeout=2)
    after_clear = len(_statuses(chat))
    time.sleep(0.2)  # four refresh periods
    assert len(_statuses(chat)) == after_clear
    assert chat.port.active_statuses() == {}


def test_status_is_restored_after_a_post(chat: Chat) -> None:
    slow = SlackChatPort(chat.client, chat.registry, status_refresh_seconds=60)
    try:
        chat.run(slow.set_status(chat.thread, "is reading pages…"))
        chat.api.wait_for(lambda: _statuses(chat), timeout=2)
        chat.run(slow.progress(chat.thread, "Found 3 hotels", key=chat.key(1)))
        # Slack clears the status when the app posts; the port sets it again
        chat.api.wait_for(lambda: len(_statuses(chat)) >= 2, timeout=2)
        assert _statuses(chat) == ["is reading pages…", "is reading pages…"]
    finally:
        chat.run(slow.aclose())


def test_set_status_never_raises(chat: Chat, loop: LoopThread) -> None:
    chat.api.error("assistant.threads.setStatus", "missing_scope", times=None)
    chat.run(chat.port.set_status(chat.thread, "is thinking…"))
    chat.run(chat.port.set_status(chat.thread, ""))
    unreachable = SlackChatPort(make_web_client("xoxb-x", "http://127.0.0.1:9/api/"), chat.registry)
    chat.run(unreachable.set_status(chat.thread, "is thinking…"))
    chat.run(unreachable.aclose())


# -- clients ----------------------------------------------------------------


def test_web_clients_retry_and_follow_slack_api_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:1234/api")
    client = make_web_client("xoxb-1")
    assert client.base_url == "http://127.0.0.1:1234/api/"
    assert has_retry_handlers(client)
    monkeypatch.delenv("SLACK_API_URL")
    assert slack_api_url() == "https://slack.com/api/"
