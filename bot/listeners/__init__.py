"""Bolt listeners, one module per Slack surface.

- `commands`: the `/plan-trip` slash command.
- `direct_messages`: a top-level message in the app's DM starts a trip.
- `events`: `app_mention` and `message` events (trip starts, thread replies,
  and the `@bot cancel | finish | status` commands in a trip thread).
- `actions`: the Finish / Cancel / Continue buttons (`block_actions`).
- `vote_actions`: a team vote's buttons (stored before the ack).
- `feedback`: the 👍/👎 under every plan version (`feedback_buttons`).
- `home`: the App Home tab (`app_home_opened`).
- `trip_form`: the Home tab's "Plan a trip" button and its modal.
- `uninstall`: `app_uninstalled` / `tokens_revoked` (forget the workspace,
  stop its trips).
- `fallback`: everything else gets a 2xx (see `register_fallback`).

Every listener acknowledges first and does its slow work afterwards, except
that a reply in a trip thread is stored before the ack (`events`), so no
crash can lose a reply Slack was told it delivered, and a vote's click
(`vote_actions`).
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.listeners import (
    actions,
    commands,
    direct_messages,
    events,
    fallback,
    feedback,
    home,
    trip_form,
    uninstall,
    vote_actions,
)
from bot.services import BotServices


def register_listeners(app: AsyncApp, services: BotServices, *, command: str = "/plan-trip") -> None:
    commands.register(app, services, command=command)
    direct_messages.register(app, services)  # before `events`: the first matching listener runs
    events.register(app, services)
    actions.register(app, services)
    vote_actions.register(app, services)
    feedback.register(app, services)
    home.register(app, services)
    trip_form.register(app, services)
    uninstall.register(app, services)
    fallback.register(app, services.logger)


__all__ = ["register_listeners"]
