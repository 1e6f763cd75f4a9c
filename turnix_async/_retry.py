"""Pure retry decisions: given how an attempt ended, retry after N seconds or stop.

No I/O and no clock of its own: the caller passes the attempt number, the time
left and the current Unix time, so every rule here is unit-tested without a
network. The loop that acts on a decision lives in the client.
"""

from __future__ import annotations

import enum
import random

import attrs

from ._errors import TurnixConnectionError, TurnixError, sdk_class_name
from ._retry_after import RETRY_AFTER_STATUSES, parse_retry_after
from ._wire import Reply

__all__ = ["RETRY_STATUSES", "Decision", "RetryPolicy", "Verdict", "decide", "describe"]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@attrs.frozen
class RetryPolicy:
    """How hard one call tries: attempts, per-attempt timeout, total deadline, waits."""

    max_retries: int = 2
    timeout: float = 10.0
    deadline: float | None = None
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    retry_after_cap: float = 60.0

    def backoff(self, retry: int, jitter: float) -> float:
        """base x 2^retry, capped, times 0.5-1.0 (`jitter` in [0, 1) picks where)."""
        # 2.0 ** 1024 raises OverflowError; past 2 ** 1023 any base is capped anyway
        delay: float = min(self.backoff_max, self.backoff_base * 2.0 ** min(retry, 1023))
        return delay * (0.5 + jitter / 2)


class Verdict(enum.Enum):
    RETRY = "retry"  # wait `Decision.wait` seconds, then attempt again
    STOP = "stop"  # the outcome is final: its error (or its reply) goes to the caller
    OUT_OF_TIME = "out of time"  # a retry would be due, but not within the deadline


@attrs.frozen
class Decision:
    verdict: Verdict
    wait: float = 0.0


STOP = Decision(Verdict.STOP)


def decide(
    outcome: Reply | TurnixError,
    attempt: int,
    policy: RetryPolicy,
    *,
    time_left: float | None,
    now: float,
    jitter: float | None = None,
) -> Decision:
    """What to do after attempt number `attempt` (1-based) ended with `outcome`.

    Retried: network failures marked retryable, timeouts, 408/429/5xx but 501.
    A `Retry-After` on 429/503 replaces the backoff; one longer than
    `retry_after_cap` or than `time_left` (seconds, None: no deadline) stops at once.
    """
    retry_after = None
    if isinstance(outcome, Reply):
        if outcome.status not in RETRY_STATUSES:
            return STOP
        if outcome.status in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(outcome.headers, now)
        cap = policy.retry_after_cap
        longest = cap if time_left is None else min(cap, time_left)
        if retry_after is not None and retry_after > longest:
            return STOP  # the API asks for more than we may wait: tell the caller when
    elif not (isinstance(outcome, TurnixConnectionError) and outcome.retryable):
        return STOP
    if attempt > policy.max_retries:
        return STOP
    if retry_after is None:
        retry_after = policy.backoff(attempt - 1, random.random() if jitter is None else jitter)
    if time_left is not None and retry_after >= time_left:
        return Decision(Verdict.OUT_OF_TIME, retry_after)
    return Decision(Verdict.RETRY, retry_after)


def describe(outcome: Reply | TurnixError) -> str:
    """A short, bounded reason for logs and hooks: `HTTP 503` or an error class name."""
    if isinstance(outcome, Reply):
        return f"HTTP {outcome.status}"
    return sdk_class_name(outcome)
