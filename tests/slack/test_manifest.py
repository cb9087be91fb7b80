"""manifest.yml (and its Socket Mode variant) against Slack's manifest schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bot.installations import BOT_SCOPES

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests" / "data" / "manifest.schema.json"

REQUIRED_SCOPES = set(BOT_SCOPES)  # what an install asks for
REQUIRED_EVENTS = {"app_mention", "message.channels", "message.groups", "message.im", "app_home_opened"}


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / name).read_text())


def schema_errors(manifest: dict[str, Any]) -> list[str]:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(manifest)]


def test_schema_rejects_a_broken_manifest() -> None:
    # guards against a validator that accepts anything
    broken = load("manifest.yml")
    broken["features"]["slash_commands"][0]["command"] = "plan-trip"  # no leading slash
    broken["settings"]["surprise"] = True
    assert len(schema_errors(broken)) >= 2


@pytest.mark.parametrize("name", ["manifest.yml", "manifest.socket-mode.yml"])
def test_manifest_is_valid(name: str) -> None:
    manifest = load(name)
    assert schema_errors(manifest) == []
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/plan-trip" and command["usage_hint"]
    assert REQUIRED_SCOPES <= set(manifest["oauth_config"]["scopes"]["bot"])
    assert REQUIRED_EVENTS <= set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert manifest["settings"]["interactivity"]["is_enabled"] is True  # the trip's buttons
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True  # the trips you started, Plan a trip
    # People DM the app to plan a trip of their own: the Messages tab takes their messages.
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
    assert manifest["features"]["app_home"]["messages_tab_read_only_enabled"] is False
    assert "im:history" in manifest["oauth_config"]["scopes"]["bot"]  # message.im


def test_http_manifest_points_everything_at_slack_events() -> None:
    manifest = load("manifest.yml")
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is False
    urls = [
        manifest["features"]["slash_commands"][0]["url"],
        settings["event_subscriptions"]["request_url"],
        settings["interactivity"]["request_url"],
    ]
    assert all(u.startswith("https://") and u.endswith("/slack/events") for u in urls)


def test_socket_mode_manifest_matches_the_http_one() -> None:
    http, socket = load("manifest.yml"), load("manifest.socket-mode.yml")
    assert socket["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in socket["settings"]["event_subscriptions"]
    assert "url" not in socket["features"]["slash_commands"][0]
    assert socket["oauth_config"]["scopes"] == http["oauth_config"]["scopes"]
    assert "redirect_urls" not in socket["oauth_config"]  # OAuth installs need the HTTP mode
    assert (
        socket["settings"]["event_subscriptions"]["bot_events"] == http["settings"]["event_subscriptions"]["bot_events"]
    )
