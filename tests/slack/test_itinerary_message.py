"""A structured itinerary as people get it in Slack: a header, a section per
day with a map link for each place, the per-person budget as a `table`
block (as text where Slack refuses tables), the usage footer; then the
Markdown file and the .ics calendar, each exactly once. The .ics is
downloaded from the fake Slack and parsed back with `icalendar`."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import icalendar
import pytest

from bot.formatting import MAX_BLOCKS, SECTION_TEXT_LIMIT
from bot.slack_chat.plan_blocks import MAPS_SEARCH, budget_table, itinerary_messages, map_link
from testing.fakes.itinerary import LISBON
from testing.fakes.slack_api import FakeSlackWebAPI
from tests.slack.chat_rig import Chat, make_chat
from tests.slack.test_plan_message import FOOTER, plan_posts
from testing.loop import LoopThread
from workflows.itinerary.finish import finished_plan
from workflows.itinerary.model import Itinerary
from workflows.ports import PostRecord
from workflows.posts import Plan

STAMP = datetime(2026, 4, 20, 8, 30, tzinfo=UTC)


def _finished(args: dict | None = None):  # type: ignore[no-untyped-def]
    plan = finished_plan("finish_trip", copy.deepcopy(args or LISBON))
    assert not isinstance(plan, str), plan
    return plan


@pytest.fixture
def clocked_chat(api: FakeSlackWebAPI, loop: LoopThread):  # type: ignore[no-untyped-def]
    c = make_chat(api, loop, clock=lambda: STAMP)
    yield c
    loop.run(c.port.aclose())


def _post_plan(chat: Chat, n: int = 7, args: dict | None = None) -> None:
    plan = _finished(args)
    chat.run(chat.port.final_plan(chat.thread, Plan(plan.text, footer=FOOTER, itinerary=plan.itinerary), key=chat.key(n)))


def test_the_itinerary_renders_as_header_days_map_links_budget_table_and_footer(clocked_chat: Chat) -> None:
    chat = clocked_chat
    _post_plan(chat)

    [post] = plan_posts(chat)
    blocks = post["blocks"]
    print("\n--- sample plan blocks ---\n" + json.dumps(blocks, indent=2, ensure_ascii=False))
    kinds = [b["type"] for b in blocks]
    assert kinds == ["header", "context", "section", "divider", "section", "divider", "section", "divider",
                     "section", "divider", "section", "table", "context", "context_actions"]
    assert blocks[0]["text"] == {"type": "plain_text", "text": "Lisbon & Sintra in May", "emoji": True}
    assert blocks[1]["elements"][0]["text"] == "📅 1 May – 3 May 2026 · 👥 4 travellers"
    day1 = blocks[4]["text"]["text"]
    assert day1.startswith("*Day 1 · Fri 1 May: Alfama*\n• *10:00* Castelo de São Jorge · 📍 <")
    castle_map = "https://www.google.com/maps/search/?api=1&query=Castelo+de+S%C3%A3o+Jorge%2C+Lisbon"
    assert f"<{castle_map}|Castelo de São Jorge, Lisbon>" in day1
    assert "15 EUR per person" in day1
    assert "<https://castelodesaojorge.pt/en/tickets?lang=en&x=1|source>" in day1
    assert "_Buy tickets online; the queue is long by 11._" in day1
    assert "*Day 2 · Sat 2 May: Sintra*" in blocks[6]["text"]["text"]
    assert "*All day* Free day by the river" in blocks[8]["text"]["text"]
    table = blocks[11]
    assert [[c["text"] for c in row] for row in table["rows"]] == [
        ["Day", "Per person", "All 4"],
        ["Day 1: Alfama", "65 EUR", "260 EUR"],
        ["Day 2: Sintra", "24.60 EUR", "98.40 EUR"],
        ["Total", "89.60 EUR", "358.40 EUR"],
    ]
    assert all(c["type"] == "raw_text" for row in table["rows"] for c in row)
    assert table["column_settings"] == [{"is_wrapped": True}, {"align": "right"}, {"align": "right"}]
    assert blocks[-2] == {"type": "context", "elements": [{"type": "mrkdwn", "text": FOOTER}]}
    assert blocks[-1]["block_id"] == "plan_feedback_v1"  # 👍/👎 under the plan
    # The fallback text (notifications) is mrkdwn: the title in bold, escaped, then the days.
    assert post["text"].startswith("*Lisbon &amp; Sintra in May*\n📅 1 May – 3 May 2026")
    assert "*Day 3 · Sun 3 May*" in post["text"] and "*Budget per person*" in post["text"]


def test_the_llms_text_cannot_mention_or_break_the_mrkdwn() -> None:
    hostile = copy.deepcopy(LISBON)
    hostile["days"][0]["items"][0].update(title="<!channel> free <@U123> tickets", notes="a > b & c",
                                          place="Bar <x|y>")
    [message] = itinerary_messages(Itinerary.from_dict(_finished(hostile).itinerary or {}))
    day1 = message.blocks[4]["text"]["text"]
    assert "<!channel>" not in day1 and "<@U123>" not in day1
    assert "&lt;\u200b!channel&gt; free &lt;\u200b@U123&gt; tickets" in day1
    assert "_a &gt; b &amp; c_" in day1
    assert "query=Bar+%3Cx%7Cy%3E|Bar &lt;x|y&gt;>" in day1  # the URL is encoded, the label escaped


def test_map_links_encode_the_whole_place() -> None:
    link = map_link("Rua do Diário de Notícias 39 & 41 | Bairro Alto <top>")
    assert link.startswith(MAPS_SEARCH)
    query = urlsplit(link).query
    assert "|" not in link and "<" not in link and ">" not in link and " " not in link
    assert parse_qs(query) == {"api": ["1"], "query": ["Rua do Diário de Notícias 39 & 41 | Bairro Alto <top>"]}


def test_the_markdown_and_the_calendar_are_shared_once_each_and_the_ics_parses_back(clocked_chat: Chat) -> None:
    chat = clocked_chat
    for _ in range(2):  # a replay of the post step
        _post_plan(chat)

    assert len(plan_posts(chat)) == 1
    md, ics = chat.api.thread_files(chat.thread["channel"], chat.thread["thread_ts"])
    assert md["name"] == "lisbon-sintra-in-may.md" and ics["name"] == "lisbon-sintra-in-may.ics"
    assert md["content"].decode().startswith("# Lisbon & Sintra in May\n") and FOOTER in md["content"].decode()
    assert ics["title"] == "Lisbon & Sintra in May"
    print("\n--- sample .ics ---\n" + ics["content"].decode())
    cal = icalendar.Calendar.from_ical(ics["content"])
    events = list(cal.walk("VEVENT"))
    assert str(cal["VERSION"]) == "2.0" and len(events) == 6
    assert [str(e["SUMMARY"]) for e in events] == [
        "Castelo de São Jorge", "Lunch at Time Out Market", "Fado night", "Train to Sintra", "Pena Palace",
        "Free day by the river",
    ]
    assert all(e.decoded("DTSTAMP") == STAMP for e in events)
    assert str(events[0]["UID"]) == f"{chat.trip_id}-day1-item1@travel-planner"
    assert len({str(e["UID"]) for e in events}) == 6
    assert chat.run(chat.registry.post_record(f"{chat.key(7)}#ics")) == PostRecord("done", ics["id"])
    assert len(chat.api.calls_to("files.completeUploadExternal")) == 2


def test_after_a_crash_between_the_files_the_calendar_goes_up_once(clocked_chat: Chat) -> None:
    chat = clocked_chat
    key = chat.key(8)
    plan = _finished()
    # The previous process posted the plan and its Markdown file, then got the
    # calendar's upload slot and died before sharing it.
    chat.run(chat.port.post(chat.thread, plan.text, key=key, kind="plan",
                            messages=itinerary_messages(Itinerary.from_dict(plan.itinerary or {}), FOOTER)))
    chat.run(chat.port.share_plan_file(chat.thread, plan.text, key=key, footer=FOOTER))
    chat.run(chat.registry.record_post_intent(f"{key}#ics"))
    chat.run(chat.port.final_plan(chat.thread, Plan(plan.text, footer=FOOTER, itinerary=plan.itinerary), key=key))

    assert len(plan_posts(chat)) == 1
    names = [f["name"] for f in chat.api.thread_files(chat.thread["channel"], chat.thread["thread_ts"])]
    assert names == ["lisbon-sintra-in-may.md", "lisbon-sintra-in-may.ics"]


def test_where_slack_refuses_tables_the_budget_goes_out_as_text(clocked_chat: Chat) -> None:
    chat = clocked_chat
    chat.api.reject_table_blocks = True
    _post_plan(chat)

    [post] = plan_posts(chat)
    kinds = [b["type"] for b in post["blocks"]]
    assert "table" not in kinds and kinds[0] == "header" and kinds[-2:] == ["context", "context_actions"]
    budget = post["blocks"][-3]["text"]["text"]
    assert budget.startswith("```\nDay") and "Total         | 89.60 EUR  | 358.40 EUR" in budget
    refused = [c for c in chat.api.calls_to("chat.postMessage") if c.response and c.response.get("error") == "invalid_blocks"]
    assert len(refused) == 1  # refused once, then posted with the fallback


def test_a_plan_without_costs_has_no_table_and_one_traveller_one_column() -> None:
    no_costs = copy.deepcopy(LISBON)
    for day in no_costs["days"]:
        for item in day["items"]:
            item.pop("cost_per_person", None)
    [message] = itinerary_messages(Itinerary.from_dict(_finished(no_costs).itinerary or {}))
    assert "table" not in [b["type"] for b in message.blocks]
    solo = Itinerary.from_dict(_finished({**LISBON, "travellers": 1}).itinerary or {})
    assert [c["text"] for c in budget_table(solo)["rows"][0]] == ["Day", "Per person"]


def test_a_month_long_itinerary_is_split_within_slacks_limits(clocked_chat: Chat) -> None:
    chat = clocked_chat
    long_notes = "Take the tram; " * 60
    month = {
        **LISBON, "start_date": "2026-05-01", "end_date": "2026-05-31",
        "days": [
            {"date": f"2026-05-{d:02d}", "title": f"Day {d} theme",
             "items": [{"time": f"{8 + i}:00".zfill(5), "title": f"Stop {i}", "place": f"Place {d}.{i}, Lisbon",
                        "notes": long_notes, "cost_per_person": 10, "source_url": f"https://example.org/{d}/{i}"}
                       for i in range(12)]}
            for d in range(1, 32)
        ],
    }
    _post_plan(chat, 9, month)
    _post_plan(chat, 9, month)  # again: each part once

    posts = plan_posts(chat)
    assert len(posts) >= 3
    assert [p["metadata"]["event_payload"]["part"] for p in posts] == list(range(len(posts)))
    for post in posts:
        assert len(post["blocks"]) <= MAX_BLOCKS
        assert all(len(b["text"]["text"]) <= SECTION_TEXT_LIMIT for b in post["blocks"] if b["type"] == "section")
        assert [b["type"] for b in post["blocks"]].count("table") <= 1
    everything = "\n".join(b["text"]["text"] for p in posts for b in p["blocks"] if b["type"] == "section")
    assert all(f"Place {d}.{i}, Lisbon" in everything for d in range(1, 32) for i in range(12))
    assert "(continued)" in everything  # a day longer than a section goes on in the next one
    [table] = [b for p in posts for b in p["blocks"] if b["type"] == "table"]
    assert len(table["rows"]) == 33 and posts[-1]["blocks"][-1]["type"] == "context_actions"
    assert len(chat.api.thread_files(chat.thread["channel"], chat.thread["thread_ts"])) == 2


def test_trailing_blocks_go_last_on_the_last_message() -> None:
    buttons = {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "👍"},
                                                "action_id": "good"}]}
    messages = itinerary_messages(Itinerary.from_dict(_finished().itinerary or {}), FOOTER, trailing=[buttons])
    assert messages[-1].blocks[-1] == buttons and messages[-1].blocks[-2]["type"] == "context"


def test_a_refused_calendar_upload_does_not_fail_the_plan(clocked_chat: Chat) -> None:
    chat = clocked_chat
    chat.api.error("files.getUploadURLExternal", "file_uploads_disabled", times=None)
    _post_plan(chat, 5)
    assert len(plan_posts(chat)) == 1 and chat.api.shared_files == []
    assert chat.run(chat.registry.post_record(f"{chat.key(5)}#ics")) == PostRecord("done", "")


def test_a_revised_itinerary_is_headed_plan_v2_with_its_own_files_and_feedback(clocked_chat: Chat) -> None:
    chat = clocked_chat
    plan = _finished()
    chat.run(chat.port.final_plan(chat.thread, Plan(plan.text, footer=FOOTER, itinerary=plan.itinerary), key=chat.key(7)))
    chat.run(chat.port.final_plan(chat.thread, Plan(plan.text, footer=FOOTER, itinerary=plan.itinerary, version=2), key=chat.key(9)))

    first, revised = plan_posts(chat)
    assert first["blocks"][0]["text"]["text"] == "Lisbon & Sintra in May"  # v1 untouched
    assert revised["blocks"][0]["text"]["text"] == "Plan v2 · Lisbon & Sintra in May"
    assert [b["block_id"] for b in (first["blocks"][-1], revised["blocks"][-1])] == [
        "plan_feedback_v1", "plan_feedback_v2"
    ]
    names = [f["name"] for f in chat.api.thread_files(chat.thread["channel"], chat.thread["thread_ts"])]
    assert names == [
        "lisbon-sintra-in-may.md", "lisbon-sintra-in-may.ics", "lisbon-sintra-in-may-v2.md", "lisbon-sintra-in-may-v2.ics"
    ]
    files = chat.api.thread_files(chat.thread["channel"], chat.thread["thread_ts"])
    v1, v2 = (icalendar.Calendar.from_ical(files[n]["content"]) for n in (1, 3))
    # The same events, revised: a calendar that imported v1 updates them.
    assert [str(e["UID"]) for e in v1.walk("VEVENT")] == [str(e["UID"]) for e in v2.walk("VEVENT")]
    assert {int(e["SEQUENCE"]) for e in v1.walk("VEVENT")} == {0}
    assert {int(e["SEQUENCE"]) for e in v2.walk("VEVENT")} == {1}
