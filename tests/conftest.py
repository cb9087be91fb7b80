"""Suite-wide pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testing.bot_process import CHANNEL
from testing.fakes.slack_api import FakeSlackWebAPI
from testing.postgres_server import EmbeddedPostgres, running_postgres, throwaway_database
from testing.redis_server import RedisServer, find_redis_server, start_redis_server


def _redis_server() -> RedisServer:
    if find_redis_server() is None:
        pytest.skip("redis-server not installed (set REDIS_SERVER_BIN)")
    return start_redis_server()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server for the session: share it through a key namespace of the test's own."""
    server = _redis_server()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    """`redis_server.url`, i.e. "redis://127.0.0.1:PORT/0"."""
    return redis_server.url


@pytest.fixture
def private_redis_server() -> Iterator[RedisServer]:
    """A server for one test alone: free to restart, stop or flush."""
    server = _redis_server()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A PostgreSQL that answers (which one: testing/postgres_server.py)."""
    with running_postgres() as url:
        yield url


@pytest.fixture
def postgres_db(postgres_server_url: str) -> Iterator[str]:
    """The URL of a database created for this test alone and dropped after it."""
    with throwaway_database(postgres_server_url) as url:
        yield url


@pytest.fixture
def private_postgres() -> Iterator[EmbeddedPostgres]:
    """A Postgres server of this test's own (it may restart or stop it)."""
    server = EmbeddedPostgres().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def slack() -> Iterator[FakeSlackWebAPI]:
    """A fake Slack Web API with the trips channel and two people, Ana and Ben."""
    api = FakeSlackWebAPI()
    api.add_channel(CHANNEL, name="trips")
    api.add_user("U0ANA", display_name="Ana")
    api.add_user("U0BEN", display_name="Ben")
    with api:
        yield api
