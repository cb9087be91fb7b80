"""ThreadRegistry on Redis, shared by every process of a deployment.

Atomicity: every operation that reads and then writes is one Lua script
(Redis runs a script to completion before any other command), so `deliver`,
`publish_waiter` and `claim_replies` are serialised with each other across
all clients and processes. The two ledger writes are MULTI/EXEC blocks.
Reply and record *contents* are encoded in Python; the scripts only move
strings around (no cjson, so no float rounding or `[]` -> `{}` surprises).

Everything lives in Redis, under `{namespace}:`; this class keeps no state of
its own, so a Redis restart or another process changing the data can never
leave a stale copy here. Scripts are sent by SHA and re-loaded by redis-py
after a restart flushes the script cache (NOSCRIPT). What survives a Redis
restart is whatever the server persists: run it with AOF (`appendonly yes`)
in production, or a restart loses trips, inboxes and waiters.

Errors: when Redis is unreachable the redis-py exception
(`redis.exceptions.ConnectionError` / `TimeoutError`, after the client's own
retries) propagates unchanged from every method; callers log it. `ping()`
checks reachability up front. Build the client with `open_redis_client(url)`:
`Redis.from_url` alone gives connections *no* retries, so the first command
on each pooled connection after a Redis restart fails with "Connection closed
by server"; with retries it reconnects transparently. A retried command may
run twice if Redis executed it but the reply was lost: every script here is
safe to repeat (claim/publish/forget are idempotent; a repeated `deliver`
answers accepted=False but still returns the waiter, and resolving a waiter
twice is harmless; a repeated `revise` answers STALE with the waiter, a
repeated `withdraw` what the first one did; a repeated `register_trip`
answers False).

`revise` and `withdraw` find an unread reply in `pending` by the start of
its JSON (`reply_json_prefix`: the key is the first field), so the scripts
never decode JSON.

Keys (P = namespace + ":"). Trip ids and other keys are used verbatim after a
fixed prefix, so any string is safe. The scripts compute key names from P, so
this needs a single Redis (or a primary), not Redis Cluster.

    P trip:{id}      hash  TripRecord fields (str raw, floats repr, dicts JSON)
    P thread:{tk}    str   trip id
    P trips          zset  trip ids by created_at        (list_trips)
    P starter:{s}    zset  trip ids by created_at        (list_trips(starter))
    P waiter:{id}    str   the reply promise id the trip waits on
    P waiting        set   trip ids that have a waiter   (stranded_waiters)
    P seen:{id}      set   reply keys ever delivered      (dedupe)
    P pending:{id}   list  unclaimed replies, JSON, arrival order
    P claims:{id}    hash  claim_id -> JSON array of the replies it took
    P controls:{id}  set   keys delivered as controls (not answers: never amended)
    P edited:{id}    hash  answer key -> time of the last edit applied
    P corrections:{id} hash answer key -> JSON of its latest correction
    P withdrawn:{id} hash  answer key -> what its deletion did (a tombstone)
    P event:{key}    str   dedupe mark, with a TTL (SET NX EX)
    P posts          hash  ledger key -> JSON {"state", "ref"}
    P postkeys       zset  ledger keys, all score 0 (prefix range deletes)
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import BusyLoadingError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from workflows.ports import AmendOutcome, Amendment, Delivery, PostRecord, RegistryUnavailable, Reply, TripRecord
from workflows.registry._common import (
    DEFAULT_EVENT_TTL_SECONDS,
    DICT_FIELDS,
    FLOAT_FIELDS,
    RECORD_FIELDS,
    UnknownTripError,
    dumps,
    edit_version,
    event_ttl,
    ledger_ranges,
    normalise_record,
    normalise_update,
    reply_from_json,
    reply_json_prefix,
    reply_to_json,
)

logger = logging.getLogger(__name__)

# ARGV[1] is always the key prefix P. KEYS are unused: see the module docstring.

_REGISTER = """
local p, id = ARGV[1], ARGV[2]
local tk = p .. 'trip:' .. id
if redis.call('EXISTS', tk) == 1 then return 0 end
redis.call('HSET', tk, unpack(ARGV, 6))
redis.call('SET', p .. 'thread:' .. ARGV[3], id)
redis.call('ZADD', p .. 'trips', ARGV[5], id)
redis.call('ZADD', p .. 'starter:' .. ARGV[4], ARGV[5], id)
return 1
"""

# ARGV: p, id, thread_key?, new thread_key, starter?, new starter, created?, new created, f, v...
_UPDATE = """
local p, id = ARGV[1], ARGV[2]
local tk = p .. 'trip:' .. id
if redis.call('EXISTS', tk) == 0 then return 0 end
local old = redis.call('HMGET', tk, 'thread_key', 'starter', 'created_at')
if ARGV[3] == '1' then
  if old[1] and old[1] ~= ARGV[4] then
    local mk = p .. 'thread:' .. old[1]
    if redis.call('GET', mk) == id then redis.call('DEL', mk) end
  end
  redis.call('SET', p .. 'thread:' .. ARGV[4], id)
