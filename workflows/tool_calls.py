"""Validating the LLM's tool calls before anything runs.

A broken call (invalid JSON, a missing or mistyped field, an unknown tool,
absurdly large arguments) becomes an error string the LLM reads in the tool
message, and the loop goes on. Validation is pure, so it replays identically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from workflows.itinerary.finish import FINISH_PARAMETERS
from workflows.text import scrub

FINISH_TOOL = "finish_trip"
MAX_ARGUMENT_CHARS = 20_000
#: Longer tool-call arguments are replaced by a note in the kept transcript:
#: the call has run (or been refused) and the budget cannot cut inside them.
KEPT_ARGUMENT_CHARS = 2_000

FINISH_TOOL_SPEC: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": FINISH_TOOL,
        "description": (
            "Call exactly once, when the itinerary is complete, with the structured plan: "
            "title, dates, travellers, currency and the days with their items (time, title, "
            "place, notes, cost per person, source URL). Ends the planning conversation."
        ),
        "parameters": FINISH_PARAMETERS,
    },
}


#: The finish tool as offered to a model whose structured plans were refused
#: while the team waits for the plan: the whole plan as Markdown, nothing else.
FINISH_TEXT_SPEC: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": FINISH_TOOL,
        "description": "Call once with the whole plan as Markdown. Ends the planning conversation.",
        "parameters": {
            "type": "object",
            "properties": {"plan": {"type": "string", "description": "The whole plan in Markdown."}},
            "required": ["plan"],
            "additionalProperties": False,
        },
    },
}


@dataclass(frozen=True, slots=True)
class ToolCall:
    call_id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BrokenToolCall:
    call_id: str
    name: str
    error: str


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def parse_tool_call(raw: dict[str, Any], specs: list[dict[str, Any]]) -> ToolCall | BrokenToolCall:
    call_id = str(raw.get("id") or "")
    fn = raw.get("function") or {}
    name = str(fn.get("name") or "")
    arguments = fn.get("arguments")
    schemas = {s["function"]["name"]: s["function"].get("parameters", {}) for s in specs}
    if name not in schemas:
        known = ", ".join(sorted(schemas))
        return BrokenToolCall(call_id, name, f"Error: unknown tool {name!r}. Available tools: {known}.")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments) if arguments is not None else "{}"
    if len(arguments) > MAX_ARGUMENT_CHARS:
        return BrokenToolCall(
            call_id, name,
            f"Error: the arguments for {name} are {len(arguments)} characters long; "
            f"the limit is {MAX_ARGUMENT_CHARS}. Call it again with shorter arguments.",
        )
    try:
        args = scrub(json.loads(arguments or "{}"))  # "\ud800" escapes would decode to unpostable text
    except json.JSONDecodeError as exc:
        return BrokenToolCall(
            call_id, name,
            f"Error: the arguments for {name} are not valid JSON ({exc.msg} at position {exc.pos}). "
            "Call the tool again with a JSON object.",
        )
    if not isinstance(args, dict):
        return BrokenToolCall(call_id, name, f"Error: the arguments for {name} must be a JSON object.")
    problem = _check_schema(args, schemas[name])
    if problem:
        return BrokenToolCall(call_id, name, f"Error: invalid arguments for {name}: {problem}. Call it again.")
    return ToolCall(call_id, name, args)


def _check_schema(args: dict[str, Any], schema: dict[str, Any]) -> str:
    props: dict[str, Any] = schema.get("properties", {})
    for field in schema.get("required", []):
        if field not in args or args[field] is None:
            return f"missing required field {field!r}"
    for field, value in args.items():
        spec = props.get(field)
        if spec is None:
            continue  # tolerate extra fields; tools read only what they know
        expected = _JSON_TYPES.get(spec.get("type", ""), ())
        if expected and (not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected)):
            return f"field {field!r} must be of type {spec['type']}"
    return ""


def trim_for_transcript(message: dict[str, Any]) -> dict[str, Any]:
    """The assistant message as the transcript keeps it: oversized tool-call
    arguments become a short note (the original is used to run the call)."""
    calls = message.get("tool_calls")
    if not calls:
        return message
    kept = []
    for call in calls:
        fn = call.get("function") or {}
        arguments = fn.get("arguments")
        if isinstance(arguments, str) and len(arguments) > KEPT_ARGUMENT_CHARS:
            note = json.dumps({"note": f"{len(arguments)} characters of arguments omitted from the transcript"})
            call = {**call, "function": {**fn, "arguments": note}}
        kept.append(call)
    return {**message, "tool_calls": kept}
