"""The bot's own posts, uploads and edits come back to it as `message`
events, as Slack sends them: each is acknowledged and none reaches a trip."""

from __future__ import annotations

from bot.slack_chat import SlackChatPort
from testing.fakes.slack_bot import RunningSlackBot
from tests.slack.test_events import start_trip
from workflows.posts import Plan


def test_own_posts_uploads_and_edits_are_acked_and_ignored(bot: RunningSlackBot) -> None:
    trip = start_trip(bot)
    port = SlackChatPort(bot.client, bot.registry, status_refresh_seconds=0)
    key = f"{trip.trip_id}:1"
    bot.run(port.ask(trip.thread, "Which dates work for everyone?", key=f"{key}/ask1"))
    bot.run(port.progress(trip.thread, "🔎 Searched: hotels", key=f"{key}/progress1"))
    bot.run(port.progress_done(trip.thread, "✅ Searched: hotels", key=f"{key}/progress1"))
    bot.run(port.final_plan(trip.thread, Plan("# Rome\n\n## Day 1\nForum."), key=f"{key}/plan1"))
    bot.run(port.aclose())

    def echoed() -> list[tuple[dict, str]]:
        events = list(bot.api.delivered_events)
        kinds = [e["event"].get("subtype") for e, _ in events]
        return events if len(events) >= 5 and "message_changed" in kinds and "file_share" in kinds else []

    events = bot.wait_for(echoed, timeout=10)
    assert {outcome for _, outcome in events} == {"200"}
    assert all(e["event"].get("bot_id") or e["event"]["message"].get("bot_id") for e, _ in events)
    assert bot.trips.deliveries == []  # nothing became an answer
    assert bot.run(bot.registry.unclaimed_replies(trip.trip_id)) == []
    assert bot.trips.started == []
