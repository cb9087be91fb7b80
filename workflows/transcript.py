"""The conversation as the LLM sees it, kept under a character budget.

Messages are OpenAI chat messages (plain dicts, so they store as JSON). An
assistant message that calls tools and the tool messages answering it form one
unit: the API rejects a tool message whose call was dropped, so units are
shrunk or dropped whole.
"""

from __future__ import annotations

from typing import Any

from workflows.tools.untrusted import FENCE_NAME

type Message = dict[str, Any]

#: Tool output kept from a research round that is no longer the latest.
COMPACT_TOOL_CHARS = 600
OMITTED_NOTE = "[Earlier conversation omitted to stay within the context budget: {n} messages.]"


def message_chars(message: Message) -> int:
    size = len(message.get("content") or "")
    for call in message.get("tool_calls") or ():
        fn = call.get("function", {})
        size += len(fn.get("name", "")) + len(fn.get("arguments", ""))
    return size + 16  # role and framing


def total_chars(messages: list[Message]) -> int:
    return sum(message_chars(m) for m in messages)


def _units(messages: list[Message]) -> list[list[Message]]:
    units: list[list[Message]] = []
    for m in messages:
        if m.get("role") == "tool" and units and _answers(units[-1], m):
            units[-1].append(m)
        else:
            units.append([m])
    return units


def _answers(unit: list[Message], tool_message: Message) -> bool:
    calls = unit[0].get("tool_calls") or ()
    return any(c.get("id") == tool_message.get("tool_call_id") for c in calls)


def _shrink_tool_outputs(unit: list[Message], limit: int) -> list[Message]:
    out = []
    for m in unit:
        content = m.get("content") or ""
        if m.get("role") == "tool" and len(content) > limit:
            kept = content[:limit]
            m = {**m, "content": f"{kept}\n[compacted: {len(content) - limit} more characters omitted]"}
        out.append(m)
    return out


