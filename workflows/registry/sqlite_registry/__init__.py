"""The registry on SQLite, in the same database file as the durable store.

One process, one event loop. `SqliteThreadRegistry` is the four parts on one
caller-owned connection (transactions and savepoints: `store.py`):

- `directory.py` (`TripDirectory`)
    `registry_trips`    one row per trip: indexed columns + the whole record
                        as JSON, and the current waiter (the reply promise id).
    `registry_threads`  thread_key -> trip_id.
- `marks.py` (`DeliveryMarks`)
    `registry_events`   dedupe marks with an absolute expiry (by the injected
                        clock); expired rows count as absent and are purged as
                        we go.
- `inbox.py` (`Inbox`)
    `registry_inbox`    every reply ever delivered to a trip, in arrival order
                        (`seq`), with the claim that took it (NULL = unclaimed).
                        Rows stay until `forget_trip`, so they also dedupe
                        (UNIQUE (trip_id, reply_key)).
    `registry_claims`   (trip_id, claim_id) made so far, so that repeating a
                        claim (even one that took nothing) returns the same
                        replies.
    `registry_amendments` per answer that was edited or deleted: the time of
                        the last edit applied, the key of its correction, and,
                        once deleted, the tombstone (what the deletion did)
                        that keeps a late re-delivery out.
- `feedback.py` (`workflows.feedback.FeedbackBook`)
    `registry_feedback` one vote per (trip, plan version, person).
- `ledger.py` (`PostLedger`)
    `registry_posts`    the posting ledger: key -> ("intent" | "done", ref).

All tables are prefixed `registry_` and created if missing.
"""

from workflows.registry.sqlite_registry.directory import SqliteTripDirectory
from workflows.registry.sqlite_registry.feedback import SqliteFeedbackBook
from workflows.registry.sqlite_registry.inbox import SqliteInbox
from workflows.registry.sqlite_registry.ledger import SqlitePostLedger
from workflows.registry.sqlite_registry.marks import SqliteDeliveryMarks


class SqliteThreadRegistry(SqliteTripDirectory, SqliteDeliveryMarks, SqliteInbox, SqlitePostLedger, SqliteFeedbackBook):
    """`workflows.ports.ThreadRegistry` (all four parts) on one sqlite3 connection,
    and the `FeedbackBook`."""


__all__ = ["SqliteThreadRegistry"]
