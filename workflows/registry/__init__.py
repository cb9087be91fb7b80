"""The thread registry (`workflows.ports.ThreadRegistry`: its four parts
`TripDirectory`, `DeliveryMarks`, `Inbox`, `PostLedger`), twice.

- `SqliteThreadRegistry` (`sqlite_registry/`): one process; lives in the
  durable store's SQLite file.
- `RedisThreadRegistry` (`redis_registry/`): several processes; lives in
  Redis (Lua scripts for atomicity).

Each backend is a package with one module per part (`directory`, `marks`,
`inbox`, `ledger`) on a shared `store` (the connection or client); its store
class is the four together. Both pass the same contracts, one per part
(tests/registry/test_*_contract.py). Choices the Protocols leave open, made
the same way in both:

- `register_trip` fills created_at (and updated_at) from the clock when 0;
  it (re)points the thread mapping at the new trip.
- `update_trip` / `publish_waiter` on an unregistered trip raise
  UnknownTripError (a waiter nobody can find would strand the trip);
  `deliver` answers Delivery(False, None) and `claim_replies` [] instead.
- `claim_replies` does not clear the waiter: after a claim, `deliver` may
  return the already-resolved promise id (resolving it again is a no-op);
  the next `publish_waiter` reports the reply. `stranded_waiters` may list
  such a stale waiter; re-resolving it is equally harmless.
- An empty claim is remembered too: repeating it returns [] again.
- Both also keep the votes on plan versions (`workflows.feedback.FeedbackBook`,
  `feedback` modules; tests/registry/test_feedback_contract.py); `forget_trip`
  drops a trip's votes too.
- `forget_trip(trip_id)` drops ledger keys equal to trip_id or starting with
  trip_id + ":" or trip_id + "/" (LEDGER_SEPARATORS), nothing else.
- `first_time(key, ttl)`: ttl rounded up to whole seconds, at least 1; a
  missing/non-positive ttl uses the constructor's event_ttl_seconds (1 day).
"""

from workflows.registry._common import LEDGER_SEPARATORS, UnknownTripError
from workflows.registry.redis_registry import RedisThreadRegistry, open_redis_client
from workflows.registry.sqlite_registry import SqliteThreadRegistry

__all__ = [
    "LEDGER_SEPARATORS",
    "RedisThreadRegistry",
    "SqliteThreadRegistry",
    "UnknownTripError",
    "open_redis_client",
]
