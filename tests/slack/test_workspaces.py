"""Every workspace its own token.

- One `SLACK_BOT_TOKEN`: a request signed for our app but from another team
  is acked, logged and ignored; the token is never used for it.
- OAuth: people install at /slack/install, Slack sends them back to
  /slack/oauth_redirect, Bolt saves the workspace's token; every call for a
  trip uses its team's token. Uninstalling deletes the installation and
  stops that team's trips without a word (the token is gone), while other
  workspaces go on.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.bot_process import SIGNING_SECRET, thread_questions
from testing.research_fakes import research_env, research_fakes
from testing.fakes.scenario import QUESTIONS, lisbon_script
from testing.fakes.slack_api import FakeSlackWebAPI
from testing.fakes.slack_bot import RunningSlackBot
from testing.fakes.slack_install import install_app
from testing.fakes.slack_requests import (
    app_mention,
    event_envelope,
    json_body,
    send_signed,
    slash_command,
    thread_reply,
)
from testing.waiting import poll_until
from tests.slack.planner_harness import SlackPlanner, slack_planner


# -- one token ----------------------------------------------------------------


def test_one_token_never_serves_another_workspace(bot: RunningSlackBot, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        status, body, elapsed = send_signed(
            bot.events_url, slash_command("Oslo", team_id="T0OTHER", channel_id="C0THEIRS")
        )
        assert status == 200 and body == "" and elapsed < 0.5
        mention = app_mention("C0THEIRS", "<@UBOT0001> Rome in June", team="T0OTHER")
        status, _, _ = send_signed(bot.events_url, json_body(event_envelope(mention, team_id="T0OTHER")))
        assert status == 200
        # ours still works, after them
        send_signed(bot.events_url, slash_command("Lisbon", channel_id="C0OURS"))
        bot.wait_for(lambda: bot.trips.started)
    assert [t.request for t in bot.trips.started] == ["Lisbon"]
    assert "ignored a request from workspace T0OTHER" in caplog.text
    theirs = [c for c in bot.api.calls if c.params.get("channel") == "C0THEIRS"]
    assert theirs == []  # our token was never used for them


# -- OAuth ----------------------------------------------------------------------


def _command(sp: SlackPlanner, team: str, channel: str, text: str) -> str:
    status, _, _ = send_signed(
        sp.events_url, slash_command(text, team_id=team, channel_id=channel, user_id="U0ANA"),
        signing_secret=SIGNING_SECRET,
    )
    assert status == 200
    roots = poll_until(lambda: [m for m in sp.api.posts(channel) if not m.get("thread_ts")], 20)
    return str(roots[0]["ts"])


def _reply(sp: SlackPlanner, team: str, channel: str, root: str, text: str) -> None:
    event = thread_reply(channel, root, text, user="U0ANA", team=team)
    status, _, _ = send_signed(sp.events_url, json.dumps(event_envelope(event, team_id=team)),
                               signing_secret=SIGNING_SECRET)
    assert status == 200


def _tokens_used(api: FakeSlackWebAPI, channel: str) -> set[str]:
    return {c.headers.get("authorization", "").removeprefix("Bearer ") for c in api.calls
            if c.params.get("channel") == channel or c.params.get("channel_id") == channel}


@contextlib.contextmanager
def two_workspaces(tmp_path: Path) -> Iterator[tuple[FakeSlackWebAPI, SlackPlanner]]:
    """A planner that installs through OAuth; workspaces T0002 and T0003 with a channel each."""
    with FakeSlackWebAPI() as api, research_fakes(lisbon_script) as (llm, serper, site):
        api.add_channel("C0TWO", name="trips", team="T0002")
        api.add_channel("C0THREE", name="trips", team="T0003")
        with slack_planner(api, research_env(llm, serper, tmp_path), oauth=True) as sp:
            api.deliver_events_to(sp.events_url, SIGNING_SECRET)
            yield api, sp


def test_installs_through_oauth_and_each_workspace_uses_its_own_token(tmp_path) -> None:
    with two_workspaces(tmp_path) as (api, sp):
        # not installed anywhere yet: a command is acked and ignored
        send_signed(sp.events_url, slash_command("too early", team_id="T0002", channel_id="C0TWO"),
                    signing_secret=SIGNING_SECRET)
        install_app(sp.base_url, api, "T0002")
        install_app(sp.base_url, api, "T0003")
        two, three = api.workspace("T0002"), api.workspace("T0003")
        assert two is not None and three is not None and two.token != three.token

        roots = {"C0TWO": _command(sp, "T0002", "C0TWO", "Lisbon in May"),
                 "C0THREE": _command(sp, "T0003", "C0THREE", "Lisbon in June")}
        teams = {"C0TWO": "T0002", "C0THREE": "T0003"}
        for n, answer in enumerate(("May 1-4", "2000 EUR", "vegetarian"), start=1):
            for channel, root in roots.items():
                poll_until(lambda: len(thread_questions(api, channel, root)) >= n, 20)
                _reply(sp, teams[channel], channel, root, answer)
        outcomes = {c: sp.outcome(r, team=teams[c], channel=c) for c, r in roots.items()}

    assert [m["text"] for m in api.posts("C0TWO") if "too early" in m["text"]] == []
    assert {o["status"] for o in outcomes.values()} == {"done"}
    assert QUESTIONS[0] in thread_questions(api, "C0TWO", roots["C0TWO"])[0]
    assert _tokens_used(api, "C0TWO") == {two.token}  # every call for a trip: its team's token
    assert _tokens_used(api, "C0THREE") == {three.token}
    assert api.posts("C0TWO")[0]["bot_id"] == two.bot_id


def test_uninstalling_deletes_the_installation_and_stops_that_teams_trips_silently(tmp_path) -> None:
    with two_workspaces(tmp_path) as (api, sp):
        install_app(sp.base_url, api, "T0002")
        install_app(sp.base_url, api, "T0003")
        two_root = _command(sp, "T0002", "C0TWO", "Lisbon in May")
        three_root = _command(sp, "T0003", "C0THREE", "Lisbon in June")
        poll_until(lambda: thread_questions(api, "C0TWO", two_root) and thread_questions(api, "C0THREE", three_root), 20)
        posts_before = len(api.posts("C0TWO"))
        calls_before = len(api.calls)

        api.uninstall("T0002")  # Slack sends tokens_revoked and app_uninstalled
        outcome = sp.outcome(two_root, team="T0002", channel="C0TWO")
        record = sp.trip(two_root, team="T0002", channel="C0TWO")
        assert sp.run(sp.workspaces.find("T0002")) is None  # the installation is gone
        # a late reply from the uninstalled team is acked and ignored
        _reply(sp, "T0002", "C0TWO", two_root, "May 1-4")
        # the other workspace goes on
        _reply(sp, "T0003", "C0THREE", three_root, "June 1-4")
        poll_until(lambda: len(thread_questions(api, "C0THREE", three_root)) >= 2, 20)

    assert outcome["status"] == "stopped" and record.state == "cancelled"
    assert len(api.posts("C0TWO")) == posts_before  # nobody was told: the token is gone
    used_after = {c.headers.get("authorization", "") for c in api.calls[calls_before:]}
    assert f"Bearer {api.workspace('T0003').token}" in used_after
    assert not [c for c in api.calls[calls_before:] if c.status == 200 and c.response
                and c.response.get("error") == "token_revoked" and c.params.get("channel") == "C0TWO"
                and c.method == "chat.postMessage"]
    statuses = [outcome for envelope, outcome in api.delivered_events
                if envelope["event"]["type"] in ("app_uninstalled", "tokens_revoked")]
    assert statuses == ["200", "200"]
