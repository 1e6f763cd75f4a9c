"""A recipe per error: what each exception means and what to do about it."""

import asyncio
import logging

from turnix_async import (
    AsyncTurnix,
    AuthenticationError,
    BadRequestError,
    IceCredentials,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    TurnixAPIError,
    TurnixConnectionError,
    TurnixTimeoutError,
)

log = logging.getLogger("my_app")


async def credentials_or_none(turnix: AsyncTurnix, room: str) -> IceCredentials | None:
    try:
        return await turnix.get_ice_credentials(room=room, ttl=300)
    except ValueError as exc:  # bad argument, nothing was sent: fix the caller
        log.warning("invalid request: %s", exc)
    except (AuthenticationError, PermissionDeniedError) as exc:  # config: page someone
        log.error("Turnix token rejected (HTTP %s): %s", exc.status, exc.message)
    except RateLimitError as exc:  # already retried; tell your caller when to come back
        log.warning("rate limited, retry after %s s", exc.retry_after)
    except BadRequestError as exc:  # the API refused a value; the message names it
        log.warning("refused: %s", exc.message)
    except ServerError as exc:  # Turnix failed after retries; quote the request id
        log.error("Turnix %s (request id %s)", exc.status, exc.request_id)
    except TurnixAPIError as exc:  # any other status
        log.error("unexpected HTTP %s: %s", exc.status, exc.message)
    except TurnixTimeoutError:  # `timeout` per attempt or `deadline` per call ran out
        log.warning("Turnix too slow")
    except TurnixConnectionError as exc:  # refused, reset, DNS, TLS - after retries
        log.warning("Turnix unreachable: %s", exc)
    except ResponseValidationError as exc:  # a 2xx body we cannot trust
        log.error("unexpected response: %s", exc)
    return None


async def main() -> None:
    async with AsyncTurnix(timeout=5, max_retries=2, deadline=12) as turnix:
        print(await credentials_or_none(turnix, "lobby") is not None)
        print(await credentials_or_none(turnix, "not a valid room"))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
