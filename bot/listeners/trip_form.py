"""The Home tab's "Plan a trip" button and its modal (`bot.trip_form`).

- The button (`block_actions`): ack, then `views.open` with the click's
  `trigger_id` at once: Slack accepts a trigger_id once and for 3 seconds
  only. If Slack refuses it (expired, already used), the person is told in
  the app's DM to press the button again, rather than seeing nothing.
- The submission (`view_submission`): checked before the ack, because the
  ack is the answer: `response_action: "errors"` with a message per input
  block keeps the modal open and shows them (within Slack's 3 s: the checks
  are local). A good one is acked empty (the modal closes), then the trip
  starts in the chosen channel exactly as `/plan-trip` starts it
  (`commands.start_in_channel`: root message, joining a public channel,
  invite instructions for a private one), with the answers as its request.
  What stops it is said in the app's DM: there is no response_url and no
  channel the person is looking at. Then the Home tab is published again,
  so the new trip shows there.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.listeners.commands import start_in_channel
from bot.listeners.home import publish_home
from bot.services import BotServices
from bot.trip_form import OPEN_TRIP_FORM_ACTION, TRIP_FORM_CALLBACK, answers_of, form_errors, trip_form_view, trip_request

PRESS_AGAIN = "press *Plan a trip* on my Home tab again"


def _team_and_user(body: dict[str, Any]) -> tuple[str, str]:
    user = body.get("user") or {}
    team = str((body.get("team") or {}).get("id") or user.get("team_id") or "")
    return team, str(user.get("id") or "")


def register(app: AsyncApp, services: BotServices) -> None:
    async def on_open_form(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        await open_trip_form(services, body)

    async def on_submit(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        errors = form_errors(answers_of(view))
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        team, user = _team_and_user(body)
        services.in_background(start_from_form(services, team=team, user=user, view=view), name="trip-form-start")

    app.action(OPEN_TRIP_FORM_ACTION)(on_open_form)
    app.view(TRIP_FORM_CALLBACK)(on_submit)


async def open_trip_form(services: BotServices, body: dict[str, Any]) -> bool:
    """views.open with the click's trigger_id; False (and the person told) when Slack refuses."""
    team, user = _team_and_user(body)
    try:
        await (await services.client(team)).views_open(trigger_id=str(body.get("trigger_id") or ""), view=trip_form_view())
        return True
    except SlackApiError as exc:
        error = exc.response.get("error")
        services.logger.warning("could not open the trip form for %s: %s", user, error)
        if error in ("expired_trigger_id", "exchanged_trigger_id", "invalid_trigger_id"):
            text = f"Slack took too long to open the trip form (`{error}`). Please {PRESS_AGAIN}."
        else:
            text = f"Sorry, I couldn't open the trip form (Slack said `{error}`). Please {PRESS_AGAIN} in a minute."
        await tell_in_dm(services, team=team, user=user, text=text)
        return False


async def start_from_form(services: BotServices, *, team: str, user: str, view: dict[str, Any]) -> None:
    answers = answers_of(view)

    async def tell(text: str) -> None:
        await tell_in_dm(services, team=team, user=user, text=text)

    try:
        await start_in_channel(
            services, team=team, channel=answers.channel, user=user, request=trip_request(answers), tell=tell,
            again=PRESS_AGAIN,
        )
    except Exception:
        services.logger.exception("could not start a trip from the form in %s", answers.channel)
        await tell("Sorry, the trip planner is unavailable right now. Try again in a minute.")
        return
    await publish_home(services, team=team, user=user)


async def tell_in_dm(services: BotServices, *, team: str, user: str, text: str) -> None:
    """A message to `user` in the app's DM (chat.postMessage to the user id); best effort."""
    try:
        await (await services.client(team)).chat_postMessage(channel=user, text=text, unfurl_links=False)
    except Exception as exc:
        services.logger.warning("could not tell %s in a DM: %r", user, exc)


__all__ = ["PRESS_AGAIN", "open_trip_form", "register", "start_from_form", "tell_in_dm"]
