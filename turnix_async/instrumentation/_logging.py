"""One structured log record per call: the debug aid users otherwise write by hand."""

from __future__ import annotations

import logging

from ._hooks import CANCELLED, CallDetails, ThrottleDetails

__all__ = ["LoggingHooks"]


class LoggingHooks:
    """Hooks that log each call (INFO when ok, WARNING on failure) and each throttle change.

    Each call record has `extra` fields `endpoint`, `outcome`, `status`, `attempts`,
    `duration`, `waited` and `request_id`, for JSON log formatters. Retries are
    already logged, as they happen, by the client itself.

    Args:
        logger: where to log; None means the "turnix_async.calls" logger.

    Raises:
        ValueError: `logger` is not a `logging.Logger`.
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        if logger is not None and not isinstance(logger, logging.Logger):
            raise ValueError(
                f"logger must be a logging.Logger or None (got {type(logger).__name__})"
            )
        self._logger = logging.getLogger("turnix_async.calls") if logger is None else logger

    def __repr__(self) -> str:
        return f"LoggingHooks(logger={self._logger.name!r})"

    def on_call(self, details: CallDetails) -> None:
        self._logger.log(
            logging.INFO if details.ok or details.outcome == CANCELLED else logging.WARNING,
            "turnix %s %s in %.3f s (%d attempt%s, HTTP %s, request id %s)",
            details.endpoint,
            details.outcome,
            details.duration,
            details.attempts,
            "" if details.attempts == 1 else "s",
            details.status if details.status is not None else "-",
            details.request_id or "-",
            extra={
                "endpoint": details.endpoint,
                "outcome": details.outcome,
                "status": details.status,
                "attempts": details.attempts,
                "duration": details.duration,
                "waited": details.waited,
                "request_id": details.request_id,
            },
        )

    def on_throttle(self, details: ThrottleDetails) -> None:
        rate = "unlimited" if details.rate is None else f"{details.rate:g} requests/s"
        self._logger.log(
            logging.WARNING if details.event == "engaged" else logging.INFO,
            "turnix rate limiter %s: %s (%s)",
            details.event,
            rate,
            details.reason,
            extra={"event": details.event, "rate": details.rate},
        )
