"""The itinerary the finish tool takes, and its validation.

`parse_itinerary` is pure (the workflow body runs it, so it replays the same)
and names every broken field at once, by its path in the arguments
("days[1].items[0].time: '25:00' is not HH:MM"), so the LLM can fix them all
in its next call. The model is kept as JSON-able dicts (`to_dict`) in durable
state and in the Plan post.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_TITLE_CHARS = 150  # Slack's header limit: the title is the plan's header
MAX_SUMMARY_CHARS = 2_000
MAX_TEXT_CHARS = 200  # an item's title, a place, a day's title
MAX_NOTES_CHARS = 1_000
MAX_URL_CHARS = 2_000
MAX_DAYS = 31
MAX_ITEMS_PER_DAY = 12
MAX_TRAVELLERS = 100
MAX_COST = 1_000_000

_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")

TOP_FIELDS = frozenset(
    {"title", "summary", "start_date", "end_date", "travellers", "currency", "timezone", "days"}
)
DAY_FIELDS = frozenset({"date", "title", "items"})
ITEM_FIELDS = frozenset({"time", "title", "place", "notes", "cost_per_person", "source_url"})


@dataclass(frozen=True, slots=True)
class Item:
    title: str
    time: str = ""  # "HH:MM", 24-hour; "" for an all-day item
    place: str = ""
    notes: str = ""
    cost_per_person: float | None = None
    source_url: str = ""


@dataclass(frozen=True, slots=True)
class Day:
    date: str  # ISO "YYYY-MM-DD"
    items: tuple[Item, ...]
    title: str = ""


@dataclass(frozen=True, slots=True)
class Itinerary:
    title: str
    start_date: str
    end_date: str
    travellers: int
    days: tuple[Day, ...]
    summary: str = ""
    currency: str = ""
    timezone: str = ""  # an IANA zone; "" means local (floating) times

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Itinerary:
        days = tuple(
            Day(date=d["date"], title=d.get("title", ""), items=tuple(Item(**i) for i in d["items"]))
            for d in data["days"]
        )
        return cls(
            title=data["title"], start_date=data["start_date"], end_date=data["end_date"],
            travellers=int(data["travellers"]), days=days, summary=data.get("summary", ""),
            currency=data.get("currency", ""), timezone=data.get("timezone", ""),
        )

    def costed(self) -> bool:
        return any(i.cost_per_person is not None for d in self.days for i in d.items)


class _Errors:
    """Collects precise problems, each prefixed by its field's path."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, problem: str) -> None:
        self.items.append(f"{path}: {problem}")


def _text(
    errors: _Errors, raw: dict[str, Any], name: str, path: str, *, required: bool = False, limit: int = MAX_TEXT_CHARS
) -> str:
    value = raw.get(name)
    where = f"{path}.{name}" if path else name
    if value is None:
        if required:
            errors.add(where, "is required")
        return ""
    if not isinstance(value, str):
        errors.add(where, f"must be a string, not {_json_type(value)}")
        return ""
    value = value.strip()
    if required and not value:
        errors.add(where, "must not be empty")
    elif len(value) > limit:
        errors.add(where, f"is {len(value)} characters long; at most {limit}")
    return value


def _date(errors: _Errors, raw: dict[str, Any], name: str, path: str) -> date | None:
    value = raw.get(name)
    where = f"{path}.{name}" if path else name
    if value is None:
        errors.add(where, "is required (YYYY-MM-DD)")
        return None
    if not isinstance(value, str) or not _DATE.match(value):
        errors.add(where, f"{value!r} is not a date as YYYY-MM-DD")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.add(where, f"{value!r} is not a real date")
        return None


def _unknown(errors: _Errors, raw: dict[str, Any], known: frozenset[str], path: str) -> None:
    for name in sorted(set(raw) - known):
        where = f"{path}.{name}" if path else name
        errors.add(where, f"unknown field (known: {', '.join(sorted(known))})")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _item(errors: _Errors, raw: Any, path: str) -> Item | None:
    if not isinstance(raw, dict):
        errors.add(path, f"must be an object, not {_json_type(raw)}")
        return None
    _unknown(errors, raw, ITEM_FIELDS, path)
    title = _text(errors, raw, "title", path, required=True)
    time = _text(errors, raw, "time", path)
    if time and not _TIME.match(time):
        errors.add(f"{path}.time", f"{time!r} is not HH:MM (24-hour, 00:00 to 23:59)")
    place = _text(errors, raw, "place", path)
    notes = _text(errors, raw, "notes", path, limit=MAX_NOTES_CHARS)
    cost = raw.get("cost_per_person")
    if cost is not None and (isinstance(cost, bool) or not isinstance(cost, (int, float))):
        errors.add(f"{path}.cost_per_person", f"must be a number, not {_json_type(cost)}")
        cost = None
    elif cost is not None and not 0 <= cost <= MAX_COST:
        errors.add(f"{path}.cost_per_person", f"{cost!r} must be between 0 and {MAX_COST}")
        cost = None
    url = _text(errors, raw, "source_url", path, limit=MAX_URL_CHARS)
    if url and not _is_web_url(url):
        errors.add(f"{path}.source_url", f"{url!r} is not an http(s) URL")
    return Item(title=title, time=time, place=place, notes=notes,
                cost_per_person=float(cost) if cost is not None else None, source_url=url)