end
local starter = old[2] or ''
if ARGV[5] == '1' then
  if ARGV[6] ~= starter then redis.call('ZREM', p .. 'starter:' .. starter, id) end
  starter = ARGV[6]
end
local created = old[3] or '0'
if ARGV[7] == '1' then created = ARGV[8] end
if ARGV[5] == '1' or ARGV[7] == '1' then
  redis.call('ZADD', p .. 'trips', created, id)
  redis.call('ZADD', p .. 'starter:' .. starter, created, id)
end
redis.call('HSET', tk, unpack(ARGV, 9))
return 1
"""

_LIST = """
local p = ARGV[1]
local index = p .. 'trips'
if ARGV[2] == '1' then index = p .. 'starter:' .. ARGV[3] end
local ids = redis.call('ZREVRANGE', index, 0, -1)
local out = {}
for i, id in ipairs(ids) do out[i] = redis.call('HGETALL', p .. 'trip:' .. id) end
return out
"""

_FORGET = """
local p, id = ARGV[1], ARGV[2]
local tk = p .. 'trip:' .. id
local old = redis.call('HMGET', tk, 'thread_key', 'starter')
if old[1] then
  local mk = p .. 'thread:' .. old[1]
  if redis.call('GET', mk) == id then redis.call('DEL', mk) end
end
if old[2] then redis.call('ZREM', p .. 'starter:' .. old[2], id) end
redis.call('ZREM', p .. 'trips', id)
redis.call('SREM', p .. 'waiting', id)
redis.call('DEL', tk, p .. 'waiter:' .. id, p .. 'seen:' .. id, p .. 'pending:' .. id,
           p .. 'claims:' .. id, p .. 'controls:' .. id, p .. 'edited:' .. id,
           p .. 'corrections:' .. id, p .. 'withdrawn:' .. id)
