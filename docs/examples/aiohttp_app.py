"""An aiohttp app serving ICE configurations: one AsyncTurnix for the whole app."""

import ipaddress
from collections.abc import AsyncIterator

from aiohttp import web

from turnix_async import AsyncTurnix, TurnixError

TURNIX = web.AppKey("turnix", AsyncTurnix)


async def turnix_client(app: web.Application) -> AsyncIterator[None]:
    async with AsyncTurnix() as turnix:  # opened at startup, closed at shutdown
        app[TURNIX] = turnix
        yield


def browser_ip(request: web.Request) -> str | None:
    """The caller's address, if it is an IP (behind a proxy: the signaling example)."""
    try:
        return str(ipaddress.ip_address(request.remote or ""))
    except ValueError:
        return None


async def ice(request: web.Request) -> web.Response:
    try:
        creds = await request.app[TURNIX].get_ice_credentials(
            room=request.query.get("room"), ttl=300, client_ip=browser_ip(request)
        )
    except ValueError as exc:  # e.g. a room name with spaces: the caller's mistake
        raise web.HTTPBadRequest(text=str(exc)) from exc
    except TurnixError as exc:
        raise web.HTTPBadGateway(text=f"TURN credentials unavailable: {exc}") from exc
    return web.json_response(creds.to_json())


def create_app() -> web.Application:
    app = web.Application()
    app.cleanup_ctx.append(turnix_client)
    app.router.add_post("/ice", ice)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), port=8080)
