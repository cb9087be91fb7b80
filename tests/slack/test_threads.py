"""Thread names: stable, derived, and safe as Resonate root ids."""

from __future__ import annotations

import pytest

from bot.threads import slack_thread_ref, thread_key, trip_id_for_thread


def test_trip_id_is_stable_and_a_valid_resonate_origin() -> None:
    trip_id = trip_id_for_thread("T0001", "C0001", "1700000000.000100")
    assert trip_id == "slack-T0001-C0001-1700000000_000100"
    assert ":" not in trip_id and "." not in trip_id  # the Resonate server refuses both
    assert trip_id == trip_id_for_thread("T0001", "C0001", "1700000000.000100")


def test_different_threads_get_different_names() -> None:
    names = {
        trip_id_for_thread(team, channel, ts)
        for team in ("T1", "T2")
        for channel in ("C1", "C2")
        for ts in ("1.1", "1.2")
    }
    assert len(names) == 8
    assert thread_key("T1", "C1", "1.1") != thread_key("T1", "C1", "1.2")


def test_odd_characters_never_leak_a_colon_or_a_dot() -> None:
    trip_id = trip_id_for_thread("T:1", "C 1", "1.2:3")
    assert ":" not in trip_id and "." not in trip_id


def test_empty_parts_are_rejected() -> None:
    with pytest.raises(ValueError):
        trip_id_for_thread("T1", "", "1.2")


def test_thread_ref_is_what_the_chat_port_reads() -> None:
    assert slack_thread_ref("T1", "C1", "1.2") == {
        "surface": "slack",
        "team": "T1",
        "channel": "C1",
        "thread_ts": "1.2",
    }
