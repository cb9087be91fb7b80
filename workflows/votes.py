"""Team votes: the `ask_team_vote` tool's arguments, a vote's ballots and
tally, and what the LLM reads when the vote closes.

Pure and deterministic (the trip's body replays it): the clock is read by the
caller, as a recorded step, and passed in. A vote lives in `TripState.votes`
as a small dict (`OpenVote.to_dict`) while it is open, so a successor segment
carries it; a click reaches the trip as a `Reply` of kind "vote"
(`VoteClick`), through the same durable inbox as answers, so it is
deduplicated by its key and never lost.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from workflows.ports import Reply

VOTE_TOOL = "ask_team_vote"
#: The reply kind a vote click travels as.
VOTE_REPLY = "vote"
MIN_OPTIONS, MAX_OPTIONS = 2, 6
#: An option is a button's label (Slack: at most 75 characters).
MAX_OPTION_CHARS = 75
MAX_QUESTION_CHARS = 300
#: Nobody waits for more voters than this.
MAX_QUORUM = 100
#: Longer is capped (and the trip's own end caps it further: `vote_deadline`).
MAX_HOURS = 24.0 * 366
#: More open votes at once would bury the thread in buttons.
MAX_OPEN_VOTES = 3
#: `VoteClick.option` of the "Close vote" button.
CLOSE = -1

VOTE_TOOL_SPEC: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": VOTE_TOOL,
        "description": (
            "Ask the team to vote on a choice the group must make together (which hotel, which dates, "
            "which day trip), not a fact one person knows. Posts one message with a button per option; "
            "each person has one vote and may change it. The vote closes when `quorum` people have "
            "voted, after `closes_in_hours`, or when someone closes it; its result (counts, names, "
            "winner or tie) then arrives as a message. Meanwhile you may go on asking or researching."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "question": {"type": "string", "description": "The question, short (at most 300 characters)."},
                "options": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "2 to 6 distinct options, each at most 75 characters.",
                },
                "closes_in_hours": {"type": "number", "description": "When the vote closes at the latest, in hours."},
                "quorum": {
                    "type": "integer",
                    "description": "Close as soon as this many people have voted (1 to 100).",
                },
            },
            "required": ["question", "options", "closes_in_hours", "quorum"],
            "additionalProperties": False,
        },
    },
}


@dataclass(frozen=True, slots=True)
class VoteSpec:
    """A vote as the LLM asked for it, validated."""

    question: str
    options: tuple[str, ...]
    closes_in_hours: float
    quorum: int


def parse_vote_args(args: dict[str, Any]) -> VoteSpec | str:
    """The vote the arguments describe, or an error the LLM can act on."""
    question = args.get("question")
    if not isinstance(question, str) or not question.strip():
        return "Error: ask_team_vote needs a non-empty `question`."
    question = " ".join(question.split())
    if len(question) > MAX_QUESTION_CHARS:
        return f"Error: the vote's question is {len(question)} characters long; the limit is {MAX_QUESTION_CHARS}."
    raw = args.get("options")
    if not isinstance(raw, list) or not all(isinstance(o, str) for o in raw):
        return "Error: `options` must be a list of strings."
    options = tuple(" ".join(o.split()) for o in raw)
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        return f"Error: a vote has {MIN_OPTIONS} to {MAX_OPTIONS} options; you gave {len(options)}."
    if any(not o for o in options):
        return "Error: every vote option must be non-empty."
    long = [o for o in options if len(o) > MAX_OPTION_CHARS]
    if long:
        return f"Error: each vote option is at most {MAX_OPTION_CHARS} characters (it is a button); shorten {long[0][:40]!r}…"
    if len({o.casefold() for o in options}) != len(options):
        return "Error: the vote options must be distinct."
    hours = args.get("closes_in_hours")
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not math.isfinite(hours) or not hours > 0:
        return "Error: `closes_in_hours` must be a number of hours greater than 0."
    quorum = args.get("quorum")
    if isinstance(quorum, bool) or not isinstance(quorum, int) or not 1 <= quorum <= MAX_QUORUM:
        return f"Error: `quorum` must be a whole number of voters from 1 to {MAX_QUORUM}."
    return VoteSpec(question, options, min(float(hours), MAX_HOURS), quorum)


@dataclass(frozen=True, slots=True)
class VoteClick:
    """One press of a vote's button: `option` (an index), or `CLOSE`.

    `voter` is the person's stable id (one vote each); `author` their name."""

    vote_id: str
    option: int
    voter: str
    author: str
    key: str  # the inbox's dedupe key: a retried request carries the same one
    ts: str = ""

    def to_reply(self) -> Reply:
        text = json.dumps({"vote": self.vote_id, "option": self.option, "voter": self.voter})
        return Reply(key=self.key, author=self.author, text=text, ts=self.ts, kind=VOTE_REPLY)

    @classmethod
    def from_reply(cls, reply: Reply) -> VoteClick | None:
        """The click a reply carries; None for anything else (or garbled)."""
        if reply.kind != VOTE_REPLY:
            return None
        try:
            data = json.loads(reply.text)
            return cls(str(data["vote"]), int(data["option"]), str(data["voter"]), reply.author, reply.key, reply.ts)
        except (ValueError, TypeError, KeyError):
            return None


