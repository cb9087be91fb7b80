"""Fixtures for the Slack edge tests: a fake Slack API and the running bot."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testing.loop import LoopThread
from tests.slack.chat_rig import Chat, make_chat
from testing.fakes.slack_api import FakeSlackWebAPI
from testing.fakes.slack_bot import RunningSlackBot, start_slack_bot


@pytest.fixture
def api() -> Iterator[FakeSlackWebAPI]:
    fake = FakeSlackWebAPI().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def bot(api: FakeSlackWebAPI) -> Iterator[RunningSlackBot]:
    with start_slack_bot(api) as running:
        yield running


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    with LoopThread() as running:
        yield running


@pytest.fixture
def chat(api: FakeSlackWebAPI, loop: LoopThread) -> Iterator[Chat]:
    c = make_chat(api, loop)
    yield c
    loop.run(c.port.aclose())
