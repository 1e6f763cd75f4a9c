"""The hooks on a real client against the local Turnix server, and the monitoring examples."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import prometheus_client
import pytest
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client import CollectorRegistry

from tests.examples import load
from turnix_async import AsyncTurnix, AuthenticationError, IceCredentialsCache
from turnix_async.instrumentation import (
    CallDetails,
    LoggingHooks,
    OpenTelemetryHooks,
    PrometheusHooks,
    RetryDetails,
)
from turnix_async.testing import FakeTurnixServer

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
WRONG_TOKEN = "tnx_Wrong-But-Still-Secret-0123456789"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[CallDetails] = []
        self.retries: list[RetryDetails] = []

    def on_call(self, details: CallDetails) -> None:
        self.calls.append(details)

    def on_retry(self, details: RetryDetails) -> None:
        self.retries.append(details)


class Raising:
    def on_call(self, details: CallDetails) -> None:
        raise RuntimeError("a bug in the user's hook")


def client(server: FakeTurnixServer, *hooks: object, token: str | None = None) -> AsyncTurnix:
    options: dict[str, Any] = {"base_url": server.base_url, "backoff_base": 0, "hooks": list(hooks)}
    return AsyncTurnix(token or server.api_token, **options)


def tracing() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


async def test_a_call_retried_twice_is_one_call_and_two_retries(
    turnix_server: FakeTurnixServer,
) -> None:
    registry, recorder = CollectorRegistry(), Recorder()
    turnix_server.fail_next(2, status=503)
    async with client(turnix_server, PrometheusHooks(registry), recorder) as turnix:
        await turnix.get_ice_credentials(room="lobby")

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"endpoint": "ice_credentials", **labels})

    assert value("turnix_calls_total", outcome="ok") == 1
    assert value("turnix_retries_total", reason="HTTP 503") == 2
    assert value("turnix_call_duration_seconds_count") == 1
    (details,) = recorder.calls
    assert (details.outcome, details.status, details.attempts) == ("ok", 200, 3)
    assert details.request_id is not None and details.request_id.startswith("req_")
    assert [r.attempt for r in recorder.retries] == [1, 2] == [r.attempt for r in details.retries]


async def test_a_401_is_one_failed_call_in_every_hook(
    turnix_server: FakeTurnixServer, caplog: pytest.LogCaptureFixture
) -> None:
    registry, (provider, exporter) = CollectorRegistry(), tracing()
    hooks = (PrometheusHooks(registry), OpenTelemetryHooks(provider), LoggingHooks())
    with caplog.at_level(logging.INFO, logger="turnix_async.calls"):
        async with client(turnix_server, *hooks, token=WRONG_TOKEN) as turnix:
            with pytest.raises(AuthenticationError):
                await turnix.list_regions()

    labels = {"endpoint": "regions", "outcome": "AuthenticationError"}
    assert registry.get_sample_value("turnix_calls_total", labels) == 1
    assert (
        registry.get_sample_value("turnix_retries_total", {**labels, "reason": "HTTP 401"}) is None
    )
    (span,) = exporter.get_finished_spans()
    assert span.name == "AsyncTurnix.list_regions"
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["http.response.status_code"] == 401
    (record,) = [r for r in caplog.records if r.name == "turnix_async.calls"]
    assert (record.levelno, record.outcome, record.status) == (  # type: ignore[attr-defined]
        logging.WARNING,
        "AuthenticationError",
        401,
    )


async def test_a_call_its_caller_cancels_is_still_one_call_in_every_hook(
    turnix_server: FakeTurnixServer, caplog: pytest.LogCaptureFixture
) -> None:
    registry, (provider, exporter), recorder = CollectorRegistry(), tracing(), Recorder()
    hooks = (PrometheusHooks(registry), OpenTelemetryHooks(provider), LoggingHooks(), recorder)
    hold = turnix_server.hold_next()
    with caplog.at_level(logging.INFO, logger="turnix_async.calls"):
        async with client(turnix_server, *hooks) as turnix:
            call = asyncio.create_task(turnix.list_regions())
            await hold.arrived()
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            hold.release()

    labels = {"endpoint": "regions", "outcome": "cancelled"}
    assert registry.get_sample_value("turnix_calls_total", labels) == 1
    duration = registry.get_sample_value(
        "turnix_call_duration_seconds_count", {"endpoint": "regions"}
    )
    assert duration == 1
    (details,) = recorder.calls
    assert (details.outcome, details.status, details.attempts) == ("cancelled", None, 1)
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    (record,) = [r for r in caplog.records if r.name == "turnix_async.calls"]
    assert (record.levelno, record.outcome) == (logging.INFO, "cancelled")  # type: ignore[attr-defined]


async def test_the_span_of_a_call_is_a_child_of_the_callers_span(
    turnix_server: FakeTurnixServer,
) -> None:
    provider, exporter = tracing()
    turnix_server.fail_next(1, status=503)
    async with client(turnix_server, OpenTelemetryHooks(provider)) as turnix:
        with provider.get_tracer("app").start_as_current_span("handle join"):
            await turnix.get_ice_credentials(room="lobby")
    call, parent = exporter.get_finished_spans()
    assert call.parent is not None and parent.context is not None
    assert call.parent.span_id == parent.context.span_id
    assert [event.name for event in call.events] == ["retry"]
    assert call.start_time is not None and call.end_time is not None
    assert parent.start_time is not None and parent.end_time is not None
    assert parent.start_time <= call.start_time <= call.end_time <= parent.end_time


async def test_a_raising_hook_does_not_change_the_call(
    turnix_server: FakeTurnixServer, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    async with client(turnix_server, Raising(), recorder) as turnix:
        for _ in range(3):
            creds = await turnix.get_ice_credentials(room="lobby")
    assert creds.ice_servers and len(recorder.calls) == 3
    assert len([r for r in caplog.records if "a bug in the user's hook" in str(r.exc_info)]) == 1


async def test_no_token_or_credential_reaches_a_label_attribute_or_log_record(
    turnix_server: FakeTurnixServer, caplog: pytest.LogCaptureFixture
) -> None:
    registry, (provider, exporter) = CollectorRegistry(), tracing()
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    recorder = Recorder()
    hooks = (PrometheusHooks(registry), OpenTelemetryHooks(provider, meters), LoggingHooks())
    secrets = {turnix_server.api_token, WRONG_TOKEN}
    caplog.set_level(logging.DEBUG)
    turnix_server.fail_next(1, status=503)
    async with client(turnix_server, *hooks, recorder) as turnix:
        creds = await turnix.get_ice_credentials(room="lobby", client_ip="203.0.113.7")
        await turnix.list_regions()
    async with client(turnix_server, *hooks, token=WRONG_TOKEN) as turnix:
        with pytest.raises(AuthenticationError):
            await turnix.get_ice_credentials(room="lobby")
    secrets |= {server.credential for server in creds.ice_servers if server.credential}
    assert len(secrets) >= 3

    exported = [
        prometheus_client.generate_latest(registry).decode(),
        *(span.to_json() for span in exporter.get_finished_spans()),
        reader.get_metrics_data().to_json(),  # type: ignore[union-attr]
        *(json.dumps(vars(record), default=repr) for record in caplog.records),
        *(r.getMessage() for r in caplog.records),
        repr(recorder.calls),
        repr(recorder.retries),
    ]
    assert len(recorder.calls) == 2 and len(exporter.get_finished_spans()) == 3
    for text in exported:
        for secret in secrets:
            assert secret not in text
    meters.shutdown()


# -- the docs' examples (docs/monitoring.md) ----------------------------------------------


async def test_prometheus_example_serves_the_metrics(turnix_env: FakeTurnixServer) -> None:
    turnix_env.fail_next(1, status=502)
    app = load("monitoring_prometheus.py").create_app(CollectorRegistry())
    http = TestClient(TestServer(app))
    try:  # not `async with`: its session would leak when the app fails to start
        await http.start_server()
        assert (await http.post("/ice", params={"room": "lobby"})).status == 200
        assert (await http.post("/ice", params={"room": "lobby"})).status == 200
        metrics = await http.get("/metrics")
        text = await metrics.text()
    finally:
        await http.close()
    assert metrics.headers["Content-Type"].startswith("text/plain")
    assert 'turnix_calls_total{endpoint="ice_credentials",outcome="ok"} 2.0' in text
    assert 'turnix_retries_total{endpoint="ice_credentials",reason="HTTP 502"} 1.0' in text
    assert turnix_env.api_token not in text


async def test_opentelemetry_example_traces_calls_inside_the_request_span(
    turnix_env: FakeTurnixServer,
) -> None:
    provider, exporter = tracing()
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    app = load("monitoring_opentelemetry.py").create_app(provider, meters)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            assert (await http.post("/ice", params={"room": "lobby"})).status_code == 200
    call, request = exporter.get_finished_spans()
    assert (call.name, request.name) == ("AsyncTurnix.get_ice_credentials", "POST /ice")
    assert call.parent is not None and request.context is not None
    assert call.parent.span_id == request.context.span_id
    assert "turnix.calls" in reader.get_metrics_data().to_json()  # type: ignore[union-attr]
    meters.shutdown()


async def test_custom_hook_example_tallies_outcomes_and_retries(
    turnix_server: FakeTurnixServer,
) -> None:
    turnix_server.fail_next(1, status=503)
    env = {
        **os.environ,
        "PYTHONPATH": str(EXAMPLES.parents[1]),
        "TURNIX_API_TOKEN": turnix_server.api_token,
        "TURNIX_BASE_URL": turnix_server.base_url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / "monitoring_custom_hook.py"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await asyncio.wait_for(process.communicate(), 60))[0].decode()
    assert process.returncode == 0, output
    assert "outcomes: {'ok': 2} retries: {'HTTP 503': 1}" in output
    assert "INFO turnix_async.calls: turnix regions ok" in output
    assert turnix_server.api_token not in output


async def test_cache_stats_example_exports_the_counters(turnix_server: FakeTurnixServer) -> None:
    registry = CollectorRegistry()
    async with AsyncTurnix(turnix_server.api_token, base_url=turnix_server.base_url) as turnix:
        cache = IceCredentialsCache(turnix)
        load("monitoring_cache.py").export_cache_stats(cache, registry)
        for _ in range(3):
            await cache.get(room="lobby")
        assert registry.get_sample_value("turnix_cache_misses_total") == 1
        assert registry.get_sample_value("turnix_cache_hits_total") == 2
        assert registry.get_sample_value("turnix_cache_entries") == 1
