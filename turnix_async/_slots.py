"""Attempt slots: at most `max_connections` attempts in flight, the others wait their turn.

aiohttp's own pool wait would count against an attempt's `timeout` and, when the
session closes, ends its waiters with a bare `CancelledError`. Waiting here
instead keeps the two apart: an attempt's timer starts once it has a connection,
the wait is bounded by the caller (its deadline), FIFO, and `close()` wakes every
waiter with `ClientClosedError`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from ._errors import ClientClosedError, TurnixTimeoutError, closed_during_call

__all__ = ["Slots"]


class Slots:
    """A closable FIFO semaphore whose waits are bounded and measured."""

    __slots__ = ("_closed", "_free", "_waiters", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = size
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    @property
    def in_use(self) -> int:
        """How many slots are taken right now."""
        return self.size - self._free

    def try_acquire(self) -> bool:
        """Take a free slot at once if there is one and nobody is waiting for it."""
        if self._free and not self._waiters and not self._closed:
            self._free -= 1
            return True
        return False

    async def acquire(self, limit: float | None) -> float:
        """Take a slot, waiting at most `limit` seconds (None: unbounded); returns the wait."""
        if self._closed:
            raise ClientClosedError("this AsyncTurnix client is closed")
        if self.try_acquire():
            return 0.0
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        started = loop.time()
        # call_later, not wait_for: wait_for swallows a cancellation that races a wake-up
        timer = None if limit is None else loop.call_later(limit, _expire, waiter)
        try:
            await waiter
        except asyncio.TimeoutError:  # TimeoutError on 3.11+, not on 3.10
            raise TurnixTimeoutError(
                f"waited {loop.time() - started:.3g} s for a free connection: all {self.size}"
                " are in use"
                f" (max_connections={self.size})",
                retryable=False,
            ) from None
        except asyncio.CancelledError:
            if _handed_over(waiter):  # the slot arrived as the caller gave up: pass it on
                self.release()
            raise
        finally:
            if timer is not None:
                timer.cancel()
            if not _handed_over(waiter):
                self._discard(waiter)
        return loop.time() - started

    def release(self) -> None:
        """Give a slot back: to the longest waiter, else to the free count."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1

    def close(self) -> None:
        """Refuse new acquires and wake every waiter with `ClientClosedError`."""
        self._closed = True
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(closed_during_call())

    def _discard(self, waiter: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):  # already handed a slot or woken
            self._waiters.remove(waiter)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(asyncio.TimeoutError())


def _handed_over(waiter: asyncio.Future[None]) -> bool:
    return waiter.done() and not waiter.cancelled() and waiter.exception() is None
