"""A team vote as a Slack message (`workflows.votes.VoteView`).

Open: the question, the tallies with the voters' names, when it closes, and
an actions block with a button per option and "Close vote". Each button's
value carries the vote's id and the option's index, so a click names what it
votes for whatever the message shows by then. Closed: the same tallies, the
outcome ("Winner: X (3 votes)" or a tie) and why it closed; no buttons.
The trip rewrites the message in place (chat.update) on each tally.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.formatting import SlackMessage, escape_mrkdwn, neutralise_mentions, section_block, slack_date
from workflows.votes import CLOSE, VoteView

#: Each option's button is `vote_option_<index>`; the close button `vote_close`.
OPTION_ACTION = "vote_option_{}"
CLOSE_ACTION = "vote_close"
VOTE_ACTIONS = re.compile(r"^vote_(?:option_\d+|close)$")
VOTE_BLOCK = "team_vote"

#: A name the people lookup could not resolve in time is a mention; Slack shows it as the name.
_MENTION = re.compile(r"^<@[UW][A-Z0-9]+>$")


def button_value(vote_id: str, option: int) -> str:
    return json.dumps({"vote": vote_id, "option": option}, separators=(",", ":"))


def read_button(action: dict[str, Any]) -> tuple[str, int] | None:
    """(vote id, option index or `CLOSE`) of a clicked vote button, or None."""
    try:
        data = json.loads(str(action.get("value") or ""))
        vote_id, option = str(data["vote"]), int(data["option"])
    except (ValueError, TypeError, KeyError):
        return None
    if action.get("action_id") == CLOSE_ACTION:
        option = CLOSE
    return (vote_id, option) if vote_id else None


def vote_message(view: VoteView) -> SlackMessage:
    question = _plain(view.question)
    blocks: list[dict[str, Any]] = [
        section_block(f"🗳️ *Team vote:* {question}"[:3000]),
        section_block("\n".join(_tally_line(o, names) for o, names in zip(view.options, view.voters, strict=True))[:3000]),
    ]
    if view.closed:
        blocks.append(_context(f"🔒 *Closed* ({_plain(view.why)}). {_plain(view.outcome)}"))
        text = f"Team vote: {question} (closed: {_plain(view.outcome)})"
    else:
        blocks.append(_context(
            f"One vote each: click another option to change yours. Closes when {view.quorum} "
            f"{'person has' if view.quorum == 1 else 'people have'} voted, or at the latest {slack_date(view.closes_at // 1000)}."
        ))
        buttons = [
            {"type": "button", "action_id": OPTION_ACTION.format(i), "text": _label(option), "value": button_value(view.vote_id, i)}
            for i, option in enumerate(view.options)
        ]
        buttons.append({
            "type": "button", "action_id": CLOSE_ACTION, "style": "danger",
            "text": _label("Close vote"), "value": button_value(view.vote_id, CLOSE),
        })
        blocks.append({"type": "actions", "block_id": VOTE_BLOCK, "elements": buttons})
        text = f"Team vote: {question}"
    return SlackMessage(text=text, blocks=blocks)


def _tally_line(option: str, names: tuple[str, ...]) -> str:
    count = f"{len(names)} vote{'s' if len(names) != 1 else ''}"
    who = ", ".join(n if _MENTION.match(n) else _plain(n) for n in names)
    return f"*{_plain(option)}* · {count}" + (f": {who}" if who else "")


def _plain(text: str) -> str:
    return escape_mrkdwn(neutralise_mentions(text))


def _label(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:75], "emoji": True}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


__all__ = ["CLOSE_ACTION", "OPTION_ACTION", "VOTE_ACTIONS", "button_value", "read_button", "vote_message"]
