"""The transport seam against hostile servers: compression, malformed HTTP, secrets, TLS, redirects.

Each test here reproduces a defect an adversarial review found in 0.1.0.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import trustme
from aiohttp import web

from tests.loopback import ICE_BODY, TOKEN, ClientFactory, Hold, ScriptedServer, json_answer
from turnix_async import (
    AsyncTurnix,
    AuthenticationError,
    ClientClosedError,
    ResponseValidationError,
    ServerError,
    TurnixAPIError,
    TurnixConnectionError,
    TurnixError,
)

ICE = "/api/v1/credentials/ice"

# --- compressed bodies (defects 1 and 9) ----------------------------------------------


def compressed(payload: Any, status: int = 200) -> Callable[[web.Request], Awaitable[Any]]:
    """aiohttp.web's own compression: Content-Encoding gzip WITH a correct Content-Length."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.json_response(payload, status=status)
        response.enable_compression(web.ContentCoding.gzip)
        return response

    return handler


def raw_gzip(data: bytes, status: int = 200) -> Callable[[web.Request], Awaitable[Any]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=data,
            status=status,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )

    return handler


async def test_a_compressed_answer_with_content_length_is_read_whole(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, compressed(ICE_BODY))
    credentials = await make_client().get_ice_credentials()
    assert credentials.ice_servers[1].username == "user-1"


@pytest.mark.parametrize(
    ("status", "error", "requests"),
    [(401, AuthenticationError, 1), (503, ServerError, 3)],
)
async def test_a_compressed_error_keeps_its_status_and_message(
    status: int,
    error: type[TurnixError],
    requests: int,
    loopback: ScriptedServer,
    make_client: ClientFactory,
) -> None:
    loopback.script(ICE, compressed({"error": "compressed refusal"}, status))
    with pytest.raises(error, match="compressed refusal"):
        await make_client().get_ice_credentials()
    assert loopback.count(ICE) == requests


async def test_a_gzip_bomb_is_refused_by_its_decoded_size(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    bomb = gzip.compress(b" " * (64 * 1024 * 1024))  # 64 MiB of spaces in ~64 KiB
    loopback.script(ICE, raw_gzip(bomb))
    with pytest.raises(ResponseValidationError, match="byte limit"):
        await make_client(max_response_size=100_000).get_ice_credentials()
    assert loopback.count(ICE) == 1


@pytest.mark.parametrize(("status", "error"), [(401, AuthenticationError), (503, ServerError)])
async def test_an_undecodable_error_body_does_not_change_the_error(
    status: int, error: type[TurnixError], loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, raw_gzip(b"this is not gzip at all", status))
    with pytest.raises(error):
        await make_client(max_retries=0).get_ice_credentials()


async def test_deflate_is_decoded_too(loopback: ScriptedServer, make_client: ClientFactory) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=zlib.compress(json.dumps(ICE_BODY).encode()),
            headers={"Content-Encoding": "deflate", "Content-Type": "application/json"},
        )

    loopback.script(ICE, handler)
    assert len((await make_client().get_ice_credentials()).ice_servers) == 2


# --- malformed HTTP echoing the token (defect 4) -----------------------------------------


@pytest.fixture
async def raw_http() -> AsyncIterator[Callable[[Callable[[bytes], bytes]], Awaitable[str]]]:
    """A raw socket server: answers each request with `answer(request_bytes)` verbatim."""
    servers: list[asyncio.AbstractServer] = []

    async def start(answer: Callable[[bytes], bytes]) -> str:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            request = head + await reader.readexactly(length)
            writer.write(answer(request))
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/api/v1"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def _authorization(request: bytes) -> bytes:
    return next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"authorization:")
    )


MALFORMED: dict[str, Callable[[bytes], bytes]] = {
    "bad status line": lambda req: b"HTTP/1.1 " + _authorization(req) + b"\r\n\r\n",
    "header without a colon": lambda req: (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + _authorization(req) + b"\r\n\r\n{}"
    ),
    "bad chunk size": lambda req: (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _authorization(req) + b"\r\n"
    ),
    "token in the reason phrase of a 401": lambda req: (
        b"HTTP/1.1 401 " + _authorization(req) + b"\r\nContent-Length: 0\r\n\r\n"
    ),
}


