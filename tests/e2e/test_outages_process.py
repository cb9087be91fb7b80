"""Outages against a real `travel-planner run`: Slack answering 429 for a
while, and the disk holding the embedded state filling up or turning
read-only (fail-stop, then a clean restart)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path


from testing.bot_process import (
    CHANNEL,
    DEADLINE,
    SIGNING_SECRET,
    BotProcess,
    SlackPlayer,
    bot_env,
    duplicate_posts,
    running_bot,
)
from testing.loopback import free_port
from testing.research_fakes import research_fakes
from testing.fakes.scenario import QUESTIONS, lisbon_script
from testing.fakes.slack_requests import event_envelope, send_signed, thread_reply

EXPECTED = "[Ana] May 1-4 | [Ana] 2000 EUR | [Ana] vegetarian"


def _plans(player: SlackPlayer, root_ts: str) -> list[dict]:
    return [m for m in player.thread(root_ts) if "Lisbon trip" in m["text"]]


def test_slack_answering_429_for_a_while_delays_posts_but_posts_once(slack, tmp_path):
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = bot_env(slack, llm, serper, tmp_path / "state", free_port())
        with running_bot(env, tmp_path / "bot.log") as bot:
            player = SlackPlayer(slack, bot.events_url)
            root_ts = player.plan_trip("Lisbon in May, 4 people")["ts"]
            player.wait_questions(root_ts, 1)
            slack.fail("chat.postMessage", status=429, times=6, retry_after=1)  # Slack throttles us
            started = time.monotonic()
            player.reply(root_ts, "May 1-4", "U0ANA")
            player.wait_questions(root_ts, 2)
            delayed = time.monotonic() - started
            player.reply(root_ts, "2000 EUR", "U0ANA")
            player.wait_questions(root_ts, 3)
            player.reply(root_ts, "vegetarian", "U0ANA")
            slack.wait_for(lambda: _plans(player, root_ts), timeout=DEADLINE)

    throttled = [c for c in slack.calls_to("chat.postMessage") if c.status == 429]
    assert len(throttled) == 6 and delayed >= 5  # every 429 was waited out (Retry-After: 1)
    assert duplicate_posts(slack) == []
    assert player.questions(root_ts) == [q for q in player.questions(root_ts) if q] and len(player.questions(root_ts)) == 3
    assert len(_plans(player, root_ts)) == 1 and EXPECTED in _plans(player, root_ts)[0]["text"]


@contextlib.contextmanager
def small_disk(path: Path, size: str = "2m"):
    """A real filesystem of its own for the state directory (tmpfs)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True, check=False)
    return filler


def test_when_the_state_disk_fills_up_the_bot_stops_cleanly_and_resumes_intact(slack, tmp_path):
    with small_disk(tmp_path / "disk") as disk, research_fakes(lisbon_script) as (llm, serper, site):
        env = bot_env(slack, llm, serper, disk / "state", free_port())
        log = tmp_path / "bot.log"
        bot = BotProcess(env, log)
        player = SlackPlayer(slack, bot.events_url)
        root_ts = player.plan_trip("Lisbon in May, 4 people")["ts"]
        player.wait_questions(root_ts, 1)

        filler = _fill(disk)
        # Someone answers; storing the answer fails, so Slack hears no "ok"...
        answer = json.dumps(event_envelope(thread_reply(CHANNEL, root_ts, "May 1-4", user="U0ANA")))
        try:
            first = send_signed(bot.events_url, answer, signing_secret=SIGNING_SECRET)[0]
        except OSError:  # the bot stopped while answering: no "ok" either
            first = 0
        assert first != 200
        assert bot.wait_exit() == 75, log.read_text()[-2000:]  # it stops by itself on a full disk
        text = log.read_text()
        assert "the durable state could not be written" in text and "TRAVEL_PLANNER_STATE_DIR" in text

        filler.unlink()  # the operator frees space and restarts
        with running_bot(env, log) as bot:
            player.events_url = bot.events_url
            # ...so Slack delivers the same event again (X-Slack-Retry-Num).
            assert send_signed(bot.events_url, answer, signing_secret=SIGNING_SECRET, retry_num=1)[0] == 200
            for i, reply in ((2, "2000 EUR"), (3, "vegetarian")):
                player.wait_questions(root_ts, i)
                player.reply(root_ts, reply, "U0ANA")
            slack.wait_for(lambda: _plans(player, root_ts), timeout=DEADLINE)

    _assert_clean_finish(slack, llm, player, root_ts)


def test_a_read_only_state_disk_is_refused_clearly_and_nothing_is_lost(slack, tmp_path):
    with small_disk(tmp_path / "disk") as disk, research_fakes(lisbon_script) as (llm, serper, site):
        env = bot_env(slack, llm, serper, disk / "state", free_port())
        log = tmp_path / "bot.log"
        with running_bot(env, log) as bot:
            player = SlackPlayer(slack, bot.events_url)
            root_ts = player.plan_trip("Lisbon in May, 4 people")["ts"]
            player.wait_questions(root_ts, 1)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)  # a redeploy on a read-only volume
        result = subprocess.run(
            [sys.executable, "-m", "travel_planner.cli", "run"], env={**os.environ, **env},
            capture_output=True, text=True, timeout=60,
        )
        assert result.returncode == 75, result.stderr[-2000:]
        assert "cannot be used" in result.stderr and "TRAVEL_PLANNER_STATE_DIR" in result.stderr
        subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
        with running_bot(env, log) as bot:
            player.events_url = bot.events_url
            for i, reply in ((1, "May 1-4"), (2, "2000 EUR"), (3, "vegetarian")):
                player.wait_questions(root_ts, i)
                player.reply(root_ts, reply, "U0ANA")
            slack.wait_for(lambda: _plans(player, root_ts), timeout=DEADLINE)

    _assert_clean_finish(slack, llm, player, root_ts)


def _assert_clean_finish(slack, llm, player, root_ts) -> None:  # type: ignore[no-untyped-def]
    questions = player.questions(root_ts)
    assert len(questions) == 3 and all(QUESTIONS[i] in questions[i] for i in range(3))
    assert duplicate_posts(slack) == []
    assert llm.repeated_answers() == []
    plans = _plans(player, root_ts)
    assert len(plans) == 1 and EXPECTED in plans[0]["text"]
