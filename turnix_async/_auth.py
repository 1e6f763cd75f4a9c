"""Bearer auth as an aiohttp client middleware: the token goes to the API's own origin only."""

from __future__ import annotations

from aiohttp import ClientHandlerType, ClientRequest, ClientResponse, hdrs
from yarl import URL

__all__ = ["BearerAuth"]


class BearerAuth:
    """Adds `Authorization: Bearer <token>` to requests for the API's own origin only.

    aiohttp runs middlewares again on every redirect hop, so a redirect to another
    origin is sent without the token.
    """

    __slots__ = ("_authority", "_header", "_origin", "_scheme", "token")  # no __dict__

    def __init__(self, token: str, api_url: URL) -> None:
        self.token = token
        self._header = f"Bearer {token}"
        self._origin = _origin(api_url)
        self._scheme = api_url.scheme
        self._authority = api_url.raw_authority  # the API's own URLs match on this alone

    def __repr__(self) -> str:
        scheme, host, port = self._origin
        return f"BearerAuth(origin='{scheme}://{host}:{port}', token=***)"

    async def __call__(self, req: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        url = req.url
        same = url.raw_authority == self._authority and url.scheme == self._scheme
        if not same and _origin(url) != self._origin:  # e.g. `h:443` is `h`: still the API
            req.headers.popall(hdrs.AUTHORIZATION, None)
            return await handler(req)
        req.headers[hdrs.AUTHORIZATION] = self._header
        try:
            return await handler(req)
        finally:  # so the token does not linger in response.request_info
            req.headers.popall(hdrs.AUTHORIZATION, None)


def _origin(url: URL) -> tuple[str, str | None, int | None]:
    """Scheme, host and effective port: `https://h` and `https://h:443` are one origin."""
    return url.scheme, url.host, url.port
