"""Third adversarial review: one test per defect, against loopback servers."""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
import time
from http import HTTPStatus

import pytest
from aiohttp import web

from tests.loopback import (
    ClientFactory,
    ScriptedServer,
    json_answer,
    raw_answer,
    status_line_echo_error,
)
from tests.test_adversarial import RawServer, Recorder, _chain
from turnix_async import AsyncTurnix, RateLimitError, ServerError, TurnixError
from turnix_async.instrumentation import CallDetails
from turnix_async.testing import MockTransport, Reply, Request

ICE = "/api/v1/credentials/ice"
REGIONS = "/api/v1/regions"
TOKEN = "tnx_test_Secret-Token-0123456789"


def _shown(error: BaseException) -> str:
    """Everything an error shows: str, repr and .body of it and of its whole chain."""
    return " ".join(f"{e} {e!r} {getattr(e, 'body', '')}" for e in _chain(error))


# --- 1. an HTML page echoing the token with named character references ------------------

# printable ASCII without whitespace: the SDK accepts it as a token
QUOTED_TOKEN = 'tnx_"abc"def"ghi"jkl"mno<pqr>stu'


async def test_a_token_echoed_html_escaped_in_an_error_page_is_scrubbed(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    """A proxy's HTML error page echoes the token through html.escape(): `"` -> `&quot;`,
    `<` -> `&lt;`. The redactor decodes only numeric references and `&amp;`, so every run
    between two named references is under 8 characters and the whole token shows up,
    HTML-escaped, in .message, .body, str() and repr() (docs/errors.md: "HTML character
    references ... never appears")."""

    async def echo(request: web.Request) -> web.StreamResponse:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        page = f"<html><body><p>invalid token {html.escape(token)}</p></body></html>"
        return web.Response(text=page, status=500, content_type="text/html")

    loopback.script(REGIONS, echo)
    client = make_client(api_token=QUOTED_TOKEN, max_retries=0)
    with pytest.raises(ServerError) as info:
        await client.list_regions()
    assert html.escape(QUOTED_TOKEN) not in _shown(info.value)


# --- 2. aiohttp's repr-escaped echo of the token in a malformed status line -------------

APOSTROPHE_TOKEN = "tnx_'abcdef'ghijkl'mnopqr'stuvwx"


async def test_a_token_echoed_in_a_bad_status_line_is_scrubbed_whatever_its_quotes() -> None:
    """docs/errors.md promises the scrubbing "holds for messages built from aiohttp's own
    errors too, such as a malformed status line that echoes the request's headers". aiohttp
    shows the line as a bytes repr inside a str repr, so each `'` of the token becomes
    `\\'`, which the redactor does not read as an escape: no 8-character run is left and the
    whole token is shown in the TurnixConnectionError."""

    error = await status_line_echo_error(APOSTROPHE_TOKEN)
    assert isinstance(error, TurnixError), repr(error)
    # the token's letters, whatever escaping sits between its pieces
    assert not re.search(r"abcdef\W{1,8}ghijkl\W{1,8}mnopqr", _shown(error))


# --- 3. hooks break a successful call whose Reply status is an IntEnum ------------------


async def test_a_reply_with_an_http_status_enum_still_succeeds_with_hooks() -> None:
    """`Reply.status` is annotated `int`, and `HTTPStatus.OK` is one: without hooks the
    call succeeds, with any hook installed it fails with a bare ValueError ("status must be
    an HTTP status (an int) or None") raised by CallDetails' validator outside the hook
    runner's protection (_client.py:_fetch -> CallRecord.details; _hooks.py:_check_status
    uses `type(value) is not int`). Hooks must never break a call."""

    def handler(request: Request) -> Reply:
        return Reply(HTTPStatus.OK, {"Content-Type": "application/json"}, b"[]")

    base_url = "http://127.0.0.1:9/api/v1"
    async with AsyncTurnix(TOKEN, base_url=base_url, transport=MockTransport(handler)) as plain:
        assert await plain.list_regions() == []  # no hooks: fine
    recorder = Recorder()
    transport = MockTransport(handler)
    async with AsyncTurnix(
        TOKEN, base_url=base_url, transport=transport, hooks=[recorder]
    ) as client:
        assert await client.list_regions() == []
    assert [details.status for details in recorder.calls] == [200]


# --- 4. a hook raising CancelledError cancels nothing, yet the call ends with it --------


async def test_a_hook_that_raises_cancelled_error_does_not_end_the_call_with_it(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    """HookRunner._run catches `Exception` only; CancelledError is a BaseException, so a
    hook that reads a cancelled future's result turns a successful call into a bare
    CancelledError although nobody cancelled the caller's task (contract: never a bare
    CancelledError; docs/monitoring.md: a hook that raises is logged and ignored)."""

    class ReadsACancelledFuture:
        def on_call(self, details: CallDetails) -> None:
            future = asyncio.get_running_loop().create_future()
            future.cancel()
            future.result()  # raises CancelledError

    loopback.script(REGIONS, json_answer([]))
    client = make_client(hooks=[ReadsACancelledFuture()])
    assert await client.list_regions() == []
    current = asyncio.current_task()
    assert current is not None and not current.cancelling()


# --- 5. control characters of X-Request-Id reach log lines and error texts --------------


async def test_control_characters_of_a_request_id_never_reach_a_log_line_or_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """shown_request_id() collapses whitespace (so no forged log lines) but keeps other C0
    controls: an ESC/BEL sequence from the server (or a proxy) lands verbatim in the INFO
    retry record, the DEBUG summary and str(ServerError) - terminal/log injection
    (_errors.py:shown_request_id / _trim)."""
    answer = (
        b"HTTP/1.1 503 Unavailable\r\nX-Request-Id: req_1\x1b[2J\x1b]0;owned\x07\r\n"
        b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"
    )
    caplog.set_level(logging.DEBUG, "turnix_async")
    async with RawServer(answer) as server:
        client = AsyncTurnix(TOKEN, base_url=server.base_url, max_retries=1, backoff_base=0)
        async with client:
            with pytest.raises(ServerError) as info:
                await client.list_regions()
    shown = [str(info.value), *(record.getMessage() for record in caplog.records)]
    assert not any(re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text) for text in shown), shown


# --- 6. a client with its own transport run in a second event loop ----------------------


def test_a_client_reused_in_a_second_event_loop_does_not_silently_skip_its_backoff() -> None:
    """The client's `_closing` asyncio.Event binds to the first loop that waits on it. In a
    second loop (a client made at import time, function-scoped pytest loops, two
    asyncio.run()s) _wait() runs `_closing.wait()` in a task that fails at once with
    "bound to a different event loop": asyncio.wait returns immediately, the backoff is
    skipped without a word (retries hammer the API) and "Task exception was never
    retrieved" is logged later. Expected: the backoff is waited, or a clear TurnixError.
    (The aiohttp transport refuses a second loop itself; a custom transport does not.)"""
    answers = iter([Reply(503), Reply(200, {"Content-Type": "application/json"}, b"[]")] * 2)
    client = AsyncTurnix(
        TOKEN,
        base_url="http://127.0.0.1:9/api/v1",
        transport=MockTransport(lambda request: next(answers)),
        backoff_base=0.2,
        backoff_max=0.2,  # jittered: 0.1-0.2 s
    )
    for loop_number in (1, 2):
        started = time.monotonic()
        try:
            asyncio.run(client.list_regions())
        except TurnixError:
            continue  # a clear, typed refusal of the second loop is fine too
        assert time.monotonic() - started >= 0.1, f"loop {loop_number}: backoff skipped"
    asyncio.run(client.close())


# --- 7. the throttle waits out a Retry-After above retry_after_cap ----------------------


async def test_the_throttle_never_waits_a_retry_after_above_the_cap(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    """retry_after_cap is "the longest Retry-After the client will wait" and "a Retry-After
    longer than retry_after_cap ... is not waited: the call fails at once". The call that
    got the 429 does fail at once, but the throttle takes the pause (capped only by its own
    fixed max_pause of 60 s, _throttle.py:on_throttled) and holds the NEXT call for it -
    here 1.0 s (the 0.5 s pause plus a token at the slow-start rate) with a cap of 0.1 s."""
    slow_down = json_answer({"error": "slow down"}, 429, {"Retry-After": "0.5"})
    loopback.script(ICE, slow_down, json_answer())
    client = make_client(retry_after_cap=0.1, max_retries=0)
    with pytest.raises(RateLimitError) as first:
        await client.get_ice_credentials()
    assert first.value.retry_after == 0.5  # above the cap: not waited
    loop = asyncio.get_running_loop()
    started = loop.time()
    with contextlib.suppress(RateLimitError):  # failing at once is what the docs describe
        await client.get_ice_credentials()
    assert loop.time() - started < 0.3, "the next call waited a Retry-After above the cap"


async def test_control_characters_of_an_error_body_never_reach_its_message(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    """The same injection through the body: a JSON `error` of `\\u001b[2J` decodes to ESC."""
    loopback.script(REGIONS, raw_answer(b'{"error": "bad\\u001b[2J\\u009b\\u0007 thing"}', 400))
    with pytest.raises(TurnixError) as info:
        await make_client().list_regions()
    shown = [str(info.value), getattr(info.value, "body", "")]
    assert not any(re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text) for text in shown), shown
    assert "bad" in str(info.value) and "thing" in str(info.value)


async def test_a_call_the_api_pause_would_hold_past_its_cap_fails_at_once_unsent(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    slow_down = json_answer({"error": "slow down"}, 429, {"Retry-After": "5"})
    loopback.script(ICE, slow_down, json_answer())
    patient = make_client(max_retries=0)
    with pytest.raises(RateLimitError):
        await patient.get_ice_credentials()  # 5 s is within its cap: the client pauses
    hasty = patient.with_options(retry_after_cap=1)
    with pytest.raises(RateLimitError, match="retry_after_cap") as info:
        await hasty.get_ice_credentials()
    assert info.value.retry_after is not None and 4 < info.value.retry_after <= 5
    assert loopback.count(ICE) == 1  # it was not sent into the pause


def test_bidi_and_line_separator_controls_are_not_printed_either() -> None:
    from turnix_async._tables import table

    shown = table(["A"], [["user\u202egnp.exe\u2028forged\u2066x\u2069"]])
    assert not re.search("[\u202a-\u202e\u2066-\u2069\u2028\u2029]", shown), shown
    assert "user" in shown and "forged" in shown
