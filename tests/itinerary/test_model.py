"""The finish tool's structured plan: what is accepted, and every broken
field named precisely (the LLM reads these errors and fixes its call)."""

from __future__ import annotations

import copy

from testing.fakes.itinerary import BROKEN_FIELDS, LISBON, broken_lisbon
from workflows.itinerary.finish import POSTED, FinishedPlan, finished_plan
from workflows.itinerary.markdown import itinerary_markdown
from workflows.itinerary.model import MAX_ITEMS_PER_DAY, Itinerary, parse_itinerary
from workflows.tool_calls import FINISH_TOOL, FINISH_TOOL_SPEC, parse_tool_call


def test_a_good_plan_parses_into_the_model_and_survives_its_dict_form() -> None:
    parsed = parse_itinerary(copy.deepcopy(LISBON))
    assert isinstance(parsed, Itinerary)
    assert parsed.title == "Lisbon & Sintra in May" and parsed.travellers == 4 and parsed.currency == "EUR"
    assert [d.date for d in parsed.days] == ["2026-05-01", "2026-05-02", "2026-05-03"]
    first = parsed.days[0].items[0]
    assert (first.time, first.place, first.cost_per_person) == ("10:00", "Castelo de São Jorge, Lisbon", 15.0)
    assert parsed.days[2].items[0].time == ""  # all day
    assert Itinerary.from_dict(parsed.to_dict()) == parsed


def test_every_broken_field_is_named_by_its_path() -> None:
    errors = parse_itinerary(broken_lisbon())
    assert isinstance(errors, list)
    for expected in BROKEN_FIELDS:
        assert any(e.startswith(expected) for e in errors), (expected, errors)
    assert len(errors) == len(BROKEN_FIELDS)


def test_more_precise_errors() -> None:
    plan = copy.deepcopy(LISBON)
    plan.update(end_date="2026-04-30", travellers=True, currency="euro", timezone="Mars/Olympus", colour="red")
    plan["days"][0]["items"][0].update(time="25:00", cost_per_person="15")
    plan["days"][1]["items"][0]["cost_per_person"] = -3
    plan["days"][2]["date"] = "2026-05-02"
    plan["days"][2]["items"][0]["source_url"] = "ftp://example.org/x"
    errors = parse_itinerary(plan)
    assert errors == [
        "colour: unknown field (known: currency, days, end_date, plan, start_date, summary, timezone, title, travellers)",
        "end_date: 2026-04-30 is before start_date 2026-05-01",
        "travellers: True must be a whole number of people, 1 to 100",
        "currency: 'euro' is not a 3-letter ISO 4217 code such as EUR",
        "timezone: 'Mars/Olympus' is not an IANA time zone such as Europe/Lisbon",
        "days[0].items[0].time: '25:00' is not HH:MM (24-hour, 00:00 to 23:59)",
        "days[0].items[0].cost_per_person: must be a number, not a string",
        "days[1].items[0].cost_per_person: -3 must be between 0 and 1000000",
        "days[2].items[0].source_url: 'ftp://example.org/x' is not an http(s) URL",
        "days[2].date: 2026-05-02 is already days[1]; one entry a date",
    ]


def test_a_day_outside_the_trip_and_empty_or_missing_parts() -> None:
    plan = copy.deepcopy(LISBON)
    plan["days"][2]["date"] = "2026-05-09"
    plan["days"][1]["items"] = []
    plan["days"][0]["items"][1] = "lunch"
    plan["title"] = "   "
    errors = parse_itinerary(plan)
    assert "days[2].date: 2026-05-09 is outside start_date..end_date (2026-05-01..2026-05-03)" in errors
    assert "days[1].items: must be a non-empty array of items" in errors
    assert "days[0].items[1]: must be an object, not a string" in errors
    assert "title: must not be empty" in errors
    assert parse_itinerary({"title": "x"}) == [
        "start_date: is required (YYYY-MM-DD)",
        "end_date: is required (YYYY-MM-DD)",
        "travellers: is required (how many people travel)",
        "days: must be a non-empty array of days",
    ]


def test_the_finish_call_takes_the_structured_plan_and_still_the_free_text_one() -> None:
    structured = finished_plan(FINISH_TOOL, copy.deepcopy(LISBON))
    assert isinstance(structured, FinishedPlan) and structured.itinerary is not None
    assert structured.text == itinerary_markdown(Itinerary.from_dict(structured.itinerary))
    assert structured.text.startswith("# Lisbon & Sintra in May\n")
    assert "## Day 2 · Sat 2 May: Sintra" in structured.text
    legacy = finished_plan(FINISH_TOOL, {"plan": "# Rome\n\n## Day 1\nForum."})
    assert legacy == FinishedPlan("# Rome\n\n## Day 1\nForum.")
    assert POSTED == "The plan has been posted to the team."
    nothing = finished_plan(FINISH_TOOL, {})
    assert isinstance(nothing, str) and nothing.startswith("Error: finish_trip needs the structured plan")
    broken = finished_plan(FINISH_TOOL, broken_lisbon())
    assert isinstance(broken, str) and broken.startswith("Error: the plan given to finish_trip has 4 problems")
    assert all(f"- {field}" in broken for field in BROKEN_FIELDS)
    assert broken.endswith("call it with 'plan' alone, the whole plan in Markdown.)")  # a way out


def test_the_tool_schema_accepts_both_shapes_and_refuses_wrong_top_level_types() -> None:
    def call(args: dict) -> object:
        import json

        return parse_tool_call({"id": "c1", "function": {"name": FINISH_TOOL, "arguments": json.dumps(args)}},
                               [FINISH_TOOL_SPEC])

    assert call(LISBON).arguments == LISBON  # type: ignore[attr-defined]
    assert call({"plan": "# Rome"}).arguments == {"plan": "# Rome"}  # type: ignore[attr-defined]
    broken = call({**LISBON, "days": "three days"})
    assert "field 'days' must be of type array" in broken.error  # type: ignore[attr-defined]
    schema = FINISH_TOOL_SPEC["function"]["parameters"]
    item = schema["properties"]["days"]["items"]["properties"]["items"]["items"]
    assert set(item["properties"]) == {"time", "title", "place", "notes", "cost_per_person", "source_url"}
    assert "required" not in schema  # neither shape is required by the schema: finished_plan decides
    assert MAX_ITEMS_PER_DAY == 12
