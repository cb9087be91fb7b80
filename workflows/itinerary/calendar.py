"""The itinerary as an iCalendar file (RFC 5545), built with `icalendar`.

One VEVENT per item (every item sits on a dated day): a timed event from its
time for `DEFAULT_DURATION`, or until the day's next item when that starts
sooner, in the
itinerary's time zone when it names one (floating local time otherwise), or
an all-day event (DTSTART;VALUE=DATE) when the item has no time. UIDs come
from the trip and the item's place in the plan, and DTSTAMP is passed in, so
the same plan builds the same events however often it is built."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar

from workflows.itinerary.markdown import money
from workflows.itinerary.model import Day, Item, Itinerary

PRODID = "-//travel-planner//itinerary//EN"
DEFAULT_DURATION = timedelta(hours=2)


def event_uid(trip_id: str, day_index: int, item_index: int) -> str:
    return f"{trip_id}-day{day_index + 1}-item{item_index + 1}@travel-planner"


def _description(item: Item, currency: str) -> str:
    lines = [item.notes] if item.notes else []
    if item.cost_per_person is not None:
        lines.append(f"Cost per person: {money(item.cost_per_person, currency)}")
    if item.source_url:
        lines.append(f"Source: {item.source_url}")
    return "\n".join(lines)


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _end(day: Day, index: int, start: datetime) -> datetime:
    """The default length, or less when the day's next timed item starts sooner."""
    end = start + DEFAULT_DURATION
    for later in day.items[index + 1 :]:
        if later.time:
            nxt = datetime.combine(start.date(), _clock(later.time), tzinfo=start.tzinfo)
            return min(nxt, end) if nxt > start else end
    return end


def itinerary_calendar(itinerary: Itinerary, *, trip_id: str, stamp: datetime, sequence: int = 0) -> bytes:
    """The .ics file's bytes; `stamp` (timezone-aware) is every event's DTSTAMP.

    `sequence` is the revision (Plan v2: 1): the UIDs stay per trip, day and
    item, so a calendar that imported v1 updates those events (RFC 5545 SEQUENCE)."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", itinerary.title)
    zone = ZoneInfo(itinerary.timezone) if itinerary.timezone else None
    for d, day in enumerate(itinerary.days):
        when = date.fromisoformat(day.date)
        for i, item in enumerate(day.items):
            event = icalendar.Event()
            event.add("uid", event_uid(trip_id, d, i))
            event.add("dtstamp", stamp)
            event.add("sequence", sequence)
            event.add("summary", item.title)
            if item.time:
                start = datetime.combine(when, _clock(item.time), tzinfo=zone)
                event.add("dtstart", start)
                event.add("dtend", _end(day, i, start))
            else:
                event.add("dtstart", when)  # a date: VALUE=DATE, an all-day event
                event.add("dtend", when + timedelta(days=1))
            if item.place:
                event.add("location", item.place)
            description = _description(item, itinerary.currency)
            if description:
                event.add("description", description)
            if item.source_url:
                event.add("url", item.source_url)
            cal.add_component(event)
    if zone is not None:
        # The VTIMEZONE each TZID names, with the transitions around the trip only.
        first = date.fromisoformat(itinerary.start_date)
        cal.add_missing_timezones(first_date=first - timedelta(days=366), last_date=first + timedelta(days=366))
    return cal.to_ical()


def calendar_file_name(markdown_name: str) -> str:
    """`lisbon-trip.md` -> `lisbon-trip.ics`."""
    stem = markdown_name[:-3] if markdown_name.endswith(".md") else markdown_name
    return f"{stem}.ics"
