"""MockTransport under a real AsyncTurnix: the client's loop over a function instead of sockets."""

from __future__ import annotations

import json

import pytest

from tests.loopback import ICE_BODY
from turnix_async import AsyncTurnix, ClientClosedError, ServerError, TurnixConnectionError
from turnix_async.testing import MockTransport, Reply, Request, instant_retries

JSON = {"Content-Type": "application/json"}


async def test_the_client_sends_through_the_transport_and_parses_its_replies() -> None:
    async def answer(request: Request) -> Reply:
        if request.method == "GET":
            return Reply(200, JSON, b"[]")
        return Reply(200, {**JSON, "X-Request-Id": "req_1"}, json.dumps(ICE_BODY).encode())

    mock = MockTransport(answer)
    async with AsyncTurnix("tok_test_0123456789", transport=mock) as turnix:
        assert await turnix.list_regions() == []
        credentials = await turnix.get_ice_credentials(room="r", client_ip="203.0.113.5")
    assert credentials.ice_servers[1].username == "user-1"
    sent = mock.requests[1]
    assert (sent.method, sent.url) == ("POST", "https://turnix.io/api/v1/credentials/ice")
    assert json.loads(sent.body or b"") == {"room": "r"}
    assert sent.headers["X-TURN-CLIENT-IP"] == "203.0.113.5"
    assert mock.closed


async def test_failures_from_the_handler_are_retried_like_network_failures() -> None:
    answers = iter([TurnixConnectionError("refused"), Reply(503), Reply(200, JSON, b"[]")])

    def flaky(request: Request) -> Reply:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    mock = MockTransport(flaky)
    with instant_retries():
        async with AsyncTurnix("tok_test_0123456789", transport=mock) as turnix:
            assert await turnix.list_regions() == []
    assert len(mock.requests) == 3


async def test_the_status_decides_the_error() -> None:
    mock = MockTransport(lambda request: Reply(500, JSON, b'{"error": "down"}'))
    async with AsyncTurnix("tok_test_0123456789", transport=mock, max_retries=0) as turnix:
        with pytest.raises(ServerError, match="down"):
            await turnix.list_regions()


async def test_a_handler_returning_no_reply_is_a_type_error() -> None:
    transport = MockTransport(lambda request: {"status": 200})  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="Reply"):
        await transport.send(Request("GET", "https://turnix.io/api/v1/regions"), timeout=1.0)


async def test_sends_after_close_raise_client_closed_error() -> None:
    transport = MockTransport(lambda request: Reply(200))
    await transport.close()
    with pytest.raises(ClientClosedError):
        await transport.send(Request("GET", "https://turnix.io/api/v1/regions"), timeout=1.0)
    assert transport.requests == []


def test_the_handler_must_be_callable() -> None:
    with pytest.raises(TypeError, match="handler"):
        MockTransport(Reply(200))  # type: ignore[arg-type]
