"""`ChatPort` on the Slack Web API: every post lands in the trip's thread, once.

Exactly once across crashes. The workflow passes each post a `key`, the id of
the durable step that posts (stable across replays, starting with the trip
id). A message may be split into parts; part `i` has the ledger key
``f"{key}#{i}"`` in the registry's posting ledger and carries Slack message
metadata ``{"event_type": "travel_planner_post", "event_payload":
{"trip_key": trip id, "step": key, "part": i, ...}}`` ("trip_key" is the
wire name of the trip id, kept for the posts already in Slack). For each part:

1. ledger says "done" -> skip;
2. ledger says "intent" (an earlier process may have posted, then died before
   recording it) -> look the part up in the thread (`conversations.replies`
   with `include_all_metadata`, paginated) by step and part; found -> record
   "done" and skip; not found -> post;
3. nothing recorded -> record "intent", post, record "done" with the ts.

Exactly once when Slack's answer is lost. Slack can post a message and then
answer 500 or drop the connection; the HTTP client never retries a post by
itself (`bot.slack_client`). Here, such a post is looked up in the thread by
its metadata before it is sent again. The plan file is uploaded in the three
steps of Slack's external upload, with the file id in the ledger before the
file is shared (``f"{key}#file/upload"``), so a share whose answer was lost
is found again by that id.

Refusals. Only a thread that can never be posted to again (the channel is
gone or archived, the bot was removed from a private channel, the token is
revoked) raises a permanent `SlackPostError`, which ends the trip. Content
Slack refuses falls back: a refused markdown block is posted as mrkdwn, then
as plain text; a part that is too long is split. A refused `chat.update` (the
message was deleted, cannot or may no longer be edited) never ends or stalls
a trip: a research line is posted afresh, the root message is left as it is,
and both are logged.

Within one process a lock per ledger key keeps two concurrent calls for the
same part from both posting (`workflows.exactly_once.ExactlyOnce` keeps the
ledger's marks for every chat port).

`set_status` drives `assistant.threads.setStatus` ("is searching the web..."),
refreshing it from a background task (Slack drops the status after 2 minutes
and whenever the app posts in the thread) until it is cleared with "". It is
best effort: it logs and never raises.

The parts: `port` (the ChatPort, and the parts of a post), `sending` (one
message, with its fallbacks from `fallbacks`), `thread_search` (our posts'
metadata, and finding them in a thread), `uploads` (the plan file), `status`
(the thread's status) and `errors` (Slack's refusals).
"""

from __future__ import annotations

from bot.slack_chat.errors import THREAD_GONE_ERRORS, UPDATE_REFUSALS, SlackPostError
from bot.slack_chat.port import SlackChatPort
from bot.slack_chat.thread_search import METADATA_EVENT_TYPE, trip_id_of

__all__ = [
    "METADATA_EVENT_TYPE",
    "THREAD_GONE_ERRORS",
    "UPDATE_REFUSALS",
    "SlackChatPort",
    "SlackPostError",
    "trip_id_of",
]
