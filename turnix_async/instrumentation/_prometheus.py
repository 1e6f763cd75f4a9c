"""Prometheus metrics for calls, retries and throttling (needs the `prometheus` extra).

The metrics are registered once per registry and shared by every `PrometheusHooks`
on it, so several clients (or several hooks objects) can report into one registry,
the default one included.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

import attrs

from ._hooks import ENDPOINTS, CallDetails, RetryDetails, ThrottleDetails, error_names

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["DURATION_BUCKETS", "PrometheusHooks"]

DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# the statuses the client retries keep their own label value; any other is "HTTP other"
_RETRIED_STATUSES = frozenset(
    {"HTTP 408", "HTTP 429", "HTTP 500", "HTTP 502", "HTTP 503", "HTTP 504"}
)


@attrs.frozen
class _Metrics:
    calls: Counter
    duration: Histogram
    retries: Counter
    throttle_events: Counter


_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, _Metrics] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _metrics_for(registry: CollectorRegistry) -> _Metrics:
    from prometheus_client import Counter, Histogram

    with _lock:
        metrics = _by_registry.get(registry)
        if metrics is None:
            metrics = _Metrics(
                calls=Counter(
                    "turnix_calls_total",
                    "Turnix API calls by endpoint and outcome ('ok' or the error class).",
                    ("endpoint", "outcome"),
                    registry=registry,
                ),
                duration=Histogram(
                    "turnix_call_duration_seconds",
                    "Duration of Turnix API calls, retries and waits included.",
                    ("endpoint",),
                    buckets=DURATION_BUCKETS,
                    registry=registry,
                ),
                retries=Counter(
                    "turnix_retries_total",
                    "Retried Turnix API attempts by endpoint and reason.",
                    ("endpoint", "reason"),
                    registry=registry,
                ),
                throttle_events=Counter(
                    "turnix_throttle_events_total",
                    "Times a client's rate limiter engaged or released.",
                    ("event",),
                    registry=registry,
                ),
            )
            for endpoint in sorted(ENDPOINTS):  # series exist (at 0) before the first call
                metrics.calls.labels(endpoint, "ok")
                metrics.duration.labels(endpoint)
            _by_registry[registry] = metrics
        return metrics


def bounded_reason(reason: str) -> str:
    """The retry reason as a label value from a small fixed set."""
    if reason in _RETRIED_STATUSES or reason in error_names():
        return reason
    return "HTTP other" if reason.startswith("HTTP ") else "other"


class PrometheusHooks:
    """Hooks that count calls, retries and throttling into a Prometheus registry.

    Metrics: `turnix_calls_total{endpoint, outcome}`,
    `turnix_call_duration_seconds{endpoint}` (histogram),
    `turnix_retries_total{endpoint, reason}` and `turnix_throttle_events_total{event}`.

    Args:
        registry: the `prometheus_client.CollectorRegistry` to register into;
            None means the default `prometheus_client.REGISTRY`.

    Raises:
        ValueError: `registry` is not a `CollectorRegistry`.
        ImportError: prometheus-client is not installed (`pip install 'turnix-async[prometheus]'`).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        try:
            import prometheus_client
        except ImportError as exc:
            raise ImportError(
                "PrometheusHooks needs prometheus-client: pip install 'turnix-async[prometheus]'"
            ) from exc
        if registry is None:
            registry = prometheus_client.REGISTRY
        elif not isinstance(registry, prometheus_client.CollectorRegistry):
            raise ValueError(
                "registry must be a prometheus_client.CollectorRegistry or None"
                f" (got {type(registry).__name__})"
            )
        self._registry = registry
        self._metrics = _metrics_for(self._registry)

    def __repr__(self) -> str:
        return f"PrometheusHooks(registry={self._registry!r})"

    def on_call(self, details: CallDetails) -> None:
        self._metrics.calls.labels(details.endpoint, details.outcome).inc()
        self._metrics.duration.labels(details.endpoint).observe(details.duration)

    def on_retry(self, details: RetryDetails) -> None:
        self._metrics.retries.labels(details.endpoint, bounded_reason(details.reason)).inc()

    def on_throttle(self, details: ThrottleDetails) -> None:
        self._metrics.throttle_events.labels(details.event).inc()
