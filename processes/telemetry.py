"""Export traces over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

Without the variable nothing is installed: the OpenTelemetry API stays a
no-op, the openai client is not instrumented, and no exporter thread runs.
With it, one tracer provider (and a logger provider, for the openai-v2
instrumentation's message events and our evaluation events) exports in
batches to `{endpoint}/v1/traces` and `{endpoint}/v1/logs` (or the
signal-specific `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
`OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`, used as given). The exporters read their
other settings (headers, timeout, compression; `OTEL_BSP_*` for batching)
from the environment themselves, so credentials never pass through here.
"""

from __future__ import annotations

import logging
import os
import urllib.parse
from collections.abc import Callable, Mapping

from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

from workflows import tracing
from workflows.errors import ConfigError

log = logging.getLogger(__name__)

ENDPOINT_VAR = "OTEL_EXPORTER_OTLP_ENDPOINT"
_SIGNAL_VARS = {"traces": "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "logs": "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"}

type Shutdown = Callable[[], None]


class TripIdGenerator(RandomIdGenerator):
    """Random ids, except for a span `workflows.tracing.chosen_ids` names:
    a segment's span, whose id its steps' spans already carry as their parent."""

    def generate_span_id(self) -> int:
        return tracing.chosen_span_id() or super().generate_span_id()

    def generate_trace_id(self) -> int:
        return tracing.chosen_trace_id() or super().generate_trace_id()


def _endpoint(env: Mapping[str, str], signal: str) -> str:
    own = env.get(_SIGNAL_VARS[signal], "").strip()
    if own:
        return _checked(_SIGNAL_VARS[signal], own)
    base = _checked(ENDPOINT_VAR, env.get(ENDPOINT_VAR, "").strip())
    return f"{base.rstrip('/')}/v1/{signal}"


def _checked(name: str, url: str) -> str:
    parts = urllib.parse.urlparse(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(name, f"must be an http(s) URL such as http://127.0.0.1:4318, got {url!r}")
    return url


def start_telemetry(env: Mapping[str, str], role: str) -> Shutdown | None:
    """Install exporting providers if an OTLP endpoint is set; returns how to
    flush and stop them (call it at exit), or None when nothing was installed."""
    if not (env.get(ENDPOINT_VAR, "").strip() or env.get(_SIGNAL_VARS["traces"], "").strip()):
        return None
    traces_url = _endpoint(env, "traces")
    logs_url = _endpoint(env, "logs")
    # The exporters and the instrumentation load only when they are used.
    from opentelemetry import _logs, trace
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({
        SERVICE_NAME: env.get("OTEL_SERVICE_NAME", "").strip() or "travel-planner",
        "travel_planner.process": role,
    })
    traces = TracerProvider(resource=resource, id_generator=TripIdGenerator())
    traces.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url)))
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=logs_url)))
    trace.set_tracer_provider(traces)
    _logs.set_logger_provider(logs)
    if os.environ.get(tracing.CAPTURE_CONTENT_VAR, "").strip().lower() == "true":
        # opentelemetry-util-genai reads modes, not booleans ("true" would
        # mean no content, with a warning): the conventions' switch means
        # contents on the spans.
        os.environ[tracing.CAPTURE_CONTENT_VAR] = "span_only"
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=traces, logger_provider=logs)
    log.info("exporting traces to %s", traces_url)

    def shutdown() -> None:
        instrumentor.uninstrument()
        traces.shutdown()  # flushes what is batched
        logs.shutdown()

    return shutdown
