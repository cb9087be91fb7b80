"""`TripDirectory` on Redis: trip hashes, the thread map, the created_at indexes."""

from __future__ import annotations

import json
from typing import Any

from workflows.ports import TripRecord
from workflows.registry._common import (
    DICT_FIELDS,
    FLOAT_FIELDS,
    INT_FIELDS,
    RECORD_FIELDS,
    UnknownTripError,
    dumps,
    ledger_ranges,
    normalise_record,
    normalise_update,
)
from workflows.registry.redis_registry.store import RedisStore, outages_as_unavailable, text_of


def _encode_field(name: str, value: Any) -> str:
    if name in FLOAT_FIELDS:
        return repr(float(value))
    if name in DICT_FIELDS:
        return dumps(value)
    if name in INT_FIELDS:
        return str(int(value))
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
        name, text = text_of(key), text_of(value)
        if name in FLOAT_FIELDS:
            data[name] = float(text)
        elif name in DICT_FIELDS:
            data[name] = json.loads(text)
        elif name in INT_FIELDS:
            data[name] = int(text)
        elif name in RECORD_FIELDS:
            data[name] = text
    return TripRecord.from_dict(data)


def _flags(changes: dict[str, Any], name: str) -> list[str]:
    if name in changes:
        return ["1", _encode_field(name, changes[name])]
    return ["0", ""]



class RedisTripDirectory(RedisStore):
    """Trips and their threads; `forget_trip` clears every part's keys."""

    async def register_trip(self, record: TripRecord) -> bool:
        with outages_as_unavailable("register_trip"):
            rec = normalise_record(record, self._clock())
            pairs: list[str] = []
            for name in RECORD_FIELDS:
                pairs += [name, _encode_field(name, getattr(rec, name))]
            created = repr(rec.created_at)
            args = [self._p, rec.trip_id, rec.thread_key, rec.starter, created, *pairs]
            return bool(await self._register(args=args))

    async def get_trip(self, trip_id: str) -> TripRecord | None:
        with outages_as_unavailable("get_trip"):
            return _decode_record(await self._r.hgetall(self._p + "trip:" + trip_id))

    async def trip_for_thread(self, thread_key: str) -> str | None:
        with outages_as_unavailable("trip_for_thread"):
            value = await self._r.get(self._p + "thread:" + thread_key)
            return None if value is None else text_of(value)

    async def update_trip(self, trip_id: str, **fields: Any) -> None:
        """Set the given TripRecord fields; updated_at becomes clock() unless given.

        Raises ValueError/TypeError for fields a TripRecord does not have (or
        `trip_id`) or values of the wrong type, UnknownTripError for a trip
        that is not registered. Values replace whole fields (`usage` is
        replaced, not merged). Changing `thread_key` moves the thread mapping.
        """
        with outages_as_unavailable("update_trip"):
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
        with outages_as_unavailable("list_trips"):
            args = [self._p, "0", ""] if starter is None else [self._p, "1", starter]
            rows = await self._list(args=args)
            return [rec for rec in map(_decode_record, rows) if rec is not None]

    async def forget_trip(self, trip_id: str) -> None:
        """Drop the trip, its thread mapping, inbox, claims, waiter and ledger keys.

        Ledger keys dropped: `trip_id` itself and every key starting with
        `trip_id + ":"` or `trip_id + "/"` (see LEDGER_SEPARATORS).
        """
        with outages_as_unavailable("forget_trip"):
            ranges = [bound for pair in ledger_ranges(trip_id) for bound in pair]
            await self._forget(args=[self._p, trip_id, *ranges])
