"""The client's one aiohttp middleware: what each hop of a request to the API may carry.

aiohttp runs a client middleware on every hop, redirects included, so the rules
for a hop live here together (each middleware level costs every request ~10k
instructions):

- the token goes to the API's own origin only (a redirect elsewhere goes without it),
  and neither it nor a proxy's credentials stay in the request once it is sent;
- an https API is never followed to plain http: nothing is sent in clear text;
- a dropped connection is re-raised as `DroppedConnection`, so that aiohttp does not
  resend the request by itself: the retry loop does, and counts it, so the server
  sees exactly `max_retries + 1` requests.
"""

from __future__ import annotations

import aiohttp
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse, hdrs
from yarl import URL

__all__ = ["BearerAuth", "Downgrade", "DroppedConnection"]


class DroppedConnection(aiohttp.ClientConnectionError):
    """A connection failure that aiohttp must not answer with its own silent resend."""


class Downgrade(aiohttp.ClientConnectionError):
    """A redirect from https to plain http, refused before anything is sent."""


class BearerAuth:
    """Adds `Authorization: Bearer <token>` on the API's own origin; guards every hop."""

    __slots__ = ("_authority", "_header", "_https_only", "_origin", "_scheme", "token")

    def __init__(self, token: str, api_url: URL) -> None:
        self.token = token
        self._header = f"Bearer {token}"
        self._origin = _origin(api_url)
        self._scheme = api_url.scheme
        self._authority = api_url.raw_authority  # the API's own URLs match on this alone
        self._https_only = api_url.scheme == "https"

    def __repr__(self) -> str:
        scheme, host, port = self._origin
        return f"BearerAuth(origin='{scheme}://{host}:{port}', token=***)"

    async def __call__(self, req: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        url = req.url
        same = url.raw_authority == self._authority and url.scheme == self._scheme
        if not same and self._https_only and url.scheme != "https":
            raise Downgrade(f"refused a redirect from https to plain http ({url.host})")
        if same or _origin(url) == self._origin:  # e.g. `h:443` is `h`: still the API
            req.headers[hdrs.AUTHORIZATION] = self._header
        else:
            req.headers.popall(hdrs.AUTHORIZATION, None)
        try:
            return await _sent(req, handler)
        finally:  # so no credential lingers in response.request_info (a trace sees it)
            req.headers.popall(hdrs.AUTHORIZATION, None)
            req.headers.popall(hdrs.PROXY_AUTHORIZATION, None)  # a plain-http proxy's


async def _sent(req: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
    try:
        return await handler(req)
    except aiohttp.ClientConnectorError:  # connecting failed: aiohttp never resends those
        raise
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
        described = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise DroppedConnection(described) from exc


def _origin(url: URL) -> tuple[str, str | None, int | None]:
    """Scheme, host and effective port: `https://h` and `https://h:443` are one origin."""
    return url.scheme, url.host, url.port
