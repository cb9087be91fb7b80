"""The conversation as the LLM sees it, kept under a character budget.

Messages are OpenAI chat messages (plain dicts, so they store as JSON). An
assistant message that calls tools and the tool messages answering it form one
unit: the API rejects a tool message whose call was dropped, so units are
shrunk or dropped whole.
"""

from __future__ import annotations

from typing import Any

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


def compact_history(messages: list[Message], budget_chars: int) -> list[Message]:
    """What a segment hands its successor: within budget, and old research
    rounds already cut to their start (the LLM has digested them)."""
    units = _units(messages)
    shrunk = [
        _shrink_tool_outputs(u, COMPACT_TOOL_CHARS) if i < len(units) - 1 else u
        for i, u in enumerate(units)
    ]
    return fit_to_budget([m for u in shrunk for m in u], budget_chars)
