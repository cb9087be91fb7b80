"""Slack's markup in a person's message, as the words people see in Slack.

Slack writes references in angle brackets and escapes the literal `&`, `<`
and `>` (https://docs.slack.dev/messaging/formatting-message-text), so every
`<...>` in a message's text is markup:

    <@U123> <@U123|ana>          @Ana (the display name; unknown: @U123)
    <#C123|general> <#C123>      #general (without a label: a looked-up name, or #C123)
    <!here> <!channel> <!everyone>   @here, @channel, @everyone
    <!subteam^S1|@team>          @team
    <!date^1392734382^{date}|Feb 18>   Feb 18 (the fallback text)
    <https://x|label>            label (https://x)
    <https://x> <http://x.com|x.com>   https://x, x.com (a label that is the address itself)

Names come from the caller (`plain_text(..., users=, channels=)`); which ones
to look up comes from `references`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.formatting import unescape_slack

_REFERENCE = re.compile(r"<([^<>]*)>")
_SCHEMES = ("https://", "http://", "mailto:", "tel:")


def references(markup: str) -> tuple[list[str], list[str]]:
    """(user ids, channel ids) whose names `plain_text` would use, in order,
    each once. Channels that carry their name in the markup are not listed."""
    users: dict[str, None] = {}
    channels: dict[str, None] = {}
    for match in _REFERENCE.finditer(markup):
        target, _, label = match.group(1).partition("|")
        if target.startswith("@") and len(target) > 1:
            users[target[1:]] = None
        elif target.startswith("#") and len(target) > 1 and not label.strip("#"):
            channels[target[1:]] = None
    return list(users), list(channels)


def plain_text(
    markup: str, *, users: Mapping[str, str] | None = None, channels: Mapping[str, str] | None = None
) -> str:
    """`markup` with every reference in plain words and Slack's escaping undone."""
    users, channels = users or {}, channels or {}
    pieces: list[str] = []
    last = 0
    for match in _REFERENCE.finditer(markup):
        pieces.append(unescape_slack(markup[last : match.start()]))
        pieces.append(_reference(match.group(1), users, channels))
        last = match.end()
    pieces.append(unescape_slack(markup[last:]))
    return "".join(pieces)


def _reference(body: str, users: Mapping[str, str], channels: Mapping[str, str]) -> str:
    target, _, label = body.partition("|")
    label = unescape_slack(label).strip()
    if target.startswith("@"):
        user = target[1:]
        return "@" + (users.get(user) or label.lstrip("@") or user)
    if target.startswith("#"):
        channel = target[1:]
        return "#" + (label.lstrip("#") or channels.get(channel) or channel)
    if target.startswith("!"):
        special = target[1:]
        if special.startswith("date^"):
            return label or special.split("^")[1]
        name = special.removeprefix("subteam^")
        return "@" + (label.lstrip("@") or name)
    url = unescape_slack(target)
    if not label or label == url or label == _without_scheme(url):
        return label or url
    return f"{label} ({url})"


def _without_scheme(url: str) -> str:
    for scheme in _SCHEMES:
        if url.startswith(scheme):
            return url[len(scheme) :]
    return url


__all__ = ["plain_text", "references"]
