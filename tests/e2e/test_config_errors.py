"""Configuration errors: a clear message naming the variable, exit code 2,
and secrets never in logs or durable state."""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import sys

import pytest

from testing.bot_process import SIGNING_SECRET, SlackPlayer, bot_env, running_bot
from testing.loopback import free_port
from testing.research_fakes import research_fakes
from testing.fakes.scenario import lisbon_script
from testing.fakes.slack_api import DEFAULT_TOKEN, FakeSlackWebAPI

BASE = {"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": "sk-x", "SERPER_API_KEY": "k"}
OAUTH = {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_CLIENT_ID": "1.2",
         "SLACK_CLIENT_SECRET": "client-secret-value", "SLACK_STATE_SECRET": "state-secret-value-123"}


def _run(command: str, env: dict[str, str], tmp_path) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "travel_planner.cli", command],
        env={**BASE, "HOME": str(tmp_path), "TRAVEL_PLANNER_STATE_DIR": str(tmp_path / "s"), **env},
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )


@pytest.mark.parametrize(
    ("command", "env", "variable"),
    [
        ("run", {"SLACK_SIGNING_SECRET": SIGNING_SECRET}, "SLACK_BOT_TOKEN"),
        ("run", {"SLACK_BOT_TOKEN": "xoxp-user-token", "SLACK_SIGNING_SECRET": SIGNING_SECRET}, "SLACK_BOT_TOKEN"),
        ("run", {"SLACK_BOT_TOKEN": DEFAULT_TOKEN}, "SLACK_SIGNING_SECRET"),
        ("run", {"SLACK_BOT_TOKEN": DEFAULT_TOKEN, "SLACK_SIGNING_SECRET": "not hex!"}, "SLACK_SIGNING_SECRET"),
        ("run", {"SLACK_BOT_TOKEN": DEFAULT_TOKEN, "SLACK_APP_TOKEN": "xoxb-wrong-kind"}, "SLACK_APP_TOKEN"),
        ("run", {"SLACK_BOT_TOKEN": DEFAULT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "PORT": "http"}, "PORT"),
        ("web", {"SLACK_BOT_TOKEN": DEFAULT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}, "RESONATE_URL"),
        ("worker", {"SLACK_BOT_TOKEN": DEFAULT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                    "RESONATE_URL": "http://127.0.0.1:1"}, "REDIS_URL"),
        ("run", {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_CLIENT_ID": "1.2",
                 "SLACK_CLIENT_SECRET": "client-secret-value"}, "SLACK_STATE_SECRET"),
        ("web", {**OAUTH, "RESONATE_URL": "http://127.0.0.1:1", "REDIS_URL": "redis://127.0.0.1:1/0"},
         "DATABASE_URL"),
        ("run", {**OAUTH, "DATABASE_URL": "postgresql://u:db-password@127.0.0.1:1/none",
                 "PORT": "3999"}, "DATABASE_URL"),
    ],
)
def test_bad_settings_exit_2_naming_the_variable(tmp_path, command, env, variable):
    result = _run(command, env, tmp_path)
    assert result.returncode == 2, result.stderr
    assert variable in result.stderr and "configuration error" in result.stderr
    for secret in ("xoxp-user-token", SIGNING_SECRET, "xoxb-wrong-kind", "client-secret-value",
                   "state-secret-value-123", "db-password"):
        assert secret not in result.stderr


def test_a_token_slack_rejects_exits_2(tmp_path):
    with FakeSlackWebAPI(token="xoxb-the-right-one") as api:
        result = _run("run", {"SLACK_BOT_TOKEN": "xoxb-a-revoked-one", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                              "SLACK_API_URL": api.api_url, "PORT": str(free_port())}, tmp_path)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN" in result.stderr and "invalid_auth" in result.stderr
    assert "xoxb-a-revoked-one" not in result.stderr


def _base64_values(node) -> list[bytes]:  # type: ignore[no-untyped-def]
    """Promise values are base64 inside the JSON: decode every one."""
    found: list[bytes] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "data" and isinstance(value, str):
                with contextlib.suppress(ValueError):
                    found.append(base64.b64decode(value, validate=True))
            found.extend(_base64_values(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_base64_values(item))
    return found


def _everything_stored(db_path) -> bytes:  # type: ignore[no-untyped-def]
    """Every value in the state database, journal bodies decompressed."""
    import sqlite3
    import zlib

    db = sqlite3.connect(db_path)
    out = []
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        columns = [c[1] for c in db.execute(f"PRAGMA table_info({table})")]
        for row in db.execute(f"SELECT * FROM {table}"):
            values = dict(zip(columns, row, strict=True))
            for name, value in values.items():
                if isinstance(value, bytes) and name == "body" and values.get("z"):
                    value = zlib.decompress(value)
                out.append(value if isinstance(value, bytes) else str(value).encode())
                if name == "body" and value:
                    out.extend(_base64_values(json.loads(value)))
    db.close()
    return b"\n".join(out)


def test_secrets_stay_out_of_logs_and_durable_state(tmp_path):
    api = FakeSlackWebAPI()
    api.add_channel("C0TRIP", name="trips")
    with api, research_fakes(lisbon_script) as (llm, serper, site):
        env = bot_env(api, llm, serper, tmp_path / "state", free_port())
        env["TRAVEL_PLANNER_LOG_LEVEL"] = "DEBUG"
        with running_bot(env, tmp_path / "bot.log") as bot:
            player = SlackPlayer(api, bot.events_url)
            root_ts = player.plan_trip("Lisbon")["ts"]
            player.wait_questions(root_ts, 1)
    secrets = [DEFAULT_TOKEN, SIGNING_SECRET, env["OPENAI_API_KEY"], env["SERPER_API_KEY"]]
    log = (tmp_path / "bot.log").read_text()
    assert "trip slack-" in log  # the log is not empty
    stored = _everything_stored(tmp_path / "state" / "travel-planner.sqlite3")
    assert b'"request":"Lisbon"' in stored  # the dump sees inside promise values
    for secret in secrets:
        assert secret not in log
        assert secret.encode() not in stored
