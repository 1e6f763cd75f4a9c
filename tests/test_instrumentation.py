"""The observability layer: HookRunner's guarantees and the ready hooks, on the real libraries."""

from __future__ import annotations

import logging
import subprocess
import sys
import typing
from collections.abc import Iterator
from typing import Any

import attrs
import prometheus_client
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry

from turnix_async import TurnixError
from turnix_async.instrumentation import (
    CallDetails,
    LoggingHooks,
    OpenTelemetryHooks,
    PrometheusHooks,
    RetryDetails,
    ThrottleDetails,
)
from turnix_async.instrumentation._hooks import HookRunner

T0 = 1_700_000_000.0
SECRET = "tnx_Secret-Token-0123456789"


def retry(attempt: int = 1, reason: str = "HTTP 503", **fields: Any) -> RetryDetails:
    values: dict[str, Any] = {
        "endpoint": "ice_credentials",
        "attempt": attempt,
        "wait": 0.25,
        "reason": reason,
        "at": T0 + attempt * 0.1,
    }
    return RetryDetails(**{**values, **fields})


def call(outcome: str = "ok", **fields: Any) -> CallDetails:
    values: dict[str, Any] = {
        "endpoint": "ice_credentials",
        "outcome": outcome,
        "status": 200 if outcome == "ok" else 401,
        "attempts": 1,
        "duration": 0.04,
        "request_id": "req-1",
        "waited": 0.001,
        "started_at": T0,
        "retries": (),
    }
    return CallDetails(**{**values, **fields})


# -- HookRunner ----------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.seen: list[object] = []

    def on_call(self, details: CallDetails) -> None:
        self.seen.append(details)


class Raising:
    def on_call(self, details: CallDetails) -> None:
        raise RuntimeError("hook bug")

    def on_retry(self, details: RetryDetails) -> None:
        raise KeyError("another hook bug")


def test_a_raising_hook_is_logged_once_per_method_and_never_stops_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    after = Recorder()
    runner = HookRunner([Raising(), after])
    with caplog.at_level(logging.WARNING, logger="turnix_async"):
        for _ in range(3):
            runner.call(call())
            runner.retry(retry())
    assert len(after.seen) == 3
    warnings = [r for r in caplog.records if r.name == "turnix_async"]
    messages = sorted(r.getMessage() for r in warnings)
    assert len(messages) == 2
    assert ".on_call raised" in messages[0] and ".on_retry raised" in messages[1]
    assert all(r.levelno == logging.WARNING and r.exc_info for r in warnings)


def test_runner_is_false_without_hooks_so_the_client_can_skip_building_details() -> None:
    assert not HookRunner([]) and not HookRunner(None)
    assert HookRunner([LoggingHooks()])


class NoMethods:
    def on_response(self, details: object) -> None: ...


class AsyncHook:
    async def on_call(self, details: CallDetails) -> None: ...


class NotCallable:
    on_retry = 3


@pytest.mark.parametrize(
    ("hooks", "error", "words"),
    [
        ("PrometheusHooks", ValueError, "hooks must be a list or tuple"),
        (LoggingHooks(), ValueError, "hooks must be a list or tuple"),
        ({LoggingHooks()}, ValueError, "hooks must be a list or tuple"),
        ([NoMethods()], ValueError, "hooks[0] (NoMethods) has none of the hook methods"),
        ([LoggingHooks, Recorder()], ValueError, "hooks[0] is a class; pass an instance"),
        ([Recorder(), AsyncHook()], TypeError, "hooks[1].on_call is async def"),
        ([NotCallable()], TypeError, "hooks[0].on_retry must be a method"),
    ],
)
def test_bad_hooks_are_refused_when_the_runner_is_built(
    hooks: Any, error: type[Exception], words: str
) -> None:
    with pytest.raises(error) as caught:
        HookRunner(hooks)
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("build", "name"),
    [
        (lambda: PrometheusHooks("default"), "registry"),
        (lambda: OpenTelemetryHooks(tracer_provider=MeterProvider()), "tracer_provider"),
        (lambda: OpenTelemetryHooks(meter_provider=TracerProvider()), "meter_provider"),
        (lambda: LoggingHooks("turnix"), "logger"),
    ],
)
def test_ready_hooks_refuse_arguments_of_the_wrong_kind(build: Any, name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name} must be"):
        build()


