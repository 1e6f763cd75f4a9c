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

    __slots__ = ("_header", "_origin", "token")  # no __dict__: vars() cannot reveal it

    def __init__(self, token: str, api_url: URL) -> None:
        self.token = token
        self._header = f"Bearer {token}"
        self._origin = _origin(api_url)

    def __repr__(self) -> str:
        scheme, host, port = self._origin
        return f"BearerAuth(origin='{scheme}://{host}:{port}', token=***)"

    async def __call__(self, req: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        if _origin(req.url) != self._origin:
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
