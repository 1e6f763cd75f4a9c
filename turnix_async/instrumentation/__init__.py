"""Observability: hooks that watch the client's calls, and ready ones for common tools.

    from turnix_async.instrumentation import PrometheusHooks, LoggingHooks
    turnix = AsyncTurnix(hooks=[PrometheusHooks(), LoggingHooks()])

A hook is any object with one or more of `on_call(CallDetails)`,
`on_retry(RetryDetails)` and `on_throttle(ThrottleDetails)`. Hooks watch from the
side: they are called synchronously, must not block, and an exception from one is
logged once and never changes the call. This package imports without the optional
libraries; `PrometheusHooks` and `OpenTelemetryHooks` import theirs when built.
"""

from ._hooks import (
    CallDetails,
    CallHook,
    Hook,
    RetryDetails,
    RetryHook,
    ThrottleDetails,
    ThrottleHook,
)
from ._logging import LoggingHooks
from ._opentelemetry import OpenTelemetryHooks
from ._prometheus import PrometheusHooks

__all__ = [
    "CallDetails",
    "CallHook",
    "Hook",
    "LoggingHooks",
    "OpenTelemetryHooks",
    "PrometheusHooks",
    "RetryDetails",
    "RetryHook",
    "ThrottleDetails",
    "ThrottleHook",
]