# -- the details carry nothing secret ----------------------------------------------------


class AppError(TurnixError):
    """An application's own subclass: its name is no outcome of a call."""


ALLOWED_TYPES = {str, int, float, int | None, str | None, float | None, tuple[RetryDetails, ...]}


@pytest.mark.parametrize("cls", [CallDetails, RetryDetails, ThrottleDetails])
def test_details_fields_hold_only_plain_values(cls: type) -> None:
    hints = typing.get_type_hints(cls)
    assert set(hints.values()) <= ALLOWED_TYPES, hints
    assert attrs.has(cls) and cls.__setattr__ is not object.__setattr__  # frozen


@pytest.mark.parametrize(
    "build",
    [
        lambda: call(outcome=SECRET),
        lambda: call(endpoint=SECRET),
        lambda: call(outcome="ValueError"),  # only TurnixError classes are outcomes
        lambda: call(outcome=AppError.__name__),  # ... and only the SDK's own
        lambda: call(status=SECRET),
        lambda: call(request_id=object()),
        lambda: call(retries=[retry()]),
        lambda: retry(reason=f"HTTP 401 {SECRET}"),
        lambda: retry(reason=SECRET),
    ],
)
def test_free_text_cannot_enter_the_bounded_fields(build: Any) -> None:
    with pytest.raises((ValueError, TypeError)) as caught:
        build()
    assert SECRET not in str(caught.value)


# -- Prometheus ----------------------------------------------------------------------


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_prometheus_counts_calls_by_outcome_and_observes_durations() -> None:
    registry = CollectorRegistry()
    runner = HookRunner([PrometheusHooks(registry)])
    runner.call(call(duration=0.02))
    runner.call(call(duration=0.3))
    runner.call(call("AuthenticationError", duration=0.01))
    runner.call(call(endpoint="regions", duration=12.0))

    assert sample(registry, "turnix_calls_total", endpoint="ice_credentials", outcome="ok") == 2
    assert (
        sample(
            registry,
            "turnix_calls_total",
            endpoint="ice_credentials",
            outcome="AuthenticationError",
        )
        == 1
    )
    assert sample(registry, "turnix_calls_total", endpoint="regions", outcome="ok") == 1
    duration = "turnix_call_duration_seconds"
    assert sample(registry, f"{duration}_count", endpoint="ice_credentials") == 3
    assert sample(registry, f"{duration}_bucket", endpoint="ice_credentials", le="0.025") == 2
    assert sample(registry, f"{duration}_bucket", endpoint="regions", le="10.0") == 0
    assert sample(registry, f"{duration}_bucket", endpoint="regions", le="30.0") == 1


def test_prometheus_counts_each_retry_once_with_a_bounded_reason() -> None:
    registry = CollectorRegistry()
    runner = HookRunner([PrometheusHooks(registry)])
    retries = (retry(1), retry(2, "HTTP 418"), retry(3, "TurnixTimeoutError"))
    for details in retries:
        runner.retry(details)
    runner.call(call(attempts=4, retries=retries))  # the call's own copy is not counted again

    def retried(reason: str) -> float:
        return sample(registry, "turnix_retries_total", endpoint="ice_credentials", reason=reason)

    assert [retried(r) for r in ("HTTP 503", "HTTP other", "TurnixTimeoutError")] == [1, 1, 1]
    assert retried("HTTP 418") == 0


