"""`RetryBudget`: retries may be only a small share of recent traffic (Finagle / gRPC style).

Per-call `max_retries` multiplies load by up to 1 + max_retries exactly when the API
is failing. A budget shared by the whole client caps that: over the last `window`
seconds, retries may be at most `ratio` x the calls made, plus `min_retries` so a
lone call still gets through a blip. One budget per client; pure, clock injected.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["RetryBudget"]

_SLOTS = 10  # the window is counted in this many slots; old ones drop off whole


class RetryBudget:
    """Counts calls and retries in a sliding window and says whether one more retry fits.

    Args:
        ratio: retries allowed per call made in the window (0.2 = 20 %).
        window: seconds of history that count.
        min_retries: retries allowed in any window regardless of traffic.
        clock: monotonic seconds; injected by tests.
    """

    def __init__(
        self,
        *,
        ratio: float = 0.2,
        window: float = 10.0,
        min_retries: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0.0 <= ratio <= 1000.0 or math.isnan(ratio):
            raise ValueError(f"ratio must be between 0 and 1000 (got {ratio!r})")
        if not 0.0 < window < math.inf:
            raise ValueError(f"window must be a positive number of seconds (got {window!r})")
        if min_retries < 0:
            raise ValueError(f"min_retries must be 0 or more (got {min_retries!r})")
        self._ratio = ratio
        self._min_retries = min_retries
        self._clock = clock
        self._slot_width = window / _SLOTS
        self._slot = math.floor(clock() / self._slot_width)
        self._calls = [0] * _SLOTS  # ring of per-slot counts
        self._retries = [0] * _SLOTS
        self._calls_total = 0  # sums over the ring, kept in step with it
        self._retries_total = 0

    def record_request(self) -> None:
        """Count one call (once per call, at its first attempt; retries are not calls)."""
        index = self._advance()
        self._calls[index] += 1
        self._calls_total += 1

    def try_spend(self) -> bool:
        """Take one retry if the budget allows it now; False means: do not retry."""
        index = self._advance()
        if self._retries_total >= self._ratio * self._calls_total + self._min_retries:
            return False
        self._retries[index] += 1
        self._retries_total += 1
        return True

    @property
    def available(self) -> int:
        """Retries that would be allowed right now (for metrics and tests)."""
        self._advance()
        allowed = self._ratio * self._calls_total + self._min_retries - self._retries_total
        return max(0, math.ceil(allowed))

    def _advance(self) -> int:
        """Drop the slots that left the window; return the index of the current slot."""
        slot = math.floor(self._clock() / self._slot_width)
        if slot > self._slot:
            for stale in range(self._slot + 1, min(slot, self._slot + _SLOTS) + 1):
                index = stale % _SLOTS
                self._calls_total -= self._calls[index]
                self._retries_total -= self._retries[index]
                self._calls[index] = self._retries[index] = 0
            self._slot = slot
        return slot % _SLOTS
