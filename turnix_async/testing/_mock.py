"""`MockTransport`: a `Transport` that answers from a function, with no sockets at all."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from .._errors import ClientClosedError, TurnixTimeoutError
from .._wire import Reply, Request

__all__ = ["Handler", "MockTransport"]

Handler = Callable[[Request], "Reply | Awaitable[Reply]"]


class MockTransport:
    """Answers each attempt with `handler(request)`, and records the requests.

    The handler returns a `Reply` (or an awaitable of one); it may raise a
    `TurnixConnectionError` / `TurnixTimeoutError` to play a network failure.
    It sees exactly what the client would put on the wire: method, URL, the encoded
    body and the headers.

        def handler(request: Request) -> Reply:
            return Reply(200, {"Content-Type": "application/json"}, b"[]")

        transport = MockTransport(handler)
    """

    def __init__(self, handler: Handler) -> None:
        if not callable(handler):
            raise TypeError(f"handler must be a callable taking a Request (got {handler!r})")
        self._handler = handler
        self._closed = False
        self._pending: set[asyncio.Future[Any]] = set()  # awaited replies; close() ends them
        self.requests: list[Request] = []
        """Every request sent, oldest first (those the handler failed included)."""

    @property
    def closed(self) -> bool:
        """True once `close()` was called."""
        return self._closed

    async def send(self, request: Request, *, timeout: float) -> Reply:
        """One attempt: record `request`, then return (or raise) what the handler gives.

        An awaitable reply is bounded as a real attempt is: by `timeout`, and by `close()`.

        Raises:
            ClientClosedError: the transport was closed (before or during the attempt).
            TurnixTimeoutError: an awaitable reply took longer than `timeout` seconds.
            TypeError: the handler returned something that is not a `Reply`.
        """
        if self._closed:
            raise ClientClosedError("this MockTransport was closed")
        self.requests.append(request)
        reply = self._handler(request)
        if inspect.isawaitable(reply):
            reply = await self._bounded(reply, timeout)
        if not isinstance(reply, Reply):
            raise TypeError(f"the handler must return a Reply (got {type(reply).__name__})")
        return reply

    async def _bounded(self, awaitable: Awaitable[Any], timeout: float) -> Any:
        pending = asyncio.ensure_future(awaitable)
        self._pending.add(pending)
        try:
            done, _ = await asyncio.wait((pending,), timeout=timeout)
        finally:  # also when the caller is cancelled: the handler stops with it
            self._pending.discard(pending)
            if not pending.done():
                pending.cancel()
        if not done:
            raise TurnixTimeoutError(f"no reply within {timeout:g} s")
        if pending.cancelled():  # by close()
            raise ClientClosedError("the MockTransport was closed during the attempt")
        return pending.result()

    async def close(self) -> None:
        """Refuse later sends and end the attempts in flight; safe to call more than once."""
        self._closed = True
        for pending in list(self._pending):
            pending.cancel()

    def __repr__(self) -> str:
        return f"MockTransport({len(self.requests)} requests{', closed' if self._closed else ''})"
