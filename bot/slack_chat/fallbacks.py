"""Plainer and smaller versions of a message Slack refused: its markdown
blocks as mrkdwn, then plain text; a part that is too long, in two halves."""

from __future__ import annotations

from collections.abc import Iterator

from bot.formatting import MAX_BLOCKS, SlackMessage, render_part_as_mrkdwn

#: Plain-text fallback of a message whose blocks Slack refused.
PLAIN_TEXT_CHARS = 3_000


def fallbacks(message: SlackMessage) -> Iterator[SlackMessage]:
    """Plainer versions of `message`, for blocks Slack refuses: mrkdwn, then text."""
    converted = as_mrkdwn(message)
    if converted is not None:
        yield converted
    if message.blocks:
        yield plain(message)


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