def fit_to_budget(messages: list[Message], budget_chars: int) -> list[Message]:
    """Return the messages to send, within `budget_chars` where at all possible.

    Order of sacrifice: tool output of older research rounds, then whole old
    units (the first request is always kept), then the tool output of the
    latest round itself.
    """
    if total_chars(messages) <= budget_chars:
        return list(messages)
    units = _units(messages)
    # 1. Old research rounds keep only the start of their tool output.
    units = [
        _shrink_tool_outputs(u, COMPACT_TOOL_CHARS) if i < len(units) - 1 else u
        for i, u in enumerate(units)
    ]
    flat = [m for u in units for m in u]
    if total_chars(flat) <= budget_chars:
        return flat
    # 2. Drop whole units from the oldest, keeping the first request.
    head = units[:1] if units and units[0][0].get("role") == "user" else []
    tail = units[len(head) :]
    dropped = 0
    while len(tail) > 1 and total_chars(_flatten(head, tail, dropped)) > budget_chars:
        dropped += len(tail[0])
        tail = tail[1:]
    flat = _flatten(head, tail, dropped)
    if total_chars(flat) <= budget_chars:
        return flat
    # 3. The latest round alone is too big: cut its tool output to share the rest.
    last = tail[-1] if tail else []
    tools = [m for m in last if m.get("role") == "tool"]
    if tools:
        others = total_chars(flat) - sum(message_chars(m) for m in tools)
        share = max(200, (budget_chars - others) // len(tools))
        tail = [*tail[:-1], _shrink_tool_outputs(last, share)]
        flat = _flatten(head, tail, dropped)
    # 4. Single messages too big to fit (a pasted essay): cut their middles.
    return _cut_longest(flat, budget_chars)


def _cut_longest(messages: list[Message], budget_chars: int) -> list[Message]:
    out = list(messages)
    while (excess := total_chars(out) - budget_chars) > 0:
        i = max(range(len(out)), key=lambda k: len(out[k].get("content") or ""))
        content = out[i].get("content") or ""
        keep = len(content) - excess - 64
        if keep < 200:
            if len(content) <= 264:
                break  # nothing big is left to cut
            keep = 200
        half = keep // 2
        cut = len(content) - 2 * half
        out[i] = {**out[i], "content": f"{content[:half]}\n[…{cut} characters cut…]\n{content[-half:]}"}
    return out


def _flatten(head: list[list[Message]], tail: list[list[Message]], dropped: int) -> list[Message]:
    note = [{"role": "user", "content": OMITTED_NOTE.format(n=dropped)}] if dropped else []
    return [m for u in head for m in u] + note + [m for u in tail for m in u]


# -- compaction in steps ---------------------------------------------------------
#
# OpenAI's prompt cache serves the longest prefix a request shares with an
# earlier one, so a transcript that is edited near its start on every call pays
# full price for all of it every time. The body therefore keeps the stored
# transcript in a form that only grows, and edits it rarely and as late in it
# as it can: when it passes the budget, the newest research rounds the LLM has
# read are replaced by their digests (once: a digest is never digested again)
# until it fits, and only if that is not enough are the oldest turns dropped,
# in one chunk, down to about half the budget. Between two such edits every request
# repeats the previous one and appends to it. Everything here is a pure
# function of the messages: the body computes it, and a replay computes it again.

#: A digested tool message ends with this line; it is never digested again.
DIGEST_NOTE = (
    "[Digest: {omitted:,} of {total:,} characters of this tool output were left out once the "
    "conversation moved on. Call the tool again to read it in full.]"
)
_DIGEST_MARK = DIGEST_NOTE.split("{", 1)[0]
#: Tool output this short is kept as it is.
DIGEST_MIN_CHARS = 800
#: The start of a digested output's text that is kept (cut at a line break).
DIGEST_HEAD_CHARS = 320
#: Dropping old turns leaves this share of the room the latest unit leaves in
#: the budget (half the budget when that unit is small), so the calls after a
#: drop append again for a while.
DROP_TO_SHARE = 0.5

_FENCE_OPEN = f"<<<{FENCE_NAME} "
_FENCE_CLOSE = f"<<<END_{FENCE_NAME} "


def is_digest(content: str) -> bool:
    return _DIGEST_MARK in content


def digest_tool_output(content: str) -> str:
    """A short stand-in for a tool output the LLM has already read: the lines
    before its text (`Page: <url>`, the search's header), the start of its
    text, every title and link of a result list, inside the same fence, and a
    note saying how much was left out."""
    if len(content) <= DIGEST_MIN_CHARS or is_digest(content):
        return content
    lines = content.split("\n")
    opened = next((i for i, line in enumerate(lines) if line.startswith(_FENCE_OPEN)), -1)
    closed = next((i for i in range(len(lines) - 1, opened, -1) if lines[i].startswith(_FENCE_CLOSE)), -1)
    if opened >= 0 and closed > opened:
        head, body, tail = lines[: opened + 1], lines[opened + 1 : closed], [lines[closed]]
    else:
        head, body, tail = [], lines, []
    kept: list[str] = []
    size = 0
    for line in body:
        if size + len(line) > DIGEST_HEAD_CHARS:
            if not kept:
                kept.append(line[:DIGEST_HEAD_CHARS].rstrip() + "…")
            break
        kept.append(line)
        size += len(line) + 1
    kept += [line for line in body[len(kept) :] if _is_title_or_link(line)]
    digest = "\n".join(head + kept + tail)
    return digest + "\n" + DIGEST_NOTE.format(omitted=max(0, len(content) - len(digest)), total=len(content))


def _is_title_or_link(line: str) -> bool:
    """A search result's "3. Title" or its URL line (workflows/tools/search/format.py)."""
    stripped = line.strip()
    if stripped.startswith(("http://", "https://")):
        return True
    number, dot, _ = stripped.partition(". ")
    return bool(dot) and number.isdigit() and not line.startswith(" ")


def _is_round(unit: list[Message]) -> bool:
    return unit[0].get("role") == "assistant" and bool(unit[0].get("tool_calls"))


def _digest_round(unit: list[Message]) -> list[Message]:
    out = []
    for m in unit:
        if m.get("role") == "tool":
            digest = digest_tool_output(m.get("content") or "")
            if digest != m.get("content"):
                m = {**m, "content": digest}
        out.append(m)
    return out


def _note_count(message: Message) -> int:
    """The number of messages an omitted-note says were dropped, or -1 if it is none."""
    content = message.get("content") or ""
    prefix, _, rest = OMITTED_NOTE.partition("{n}")
    if message.get("role") != "user" or not content.startswith(prefix) or not content.endswith(rest):
        return -1
    number = content[len(prefix) : len(content) - len(rest)]
    return int(number) if number.isdigit() else -1


def compact_in_steps(messages: list[Message], budget_chars: int) -> list[Message]:
    """The stored transcript, edited only when it has passed `budget_chars`,
    and then as late in it as will do.

    Within budget it comes back as it is (the same list). Over it, the research
    rounds the LLM has already read become digests, newest first, until the
    transcript fits: everything before the newest round that had to change is
    sent exactly as before, so the cache still serves it. The latest round is
    never digested here (the LLM has not read it yet, or reads it again now).
    If digests are not enough, the oldest turns after the trip's request go,
    in whole units, down to the latest unit and `DROP_TO_SHARE` of the rest of
    the budget, counted in one note that replaces any earlier one. A latest
    unit bigger than the whole budget drops nothing (no history would make it
    fit): `fit_to_budget` cuts it when it is sent."""
    size = total_chars(messages)
    if size <= budget_chars:
        return messages
    units = _units(messages)
    rounds = [i for i, u in enumerate(units) if _is_round(u)]
    for i in reversed(rounds[:-1]):
        digested = _digest_round(units[i])
        size += total_chars(digested) - total_chars(units[i])
        units[i] = digested
        if size <= budget_chars:
            return [m for u in units for m in u]
    # The latest round and what follows it stay whole: the LLM is about to read them, or just has.
    protected = len(units) - (rounds[-1] if rounds else len(units) - 1)
    latest = total_chars([m for u in units[-protected:] for m in u])
    if latest > budget_chars:
        # Dropping the history would not make it fit: `fit_to_budget` cuts it when it is sent.
        return [m for u in units for m in u]
    head = units[:1] if units and units[0][0].get("role") == "user" and protected < len(units) else []
    tail = units[len(head) :]
    dropped = 0
    if len(tail) > protected and (count := _note_count(tail[0][0])) >= 0:
        dropped, tail = count, tail[1:]
    target = latest + int((budget_chars - latest) * DROP_TO_SHARE)
    while len(tail) > protected and total_chars(_flatten(head, tail, max(dropped, 1))) > target:
        dropped += len(tail[0])
        tail = tail[1:]
    return _flatten(head, tail, dropped)
