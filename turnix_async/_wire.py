"""What crosses the transport seam: a `Request` goes down, a `Reply` comes back.

Everything below the seam speaks bytes and statuses; nothing above it sees an
aiohttp object. A `Transport` sends ONE attempt; retrying is decided above it.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Protocol

import attrs

__all__ = ["Reply", "Request", "Transport"]


@attrs.frozen
class Request:
    """One HTTP request to the API: the body is already encoded JSON (or None).

    `headers` holds only what this request adds (e.g. `X-TURN-CLIENT-IP`); the
    transport sends its own on every request (auth, User-Agent, the JSON type).
    """

    method: str
    url: str
    body: bytes | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)


def _plain_status(status: int) -> int:
    """Three digits as a plain `int` (`HTTPStatus.OK` is 200): what hooks and metrics take.

    aiohttp reads any three digits from a server (`099`, `999`), so a transport may too.
    """
    if type(status) is not int:
        if isinstance(status, bool) or not hasattr(status, "__index__"):
            raise TypeError(f"Reply.status must be an int, not {type(status).__name__}")
        status = operator.index(status)
    if not 0 <= status <= 999:
        raise ValueError(f"Reply.status must be an HTTP status of three digits (got {status})")
    return status


@attrs.frozen
class Reply:
    """One HTTP answer: status, headers, the decoded body bytes and the request id.

    A non-2xx body larger than the size limit is cut to the limit (it only feeds
    the error message); a 2xx body that large is refused below the seam.
    """

    status: int = attrs.field(converter=_plain_status)
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""

    @property
    def request_id(self) -> str | None:
        """The API's `X-Request-Id` for this answer, if it sent one."""
        return self.headers.get("X-Request-Id")


class Transport(Protocol):
    """Sends one attempt and returns its `Reply`, or raises a `TurnixError`.

    `timeout` is the attempt's own budget in seconds: connecting, the headers
    and the body. The client limits how many attempts are in flight at once.
    """

    async def send(self, request: Request, *, timeout: float) -> Reply:
        """One attempt: `TurnixConnectionError`/`TurnixTimeoutError` when it fails."""
        ...

    async def close(self) -> None:
        """Release the connections; later sends raise `ClientClosedError`."""
        ...