@pytest.mark.parametrize("answer", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_answers_echoing_the_token_never_show_it(
    answer: Callable[[bytes], bytes],
    raw_http: Callable[[Callable[[bytes], bytes]], Awaitable[str]],
) -> None:
    base_url = await raw_http(answer)
    async with AsyncTurnix(TOKEN, base_url=base_url, max_retries=1, backoff_base=0) as client:
        with pytest.raises(TurnixError) as info:
            await client.get_ice_credentials()
    _assert_no_fragment(_everything_shown(info.value), TOKEN)


def _everything_shown(error: BaseException) -> str:
    """Every text a user or a log could see of an error, its chain included."""
    texts = []
    seen: BaseException | None = error
    while seen is not None:
        texts += [str(seen), repr(seen), *map(str, vars(seen).values())]
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return "\n".join(texts)


def _assert_no_fragment(text: str, secret: str, size: int = 8) -> None:
    for start in range(len(secret) - size + 1):
        assert secret[start : start + size] not in text, f"fragment {start} of the secret shown"


# --- token fragments and escaped forms in error bodies (defect 5) ------------------------


def _escaped(secret: str, *, every: int) -> str:
    """The secret with every n-th character as a JSON \\uXXXX escape."""
    return "".join(f"\\u{ord(c):04x}" if i % every == 0 else c for i, c in enumerate(secret))


ECHOES = {
    "straddling the message cut": "x" * 290 + TOKEN,
    "straddling the body cut": "y" * 1990 + TOKEN,
    "every character escaped": _escaped(TOKEN, every=1),
    "some characters escaped": _escaped(TOKEN, every=3),
    "slash-escaped": TOKEN.replace("_", "\\/").replace("-", "\\u002d"),
    "a long fragment only": TOKEN[3:20],
    "as HTML character references": "".join(f"&#{ord(c)};" for c in TOKEN[:12])
    + "".join(f"&#x{ord(c):x};" for c in TOKEN[12:]),
}


@pytest.mark.parametrize("echo", ECHOES.values(), ids=ECHOES.keys())
async def test_an_echoed_token_is_scrubbed_in_every_form(
    echo: str, loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    body = '{"error": "' + echo + '", "detail": "' + echo + '"}'

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text=body, status=400, content_type="application/json")

    loopback.script(ICE, handler)
    with pytest.raises(TurnixAPIError) as info:
        await make_client().get_ice_credentials()
    error = info.value
    try:
        decoded = json.dumps(json.loads(error.body), ensure_ascii=False)
    except ValueError:  # cut to 2,000 characters: no longer JSON
        decoded = ""
    _assert_no_fragment(f"{error}\n{error.message}\n{error.body}\n{decoded}", TOKEN)


# --- proxy credentials (defect 6) ---------------------------------------------------------


async def test_a_proxy_password_never_appears_in_errors(loopback: ScriptedServer) -> None:
    proxy = ScriptedServer()  # answers the CONNECT for an https API with an error
    await proxy.start()
    password = "Pr0xy-Passw0rd-Secret"
    try:
        async with AsyncTurnix(
            TOKEN,
            base_url="https://api.turnix.invalid/api/v1",  # only the loopback proxy is contacted
            proxy=f"http://user:{password}@127.0.0.1:{proxy.port}",
            max_retries=0,
        ) as client:
            with pytest.raises(TurnixError) as info:
                await client.get_ice_credentials()
    finally:
        await proxy.close()
    _assert_no_fragment(_everything_shown(info.value), password)
    _assert_no_fragment(_everything_shown(info.value), TOKEN)


def test_a_token_holding_percent_escapes_is_scrubbed_as_written_and_as_read() -> None:
    from turnix_async._redact import Redactor

    token = "tnx_live_%41bc-Secret-0123456789"
    scrub = Redactor([token]).scrub
    for echo in (token, token.replace("%41", "A"), token.replace("%", "%25")):
        _assert_no_fragment(scrub(f"error: {echo} was refused"), token)


def test_basic_proxy_credentials_echoed_by_a_proxy_are_scrubbed() -> None:
    import base64

    proxy = "http://ops:Pr0xy-Passw0rd-Secret@127.0.0.1:3128"
    basic = base64.b64encode(b"ops:Pr0xy-Passw0rd-Secret").decode()
    from yarl import URL

    from turnix_async._config import proxy_secrets
    from turnix_async._redact import Redactor

    scrub = Redactor(proxy_secrets(URL(proxy))).scrub
    _assert_no_fragment(scrub(f"407: Proxy-Authorization: Basic {basic}"), basic)


# --- TLS contexts that do not verify (defect 7) --------------------------------------------


def _no_verification() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _no_hostname_check() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    return context


@pytest.mark.parametrize(
    "make_context",
    [lambda: ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), _no_verification, _no_hostname_check],
    ids=["bare SSLContext(PROTOCOL_TLS_CLIENT)", "CERT_NONE", "check_hostname=False"],
)
def test_a_context_that_does_not_verify_is_refused(
    make_context: Callable[[], ssl.SSLContext],
) -> None:
    context = make_context()
    if context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname:
        context.check_hostname = False  # PROTOCOL_TLS_CLIENT verifies: make it not
    with pytest.raises(ValueError, match="ssl must verify"):
        AsyncTurnix(TOKEN, ssl=context)


