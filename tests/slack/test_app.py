"""create_bolt_app wiring: modes, and no auth.test on the ack path."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.app import create_bolt_app
from bot.slack_client import make_web_client
from tests.fakes.loop import LoopThread
from tests.fakes.registry import make_test_registry
from tests.fakes.slack_api import FakeSlackWebAPI
from tests.fakes.slack_bot import start_slack_bot
from tests.fakes.slack_requests import bot_message, event_envelope, json_body, send_signed, slash_command, thread_reply
from tests.fakes.trips import RecordingTripControl


def test_http_mode_requires_a_signing_secret(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    registry = loop.call(make_test_registry)
    with pytest.raises(ValueError, match="signing_secret"):
        create_bolt_app(
            signing_secret=None,
            bot_token=api.token,
            client=make_web_client(api.token, api.api_url),
            registry=registry,
            trips=RecordingTripControl(registry),
        )


def test_socket_mode_dispatch_needs_no_signature(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    registry = loop.call(make_test_registry)
    trips = RecordingTripControl(registry)

    async def scenario() -> int:
        app = create_bolt_app(
            signing_secret=None,
            bot_token=api.token,
            client=make_web_client(api.token, api.api_url),
            registry=registry,
            trips=trips,
            socket_mode=True,
        )
        body = dict(parse_qsl(slash_command("Kyoto"), keep_blank_values=True))
        response = await app.async_dispatch(AsyncBoltRequest(body=body, mode="socket_mode"))
        return response.status

    assert loop.run(scenario()) == 200
    api.wait_for(lambda: trips.started)
    assert trips.started[0].request == "Kyoto"


def test_unknown_identity_never_delays_the_ack(api: FakeSlackWebAPI) -> None:
    api.method_latency["auth.test"] = 0.5
    with start_slack_bot(api, identity=None) as bot:
        status, _, elapsed = send_signed(bot.events_url, slash_command("Kyoto"))
        assert status == 200 and elapsed < 0.3  # well under auth.test's 0.5 s
        [record] = bot.wait_for(lambda: bot.trips.started)
        bot.wait_for(lambda: api.calls_to("auth.test"))  # fetched in the background

        # once known, the identity filters our own thread posts
        root = record.thread["thread_ts"]
        own = bot_message(record.thread["channel"], root, "our question", bot_id="", user=api.bot_user_id)
        own.pop("bot_id"), own.pop("bot_profile")
        send_signed(bot.events_url, json_body(event_envelope(own)))
        send_signed(bot.events_url, json_body(event_envelope(thread_reply(record.thread["channel"], root, "answer"))))
        bot.wait_for(lambda: bot.trips.deliveries)
        bot.settle()
        assert [d.reply.text for d in bot.trips.deliveries] == ["answer"]
