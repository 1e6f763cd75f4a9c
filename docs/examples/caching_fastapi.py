"""FastAPI: one Turnix request per room, however many peers join at once."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response

from turnix_async import AsyncTurnix, IceCredentialsCache, TurnixError


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with AsyncTurnix() as turnix:  # token from TURNIX_API_TOKEN
        app.state.ice_cache = IceCredentialsCache(
            turnix, min_validity=60.0, max_entries=10_000, refresh_ahead=True
        )
        yield  # closing the client at shutdown also stops the cache's refreshes


app = FastAPI(lifespan=lifespan)


@app.post("/ice")
async def ice(
    request: Request, response: Response, room: str | None = None
) -> dict[str, Any]:
    cache: IceCredentialsCache = request.app.state.ice_cache
    try:
        creds = await cache.get(room=room, ttl=900)
    except ValueError as exc:  # e.g. a room name with spaces: the caller's mistake
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    except TurnixError as exc:
        raise HTTPException(
            status_code=502, detail="TURN credentials unavailable"
        ) from exc
    response.headers["Cache-Control"] = "no-store"  # credentials: not for HTTP caches
    return creds.to_json()
