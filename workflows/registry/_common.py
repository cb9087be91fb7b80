"""Pieces both registry implementations share: validation and encodings."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import fields as dataclass_fields
from typing import Any

from workflows.ports import TRIP_STATES, Reply, TripRecord

#: A posting-ledger key belongs to a trip when it is the trip id itself or
#: starts with the trip id followed by one of these. `forget_trip(trip_id)`
#: deletes exactly those keys (so forgetting "T1" never touches "T10:...").
LEDGER_SEPARATORS = (":", "/")

#: Used by `first_time` when it is called without a positive TTL.
DEFAULT_EVENT_TTL_SECONDS = 24 * 60 * 60

RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclass_fields(TripRecord))
UPDATABLE_FIELDS = frozenset(RECORD_FIELDS) - {"trip_id"}
FLOAT_FIELDS = frozenset({"created_at", "updated_at"})
DICT_FIELDS = frozenset({"thread", "usage"})
INT_FIELDS = frozenset({"plan_versions"})


class UnknownTripError(LookupError):
    """`update_trip` / `publish_waiter` named a trip the registry does not hold.

    Raised instead of silently dropping the write: a waiter published for a
    trip nobody can find would leave that trip suspended forever.
    """

    def __init__(self, trip_id: str) -> None:
        super().__init__(trip_id)
        self.trip_id = trip_id

    def __str__(self) -> str:
        return f"unknown trip {self.trip_id!r}"


def dumps(value: Any) -> str:
    """Compact JSON; raises TypeError for values JSON cannot hold."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def reply_to_json(reply: Reply) -> str:
    return dumps(reply.to_dict())


def reply_from_json(text: str | bytes) -> Reply:
    return Reply.from_dict(json.loads(text))


def reply_json_prefix(key: str) -> str:
    """How `reply_to_json` of any reply under `key` begins (the key is its first
    field), so a stored reply can be found by its key without decoding JSON."""
    return dumps({"key": key})[:-1] + ","


def edit_version(revision: Reply, correction: Reply) -> float:
    """Check a `revise` call; returns the edit's time, which orders edits."""
    if revision.kind != "message" or correction.kind != "message":
        raise ValueError("only answers (kind 'message') can be revised")
    if not revision.key or not correction.key or revision.key == correction.key:
        raise ValueError("a correction needs a key of its own, distinct from the answer's")
    try:
        version = float(correction.ts)
    except ValueError:
        raise ValueError(f"correction.ts must be the edit's time as a number, got {correction.ts!r}") from None
    if not math.isfinite(version):
        raise ValueError(f"correction.ts must be a finite number, got {correction.ts!r}")
    return version


def normalise_field(name: str, value: Any) -> Any:
    """Check and coerce one TripRecord field value (for storage)."""
    if name in FLOAT_FIELDS:
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
        return number
    if name in INT_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise TypeError(f"{name} must be a non-negative int, got {value!r}")
        return value
    if name == "thread":
        if not isinstance(value, Mapping):
            raise TypeError(f"thread must be a mapping, got {type(value).__name__}")
        return {str(k): str(v) for k, v in value.items()}
    if name == "usage":
        if not isinstance(value, Mapping):
            raise TypeError(f"usage must be a mapping, got {type(value).__name__}")
        usage = dict(value)
        dumps(usage)  # fail now, not half-way through a write
        return usage
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if name == "state" and value not in TRIP_STATES:
        raise ValueError(f"state must be one of {TRIP_STATES}, got {value!r}")
    return value


def normalise_record(record: TripRecord, now: float) -> TripRecord:
    """A checked copy of `record`; created_at/updated_at default to `now`."""
    data = {name: normalise_field(name, getattr(record, name)) for name in RECORD_FIELDS}
    if not data["trip_id"]:
        raise ValueError("trip_id must not be empty")
    if not data["created_at"]:
        data["created_at"] = now
    if not data["updated_at"]:
        data["updated_at"] = data["created_at"]
    return TripRecord(**data)


def normalise_update(fields: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Checked `update_trip` fields, with updated_at set (to `now` unless given)."""
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise ValueError(f"update_trip cannot set {sorted(unknown)}")
    out = {name: normalise_field(name, value) for name, value in fields.items()}
    out.setdefault("updated_at", now)
    return out


def ledger_ranges(trip_id: str) -> list[tuple[str, str]]:
    """Half-open [low, high) key ranges holding `{trip_id}{sep}...` ledger keys.

    Ordering is by code point, which matches SQLite's BINARY collation and
    Redis' byte-wise lexicographic order on UTF-8.
    """
    return [(trip_id + sep, trip_id + chr(ord(sep) + 1)) for sep in LEDGER_SEPARATORS]


def event_ttl(ttl_seconds: float | None, default: int) -> int:
    """Whole seconds, at least 1 (Redis refuses EX 0)."""
    if ttl_seconds is None or ttl_seconds <= 0:
        ttl_seconds = default
    return max(1, math.ceil(ttl_seconds))
