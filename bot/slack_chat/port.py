"""`SlackChatPort`: the trip's chat port on the Slack Web API (see the
package docstring for how each post lands exactly once)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.formatting import (
    DEFAULT_PART_CHARS,
    MAX_BLOCKS,
    SlackMessage,
    Style,
    plan_file_name,
    plan_messages,
    render,
)
from bot.plan_feedback import feedback_block
from bot.root_message import choice_buttons, root_message
from bot.slack_chat.errors import (
    NOT_INSTALLED,
    THREAD_GONE_ERRORS,
    TOKEN_ERRORS,
    TOO_LONG_ERRORS,
    Refused,
    SlackPostError,
)
from bot.slack_chat.fallbacks import halves
from bot.slack_chat.plan_blocks import itinerary_messages
from bot.slack_chat.sending import MessageSender
from bot.slack_chat.status import ThreadStatus
from bot.slack_chat.thread_search import ThreadSearch, thread_parts, trip_id_of
from bot.slack_chat.uploads import PlanFiles
from bot.slack_chat.vote_blocks import vote_message
from bot.workspaces import SingleWorkspace, WorkspaceUnknown, Workspaces
from workflows import failpoints
from workflows.exactly_once import ExactlyOnce
from workflows.itinerary.calendar import calendar_file_name, itinerary_calendar
from workflows.posts import Plan
from workflows.itinerary.model import Itinerary
from workflows.ports import PostLedger, ThreadRef, TripRecord
from workflows.votes import VoteView

log = logging.getLogger("bot.slack_chat")

NOTICE_PREFIX = "⚠️ "
#: Ledger ref of a part that Slack found too long and that went out as sub-parts.
_SPLIT = "split"


class SlackChatPort:
    """`workflows.ports.ChatPort` for Slack threads."""

    def __init__(
        self,
        workspaces: Workspaces | AsyncWebClient,
        ledger: PostLedger,
        *,
        style: Style = "markdown",
        part_chars: int = DEFAULT_PART_CHARS,
        status_refresh_seconds: float = 90.0,
        status_max_seconds: float = 15 * 60.0,
        replies_page_size: int = 200,
        lost_answer_pause_seconds: float = 0.5,
        logger: logging.Logger | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        # A bare client serves one workspace: the team its token belongs to.
        self._workspaces: Workspaces = (
            SingleWorkspace(workspaces) if isinstance(workspaces, AsyncWebClient) else workspaces
        )
        self._once = ExactlyOnce(ledger)
        self._style: Style = style
        self._part_chars = part_chars
        self._clock = clock  # the calendar's DTSTAMP
        self._log = logger or log
        search = ThreadSearch(replies_page_size, self._log)
        self._search = search
        self._sender = MessageSender(search, lost_answer_pause_seconds, self._log)
        self._files = PlanFiles(self._once, ledger, search, lost_answer_pause_seconds, self._log)
        self._status = ThreadStatus(self._client_for, status_refresh_seconds, status_max_seconds, self._log)

    # -- ChatPort ----------------------------------------------------------

    async def ask(self, thread: ThreadRef, question: str, *, key: str, choices: Sequence[str] = ()) -> None:
        extra = [choice_buttons(tuple(choices))] if choices else []
        await self.post(thread, question, key=key, kind="ask", extra_blocks=extra)

    async def progress(self, thread: ThreadRef, text: str, *, key: str) -> None:
        await self.post(thread, text, key=key, kind="progress")

    async def progress_done(self, thread: ThreadRef, text: str, *, key: str) -> None:
        """Rewrite the round's line in place (chat.update).

        If the line never made it, or Slack refuses to edit it (someone deleted
        it), the done line is posted as a fresh message instead, exactly once."""
        line_ts = await self._once.posted(f"{key}#0")
        if line_ts is None:
            await self.post(thread, text, key=key, kind="progress")  # the line never made it
            return
        channel, _ = thread_parts(thread)
        message = render(text, style=self._style, part_chars=self._part_chars)[0]
        refusal = await self._in_workspace(thread, lambda client: self._sender.update(client, channel, line_ts, message))
        if refusal is not None:
            self._log.warning(
                "could not rewrite the research line %s in %s (%s); posting it afresh", line_ts, channel, refusal
            )
            await self.post(thread, text, key=f"{key}/again", kind="progress")

    async def final_plan(self, thread: ThreadRef, plan: Plan, *, key: str) -> None:
        """The plan as a structured message (header, day sections, usage
        footer; split into parts when long) with 👍/👎 under it, then the
        whole plan as a Markdown file in the thread; a structured `itinerary`
        is rendered from its fields (`plan_blocks`) and also shared as an .ics
        calendar. Each exactly once per `key`. A revision (`version` 2 and up)
        is headed "Plan v2" and its files are `<slug>-v2.md` / `.ics`; earlier
        versions stay as they are."""
        text, footer, version = plan.plan, plan.footer, plan.version
        itinerary = Itinerary.from_dict(plan.itinerary) if plan.itinerary is not None else None
        feedback = [feedback_block(version)]
        if itinerary is None:
            messages = plan_messages(text, footer, style=self._style, part_chars=self._part_chars, version=version)
            await self.post(thread, text, key=key, kind="plan", messages=messages, extra_blocks=feedback)
        else:
            messages = itinerary_messages(itinerary, footer, version=version, trailing=feedback)
            await self.post(thread, text, key=key, kind="plan", messages=messages)
        await self.share_plan_file(thread, text, key=key, footer=footer, version=version)
        if itinerary is not None:
            failpoints.reached("after:plan_file")  # the Markdown file shared, the calendar not yet
            await self.share_calendar_file(thread, itinerary, key=key, version=version)

    async def share_calendar_file(self, thread: ThreadRef, itinerary: Itinerary, *, key: str, version: int = 1) -> str:
        """The itinerary as an .ics file in the thread (exactly once per `key`): its file id.

        Its events' UIDs come from the trip; DTSTAMP is when it is built (an
        upload after a crash builds it again, and only one upload lands)."""
        calendar = itinerary_calendar(itinerary, trip_id=trip_id_of(key), stamp=self._clock(), sequence=version - 1)
        filename = calendar_file_name(plan_file_name(itinerary.title, version))
        return await self._in_workspace(
            thread, lambda client: self._files.share_calendar(client, thread, calendar, key, filename, itinerary.title)
        )

    async def share_plan_file(
        self, thread: ThreadRef, plan: str, *, key: str, footer: str = "", version: int = 1
    ) -> str:
        """The plan as a Markdown file in the thread (`PlanFiles.share`): its file id."""
        return await self._in_workspace(
            thread, lambda client: self._files.share(client, thread, plan, key, footer, version=version)
        )

    async def show_state(self, thread: ThreadRef, state: str, *, trip: TripRecord, plan_key: str = "") -> None:
        """Rewrite the trip's root message: its state, and a link to the plan.

        If Slack refuses the edit (the root was deleted, or may no longer be
        edited), the root is left as it is: the thread says it all."""
        await self._in_workspace(thread, lambda client: self._show_state(client, thread, state, trip, plan_key))

    async def _show_state(
        self, client: AsyncWebClient, thread: ThreadRef, state: str, trip: TripRecord, plan_key: str
    ) -> None:
        channel, root_ts = thread_parts(thread)
        link = ""
        if plan_key:
            plan_ts = await self._once.posted(f"{plan_key}#0")
            if plan_ts is not None:
                link = await self._permalink(client, channel, plan_ts)
        root = root_message(trip.starter, trip.request, state, link, trip.plan_versions)
        refusal = await self._sender.update(client, channel, root_ts, root)
        if refusal is not None:
            self._log.warning(
                "could not show state %s on the root message of %s (%s); leaving it as it is",
                state,
                trip.trip_id,
                refusal,
            )

    async def notice(self, thread: ThreadRef, text: str, *, key: str) -> None:
        await self.post(thread, NOTICE_PREFIX + text, key=key, kind="notice")

    async def set_status(self, thread: ThreadRef, status: str) -> None:
        self._status.set(thread, status)

    async def vote(self, thread: ThreadRef, view: VoteView, *, key: str) -> None:
        """Post the vote once under `key`; after, rewrite it in place
        (chat.update is safe to repeat). If Slack refuses the edit (someone
        deleted the message), the vote goes on without it: logged."""
        message = vote_message(view)
        vote_ts = await self._once.posted(f"{key}#0")
        if vote_ts is None:
            await self.post(thread, message.text, key=key, kind="vote", messages=[message])
            return
        channel, _ = thread_parts(thread)
        refusal = await self._in_workspace(thread, lambda client: self._sender.update(client, channel, vote_ts, message))
        if refusal is not None:
            self._log.warning("could not rewrite the vote %s in %s (%s)", vote_ts, channel, refusal)

    # -- more than the port ------------------------------------------------

    async def post(
        self,
        thread: ThreadRef,
        markdown: str,
        *,
        key: str,
        kind: str = "message",
        extra_blocks: list[dict[str, Any]] | None = None,
        messages: list[SlackMessage] | None = None,
    ) -> list[str]:
        """Post `markdown` in the thread exactly once per `key`; returns the parts' ts.

        `extra_blocks` (buttons, a footer) go at the end of the last part.
        `messages`: the parts already rendered (else rendered from `markdown`)."""
        return await self._in_workspace(
            thread, lambda client: self._post(client, thread, markdown, key, kind, extra_blocks, messages)
        )

    async def _post(
        self,
        client: AsyncWebClient,
        thread: ThreadRef,
        markdown: str,
        key: str,
        kind: str,
        extra_blocks: list[dict[str, Any]] | None,
        messages: list[SlackMessage] | None,
    ) -> list[str]:
        channel, thread_ts = thread_parts(thread)
        if messages is None:
            messages = render(markdown, style=self._style, part_chars=self._part_chars)
        messages = list(messages)
        if extra_blocks:
            last = messages[-1]
            room = MAX_BLOCKS - len(last.blocks)
            messages[-1] = SlackMessage(text=last.text, blocks=[*last.blocks, *extra_blocks[: max(room, 0)]])
        refs: list[str] = []
        for part, message in enumerate(messages):
            # "trip_key": the wire name, kept: posts already in Slack carry it.
            payload = {"trip_key": trip_id_of(key), "step": key, "part": part, "parts": len(messages), "kind": kind}
            refs.extend(await self._post_part(client, channel, thread_ts, message, key, str(part), payload))
        await self._status.after_post(client, channel, thread_ts)
        return refs

    def active_statuses(self) -> dict[tuple[str, str], str]:
        """(channel, thread_ts) -> status currently kept alive."""
        return self._status.active()

    async def aclose(self) -> None:
        """Stop every status refresher (call on shutdown)."""
        await self._status.aclose()

    # -- workspaces --------------------------------------------------------

    async def _client_for(self, thread: ThreadRef) -> AsyncWebClient:
        """The client with the token of the thread's own workspace."""
        channel, _ = thread_parts(thread)
        team = str(thread.get("team") or "")
        try:
            workspace = await self._workspaces.find(team)
        except WorkspaceUnknown as exc:
            raise SlackPostError(f"workspace_unknown: {exc}", channel, False) from exc
        if workspace is None:
            raise SlackPostError(NOT_INSTALLED, channel, True)
        return workspace.client

    async def _in_workspace[T](self, thread: ThreadRef, work: Callable[[AsyncWebClient], Awaitable[T]]) -> T:
        """`work` with the thread's workspace client. When Slack refuses that
        token (the app was reinstalled and this process still had the old
        one), the workspace is looked up afresh, once."""
        client = await self._client_for(thread)
        try:
            return await work(client)
        except SlackPostError as exc:
            if exc.error not in TOKEN_ERRORS:
                raise
            refused = exc
        self._workspaces.invalidate(str(thread.get("team") or ""))
        fresh = await self._client_for(thread)
        if fresh.token == client.token:
            raise refused
        self._log.info("Slack refused a cached token for workspace %s; using the one installed now", thread.get("team"))
        return await work(fresh)

    # -- posting -----------------------------------------------------------

    async def _post_part(
        self,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str,
        message: SlackMessage,
        step: str,
        part: str,
        payload: dict[str, Any],
    ) -> list[str]:
        """One part, exactly once; a part Slack finds too long is posted as
        smaller parts ``{part}.{j}`` (each exactly once in turn)."""
        ledger_key = f"{step}#{part}"

        async def in_the_thread() -> str | None:
            found = await self._search.find_post(client, channel, thread_ts, step, part)
            if found is not None:
                self._log.info("post %s was already in the thread (ts %s)", ledger_key, found)
            return found

        async def send() -> str:
            try:
                ts = await self._sender.post_once(client, channel, thread_ts, message, step, part, payload)
            except Refused as refused:
                if refused.error not in TOO_LONG_ERRORS:
                    raise SlackPostError(refused.error, channel, refused.error in THREAD_GONE_ERRORS) from refused
                self._log.warning("Slack found post %s too long; posting it in smaller parts", ledger_key)
                return _SPLIT
            failpoints.reached("after:slack_post")  # posted, not yet recorded: the hard case
            return ts

        ref = await self._once.post(ledger_key, send, find=in_the_thread)
        if ref != _SPLIT:
            return [ref]
        return await self._post_split(client, channel, thread_ts, message, step, part, payload)

    async def _post_split(
        self,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str,
        message: SlackMessage,
        step: str,
        part: str,
        payload: dict[str, Any],
    ) -> list[str]:
        pieces = halves(message)
        if len(pieces) < 2:
            raise SlackPostError("msg_too_long", channel, False)
        refs: list[str] = []
        for j, piece in enumerate(pieces):
            sub = f"{part}.{j}"
            refs.extend(await self._post_part(client, channel, thread_ts, piece, step, sub, {**payload, "part": sub}))
        return refs

    async def _permalink(self, client: AsyncWebClient, channel: str, ts: str) -> str:
        try:
            response = await client.chat_getPermalink(channel=channel, message_ts=ts)
            return str(response.get("permalink") or "")
        except SlackApiError as exc:
            self._log.warning("no permalink for %s/%s: %s", channel, ts, exc.response.get("error"))
            return ""