def test_prometheus_counts_throttle_events() -> None:
    registry = CollectorRegistry()
    runner = HookRunner([PrometheusHooks(registry)])
    runner.throttle(ThrottleDetails("engaged", 5.0, "HTTP 429"))
    runner.throttle(ThrottleDetails("released", None, "recovered"))
    runner.throttle(ThrottleDetails("engaged", 2.5, "HTTP 429"))
    assert sample(registry, "turnix_throttle_events_total", event="engaged") == 2
    assert sample(registry, "turnix_throttle_events_total", event="released") == 1


def test_several_prometheus_hooks_share_one_registry_the_default_one_included() -> None:
    registry = CollectorRegistry()
    first, second = PrometheusHooks(registry), PrometheusHooks(registry)
    HookRunner([first]).call(call())
    HookRunner([second]).call(call())
    assert sample(registry, "turnix_calls_total", endpoint="ice_credentials", outcome="ok") == 2

    default = prometheus_client.REGISTRY
    before = sample(default, "turnix_calls_total", endpoint="regions", outcome="ok")
    HookRunner([PrometheusHooks(), PrometheusHooks(None)]).call(call(endpoint="regions"))
    assert sample(default, "turnix_calls_total", endpoint="regions", outcome="ok") == before + 2


# -- OpenTelemetry -----------------------------------------------------------------------


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def test_otel_makes_one_span_per_call_with_its_times_attributes_and_retry_events(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    runner = HookRunner([OpenTelemetryHooks(tracer_provider=provider)])
    retries = (retry(1), retry(2, "TurnixTimeoutError"))
    runner.call(call(attempts=3, duration=1.5, retries=retries))
    runner.call(call(endpoint="regions", status=None, request_id=None))

    ice, regions = exporter.get_finished_spans()
    assert ice.name == "AsyncTurnix.get_ice_credentials" and ice.kind is SpanKind.CLIENT
    assert (ice.start_time, ice.end_time) == (int(T0 * 1e9), int((T0 + 1.5) * 1e9))
    assert ice.status.status_code is StatusCode.UNSET
    assert dict(ice.attributes or {}) == {
        "turnix.attempts": 3,
        "turnix.waited": 0.001,
        "http.response.status_code": 200,
        "turnix.request_id": "req-1",
    }
    assert [(e.name, dict(e.attributes or {}), e.timestamp) for e in ice.events] == [
        (
            "retry",
            {"turnix.attempt": r.attempt, "turnix.wait": 0.25, "turnix.reason": r.reason},
            int(r.at * 1e9),
        )
        for r in retries
    ]
    assert regions.name == "AsyncTurnix.list_regions"
    assert set(regions.attributes or {}) == {"turnix.attempts", "turnix.waited"}


def test_otel_marks_a_failed_call_as_an_error_with_its_type(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    HookRunner([OpenTelemetryHooks(tracer_provider=provider)]).call(call("AuthenticationError"))
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "AuthenticationError"
    assert (span.attributes or {})["http.response.status_code"] == 401


def test_otel_span_is_a_child_of_the_callers_current_span(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    runner = HookRunner([OpenTelemetryHooks(tracer_provider=provider)])
    with provider.get_tracer("app").start_as_current_span("POST /ice"):
        runner.call(call())
    runner.call(call())  # no current span: a root
    child, parent, root = exporter.get_finished_spans()
    assert isinstance(parent, ReadableSpan) and parent.name == "POST /ice"
    assert child.parent is not None and parent.context is not None
    assert child.parent.span_id == parent.context.span_id
    assert child.context is not None and child.context.trace_id == parent.context.trace_id
    assert root.parent is None


def test_otel_records_call_counts_and_durations() -> None:
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    runner = HookRunner(
        [OpenTelemetryHooks(tracer_provider=TracerProvider(), meter_provider=meters)]
    )
    runner.call(call(duration=0.2))
    runner.call(call(duration=0.4))
    runner.call(call("ServerError", duration=3.0))
    runner.throttle(ThrottleDetails("engaged", 1.0, "HTTP 429"))

    data = reader.get_metrics_data()
    assert data is not None
    metrics = {
        m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    }
    calls = {
        (p.attributes or {}).get("outcome"): p.value
        for p in metrics["turnix.calls"].data.data_points
    }
    assert calls == {"ok": 2, "ServerError": 1}
    duration = metrics["turnix.call.duration"]
    assert duration.unit == "s"
    ok = next(p for p in duration.data.data_points if (p.attributes or {})["outcome"] == "ok")
    assert (ok.count, ok.sum, dict(ok.attributes or {})) == (
        2,
        pytest.approx(0.6),
        {"endpoint": "ice_credentials", "outcome": "ok"},
    )
    (throttled,) = metrics["turnix.throttle.events"].data.data_points
    assert throttled.value == 1 and dict(throttled.attributes or {}) == {"event": "engaged"}
    meters.shutdown()


def test_otel_before_1_30_records_durations_without_the_bucket_advice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opentelemetry.sdk.metrics import Meter

    create = Meter.create_histogram

    def without_advice(self: Any, name: str, unit: str = "", description: str = "") -> Any:
        return create(self, name, unit, description)

    monkeypatch.setattr(Meter, "create_histogram", without_advice)
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    HookRunner([OpenTelemetryHooks(TracerProvider(), meters)]).call(call(duration=0.5))
    data = reader.get_metrics_data()
    assert data is not None and '"turnix.call.duration"' in data.to_json()
    meters.shutdown()


# -- logging -------------------------------------------------------------------------


def test_logging_hooks_log_one_structured_record_per_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runner = HookRunner([LoggingHooks()])
    with caplog.at_level(logging.INFO, logger="turnix_async.calls"):
        runner.call(call(attempts=3, duration=0.5))
        runner.call(call("TurnixTimeoutError", status=None, request_id=None))
    ok, failed = caplog.records
    assert (ok.levelno, failed.levelno) == (logging.INFO, logging.WARNING)
    fields = ("endpoint", "outcome", "status", "attempts", "duration", "request_id")
    assert [getattr(ok, f) for f in fields] == ["ice_credentials", "ok", 200, 3, 0.5, "req-1"]
    assert [getattr(failed, f) for f in fields[1:4]] == ["TurnixTimeoutError", None, 1]
    assert "3 attempts" in ok.getMessage() and "TurnixTimeoutError" in failed.getMessage()


def test_logging_hooks_use_the_given_logger_and_log_throttling(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runner = HookRunner([LoggingHooks(logging.getLogger("myapp.turnix"))])
    with caplog.at_level(logging.INFO, logger="myapp.turnix"):
        runner.throttle(ThrottleDetails("engaged", 2.0, "HTTP 429"))
        runner.throttle(ThrottleDetails("released", None, "recovered"))
    engaged, released = caplog.records
    assert engaged.name == "myapp.turnix" and engaged.levelno == logging.WARNING
    assert "2 requests/s" in engaged.getMessage() and "unlimited" in released.getMessage()


# -- optional libraries ----------------------------------------------------------------

WITHOUT_EXTRAS = """
import sys
sys.modules["prometheus_client"] = None
sys.modules["opentelemetry"] = None
from turnix_async.instrumentation import LoggingHooks, OpenTelemetryHooks, PrometheusHooks
LoggingHooks()
for hooks, extra in ((PrometheusHooks, "prometheus"), (OpenTelemetryHooks, "otel")):
    try:
        hooks()
    except ImportError as exc:
        assert f"turnix-async[{extra}]" in str(exc), exc
    else:
        raise AssertionError(hooks)
print("fine")
"""


def test_the_package_imports_without_the_optional_libraries() -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS], capture_output=True, text=True, check=False
    )
    assert result.stdout.strip() == "fine", result.stderr
