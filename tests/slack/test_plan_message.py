"""The final plan as people get it: a structured message (header, day
sections, links, usage footer) within Slack's limits, split when long, and
the whole plan as a Markdown file in the thread, each exactly once."""

from __future__ import annotations

from bot.formatting import HEADER_TEXT_LIMIT, MARKDOWN_BLOCK_LIMIT, MAX_BLOCKS, plan_messages, split_plan_title
from tests.slack.chat_rig import Chat
from workflows.ports import PostRecord
from workflows.posts import Plan

PLAN = """# Lisbon in May: 4 days for 4 people

Four easy days, trams and food.

## Day 1: Alfama
- Castle at 10:00, [tickets](https://castelodesaojorge.pt/en/tickets?x=1&y=2)
- Fado at night

## Day 2: Sintra
Train from Rossio (40 min). See [Pena Palace](https://www.parquesdesintra.pt/en/).

## Costs
| item | EUR |
|---|---|
| hotel | 600 |
"""
FOOTER = "Planning used 7 AI calls, 840 tokens and 4 web lookups (about $0.01)."


def plan_posts(chat: Chat) -> list[dict]:
    return [p for p in chat.posts() if p["metadata"]["event_payload"]["kind"] == "plan"]


def test_the_plan_has_a_header_days_as_sections_links_and_the_usage_footer(chat: Chat) -> None:
    chat.run(chat.port.final_plan(chat.thread, Plan(PLAN, footer=FOOTER), key=chat.key(7)))

    [post] = plan_posts(chat)
    blocks = post["blocks"]
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Lisbon in May: 4 days for 4 people", "emoji": True},
    }
    sections = [b["text"] for b in blocks if b["type"] == "markdown"]
    assert sections[0] == "Four easy days, trams and food."
    assert [s.splitlines()[0] for s in sections[1:]] == ["## Day 1: Alfama", "## Day 2: Sintra", "## Costs"]
    assert "[tickets](https://castelodesaojorge.pt/en/tickets?x=1&y=2)" in sections[1]  # links kept
    assert [b["type"] for b in blocks].count("divider") == 3
    assert blocks[-2] == {"type": "context", "elements": [{"type": "mrkdwn", "text": FOOTER}]}
    assert blocks[-1]["type"] == "context_actions"  # 👍/👎 under the plan
    assert post["text"].startswith("*Lisbon in May: 4 days for 4 people*")  # fallback text, mrkdwn
    assert "**" not in post["text"]
    assert "# Lisbon" not in "\n".join(sections)  # the title is the header, not repeated


def test_the_whole_plan_is_shared_as_a_markdown_file_exactly_once(chat: Chat) -> None:
    for _ in range(2):  # a replay of the post step
        chat.run(chat.port.final_plan(chat.thread, Plan(PLAN, footer=FOOTER), key=chat.key(7)))

    assert len(plan_posts(chat)) == 1
    [shared] = chat.api.shared_files
    assert shared["channel_id"] == chat.thread["channel"] and shared["thread_ts"] == chat.thread["thread_ts"]
    assert shared["name"] == "lisbon-in-may-4-days-for-4-people.md"
    assert shared["title"] == "Lisbon in May: 4 days for 4 people"
    assert shared["content"].decode().startswith(PLAN.strip())
    assert FOOTER in shared["content"].decode()
    record = chat.run(chat.registry.post_record(f"{chat.key(7)}#file"))
    assert record == PostRecord("done", shared["id"])
    assert len(chat.api.calls_to("files.completeUploadExternal")) == 1


def test_after_a_crash_between_upload_and_ledger_the_file_is_found_not_uploaded_again(chat: Chat) -> None:
    key = chat.key(8)
    chat.run(chat.port.post(chat.thread, "plan text", key=key))  # the plan's message made it
    # The previous process uploaded the file and died before recording it.
    chat.run(chat.registry.record_post_intent(f"{key}#file"))
    chat.run(chat.client.files_upload_v2(
        channel=chat.thread["channel"], thread_ts=chat.thread["thread_ts"], content=PLAN,
        filename="lisbon-in-may-4-days-for-4-people.md", title="x",
    ))
    chat.run(chat.port.share_plan_file(chat.thread, PLAN, key=key, footer=FOOTER))

    assert len(chat.api.shared_files) == 1
    record = chat.run(chat.registry.post_record(f"{key}#file"))
    assert record.state == "done" and record.ref == chat.api.shared_files[0]["id"]


