"""A FastAPI app serving ICE configurations; the client lives in the lifespan."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request

from turnix_async import AsyncTurnix, RateLimitError, TurnixError


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with AsyncTurnix() as turnix:  # one client (one connection pool) per app
        app.state.turnix = turnix
        yield


app = FastAPI(lifespan=lifespan)


@app.post("/ice")
async def ice(request: Request, room: str | None = None) -> dict[str, Any]:
    turnix: AsyncTurnix = request.app.state.turnix
    client_ip = request.client.host if request.client else None
    try:
        creds = await turnix.get_ice_credentials(
            room=room, ttl=300, client_ip=client_ip
        )
    except ValueError as exc:  # e.g. a room name with spaces: the caller's mistake
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    except RateLimitError as exc:
        headers = {"Retry-After": str(int(exc.retry_after or 1))}
        raise HTTPException(status_code=503, detail="busy", headers=headers) from exc
    except TurnixError as exc:
        raise HTTPException(
            status_code=502, detail="TURN credentials unavailable"
        ) from exc
    return creds.to_json()
