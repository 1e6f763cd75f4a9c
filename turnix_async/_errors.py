"""The exception tree: every failure of a call surfaces as one of these.

TurnixError
├── ClientClosedError            the client was closed (also a RuntimeError)
├── TurnixConnectionError        network failure after all retries (refused, reset, TLS, DNS)
│   └── TurnixTimeoutError       an attempt (or the whole call's deadline) timed out
├── ResponseValidationError      a 2xx body that is not JSON or not the documented shape
└── TurnixAPIError               non-2xx: .status, .message, .body, .request_id, .retry_after
    ├── BadRequestError          400
    ├── AuthenticationError      401  - never retried
    ├── PermissionDeniedError    403  - never retried
    ├── NotFoundError            404
    ├── RateLimitError           429  - .retry_after (seconds or None)
    └── ServerError              5xx
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from ._retry_after import RETRY_AFTER_STATUSES, parse_retry_after

if TYPE_CHECKING:
    from ._redact import Redactor
    from ._wire import Reply

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseValidationError",
    "ServerError",
    "TurnixAPIError",
    "TurnixConnectionError",
    "TurnixError",
    "TurnixTimeoutError",
]

_MESSAGE_LIMIT = 300
_WHITESPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_HTML_TAG = re.compile(r"<[^>]*>")


class TurnixError(Exception):
    """Base class of every error this SDK raises (bad arguments raise ValueError)."""


class ClientClosedError(TurnixError, RuntimeError):
    """A call was made on an `AsyncTurnix` that was already closed."""


class TurnixConnectionError(TurnixError):
    """The API could not be reached after all retries (refused, reset, TLS, DNS, proxy).

    `retryable` is False for failures another attempt cannot fix (a TLS
    certificate, a refused https -> http redirect, a connection wait that ran out).
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.args, self.__dict__))


class TurnixTimeoutError(TurnixConnectionError):
    """An attempt exceeded `timeout`, or the whole call exceeded its `deadline`."""


class ResponseValidationError(TurnixError):
    """A 2xx response whose body is not JSON of the documented shape (or is too large)."""


class TurnixAPIError(TurnixError):
    """The API answered with a non-2xx status (after retries, where they apply).

    Attributes: `status`, `message` (from the JSON `error`/`message`/`detail` field,
    else the trimmed body text), `body` (the body text, trimmed), `request_id` (from
    the `X-Request-Id` header, if any) and `retry_after` (seconds, from `Retry-After`).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body: str = "",
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body
        self.request_id = request_id
        self.retry_after = retry_after

    def __str__(self) -> str:
        text = f"HTTP {self.status}: {self.message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[TurnixError], args: tuple[object, ...], state: dict[str, object]) -> Any:
    """Unpickle an error with keyword-only attributes (e.g. across process pools)."""
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class BadRequestError(TurnixAPIError):
    """400: the API rejected a value (the message names it)."""


class AuthenticationError(TurnixAPIError):
    """401: the token is missing, malformed or unknown. Never retried."""


class PermissionDeniedError(TurnixAPIError):
    """403: the token is valid but lacks the permission. Never retried."""


class NotFoundError(TurnixAPIError):
    """404: the endpoint or resource does not exist (check `base_url`)."""


class RateLimitError(TurnixAPIError):
    """429: too many requests; `retry_after` says how long the API asked to wait."""


class ServerError(TurnixAPIError):
    """5xx: the API failed on its side (after retries for 500/502/503/504)."""


def sdk_class_name(error: TurnixError) -> str:
    """The error's class name, or for an app's own subclass the SDK class it extends.

    Hooks and metric labels take only the SDK's names: a bounded, known set.
    """
    for cls in type(error).__mro__:
        if cls.__module__.partition(".")[0] == "turnix_async":
            return cls.__name__
    return TurnixError.__name__  # pragma: no cover - every TurnixError has one


def closed_during_call() -> ClientClosedError:
    """What every call still running gets when its client closes."""
    return ClientClosedError("the AsyncTurnix client was closed during the call")


_BY_STATUS: dict[int, type[TurnixAPIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


_JSON_TYPES = frozenset({"application/json", "application/json; charset=utf-8"})


def checked_body(reply: Reply, redactor: Redactor, *, hint: str = "") -> bytes:
    """The body of a 2xx JSON reply; any other reply raises its `TurnixError`.

    The status alone decides the error class; the body only feeds its message.
    `hint` is appended to a 404's message (e.g. a base URL missing its path).
    """
    status = reply.status
    if not 200 <= status < 300:
        raise api_error(reply, redactor, hint=hint if status == 404 else "")
    content_type = reply.headers.get("Content-Type")
    if content_type is not None and content_type not in _JSON_TYPES:
        media_type = content_type.partition(";")[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            shown = redactor.scrub(_trim(content_type, 80))
            raise ResponseValidationError(f"expected a JSON response, got Content-Type {shown!r}")
    return reply.body


def api_error(reply: Reply, redactor: Redactor, *, hint: str = "") -> TurnixAPIError:
    """The exception for a non-2xx reply, every secret scrubbed from what it shows.

    Only the shown parts (message, at most 300 characters, and body, 2,000) are
    scrubbed: any run of 8+ secret characters left in a cut text is still masked,
    and a 1 MB error page then costs no more than a short one.
    """
    status = reply.status
    text = reply.body.decode("utf-8", errors="replace")
    cls = _BY_STATUS.get(status) or (ServerError if 500 <= status < 600 else TurnixAPIError)
    message = redactor.scrub(_message_of(text)) or _reason(status)
    return cls(
        message + hint,
        status=status,
        body=redactor.scrub(_trim(text, 2000)),
        request_id=shown_request_id(reply, redactor),
        retry_after=parse_retry_after(reply.headers) if status in RETRY_AFTER_STATUSES else None,
    )


def shown_request_id(reply: Reply, redactor: Redactor) -> str | None:
    """The reply's `X-Request-Id` as errors, logs and hooks show it: scrubbed and cut.

    It is the server's text: it may echo the token.
    """
    request_id = reply.request_id
    return None if request_id is None else redactor.scrub(_trim(request_id, 200))


def _message_of(text: str) -> str:
    """The human part of an error body: a JSON error field, else the text without markup."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        data = None
    if isinstance(data, dict):
        for key in ("error", "message", "detail"):
            value = data.get(key)
            if isinstance(value, dict):  # {"error": {"message": "..."}}
                value = value.get("message") or value.get("detail")
            if isinstance(value, str) and value.strip():
                return _trim(value, _MESSAGE_LIMIT)
            if value:
                return _trim(json.dumps(value), _MESSAGE_LIMIT)
    return _trim(_HTML_TAG.sub(" ", text), _MESSAGE_LIMIT)


def printable(text: str) -> str:
    """The server's text with its control characters (C0, DEL, C1, bidi) shown as U+FFFD.

    Printed to a terminal or a log, ESC and BEL sequences would drive the reader's
    terminal, and a newline would forge a line.
    """
    return _CONTROL.sub("\N{REPLACEMENT CHARACTER}", text)


def _trim(text: str, limit: int) -> str:
    """The server's text made safe to show: one line, no terminal controls, cut to `limit`."""
    text = printable(_WHITESPACE.sub(" ", text).strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "unexpected status"
