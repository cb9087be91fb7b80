"""Slack's markup (`<@U123>`, `<#C1|general>`, `<!here>`, links) reaches the
planner as the words people see in Slack: in answers, edits and requests."""

from __future__ import annotations

import pytest

from bot.mentions import plain_text, references
from bot.people import MENTION_LOOKUPS_PER_MESSAGE
from testing.fakes.slack_api import BOT_USER_ID
from testing.fakes.slack_requests import (
    app_mention,
    event_envelope,
    json_body,
    message_changed,
    send_signed,
    slash_command,
    thread_reply,
)
from tests.slack.test_events import CHANNEL, post_event, start_trip
from workflows.ports import AmendOutcome

USERS = {"U0ANA": "Ana", "W0BEN": "Ben"}
CHANNELS = {"C0GEN": "general"}


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<@U0ANA> and <@W0BEN|ben> come", "@Ana and @Ben come"),
        ("<@U0NOBODY> and <@U0OLD|olduser>", "@U0NOBODY and @olduser"),
        ("see <#C0GEN> and <#C0RND|random> and <#C0X|>", "see #general and #random and #C0X"),
        ("<!here> <!channel> <!everyone> <!here|here>", "@here @channel @everyone @here"),
        ("ping <!subteam^S0PLAN|@planners> and <!subteam^S0X>", "ping @planners and @S0X"),
        ("<!date^1392734382^{date_short}|Feb 18, 2014>", "Feb 18, 2014"),
        ("<https://example.com/a?b=1&amp;c=2|the plan>", "the plan (https://example.com/a?b=1&c=2)"),
        ("<https://example.com/x> and <http://example.com|example.com>", "https://example.com/x and example.com"),
        ("<mailto:ana@example.com|ana@example.com>", "ana@example.com"),
        ("a &amp; b &lt;3 &gt; c", "a & b <3 > c"),
        ("&lt;@U0ANA&gt; typed, not a mention", "<@U0ANA> typed, not a mention"),
        ("<https://x.test/?q=&lt;tag&gt;|&lt;b&gt; label>", "<b> label (https://x.test/?q=<tag>)"),
        ("no markup at all", "no markup at all"),
    ],
)
def test_plain_text_reads_markup_as_people_see_it(markup: str, text: str) -> None:
    assert plain_text(markup, users=USERS, channels=CHANNELS) == text


def test_references_lists_the_names_to_look_up_once_each() -> None:
    markup = "<@U0ANA> <@W0BEN|ben> <@U0ANA> <#C0GEN> <#C0RND|random> <#C0X|> <!here> <https://x.test>"
    assert references(markup) == (["U0ANA", "W0BEN"], ["C0GEN", "C0X"])


def test_an_answer_reads_names_channels_and_links(bot) -> None:
    bot.api.add_user("U0ANA", display_name="Ana")
    bot.api.add_user("U0BOB", display_name="Bob")
    bot.api.add_channel("C0GEN", name="general")
    trip = start_trip(bot)
    text = (
        "<@U0ANA> joins, <@U0NOBODY> maybe; details in <#C0GEN> and <#C0RND|random>. "
        "<!here> <!subteam^S0PLAN|@planners>: <https://example.com/plan?a=1&amp;b=2|our plan>"
    )
    post_event(bot, thread_reply(CHANNEL, trip.thread["thread_ts"], text, user="U0BOB"))
    [delivered] = bot.wait_for(lambda: bot.trips.deliveries)
    assert delivered.reply.author == "Bob"
    assert delivered.reply.text == (
        "@Ana joins, @U0NOBODY maybe; details in #general and #random. "
        "@here @planners: our plan (https://example.com/plan?a=1&b=2)"
    )


