"""Suite-wide pytest fixtures."""

# A real redis-server for tests: `redis_server`, `redis_url`, `private_redis_server`.
from tests.redis_server import private_redis_server, redis_server, redis_url  # noqa: F401
