"""Compaction in steps: the stored transcript only grows until it passes the
budget; then the newest rounds the LLM has read become digests, once, and
everything before them is sent exactly as before (what the prompt cache reuses)."""

from __future__ import annotations

import json
from typing import Any

from testing.fakes.llm_server import tool_sequence_error
from workflows.tools.search.base import SearchHit, SearchResults
from workflows.tools.search.format import format_results
from workflows.tools.untrusted import fence
from workflows.transcript import (
    OMITTED_NOTE,
    compact_in_steps,
    digest_tool_output,
    is_digest,
    total_chars,
)

BUDGET = 48_000


def _search(turn: int) -> str:
    hits = [
        SearchHit(f"Lisbon guide {turn}.{i}", f"https://example.org/t{turn}/{i}", f"Snippet {i} " + "tram view " * 25)
        for i in range(10)
    ]
    return format_results(f"lisbon topic {turn}", SearchResults(hits))


def _page(turn: int, which: int) -> str:
    text = f"# Guide {turn}.{which}\n\n" + "\n\n".join(f"Paragraph {p} of page {turn}.{which}. " + "words " * 150
                                                        for p in range(11))
    return f"Page: https://example.org/t{turn}/{which}\n{fence(text)}"


def _round(n: int, outputs: list[str]) -> list[dict[str, Any]]:
    ids = [f"call_{n}_{k}" for k in range(len(outputs))]
    call = {"role": "assistant", "content": "", "tool_calls": [
        {"id": i, "type": "function", "function": {"name": "scrape_website", "arguments": json.dumps({"k": i})}}
        for i in ids
    ]}
    return [call, *({"role": "tool", "tool_call_id": i, "content": o} for i, o in zip(ids, outputs, strict=True))]


def _trip(turns: int) -> list[list[dict[str, Any]]]:
    """What the body appends before each LLM call: a search round, a round of
    two ~10 KB pages, then the LLM's question and the team's answer."""
    steps: list[list[dict[str, Any]]] = [[{"role": "user", "content": "Trip request from ana: Lisbon in May"}]]
    for t in range(turns):
        steps.append(_round(2 * t, [_search(t)]))
        steps.append(_round(2 * t + 1, [_page(t, 0), _page(t, 1)]))
        steps.append([{"role": "assistant", "content": f"Question {t}?"}, {"role": "user", "content": f"[ana] answer {t}"}])
    return steps


def _requests(steps: list[list[dict[str, Any]]], budget: int = BUDGET) -> list[list[dict[str, Any]]]:
    """The transcript each LLM call sends, as the body keeps it."""
    stored: list[dict[str, Any]] = []
    sent = []
    for new in steps:
        stored = compact_in_steps([*stored, *new], budget)
        sent.append(stored)
    return sent


