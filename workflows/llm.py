"""The LLM step's client: one chat completion, classified for the trip loop.

Retries of transient failures (timeouts, connection errors, 408/409/429/5xx,
with `Retry-After` honoured) are the openai client's own, bounded by
`max_retries`. What comes out is an `LlmOutcome`: a new assistant message, or
a failure kind the loop knows how to handle. It never raises for an API error.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import openai

from workflows.config import LlmSettings
from workflows.transcript import Message, fit_to_budget, total_chars

logger = logging.getLogger(__name__)

type FailureKind = Literal[
    "transient",  # provider down or overloaded after bounded retries: try later
    "auth",  # 401/403: the key is wrong or lacks access
    "quota",  # out of credits
    "model",  # unknown model
    "bad_request",  # the provider refused the request itself
    "empty",  # the model answered with nothing usable
    "cut",  # the answer hit the output limit (finish_reason "length"): not usable as it is
    "control",  # not called: people asked to cancel or finish (detail says which)
]


@dataclass(slots=True)
class LlmOutcome:
    """Result of one LLM step; stored durably, so it holds only new data."""

    message: Message | None = None
    usage: dict[str, int] = field(default_factory=dict)
    failure: FailureKind | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "usage": self.usage,
            "failure": self.failure,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LlmOutcome:
        return cls(
            message=data.get("message"),
            usage=dict(data.get("usage") or {}),
            failure=data.get("failure"),
            detail=data.get("detail") or "",
        )


class ChatModel(Protocol):
    """The LLM, as the trip loop needs it."""

    async def complete(
        self, messages: list[Message], tools: list[dict[str, Any]], budget_chars: int
    ) -> LlmOutcome: ...


class OpenAIChatModel:
    """`ChatModel` over any OpenAI-compatible chat completions endpoint."""

    def __init__(self, settings: LlmSettings) -> None:
        self._settings = settings
        self._client = openai.AsyncOpenAI(
            api_key=settings.api_key,
            base_url=settings.base_url,
            max_retries=settings.max_retries,
            timeout=settings.timeout_seconds,
        )

    @property
    def model(self) -> str:
        return self._settings.model

    async def close(self) -> None:
        await self._client.close()

    async def complete(
        self, messages: list[Message], tools: list[dict[str, Any]], budget_chars: int
    ) -> LlmOutcome:
        """One completion; a context-length refusal compacts harder, once."""
        system, rest = messages[:1], messages[1:]
        fitted = system + fit_to_budget(rest, budget_chars)
        outcome = await self._complete_once(fitted, tools)
        if outcome.failure == "bad_request" and _is_context_length(outcome.detail):
            smaller = system + fit_to_budget(rest, max(2_000, total_chars(fitted) // 2))
            logger.warning(
                "context length exceeded at %d chars; compacted to %d and retrying once",
                total_chars(fitted),
                total_chars(smaller),
            )
            outcome = await self._complete_once(smaller, tools)
        return outcome

    async def _complete_once(
        self, messages: list[Message], tools: list[dict[str, Any]]
    ) -> LlmOutcome:
        try:
            response = await self._client.chat.completions.create(
                model=self._settings.model,
                messages=messages,  # type: ignore[arg-type]
                tools=tools or openai.omit,  # type: ignore[arg-type]
            )
        except openai.APIStatusError as exc:
            return _classify_status(exc, self._settings.api_key)
        except openai.APIConnectionError as exc:  # includes timeouts
            return LlmOutcome(failure="transient", detail=f"could not reach the LLM provider: {type(exc).__name__}")
        except openai.APIResponseValidationError as exc:
            return LlmOutcome(failure="transient", detail=f"the LLM provider sent a malformed response: {exc}")
        except json.JSONDecodeError as exc:  # a 200 that is not JSON: a proxy's error page, a cut body
            return LlmOutcome(failure="transient", detail=f"the LLM provider sent a response that is not JSON ({exc})")
        try:
            return _read_completion(response)
        except (AttributeError, TypeError, KeyError, IndexError) as exc:  # JSON, but not a chat completion
            return LlmOutcome(
                failure="transient", detail=f"the LLM provider sent a malformed response ({type(exc).__name__}: {exc})"
            )


def _read_completion(response: Any) -> LlmOutcome:
    """The outcome of a chat completion (raises on a malformed one)."""
    if not response.choices:
        return LlmOutcome(failure="empty", detail="the response had no choices")
    msg = response.choices[0].message
    message: Message = {"role": "assistant", "content": msg.content or ""}
    calls = [
        {
            "id": c.id,
            "type": "function",
            "function": {"name": c.function.name, "arguments": c.function.arguments},
        }
        for c in (msg.tool_calls or [])
        if getattr(c, "function", None) is not None
    ]
    if calls:
        message["tool_calls"] = calls
    usage = {}
    if response.usage is not None:
        usage = {
            "prompt_tokens": response.usage.prompt_tokens or 0,
            "completion_tokens": response.usage.completion_tokens or 0,
        }
        details = response.usage.prompt_tokens_details
        if details is not None and details.cached_tokens:  # billed at the cached price
            usage["cached_tokens"] = details.cached_tokens
    if response.choices[0].finish_reason == "length":
        # Cut text is not the answer, and cut tool-call arguments must never run.
        tokens = usage.get("completion_tokens", 0)
        return LlmOutcome(usage=usage, failure="cut", detail=f"cut off at the output limit after {tokens} tokens")
    if not calls and not (msg.content or "").strip():
        return LlmOutcome(usage=usage, failure="empty", detail="the model returned no text and no tool call")
    return LlmOutcome(message=message, usage=usage)


def _error_code(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    err = body.get("error", body)
    code = err.get("code") if isinstance(err, dict) else None
    return str(code or "")


#: "Incorrect API key provided: sk-ab****wxyz.": even a masked key stays out of threads and logs.
_ECHOED_KEY = re.compile(r"(API key provided: )\S+?(\.?(\s|$))")


def _classify_status(exc: openai.APIStatusError, api_key: str) -> LlmOutcome:
    status = exc.status_code
    code = _error_code(exc)
    message = _ECHOED_KEY.sub(r"\1[redacted]\2", exc.message)
    if api_key:
        message = message.replace(api_key, "[redacted]")
    text = f"HTTP {status}" + (f" ({code})" if code else "") + f": {message}"
    if status in (401, 403):
        kind: FailureKind = "auth"
    elif code == "insufficient_quota" or (status == 400 and "credit" in message.lower()):
        kind = "quota"
    elif status == 404 or code == "model_not_found":
        kind = "model"
    elif status in (408, 409, 429) or status >= 500:
        kind = "transient"
    else:
        kind = "bad_request"
    level = logging.WARNING if kind == "transient" else logging.ERROR
    logger.log(level, "LLM call failed (%s): %s", kind, text)
    return LlmOutcome(failure=kind, detail=text)


def _is_context_length(detail: str) -> bool:
    lowered = detail.lower()
    return "context_length_exceeded" in lowered or "maximum context length" in lowered or "context length" in lowered