local posts, postkeys = p .. 'posts', p .. 'postkeys'
redis.call('HDEL', posts, id)
redis.call('ZREM', postkeys, id)
for i = 3, #ARGV, 2 do
  local low, high = '[' .. ARGV[i], '(' .. ARGV[i + 1]
  local keys = redis.call('ZRANGEBYLEX', postkeys, low, high)
  for j = 1, #keys, 500 do
    redis.call('HDEL', posts, unpack(keys, j, math.min(j + 499, #keys)))
  end
  redis.call('ZREMRANGEBYLEX', postkeys, low, high)
end
return 1
"""

# ARGV: p, id, key, reply JSON, '1' for a control -> {accepted 0/1, waiter or ''}
# (a deleted key stays in seen: its tombstone keeps a re-delivery out)
_DELIVER = """
local p, id = ARGV[1], ARGV[2]
if redis.call('EXISTS', p .. 'trip:' .. id) == 0 then return {0, ''} end
local waiter = redis.call('GET', p .. 'waiter:' .. id) or ''
if redis.call('SADD', p .. 'seen:' .. id, ARGV[3]) == 0 then return {0, waiter} end
redis.call('RPUSH', p .. 'pending:' .. id, ARGV[4])
if ARGV[5] == '1' then redis.call('SADD', p .. 'controls:' .. id, ARGV[3]) end
return {1, waiter}
"""

# ARGV: p, id, key, edit time, revision JSON, correction key, correction JSON,
# JSON prefix of the key -> {outcome, waiter or ''}
_REVISE = """
local p, id, key = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', p .. 'trip:' .. id) == 0 then return {'ignored', ''} end
local waiter = redis.call('GET', p .. 'waiter:' .. id) or ''
if redis.call('HEXISTS', p .. 'withdrawn:' .. id, key) == 1 then return {'withdrawn', waiter} end
if redis.call('SISMEMBER', p .. 'seen:' .. id, key) == 0
   or redis.call('SISMEMBER', p .. 'controls:' .. id, key) == 1 then
  return {'ignored', waiter}
end
local ek = p .. 'edited:' .. id
local last = redis.call('HGET', ek, key)
if last and tonumber(last) >= tonumber(ARGV[4]) then return {'stale', waiter} end
local pk, prefix = p .. 'pending:' .. id, ARGV[8]
local items = redis.call('LRANGE', pk, 0, -1)
for i, item in ipairs(items) do
  if string.sub(item, 1, #prefix) == prefix then
    redis.call('LSET', pk, i - 1, ARGV[5])
    redis.call('HSET', ek, key, ARGV[4])
    return {'revised', waiter}
  end
end
if redis.call('SADD', p .. 'seen:' .. id, ARGV[6]) == 0 then return {'stale', waiter} end
redis.call('HSET', ek, key, ARGV[4])
local ck = p .. 'corrections:' .. id
local earlier = redis.call('HGET', ck, key)
redis.call('HSET', ck, key, ARGV[7])
if earlier then
  for i, item in ipairs(items) do
    if item == earlier then
      redis.call('LSET', pk, i - 1, ARGV[7])
      return {'corrected', waiter}
    end
  end
end
redis.call('RPUSH', pk, ARGV[7])
return {'corrected', waiter}
"""

# ARGV: p, id, key, JSON prefix of the key -> {outcome, waiter or ''}
_WITHDRAW = """
local p, id, key = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', p .. 'trip:' .. id) == 0 then return {'ignored', ''} end
local waiter = redis.call('GET', p .. 'waiter:' .. id) or ''
local wk = p .. 'withdrawn:' .. id
local done = redis.call('HGET', wk, key)
if done then return {done, waiter} end
if redis.call('SISMEMBER', p .. 'controls:' .. id, key) == 1 then return {'ignored', waiter} end
local outcome = 'withdrawn'
if redis.call('SADD', p .. 'seen:' .. id, key) == 0 then
  local pk, prefix = p .. 'pending:' .. id, ARGV[4]
  local unread = false
  for _, item in ipairs(redis.call('LRANGE', pk, 0, -1)) do
    if string.sub(item, 1, #prefix) == prefix then
      redis.call('LREM', pk, 1, item)
      unread = true
      break
    end
  end
  if not unread then
    outcome = 'read'
    local correction = redis.call('HGET', p .. 'corrections:' .. id, key)
    if correction then redis.call('LREM', pk, 1, correction) end
  end
end
redis.call('HSET', wk, key, outcome)
return {outcome, waiter}
"""

# -> -1 unknown trip, else 1 when unclaimed replies exist, 0 otherwise
_PUBLISH = """
local p, id = ARGV[1], ARGV[2]
if redis.call('EXISTS', p .. 'trip:' .. id) == 0 then return -1 end
redis.call('SET', p .. 'waiter:' .. id, ARGV[3])
redis.call('SADD', p .. 'waiting', id)
if redis.call('LLEN', p .. 'pending:' .. id) > 0 then return 1 end
return 0
"""

# -> JSON array of the replies this claim holds
_CLAIM = """
local p, id, claim = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', p .. 'trip:' .. id) == 0 then return '[]' end
local ck = p .. 'claims:' .. id
local done = redis.call('HGET', ck, claim)
if done then return done end
local pk = p .. 'pending:' .. id
local items = redis.call('LRANGE', pk, 0, -1)
local taken = '[' .. table.concat(items, ',') .. ']'
redis.call('HSET', ck, claim, taken)
redis.call('DEL', pk)
return taken
"""

_STRANDED = """
local p = ARGV[1]
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', p .. 'waiting')) do
  local waiter = redis.call('GET', p .. 'waiter:' .. id)
  if waiter and redis.call('LLEN', p .. 'pending:' .. id) > 0 then
    out[#out + 1] = id
    out[#out + 1] = waiter
  end
end
return out
"""


def open_redis_client(url: str, **overrides: Any) -> aioredis.Redis:
    """A client for the registry: bounded timeouts, retries that reconnect,
    and a pool that waits for a free connection instead of failing.

    - `Redis.from_url` alone gives connections no retries: after a Redis
      restart the first command on each pooled connection fails with
      "Connection closed by server". Here: 3 retries, ~0.05-1 s backoff.
    - The default pool raises MaxConnectionsError past 100 commands in flight
      (a burst of Slack events). Here: a BlockingConnectionPool of 50 that
      waits up to 5 s for a connection.

    Keyword arguments override any of these (and take any pool/connection
    option `BlockingConnectionPool.from_url` accepts, e.g. decode_responses).
    The client owns its pool: `await client.aclose()` closes both.
    """
    options: dict[str, Any] = {
        "max_connections": 50,
        "timeout": 5,
        "socket_connect_timeout": 5,
        "socket_timeout": 5,
        "health_check_interval": 30,
        "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), 3),
    }
    options.update(overrides)
    pool = aioredis.BlockingConnectionPool.from_url(url, **options)
    return aioredis.Redis.from_pool(pool)


def _text(value: Any) -> str:
    """Works with clients made with or without decode_responses=True."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _encode_field(name: str, value: Any) -> str:
    if name in FLOAT_FIELDS:
        return repr(float(value))
    if name in DICT_FIELDS:
        return dumps(value)
    return value


def _decode_record(raw: Any) -> TripRecord | None:
    """A TripRecord from HGETALL output (a dict, or a flat list from a script)."""
    if not raw:
        return None
    if isinstance(raw, dict):
        pairs = list(raw.items())
    else:
        pairs = list(zip(raw[0::2], raw[1::2], strict=True))
    data: dict[str, Any] = {}
    for key, value in pairs:
        name, text = _text(key), _text(value)
        if name in FLOAT_FIELDS:
            data[name] = float(text)
        elif name in DICT_FIELDS:
            data[name] = json.loads(text)
        elif name in RECORD_FIELDS:
            data[name] = text
    return TripRecord.from_dict(data)


def _flags(changes: dict[str, Any], name: str) -> list[str]:
    if name in changes:
        return ["1", _encode_field(name, changes[name])]
    return ["0", ""]


class RedisThreadRegistry:
    """`workflows.ports.ThreadRegistry` on a `redis.asyncio.Redis` client.

    `clock` stamps created_at/updated_at only; dedupe marks expire by the
    Redis server's own TTL clock.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        namespace: str = "tp",
        clock: Callable[[], float] = time.time,
        event_ttl_seconds: int = DEFAULT_EVENT_TTL_SECONDS,
    ) -> None:
        if not namespace:
            raise ValueError("namespace must not be empty")
        self._r = client
        self._p = namespace + ":"
        self._clock = clock
        self._event_ttl_seconds = event_ttl_seconds
        reg = client.register_script
        self._register = reg(_REGISTER)
        self._update = reg(_UPDATE)
        self._list = reg(_LIST)
        self._forget = reg(_FORGET)
        self._deliver = reg(_DELIVER)
        self._revise = reg(_REVISE)
        self._withdraw = reg(_WITHDRAW)
        self._publish = reg(_PUBLISH)
        self._claim = reg(_CLAIM)
        self._stranded = reg(_STRANDED)

    @property
    def namespace(self) -> str:
        return self._p[:-1]

    async def ping(self) -> None:
        """Raise the redis-py ConnectionError/TimeoutError if Redis is unreachable."""
        await self._r.ping()

    # -- trips ------------------------------------------------------------

    async def register_trip(self, record: TripRecord) -> bool:
        rec = normalise_record(record, self._clock())
        pairs: list[str] = []
        for name in RECORD_FIELDS:
            pairs += [name, _encode_field(name, getattr(rec, name))]
        created = repr(rec.created_at)
        args = [self._p, rec.trip_id, rec.thread_key, rec.starter, created, *pairs]
        return bool(await self._register(args=args))

    async def get_trip(self, trip_id: str) -> TripRecord | None:
        return _decode_record(await self._r.hgetall(self._p + "trip:" + trip_id))

    async def trip_for_thread(self, thread_key: str) -> str | None:
        value = await self._r.get(self._p + "thread:" + thread_key)
        return None if value is None else _text(value)

    async def update_trip(self, trip_id: str, **fields: Any) -> None:
        """Set the given TripRecord fields; updated_at becomes clock() unless given.

        Raises ValueError/TypeError for fields a TripRecord does not have (or
        `trip_id`) or values of the wrong type, UnknownTripError for a trip
        that is not registered. Values replace whole fields (`usage` is
        replaced, not merged). Changing `thread_key` moves the thread mapping.
        """
        changes = normalise_update(fields, self._clock())
        pairs: list[str] = []
        for name, value in changes.items():
            pairs += [name, _encode_field(name, value)]
        args = [
            self._p,
            trip_id,
            *_flags(changes, "thread_key"),
            *_flags(changes, "starter"),
            *_flags(changes, "created_at"),
            *pairs,
        ]
        if not await self._update(args=args):
            raise UnknownTripError(trip_id)

    async def list_trips(self, starter: str | None = None) -> list[TripRecord]:
        """Newest first (created_at, then trip_id, descending)."""
        args = [self._p, "0", ""] if starter is None else [self._p, "1", starter]
        rows = await self._list(args=args)
        return [rec for rec in map(_decode_record, rows) if rec is not None]

    async def forget_trip(self, trip_id: str) -> None:
        """Drop the trip, its thread mapping, inbox, claims, waiter and ledger keys.

        Ledger keys dropped: `trip_id` itself and every key starting with
        `trip_id + ":"` or `trip_id + "/"` (see LEDGER_SEPARATORS).
        """
        ranges = [bound for pair in ledger_ranges(trip_id) for bound in pair]
        await self._forget(args=[self._p, trip_id, *ranges])

    # -- dedupe marks -----------------------------------------------------

    async def mark_event(self, key: str, ttl_seconds: int | None = None) -> bool:
        """True the first time `key` is seen within `ttl_seconds` (SET NX EX)."""
        ttl = event_ttl(ttl_seconds, self._event_ttl_seconds)
        return bool(await self._r.set(self._p + "event:" + key, b"1", nx=True, ex=ttl))

    # -- inbox ------------------------------------------------------------

    async def deliver(self, trip_id: str, reply: Reply) -> Delivery:
        control = "0" if reply.kind == "message" else "1"
        accepted, waiter = await self._deliver(
            args=[self._p, trip_id, reply.key, reply_to_json(reply), control]
        )
        waiter_text = _text(waiter)
        return Delivery(accepted=bool(accepted), waiter=waiter_text or None)

    async def revise(self, trip_id: str, revision: Reply, correction: Reply) -> Amendment:
        version = edit_version(revision, correction)
        outcome, waiter = await self._revise(
            args=[
                self._p,
                trip_id,
                revision.key,
                repr(version),
                reply_to_json(revision),
                correction.key,
                reply_to_json(correction),
                reply_json_prefix(revision.key),
            ]
        )
        return Amendment(AmendOutcome(_text(outcome)), _text(waiter) or None)

    async def withdraw(self, trip_id: str, key: str) -> Amendment:
        outcome, waiter = await self._withdraw(args=[self._p, trip_id, key, reply_json_prefix(key)])
        return Amendment(AmendOutcome(_text(outcome)), _text(waiter) or None)

    async def publish_waiter(self, trip_id: str, promise_id: str) -> bool:
        if not promise_id:
            raise ValueError("promise_id must not be empty")
        outcome = await self._publish(args=[self._p, trip_id, promise_id])
        if outcome < 0:
            raise UnknownTripError(trip_id)
        return outcome == 1

    async def claim_replies(self, trip_id: str, claim_id: str) -> list[Reply]:
        taken = await self._claim(args=[self._p, trip_id, claim_id])
        return [Reply.from_dict(item) for item in json.loads(taken)]

    async def unclaimed_replies(self, trip_id: str) -> list[Reply]:
        raw = await self._r.lrange(f"{self._p}pending:{trip_id}", 0, -1)
        return [reply_from_json(_text(item)) for item in raw]

    async def stranded_waiters(self) -> list[tuple[str, str]]:
        flat: Sequence[Any] = await self._stranded(args=[self._p])
        pairs = [(_text(a), _text(b)) for a, b in zip(flat[0::2], flat[1::2], strict=True)]
        return sorted(pairs)

    # -- posting ledger ---------------------------------------------------

    async def post_record(self, key: str) -> PostRecord | None:
        raw = await self._r.hget(self._p + "posts", key)
        if raw is None:
            return None
        data = json.loads(raw)
        return PostRecord(state=str(data["state"]), ref=str(data.get("ref", "")))

    async def record_post_intent(self, key: str) -> None:
        """Mark `key` as "intent" unless it is recorded already (never downgrades "done")."""
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hsetnx(self._p + "posts", key, dumps({"state": "intent", "ref": ""}))
            pipe.zadd(self._p + "postkeys", {key: 0})
            await pipe.execute()

    async def record_post_done(self, key: str, ref: str) -> None:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(self._p + "posts", key, dumps({"state": "done", "ref": ref}))
            pipe.zadd(self._p + "postkeys", {key: 0})
            await pipe.execute()


def _unavailable_means_retry(method: Any) -> Any:
    """Turn "Redis is not answering" into the port's RegistryUnavailable,
    logged once here with where and why, so every caller can retry it."""

    @functools.wraps(method)
    async def call(self: RedisThreadRegistry, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, *args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError, BusyLoadingError) as exc:
            logger.error("Redis is unavailable during %s (%s: %s)", method.__name__, type(exc).__name__, exc)
            raise RegistryUnavailable(f"Redis unavailable during {method.__name__}: {type(exc).__name__}") from exc

    return call


for _name in (
    "register_trip", "get_trip", "trip_for_thread", "update_trip", "list_trips", "forget_trip",
    "mark_event", "deliver", "revise", "withdraw", "publish_waiter", "claim_replies", "unclaimed_replies",
    "stranded_waiters", "post_record", "record_post_intent", "record_post_done",
):
    setattr(RedisThreadRegistry, _name, _unavailable_means_retry(getattr(RedisThreadRegistry, _name)))