def test_the_bots_own_mention_is_stripped_and_a_colleagues_is_named(bot) -> None:
    bot.api.add_user("U0ANA", display_name="Ana")
    trip = start_trip(bot)
    mention = app_mention(
        CHANNEL, f"<@{BOT_USER_ID}> ask <@U0ANA> about dates", thread_ts=trip.thread["thread_ts"], user="U0BOB"
    )
    post_event(bot, mention)
    [delivered] = bot.wait_for(lambda: bot.trips.deliveries)
    assert delivered.reply.text == "ask @Ana about dates"


def test_an_edited_answer_reads_names_too(bot) -> None:
    bot.api.add_user("U0ANA", display_name="Ana")
    trip = start_trip(bot)
    root = trip.thread["thread_ts"]
    answer = thread_reply(CHANNEL, root, "just me")
    post_event(bot, answer)
    bot.wait_for(lambda: bot.trips.deliveries)
    post_event(bot, message_changed(CHANNEL, answer["ts"], "me and <@U0ANA>, see <#C0RND|random>", thread_ts=root,
                                    previous_text="just me"))
    [amended] = bot.wait_for(lambda: bot.trips.amendments)
    assert amended.outcome is AmendOutcome.REVISED
    [reply] = bot.run(bot.registry.unclaimed_replies(trip.trip_id))
    assert reply.text == "me and @Ana, see #random"


def test_trip_requests_read_names_from_a_mention_and_from_the_slash_command(bot) -> None:
    bot.api.add_user("U0ANA", display_name="Ana")
    mention = app_mention(CHANNEL, f"<@{BOT_USER_ID}> Rome with <@U0ANA>, ideas in <#C0RND|random>", user="U0BOB")
    post_event(bot, mention)
    send_signed(bot.events_url, slash_command("Porto with <@U0ANA|ana> &amp; friends", channel_id=CHANNEL))
    bot.wait_for(lambda: len(bot.trips.started) == 2)
    assert sorted(r.request for r in bot.trips.started) == [
        "Porto with @Ana & friends",
        "Rome with @Ana, ideas in #random",
    ]


def test_cold_name_lookups_share_one_bounded_wait_before_the_ack(bot) -> None:
    """The author's and every mentioned name's lookup run at once: a slow
    users.info costs one bounded wait, not one per name."""
    for user in ("U0SLOW", "U0ANA", "U0BEN"):
        bot.api.add_user(user, display_name=user.title())
    bot.api.method_latency["users.info"] = 1.0
    trip = start_trip(bot)
    body = json_body(event_envelope(
        thread_reply(CHANNEL, trip.thread["thread_ts"], "with <@U0ANA> and <@U0BEN>", user="U0SLOW")
    ))
    status, _, elapsed = send_signed(bot.events_url, body)
    assert status == 200 and elapsed < 0.5  # one wait (0.25 s), not three
    [delivered] = bot.wait_for(lambda: bot.trips.deliveries)
    assert (delivered.reply.author, delivered.reply.text) == ("<@U0SLOW>", "with @U0ANA and @U0BEN")


def test_a_message_mentioning_crowds_looks_up_a_bounded_number_of_names(bot) -> None:
    trip = start_trip(bot)
    crowd = " ".join(f"<@U0P{n:03d}>" for n in range(60)) + " " + " ".join(f"<#C0H{n:03d}>" for n in range(30))
    post_event(bot, thread_reply(CHANNEL, trip.thread["thread_ts"], crowd, user="U0BOB"))
    [delivered] = bot.wait_for(lambda: bot.trips.deliveries)
    assert delivered.reply.text.split()[:2] == ["@U0P000", "@U0P001"]
    assert delivered.reply.text.split()[-1] == "#C0H029"

    def lookups() -> int:
        return sum(1 for c in bot.api.calls if c.method in ("users.info", "conversations.info"))

    budget = MENTION_LOOKUPS_PER_MESSAGE + 1  # and the author's own name
    bot.wait_for(lambda: lookups() >= budget)
    bot.wait_idle()  # lookups that outlive the ack go on in the background: all done now
    assert lookups() == budget
