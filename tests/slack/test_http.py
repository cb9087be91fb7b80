"""The HTTP contract with Slack: 2xx for anything valid, 4xx for the rest."""

from __future__ import annotations

import json
import time
import urllib.request
from urllib.parse import urlencode

import pytest

from testing.fakes.slack_requests import (
    FORM,
    JSON,
    block_actions,
    event_envelope,
    json_body,
    reaction_added,
    send,
    send_signed,
    signed_headers,
    slash_command,
    url_verification,
)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(json_body(event_envelope(reaction_added("C0001", "1700000000.000100"))), id="unhandled-event"),
        pytest.param(
            json_body(
                {"type": "app_rate_limited", "team_id": "T0001", "minute_rate_limited": 1, "api_app_id": "A0001"}
            ),
            id="app_rate_limited",
        ),
        pytest.param(block_actions(action_id="not_ours"), id="unknown-block-action"),
        pytest.param(slash_command("x", command="/other-command"), id="unknown-command"),
        pytest.param(
            json_body(event_envelope({"type": "brand_new_event_type", "event_ts": "1.2"})), id="unknown-event"
        ),
    ],
)
def test_requests_nobody_handles_still_get_a_2xx(bot, body: str) -> None:
    # Bolt's default is 404 "unhandled request", which makes Slack retry and
    # eventually disable the subscription.
    status, text, _ = send_signed(bot.events_url, body)
    assert status == 200, text
    assert "unhandled" not in text


def test_url_verification_echoes_the_challenge(bot) -> None:
    status, text, _ = send_signed(bot.events_url, json_body(url_verification("challenge-123")))
    assert status == 200
    assert json.loads(text)["challenge"] == "challenge-123"


@pytest.mark.parametrize(
    ("body", "content_type", "detail"),
    [
        ("{not json", JSON, "invalid JSON"),
        ("payload=%7Bnot-json", FORM, "invalid JSON"),
        ("[1, 2, 3]", JSON, "cannot parse"),
        ("foo=bar", FORM, "unrecognised payload"),
        ("", FORM, "empty payload"),
        (json_body({"type": "event_callback", "event": "oops"}), JSON, "without an `event` object"),
        (urlencode({"command": "/plan-trip", "text": "x", "team_id": "T0001"}), FORM, "without channel_id, user_id"),
    ],
    ids=[
        "bad-json",
        "bad-form-payload",
        "json-array",
        "no-type",
        "empty",
        "event-not-object",
        "command-missing-fields",
    ],
)
def test_malformed_payloads_get_a_clear_400(bot, body: str, content_type: str, detail: str) -> None:
    status, text, _ = send_signed(bot.events_url, body, content_type=content_type)
    assert status == 400, text
    answer = json.loads(text)
    assert answer["error"] == "malformed_request"
    assert detail in answer["detail"]


def test_malformed_and_unsigned_is_401_not_400(bot) -> None:
    status, _, _ = send_signed(bot.events_url, "{not json", signing_secret="not-the-secret")
    assert status == 401


def test_bad_signature_is_401_and_nothing_runs(bot) -> None:
    status, _, _ = send_signed(bot.events_url, slash_command("Oslo"), signing_secret="not-the-secret")
    assert status == 401
    bot.wait_idle()  # whatever the request set off has finished
    assert bot.trips.started == [] and bot.api.posts() == []


def test_stale_timestamp_is_401(bot) -> None:
    body = slash_command("Oslo")
    status, _, _ = send_signed(bot.events_url, body, timestamp=int(time.time()) - 10 * 60)
    assert status == 401
    # the same body signed now is accepted: only the timestamp made it fail
    status, _, _ = send_signed(bot.events_url, body)
    assert status == 200


def test_missing_signature_headers_is_401(bot) -> None:
    status, _, _ = send(bot.events_url, slash_command("Oslo"), {"Content-Type": FORM})
    assert status == 401


def test_body_signed_for_different_content_is_401(bot) -> None:
    headers = signed_headers(slash_command("Oslo"))
    status, _, _ = send(bot.events_url, slash_command("Tampered"), headers)
    assert status == 401


def test_healthz(bot) -> None:
    with urllib.request.urlopen(bot.health_url, timeout=5) as response:
        assert response.status == 200
        assert json.loads(response.read()) == {"ok": True}


def test_a_body_that_is_not_utf8_is_400(bot) -> None:
    status, text, _ = send(bot.events_url, b"\xff\xfe\xfd", {"Content-Type": FORM})
    assert status == 400
    assert "UTF-8" in json.loads(text)["detail"]
