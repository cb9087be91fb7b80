"""Suite-wide pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

# A real redis-server for tests: `redis_server`, `redis_url`, `private_redis_server`.
from tests.redis_server import private_redis_server, redis_server, redis_url  # noqa: F401
# A real PostgreSQL and a throwaway database per test: `postgres_server_url`, `postgres_db`.
from tests.postgres_server import postgres_db, postgres_server_url, private_postgres  # noqa: F401
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
