"""The fake server's misbehaviour on demand: the fault queue, holds, and the rate limit.

Every argument is checked when the fault is queued, so a bad one fails the test
line that asked for it, not a request later.
"""

from __future__ import annotations

import asyncio
import collections
import json
import math
from collections.abc import Callable
from typing import Any, Final, Literal

import attrs

__all__ = ["MAX_FAULTS", "Fault", "FaultQueue", "Hold", "RateLimit", "check_rate_limit", "failure"]

MAX_FAULTS: Final = 10_000
"""The most faults one call may queue: more than any test sends, few enough to store."""


class Hold:
    """The handle `hold_next(n)` returns: its requests wait until `release()`.

    The server releases every hold when it closes; a held request also ends when
    its client gives up.
    """

    def __init__(self, n: int) -> None:
        self._n = n
        self._arrived = 0
        self._released = asyncio.Event()
        self._all_arrived = asyncio.Event()

    @property
    def released(self) -> bool:
        """True once `release()` was called (or the server closed)."""
        return self._released.is_set()

    @property
    def arrived_count(self) -> int:
        """How many of the held requests have arrived so far."""
        return self._arrived

    def release(self) -> None:
        """Let the held requests (and those still to come) be answered normally."""
        self._released.set()

    async def arrived(self) -> None:
        """Wait until all n held requests have arrived: the "in flight" moment of a test."""
        await self._all_arrived.wait()

    async def wait_for_release(self) -> None:
        """Called by the server for each held request: wait until released."""
        self._arrived += 1
        if self._arrived >= self._n:
            self._all_arrived.set()
        await self._released.wait()

    def __repr__(self) -> str:
        state = "released" if self.released else "holding"
        return f"Hold({state}, arrived {self._arrived} of {self._n})"


@attrs.frozen
class Fault:
    """One queued misbehaviour; each consumes one request."""

    kind: Literal["fail", "reset", "delay", "hold"]
    status: int = 503
    content_type: str = "application/json"
    body: bytes = b""
    retry_after: str | None = None
    seconds: float = 0.0
    hold: Hold | None = None


def failure(status: Any, retry_after: Any, body: Any) -> Fault:
    """A checked `fail` fault, its body already encoded.

    Raises:
        ValueError: a status outside 400-599, a negative or non-finite `retry_after`,
            or one that is not a valid header value.
        TypeError: a body that is not JSON-serialisable, str or bytes.
    """
    if type(status) is not int or not 400 <= status <= 599:
        raise ValueError(f"status must be an int in 400-599 (got {status!r})")
    content_type, encoded = _encoded(status, body)
    return Fault(
        "fail",
        status=status,
        content_type=content_type,
        body=encoded,
        retry_after=_retry_after_header(retry_after),
    )


def _encoded(status: int, body: Any) -> tuple[str, bytes]:
    if body is None:
        body = {"error": f"injected failure (HTTP {status})"}
    if isinstance(body, bytes):
        return "application/octet-stream", body
    if isinstance(body, str):
        return "text/plain; charset=utf-8", body.encode()
    if isinstance(body, (dict, list)):
        try:
            return "application/json", json.dumps(body).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            raise TypeError(f"body must be JSON-serialisable: {exc}") from None
    raise TypeError(f"body must be a dict, list, str or bytes (got {type(body).__name__})")


def _retry_after_header(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        if not value or not value.isascii() or not value.isprintable():
            raise ValueError(
                f"retry_after must be printable ASCII without line breaks (got {value!r})"
            )
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"retry_after must be seconds or a str (got {value!r})")
    if not 0 <= value < math.inf:
        raise ValueError(f"retry_after must be a finite number >= 0 seconds (got {value!r})")
    return f"{value:.3f}".rstrip("0").rstrip(".")  # 7 -> "7", 0.25 -> "0.25"


def check_count(n: Any) -> int:
    if type(n) is not int or not 1 <= n <= MAX_FAULTS:
        raise ValueError(f"n must be an int in 1-{MAX_FAULTS} (got {n!r})")
    return n


def check_seconds(seconds: Any) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise ValueError(f"seconds must be a number (got {seconds!r})")
    if not 0 <= seconds < math.inf:
        raise ValueError(f"seconds must be a finite number >= 0 (got {seconds!r})")
    return float(seconds)


class FaultQueue:
    """Faults in the order they were queued, one per request."""

    def __init__(self) -> None:
        self._queue: collections.deque[Fault] = collections.deque()

    def add(self, fault: Fault, n: Any) -> None:
        self._queue.extend([fault] * check_count(n))

    def pop(self) -> Fault | None:
        return self._queue.popleft() if self._queue else None

    def clear(self) -> None:
        self._queue.clear()

    def __len__(self) -> int:
        return len(self._queue)


def check_rate_limit(value: Any) -> tuple[int, float] | None:
    if value is None:
        return None
    try:
        count, seconds = value
    except (TypeError, ValueError):
        count = seconds = None
    if (
        type(count) is not int
        or count < 1
        or isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not 0 < seconds < math.inf
    ):
        raise ValueError(f"rate_limit must be (requests >= 1, finite seconds > 0) (got {value!r})")
    return count, float(seconds)


class RateLimit:
    """At most `limit` requests in any `window` seconds of `clock`, like a per-token API limit."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._accepted: collections.deque[float] = collections.deque()

    def admit(self) -> int | None:
        """None when the request may pass (it is counted), else the Retry-After seconds."""
        now = self._clock()
        while self._accepted and self._accepted[0] <= now - self.window:
            self._accepted.popleft()
        if len(self._accepted) < self.limit:
            self._accepted.append(now)
            return None
        return max(1, math.ceil(self._accepted[0] + self.window - now))

    def reset(self) -> None:
        self._accepted.clear()
