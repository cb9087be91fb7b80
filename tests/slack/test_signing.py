"""Our request signer signs exactly as Slack does."""

from __future__ import annotations

import time

from slack_sdk.signature import SignatureVerifier

from testing.fakes.slack_requests import compute_signature, signed_headers, slash_command

# The published test vector (Slack's docs; python-slack-sdk
# tests/slack_sdk/signature/test_signature_verifier.py).
VECTOR_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
VECTOR_TIMESTAMP = "1531420618"
VECTOR_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
VECTOR_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_published_test_vector() -> None:
    assert compute_signature(VECTOR_SECRET, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE
    assert compute_signature(VECTOR_SECRET, int(VECTOR_TIMESTAMP), VECTOR_BODY.encode()) == VECTOR_SIGNATURE


def test_signed_headers_pass_slack_sdk_verification() -> None:
    body = slash_command("Lisbon in May")
    headers = signed_headers(body, signing_secret="s3cret")
    assert SignatureVerifier("s3cret").is_valid_request(body, headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    stale = signed_headers(body, signing_secret="s3cret", timestamp=int(time.time()) - 600)
    assert not SignatureVerifier("s3cret").is_valid_request(body, stale)
