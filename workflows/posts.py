"""What a trip posts in its thread: one small value per kind of post.

The trip's body builds a post and hands it to the post step
(`workflows.steps.post_step`), which matches on its type to call the chat
port. A post is an argument of a `ctx.run` step, and the SDK stores no
argument of those (only their result): a replay rebuilds the post with the
code that replays, so its shape may change from one release to the next.

`kind` names a post where the name is kept: in its key (`{trip}/{kind}{n}`,
which the posting ledger and the lookup of lost Slack answers find it by)
and in the crash tests' `after:chat_<kind>` points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from workflows.votes import VoteView


@dataclass(frozen=True, slots=True)
class Ask:
    """A question the trip then waits on; `choices` are offered as buttons."""

    question: str
    choices: tuple[str, ...] = ()
    kind: ClassVar[str] = "ask"


@dataclass(frozen=True, slots=True)
class Progress:
    """The line of one research round."""

    text: str
    kind: ClassVar[str] = "progress"


@dataclass(frozen=True, slots=True)
class ProgressDone:
    """The round's line once the round is done, rewritten in place."""

    text: str
    kind: ClassVar[str] = "progress_done"


@dataclass(frozen=True, slots=True)
class Notice:
    """Something people should know: a reminder, an outage, the trip's end."""

    text: str
    kind: ClassVar[str] = "notice"


@dataclass(frozen=True, slots=True)
class Plan:
    """The finished plan (Markdown), its usage footer, the structured
    itinerary it was built from (`Itinerary.to_dict()`; None for a free-text
    plan), and `version`, which counts the plans of the trip (2 and up: a
    revision after a change, "Plan v2")."""

    plan: str
    footer: str = ""
    itinerary: dict[str, Any] | None = None
    version: int = 1
    kind: ClassVar[str] = "plan"


@dataclass(frozen=True, slots=True)
class Vote:
    """A team vote: posted once, then rewritten in place (same key) with
    each new tally and when it closes."""

    view: VoteView
    kind: ClassVar[str] = "vote"


type Post = Ask | Progress | ProgressDone | Notice | Plan | Vote
