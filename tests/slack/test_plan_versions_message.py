"""A revised plan as people get it ("Plan v2" header, `<slug>-v2.md`), the
👍/👎 `context_actions` block under every version, and the fake Slack
refusing a malformed one as Slack does (`invalid_blocks`)."""

from __future__ import annotations

import copy

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import ContextActionsBlock

from bot.plan_feedback import FEEDBACK_ACTION, feedback_block, read_feedback_value
from tests.slack.chat_rig import Chat
from tests.slack.test_plan_message import FOOTER, PLAN, plan_posts
from workflows.posts import Plan


def test_a_revision_is_headed_plan_v2_and_shared_as_its_own_file_beside_the_first(chat: Chat) -> None:
    chat.run(chat.port.final_plan(chat.thread, Plan(PLAN, footer=FOOTER), key=chat.key(1)))
    for _ in range(2):  # a replay of the revision's post step posts nothing twice
        chat.run(chat.port.final_plan(chat.thread, Plan(PLAN, footer=FOOTER, version=2), key=chat.key(2)))

    first, second = plan_posts(chat)
    assert first["blocks"][0]["text"]["text"] == "Lisbon in May: 4 days for 4 people"
    assert second["blocks"][0]["text"]["text"] == "Plan v2 · Lisbon in May: 4 days for 4 people"
    assert second["text"].startswith("*Plan v2 · Lisbon")
    assert [f["name"] for f in chat.api.shared_files] == [
        "lisbon-in-may-4-days-for-4-people.md",
        "lisbon-in-may-4-days-for-4-people-v2.md",
    ]
    values = [
        (b["elements"][0]["positive_button"]["value"], b["elements"][0]["negative_button"]["value"])
        for post in (first, second) for b in post["blocks"] if b["type"] == "context_actions"
    ]
    assert values == [("positive:1", "negative:1"), ("positive:2", "negative:2")]


def test_the_feedback_block_is_what_slack_sdk_builds_for_context_actions() -> None:
    block = feedback_block(3)
    assert ContextActionsBlock(**{k: v for k, v in block.items() if k != "type"}).to_dict() == block
    assert block["elements"][0]["action_id"] == FEEDBACK_ACTION
    assert read_feedback_value("positive:3") == ("positive", 3)
    assert read_feedback_value("negative:12") == ("negative", 12)
    for foreign in ("", "positive", "meh:1", "positive:0", "positive:x", "v"):
        assert read_feedback_value(foreign) is None


def _broken(change) -> dict:
    block = copy.deepcopy(feedback_block(1))
    change(block)
    return block


@pytest.mark.parametrize(
    "block",
    [
        _broken(lambda b: b.update(elements=[])),
        _broken(lambda b: b.update(elements=b["elements"] * 6)),
        _broken(lambda b: b["elements"][0].pop("negative_button")),
        _broken(lambda b: b["elements"][0].update(type="button")),
        _broken(lambda b: b["elements"][0].pop("action_id")),
        _broken(lambda b: b["elements"][0]["positive_button"].update(text={"type": "mrkdwn", "text": "👍"})),
        _broken(lambda b: b["elements"][0]["positive_button"].update(text={"type": "plain_text", "text": "x" * 76})),
        _broken(lambda b: b["elements"][0]["negative_button"].pop("value")),
        _broken(lambda b: b["elements"][0]["negative_button"].update(style="danger")),
        _broken(lambda b: b.update(text="stray")),
        _broken(lambda b: b["elements"][0]["positive_button"].update(accessibility_label="x" * 76)),
        _broken(lambda b: b.update(elements=b["elements"] * 2)),  # one action_id twice in a message
        _broken(lambda b: b.update(type="actions")),  # feedback buttons live only in context_actions
    ],
)
def test_the_fake_refuses_a_malformed_context_actions_block_as_slack_does(chat: Chat, block: dict) -> None:
    with pytest.raises(SlackApiError) as refused:
        chat.run(chat.client.chat_postMessage(channel=chat.thread["channel"], text="plan", blocks=[block]))
    assert refused.value.response["error"] == "invalid_blocks"
    chat.run(chat.client.chat_postMessage(channel=chat.thread["channel"], text="plan", blocks=[feedback_block(1)]))
