"""Slack's refusals, sorted by what each means for a trip, and the error a
post raises to the workflow."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

from workflows.ports import PostFailed

#: Errors after which this thread can never be posted to again: the trip ends.
THREAD_GONE_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",  # only once joining failed (a private channel we were removed from)
        "is_archived",
        "thread_not_found",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "cannot_reply_to_message",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "ekm_access_denied",
        "team_access_not_granted",
        "not_installed",  # the app left the workspace: no token to post with
    }
)
#: Slack refused the token itself (a cached one may be stale after a reinstall).
TOKEN_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"})
#: Our own error when the app is not installed in the thread's workspace.
NOT_INSTALLED = "not_installed"
#: "Slack did not like the blocks": post them as mrkdwn, then as plain text.
BLOCK_ERRORS = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long"})
#: "The text is too long": split the part, or shorten an update.
TOO_LONG_ERRORS = frozenset({"msg_too_long"})
#: chat.update refusals after which the message stays as it is.
UPDATE_REFUSALS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
#: files.* errors after which the plan file is given up (the plan is posted).
FILE_REFUSALS = frozenset(
    {"file_uploads_disabled", "file_upload_size_restricted", "not_allowed_token_type", "invalid_channel"}
)
#: Lookup errors after which we cannot search the thread and post anyway.
LOOKUP_GIVE_UP_ERRORS = frozenset({"missing_scope", "not_allowed_token_type"})


class SlackPostError(PostFailed):
    """chat.postMessage failed; `permanent` when retrying cannot help.

    Pickles round-trip (every constructor argument goes to `super().__init__`),
    so the durable engine can re-raise it after exhausting retries.
    """

    def __init__(self, error: str, channel: str, permanent: bool) -> None:
        super().__init__(error, channel, permanent)
        self.error = error
        self.channel = channel
        self.permanent = permanent

    def __str__(self) -> str:
        kind = "permanent" if self.permanent else "transient"
        return f"Slack refused a post to {self.channel}: {self.error} ({kind})"


class Refused(Exception):
    """Slack answered `ok: false` with `error` (it did nothing)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def slack_error(exc: SlackApiError) -> str:
    return str(exc.response.get("error") or "unknown_error") if exc.response is not None else "unknown_error"


def describe(exc: BaseException) -> str:
    """A failure in a few words, for a log line."""
    if isinstance(exc, SlackApiError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__
