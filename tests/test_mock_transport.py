"""MockTransport: the Transport protocol answered by a function, requests recorded."""

from __future__ import annotations

import pytest

from turnix_async import ClientClosedError, TurnixConnectionError
from turnix_async._wire import Transport
from turnix_async.testing import MockTransport, Reply, Request

REGIONS = Request("GET", "https://turnix.io/api/v1/regions", headers={"Authorization": "Bearer t"})
ICE = Request("POST", "https://turnix.io/api/v1/credentials/ice", body=b'{"room":"r"}')


async def test_sync_and_async_handlers_answer_and_every_request_is_recorded() -> None:
    def by_path(request: Request) -> Reply:
        return Reply(200, body=b"[]") if request.method == "GET" else Reply(503)

    async def later(request: Request) -> Reply:
        return Reply(201, {"X-Request-Id": "req_1"})

    mock = MockTransport(by_path)
    transport: Transport = mock  # mypy checks that it implements the protocol
    assert (await transport.send(REGIONS, timeout=1.0, wait_limit=None)).body == b"[]"
    assert (await transport.send(ICE, timeout=1.0, wait_limit=None)).status == 503
    assert mock.requests == [REGIONS, ICE]
    reply = await MockTransport(later).send(ICE, timeout=1.0, wait_limit=0.5)
    assert (reply.status, reply.request_id) == (201, "req_1")


async def test_a_handler_raising_plays_a_network_failure_and_is_recorded() -> None:
    def refused(request: Request) -> Reply:
        raise TurnixConnectionError("connection refused")

    transport = MockTransport(refused)
    with pytest.raises(TurnixConnectionError, match="refused"):
        await transport.send(ICE, timeout=1.0, wait_limit=None)
    assert transport.requests == [ICE]


async def test_a_handler_returning_no_reply_is_a_type_error() -> None:
    transport = MockTransport(lambda request: {"status": 200})  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="Reply"):
        await transport.send(ICE, timeout=1.0, wait_limit=None)


async def test_sends_after_close_raise_client_closed_error() -> None:
    transport = MockTransport(lambda request: Reply(200))
    await transport.close()
    await transport.close()
    with pytest.raises(ClientClosedError):
        await transport.send(ICE, timeout=1.0, wait_limit=None)
    assert transport.requests == []


def test_the_handler_must_be_callable() -> None:
    with pytest.raises(TypeError, match="handler"):
        MockTransport(Reply(200))  # type: ignore[arg-type]