def test_a_legacy_server_side_context_is_refused() -> None:
    with pytest.raises(ValueError, match="ssl must verify"):
        AsyncTurnix(TOKEN, ssl=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))


# --- https -> http downgrade (defect 8) -------------------------------------------------------


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


async def test_a_redirect_from_https_to_http_is_refused_and_nothing_is_sent_in_cleartext(
    authority: trustme.CA, loopback: ScriptedServer
) -> None:
    loopback.script(ICE, json_answer())  # the cleartext server would answer "credentials"
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    tls = ScriptedServer()
    await tls.start(ssl_context=server_context)

    async def downgrade(request: web.Request) -> web.StreamResponse:
        raise web.HTTPTemporaryRedirect(f"{loopback.base_url}/credentials/ice")

    tls.script(ICE, downgrade)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    try:
        async with AsyncTurnix(
            TOKEN, base_url=tls.base_url, ssl=client_context, backoff_base=0
        ) as client:
            with pytest.raises(TurnixConnectionError, match="plain http"):
                await client.get_ice_credentials(room="secret-room", client_ip="203.0.113.5")
    finally:
        await tls.close()
    assert loopback.count(ICE) == 0
    assert tls.count(ICE) == 1  # refused, not retried


# --- bad transport arguments (defect 10) -------------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("proxy", 123),
        ("proxy", ["http://proxy:3128"]),
        ("proxy", "not a url"),
        ("proxy", "ftp://proxy:21"),
        ("trace_configs", "abc"),
        ("trace_configs", [object()]),
        ("ssl", True),
    ],
)
def test_bad_transport_arguments_fail_at_construction(argument: str, value: Any) -> None:
    with pytest.raises(ValueError, match=argument):
        AsyncTurnix(TOKEN, **{argument: value})


# --- close with more calls than connections (defect 3) ------------------------------------------


async def test_close_gives_every_waiting_caller_client_closed_error(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    held = Hold()
    loopback.script(ICE, held)
    client = make_client(max_connections=4, timeout=10)
    calls = [asyncio.create_task(client.get_ice_credentials()) for _ in range(12)]
    await held.arrived(4)
    await client.close()
    results = await asyncio.gather(*calls, return_exceptions=True)
    held.release()
    assert [type(result) for result in results] == [ClientClosedError] * 12


async def test_a_callers_own_cancellation_stays_a_cancellation_while_others_are_closed(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    held = Hold()
    loopback.script(ICE, held)
    client = make_client(max_connections=1, timeout=10)
    sent = asyncio.create_task(client.get_ice_credentials())
    waiting = asyncio.create_task(client.get_ice_credentials())
    await held.arrived(1)
    waiting.cancel()
    await client.close()
    held.release()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    with pytest.raises(ClientClosedError):
        await sent


# --- waiting for a connection is not part of the attempt timeout (overload: pool) ----------------


async def test_waiting_for_a_connection_is_not_counted_in_the_attempt_timeout(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.2)
        return web.json_response(ICE_BODY)

    loopback.script(ICE, slow)
    client = make_client(max_connections=2, timeout=0.5, max_retries=0)
    results = await asyncio.gather(*(client.get_ice_credentials() for _ in range(10)))
    assert len(results) == 10  # the last ones waited ~0.8 s for a connection, then took 0.2 s


async def test_running_out_of_queue_time_names_the_connections(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    held = Hold()
    loopback.script(ICE, held)
    client = make_client(max_connections=1, timeout=10, queue_timeout=0.05)
    first = asyncio.create_task(client.get_ice_credentials())
    await held.arrived(1)
    with pytest.raises(TurnixConnectionError, match=r"free connection.*max_connections=1"):
        await client.get_ice_credentials()
    held.release()
    await first


async def test_the_deadline_bounds_the_wait_for_a_connection(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    held = Hold()
    loopback.script(ICE, held)
    client = make_client(max_connections=1, timeout=10)
    first = asyncio.create_task(client.get_ice_credentials())
    await held.arrived(1)
    with pytest.raises(TurnixConnectionError, match="free connection"):
        await client.with_options(deadline=0.05).get_ice_credentials()
    held.release()
    await first


async def test_a_get_to_a_server_that_drops_connections_is_sent_max_retries_plus_one_times(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    from tests.loopback import reset

    loopback.script("/api/v1/regions", reset)
    with pytest.raises(TurnixConnectionError):
        await make_client(max_retries=2).list_regions()
    assert loopback.count("/api/v1/regions") == 3
