"""A chat completion request as a sequence of o200k tokens, the way it is billed.

OpenAI does not publish how it renders a request into the model's input, so
we follow its own counting recipe (the cookbook's `num_tokens_from_messages`)
and apply it the same way to every request we compare:

- each message is 3 framing tokens (start, separator, end) around the tokens
  of its role and of its content; an assistant's tool calls add the tokens
  of each call's name and JSON arguments (call ids are not counted);
- the `tools` list comes first, as the tokens of its compact JSON: the API
  renders function definitions ahead of the conversation;
- 3 more tokens prime the reply.

The framing tokens are negative numbers, so they never equal a text token:
a shared prefix is a shared prefix of what the model reads, which is what
OpenAI's prompt cache can reuse (it matches the longest cached prefix of a
request, in blocks of 128 tokens from 1,024 tokens on; we report the exact
shared prefix, an upper bound of that).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tiktoken import Encoding

_START, _SEP, _END = -1, -2, -3
_REPLY_PRIMING = [-4, -5, -6]  # "<|start|>assistant<|message|>"


def request_tokens(enc: Encoding, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]) -> list[int]:
    tokens: list[int] = []
    if tools:
        tokens += _text(enc, json.dumps(list(tools), separators=(",", ":"), ensure_ascii=False))
    for m in messages:
        tokens += [_START, *_text(enc, str(m.get("role", ""))), _SEP]
        tokens += _text(enc, m.get("content") or "")
        for call in m.get("tool_calls") or ():
            fn = call.get("function") or {}
            tokens += _text(enc, fn.get("name", "")) + _text(enc, fn.get("arguments", ""))
        tokens.append(_END)
    return tokens + _REPLY_PRIMING


def answer_tokens(enc: Encoding, message: dict[str, Any]) -> int:
    """Output tokens of an assistant answer: its text and its tool calls."""
    count = len(_text(enc, message.get("content") or ""))
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or call
        count += len(_text(enc, fn.get("name", ""))) + len(_text(enc, fn.get("arguments", "")))
    return count


def shared_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _text(enc: Encoding, text: str) -> list[int]:
    # Plain text only: a "<|endoftext|>" written by a page is text, not a control token.
    return enc.encode(text, disallowed_special=())
