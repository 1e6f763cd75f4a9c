"""The `turnix` command line: ICE credentials and regions from the API, a local server, a demo.

Heavy modules (the SDK client, the local server) are imported inside the commands,
so `turnix --help` stays quick. Every failure ends as one line on stderr and an
exit code (see `EXIT_STATUS`); tracebacks are never shown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from ._config import BASE_URL_ENV, DEFAULT_BASE_URL, TOKEN_ENV
from ._log import LOG_ENV
from ._tables import credentials_table, regions_table
from ._validate import check_int, check_seconds

if TYPE_CHECKING:
    from ._client import AsyncTurnix
    from ._models import IceCredentials, Region
    from .testing import FakeTurnixServer

__all__ = ["main"]

PROG = "turnix"

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_API = 4
EXIT_NETWORK = 5
EXIT_INTERRUPTED = 130

EXIT_STATUS = f"""\
environment:
  {TOKEN_ENV}   the API token for `ice` and `regions` (never printed)
  {BASE_URL_ENV}    the API root (default {DEFAULT_BASE_URL})
  {LOG_ENV}         debug or info: log the SDK's records on stderr

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

In Python, the same code with AsyncTurnix() and no arguments: it reads {TOKEN_ENV}
(and {BASE_URL_ENV}, if set).
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


def _checked(convert: Callable[[str], object]) -> Callable[[str], object]:
    """An argparse type from the client's own check: the message comes under the flag's name."""

    def checked(text: str) -> object:
        try:
            return convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return checked


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
        "--timeout",
        type=_checked(lambda text: check_seconds("timeout", float(text))),
        default=10.0,
        metavar="S",
        help="seconds per attempt (10)",
    )
    network.add_argument(
        "--retries",
        type=_checked(lambda text: check_int("max_retries", int(text), minimum=0)),
        default=2,
        metavar="N",
        help="retries after a failure (2)",
    )
    network.add_argument(
        "--insecure-http",
        action="store_true",
        help=f"allow a plain-http {BASE_URL_ENV} to a non-loopback host (warns)",
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
    ice.add_argument("--fixed-region", metavar="X", help="only this region: fail otherwise")
    ice.add_argument("--preferred-region", metavar="X", help="this region if available")
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

    try:  # the struct validates every field (and their combinations)
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
    print(_credentials_json(credentials) if args.json else credentials_table(credentials))
    return EXIT_OK


async def _regions(args: argparse.Namespace) -> int:
    async with _client_from_env(args) as turnix:
        regions = await _api(turnix.list_regions())
    print(_regions_json(regions) if args.json else regions_table(regions))
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
    _stop_on_signals(stop)
    try:
        await server.start()
    except OSError as exc:
        raise _Failure(
            EXIT_NETWORK, f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from None
    try:
        print(_serve_banner(server), flush=True)
        await stop.wait()
    finally:
        await server.close()
    print("stopped", file=sys.stderr)
    return EXIT_OK


_DEMO_REQUEST: dict[str, Any] = {"room": "demo-room", "ttl": 120}  # printed as it is run


async def _demo(args: argparse.Namespace) -> int:
    from ._client import AsyncTurnix
    from .testing import FakeTurnixServer

    call = ", ".join(f"{name}={json.dumps(value)}" for name, value in _DEMO_REQUEST.items())
    async with FakeTurnixServer() as server:
        try:
            turnix = AsyncTurnix(server.api_token, base_url=server.base_url)
        except ValueError as exc:  # e.g. a bad TURNIX_LOG
            raise _Failure(EXIT_USAGE, f"error: {exc}") from None
        print(f"Started a local fake Turnix API at {server.base_url}")
        print("(in this process: no network and no token needed)")
        print()
        print("    async with AsyncTurnix(server.api_token, base_url=server.base_url) as turnix:")
        print(f"        creds = await turnix.get_ice_credentials({call})")
        print("        regions = await turnix.list_regions()")
        print()
        async with turnix:
            credentials = await _api(turnix.get_ice_credentials(**_DEMO_REQUEST))
            regions = await _api(turnix.list_regions())
    print(credentials_table(credentials))
    print()
    print("creds.to_rtc_configuration(), for `new RTCPeerConnection(config)`:")
    print(json.dumps(credentials.to_rtc_configuration(), indent=2))
    print()
    print(f"Regions ({len(regions)}):")
    print(regions_table(regions))
    print()
    print(_REAL_API_HINT, end="")
    return EXIT_OK


# -- helpers ----------------------------------------------------------------------


def _client_from_env(args: argparse.Namespace) -> AsyncTurnix:
    """An `AsyncTurnix` configured from the environment; configuration problems exit 2.

    The client resolves and checks TURNIX_API_TOKEN and TURNIX_BASE_URL itself
    (`_config`), exactly as for an application; only a missing token gets a hint here.
    """
    from ._client import AsyncTurnix

    if not os.environ.get(TOKEN_ENV):
        raise _Failure(
            EXIT_USAGE,
            f"error: no API token: set {TOKEN_ENV}"
            " (or try `turnix demo`, or `turnix serve` for a local fake API)",
        )
    try:
        return AsyncTurnix(
            timeout=args.timeout, max_retries=args.retries, insecure_http=args.insecure_http
        )
    except ValueError as exc:  # messages never contain the token itself
        raise _Failure(EXIT_USAGE, f"error: {exc}") from None


def _stop_on_signals(stop: asyncio.Event) -> None:
    """Set `stop` on SIGINT / SIGTERM where the loop can handle signals.

    Only the main thread can (off it, asyncio raises RuntimeError, uvloop ValueError);
    Windows cannot at all (NotImplementedError): there Ctrl-C still interrupts.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)


def _serve_banner(server: FakeTurnixServer) -> str:
    """What `serve` listens on (all interfaces said as such), its token, the exports."""
    if _is_wildcard(server.host):
        where = f"all interfaces ({server.host or '0.0.0.0'}), port {server.port}"
        remote = (
            f"\nFrom another machine: this machine's address in {BASE_URL_ENV}, and (plain http)"
            "\n  `turnix ... --insecure-http` or `AsyncTurnix(insecure_http=True)`."
        )
    else:
        where, remote = server.base_url, ""
    return f"""\
Fake Turnix API listening on {where}
API token: {server.api_token}

Use it from another shell (this is a local fake, not the real API):
  export {BASE_URL_ENV}={server.base_url}
  export {TOKEN_ENV}={server.api_token}{remote}

Press Ctrl-C to stop."""


def _is_wildcard(host: str) -> bool:
    try:
        return not host or ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


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


def _credentials_json(credentials: IceCredentials) -> str:
    """What a web endpoint returns: the RTCConfiguration plus `expiresAt` (UTC, with Z)."""
    return json.dumps(credentials.to_json(), indent=2)


def _regions_json(regions: list[Region]) -> str:
    """The regions with the API's field names, as the converter writes them."""
    from ._convert import converter

    return json.dumps(converter.unstructure(regions), indent=2)
