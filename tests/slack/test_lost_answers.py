"""Exactly once when Slack's answer is lost: Slack posts (or shares the
file) and then answers 500, or the connection drops after posting. The HTTP
client must not repeat such a call; the chat port looks the message or file
up by its metadata / file id before it posts again. 429s are still retried:
Slack did nothing then."""

from __future__ import annotations

import pytest

from bot.slack_client import make_web_client
from testing.fakes.slack_api import DROPPED
from tests.slack.chat_rig import Chat
from workflows.ports import PostRecord
from workflows.posts import Plan

LOSSES = [pytest.param({"status": 500}, id="done-then-500"), pytest.param({"drop": True}, id="done-then-dropped")]
PLAN = "# Rome: 3 days\n\n## Day 1\nColosseum at 9.\n\n## Day 2\nVatican."


def _statuses(chat: Chat, method: str) -> list[int]:
    return [c.status for c in chat.api.calls_to(method)]


@pytest.mark.parametrize("loss", LOSSES)
def test_a_question_whose_answer_is_lost_is_posted_once(chat: Chat, loss: dict) -> None:
    chat.api.fail("chat.postMessage", after_doing=True, **loss)
    chat.run(chat.port.ask(chat.thread, "Which dates work?", key=chat.key(1)))

    [post] = chat.posts()
    assert post["text"] == "Which dates work?"
    assert _statuses(chat, "chat.postMessage") == [DROPPED if loss.get("drop") else 500]  # never sent again
    assert len(chat.api.calls_to("conversations.replies")) == 1  # it was looked up instead
    assert chat.run(chat.registry.post_record(f"{chat.key(1)}#0")) == PostRecord("done", post["ts"])
    # a replay of the step changes nothing
    chat.run(chat.port.ask(chat.thread, "Which dates work?", key=chat.key(1)))
    assert len(chat.posts()) == 1


@pytest.mark.parametrize("loss", LOSSES)
def test_the_plan_and_its_file_whose_answers_are_lost_land_once(chat: Chat, loss: dict) -> None:
    chat.api.fail("chat.postMessage", after_doing=True, **loss)
    chat.api.fail("files.completeUploadExternal", after_doing=True, **loss)
    chat.run(chat.port.final_plan(chat.thread, Plan(PLAN, footer="2 AI calls"), key=chat.key(2)))

    assert len(chat.posts()) == 1
    [shared] = chat.api.shared_files
    assert shared["thread_ts"] == chat.thread["thread_ts"]
    assert len(chat.api.calls_to("files.completeUploadExternal")) == 1
    record = chat.run(chat.registry.post_record(f"{chat.key(2)}#file"))
    assert record == PostRecord("done", shared["id"])
    chat.run(chat.port.final_plan(chat.thread, Plan(PLAN, footer="2 AI calls"), key=chat.key(2)))
    assert len(chat.posts()) == 1 and len(chat.api.shared_files) == 1


def test_a_500_before_posting_is_looked_up_then_posted_once(chat: Chat) -> None:
    chat.api.fail("chat.postMessage", status=500)  # refused before doing anything
    chat.run(chat.port.progress(chat.thread, "Looking at hotels", key=chat.key(3)))
    assert _statuses(chat, "chat.postMessage") == [500, 200]
    assert len(chat.api.calls_to("conversations.replies")) == 1
    assert [p["text"] for p in chat.posts()] == ["Looking at hotels"]


def test_an_answer_lost_every_time_fails_the_step_transiently_and_a_retry_finds_the_post(chat: Chat) -> None:
    from bot.slack_chat import SlackPostError
    from bot.slack_client import LOST_ANSWER_ATTEMPTS

    chat.api.fail("chat.postMessage", status=500, times=LOST_ANSWER_ATTEMPTS)  # Slack down for a while
    with pytest.raises(SlackPostError) as caught:
        chat.run(chat.port.ask(chat.thread, "Budget?", key=chat.key(4)))
    assert not caught.value.permanent  # the durable step retries it later
    assert chat.posts() == []
    chat.run(chat.port.ask(chat.thread, "Budget?", key=chat.key(4)))  # the step's retry
    assert [p["text"] for p in chat.posts()] == ["Budget?"]


def test_a_share_that_never_happened_uploads_again(chat: Chat) -> None:
    """Died after the upload slot was taken, before the share: not in the
    thread, so the file is uploaded (once)."""
    key = chat.key(5)
    chat.run(chat.registry.record_post_intent(f"{key}#file"))
    slot = chat.run(chat.client.files_getUploadURLExternal(filename="rome-3-days.md", length=3))
    chat.run(chat.registry.record_post_done(f"{key}#file/upload", slot["file_id"]))
    chat.run(chat.port.share_plan_file(chat.thread, PLAN, key=key))
    [shared] = chat.api.shared_files
    assert shared["id"] != slot["file_id"]
    assert chat.run(chat.registry.post_record(f"{key}#file")) == PostRecord("done", shared["id"])


def test_a_share_that_happened_before_a_crash_is_found_by_its_file_id(chat: Chat) -> None:
    key = chat.key(6)
    chat.run(chat.registry.record_post_intent(f"{key}#file"))
    slot = chat.run(chat.client.files_getUploadURLExternal(filename="rome-3-days.md", length=3))
    chat.run(chat.registry.record_post_done(f"{key}#file/upload", slot["file_id"]))
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(slot["upload_url"], data=b"abc", method="POST"), timeout=5).read()
    chat.run(chat.client.files_completeUploadExternal(
        files=[{"id": slot["file_id"], "title": "Rome"}], channel_id=chat.thread["channel"],
        thread_ts=chat.thread["thread_ts"],
    ))
    chat.run(chat.port.share_plan_file(chat.thread, PLAN, key=key))
    assert [f["id"] for f in chat.api.shared_files] == [slot["file_id"]]
    assert chat.run(chat.registry.post_record(f"{key}#file")) == PostRecord("done", slot["file_id"])


def test_rate_limits_are_still_retried_by_the_client(chat: Chat) -> None:
    chat.api.fail("chat.postMessage", status=429, times=2, retry_after=0)
    chat.api.fail("files.completeUploadExternal", status=429, times=1, retry_after=0)
    chat.run(chat.port.final_plan(chat.thread, Plan(PLAN), key=chat.key(7)))
    assert _statuses(chat, "chat.postMessage") == [429, 429, 200]
    assert _statuses(chat, "files.completeUploadExternal") == [429, 200]
    assert chat.api.calls_to("conversations.replies") == []  # nothing to look up: Slack did nothing
    assert len(chat.posts()) == 1 and len(chat.api.shared_files) == 1


def test_the_http_client_never_repeats_a_post_by_itself(chat: Chat) -> None:
    """Without the port: a raw client call whose answer is lost is not sent twice."""
    client = make_web_client(chat.api.token, chat.api.api_url)
    for loss in ({"status": 500}, {"status": 503}, {"drop": True}):
        chat.api.fail("chat.postMessage", after_doing=True, **loss)
        with pytest.raises(Exception):
            chat.run(client.chat_postMessage(channel=chat.thread["channel"], text="once"))
    assert [p["text"] for p in chat.posts()] == ["once", "once", "once"]
    assert len(chat.api.calls_to("chat.postMessage")) == 3
