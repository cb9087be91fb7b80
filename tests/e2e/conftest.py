"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.bot_process import CHANNEL
from tests.fakes.slack_api import FakeSlackWebAPI


@pytest.fixture
def slack() -> Iterator[FakeSlackWebAPI]:
    """A fake Slack Web API with the trips channel and two people, Ana and Ben."""
    api = FakeSlackWebAPI()
    api.add_channel(CHANNEL, name="trips")
    api.add_user("U0ANA", display_name="Ana")
    api.add_user("U0BEN", display_name="Ben")
    with api:
        yield api
