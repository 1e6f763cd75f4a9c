"""aiohttp: one Turnix request per room, however many peers join at once."""

from collections.abc import AsyncIterator

from aiohttp import web

from turnix_async import AsyncTurnix, IceCredentialsCache, TurnixError

ICE_CACHE = web.AppKey("ice_cache", IceCredentialsCache)


async def turnix_cache(app: web.Application) -> AsyncIterator[None]:
    async with AsyncTurnix() as turnix:  # token from TURNIX_API_TOKEN
        app[ICE_CACHE] = IceCredentialsCache(
            turnix, min_validity=60.0, max_entries=10_000, refresh_ahead=True
        )
        yield  # closing the client at shutdown also stops the cache's refreshes


async def ice(request: web.Request) -> web.Response:
    try:
        creds = await request.app[ICE_CACHE].get(
            room=request.query.get("room"), ttl=900
        )
    except ValueError as exc:  # e.g. a room name with spaces: the caller's mistake
        raise web.HTTPBadRequest(text=str(exc)) from exc
    except TurnixError as exc:
        raise web.HTTPBadGateway(text="TURN credentials unavailable") from exc
    return web.json_response(
        creds.to_json(),
        headers={"Cache-Control": "no-store"},  # credentials: not for HTTP caches
    )


def create_app() -> web.Application:
    app = web.Application()
    app.cleanup_ctx.append(turnix_cache)
    app.router.add_post("/ice", ice)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), port=8080)
