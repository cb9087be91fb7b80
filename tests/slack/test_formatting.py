"""Rendering model Markdown for Slack: conversion, escaping, splitting."""

from __future__ import annotations

import re

import pytest

from bot.formatting import (
    DEFAULT_PART_CHARS,
    MARKDOWN_BLOCK_LIMIT,
    MAX_BLOCKS,
    MESSAGE_TEXT_LIMIT,
    SECTION_TEXT_LIMIT,
    ZWSP,
    markdown_to_mrkdwn,
    neutralise_mentions,
    render,
    render_part_as_mrkdwn,
    split_text,
    unescape_slack,
)

MENTIONS = [
    "<!channel>",
    "<!here>",
    "<!here|here>",
    "<!everyone>",
    "<!subteam^S012AB|@team>",
    "<@U012ABC>",
    "<@W012ABC|bob>",
    "<#C012ABC|general>",
    "&lt;!channel&gt;",
]


@pytest.mark.parametrize("mention", MENTIONS)
def test_mentions_are_broken_in_markdown_and_escaped_in_mrkdwn(mention: str) -> None:
    text = f"Ping {mention} now"
    safe = neutralise_mentions(text)
    assert not re.search(r"(<|&lt;)[!@#]", safe)
    assert safe.replace(ZWSP, "") == text  # looks the same
    mrkdwn = markdown_to_mrkdwn(text)
    assert "<" not in mrkdwn.replace("&lt;", "")


def test_bare_broadcast_words_are_broken_but_emails_are_not() -> None:
    safe = neutralise_mentions("@here @Channel @everyone mail me at ana@here.example")
    assert not re.search(r"(?<![\w@])@(here|channel|everyone)\b", safe, re.IGNORECASE)
    assert "ana@here.example" in safe


def test_neutralising_is_idempotent() -> None:
    once = neutralise_mentions("<!channel> @here")
    assert neutralise_mentions(once) == once


def test_markdown_to_mrkdwn_converts_and_escapes() -> None:
    md = "# Rome\n\n**Day 1** and __day 2__, *slowly*.\n\n- [Map](https://m.example/?a=1&b=2)\n\n> 2 < 3 & 4 > 1"
    out = markdown_to_mrkdwn(md)
    assert "**" not in out and "__" not in out
    assert "*Rome*" in out and "*Day 1*" in out and "_slowly_" in out
    assert "<https://m.example/?a=1&b=2|Map>" in out  # the link survives escaping
    assert "> 2 &lt; 3 &amp; 4 &gt; 1" in out  # quote marker kept, text escaped


def test_unescape_slack() -> None:
    assert unescape_slack("a &amp; b &lt;c&gt;") == "a & b <c>"


def test_split_prefers_paragraphs_then_lines_and_keeps_everything() -> None:
    paragraphs = [f"Paragraph {i}: " + "word " * 30 for i in range(40)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    chunks = split_text(text, 1000)
    assert len(chunks) > 1
    assert all(len(c) <= 1000 for c in chunks)
    assert all(c.startswith("Paragraph ") for c in chunks)  # cut between paragraphs
    assert re.sub(r"\s+", " ", " ".join(chunks)) == re.sub(r"\s+", " ", text)


def test_split_cuts_a_huge_line_on_spaces_or_hard() -> None:
    words = "lorem " * 2000
    assert all(len(c) <= 500 for c in split_text(words, 500))
    blob = "x" * 5000
    chunks = split_text(blob, 1000)
    assert all(len(c) <= 1000 for c in chunks) and "".join(chunks) == blob


def test_split_closes_and_reopens_code_fences() -> None:
    code = "```python\n" + "\n".join(f"print({i})" for i in range(400)) + "\n```"
    chunks = split_text("Intro\n\n" + code + "\n\nOutro", 1000)
    assert len(chunks) > 2
    for chunk in chunks:
        assert len(chunk) <= 1000
        assert chunk.count("```") % 2 == 0, chunk[:80]
    assert chunks[1].startswith("```python\n")


def test_split_does_not_orphan_a_heading() -> None:
    text = "\n\n".join(f"## Day {i}\n\n" + "walk " * 150 for i in range(10))
    for chunk in split_text(text, 2000):
        assert not re.search(r"## Day \d+$", chunk), chunk[-40:]


def test_render_markdown_parts_stay_within_limits_and_have_fallbacks() -> None:
    md = "\n\n".join(f"## Day {i}\n\n**Plan:** " + "see the sights " * 200 for i in range(20))
    messages = render(md)
    assert len(messages) > 1
    for message in messages:
        [block] = message.blocks
        assert block["type"] == "markdown"
        assert len(block["text"]) <= DEFAULT_PART_CHARS < MARKDOWN_BLOCK_LIMIT
        assert message.text and "**" not in message.text
        assert len(message.text) <= MESSAGE_TEXT_LIMIT


def test_render_mrkdwn_respects_section_block_and_text_limits() -> None:
    md = "\n\n".join(f"**{i}** " + "x " * 900 for i in range(200))
    messages = render(md, style="mrkdwn")
    assert len(messages) > 1
    for message in messages:
        assert 0 < len(message.blocks) <= MAX_BLOCKS
        assert all(len(b["text"]["text"]) <= SECTION_TEXT_LIMIT for b in message.blocks)
        assert len(message.text) <= MESSAGE_TEXT_LIMIT
        assert "**" not in message.text


def test_render_empty_text_still_has_content() -> None:
    [message] = render("   ")
    assert message.text and message.blocks[0]["text"]


def test_a_markdown_part_always_fits_one_mrkdwn_message() -> None:
    part = "&" * DEFAULT_PART_CHARS  # escaping grows it fivefold
    message = render_part_as_mrkdwn(part)
    assert len(message.blocks) <= MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= SECTION_TEXT_LIMIT for b in message.blocks)
