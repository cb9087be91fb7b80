"""The registry on Redis, shared by every process of a deployment.

`RedisThreadRegistry` is the four parts on one client (`store.py`: the
client, the namespace, the scripts, outages):

- `directory.py` (`TripDirectory`), `marks.py` (`DeliveryMarks`),
  `inbox.py` (`Inbox`), `ledger.py` (`PostLedger`);
- `scripts.py`: the Lua scripts.

Atomicity: every operation that reads and then writes is one Lua script, so
`deliver`, `publish_waiter` and `claim_replies` are serialised with each
other across all clients and processes. The two ledger writes are
MULTI/EXEC blocks. Reply and record *contents* are encoded in Python; the
scripts only move strings around.

Everything lives in Redis, under `{namespace}:`; these classes keep no state
of their own, so a Redis restart or another process changing the data can
never leave a stale copy here. Scripts are sent by SHA and re-loaded by
redis-py after a restart flushes the script cache (NOSCRIPT). What survives
a Redis restart is whatever the server persists: run it with AOF
(`appendonly yes`) in production, or a restart loses trips, inboxes and
waiters.

Errors: when Redis is unreachable (redis-py's ConnectionError, TimeoutError
or BusyLoadingError, after the client's own retries), every registry
operation logs it once and raises `workflows.ports.RegistryUnavailable`
(the redis-py error chained as its cause), so callers can retry;
`ping()` alone lets the redis-py error through, to check reachability up
front. A retried command may run twice if Redis executed it but the reply
was lost: every operation is safe to repeat (claim/publish/forget are
idempotent; a repeated `deliver` answers accepted=False but still returns
the waiter, and resolving a waiter twice is harmless; a repeated `revise`
answers STALE with the waiter, a repeated `withdraw` what the first one did;
a repeated `register_trip` answers False).

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
    P feedback:{id}  hash  "{version}:{user}" -> positive | negative (FeedbackBook)
    P posts          hash  ledger key -> JSON {"state", "ref"}
    P postkeys       zset  ledger keys, all score 0 (prefix range deletes)
"""

from workflows.registry.redis_registry.directory import RedisTripDirectory
from workflows.registry.redis_registry.feedback import RedisFeedbackBook
from workflows.registry.redis_registry.inbox import RedisInbox
from workflows.registry.redis_registry.ledger import RedisPostLedger
from workflows.registry.redis_registry.marks import RedisDeliveryMarks
from workflows.registry.redis_registry.store import open_redis_client


class RedisThreadRegistry(RedisTripDirectory, RedisDeliveryMarks, RedisInbox, RedisPostLedger, RedisFeedbackBook):
    """`workflows.ports.ThreadRegistry` (all four parts) on a `redis.asyncio.Redis` client,
    and the `FeedbackBook`."""


__all__ = ["RedisThreadRegistry", "open_redis_client"]
