"""`app_mention` and `message` events: trip starts and answers in trip threads.

They run as listener middleware, before Bolt's auto-ack: a reply is in the
trip's durable inbox (and a mention's trip started) before Slack hears 200.
Acked first, a reply could be lost to a crash in between, and Slack would
never send it again; unacknowledged, Slack retries it. The work is local
(SQLite or Redis) plus, once per author, users.info (bounded, see
`People.author_name`). What counts as an answer from a person:

- message events with no subtype, `thread_broadcast` or `file_share`, inside
  a thread (thread_ts present and not the message's own ts) that belongs to a
  trip (`registry.trip_for_thread`);
- never anything posted by an app (`bot_id`) or other subtypes.

Edits and deletions of answers (`message_changed`, `message_deleted`) reach
the trip's inbox too (`Inbox.revise` / `withdraw`): an edit of an
answer the planner has not read yet replaces it; of one it has read, it
arrives as a correction ("ana edited their answer: ..."). A deleted answer is
dropped if unread, and a late retry of it stays out. Ignored: edits and
deletions by apps (our own `chat.update`s come back as `message_changed`),
changes that leave the text as it was (unfurls), and messages the inbox
never held as answers (commands, the trip's request, anything before the
trip). Like replies, they are stored before Slack is acked.

Text: Slack's markup becomes the words people see (`bot.mentions`):
`<@U123>` -> `@Ana`, `<#C1|general>` -> `#general`, `<!here>` -> `@here`,
links -> `label (url)`; for answers, edits and trip requests alike.

Mentions: a top-level `@bot <request>` starts a trip in that message's thread;
a mention inside a trip thread is an answer, unless its text (mention
stripped) is just `cancel`, `finish`, `status` or `close` (any case): then it is a
command (`bot.controls`), on the `app_mention` event and on its `message`
twin alike, so a command never reaches the planner as an answer. In the
app's DM (`channel_type: "im"`) the bare word is a command, mention or not:
everything there is said to the bot (DM starts: `direct_messages`). A mention
inside any other thread starts a trip in that thread. The bot's mention is
stripped from the text.

Dedupe: a reply's key `"{channel}:{ts}"` is deduped durably by the trip's
inbox, and without a second lookup within the process
(`Deliveries.deliver_reply`): Slack's retries (same `event_id`) and the
`app_mention` + `message` pair of one message deliver once. Nothing is marked
before the reply is stored (a mark without the reply would drop the retry);
the event id is remembered after. Trip starts dedupe on `event_id` and the
message's (channel, ts) first, as before.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.controls import ControlRequest, answer_status, command_word, request_control
from bot.mentions import plain_text
from bot.people import People
from bot.services import BotServices
from bot.threads import thread_key

#: Message subtypes written by people that count as answers.
REPLY_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})

_LEADING_MENTION = re.compile(r"^\s*<@[UW][A-Z0-9]+(?:\|[^>]*)?>[\s,:]*")


def register(app: AsyncApp, services: BotServices) -> None:
    # Listener middleware runs before the listener's auto-ack: the reply is
    # stored before Slack is answered (see the module docstring).
    async def app_mention_before_ack(body: dict[str, Any], event: dict[str, Any], next: Any) -> None:  # noqa: A002
        await handle_app_mention(services, body, event)
        await next()

    async def message_before_ack(body: dict[str, Any], event: dict[str, Any], next: Any) -> None:  # noqa: A002
        await handle_message(services, body, event)
        await next()

    async def handled() -> None:
        return None

    app.event("app_mention", middleware=[app_mention_before_ack])(handled)
    app.event("message", middleware=[message_before_ack])(handled)


def _team(body: dict[str, Any], event: dict[str, Any]) -> str:
    return str(body.get("team_id") or event.get("team") or "")


async def message_markup(services: BotServices, event: dict[str, Any], *, mention: bool, team: str) -> str:
    """A message's text without the bot's own mention, still in Slack's markup."""
    text = str(event.get("text") or "")
    pattern = await services.bot_mention_pattern(team)
    if pattern is not None:
        text = pattern.sub("", text)
    elif mention:
        text = _LEADING_MENTION.sub("", text, count=1)
    return re.sub(r"[ \t]{2,}", " ", text)


def _command_in(markup: str) -> str | None:
    """The command a message is; a command is one bare word, so no name
    lookup can change the answer."""
    return command_word(plain_text(markup))


