"""Names for a Slack thread: stable, derived, no lookup needed.

A trip lives in one Slack thread; the thread is named by (team, channel, root
message ts). From those three values we derive:

- `thread_key`: the registry's key for the thread (thread -> trip map);
- `trip_id_for_thread`: the trip id, which becomes the Resonate root id, so it
  contains neither ':' (Resonate builds child ids as `{root_id}:{seq}`) nor
  '.' (the Resonate server refuses an origin with one; the SDK alone does not);
- `slack_thread_ref`: the opaque `ThreadRef` the workflow hands back to the
  chat port on every post.

A second `/plan-trip` (or a Slack retry) for the same thread computes the same
trip id and reaches the same workflow.
"""

from __future__ import annotations

import re

SURFACE = "slack"

# Slack ids are [A-Z0-9]+ and timestamps are digits and one '.'; anything else
# (which Slack never sends) is replaced so the derived id stays a safe root id.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _part(value: str, name: str) -> str:
    value = str(value or "").strip()
    if not value:
        raise ValueError(f"Slack thread {name} is empty")
    return _UNSAFE.sub("_", value)


def thread_key(team: str, channel: str, thread_ts: str) -> str:
    """The registry key of a Slack thread: `slack:{team}:{channel}:{thread_ts}`."""
    return f"{SURFACE}:{_part(team, 'team')}:{_part(channel, 'channel')}:{_part(thread_ts, 'thread_ts')}"


def trip_id_for_thread(team: str, channel: str, thread_ts: str) -> str:
    """The trip (Resonate root) id of a Slack thread: `slack-{team}-{channel}-{ts}`,
    with the ts's '.' written as '_'. Never contains ':' or '.'.
    """
    parts = (_part(team, "team"), _part(channel, "channel"), _part(thread_ts, "thread_ts"))
    return "-".join((SURFACE, *parts)).replace(".", "_")


def slack_thread_ref(team: str, channel: str, thread_ts: str) -> dict[str, str]:
    """The `ThreadRef` the workflow passes back to `SlackChatPort`."""
    return {
        "surface": SURFACE,
        "team": str(team),
        "channel": str(channel),
        "thread_ts": str(thread_ts),
    }


__all__ = ["SURFACE", "slack_thread_ref", "thread_key", "trip_id_for_thread"]
