"""A team vote's Slack message: question, tallies with names, buttons that
carry the vote and the option, and once closed the outcome and no buttons."""

from __future__ import annotations

import json

from bot.slack_chat.vote_blocks import read_button, vote_message
from workflows.votes import CLOSE, VoteView

VIEW = VoteView("trip/vote1", "Which hotel? <!channel>", ("Casa A", "B & B"), (("Ana", "<@U0BEN>"), ()), 3, 1_767_225_600_000)


def test_an_open_vote_has_a_button_per_option_and_close_and_names_its_voters() -> None:
    message = vote_message(VIEW)
    question, tally, when, actions = message.blocks
    assert "Which hotel?" in question["text"]["text"] and "<!channel>" not in question["text"]["text"]
    assert tally["text"]["text"] == "*Casa A* · 2 votes: Ana, <@U0BEN>\n*B &amp; B* · 0 votes"
    assert "Closes when 3 people have voted" in when["elements"][0]["text"]
    assert "<!date^1767225600^" in when["elements"][0]["text"]
    buttons = actions["elements"]
    assert [b["action_id"] for b in buttons] == ["vote_option_0", "vote_option_1", "vote_close"]
    assert [b["text"]["text"] for b in buttons] == ["Casa A", "B & B", "Close vote"]
    assert [read_button(b) for b in buttons] == [("trip/vote1", 0), ("trip/vote1", 1), ("trip/vote1", CLOSE)]
    assert message.text.startswith("Team vote: Which hotel?")


def test_a_closed_vote_shows_its_outcome_and_no_buttons() -> None:
    closed = VoteView(
        VIEW.vote_id, VIEW.question, VIEW.options, VIEW.voters, 3, VIEW.closes_at, True, "Winner: Casa A (2 votes)",
        "quorum of 3 reached",
    )
    message = vote_message(closed)
    assert [b["type"] for b in message.blocks] == ["section", "section", "context"]
    assert message.blocks[-1]["elements"][0]["text"] == "🔒 *Closed* (quorum of 3 reached). Winner: Casa A (2 votes)"
    assert "closed: Winner: Casa A (2 votes)" in message.text


def test_a_garbled_button_value_is_no_vote() -> None:
    assert read_button({"action_id": "vote_option_0", "value": "nope"}) is None
    assert read_button({"action_id": "vote_option_0", "value": json.dumps({"vote": "", "option": 0})}) is None
