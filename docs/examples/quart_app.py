"""A Quart app serving ICE configurations; the client opens before serving."""

import ipaddress
from typing import Any

from quart import Quart, request

from turnix_async import AsyncTurnix, TurnixError

app = Quart(__name__)


@app.before_serving
async def open_turnix() -> None:
    app.config["TURNIX"] = AsyncTurnix()


@app.after_serving
async def close_turnix() -> None:
    await app.config["TURNIX"].close()


def browser_ip() -> str | None:
    """The caller's address if it is an IP (test clients and unix sockets have none)."""
    try:
        return str(ipaddress.ip_address(request.remote_addr or ""))
    except ValueError:
        return None


@app.post("/ice")
async def ice() -> tuple[dict[str, Any], int]:
    turnix: AsyncTurnix = app.config["TURNIX"]
    try:
        creds = await turnix.get_ice_credentials(
            room=request.args.get("room"), ttl=300, client_ip=browser_ip()
        )
    except ValueError as exc:  # e.g. a room name with spaces: the caller's mistake
        return {"error": str(exc)}, 400
    except TurnixError:
        return {"error": "TURN credentials unavailable"}, 502
    return creds.to_rtc_configuration(), 200
