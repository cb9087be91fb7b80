"""An OTLP/HTTP receiver on 127.0.0.1, as a collector is to an exporter.

`POST /v1/traces` and `POST /v1/logs` take `application/x-protobuf` bodies
(gzip or not, per `Content-Encoding`), decoded with `opentelemetry-proto`
into `ExportTraceServiceRequest` / `ExportLogsServiceRequest`; the answer is
the matching protobuf `Export*ServiceResponse`. What a collector refuses, it
refuses: another path (404), another method (405), another content type
(415), a body that does not decode (400). What arrived is kept as flat
`ReceivedSpan` / `ReceivedLog` values, with attributes as plain Python.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

from testing.loopback import LoopbackHTTP

PROTOBUF = "application/x-protobuf"


def any_value(value: common_pb2.AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in pairs}


@dataclass(frozen=True)
class ReceivedSpan:
    trace_id: str  # hex
    span_id: str
    parent_span_id: str  # "" for a root span
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    status_code: int  # 0 unset, 1 ok, 2 error
    resource: dict[str, Any]
    scope: str


@dataclass(frozen=True)
class ReceivedLog:
    trace_id: str
    span_id: str
    event_name: str
    body: Any
    attributes: dict[str, Any]
    resource: dict[str, Any]


class OTLPReceiver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spans: list[ReceivedSpan] = []
        self.logs: list[ReceivedLog] = []
        self.refused: list[str] = []
        self._http = LoopbackHTTP(_Handler, self, name="otlp-receiver")

    @property
    def endpoint(self) -> str:
        """What `OTEL_EXPORTER_OTLP_ENDPOINT` is set to."""
        return self._http.url()

    def __enter__(self) -> OTLPReceiver:
        self._http.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.stop()

    def received_spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.spans)

    def received_logs(self) -> list[ReceivedLog]:
        with self._lock:
            return list(self.logs)

    def take_traces(self, body: bytes) -> bytes:
        request = trace_service_pb2.ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans = []
        for rs in request.resource_spans:
            resource = attributes(rs.resource.attributes)
            for ss in rs.scope_spans:
                for s in ss.spans:
                    spans.append(ReceivedSpan(
                        trace_id=s.trace_id.hex(), span_id=s.span_id.hex(), parent_span_id=s.parent_span_id.hex(),
                        name=s.name, kind=s.kind, start_ns=s.start_time_unix_nano, end_ns=s.end_time_unix_nano,
                        attributes=attributes(s.attributes), status_code=s.status.code, resource=resource,
                        scope=ss.scope.name,
                    ))
        with self._lock:
            self.spans.extend(spans)
        return trace_service_pb2.ExportTraceServiceResponse().SerializeToString()

    def take_logs(self, body: bytes) -> bytes:
        request = logs_service_pb2.ExportLogsServiceRequest()
        request.ParseFromString(body)
        logs = []
        for rl in request.resource_logs:
            resource = attributes(rl.resource.attributes)
            for sl in rl.scope_logs:
                for r in sl.log_records:
                    logs.append(ReceivedLog(
                        trace_id=r.trace_id.hex(), span_id=r.span_id.hex(), event_name=r.event_name,
                        body=any_value(r.body), attributes=attributes(r.attributes), resource=resource,
                    ))
        with self._lock:
            self.logs.extend(logs)
        return logs_service_pb2.ExportLogsServiceResponse().SerializeToString()


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _answer(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _refuse(self, status: int, why: str) -> None:
        receiver: OTLPReceiver = self.server.owner
        with receiver._lock:
            receiver.refused.append(f"{self.command} {self.path}: {why}")
        self._answer(status, why.encode())

    def do_GET(self) -> None:
        self._refuse(405, "OTLP/HTTP takes POST only")

    def do_POST(self) -> None:
        receiver: OTLPReceiver = self.server.owner
        take = {"/v1/traces": receiver.take_traces, "/v1/logs": receiver.take_logs}.get(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if take is None:
            self._refuse(404, f"no OTLP signal at {self.path}")
            return
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != PROTOBUF:
            self._refuse(415, f"content type must be {PROTOBUF}")
            return
        encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        try:
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            elif encoding not in ("", "identity"):
                self._refuse(415, f"unsupported content encoding {encoding!r}")
                return
            answer = take(body)
        except (DecodeError, OSError, zlib.error) as exc:
            self._refuse(400, f"body does not decode: {exc}")
            return
        self._answer(200, answer, PROTOBUF)
