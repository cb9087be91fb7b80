"""`FeedbackBook` on Redis: `P feedback:{trip}`, a hash of "{version}:{user}" -> label."""

from __future__ import annotations

from workflows.feedback import Feedback, check_feedback
from workflows.registry.redis_registry.store import RedisStore, outages_as_unavailable, text_of


class RedisFeedbackBook(RedisStore):
    """One hash per trip; the compare-and-set is a script, so it is atomic."""

    async def record_feedback(self, feedback: Feedback) -> bool:
        check_feedback(feedback)
        with outages_as_unavailable("record_feedback"):
            key = self._p + "feedback:" + feedback.trip_id
            field = f"{feedback.version}:{feedback.user}"
            return bool(await self._feedback(keys=[key], args=[field, feedback.label]))

    async def trip_feedback(self, trip_id: str) -> list[Feedback]:
        with outages_as_unavailable("trip_feedback"):
            raw = await self._r.hgetall(self._p + "feedback:" + trip_id)
        votes = []
        for field, label in raw.items():
            version, _, user = text_of(field).partition(":")
            votes.append(Feedback(trip_id, int(version), user, text_of(label)))
        return sorted(votes, key=lambda v: (v.version, v.user))
