"""Suite-wide pytest fixtures."""

# A real redis-server for tests: `redis_server`, `redis_url`, `private_redis_server`.
from tests.redis_server import private_redis_server, redis_server, redis_url  # noqa: F401
# A real PostgreSQL and a throwaway database per test: `postgres_server_url`, `postgres_db`.
from tests.postgres_server import postgres_db, postgres_server_url  # noqa: F401,E402
