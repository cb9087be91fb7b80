"""Render the Markdown the model writes as Slack messages.

Two styles:

- ``"markdown"`` (default): one Block Kit ``markdown`` block per message. Slack
  itself translates standard Markdown (``**bold**``, ``[a](url)``, lists,
  headings, code fences), which is what the block is for ("AI apps ... when you
  expect a markdown response from an LLM"). The block takes up to 12,000
  characters and the limit is cumulative for all markdown blocks in one
  payload, so a long text becomes several messages ("parts") of at most
  `DEFAULT_PART_CHARS` characters each.
- ``"mrkdwn"``: the Markdown is converted to Slack's own mrkdwn with the
  ``markdown-to-mrkdwn`` library and laid out in ``section`` blocks of at most
  3,000 characters, at most 50 blocks and ~40,000 characters a message. Used as
  the fallback when Slack rejects a markdown block, and available by choice.

Every message also carries a fallback ``text`` (mrkdwn, used for notifications
and by clients that cannot draw the blocks); it never holds raw ``**bold**``.

Mentions produced by the model are neutralised so a plan can never ping a
channel or a person:

- in the Markdown (markdown block) a zero-width space goes right after the
  ``<`` of ``<!channel>``, ``<!here>``, ``<!everyone>``, ``<!subteam^...>``,
  ``<@U...>`` and ``<#C...>`` (and after the ``@`` of a bare ``@channel`` /
  ``@here`` / ``@everyone``): the text looks the same but no longer parses as
  a mention;
- in mrkdwn (fallback text and sections) additionally every ``&``, ``<`` and
  ``>`` of the model's text is escaped as ``&amp;``, ``&lt;``, ``&gt;``, as
  Slack documents for literal text; only the ``<url|label>`` links the
  converter itself produces, and ``>`` quote markers at the start of a line,
  stay unescaped.

Text is split on paragraph boundaries, then line boundaries, then spaces; a
code fence cut by a split is closed at the end of one part and reopened at the
start of the next.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from markdown_to_mrkdwn import SlackMarkdownConverter

from workflows.plan_revisions import plan_label

#: Slack's documented limits.
MARKDOWN_BLOCK_LIMIT = 12_000  # one markdown block, and all of them in one payload
SECTION_TEXT_LIMIT = 3_000  # text of one section block
MAX_BLOCKS = 50  # blocks in one message
MESSAGE_TEXT_LIMIT = 40_000  # top-level text of one message (Slack truncates beyond)

#: Markdown characters per message part. Headroom under 12,000: Slack's
#: cumulative check is not exactly the documented number (slackapi/bolt-js#2509
#: saw `msg_blocks_too_long` near 13k with mixed blocks).
DEFAULT_PART_CHARS = 10_000
#: Fallback `text` cap (Slack truncates a text above 40,000 characters).
FALLBACK_TEXT_LIMIT = 12_000
#: Per-message budget of section text in mrkdwn style (headroom under 40,000).
MRKDWN_MESSAGE_BUDGET = 36_000

Style = Literal["markdown", "mrkdwn"]

ZWSP = "\u200b"
EMPTY_TEXT = "(no content)"
_ELLIPSIS = "\n…"

# `<` (or an already-escaped `&lt;`) that opens a special: <!channel>, <!here>,
# <!everyone>, <!subteam^S..>, <!date^...>, <@U..>, <@W..>, <#C..>.
_MENTION_OPEN = re.compile(r"(<|&lt;)(?=[!@#])", re.IGNORECASE)
# A bare @channel / @here / @everyone word.
_BROADCAST_WORD = re.compile(r"(?<![\w@])@(channel|here|everyone)\b", re.IGNORECASE)
# Link syntax the converter emits: <https://x|label>, <https://x>, <mailto:a@b|x>.
_CONVERTED_LINK = re.compile(r"<(?:https?://|mailto:)[^<>\s|]+(?:\|[^<>\n]*)?>")
_FENCE = re.compile(r"^\s*(```|~~~)")
_QUOTE_PREFIX = re.compile(r"^(\s*(?:>\s?)+)")


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """One chat.postMessage worth of content."""

    text: str  # fallback text (mrkdwn)
    blocks: list[dict[str, Any]] = field(default_factory=list)


# --------------------------------------------------------------------------
# neutralising and escaping


def neutralise_mentions(text: str) -> str:
    """Break every Slack mention/broadcast token in `text` with a zero-width space.

    Idempotent; the visible text is unchanged.
    """
    text = _MENTION_OPEN.sub(lambda m: m.group(1) + ZWSP, text)
    return _BROADCAST_WORD.sub(lambda m: "@" + ZWSP + m.group(1), text)


def escape_mrkdwn(text: str) -> str:
    """Escape `&`, `<`, `>` the way Slack documents for literal text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape_slack(text: str) -> str:
    """Undo Slack's escaping of `&`, `<`, `>` (text that came from Slack)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _escape_converted(mrkdwn: str) -> str:
    """Escape converter output, keeping its links and line-leading quote marks."""
    out: list[str] = []
    for line in mrkdwn.split("\n"):
        prefix = ""
        match = _QUOTE_PREFIX.match(line)
        if match:
            prefix, line = match.group(1), line[match.end() :]
        pieces: list[str] = []
        last = 0
        for link in _CONVERTED_LINK.finditer(line):
            pieces.append(escape_mrkdwn(line[last : link.start()]))
            pieces.append(_escape_link(link.group(0)))
            last = link.end()
        pieces.append(escape_mrkdwn(line[last:]))
        out.append(prefix + "".join(pieces))
    return "\n".join(out)


def _escape_link(link: str) -> str:
    inner = link[1:-1]
    url, sep, label = inner.partition("|")
    # `&` inside the URL stays (Slack resolves it); the label is literal text.
    return "<" + url + sep + (escape_mrkdwn(label) if sep else "") + ">"


def markdown_to_mrkdwn(markdown: str) -> str:
    """Markdown (as the model writes it) -> safe Slack mrkdwn."""
    converted = SlackMarkdownConverter().convert(neutralise_mentions(markdown))
    return _escape_converted(converted)


# --------------------------------------------------------------------------
# splitting


def split_text(text: str, limit: int) -> list[str]:
    """Split `text` into chunks of at most `limit` characters.

    Prefers paragraph boundaries, then line boundaries, then spaces; cuts hard
    only inside a very long word. Code fences cut by a split are closed and
    reopened so each chunk renders on its own.
    """
    if limit < 64:
        raise ValueError("limit too small to split text sensibly")
    text = text.strip("\n")
    if len(text) <= limit:
        return [text]
    reserve = 32  # room for a closing fence and a reopened one
    budget = limit - reserve
    chunks = _pack(text, budget)
    return _repair_fences(chunks, limit)


_HEADING = re.compile(r"^(#{1,6} \S.*|\*[^*\n]+\*)$")


def _pack(text: str, budget: int) -> list[str]:
    paragraphs = [p.strip("\n") for p in re.split(r"\n[ \t]*\n", text)]
    paragraphs = [p for p in paragraphs if p.strip()]
    chunks: list[str] = []
    current: list[tuple[str, str]] = []  # (joiner before it, piece)
    size = 0
    for paragraph in paragraphs:
        pieces = [paragraph] if len(paragraph) <= budget else _split_lines(paragraph, budget)
        for i, piece in enumerate(pieces):
            joiner = "\n\n" if i == 0 else "\n"
            if current and size + len(joiner) + len(piece) > budget:
                carried: str | None = None
                last = current[-1][1]
                # don't leave a heading alone at the end of a part
                if len(current) > 1 and _HEADING.match(last) and len(last) + len(joiner) + len(piece) <= budget:
                    carried = current.pop()[1]
                chunks.append("".join(j + p for j, p in current))
                current, size = [], 0
                if carried is not None:
                    current, size = [("", carried)], len(carried)
            if current:
                current.append((joiner, piece))
                size += len(joiner) + len(piece)
            else:
                current, size = [("", piece)], len(piece)
    if current:
        chunks.append("".join(j + p for j, p in current))
    return chunks


def _split_lines(paragraph: str, budget: int) -> list[str]:
    """A paragraph longer than `budget` -> line groups (long lines split on spaces)."""
    lines: list[str] = []
    for line in paragraph.split("\n"):
        while len(line) > budget:
            cut = line.rfind(" ", budget // 2, budget)
            if cut <= 0:
                cut = budget
                # don't cut inside an &entity;
                amp = line.rfind("&", cut - 8, cut)
                if amp > 0 and ";" not in line[amp:cut]:
                    cut = amp
            lines.append(line[:cut])
            line = line[cut:].lstrip(" ")
        lines.append(line)
    groups: list[str] = []
    current: str | None = None
    for line in lines:
        if current is None:
            current = line
        elif len(current) + 1 + len(line) <= budget:
            current += "\n" + line
        else:
            groups.append(current)
            current = line
    if current is not None:
        groups.append(current)
    return groups


def _repair_fences(chunks: list[str], limit: int) -> list[str]:
    repaired: list[str] = []
    open_fence: str | None = None
    for chunk in chunks:
        prefix = "" if open_fence is None else open_fence + "\n"
        for line in chunk.split("\n"):
            if _FENCE.match(line):
                if open_fence is None:
                    fence = line.strip()
                    open_fence = fence if len(fence) <= 20 else fence[:3]
                else:
                    open_fence = None
        chunk = prefix + chunk
        if open_fence is not None:
            chunk += "\n" + open_fence[:3]
        repaired.append(chunk[:limit])
    return repaired


def truncate(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, at a line break if one is near."""
    if len(text) <= limit:
        return text
    room = limit - len(_ELLIPSIS)
    cut = text.rfind("\n", room // 2, room)
    if cut <= 0:
        cut = room
    return text[:cut] + _ELLIPSIS


# --------------------------------------------------------------------------
# rendering


def fallback_text(markdown: str, limit: int = FALLBACK_TEXT_LIMIT) -> str:
    """The mrkdwn fallback `text` of a message."""
    return truncate(markdown_to_mrkdwn(markdown), limit) or EMPTY_TEXT


def render(
    markdown: str,
    *,
    style: Style = "markdown",
    part_chars: int = DEFAULT_PART_CHARS,
) -> list[SlackMessage]:
    """Model Markdown -> one or more messages, each within Slack's limits."""
    markdown = (markdown or "").strip()
    if not markdown:
        markdown = EMPTY_TEXT
    if style == "markdown":
        if not 64 <= part_chars <= MARKDOWN_BLOCK_LIMIT:
            raise ValueError(f"part_chars must be between 64 and {MARKDOWN_BLOCK_LIMIT}")
        safe = neutralise_mentions(markdown)
        return [
            SlackMessage(text=fallback_text(chunk), blocks=[{"type": "markdown", "text": chunk}])
            for chunk in split_text(safe, part_chars)
        ]
    if style == "mrkdwn":
        return _render_mrkdwn(markdown)
    raise ValueError(f"unknown style {style!r}")


def render_part_as_mrkdwn(markdown_part: str, max_blocks: int = MAX_BLOCKS) -> SlackMessage:
    """One markdown part as a single mrkdwn message (the markdown-block fallback).

    Keeps the part count of a `render(style="markdown")` result, so the
    exactly-once keys of the parts stay the same. `max_blocks` leaves room for
    blocks around it (a header, a footer, buttons).
    """
    max_blocks = max(1, min(max_blocks, MAX_BLOCKS))
    messages = _render_mrkdwn(markdown_part, max_blocks=max_blocks)
    if len(messages) == 1:
        return messages[0]
    first = messages[0]
    blocks = first.blocks[: max_blocks - 1] + [section_block("… (cut to fit one Slack message)")]
    return SlackMessage(text=first.text, blocks=blocks)


def section_block(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def slack_date(seconds: float, token: str = "{date_short_pretty} at {time}") -> str:
    """A Slack date token each reader sees in their own time zone (its UTC
    text as the fallback); "unknown" for no time."""
    if not seconds:
        return "unknown"
    stamp = int(seconds)
    return f"<!date^{stamp}^{token}|{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(stamp))}>"


def _render_mrkdwn(markdown: str, max_blocks: int = MAX_BLOCKS) -> list[SlackMessage]:
    mrkdwn = markdown_to_mrkdwn(markdown.strip() or EMPTY_TEXT) or EMPTY_TEXT
    sections = split_text(mrkdwn, SECTION_TEXT_LIMIT)
    messages: list[SlackMessage] = []
    group: list[str] = []
    size = 0
    for section in sections:
        if group and (len(group) >= max_blocks or size + len(section) + 2 > MRKDWN_MESSAGE_BUDGET):
            messages.append(_mrkdwn_message(group))
            group, size = [], 0
        group.append(section)
        size += len(section) + 2
    if group:
        messages.append(_mrkdwn_message(group))
    return messages


def _mrkdwn_message(sections: list[str]) -> SlackMessage:
    text = truncate("\n\n".join(sections), FALLBACK_TEXT_LIMIT)
    return SlackMessage(text=text, blocks=[section_block(s) for s in sections])


# --------------------------------------------------------------------------
# the final plan

#: Slack's limit for a header block's plain text.
HEADER_TEXT_LIMIT = 150
#: Day sections (markdown blocks, with dividers between them) in one message:
#: 1 header + 24 sections + 23 dividers + 1 footer stays under 50 blocks.
MAX_PLAN_SECTIONS = 24
DEFAULT_PLAN_TITLE = "Your trip plan"

_TITLE_LINE = re.compile(r"^#[ \t]+(\S.*?)[ \t#]*$")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_MARKS = re.compile(r"(\*\*|__|~~|`|\*|(?<!\w)_|_(?!\w))")


def _outside_fences(lines: list[str]) -> list[bool]:
    """For each line: True when it is not inside a code fence."""
    outside: list[bool] = []
    fenced = False
    for line in lines:
        if _FENCE.match(line):
            outside.append(False)
            fenced = not fenced
            continue
        outside.append(not fenced)
    return outside


def plain_title(markdown_title: str, limit: int = HEADER_TEXT_LIMIT) -> str:
    """A heading's text as plain text (no Markdown marks), at most `limit` chars."""
    text = _MD_LINK.sub(lambda m: m.group(1), markdown_title)
    text = _MD_MARKS.sub("", text)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def split_plan_title(plan: str) -> tuple[str, str]:
    """(title, body): the plan's first `# ` heading as plain text, and the plan
    without that line. No such heading: ("", plan)."""
    lines = plan.strip("\n").split("\n")
    for i, (line, outside) in enumerate(zip(lines, _outside_fences(lines), strict=True)):
        match = _TITLE_LINE.match(line) if outside else None
        if match:
            title = plain_title(match.group(1))
            if title:
                body = "\n".join(lines[:i] + lines[i + 1 :]).strip("\n")
                return title, body
    return "", plan.strip("\n")


def plan_sections(markdown: str) -> list[str]:
    """Cut Markdown before each `## ` heading (a day), outside code fences;
    level-3 headings when there is no level-2 one."""
    lines = markdown.split("\n")
    outside = _outside_fences(lines)
    for level in ("## ", "### "):
        starts = [i for i, line in enumerate(lines) if outside[i] and line.startswith(level)]
        if starts:
            break
    else:
        return [markdown.strip("\n")] if markdown.strip() else []
    cuts = sorted({0, *starts})
    pieces = ["\n".join(lines[a:b]).strip("\n") for a, b in zip(cuts, [*cuts[1:], len(lines)], strict=True)]
    return [p for p in pieces if p.strip()]


def _group(sections: list[str], most: int) -> list[str]:
    if len(sections) <= most:
        return sections
    size = -(-len(sections) // most)
    return ["\n\n".join(sections[i : i + size]) for i in range(0, len(sections), size)]


def header_block(title: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": plain_title(title) or DEFAULT_PLAN_TITLE, "emoji": True}}


def footer_block(footer: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": escape_mrkdwn(footer)[:SECTION_TEXT_LIMIT]}]}


def plan_messages(
    plan: str,
    footer: str = "",
    *,
    style: Style = "markdown",
    part_chars: int = DEFAULT_PART_CHARS,
    version: int = 1,
) -> list[SlackMessage]:
    """The final plan as one or more messages, each within Slack's limits.
    A revision (`version` 2 and up) is headed "Plan v2 · <title>".

    - a `header` block with the plan's first `# ` heading (plain text, at most
      150 characters; "Your trip plan" when there is none), on the first part;
    - the plan's days (`## ` sections) as `markdown` blocks with dividers
      between them (Markdown headings, lists and links render as written),
      at most `part_chars` Markdown characters a part (cumulative limit 12,000);
    - the usage footer as a `context` block on the last part;
    - fallback `text` in mrkdwn on every part.

    Deterministic for a given plan, so the parts' exactly-once keys are stable.
    In "mrkdwn" style the body is converted to `section` blocks instead.
    """
    title, body = split_plan_title((plan or "").strip())
    title = plan_label(version, title or DEFAULT_PLAN_TITLE)
    if not body.strip():
        body = EMPTY_TEXT
    footer_blocks = [footer_block(footer)] if footer.strip() else []
    messages: list[SlackMessage] = []
    if style == "mrkdwn":
        room = MAX_BLOCKS - 2  # header and footer
        for message in _render_mrkdwn(body, max_blocks=room):
            messages.append(SlackMessage(text=message.text, blocks=list(message.blocks)))
    else:
        if not 64 <= part_chars <= MARKDOWN_BLOCK_LIMIT:
            raise ValueError(f"part_chars must be between 64 and {MARKDOWN_BLOCK_LIMIT}")
        for chunk in split_text(neutralise_mentions(body), part_chars):
            blocks: list[dict[str, Any]] = []
            for section in _group(plan_sections(chunk) or [chunk], MAX_PLAN_SECTIONS):
                if blocks:
                    blocks.append({"type": "divider"})
                blocks.append({"type": "markdown", "text": section})
            messages.append(SlackMessage(text=fallback_text(chunk), blocks=blocks))
    first, last = messages[0], messages[-1]
    heading = f"*{escape_mrkdwn(title)}*\n"
    messages[0] = SlackMessage(text=heading + first.text, blocks=[header_block(title), *first.blocks])
    if footer_blocks:
        last = messages[-1]
        messages[-1] = SlackMessage(text=last.text, blocks=[*last.blocks, *footer_blocks])
    return messages


def plan_file_name(title: str, version: int = 1) -> str:
    """A file name for the plan's Markdown file: `lisbon-in-may.md`, and
    `lisbon-in-may-v2.md` for the revision after a change."""
    slug = re.sub(r"[^a-z0-9]+", "-", plain_title(title).lower()).strip("-")[:60].strip("-")
    suffix = f"-v{version}" if version > 1 else ""
    return f"{slug or 'trip-plan'}{suffix}.md"


__all__ = [
    "DEFAULT_PART_CHARS",
    "DEFAULT_PLAN_TITLE",
    "HEADER_TEXT_LIMIT",
    "MAX_PLAN_SECTIONS",
    "footer_block",
    "header_block",
    "section_block",
    "slack_date",
    "plain_title",
    "plan_file_name",
    "plan_messages",
    "plan_sections",
    "split_plan_title",
    "FALLBACK_TEXT_LIMIT",
    "MARKDOWN_BLOCK_LIMIT",
    "MAX_BLOCKS",
    "MESSAGE_TEXT_LIMIT",
    "SECTION_TEXT_LIMIT",
    "SlackMessage",
    "Style",
    "escape_mrkdwn",
    "fallback_text",
    "markdown_to_mrkdwn",
    "neutralise_mentions",
    "render",
    "render_part_as_mrkdwn",
    "split_text",
    "truncate",
    "unescape_slack",
]
