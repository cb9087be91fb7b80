"""A structured itinerary as Slack messages: a header, the dates and
travellers, a section per day (items with their time, a map link for each
place, notes, cost and source), the per-person budget as a `table` block,
the usage footer, then any trailing blocks the caller adds (buttons).

Each message stays within Slack's limits: at most `MAX_BLOCKS` blocks, 3,000
characters a section (a long day goes out as several sections), one table
(on the last message, at most 100 rows). The builder is deterministic, so
the parts' exactly-once keys are stable. When Slack refuses the table, the
sender posts the message again with the table as text
(`bot.slack_chat.fallbacks.without_tables`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, quote_plus

from bot.formatting import (
    MAX_BLOCKS,
    SECTION_TEXT_LIMIT,
    SlackMessage,
    escape_mrkdwn,
    footer_block,
    header_block,
    neutralise_mentions,
    plain_title,
    section_block,
    truncate,
)
from workflows.itinerary.markdown import date_range, day_cost, day_heading, money, total_cost, travellers_words
from workflows.itinerary.model import Day, Item, Itinerary
from workflows.plan_revisions import plan_label

MAPS_SEARCH = "https://www.google.com/maps/search/?api=1&query="
#: Slack: at most 100 rows and 20 cells a row in a table, one table a message.
MAX_TABLE_ROWS = 100
#: Fallback `text` of one message (notifications, screen readers).
_TEXT_CHARS = 3_000


def map_link(place: str) -> str:
    """A Google Maps search for `place`, the query URL-encoded."""
    return MAPS_SEARCH + quote_plus(place)


def _safe(text: str) -> str:
    """The LLM's text as literal mrkdwn: escaped, and no mention or broadcast."""
    return neutralise_mentions(escape_mrkdwn(text))


def _link(url: str, label: str) -> str:
    # `|`, `<` and `>` would end a mrkdwn link early; in a URL they are encoded.
    safe = url.replace("|", quote("|")).replace("<", quote("<")).replace(">", quote(">"))
    return f"<{safe}|{_safe(label)}>"


def _item_text(item: Item, currency: str) -> str:
    when = f"*{item.time}*" if item.time else "*All day*"
    parts = [f"{when} {_safe(item.title)}"]
    if item.place:
        parts.append("📍 " + _link(map_link(item.place), item.place))
    if item.cost_per_person is not None:
        parts.append(f"{escape_mrkdwn(money(item.cost_per_person, currency))} per person")
    if item.source_url:
        parts.append(_link(item.source_url, "source"))
    line = "• " + " · ".join(parts)
    if item.notes:
        line += "\n      _" + _safe(" ".join(item.notes.split())) + "_"
    return line


def _day_sections(number: int, day: Day, currency: str) -> list[dict[str, Any]]:
    """The day as sections of at most 3,000 characters, cut between items."""
    heading = f"*{_safe(day_heading(number, day))}*"
    texts: list[str] = []
    current = heading
    for item in day.items:
        line = truncate(_item_text(item, currency), SECTION_TEXT_LIMIT - len(heading) - 20)
        if len(current) + 1 + len(line) > SECTION_TEXT_LIMIT:
            texts.append(current)
            current = f"{heading} (continued)"
        current += "\n" + line
    texts.append(current)
    return [section_block(t) for t in texts]


def _cell(text: str) -> dict[str, Any]:
    return {"type": "raw_text", "text": text}


def budget_table(itinerary: Itinerary) -> dict[str, Any]:
    """The per-person budget as Slack's table block: a row per costed day and a total."""
    group = itinerary.travellers > 1
    header = ["Day", "Per person", *([f"All {itinerary.travellers}"] if group else [])]
    rows = [[_cell(h) for h in header]]
    for n, day in enumerate(itinerary.days, start=1):
        cost = day_cost(day)
        if cost is None:
            continue
        label = f"Day {n}: {day.title}" if day.title else f"Day {n}"
        row = [label, money(cost, itinerary.currency)]
        if group:
            row.append(money(cost * itinerary.travellers, itinerary.currency))
        rows.append([_cell(c) for c in row])
    total = total_cost(itinerary)
    last = ["Total", money(total, itinerary.currency)]
    if group:
        last.append(money(total * itinerary.travellers, itinerary.currency))
    rows = [*rows[: MAX_TABLE_ROWS - 1], [_cell(c) for c in last]]
    settings = [{"is_wrapped": True}, {"align": "right"}, *([{"align": "right"}] if group else [])]
    return {"type": "table", "rows": rows, "column_settings": settings}


def _text_of(blocks: Sequence[dict[str, Any]]) -> str:
    pieces: list[str] = []
    for block in blocks:
        text = block.get("text")
        if block.get("type") == "header":  # plain text: as a bold mrkdwn line
            pieces.append(f"*{escape_mrkdwn(plain_title(str(text.get('text', ''))))}*")
        elif isinstance(text, dict):
            pieces.append(str(text.get("text", "")))
        elif block.get("type") == "context":
            pieces.extend(str(e.get("text", "")) for e in block.get("elements", []))
    return truncate("\n".join(p for p in pieces if p), _TEXT_CHARS)


def itinerary_messages(
    itinerary: Itinerary, footer: str = "", *, trailing: Sequence[dict[str, Any]] = (), version: int = 1
) -> list[SlackMessage]:
    """The itinerary as one message, or several when it has more blocks than one holds.

    A revision (`version` 2 and up) is headed "Plan v2 · <title>"."""
    title = plan_label(version, itinerary.title)
    intro = f"📅 {date_range(itinerary)} · 👥 {travellers_words(itinerary.travellers)}"
    body: list[dict[str, Any]] = [
        header_block(title),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": escape_mrkdwn(intro)}]},
    ]
    if itinerary.summary:
        body.append(section_block(truncate(_safe(itinerary.summary), SECTION_TEXT_LIMIT)))
    for n, day in enumerate(itinerary.days, start=1):
        body.append({"type": "divider"})
        body.extend(_day_sections(n, day, itinerary.currency))
    tail: list[dict[str, Any]] = []
    if itinerary.costed():
        tail += [{"type": "divider"}, section_block("*Budget per person*"), budget_table(itinerary)]
    if footer.strip():
        tail.append(footer_block(footer))
    tail.extend(trailing)
    chunks: list[list[dict[str, Any]]] = []
    for block in body:
        if not chunks or len(chunks[-1]) >= MAX_BLOCKS:
            chunks.append([])
        chunks[-1].append(block)
    if len(chunks[-1]) + len(tail) > MAX_BLOCKS:
        chunks.append([])
    chunks[-1].extend(tail[:MAX_BLOCKS])
    heading = f"*{escape_mrkdwn(plain_title(title))}*"
    return [SlackMessage(text=_text_of(chunk) or heading, blocks=chunk) for chunk in chunks]
