"""Traces of a real `travel-planner chat` process, exported over OTLP/HTTP to
a receiver on 127.0.0.1 that decodes the protobuf payloads: the spans the
GenAI conventions name, with their attributes, on one trace per trip; no
message content unless asked for; and after a SIGKILL and a resume, one
`chat` span per LLM request the provider answered (none for a replayed step)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.engine.chat_process import ChatProcess, answer_questions
from testing.fakes.otlp_receiver import OTLPReceiver, ReceivedSpan
from testing.fakes.scenario import QUESTIONS, lisbon_script
from testing.research_fakes import research_env, research_fakes
from testing.waiting import poll_until
from workflows.tracing import trip_trace_id

ANSWERS = dict(zip(QUESTIONS, ("May 1-4", "2000 EUR", "vegetarian"), strict=True))
TRIP = "traced-trip"
REQUEST = "Lisbon in May, 4 people"


def _traced_env(llm, serper, receiver: OTLPReceiver, tmp_path, **extra: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return research_env(
        llm, serper, tmp_path / "state",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_SERVICE_NAME="travel-planner-test",
        OTEL_BSP_SCHEDULE_DELAY="50",  # ms: spans reach the receiver while the process lives
        OTEL_BLRP_SCHEDULE_DELAY="50",
        **extra,
    )


def _finished(chat: ChatProcess) -> bool:
    return "================" in chat.output()


def _run(env: dict[str, str], tmp_path, answered: set[str], *args: str) -> ChatProcess:  # type: ignore[no-untyped-def]
    chat = ChatProcess(env, ("--trip", TRIP, *args), str(tmp_path / "stderr.log"))
    answer_questions(chat, ANSWERS, _finished, answered)
    assert chat.wait() == 0, chat.output() + chat.stderr()
    return chat


def _named(spans: list[ReceivedSpan], prefix: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.name.startswith(prefix)]


def test_a_trip_is_one_trace_of_genai_spans_without_contents(tmp_path):
    with OTLPReceiver() as receiver, research_fakes(lisbon_script) as (llm, serper, site):
        _run(_traced_env(llm, serper, receiver, tmp_path), tmp_path, set(), REQUEST)
        spans = receiver.received_spans()
        answered = llm.answered()
        assert receiver.refused == []

        assert {s.trace_id for s in spans} == {f"{trip_trace_id(TRIP):032x}"}
        [workflow] = _named(spans, "invoke_workflow")
        assert workflow.name == "invoke_workflow trip"
        assert workflow.parent_span_id == ""
        assert workflow.attributes["gen_ai.conversation.id"] == TRIP
        assert workflow.attributes["gen_ai.operation.name"] == "invoke_workflow"
        assert workflow.attributes["travel_planner.outcome"] == "done"
        assert workflow.resource["service.name"] == "travel-planner-test"

        chats = _named(spans, "chat ")
        assert len(chats) == len(answered) == 7
        assert {c.attributes["gen_ai.response.id"] for c in chats} == {f"chatcmpl-{c.fingerprint}" for c in answered}
        for span in chats:
            assert span.name == f"chat {llm.model}"
            assert span.parent_span_id == workflow.span_id
            assert span.attributes["gen_ai.operation.name"] == "chat"
            assert span.attributes["gen_ai.provider.name"] == "openai"
            assert span.attributes["gen_ai.request.model"] == llm.model
            assert span.attributes["gen_ai.response.model"] == llm.model
            assert span.attributes["gen_ai.usage.input_tokens"] > 0
            assert span.attributes["gen_ai.usage.output_tokens"] > 0
            assert span.attributes["gen_ai.response.finish_reasons"] in (["stop"], ["tool_calls"])

        tools = _named(spans, "execute_tool ")
        asked = {
            call["id"]: call["function"]["name"]
            for c in answered for m in c.messages if m.get("role") == "assistant" for call in m.get("tool_calls") or ()
        }
        assert sorted(s.name for s in tools) == [
            "execute_tool internet_search", "execute_tool internet_search",
            "execute_tool scrape_website", "execute_tool scrape_website",
        ]
        for span in tools:
            assert span.parent_span_id == workflow.span_id
            assert span.attributes["gen_ai.operation.name"] == "execute_tool"
            assert asked[span.attributes["gen_ai.tool.call.id"]] == span.attributes["gen_ai.tool.name"]
            assert span.status_code != 2

        posts = _named(spans, "post ")
        assert sorted(s.name for s in posts if s.name in ("post ask", "post plan")) == ["post ask"] * 3 + ["post plan"]
        waits = _named(spans, "wait_for_people")
        assert len(waits) == 3
        assert all(w.parent_span_id == workflow.span_id and w.start_ns < w.end_ns for w in waits)
        assert all(s.attributes["gen_ai.conversation.id"] == TRIP for s in [*tools, *posts, *waits])

        # Nothing people or pages said is recorded.
        recorded = json.dumps([[s.attributes for s in spans], [(r.body, r.attributes) for r in receiver.received_logs()]])
        for said in [*ANSWERS.values(), "Alfama is the oldest district"]:
            assert said not in recorded


def test_each_segment_is_one_span_over_its_own_steps(tmp_path):
    with OTLPReceiver() as receiver, research_fakes(lisbon_script) as (llm, serper, site):
        env = _traced_env(llm, serper, receiver, tmp_path, TRAVEL_PLANNER_TURNS_PER_SEGMENT="1")
        _run(env, tmp_path, set(), REQUEST)
        spans = receiver.received_spans()
        segments = sorted(_named(spans, "invoke_workflow"), key=lambda s: s.attributes["travel_planner.segment"])
        assert [s.attributes["travel_planner.segment"] for s in segments] == [0, 1, 2, 3]
        assert [s.attributes["travel_planner.outcome"] for s in segments] == ["continued"] * 3 + ["done"]
        assert len({s.span_id for s in segments}) == 4
        assert all(a.end_ns <= b.start_ns + 5_000_000 for a, b in zip(segments, segments[1:]))  # one after another
        ids = {s.span_id for s in segments}
        steps = [s for s in spans if s not in segments]
        assert steps and {s.parent_span_id for s in steps} == ids
        assert len(_named(spans, "chat ")) == len(llm.answered())


def test_contents_are_recorded_only_when_asked_for(tmp_path):
    with OTLPReceiver() as receiver, research_fakes(lisbon_script) as (llm, serper, site):
        env = _traced_env(llm, serper, receiver, tmp_path, OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="true")
        _run(env, tmp_path, set(), REQUEST)
        spans = receiver.received_spans()
        [last] = [s for s in _named(spans, "chat ") if "vegetarian" in s.attributes.get("gen_ai.input.messages", "")]
        said = json.loads(last.attributes["gen_ai.input.messages"])
        assert {m["role"] for m in said} >= {"system", "user", "assistant", "tool"}
        assert "# Lisbon trip" in last.attributes["gen_ai.output.messages"]  # the plan it answered with
        scrapes = [s for s in spans if s.name == "execute_tool scrape_website"]
        assert scrapes and all("Alfama" in s.attributes["gen_ai.tool.call.result"] or
                               "Sintra" in s.attributes["gen_ai.tool.call.result"] for s in scrapes)
        assert all(json.loads(s.attributes["gen_ai.tool.call.arguments"])["url"].startswith(site.url) for s in scrapes)


def test_a_resumed_trip_reports_no_phantom_llm_call(tmp_path):
    with OTLPReceiver() as receiver, research_fakes(lisbon_script) as (llm, serper, site):
        env = _traced_env(llm, serper, receiver, tmp_path)
        answered: set[str] = set()
        chat = ChatProcess(
            {**env, "TRAVEL_PLANNER_FAILPOINT": "before:llm_step:4:pause=120"},
            ("--trip", TRIP, REQUEST), str(tmp_path / "stderr.log"),
        )
        answer_questions(chat, ANSWERS, lambda c: "failpoint before:llm_step:4 reached" in c.stderr(), answered)
        # Three LLM calls answered and exported with the two tool calls after
        # them; the fourth step exists, not yet called. (A span still in the
        # exporter's batch when the process is killed is lost, not repeated.)
        def exported() -> bool:
            spans = receiver.received_spans()
            return len(_named(spans, "chat ")) == 3 and len(_named(spans, "execute_tool ")) == 2

        poll_until(exported, timeout=60)
        before = receiver.received_spans()
        chat.kill()

        _run(env, tmp_path, answered)
        spans = receiver.received_spans()
        chats = _named(spans, "chat ")
        ids = [c.attributes["gen_ai.response.id"] for c in chats]
        assert len(ids) == len(set(ids)), "an LLM call was reported twice"
        assert len(chats) == len(llm.answered()) == 7
        assert llm.repeated_answers() == []
        [workflow] = _named(spans, "invoke_workflow")  # the segment ended once, in the resumed process
        assert {c.parent_span_id for c in chats} == {workflow.span_id}  # both processes' spans under it
        assert len(_named(spans, "execute_tool ")) == 4
        assert all(s in spans for s in before)


def test_without_an_endpoint_nothing_is_installed():
    from opentelemetry import trace

    from processes.telemetry import start_telemetry

    assert start_telemetry({}, "chat") is None
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def test_a_bad_endpoint_exits_2_naming_it(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "travel_planner.cli", "chat", "Lisbon"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in result.stderr
