"""The fake Slack refuses blocks as Slack does: unknown block types, table
blocks of the wrong shape or over its limits, two tables in one message,
tables in a view, and (`reject_table_blocks`) any table at all."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.errors import SlackApiError

from bot.slack_client import make_web_client
from testing.fakes.slack_api import FakeSlackWebAPI
from testing.loop import LoopThread


def _cell(text: str = "x") -> dict[str, Any]:
    return {"type": "raw_text", "text": text}


def _table(**fields: Any) -> dict[str, Any]:
    return {"type": "table", "rows": [[_cell("Day"), _cell("Cost")], [_cell("1"), _cell("10")]], **fields}


def _post(api: FakeSlackWebAPI, loop: LoopThread, blocks: list[dict[str, Any]]) -> str:
    """"" if Slack took the message, else its error."""
    api.add_channel("C1", is_member=True)
    client = make_web_client(api.token, api.api_url)
    try:
        loop.run(client.chat_postMessage(channel="C1", text="t", blocks=blocks))
    except SlackApiError as exc:
        return str(exc.response["error"])
    return ""


GOOD_TABLE = _table(column_settings=[{"is_wrapped": True}, None, {"align": "right"}])


@pytest.mark.parametrize(
    ("blocks", "error"),
    [
        ([GOOD_TABLE], ""),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "a"}}, {"type": "divider"}, GOOD_TABLE], ""),
        ([{"type": "sectoin", "text": {"type": "mrkdwn", "text": "a"}}], "invalid_blocks"),  # unknown type
        ([{"type": "divider", "text": "no"}], "invalid_blocks"),
        ([GOOD_TABLE, _table()], "invalid_blocks"),  # one table a message
        ([_table(rows=[])], "invalid_blocks"),
        ([_table(rows=[[_cell()] for _ in range(101)])], "invalid_blocks"),  # at most 100 rows
        ([_table(rows=[[_cell()] * 21])], "invalid_blocks"),  # at most 20 cells a row
        ([_table(rows=[[{"type": "mrkdwn", "text": "*x*"}]])], "invalid_blocks"),  # not a table cell type
        ([_table(rows=[[{"type": "raw_text"}]])], "invalid_blocks"),
        ([_table(rows=[["plain string"]])], "invalid_blocks"),
        ([_table(column_settings=[{"align": "middle"}])], "invalid_blocks"),
        ([_table(column_settings=[{"is_wrapped": "yes"}])], "invalid_blocks"),
        ([_table(column_settings=[{"width": 3}])], "invalid_blocks"),
        ([_table(column_settings=[{}] * 21)], "invalid_blocks"),
        ([_table(caption="Budget")], "invalid_blocks"),
        ([{**GOOD_TABLE, "block_id": "b" * 256}], "invalid_blocks"),
    ],
)
def test_blocks_slack_takes_and_refuses(api: FakeSlackWebAPI, loop: LoopThread, blocks: list, error: str) -> None:
    assert _post(api, loop, blocks) == error


def test_a_workspace_that_refuses_tables(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    api.reject_table_blocks = True
    assert _post(api, loop, [GOOD_TABLE]) == "invalid_blocks"
    assert _post(api, loop, [{"type": "divider"}]) == ""


def test_a_view_takes_no_table(api: FakeSlackWebAPI, loop: LoopThread) -> None:
    client = make_web_client(api.token, api.api_url)
    with pytest.raises(SlackApiError) as refused:
        loop.run(client.views_publish(user_id="U0ANA", view={"type": "home", "blocks": [GOOD_TABLE]}))
    assert refused.value.response["error"] == "invalid_blocks"
