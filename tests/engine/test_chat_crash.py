"""`travel-planner chat` as a real process: the whole conversation, and
SIGKILLs during a slow LLM call, at every moment around a question (printed,
recorded, waited on, handed over, reminded, parked), around the plan, and
right after a tool step. Each time it is run again with the same --trip: it
shows what the trip waits on, once; no completed LLM call may be repeated and
the plan must equal the crash-free run's."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from travel_planner.chat import INPUT_ENDED
from travel_planner.terminal import PLAN_START

from tests.engine.chat_process import PROMPT, ChatProcess, answer_questions
from testing.research_fakes import research_env, research_fakes
from testing.fakes.llm_server import Fault
from testing.waiting import poll_until
from testing.fakes.scenario import QUESTIONS, lisbon_script

ANSWERS = dict(zip(QUESTIONS, ("May 1-4", "2000 EUR", "vegetarian"), strict=True))
FIRST_ONLY = {QUESTIONS[0]: ANSWERS[QUESTIONS[0]]}
TRIP = "lisbon-test"


def _finished(chat: ChatProcess) -> bool:
    return "================" in chat.output()


def _plan(output: str) -> str:
    return output.split("===== PLAN =====", 1)[1].split("================", 1)[0].strip()


def _run_to_end(env, tmp_path, answered, args=("--trip", TRIP)) -> ChatProcess:  # type: ignore[no-untyped-def]
    chat = ChatProcess(env, args, str(tmp_path / "stderr.log"))
    answer_questions(chat, ANSWERS, _finished, answered)
    assert chat.wait() == 0, chat.output() + chat.stderr()
    return chat


@pytest.fixture(scope="module")
def reference_plan(tmp_path_factory) -> str:
    """The crash-free run: what every crashed run must end with."""
    tmp = tmp_path_factory.mktemp("reference")
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp / "state")
        chat = _run_to_end(env, tmp, set(), args=("--trip", TRIP, "Lisbon in May, 4 people"))
        assert llm.repeated_answers() == []
        assert len(llm.answered()) == 7
    return _plan(chat.output())


def test_a_whole_conversation_in_the_terminal(reference_plan):
    assert reference_plan.startswith("# Lisbon trip")
    assert "[" in reference_plan and "May 1-4" in reference_plan and "vegetarian" in reference_plan


def test_without_an_llm_it_exits_2_naming_the_variables(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "travel_planner.cli", "chat", "Lisbon"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TRAVEL_PLANNER_STATE_DIR": str(tmp_path)},
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "OPENAI_API_KEY" in result.stderr and "OPENAI_BASE_URL" in result.stderr
    assert not (tmp_path / "travel-planner.sqlite3").exists()  # failed before touching state


def _start(env, tmp_path) -> ChatProcess:  # type: ignore[no-untyped-def]
    return ChatProcess(env, ("--trip", TRIP, "Lisbon in May, 4 people"), str(tmp_path / "stderr.log"))


def test_sigkill_during_a_slow_llm_call(tmp_path, reference_plan):
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path / "state")
        answered: set[str] = set()
        chat = _start(env, tmp_path)
        chat.wait_for(lambda lines: any(QUESTIONS[0] in line for line in lines))
        # The LLM call after the first answer will hang: kill it mid-call.
        llm.inject(Fault(delay=30))
        answer_questions(chat, FIRST_ONLY, lambda c: llm.in_flight.is_set(), answered)
        in_flight = llm.calls[-1].fingerprint
        chat.kill()
        llm.faults.clear()

        resumed = _run_to_end(env, tmp_path, answered)
        repeats = set(llm.repeated_answers()) - {in_flight}
        assert repeats == set(), "a completed LLM call was paid for twice"
        assert _plan(resumed.output()) == reference_plan
        assert sum(1 for p, _ in serper.requests if p == "/search") == 2


@dataclass(frozen=True)
class Moment:
    """Where the first process dies, and the question the trip then waits on."""

    failpoint: str
    answers: dict[str, str]  # what the first process is told before it dies
    pending: str
    crash_env: dict[str, str] = field(default_factory=dict)  # for the first process only
    env: dict[str, str] = field(default_factory=dict)  # for both

    def __str__(self) -> str:
        return self.failpoint


#: Quiet periods of about a second, so a real process reaches its reminder and park.
_QUIET = {"TRAVEL_PLANNER_REMIND_AFTER_HOURS": "0.0003", "TRAVEL_PLANNER_PARK_AFTER_HOURS": "0.0003"}

KILL_MOMENTS = [
    # Question 2 printed, its step not finished: the trip record still says "active".
    Moment("after:chat_ask:2", FIRST_ONLY, QUESTIONS[1]),
    # The ask's step stored (record: waiting), the reply promise published: waiting for the human.
    Moment("after:publish_waiter_step:2", FIRST_ONLY, QUESTIONS[1]),
    # A hand-over after every answer: the successor exists, its predecessor is not done.
    Moment("after:handover:1", FIRST_ONLY, QUESTIONS[1], env={"TRAVEL_PLANNER_TURNS_PER_SEGMENT": "1"}),
    # The reminder printed, its step not finished.
    Moment("after:chat_notice:1", {}, QUESTIONS[0], crash_env=_QUIET),
    # The trip's first step: the moment its expiry is measured from, stored; nothing asked yet.
    Moment("after:now_step:1", {}, QUESTIONS[0]),
    # Question 2 asked and the wait's "now" stored, its reminder timer not made yet.
    Moment("after:now_step:3", FIRST_ONLY, QUESTIONS[1]),
]
#: Parked (the park notice and the trip's "parked" state stored).
PARKED = Moment("after:show_state_step:1", {}, QUESTIONS[0], crash_env=_QUIET)


def _die_at(moment: Moment, env: dict[str, str], tmp_path, answered: set[str]) -> None:  # type: ignore[no-untyped-def]
    crashing = ChatProcess(
        {**env, **moment.crash_env, "TRAVEL_PLANNER_FAILPOINT": moment.failpoint},
        ("--trip", TRIP, "Lisbon in May, 4 people"),
        str(tmp_path / "stderr.log"),
    )
    answer_questions(crashing, moment.answers, lambda c: False, answered)
    assert crashing.wait() == -9, crashing.output() + crashing.stderr()
    assert f"failpoint {moment.failpoint} reached: SIGKILL" in crashing.stderr()


@pytest.mark.parametrize("moment", KILL_MOMENTS, ids=str)
def test_a_resumed_chat_shows_the_question_it_waits_on(tmp_path, reference_plan, moment):
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path / "state", **moment.env)
        answered: set[str] = set()
        _die_at(moment, env, tmp_path, answered)

        resumed = ChatProcess(env, ("--trip", TRIP), str(tmp_path / "stderr.log"))
        resumed.wait_for(lambda lines: any(line == PROMPT + moment.pending for line in lines))
        assert resumed.lines[0].startswith(f"Resuming trip {TRIP} ("), resumed.output()  # before anything the trip prints
        answer_questions(resumed, ANSWERS, _finished, answered)
        assert resumed.wait() == 0, resumed.output() + resumed.stderr()
        assert resumed.questions().count(moment.pending) == 1, resumed.output()  # shown once
        assert llm.repeated_answers() == []
        assert _plan(resumed.output()) == reference_plan


def test_a_parked_trip_resumed_without_input_shows_its_question_and_exits_3(tmp_path, reference_plan):
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path / "state")
        answered: set[str] = set()
        _die_at(PARKED, env, tmp_path, answered)

        idle = ChatProcess(env, ("--trip", TRIP), str(tmp_path / "stderr.log"))
        idle.close_input()
        assert idle.wait() == INPUT_ENDED, idle.output() + idle.stderr()
        assert idle.lines[:2] == [f"Resuming trip {TRIP} (parked).", PROMPT + QUESTIONS[0]]
        assert "Input ended before the plan was complete" in idle.output()

        resumed = _run_to_end(env, tmp_path, answered)
        assert llm.repeated_answers() == []
        assert _plan(resumed.output()) == reference_plan


@pytest.mark.parametrize(
    "failpoint",
    [
        "after:chat_plan:1",  # the plan printed, its step not finished
        "before:show_state_step:1",  # the plan's step stored, the trip not yet "done"
    ],
)
def test_a_resumed_chat_shows_the_plan_its_killed_predecessor_printed(tmp_path, reference_plan, failpoint):
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path / "state")
        answered: set[str] = set()
        _die_at(Moment(failpoint, ANSWERS, ""), env, tmp_path, answered)

        resumed = ChatProcess(env, ("--trip", TRIP), str(tmp_path / "stderr.log"))
        assert resumed.wait() == 0, resumed.output() + resumed.stderr()
        assert resumed.output().count(PLAN_START) == 1
        assert _plan(resumed.output()) == reference_plan
        assert llm.repeated_answers() == []


def test_sigkill_right_after_a_tool_step(tmp_path, reference_plan):
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path / "state")
        answered: set[str] = set()
        crashing = ChatProcess(
            {**env, "TRAVEL_PLANNER_FAILPOINT": "after:tool_step:2"},
            ("--trip", TRIP, "Lisbon in May, 4 people"),
            str(tmp_path / "stderr.log"),
        )
        answer_questions(crashing, ANSWERS, lambda c: c.proc.poll() is not None, answered)
        assert crashing.wait() == -9, crashing.output() + crashing.stderr()  # SIGKILLed at the failpoint
        assert [p for p, _ in site.requests] == ["/lisbon-hotels"]  # the scrape completed

        resumed = _run_to_end(env, tmp_path, answered)
        assert llm.repeated_answers() == []
        assert [p for p, _ in site.requests] == ["/lisbon-hotels", "/sintra"]  # no repeat
        assert sum(1 for p, _ in serper.requests if p == "/search") == 2
        assert _plan(resumed.output()) == reference_plan


def _cut_first_answer(site_url: str):  # type: ignore[no-untyped-def]
    """The Lisbon trip, whose very first answer is cut off at the output limit;
    asked again (the nudge), it answers what it would have."""
    from testing.fakes.llm_server import cut
    from workflows.prompts import NUDGE_CUT

    base = lisbon_script(site_url)

    def script(messages):  # type: ignore[no-untyped-def]
        if messages[-1]["content"] == NUDGE_CUT:
            return base(messages[:-1])
        if len(messages) == 1:
            return cut(base(messages), keep=10)
        return base(messages)

    return script


def test_sigkill_between_a_cut_answer_and_the_shorter_ask(tmp_path, reference_plan):
    """The shorter ask is its own durable step: a crash while it is in flight
    never pays for the cut answer again."""
    with research_fakes(_cut_first_answer) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path / "state")
        llm.inject(Fault(), Fault(delay=30))  # the first ask as scripted (cut), the second hangs
        chat = _start(env, tmp_path)
        poll_until(lambda: llm.in_flight.is_set() and len(llm.calls) == 2, timeout=30)
        cut_call, in_flight = (c.fingerprint for c in llm.calls)
        chat.kill()
        llm.faults.clear()

        resumed = _run_to_end(env, tmp_path, set())
        assert [c.fingerprint for c in llm.answered()].count(cut_call) == 1, "the cut answer was paid twice"
        assert set(llm.repeated_answers()) - {in_flight} == set()
        plan, footer = _plan(resumed.output()).rsplit("\n", 1)
        assert plan == reference_plan.rsplit("\n", 1)[0]  # the same plan
        assert footer.startswith("Planning used 8 AI calls")  # the cut call counted once