@dataclass(slots=True)
class OpenVote:
    """A vote while it is open; `ballots`: voter id -> [name, option], in the
    order people first voted (a changed vote keeps its place)."""

    vote_id: str  # the key of its message, which tallies rewrite in place
    question: str
    options: list[str]
    quorum: int
    closes_at: int  # epoch ms
    ballots: dict[str, list[Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "vote_id": self.vote_id, "question": self.question, "options": list(self.options),
            "quorum": self.quorum, "closes_at": self.closes_at,
            "ballots": {k: list(v) for k, v in self.ballots.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OpenVote:
        return cls(
            str(data["vote_id"]), str(data["question"]), [str(o) for o in data["options"]],
            int(data["quorum"]), int(data["closes_at"]),
            {str(k): [str(v[0]), int(v[1])] for k, v in (data.get("ballots") or {}).items()},
        )

    def cast(self, click: VoteClick) -> bool:
        """Record a click's vote (the person's last one counts); True if the tally changed."""
        if not 0 <= click.option < len(self.options):
            return False
        if self.ballots.get(click.voter) == [click.author, click.option]:
            return False  # a double click, or the same choice again
        self.ballots[click.voter] = [click.author, click.option]
        return True

    def reached_quorum(self) -> bool:
        return len(self.ballots) >= self.quorum

    def voters(self) -> list[list[str]]:
        """Each option's voters' names, in the order they voted."""
        names: list[list[str]] = [[] for _ in self.options]
        for name, option in self.ballots.values():
            names[option].append(name)
        return names

    def leaders(self) -> list[int]:
        """The options with the most votes (none if nobody voted)."""
        counts = [len(n) for n in self.voters()]
        top = max(counts)
        return [i for i, c in enumerate(counts) if c == top] if top else []

    def outcome_line(self) -> str:
        """"Winner: X (3 votes)", "Tie: A and B (2 votes each)" or "No votes"."""
        leaders, counts = self.leaders(), [len(n) for n in self.voters()]
        if not leaders:
            return "No votes"
        n = counts[leaders[0]]
        if len(leaders) == 1:
            return f"Winner: {self.options[leaders[0]]} ({_votes(n)})"
        return f"Tie: {_and(self.options[i] for i in leaders)} ({_votes(n)} each)"

    def view(self, *, closed: bool = False, why: str = "") -> VoteView:
        return VoteView(
            self.vote_id, self.question, tuple(self.options), tuple(tuple(n) for n in self.voters()),
            self.quorum, self.closes_at, closed, self.outcome_line() if closed else "", why,
        )

    def result_message(self, why: str) -> str:
        """What the LLM reads when the vote closes: counts, names, winner or tie."""
        lines = [f'Team vote result for "{self.question}" (closed: {why}; {len(self.ballots)} voted):']
        for option, names in zip(self.options, self.voters(), strict=True):
            who = f" ({', '.join(names)})" if names else ""
            lines.append(f"- {option}: {_votes(len(names))}{who}")
        leaders = self.leaders()
        if not leaders:
            lines.append("Nobody voted.")
        elif len(leaders) == 1:
            lines.append(f"Winner: {self.options[leaders[0]]}.")
        else:
            lines.append(f"Tie between {_and(self.options[i] for i in leaders)}: the team has not decided.")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class VoteView:
    """A vote as people see it, for the chat port to render."""

    vote_id: str
    question: str
    options: tuple[str, ...]
    voters: tuple[tuple[str, ...], ...]  # per option
    quorum: int
    closes_at: int  # epoch ms
    closed: bool = False
    outcome: str = ""  # once closed: `OpenVote.outcome_line`
    why: str = ""  # once closed: why ("quorum reached", "closed by Ana", ...)


def vote_deadline(now_ms: int, hours: float, expires_at: int) -> int:
    """When a vote opened at `now_ms` for `hours` closes: never after the
    trip's expiry (`expires_at`, 0: unknown), with room left to tell the
    LLM and the thread (a tenth of what is left, at most 30 minutes)."""
    due = now_ms + int(hours * 3_600_000)
    if expires_at:
        due = min(due, expires_at - min(1_800_000, max(expires_at - now_ms, 0) // 10))
    return due


def opened_message(vote: OpenVote, now_ms: int) -> str:
    """The tool's immediate answer: the vote is open, its result comes later."""
    hours = max(vote.closes_at - now_ms, 0) / 3_600_000
    return (
        f"The vote is open in the thread ({len(vote.options)} options). It closes when {vote.quorum} "
        f"{'person has' if vote.quorum == 1 else 'people have'} voted or in {hours:.3g} hours, whichever "
        "comes first, or when someone closes it. Its result will follow as a message; meanwhile, go on "
        "(ask the team something else, research, or wait for the result)."
    )


def _votes(n: int) -> str:
    return f"{n} vote{'s' if n != 1 else ''}"


def _and(items: Any) -> str:
    words = list(items)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
