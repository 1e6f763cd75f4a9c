"""The `turnix` command line: ICE credentials and regions from the API, a local server, a demo.

Heavy modules (the SDK client, the local server) are imported inside the commands,
so `turnix --help` stays quick. Every failure ends as one line on stderr and an
exit code (see `EXIT_STATUS`); tracebacks are never shown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from datetime import timedelta, timezone
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from ._client import AsyncTurnix
    from ._models import IceCredentials, IceCredentialsJSON, Region

__all__ = ["main"]

PROG = "turnix"
TOKEN_ENV = "TURNIX_API_TOKEN"
BASE_URL_ENV = "TURNIX_BASE_URL"

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_API = 4
EXIT_NETWORK = 5
EXIT_INTERRUPTED = 130

EXIT_STATUS = f"""\
environment:
  {TOKEN_ENV}   the API token for `ice` and `regions` (never printed)
  {BASE_URL_ENV}    the API root (default https://turnix.io/api/v1)

exit status:
  0    success
  2    usage or configuration error (bad option or value, no {TOKEN_ENV})
  3    authentication or permission error (HTTP 401 / 403)
  4    other API error (any other HTTP error status, a malformed response)
  5    network error or timeout (also: `serve` cannot listen on the address)
  130  interrupted (Ctrl-C)
"""

_REAL_API_HINT = f"""\
To use the real Turnix API, get an API token from your Turnix dashboard, then:

    export {TOKEN_ENV}=...          # the token; never commit it
    turnix ice --room demo-room
    turnix regions

and the same Python code as above, without the base_url (it defaults to the real API):

    import asyncio
    from turnix_async import AsyncTurnix

    async def main():
        async with AsyncTurnix() as turnix:  # reads {TOKEN_ENV}
            creds = await turnix.get_ice_credentials(room="demo-room", ttl=120)
            print(creds.to_rtc_configuration())

    asyncio.run(main())
"""


class _Failure(Exception):
    """Ends the command with one line on stderr and `code`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2), not usage + error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `turnix` command line with `argv` (default: `sys.argv[1:]`); return the exit code.

    Used by the `turnix` console script and by `python -m turnix_async`.
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = asyncio.run(args.command(args))
    except _Failure as failure:
        print(f"{PROG}: {failure.message}", file=sys.stderr)
        return failure.code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `turnix regions | head -1`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    return code


