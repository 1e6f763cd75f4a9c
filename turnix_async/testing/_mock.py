"""`MockTransport`: a `Transport` that answers from a function, with no sockets at all."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from .._errors import ClientClosedError
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
        self.requests: list[Request] = []
        """Every request sent, oldest first (those the handler failed included)."""

    @property
    def closed(self) -> bool:
        """True once `close()` was called."""
        return self._closed

    async def send(self, request: Request, *, timeout: float) -> Reply:
        """One attempt: record `request`, then return (or raise) what the handler gives.

        Raises:
            ClientClosedError: the transport was closed.
            TypeError: the handler returned something that is not a `Reply`.
        """
        if self._closed:
            raise ClientClosedError("this MockTransport was closed")
        self.requests.append(request)
        reply = self._handler(request)
        if inspect.isawaitable(reply):
            reply = await reply
        if not isinstance(reply, Reply):
            raise TypeError(f"the handler must return a Reply (got {type(reply).__name__})")
        return reply

    async def close(self) -> None:
        """Refuse later sends; safe to call more than once."""
        self._closed = True

    def __repr__(self) -> str:
        return f"MockTransport({len(self.requests)} requests{', closed' if self._closed else ''})"
