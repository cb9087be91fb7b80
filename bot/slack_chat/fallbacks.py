"""Plainer and smaller versions of a message Slack refused: its markdown
blocks as mrkdwn, then plain text; a part that is too long, in two halves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bot.formatting import MAX_BLOCKS, SECTION_TEXT_LIMIT, SlackMessage, escape_mrkdwn, render_part_as_mrkdwn

#: Plain-text fallback of a message whose blocks Slack refused.
PLAIN_TEXT_CHARS = 3_000


def fallbacks(message: SlackMessage) -> Iterator[SlackMessage]:
    """Plainer versions of `message`, for blocks Slack refuses: its tables as
    text, then mrkdwn, then text."""
    tableless = without_tables(message)
    if tableless is not None:
        yield tableless
        message = tableless
    converted = as_mrkdwn(message)
    if converted is not None:
        yield converted
    if message.blocks:
        yield plain(message)


def without_tables(message: SlackMessage) -> SlackMessage | None:
    """The same message with each `table` block as a section of aligned text
    (a workspace or client that does not take tables); None without tables."""
    if not any(b.get("type") == "table" for b in message.blocks):
        return None
    blocks = [table_as_section(b) if b.get("type") == "table" else b for b in message.blocks]
    return SlackMessage(text=message.text, blocks=blocks)


def table_as_section(table: dict[str, Any]) -> dict[str, Any]:
    """A table block's rows as a monospaced mrkdwn section."""
    rows = [[_cell_text(c) for c in row] for row in table.get("rows") or []]
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(map(len, rows), default=0))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in rows]
    text = "```\n" + "\n".join(lines) + "\n```"
    if len(text) > SECTION_TEXT_LIMIT:
        text = text[: SECTION_TEXT_LIMIT - 5] + "…\n```"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _cell_text(cell: Any) -> str:
    text = str(cell.get("text", "")) if isinstance(cell, dict) else str(cell)
    return escape_mrkdwn(" ".join(text.split()))


def plain(message: SlackMessage) -> SlackMessage:
    """Text only, short enough for any message."""
    text = message.text if len(message.text) <= PLAIN_TEXT_CHARS else message.text[: PLAIN_TEXT_CHARS - 1] + "…"
    return SlackMessage(text=text, blocks=[])


def halves(message: SlackMessage) -> list[SlackMessage]:
    """`message` as two messages, split between blocks (or in the text)."""
    if len(message.blocks) >= 2:
        middle = len(message.blocks) // 2
        first, second = message.blocks[:middle], message.blocks[middle:]
        text = message.text
        cut = len(text) // 2
        return [SlackMessage(text=text[:cut] or "…", blocks=first), SlackMessage(text=text[cut:] or "…", blocks=second)]
    text = (
        message.text
        if not message.blocks
        else "\n".join(
            str(b.get("text") if isinstance(b.get("text"), str) else (b.get("text") or {}).get("text", ""))
            for b in message.blocks
        )
        or message.text
    )
    if len(text) < 2:
        return [message]
    cut = text.rfind("\n", 0, len(text) // 2 + 1)
    cut = cut if cut > 0 else len(text) // 2
    return [SlackMessage(text=text[:cut]), SlackMessage(text=text[cut:].lstrip("\n") or "…")]


def as_mrkdwn(message: SlackMessage) -> SlackMessage | None:
    """The same message with its markdown blocks converted to mrkdwn sections
    (blocks before and after them, such as a header or buttons, kept)."""
    kinds = [b.get("type") for b in message.blocks]
    if "markdown" not in kinds:
        return None
    first = kinds.index("markdown")
    last = len(kinds) - 1 - kinds[::-1].index("markdown")
    lead, tail = message.blocks[:first], message.blocks[last + 1 :]
    markdown = "\n\n".join(b["text"] for b in message.blocks[first : last + 1] if b.get("type") == "markdown")
    converted = render_part_as_mrkdwn(markdown, max_blocks=MAX_BLOCKS - len(lead) - len(tail))
    text = converted.text if not lead else message.text
    return SlackMessage(text=text, blocks=[*lead, *converted.blocks, *tail])