def _shared(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def test_search_results_digest_to_their_titles_and_links_inside_the_same_fence():
    full = _search(3)
    digest = digest_tool_output(full)
    lines = digest.split("\n")
    assert lines[0] == full.split("\n")[0]  # 'Web search results for "lisbon topic 3" (10 results):'
    assert lines[1] == full.split("\n")[1] and lines[1].startswith("<<<UNTRUSTED_WEB_CONTENT id=")
    assert all(f"https://example.org/t3/{i}" in digest and f"Lisbon guide 3.{i}" in digest for i in range(10))
    assert digest.count("Snippet") <= 1  # at most the start of the text, not every snippet
    end = next(line for line in full.split("\n") if line.startswith("<<<END_UNTRUSTED_WEB_CONTENT"))
    assert lines[-2] == end  # the note is outside the fence
    assert lines[-1].startswith("[Digest: ") and f"of {len(full):,} characters" in lines[-1]
    assert len(digest) < len(full) / 2


def test_a_page_digests_to_its_url_and_start_and_a_digest_is_never_digested_again():
    full = _page(1, 0)
    digest = digest_tool_output(full)
    assert digest.startswith("Page: https://example.org/t1/0\n<<<UNTRUSTED_WEB_CONTENT id=")
    assert "# Guide 1.0" in digest and "Paragraph 10" not in digest
    assert is_digest(digest) and not is_digest(full)
    assert len(digest) < 800 < len(full)
    assert digest_tool_output(digest) == digest
    assert digest_tool_output(full) == digest  # deterministic: the body computes it again on replay
    short = "Search failed: the provider timed out."
    assert digest_tool_output(short) == short


def test_within_budget_the_transcript_is_sent_as_it_is():
    messages = [m for step in _trip(1) for m in step]
    assert total_chars(messages) < BUDGET
    assert compact_in_steps(messages, BUDGET) is messages


def test_requests_only_append_between_edits_and_an_edit_keeps_everything_before_it():
    requests = _requests(_trip(7))
    appended = edits = 0
    for before, after in zip(requests, requests[1:]):
        kept = _shared(before, after)
        if kept == len(before):
            appended += 1
            continue
        edits += 1
        # The edit turned tool output into digests and touched nothing before it.
        changed = [b for b, a in zip(before[kept:], after[kept:]) if a != b]
        assert all(b["role"] == "tool" and is_digest(a["content"])
                   for b, a in zip(before[kept:], after[kept:]) if a != b), changed
        assert kept >= 2  # the trip's request and the first round always stay
    assert edits and appended > edits  # most calls only append
    # The trip's request and the first call for research stay byte-identical in every call.
    assert all(r[:2] == requests[1][:2] for r in requests[1:])


def test_a_digested_message_never_changes_again():
    requests = _requests(_trip(7))
    seen: dict[str, str] = {}
    for request in requests:
        for m in request:
            if m["role"] == "tool" and is_digest(m["content"]):
                assert seen.setdefault(m["tool_call_id"], m["content"]) == m["content"]
    assert len(seen) >= 10


def test_the_budget_holds_and_the_latest_round_is_sent_in_full():
    steps = _trip(7)
    for request, new in zip(_requests(steps), steps, strict=True):
        assert total_chars(request) <= BUDGET
        assert request[-len(new):] == new  # what the LLM has not read yet is never digested
        assert tool_sequence_error([{"role": "system", "content": "s"}, *request]) is None


def test_when_digests_are_not_enough_old_turns_go_in_one_chunk_with_one_note():
    requests = _requests(_trip(10), budget=30_000)
    note = OMITTED_NOTE.split("{", 1)[0]
    with_note = [r for r in requests if any(note in (m.get("content") or "") for m in r)]
    assert with_note, "ten turns of digests do not fit 30,000 characters: turns must have been dropped"
    for request in requests:
        assert total_chars(request) <= 30_000
        assert request[0]["content"] == "Trip request from ana: Lisbon in May"  # the request always stays
        assert sum(note in (m.get("content") or "") for m in request) <= 1
        assert tool_sequence_error([{"role": "system", "content": "s"}, *request]) is None
    # A drop goes down to half the budget, so the calls after it append again.
    counts = [int(m["content"].split(": ")[1].split(" ")[0]) for r in with_note for m in r if note in (m.get("content") or "")]
    assert counts == sorted(counts) and len(set(counts)) < len(counts)  # cumulative, and stable between drops


def test_a_latest_round_bigger_than_the_budget_drops_no_history_and_is_cut_only_when_sent():
    from workflows.transcript import fit_to_budget

    history = [m for step in _trip(2) for m in step]
    huge = _round(99, [_page(9, k) for k in range(6)])  # six pages at once, ~66,000 characters
    stored = compact_in_steps([*history, *huge], BUDGET)
    assert stored[-len(huge):] == huge  # unread: never digested
    assert [m.get("content") for m in stored[:1]] == [history[0]["content"]]
    assert len(stored) == len(history) + len(huge)  # nothing dropped: it would not have helped
    sent = fit_to_budget(stored, BUDGET)  # what the LLM step sends
    assert total_chars(sent) <= BUDGET and tool_sequence_error([{"role": "system", "content": "s"}, *sent]) is None


def test_drops_keep_the_latest_round_whole_when_the_team_has_answered_after_it():
    steps = _trip(10)
    requests = _requests(steps, budget=30_000)
    last_round = steps[-2]  # the last turn's pages, read; then the question and the answer
    assert requests[-1][-len(last_round) - 2 : -2] == last_round