async def readable_text(people: People, event: dict[str, Any], markup: str, *, team: str) -> str:
    """`markup` as the planner should read it, with the files the message shares."""
    text = (await people.readable(markup, team=team)).strip()
    files = [str(f.get("name") or f.get("title") or "file") for f in event.get("files") or [] if isinstance(f, dict)]
    if files:
        text = (text + "\n" if text else "") + "[shared files: " + ", ".join(files) + "]"
    return text


async def reply_text(services: BotServices, event: dict[str, Any], *, mention: bool, team: str) -> str:
    """The text of a person's message as the planner should read it."""
    markup = await message_markup(services, event, mention=mention, team=team)
    return await readable_text(services.people, event, markup, team=team)


async def _author_and_text(people: People, event: dict[str, Any], markup: str, *, team: str) -> tuple[str, str]:
    """Both looked up at once, so the names share one bounded wait."""
    author, text = await asyncio.gather(
        people.author_name(str(event.get("user") or ""), team=team),
        readable_text(people, event, markup, team=team),
    )
    return author, text


async def handle_app_mention(services: BotServices, body: dict[str, Any], event: dict[str, Any]) -> None:
    team = _team(body, event)
    if event.get("subtype") not in REPLY_SUBTYPES or await services.from_an_app(event, team):
        return
    channel = str(event.get("channel") or "")
    ts = str(event.get("ts") or "")
    user = str(event.get("user") or "")
    if not channel or not ts or not user:
        return
    thread_ts = str(event.get("thread_ts") or "")
    trip_id = None
    if thread_ts and thread_ts != ts:
        trip_id = await services.directory.trip_for_thread(thread_key(team, channel, thread_ts))
    if trip_id is not None:
        # An answer in a trip thread: stored first, the event remembered after.
        markup = await message_markup(services, event, mention=True, team=team)
        command = _command_in(markup)
        if command is not None:
            await handle_command(services, command, team=team, channel=channel, thread_ts=thread_ts, ts=ts, user=user,
                                 trip_id=trip_id)
        else:
            author, text = await _author_and_text(services.people, event, markup, team=team)
            await services.deliveries.deliver_reply(
                trip_id=trip_id, team=team, channel=channel, ts=ts, user=user, text=text, author=author
            )
        await services.first_time_of_event(body)
        return
    if not await services.first_time_of_event(body):
        return
    text = await reply_text(services, event, mention=True, team=team)

    if not thread_ts or thread_ts == ts:
        # A top-level mention: the mention itself is the trip's root message.
        if not await services.first_time(f"msg:{team}:{channel}:{ts}"):
            return
        await services.start_trip(team=team, channel=channel, root_ts=ts, starter=user, request=text)
        return

    # A mention in a thread that is not a trip yet: plan a trip in that thread.
    if not await services.first_time(f"msg:{team}:{channel}:{ts}"):
        return
    await services.start_trip(team=team, channel=channel, root_ts=thread_ts, starter=user, request=text)


async def handle_message(services: BotServices, body: dict[str, Any], event: dict[str, Any]) -> None:
    # Cheap filters first: most channel messages are not answers to a trip.
    subtype = event.get("subtype")
    if subtype == "message_changed":
        await handle_edit(services, body, event)
        return
    if subtype == "message_deleted":
        await handle_deletion(services, body, event)
        return
    if subtype not in REPLY_SUBTYPES:
        return  # joins, bot_message, ...
    if event.get("bot_id") or event.get("bot_profile"):
        return
    channel = str(event.get("channel") or "")
    ts = str(event.get("ts") or "")
    user = str(event.get("user") or "")
    thread_ts = str(event.get("thread_ts") or "")
    if not channel or not ts or not user or not thread_ts or thread_ts == ts:
        return  # top-level messages are not answers (a top-level mention starts a trip via app_mention)
    team = _team(body, event)
    trip_id = await services.directory.trip_for_thread(thread_key(team, channel, thread_ts))
    if trip_id is None:
        return
    if await services.from_an_app(event, team):
        return
    markup = await message_markup(services, event, mention=False, team=team)
    command = await _command_to_bot(services, event, markup, team)
    if command is None and event.get("channel_type") == "im":
        command = _command_in(markup)  # in the app's DM every message is said to the bot
    if command is not None:
        # The `message` twin of an `@bot cancel`: a command, never an answer.
        await handle_command(services, command, team=team, channel=channel, thread_ts=thread_ts, ts=ts, user=user,
                             trip_id=trip_id)
    else:
        # Stored first (deduped by the inbox), the event remembered after.
        author, text = await _author_and_text(services.people, event, markup, team=team)
        await services.deliveries.deliver_reply(
            trip_id=trip_id, team=team, channel=channel, ts=ts, user=user, text=text, author=author
        )
    await services.first_time_of_event(body)


