"""create_bolt_app wiring: modes, and no auth.test on the ack path."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.app import create_bolt_app
from bot.services import BotServices
from bot.slack_client import make_web_client
from bot.workspaces import SingleWorkspace
from testing.loop import LoopThread
from testing.memory_registry import memory_registry
from testing.fakes.slack_api import FakeSlackWebAPI
from testing.fakes.slack_bot import start_slack_bot
from testing.fakes.slack_requests import bot_message, event_envelope, json_body, send_signed, slash_command, thread_reply
from testing.fakes.trips import RecordingTripControl


def test_http_mode_requires_a_signing_secret(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    registry = loop.call(memory_registry)
    with pytest.raises(ValueError, match="signing_secret"):
        create_bolt_app(
            BotServices(
                workspaces=SingleWorkspace(make_web_client(api.token, api.api_url)),
                directory=registry,
                inbox=registry,
                marks=registry,
                engine=RecordingTripControl(registry, registry),
            ),
            signing_secret=None,
        )


def test_socket_mode_dispatch_needs_no_signature(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    registry = loop.call(memory_registry)
    trips = RecordingTripControl(registry, registry)

    async def scenario() -> int:
        app = create_bolt_app(
            BotServices(
                workspaces=SingleWorkspace(make_web_client(api.token, api.api_url)),
                directory=registry,
                inbox=registry,
                marks=registry,
                engine=trips,
            ),
            signing_secret=None,
            socket_mode=True,
        )
        body = dict(parse_qsl(slash_command("Kyoto"), keep_blank_values=True))
        response = await app.async_dispatch(AsyncBoltRequest(body=body, mode="socket_mode"))
        return response.status

    assert loop.run(scenario()) == 200
    api.wait_for(lambda: trips.started)
    assert trips.started[0].request == "Kyoto"


def test_an_unknown_identity_is_fetched_once_and_the_ack_stays_inside_slacks_deadline(api: FakeSlackWebAPI) -> None:
    """Which team the one token serves must be known before a request is
    served (it must never act for another team); if start-up could not ask,
    the first request waits for auth.test, well inside Slack's 3 s."""
    api.method_latency["auth.test"] = 0.5
    with start_slack_bot(api, identity=None) as bot:
        status, _, elapsed = send_signed(bot.events_url, slash_command("Kyoto"))
        assert status == 200 and 0.5 <= elapsed < 2.5
        [record] = bot.wait_for(lambda: bot.trips.started)
        assert len(api.calls_to("auth.test")) == 1
        status, _, elapsed = send_signed(bot.events_url, slash_command("Osaka"))
        assert status == 200 and elapsed < 0.4  # known now: no wait
        bot.wait_for(lambda: len(bot.trips.started) == 2)
        assert len(api.calls_to("auth.test")) == 1

        # once known, the identity filters our own thread posts
        root = record.thread["thread_ts"]
        own = bot_message(record.thread["channel"], root, "our question", bot_id="", user=api.bot_user_id)
        own.pop("bot_id"), own.pop("bot_profile")
        send_signed(bot.events_url, json_body(event_envelope(own)))
        send_signed(bot.events_url, json_body(event_envelope(thread_reply(record.thread["channel"], root, "answer"))))
        bot.wait_for(lambda: bot.trips.deliveries)
        bot.wait_idle()  # our own message handled too
        assert [d.reply.text for d in bot.trips.deliveries] == ["answer"]
