"""Where the token, the base URL and the log level come from, and how bad values are refused."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest

from turnix_async import AsyncTurnix, AuthenticationError
from turnix_async._config import resolve_base_url, resolve_token
from turnix_async._log import HANDLER_NAME
from turnix_async.testing import FakeTurnixServer

SECRET = "zq9XJw7KvB"  # the part of every bad token that must never be shown


def test_the_argument_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURNIX_API_TOKEN", "tnx_env")
    monkeypatch.setenv("TURNIX_BASE_URL", "https://env.example.test/v1/")
    assert (resolve_token(), resolve_token("tnx_arg")) == ("tnx_env", "tnx_arg")
    assert str(resolve_base_url()) == "https://env.example.test/v1"
    assert str(resolve_base_url("https://arg.example.test/v1")) == "https://arg.example.test/v1"
    monkeypatch.setenv("TURNIX_BASE_URL", "")  # empty counts as unset
    assert str(resolve_base_url()) == "https://turnix.io/api/v1"


def test_missing_token_names_the_environment_variable() -> None:
    with pytest.raises(ValueError, match="TURNIX_API_TOKEN"):
        resolve_token()


BAD_TOKENS = [
    f"Bearer {SECRET}",
    f"bearer\t{SECRET}",
    f"{SECRET[:5]} {SECRET[5:]}",
    f"{SECRET}\n",
    f"\n{SECRET}",
    f"{SECRET[:5]}\x00{SECRET[5:]}",
    f"{SECRET[:5]}é{SECRET[5:]}",
    f"{SECRET[:5]}\u200b{SECRET[5:]}",
]


@pytest.mark.parametrize(
    ("token", "via_env"),
    [(token, False) for token in BAD_TOKENS]
    + [(token, True) for token in BAD_TOKENS if "\x00" not in token],  # env cannot hold NUL
)
def test_a_bad_token_names_its_source_and_shows_no_fragment_of_it(
    monkeypatch: pytest.MonkeyPatch, token: str, via_env: bool
) -> None:
    if via_env:
        monkeypatch.setenv("TURNIX_API_TOKEN", token)
    with pytest.raises(ValueError) as info:
        resolve_token(None if via_env else token)
    message = str(info.value)
    assert ("TURNIX_API_TOKEN" if via_env else "api_token") in message
    fragments = {SECRET[i : i + 3] for i in range(len(SECRET) - 2)}
    assert not [part for part in fragments if part in message], message
    if token.lower().startswith("bearer"):
        assert "drop the `Bearer ` prefix" in message and "newline" not in message
    else:
        assert "Bearer" not in message


def test_a_bad_base_url_names_its_source_and_hides_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TURNIX_BASE_URL", "http://example.com/api/v1")
    with pytest.raises(ValueError, match="the TURNIX_BASE_URL environment variable must use https"):
        resolve_base_url()
    with pytest.raises(ValueError, match=r"^base_url must") as info:
        resolve_base_url(f"https://user:{SECRET}@tur nix.io/api/v1")
    assert SECRET not in str(info.value)


def test_plain_http_to_another_host_needs_insecure_http_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="turnix_async"):
        assert str(resolve_base_url("http://127.0.0.1:8080/v1")) == "http://127.0.0.1:8080/v1"
        assert caplog.records == []  # loopback: no warning
        for _ in range(2):  # a warning for each client that asks for it
            client = AsyncTurnix(SECRET, base_url="http://10.1.2.3/api/v1", insecure_http=True)
    assert client.base_url == "http://10.1.2.3/api/v1"
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]
    assert "10.1.2.3" in caplog.text and SECRET not in caplog.text
    with pytest.raises(ValueError, match="insecure_http"):
        AsyncTurnix(SECRET, base_url="http://10.1.2.3/api/v1")


# -- TURNIX_LOG ---------------------------------------------------------------------


def _sdk_logger_without_handlers(monkeypatch: pytest.MonkeyPatch) -> logging.Logger:
    """The `turnix_async` logger as in an app without logging; restored after the test.

    Called in the test body: pytest (9) adds its capture handlers to the loggers that
    do not propagate when the test starts.
    """
    logger = logging.getLogger("turnix_async")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "propagate", False)  # hides pytest's handlers on the root
    monkeypatch.setattr(logger, "level", logger.level)
    return logger


def test_an_invalid_turnix_log_is_a_value_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    sdk_logger = _sdk_logger_without_handlers(monkeypatch)
    monkeypatch.setenv("TURNIX_LOG", "verbose")
    with pytest.raises(ValueError, match="TURNIX_LOG"):
        AsyncTurnix(SECRET)
    assert sdk_logger.handlers == []


async def test_turnix_log_prints_records_on_stderr_once_and_never_the_token(
    monkeypatch: pytest.MonkeyPatch, turnix_server: FakeTurnixServer
) -> None:
    sdk_logger = _sdk_logger_without_handlers(monkeypatch)
    monkeypatch.setenv("TURNIX_LOG", "DEBUG")
    options: dict[str, Any] = {"base_url": turnix_server.base_url, "backoff_base": 0}
    AsyncTurnix(turnix_server.api_token, **options)
    assert sdk_logger.level == logging.DEBUG
    [handler] = sdk_logger.handlers
    assert handler.name == HANDLER_NAME
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    handler.setStream(stream)
    turnix_server.fail_next(status=503)
    async with AsyncTurnix(turnix_server.api_token, **options) as turnix:  # adds no handler
        await turnix.list_regions()
    turnix_server.add_token(SECRET)
    turnix_server.remove_token(SECRET)
    async with AsyncTurnix(SECRET, **options) as turnix:
        with pytest.raises(AuthenticationError):
            await turnix.list_regions()
    assert sdk_logger.handlers == [handler]
    assert "503" in stream.getvalue()  # the retry record
    assert turnix_server.api_token not in stream.getvalue()
    assert SECRET not in stream.getvalue()


def test_turnix_log_only_sets_the_level_when_the_app_has_handlers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logger = logging.getLogger("turnix_async")
    monkeypatch.setattr(logger, "level", logger.level)
    assert logging.getLogger().handlers  # pytest's, as an application's would be
    monkeypatch.setenv("TURNIX_LOG", "info")
    AsyncTurnix(SECRET)
    assert logger.level == logging.INFO
    assert [h for h in logger.handlers if h.name == HANDLER_NAME] == []
