"""OpenTelemetry spans and metrics for calls (needs only opentelemetry-api: the `otel` extra).

The span of a call is made when the call has finished, from the times it reports:
`on_call` runs in the caller's task, so the span's parent is whatever span is
current there (a request span of the web framework, a span of your own).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._version import __version__
from ._hooks import CallDetails, ThrottleDetails
from ._prometheus import DURATION_BUCKETS

if TYPE_CHECKING:
    from opentelemetry.metrics import Histogram, Meter, MeterProvider
    from opentelemetry.trace import TracerProvider
    from opentelemetry.util.types import AttributeValue

__all__ = ["SPAN_NAMES", "OpenTelemetryHooks"]

SPAN_NAMES = {
    "ice_credentials": "AsyncTurnix.get_ice_credentials",
    "regions": "AsyncTurnix.list_regions",
}
_SCOPE = "turnix_async"


def _check_provider(name: str, provider: object, kind: type) -> None:
    if provider is not None and not isinstance(provider, kind):
        raise ValueError(
            f"{name} must be an opentelemetry {kind.__name__} or None"
            f" (got {type(provider).__name__})"
        )


def _duration_histogram(meter: Meter) -> Histogram:
    name, unit = "turnix.call.duration", "s"
    description = "Duration of Turnix API calls, retries and waits included"
    try:  # the bucket advice is understood from opentelemetry 1.30 on
        return meter.create_histogram(
            name, unit, description, explicit_bucket_boundaries_advisory=DURATION_BUCKETS
        )
    except TypeError:
        return meter.create_histogram(name, unit, description)


def _nanoseconds(seconds: float) -> int:
    return int(seconds * 1e9)


class OpenTelemetryHooks:
    """Hooks that trace every call as one span and record call metrics.

    Span `AsyncTurnix.get_ice_credentials` / `AsyncTurnix.list_regions` (kind CLIENT),
    with attributes `turnix.attempts`, `turnix.waited`, `http.response.status_code`
    and `turnix.request_id` (when known), one "retry" event per retried attempt and,
    on failure, status ERROR and `error.type` (the error class). Metrics:
    `turnix.calls` (counter; `endpoint`, `outcome`), `turnix.call.duration`
    (histogram, s; `endpoint`, `outcome`) and `turnix.throttle.events` (counter; `event`).

    Args:
        tracer_provider: None means the global one (`opentelemetry.trace`).
        meter_provider: None means the global one (`opentelemetry.metrics`).

    Raises:
        ValueError: a provider is not an OpenTelemetry `TracerProvider` / `MeterProvider`.
        ImportError: opentelemetry-api is not installed (`pip install 'turnix-async[otel]'`).
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        try:
            from opentelemetry import metrics, trace
        except ImportError as exc:
            raise ImportError(
                "OpenTelemetryHooks needs opentelemetry-api: pip install 'turnix-async[otel]'"
            ) from exc
        _check_provider("tracer_provider", tracer_provider, trace.TracerProvider)
        _check_provider("meter_provider", meter_provider, metrics.MeterProvider)
        self._trace = trace
        self._tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_SCOPE, __version__, meter_provider=meter_provider)
        self._calls = meter.create_counter(
            "turnix.calls", unit="{call}", description="Turnix API calls by endpoint and outcome"
        )
        self._duration = _duration_histogram(meter)
        self._throttle_events = meter.create_counter(
            "turnix.throttle.events",
            unit="{event}",
            description="Times a client's rate limiter engaged or released",
        )

    def __repr__(self) -> str:
        return "OpenTelemetryHooks()"

    def on_call(self, details: CallDetails) -> None:
        trace = self._trace
        attributes: dict[str, AttributeValue] = {
            "turnix.attempts": details.attempts,
            "turnix.waited": details.waited,
        }
        if details.status is not None:
            attributes["http.response.status_code"] = details.status
        if details.request_id is not None:
            attributes["turnix.request_id"] = details.request_id
        if not details.ok:
            attributes["error.type"] = details.outcome
        span = self._tracer.start_span(
            SPAN_NAMES[details.endpoint],
            kind=trace.SpanKind.CLIENT,
            attributes=attributes,
            start_time=_nanoseconds(details.started_at),
        )
        for retry in details.retries:
            span.add_event(
                "retry",
                {
                    "turnix.attempt": retry.attempt,
                    "turnix.wait": retry.wait,
                    "turnix.reason": retry.reason,
                },
                timestamp=_nanoseconds(retry.at),
            )
        if not details.ok:
            span.set_status(trace.Status(trace.StatusCode.ERROR, details.outcome))
        span.end(end_time=_nanoseconds(details.started_at + details.duration))
        labels = {"endpoint": details.endpoint, "outcome": details.outcome}
        self._calls.add(1, labels)
        self._duration.record(details.duration, labels)

    def on_throttle(self, details: ThrottleDetails) -> None:
        self._throttle_events.add(1, {"event": details.event})