async def handle_edit(services: BotServices, body: dict[str, Any], event: dict[str, Any]) -> None:
    """`message_changed`: a person edited a message; for the trip if it was an answer."""
    message = event.get("message")
    previous = event.get("previous_message")
    team = _team(body, event)
    if not isinstance(message, dict):
        return
    if message.get("subtype") not in REPLY_SUBTYPES or await services.from_an_app(message, team):
        return  # an app's edit (ours: chat.update), or a tombstone left by a deleted parent
    if isinstance(previous, dict) and await services.from_an_app(previous, team):
        return
    if not isinstance(message.get("edited"), dict):
        return  # not a person's edit: an unfurl, a reply count
    # `edited.ts` has whole seconds only; the change event's own ts tells
    # apart two edits in one second (and a retry of the event carries it too).
    edit_ts = str(event.get("event_ts") or event.get("ts") or "")
    channel = str(event.get("channel") or "")
    ts = str(message.get("ts") or "")
    user = str(message.get("user") or "")
    thread_ts = str(message.get("thread_ts") or "")
    if not edit_ts or not channel or not ts or not user or not thread_ts or thread_ts == ts:
        return  # not a thread reply
    if isinstance(previous, dict) and previous.get("text") == message.get("text"):
        return  # the text is as it was (an unfurl, a file's preview)
    trip_id = await services.directory.trip_for_thread(thread_key(team, channel, thread_ts))
    if trip_id is None:
        return
    markup = await message_markup(services, message, mention=False, team=team)
    author, text = await _author_and_text(services.people, message, markup, team=team)
    await services.deliveries.revise_reply(trip_id=trip_id, channel=channel, ts=ts, edit_ts=edit_ts, author=author, text=text)
    await services.first_time_of_event(body)


async def handle_deletion(services: BotServices, body: dict[str, Any], event: dict[str, Any]) -> None:
    """`message_deleted`: a person deleted a message; dropped from the trip's inbox if unread."""
    previous = event.get("previous_message")
    team = _team(body, event)
    if not isinstance(previous, dict) or await services.from_an_app(previous, team):
        return  # our own deletions, another app's
    channel = str(event.get("channel") or "")
    ts = str(event.get("deleted_ts") or previous.get("ts") or "")
    thread_ts = str(previous.get("thread_ts") or "")
    if not channel or not ts or not thread_ts or thread_ts == ts:
        return  # a top-level message, or a thread's root
    trip_id = await services.directory.trip_for_thread(thread_key(team, channel, thread_ts))
    if trip_id is None:
        return
    await services.deliveries.withdraw_reply(trip_id=trip_id, channel=channel, ts=ts)
    await services.first_time_of_event(body)


async def _command_to_bot(services: BotServices, event: dict[str, Any], markup: str, team: str) -> str | None:
    """The command a plain `message` event holds, if it mentions the bot."""
    raw = str(event.get("text") or "")
    pattern = await services.bot_mention_pattern(team)
    if pattern is not None:
        return _command_in(markup) if pattern.search(raw) else None
    # Who the bot is is unknown for now: a leading mention plus a command word
    # is taken as one (its app_mention twin decides the same way).
    if not _LEADING_MENTION.match(raw):
        return None
    return _command_in(_LEADING_MENTION.sub("", raw, count=1))


async def handle_command(
    services: BotServices, command: str, *, team: str, channel: str, thread_ts: str, ts: str, user: str, trip_id: str
) -> None:
    """`@bot cancel | finish | status` in a trip thread.

    cancel/finish are delivered like answers (before Slack is acked, under
    the message's own key "channel:ts", so the twins and retries apply once);
    status and any refusal are ephemeral and sent in the background."""
    if command == "status":
        if await services.first_time(f"cmd:{team}:{channel}:{ts}"):  # once across the twins and retries
            services.in_background(
                answer_status(services, team=team, trip_id=trip_id, channel=channel, thread_ts=thread_ts, user=user),
                name="status",
            )
        return
    request = ControlRequest(
        team=team, channel=channel, thread_ts=thread_ts, trip_id=trip_id, user=user, kind=command,
        key=f"{channel}:{ts}", ts=ts, seen=f"msg:{team}:{channel}:{ts}",
    )
    await request_control(services, request, tell=command != "cancel", notice_once=f"cmd:{team}:{channel}:{ts}")


__all__ = [
    "REPLY_SUBTYPES",
    "handle_app_mention",
    "handle_deletion",
    "handle_edit",
    "handle_message",
    "message_markup",
    "register",
    "reply_text",
]
