"""Fourth review: the day's changes (c3d2fed^..7bc6dbf), one failing test per reproduced defect,
against loopback servers and MockTransport."""

from __future__ import annotations

import traceback

import pytest

from tests.loopback import TOKEN, status_line_echo_error
from turnix_async import TurnixConnectionError
from turnix_async.instrumentation import CallDetails
from turnix_async.testing import Reply


class Recorder:
    def __init__(self) -> None:
        self.calls: list[CallDetails] = []

    def on_call(self, details: CallDetails) -> None:
        self.calls.append(details)


def _no_fragment(text: str, secret: str, size: int = 8) -> bool:
    return not any(secret[i : i + size] in text for i in range(len(secret) - size + 1))


# --- 1. the token in aiohttp's doubly escaped echo of a bad status line -----------------

BOTH_QUOTES_TOKEN = "tnx_'ab\"cd'ef\"gh'ij\"kl'mn\"op"
BACKSLASH_TOKEN = "tnx_\\ab\\cd\\ef\\gh\\ij\\kl"


@pytest.mark.parametrize("token", [BOTH_QUOTES_TOKEN, BACKSLASH_TOKEN])
async def test_a_token_echoed_in_a_bad_status_line_is_scrubbed_when_doubly_escaped(
    token: str,
) -> None:
    """str(ClientResponseError) shows `message=%r`, and that message holds a bytes repr of
    the bad line: the token is escaped twice (`'` -> `\\\\\\'` once the outer repr quotes
    with `'`, `\\` -> `\\\\\\\\`). The redactor decodes one level only, so a stray backslash
    sits before every quote (or doubles every backslash) of the token, no run of 8 token
    characters is left, and the whole token is shown, legible, in the TurnixConnectionError
    (and in a deadline's "(last: ...)"). docs/errors.md: the token "never appears ... That
    holds for messages built from aiohttp's own errors too, such as a malformed status line
    that echoes the request's headers". Both tokens pass the SDK's token check."""

    error = await status_line_echo_error(token)
    assert isinstance(error, TurnixConnectionError), repr(error)
    # read as a person would: escapes dropped
    assert _no_fragment(str(error).replace("\\", ""), token.replace("\\", "")), str(error)


# --- 2. a Reply status no CallDetails accepts ------------------------------------------


@pytest.mark.parametrize("status", [1000, -1, 10**30])
def test_a_reply_refuses_an_impossible_status_where_it_is_made(status: int) -> None:
    """Reply's converter refused only non-ints, so `Reply(1000)` / `Reply(-1)` were made;
    with any hook installed the call then raised a bare ValueError from CallDetails'
    validator (0-999) instead of the TurnixAPIError it raises without hooks. The Reply
    refuses the status where it is made, in the test double's own code."""
    with pytest.raises(ValueError, match=r"Reply\.status must be an HTTP status"):
        Reply(status, {}, b"{}")


def test_a_reply_takes_any_integer_type_as_its_plain_number() -> None:
    class Code:  # e.g. numpy.int64: an integer by __index__, not an int subclass
        def __index__(self) -> int:
            return 503

    assert type(Reply(Code()).status) is int  # type: ignore[arg-type]
    assert Reply(Code()).status == 503  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Reply\.status must be an int"):
        Reply(True)


async def test_the_error_of_a_bad_status_line_carries_no_chain_on_any_python() -> None:
    """Python 3.10 gave it aiohttp's HttpProcessingError (the echoed token inside) as
    `__context__`: a logged traceback showed the token under "During handling of ..."."""

    error = await status_line_echo_error(TOKEN)
    assert isinstance(error, TurnixConnectionError), repr(error)
    assert error.__cause__ is None and error.__context__ is None
    assert TOKEN[4:12] not in "".join(traceback.format_exception(error))