def test_a_long_plan_is_split_every_part_once_within_limits(chat: Chat) -> None:
    days = [f"## Day {i}\n\n" + ("Walk the old town, then [lunch](https://food.example/d%d). " % i) * 45
            for i in range(1, 31)]
    plan = "# A month in Portugal\n\n" + "\n\n".join(days)
    assert len(plan) > 5 * MARKDOWN_BLOCK_LIMIT
    for _ in range(2):
        chat.run(chat.port.final_plan(chat.thread, Plan(plan, footer=FOOTER), key=chat.key(9)))

    posts = plan_posts(chat)
    assert len(posts) >= 6
    assert [p["metadata"]["event_payload"]["part"] for p in posts] == list(range(len(posts)))  # each once
    for i, post in enumerate(posts):
        assert len(post["blocks"]) <= MAX_BLOCKS
        assert sum(len(b["text"]) for b in post["blocks"] if b["type"] == "markdown") <= MARKDOWN_BLOCK_LIMIT
        assert 0 < len(post["text"]) <= 40_000
        assert (post["blocks"][0]["type"] == "header") == (i == 0)
        assert (post["blocks"][-1]["type"] == "context_actions") == (i == len(posts) - 1)
        assert (post["blocks"][-2]["type"] == "context") == (i == len(posts) - 1)
    body = "\n\n".join(b["text"] for p in posts for b in p["blocks"] if b["type"] == "markdown")
    assert all(body.count(f"## Day {i}\n") == 1 for i in range(1, 31))
    assert len(chat.api.shared_files) == 1


def test_titles_are_plain_text_within_150_characters(chat: Chat) -> None:
    title, _ = split_plan_title("# **Lisbon** in [May](https://x.example) " + "and more " * 40 + "\n\nbody")
    assert title.startswith("Lisbon in May and more") and len(title) <= HEADER_TEXT_LIMIT and "*" not in title
    [untitled] = plan_messages("## Day 1\nBeach.", "")
    assert untitled.blocks[0]["text"]["text"] == "Your trip plan"
    # a `#` line inside a code block is not a title
    assert split_plan_title("```\n# not a title\n```\n# Real")[0] == "Real"

    chat.run(chat.port.final_plan(chat.thread, Plan("# " + "Very long title " * 20 + "\n\n## Day 1\nx"), key=chat.key(3)))
    [post] = plan_posts(chat)  # the fake refuses a header over 150 characters
    assert len(post["blocks"][0]["text"]["text"]) <= HEADER_TEXT_LIMIT


def test_when_slack_rejects_markdown_blocks_the_plan_keeps_its_header_and_footer(chat: Chat) -> None:
    chat.api.reject_markdown_blocks = True
    chat.run(chat.port.final_plan(chat.thread, Plan(PLAN, footer=FOOTER), key=chat.key(4)))
    [post] = plan_posts(chat)
    kinds = [b["type"] for b in post["blocks"]]
    assert kinds[0] == "header" and kinds[-2:] == ["context", "context_actions"] and "markdown" not in kinds
    assert "*Day 1: Alfama*" in str(post["blocks"])


def test_a_refused_upload_does_not_fail_the_plan(chat: Chat) -> None:
    chat.api.error("files.getUploadURLExternal", "missing_scope", times=None)
    chat.run(chat.port.final_plan(chat.thread, Plan(PLAN, footer=FOOTER), key=chat.key(5)))
    assert len(plan_posts(chat)) == 1 and chat.api.shared_files == []
    assert chat.run(chat.registry.post_record(f"{chat.key(5)}#file")).state == "done"


def test_fallback_text_of_every_part_is_mrkdwn() -> None:
    messages = plan_messages(PLAN, FOOTER)
    assert len(messages) == 1
    assert "<https://castelodesaojorge.pt/en/tickets?x=1&y=2|tickets>" in messages[0].text


def test_in_mrkdwn_style_the_plan_keeps_header_and_footer_within_limits() -> None:
    plan = "# Long road trip\n\n" + "\n\n".join(f"## Stop {i}\n**See** the [view](https://v.example/{i}). " + "x " * 400
                                                for i in range(80))
    messages = plan_messages(plan, FOOTER, style="mrkdwn")
    assert len(messages) >= 2
    assert messages[0].blocks[0]["type"] == "header" and messages[-1].blocks[-1]["type"] == "context"
    for message in messages:
        assert len(message.blocks) <= MAX_BLOCKS
        assert all(len(b["text"]["text"]) <= 3000 for b in message.blocks if b["type"] == "section")
        assert "**" not in str(message.blocks)
