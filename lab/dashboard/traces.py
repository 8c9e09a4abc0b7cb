"""The dashboard's trace receiver: OTLP/HTTP export requests in, the last traces in memory.

The units and edges export their spans here (``POST /v1/traces``, as to any OpenTelemetry
collector): the body is an ``ExportTraceServiceRequest`` of the OpenTelemetry protocol,
in protobuf (the exporters' default) or OTLP/JSON (ids in hex), decoded with the protocol's
own classes (``opentelemetry-proto``). Each span keeps what the waterfall needs: ids, name,
kind, times, the unit, instance and version that made it (its resource), its attributes
and whether it failed.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto
from opentelemetry.proto.trace.v1.trace_pb2 import Status

MAX_TRACES = 300
PROTOBUF = "application/x-protobuf"
KINDS = {
    SpanProto.SPAN_KIND_SERVER: "server",
    SpanProto.SPAN_KIND_CLIENT: "client",
    SpanProto.SPAN_KIND_INTERNAL: "internal",
    SpanProto.SPAN_KIND_PRODUCER: "producer",
    SpanProto.SPAN_KIND_CONSUMER: "consumer",
}


class BadExport(ValueError):
    """A body that is not an OTLP export request."""


@dataclass(frozen=True, slots=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root
    name: str
    kind: str  # server, client, internal, ...
    start_ns: int
    end_ns: int
    unit: str  # the resource's service.name
    instance: str = ""
    version: str = ""
    error: bool = False
    status_message: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)


def value_of(value: AnyValue) -> Any:
    """A scalar OTLP attribute value as Python (arrays and maps as text)."""
    which = value.WhichOneof("value")
    if which in ("string_value", "bool_value", "int_value", "double_value"):
        return getattr(value, which)
    return None if which is None else str(getattr(value, which))


def attributes_of(pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pair: KeyValue
    for pair in pairs:
        out[pair.key] = value_of(pair.value)
    return out


def decode(body: bytes, content_type: str = PROTOBUF, encoding: str = "") -> list[Span]:
    """The spans of one OTLP/HTTP export request; raises ``BadExport``."""
    try:
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        request = ExportTraceServiceRequest()
        if content_type.split(";")[0].strip() == "application/json":
            document = json.loads(body.decode("utf-8"))
            json_format.ParseDict(_ids_as_base64(document), request, ignore_unknown_fields=True)
        else:
            request.ParseFromString(body)
    except Exception as exc:  # protobuf, JSON, gzip and UTF-8 errors alike
        raise BadExport(f"not an OTLP trace export: {type(exc).__name__}") from exc
    spans = []
    for resource_spans in request.resource_spans:
        resource = attributes_of(resource_spans.resource.attributes)
        unit = str(resource.get("service.name", "?"))
        instance = str(resource.get("service.instance.id", ""))
        version = str(resource.get("service.version", ""))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    Span(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        name=span.name,
                        kind=KINDS.get(span.kind, "internal"),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        unit=unit,
                        instance=instance,
                        version=version,
                        error=span.status.code == Status.STATUS_CODE_ERROR,
                        status_message=span.status.message,
                        attributes=attributes_of(span.attributes),
                    )
                )
    return spans


ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _ids_as_base64(document: Any) -> Any:
    """OTLP/JSON writes trace and span ids in hex, where protobuf's JSON mapping (which
    ``json_format`` reads) has base64 for bytes: turn the hex ids into base64."""
    for resource_spans in document.get("resourceSpans", []) if isinstance(document, dict) else []:
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for holder in (span, *span.get("links", [])):
                    for name in ID_FIELDS:
                        value = holder.get(name)
                        if isinstance(value, str) and value and _is_hex(value):
                            holder[name] = base64.b64encode(bytes.fromhex(value)).decode()
    return document


def _is_hex(value: str) -> bool:
    return len(value) in (16, 32) and all(ch in "0123456789abcdefABCDEF" for ch in value)


def accepted() -> bytes:
    """The answer to an export request: an empty ``ExportTraceServiceResponse``."""
    return ExportTraceServiceResponse().SerializeToString()


class TraceStore:
    """The spans of the last ``max_traces`` traces, the most recently touched last."""

    def __init__(self, max_traces: int = MAX_TRACES) -> None:
        self.max_traces = max_traces
        self._traces: OrderedDict[str, dict[str, Span]] = OrderedDict()

    def add(self, spans: list[Span]) -> None:
        for span in spans:
            found = self._traces.get(span.trace_id)
            if found is None:
                found = self._traces[span.trace_id] = {}
            else:
                self._traces.move_to_end(span.trace_id)
            found[span.span_id] = span
        while len(self._traces) > self.max_traces:
            self._traces.popitem(last=False)

    def get(self, trace_id: str) -> list[Span]:
        return sorted(self._traces.get(trace_id, {}).values(), key=lambda s: s.start_ns)

    def newest_first(self) -> list[list[Span]]:
        """Every trace held, the most recently touched first."""
        return [self.get(trace_id) for trace_id in reversed(self._traces)]

    def __len__(self) -> int:
        return len(self._traces)
