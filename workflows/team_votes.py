"""The votes of one trip segment: opened by the `ask_team_vote` tool, tallied
as clicks arrive, closed at quorum, at their deadline, by the "Close vote"
button, or when the trip ends.

Runs inside the trip's body (workflows/trip.py), so it is deterministic: it
decides from `TripState.votes` and from what recorded steps returned, and
talks to people only through the segment's durable posts. A trip that never
opens a vote runs no step here (`absorb` and `timers` return at once).

The tool's call gets its tool message right away ("the vote is open"), so
the OpenAI message sequence stays valid however long the vote takes; the
result reaches the LLM later as a user message ("Team vote result for ...").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workflows.ports import Reply
from workflows.posts import Vote
from workflows.tool_calls import ToolCall
from workflows.votes import (
    CLOSE,
    MAX_OPEN_VOTES,
    VOTE_REPLY,
    OpenVote,
    VoteClick,
    opened_message,
    parse_vote_args,
    vote_deadline,
)

if TYPE_CHECKING:
    from workflows.trip import _Segment


class TeamVotes:
    """The open votes of `segment`'s trip (kept in `segment.s.votes`)."""

    def __init__(self, segment: _Segment) -> None:
        self.seg = segment
        self._votes = [OpenVote.from_dict(v) for v in segment.s.votes]
        self._timer_due = 0  # the deadline the last `timers()` waits for
        self._fired_at = 0  # that deadline, once its timer won the race

    async def open_vote(self, call: ToolCall) -> str:
        """Post the vote the LLM asked for; the tool message it reads now."""
        spec = parse_vote_args(call.arguments)
        if isinstance(spec, str):
            return spec
        if len(self._votes) >= MAX_OPEN_VOTES:
            return f"Error: {len(self._votes)} votes are open already; wait for one to close before asking another."
        now = await self.seg.time.now_ms()
        closes_at = vote_deadline(now, spec.closes_in_hours, self.seg.s.expires_at)
        if closes_at <= now:
            return "Error: the trip ends too soon for a vote; ask the team directly instead."
        vote = OpenVote(self.seg.new_key(Vote.kind), spec.question, list(spec.options), spec.quorum, closes_at)
        await self.seg.post(Vote(vote.view()), key=vote.vote_id)
        self._votes.append(vote)
        self._save()
        return opened_message(vote, now)

    def timers(self) -> list[Any]:
        """A durable timer for the next vote deadline, to race with the reply
        promise (none without an open vote)."""
        if not self._votes:
            return []
        self._timer_due = min(v.closes_at for v in self._votes)
        return [self.seg.time.timer_at(self._timer_due)]

    @property
    def deadline_fired(self) -> bool:
        return bool(self._fired_at)

    def deadline_came(self) -> None:
        """The timer from `timers()` won: the votes due then close at the next `absorb`."""
        self._fired_at = self._timer_due

    async def absorb(self, replies: list[Reply]) -> tuple[list[Reply], bool]:
        """Apply the vote clicks among `replies` (one tally rewrite per vote),
        close what is due; returns the other replies, and True if a vote
        closed (its result is now in the transcript for the LLM)."""
        clicks = [c for c in map(VoteClick.from_reply, replies) if c is not None]
        others = [r for r in replies if r.kind != VOTE_REPLY]
        if not clicks and not self._fired_at:
            return others, False
        closing: dict[str, str] = {}
        changed: set[str] = set()
        by_id = {v.vote_id: v for v in self._votes}
        for click in clicks:
            vote = by_id.get(click.vote_id)
            if vote is None or vote.vote_id in closing:
                continue  # a click on a vote that has closed (its buttons were still showing)
            if click.option == CLOSE:
                closing[vote.vote_id] = f"closed by {click.author}"
            elif vote.cast(click):
                changed.add(vote.vote_id)
        closed_any = False
        for vote in list(self._votes):
            why = closing.get(vote.vote_id, "")
            if not why and vote.vote_id in changed and vote.reached_quorum():
                why = f"quorum of {vote.quorum} reached"
            if not why and self._fired_at and vote.closes_at <= self._fired_at:
                why = "its time ran out"
            if why:
                await self._close(vote, why, tell_llm=True)
                closed_any = True
            elif vote.vote_id in changed:
                await self.seg.post(Vote(vote.view()), key=vote.vote_id)  # the tally, rewritten in place
                self.seg.steps_here += 1  # a long vote makes the segment hand over sooner
        self._fired_at = 0
        self._save()
        return others, closed_any

    async def close_all(self, why: str) -> None:
        """Close every open vote with its tally as it stands (the trip is
        finishing or ending): the thread shows the outcome, no buttons."""
        for vote in list(self._votes):
            await self._close(vote, why, tell_llm=False)
        self._save()

    async def _close(self, vote: OpenVote, why: str, *, tell_llm: bool) -> None:
        await self.seg.post(Vote(vote.view(closed=True, why=why)), key=vote.vote_id)
        self._votes.remove(vote)
        if tell_llm:
            self.seg.s.messages.append({"role": "user", "content": vote.result_message(why)})

    def _save(self) -> None:
        self.seg.s.votes = [v.to_dict() for v in self._votes]


__all__ = ["TeamVotes"]
