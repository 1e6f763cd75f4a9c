"""Reading a response body with a size limit, without buffering more than the limit."""

from __future__ import annotations

from aiohttp import ClientResponse

__all__ = ["read_capped"]


async def read_capped(response: ClientResponse, limit: int) -> tuple[bytes, bool]:
    """The body (at most `limit` bytes) and whether it was complete; closes it if not.

    An oversized error body still yields its first `limit` bytes (for the message);
    an oversized 2xx body is refused without reading it.
    """
    length = response.content_length
    complete = length is None or length <= limit
    try:
        if complete and length is not None:  # the usual case: one read of a known length
            return (await response.content.readexactly(length) if length else b""), True
        chunks = bytearray()
        if complete or not 200 <= response.status < 300:
            async for chunk in response.content.iter_any():
                chunks += chunk
                if len(chunks) > limit:
                    complete = False
                    break
    except BaseException:  # a reset, a timeout or a cancel mid-body: drop the connection
        response.close()
        raise
    if not complete:
        response.close()
    return bytes(chunks[:limit]), complete
