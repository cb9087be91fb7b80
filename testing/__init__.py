"""Test support shared by tests/, reliability/ and benchmarks/, owned by none
of them (each imports it; it imports none of them).

- `fakes/`: loopback fakes of what the product talks to (Slack, the LLM,
  search, pages) and in-process rigs built on them.
- `loopback`: a free port, and the one HTTP server every fake serves from.
- `bot_process`: a real `travel-planner run | web | worker` process, and a
  Slack player that drives it.
- `cluster`: `web` + N `worker` processes on Postgres and Redis.
- `research_fakes`: the LLM, search and pages fakes together, and the
  environment pointing the planner at them.
- `redis_server`, `postgres_server`: real servers of a test's or a run's own.
- `memory_registry`: the real SQLite registry, in memory.
- `clock.ManualClock`, `waiting` (conditions with deadlines), `loop.LoopThread`.
"""
