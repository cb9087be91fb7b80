"""The itinerary's .ics file, parsed back with `icalendar` and checked field
by field: one event per item, timed ones in the trip's zone (or floating),
all-day ones as dates, stable UIDs, the DTSTAMP passed in."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar

from testing.fakes.itinerary import LISBON
from workflows.itinerary.calendar import PRODID, calendar_file_name, event_uid, itinerary_calendar
from workflows.itinerary.model import Itinerary, parse_itinerary

STAMP = datetime(2026, 4, 20, 8, 30, tzinfo=UTC)
LISBON_TZ = ZoneInfo("Europe/Lisbon")


def _lisbon(**changes: object) -> Itinerary:
    parsed = parse_itinerary({**copy.deepcopy(LISBON), **changes})
    assert isinstance(parsed, Itinerary), parsed
    return parsed


def _events(ics: bytes) -> tuple[icalendar.Calendar, list[icalendar.Event]]:
    cal = icalendar.Calendar.from_ical(ics)
    return cal, list(cal.walk("VEVENT"))


def test_the_calendar_has_one_event_per_item_field_by_field() -> None:
    ics = itinerary_calendar(_lisbon(), trip_id="slack-T1-C1-1700.1", stamp=STAMP)
    cal, events = _events(ics)

    assert str(cal["PRODID"]) == PRODID and str(cal["VERSION"]) == "2.0"
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["Europe/Lisbon"]
    assert len(events) == 6  # 3 + 2 + 1 items
    castle, lunch, fado, train, pena, river = events

    assert str(castle["SUMMARY"]) == "Castelo de São Jorge"
    start = castle.decoded("DTSTART")
    assert start == datetime(2026, 5, 1, 10, 0, tzinfo=LISBON_TZ) and str(start.tzinfo) == "Europe/Lisbon"
    assert castle["DTSTART"].params["TZID"] == "Europe/Lisbon"
    assert castle.decoded("DTEND") == datetime(2026, 5, 1, 12, 0, tzinfo=LISBON_TZ)  # two hours
    assert str(castle["LOCATION"]) == "Castelo de São Jorge, Lisbon"
    assert str(castle["DESCRIPTION"]) == (
        "Buy tickets online; the queue is long by 11.\nCost per person: 15 EUR\n"
        "Source: https://castelodesaojorge.pt/en/tickets?lang=en&x=1"
    )
    assert str(castle["URL"]) == "https://castelodesaojorge.pt/en/tickets?lang=en&x=1"
    assert castle.decoded("DTSTAMP") == STAMP

    assert lunch.decoded("DTEND") == datetime(2026, 5, 1, 15, 0, tzinfo=LISBON_TZ)
    assert str(lunch["DESCRIPTION"]) == "Cost per person: 20 EUR" and "URL" not in lunch
    # The day's last timed item lasts the default two hours.
    assert fado.decoded("DTEND") - fado.decoded("DTSTART") == timedelta(hours=2)
    assert str(train["DESCRIPTION"]) == "Cost per person: 4.60 EUR"
    # The train lasts until the next item, which starts within two hours.
    assert train.decoded("DTEND") == pena.decoded("DTSTART") == datetime(2026, 5, 2, 11, 0, tzinfo=LISBON_TZ)

    # No time: an all-day event, DTSTART;VALUE=DATE and the next day as DTEND.
    assert str(river["SUMMARY"]) == "Free day by the river"
    assert river.decoded("DTSTART") == date(2026, 5, 3) and not isinstance(river.decoded("DTSTART"), datetime)
    assert river["DTSTART"].params.get("VALUE") == "DATE"
    assert river.decoded("DTEND") == date(2026, 5, 4)
    assert b"DTSTART;VALUE=DATE:20260503" in ics
    assert str(river["DESCRIPTION"]) == "Pastéis de Belém before noon."

    uids = [str(e["UID"]) for e in events]
    assert len(set(uids)) == 6
    assert uids[0] == event_uid("slack-T1-C1-1700.1", 0, 0) == "slack-T1-C1-1700.1-day1-item1@travel-planner"
    assert uids[5] == "slack-T1-C1-1700.1-day3-item1@travel-planner"


def test_the_same_plan_builds_the_same_file_and_lines_are_folded() -> None:
    one = itinerary_calendar(_lisbon(), trip_id="t", stamp=STAMP)
    assert one == itinerary_calendar(_lisbon(), trip_id="t", stamp=STAMP)
    assert one.startswith(b"BEGIN:VCALENDAR\r\n") and one.endswith(b"END:VCALENDAR\r\n")
    assert all(len(line) <= 75 for line in one.split(b"\r\n"))  # RFC 5545 folding, in octets


def test_without_a_time_zone_times_are_floating() -> None:
    _, events = _events(itinerary_calendar(_lisbon(timezone=None), trip_id="t", stamp=STAMP))
    start = events[0].decoded("DTSTART")
    assert start == datetime(2026, 5, 1, 10, 0) and start.tzinfo is None
    assert "TZID" not in events[0]["DTSTART"].params


def test_the_calendar_file_is_named_after_the_markdown_file() -> None:
    assert calendar_file_name("lisbon-sintra-in-may.md") == "lisbon-sintra-in-may.ics"