def _is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in url)


def _day(errors: _Errors, raw: Any, path: str, first: date | None, last: date | None) -> Day | None:
    if not isinstance(raw, dict):
        errors.add(path, f"must be an object, not {_json_type(raw)}")
        return None
    _unknown(errors, raw, DAY_FIELDS, path)
    when = _date(errors, raw, "date", path)
    if when is not None and first is not None and last is not None and not first <= when <= last:
        errors.add(f"{path}.date", f"{when.isoformat()} is outside start_date..end_date "
                                   f"({first.isoformat()}..{last.isoformat()})")
    title = _text(errors, raw, "title", path)
    items_raw = raw.get("items")
    items: list[Item] = []
    if not isinstance(items_raw, list) or not items_raw:
        errors.add(f"{path}.items", "must be a non-empty array of items")
    else:
        if len(items_raw) > MAX_ITEMS_PER_DAY:
            errors.add(f"{path}.items", f"has {len(items_raw)} items; at most {MAX_ITEMS_PER_DAY} a day "
                                        "(choose, or merge the options into one item's notes)")
        for i, item_raw in enumerate(items_raw):
            item = _item(errors, item_raw, f"{path}.items[{i}]")
            if item is not None:
                items.append(item)
    return Day(date=when.isoformat() if when else "", title=title, items=tuple(items))


def parse_itinerary(args: dict[str, Any]) -> Itinerary | list[str]:
    """The itinerary in the finish tool's arguments, or every problem with them."""
    errors = _Errors()
    _unknown(errors, args, TOP_FIELDS | {"plan"}, "")
    title = _text(errors, args, "title", "", required=True, limit=MAX_TITLE_CHARS)
    summary = _text(errors, args, "summary", "", limit=MAX_SUMMARY_CHARS)
    first = _date(errors, args, "start_date", "")
    last = _date(errors, args, "end_date", "")
    if first is not None and last is not None and last < first:
        errors.add("end_date", f"{last.isoformat()} is before start_date {first.isoformat()}")
        first = last = None
    travellers = args.get("travellers")
    if travellers is None:
        errors.add("travellers", "is required (how many people travel)")
        travellers = 0
    elif isinstance(travellers, bool) or not isinstance(travellers, int) or not 1 <= travellers <= MAX_TRAVELLERS:
        errors.add("travellers", f"{travellers!r} must be a whole number of people, 1 to {MAX_TRAVELLERS}")
        travellers = 0
    currency = _text(errors, args, "currency", "")
    if currency and not _CURRENCY.match(currency):
        errors.add("currency", f"{currency!r} is not a 3-letter ISO 4217 code such as EUR")
    timezone = _text(errors, args, "timezone", "")
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            errors.add("timezone", f"{timezone!r} is not an IANA time zone such as Europe/Lisbon")
    days_raw = args.get("days")
    days: list[Day] = []
    if not isinstance(days_raw, list) or not days_raw:
        errors.add("days", "must be a non-empty array of days")
    elif len(days_raw) > MAX_DAYS:
        errors.add("days", f"has {len(days_raw)} days; at most {MAX_DAYS}")
    else:
        for d, day_raw in enumerate(days_raw):
            day = _day(errors, day_raw, f"days[{d}]", first, last)
            if day is not None:
                days.append(day)
        seen: dict[str, int] = {}
        for d, day in enumerate(days):
            if day.date and day.date in seen:
                errors.add(f"days[{d}].date", f"{day.date} is already days[{seen[day.date]}]; one entry a date")
            seen.setdefault(day.date, d)
    if errors.items:
        return errors.items
    assert first is not None and last is not None
    return Itinerary(
        title=title, summary=summary, start_date=first.isoformat(), end_date=last.isoformat(),
        travellers=int(travellers), currency=currency, timezone=timezone,
        days=tuple(sorted(days, key=lambda day: day.date)),
    )
