"""`Closing`: the client's closed state, shared by its views, waking every retry wait.

An `asyncio.Event` would do, but it binds to the first event loop that waits on
it: a client (with its own transport) used again under a second `asyncio.run()`
would see every wait fail at once, its backoff skipped. Each wait here is a
future of the loop it runs in.
"""

from __future__ import annotations

import asyncio

__all__ = ["Closing"]


class Closing:
    """Set once, by `close()`; `sleep` ends early when it is."""

    __slots__ = ("_sleepers", "is_set")

    def __init__(self) -> None:
        self.is_set = False
        self._sleepers: set[asyncio.Future[None]] = set()

    def set(self) -> None:
        self.is_set = True
        for woken in self._sleepers:
            _wake(woken)

    async def sleep(self, seconds: float) -> None:
        """Sleep `seconds`, or until set; the caller's cancellation stays its own."""
        if self.is_set:
            return
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(seconds, _wake, woken)
        self._sleepers.add(woken)
        try:
            await woken
        finally:
            timer.cancel()
            self._sleepers.discard(woken)


def _wake(woken: asyncio.Future[None]) -> None:
    # a wait left behind in a loop closed without cancelling its tasks has nothing to wake
    if not woken.done() and not woken.get_loop().is_closed():
        woken.set_result(None)