def _build_parser() -> argparse.ArgumentParser:
    from ._version import __version__

    formatter = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog=PROG,
        description="Turnix STUN/TURN API from the command line, and a local fake API.",
        epilog="start with `turnix demo` (offline, no token needed)\n\n" + EXIT_STATUS,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"turnix-async {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    network = _Parser(add_help=False)
    network.add_argument(
        "--timeout", type=float, default=10.0, metavar="S", help="seconds per attempt (10)"
    )
    network.add_argument(
        "--retries", type=int, default=2, metavar="N", help="retries after a failure (2)"
    )

    ice = commands.add_parser(
        "ice",
        parents=[network],
        help="get ICE servers (STUN + TURN credentials) from the API",
        description="Request short-lived ICE credentials (STUN + TURN) for one peer.\n"
        f"The token comes from {TOKEN_ENV}, the API root from {BASE_URL_ENV}.",
        epilog=EXIT_STATUS,
        formatter_class=formatter,
    )
    ice.add_argument("--room", help="room (1-100 of letters, digits, - and _)")
    ice.add_argument("--initiator-client", metavar="A", help="the client that starts the call")
    ice.add_argument("--receiver-client", metavar="B", help="the client that receives the call")
    ice.add_argument("--ttl", type=int, metavar="S", help="lifetime in seconds (API default 30)")
    where = ice.add_mutually_exclusive_group()
    where.add_argument("--fixed-region", metavar="X", help="only this region: fail otherwise")
    where.add_argument("--preferred-region", metavar="X", help="this region if available")
    ice.add_argument("--client-ip", metavar="IP", help="the end user's IP, for region choice")
    ice.add_argument(
        "--json",
        action="store_true",
        help="print the RTCConfiguration JSON (iceServers) plus expiresAt",
    )
    ice.set_defaults(command=_ice)

    regions = commands.add_parser(
        "regions",
        parents=[network],
        help="list the TURN regions and their state",
        description=f"List the TURN regions. The token comes from {TOKEN_ENV}.",
        epilog=EXIT_STATUS,
        formatter_class=formatter,
    )
    regions.add_argument("--json", action="store_true", help="print a JSON list")
    regions.set_defaults(command=_regions)

    serve = commands.add_parser(
        "serve",
        help="run a local fake Turnix API until Ctrl-C / SIGTERM",
        description="Run a local fake Turnix API (turnix_async.testing.FakeTurnixServer)\n"
        "for development; it prints its base URL, its token and the two `export` lines\n"
        "that point `turnix` and AsyncTurnix at it. Stop it with Ctrl-C or SIGTERM.",
        epilog=EXIT_STATUS,
        formatter_class=formatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface (127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, metavar="P", help="port (0: a free one)")
    serve.add_argument("--token", metavar="T", help="the token to accept (default: generated)")
    serve.add_argument(
        "--turn-secret",
        metavar="SECRET",
        help="mint coturn REST-API credentials (coturn --static-auth-secret)",
    )
    serve.add_argument(
        "--turn-url",
        action="append",
        metavar="URL",
        help="a TURN URL to hand out, e.g. turn:127.0.0.1:3478?transport=udp (repeatable)",
    )
    serve.set_defaults(command=_serve)

    demo = commands.add_parser(
        "demo",
        help="offline demo: a local fake API queried through AsyncTurnix",
        description="Start a local fake Turnix API in this process, fetch ICE credentials\n"
        "and regions through AsyncTurnix as your code would, and print them.\n"
        "Needs no token and no network.",
        epilog=EXIT_STATUS,
        formatter_class=formatter,
    )
    demo.set_defaults(command=_demo)
    return parser


# -- commands ---------------------------------------------------------------------


async def _ice(args: argparse.Namespace) -> int:
    from ._models import IceCredentialsRequest

    try:
        request = IceCredentialsRequest(
            initiator_client=args.initiator_client,
            receiver_client=args.receiver_client,
            room=args.room,
            ttl=args.ttl,
            fixed_region=args.fixed_region,
            preferred_region=args.preferred_region,
            client_ip=args.client_ip,
        )
    except ValueError as exc:
        raise _Failure(EXIT_USAGE, f"error: {exc}") from None
    async with _client_from_env(args) as turnix:
        credentials = await _api(turnix.request_ice_credentials(request))
    if args.json:
        print(json.dumps(_credentials_json(credentials), indent=2))
    else:
        print(_credentials_text(credentials))
    return EXIT_OK


async def _regions(args: argparse.Namespace) -> int:
    import attrs

    async with _client_from_env(args) as turnix:
        regions = await _api(turnix.list_regions())
    if args.json:
        print(json.dumps([attrs.asdict(region) for region in regions], indent=2))
    else:
        print(_regions_text(regions))
    return EXIT_OK


async def _serve(args: argparse.Namespace) -> int:
    import logging

    from .testing import FakeTurnixServer

    access_log = logging.getLogger("turnix_async.testing.access")
    if not access_log.handlers:  # one request per line on stderr
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(handler)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False
    try:
        server = FakeTurnixServer(
            host=args.host,
            port=args.port,
            api_token=args.token,
            turn_secret=args.turn_secret,
            turn_urls=args.turn_url,
            access_log=access_log,
        )
    except ValueError as exc:
        raise _Failure(EXIT_USAGE, f"error: {exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows: Ctrl-C only
            loop.add_signal_handler(signum, stop.set)
    try:
        await server.start()
    except OSError as exc:
        raise _Failure(
            EXIT_NETWORK, f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from None
    try:
        print(f"Fake Turnix API listening on {server.base_url}")
        print(f"API token: {server.api_token}")
        print()
        print("Use it from another shell (this is a local fake, not the real API):")
        print(f"  export {BASE_URL_ENV}={server.base_url}")
        print(f"  export {TOKEN_ENV}={server.api_token}")
        print()
        print("Press Ctrl-C to stop.", flush=True)
        await stop.wait()
    finally:
        await server.close()
    print("stopped", file=sys.stderr)
    return EXIT_OK


async def _demo(args: argparse.Namespace) -> int:
    from ._client import AsyncTurnix
    from .testing import FakeTurnixServer

    async with FakeTurnixServer() as server:
        print(f"Started a local fake Turnix API at {server.base_url}")
        print("(in this process: no network and no token needed)")
        print()
        print("    async with AsyncTurnix(server.api_token, base_url=server.base_url) as turnix:")
        print('        creds = await turnix.get_ice_credentials(room="demo-room", ttl=120)')
        print("        regions = await turnix.list_regions()")
        print()
        async with AsyncTurnix(server.api_token, base_url=server.base_url) as turnix:
            credentials = await _api(turnix.get_ice_credentials(room="demo-room", ttl=120))
            regions = await _api(turnix.list_regions())
    print(_credentials_text(credentials))
    print()
    print("creds.to_rtc_configuration(), for `new RTCPeerConnection(config)`:")
    print(json.dumps(credentials.to_rtc_configuration(), indent=2))
    print()
    print(f"Regions ({len(regions)}):")
    print(_regions_text(regions))
    print()
    print(_REAL_API_HINT, end="")
    return EXIT_OK


# -- helpers ----------------------------------------------------------------------


def _client_from_env(args: argparse.Namespace) -> AsyncTurnix:
    """An `AsyncTurnix` from the environment; configuration problems exit 2."""
    from ._client import AsyncTurnix

    if not os.environ.get(TOKEN_ENV):
        raise _Failure(
            EXIT_USAGE,
            f"error: no API token: set {TOKEN_ENV}"
            " (or try `turnix demo`, or `turnix serve` for a local fake API)",
        )
    try:
        return AsyncTurnix(
            base_url=os.environ.get(BASE_URL_ENV) or None,
            timeout=args.timeout,
            max_retries=args.retries,
        )
    except ValueError as exc:  # messages never contain the token itself
        raise _Failure(EXIT_USAGE, f"error: {exc}") from None


async def _api(call: Coroutine[Any, Any, Any]) -> Any:
    """Await an SDK call; map its errors to a one-line `_Failure` with the exit code."""
    from ._errors import (
        AuthenticationError,
        PermissionDeniedError,
        TurnixAPIError,
        TurnixConnectionError,
        TurnixError,
        TurnixTimeoutError,
    )

    try:
        return await call
    except AuthenticationError as exc:
        raise _Failure(EXIT_AUTH, f"authentication failed: {exc} (check {TOKEN_ENV})") from None
    except PermissionDeniedError as exc:
        raise _Failure(
            EXIT_AUTH, f"permission denied: {exc} (the token lacks this permission)"
        ) from None
    except TurnixAPIError as exc:
        raise _Failure(EXIT_API, f"API error: {exc}") from None
    except TurnixTimeoutError as exc:
        raise _Failure(EXIT_NETWORK, f"timed out: {exc}") from None
    except TurnixConnectionError as exc:
        raise _Failure(EXIT_NETWORK, f"network error: {exc}") from None
    except TurnixError as exc:  # a malformed response
        raise _Failure(EXIT_API, f"API error: {exc}") from None


def _credentials_json(credentials: IceCredentials) -> IceCredentialsJSON:
    return credentials.to_json()


def _credentials_text(credentials: IceCredentials) -> str:
    rows: list[list[str]] = []
    for server in credentials.ice_servers:
        kind = server.urls[0].split(":", 1)[0].lower() if server.urls else "?"
        for index, url in enumerate(server.urls):
            first = index == 0
            rows.append(
                [
                    kind if first else "",
                    url,
                    (server.username or "") if first else "",
                    (server.credential or "") if first else "",
                ]
            )
    moment = credentials.expires_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    left = "expired" if credentials.is_expired else f"in {_duration(credentials.time_left)}"
    table = _table(["TYPE", "URL", "USERNAME", "CREDENTIAL"], rows)
    return f"{table}\nExpires {moment} ({left})"


def _regions_text(regions: list[Region]) -> str:
    rows = [
        [
            region.slug,
            region.city,
            region.nat2,
            "yes" if region.is_online else "no",
            "yes" if region.is_operational else "no",
        ]
        for region in regions
    ]
    return _table(["SLUG", "CITY", "COUNTRY", "ONLINE", "OPERATIONAL"], rows)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        for row in [headers, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def _duration(left: timedelta) -> str:
    """`timedelta` -> `"2 h 5 min"`, `"4 min 59 s"`, `"29 s"` (rounded down to seconds)."""
    seconds = int(left.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds} s"
    return f"{seconds} s"
