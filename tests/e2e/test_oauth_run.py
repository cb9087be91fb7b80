"""A real `travel-planner run` that installs through OAuth: installed in a
workspace at /slack/install, it plans there with that workspace's token,
and after a restart it still knows the installation (SQLite beside the
state)."""

from __future__ import annotations

from testing.bot_process import SIGNING_SECRET, BotProcess, bot_env, thread_questions
from testing.loopback import free_port
from testing.research_fakes import research_fakes
from testing.fakes.scenario import QUESTIONS, lisbon_script
from testing.fakes.slack_api import FakeSlackWebAPI
from testing.fakes.slack_requests import send_signed, slash_command
from testing.waiting import poll_until
from testing.fakes.slack_install import install_app


def test_run_installs_through_oauth_and_keeps_the_installation_across_a_restart(tmp_path) -> None:
    with FakeSlackWebAPI() as api, research_fakes(lisbon_script) as (llm, serper, site):
        api.add_channel("C0TWO", name="trips", team="T0002")
        env = bot_env(api, llm, serper, tmp_path / "state", free_port())
        del env["SLACK_BOT_TOKEN"]
        env.update(SLACK_CLIENT_ID=api.client_id, SLACK_CLIENT_SECRET=api.client_secret,
                   SLACK_STATE_SECRET="state-secret-for-the-test")
        bot = BotProcess(env, tmp_path / "bot.log")
        try:
            install_app(f"http://127.0.0.1:{bot.port}", api, "T0002")
            bot.kill()  # SIGKILL: the installation was saved before the success page
            bot = BotProcess(env, tmp_path / "bot.log")
            status, _, _ = send_signed(
                bot.events_url, slash_command("Lisbon in May", team_id="T0002", channel_id="C0TWO"),
                signing_secret=SIGNING_SECRET,
            )
            assert status == 200
            root = poll_until(lambda: [m for m in api.posts("C0TWO") if not m.get("thread_ts")], 30)[0]["ts"]
            questions = poll_until(lambda: thread_questions(api, "C0TWO", root), 30)
        finally:
            bot.stop()
    assert QUESTIONS[0] in questions[0]
    token = api.workspace("T0002").token
    used = {c.headers.get("authorization") for c in api.calls
            if c.method in ("chat.postMessage", "conversations.join") and c.params.get("channel") == "C0TWO"}
    assert used == {f"Bearer {token}"}
    assert (tmp_path / "state" / "slack-installations.sqlite3").exists()
