"""What Slack refuses never ends or stalls a trip: a research line or root
message that cannot be edited any more (deleted, not ours, too old) is
posted afresh or left as it is; blocks Slack refuses fall back to mrkdwn and
plain text; a part that is too long is split. Only a thread that can never
be posted to again raises a permanent error."""

from __future__ import annotations

import logging

import pytest

from bot.slack_chat import SlackPostError
from testing.fakes.slack_api import MAX_TEXT_CHARS
from tests.slack.chat_rig import CHANNEL, Chat
from workflows.ports import PostRecord, TripRecord


def _line(chat: Chat, n: int) -> str:
    chat.run(chat.port.progress(chat.thread, "🔎 Searched: hotels", key=chat.key(n)))
    return chat.posts()[-1]["ts"]


def _delete(chat: Chat, ts: str) -> None:
    assert chat.api.delete_message(CHANNEL, ts)


@pytest.mark.parametrize("refusal", ["message_not_found", "cant_update_message", "edit_window_closed"])
def test_a_research_line_that_cannot_be_edited_is_posted_afresh_once(
    chat: Chat, refusal: str, caplog: pytest.LogCaptureFixture
) -> None:
    ts = _line(chat, 1)
    if refusal == "message_not_found":
        _delete(chat, ts)  # someone deleted the line
    else:
        chat.api.error("chat.update", refusal, times=None)
    with caplog.at_level(logging.WARNING):
        chat.run(chat.port.progress_done(chat.thread, "✅ Searched: hotels", key=chat.key(1)))
        chat.run(chat.port.progress_done(chat.thread, "✅ Searched: hotels", key=chat.key(1)))  # a replay
    fresh = [p for p in chat.posts() if p["text"] == "✅ Searched: hotels"]
    assert len(fresh) == 1 and fresh[0]["ts"] != ts
    assert refusal in caplog.text and "posting it afresh" in caplog.text


def test_a_deleted_root_message_is_left_as_it_is(chat: Chat, caplog: pytest.LogCaptureFixture) -> None:
    _delete(chat, chat.thread["thread_ts"])
    trip = TripRecord(trip_id=chat.trip_id, thread_key="k", thread=dict(chat.thread), starter="U0ANA", request="Rome")
    with caplog.at_level(logging.WARNING):
        chat.run(chat.port.show_state(chat.thread, "done", trip=trip))  # does not raise
    assert "message_not_found" in caplog.text and "leaving it as it is" in caplog.text
    chat.api.error("chat.update", "edit_window_closed", times=1)
    chat.run(chat.port.show_state(chat.thread, "parked", trip=trip))


def test_refused_blocks_in_an_update_fall_back_to_mrkdwn(chat: Chat) -> None:
    ts = _line(chat, 2)
    chat.api.reject_markdown_blocks = True
    chat.run(chat.port.progress_done(chat.thread, "✅ **Read:** the _guide_", key=chat.key(2)))
    message = chat.api.message(CHANNEL, ts)
    assert message["blocks"][0]["type"] == "section"
    assert message["blocks"][0]["text"]["text"] == "✅ *Read:* the _guide_"
    assert len(chat.posts()) == 1  # edited in place, nothing posted


def test_an_update_refused_as_too_long_is_shortened(chat: Chat) -> None:
    ts = _line(chat, 3)
    chat.api.error("chat.update", "msg_too_long", times=1)
    chat.run(chat.port.progress_done(chat.thread, "✅ Read: " + "a page " * 100, key=chat.key(3)))
    message = chat.api.message(CHANNEL, ts)
    assert message["text"].startswith("✅ Read: a page") and message["blocks"] == []


def test_an_update_refused_in_every_form_is_posted_afresh(chat: Chat) -> None:
    _line(chat, 4)
    chat.api.error("chat.update", "invalid_blocks", times=None)
    chat.run(chat.port.progress_done(chat.thread, "✅ done", key=chat.key(4)))
    assert [p["text"] for p in chat.posts()][-1] == "✅ done"


def test_blocks_refused_even_as_mrkdwn_are_posted_as_plain_text(chat: Chat) -> None:
    chat.api.error("chat.postMessage", "invalid_blocks", times=2)
    chat.run(chat.port.ask(chat.thread, "**Which** dates?", key=chat.key(5), choices=("finish",)))
    [post] = chat.posts()
    assert post.get("blocks") in (None, []) and post["text"] == "*Which* dates?"
    assert post["metadata"]["event_payload"]["step"] == chat.key(5)


def test_a_part_refused_as_too_long_is_split_and_posted_once(chat: Chat) -> None:
    text = "\n\n".join(f"Paragraph {i}: " + "words " * 50 for i in range(6))
    chat.api.error("chat.postMessage", "msg_too_long", times=1)
    chat.run(chat.port.post(chat.thread, text, key=chat.key(6)))
    chat.run(chat.port.post(chat.thread, text, key=chat.key(6)))  # a replay
    posts = chat.posts()
    assert [p["metadata"]["event_payload"]["part"] for p in posts] == ["0.0", "0.1"]
    assert "Paragraph 0" in posts[0]["text"] and "Paragraph 5" in posts[1]["text"]
    assert chat.run(chat.registry.post_record(f"{chat.key(6)}#0")) == PostRecord("done", "split")


def test_text_over_slacks_limit_never_reaches_slack(chat: Chat) -> None:
    chat.run(chat.port.post(chat.thread, "x" * (MAX_TEXT_CHARS + 5000), key=chat.key(7)))
    assert all(len(p["text"]) <= MAX_TEXT_CHARS for p in chat.posts())


@pytest.mark.parametrize("error", ["is_archived", "channel_not_found", "token_revoked", "thread_not_found"])
def test_only_a_thread_that_is_gone_is_a_permanent_failure(chat: Chat, error: str) -> None:
    chat.api.error("chat.postMessage", error, times=None)
    with pytest.raises(SlackPostError) as caught:
        chat.run(chat.port.notice(chat.thread, "hello?", key=chat.key(8)))
    assert caught.value.permanent


@pytest.mark.parametrize("error", ["invalid_blocks", "msg_too_long", "ratelimited", "internal_error"])
def test_content_and_passing_trouble_is_never_permanent(chat: Chat, error: str) -> None:
    chat.api.error("chat.postMessage", error, times=None)
    with pytest.raises(SlackPostError) as caught:
        chat.run(chat.port.notice(chat.thread, "hello?", key=chat.key(9)))
    assert not caught.value.permanent
