"""What hooks receive and how they are called: frozen details, the hook protocols, HookRunner.

The details carry only bounded, non-secret facts about a call: the endpoint, an
outcome that is "ok", "cancelled" or the name of a `TurnixError` class, statuses, counts, times
and the server's request id. No field can hold the API token, a request argument,
a response body or the credentials themselves, so no hook can leak them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from collections.abc import Sequence
from typing import Any, Protocol

import attrs

from .._errors import TurnixError, shown_request_id
from .._redact import Redactor
from .._wire import Reply

__all__ = [
    "CallDetails",
    "CallHook",
    "CallRecord",
    "Hook",
    "HookRunner",
    "RetryDetails",
    "RetryHook",
    "ThrottleDetails",
    "ThrottleHook",
]

logger = logging.getLogger("turnix_async")

ENDPOINTS = frozenset({"ice_credentials", "regions"})
THROTTLE_EVENTS = frozenset({"engaged", "released"})
CANCELLED = "cancelled"  # the outcome of a call whose caller's task was cancelled
_HTTP_REASON = re.compile(r"HTTP [1-5][0-9][0-9]")
_error_names: frozenset[str] = frozenset()


def error_names() -> frozenset[str]:
    """The class names of turnix_async's `TurnixError` tree (the outcomes besides "ok")."""
    return _error_names or _refresh_error_names()


def _refresh_error_names() -> frozenset[str]:
    global _error_names
    names, pending = set(), [TurnixError]
    while pending:
        cls = pending.pop()
        if cls.__module__.partition(".")[0] == "turnix_async":  # not an app's subclasses
            names.add(cls.__name__)
        pending.extend(cls.__subclasses__())
    _error_names = frozenset(names)
    return _error_names


def _is_error_name(name: str) -> bool:
    # an error class defined after the first look-up is found by one more walk
    return name in error_names() or name in _refresh_error_names()


def _check_endpoint(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in ENDPOINTS:
        raise ValueError(f"{attribute.name} must be one of {sorted(ENDPOINTS)}")


def _check_outcome(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in ("ok", CANCELLED) and not (isinstance(value, str) and _is_error_name(value)):
        raise ValueError(f"{attribute.name} must be 'ok', 'cancelled' or a TurnixError class name")


def _check_reason(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not (_HTTP_REASON.fullmatch(value) or _is_error_name(value)):
        raise ValueError(f"{attribute.name} must be 'HTTP <status>' or a TurnixError class name")


def _check_status(_: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    # any three digits: aiohttp accepts a 099 or a 999 from a server, and the call reports it
    if value is not None and (type(value) is not int or not 0 <= value <= 999):
        raise ValueError(f"{attribute.name} must be an HTTP status (an int) or None")


_optional_str = attrs.validators.optional(attrs.validators.instance_of(str))


@attrs.frozen
class RetryDetails:
    """One failed attempt that will be retried.

    Attributes:
        endpoint: "ice_credentials" or "regions".
        attempt: the attempt that failed, 1-based.
        wait: seconds the client waits before the next attempt.
        reason: "HTTP <status>" or the `TurnixError` class name of the failure.
        at: `time.time()` when the attempt failed.
    """

    endpoint: str = attrs.field(validator=_check_endpoint)
    attempt: int
    wait: float
    reason: str = attrs.field(validator=_check_reason)
    at: float


@attrs.frozen
class CallDetails:
    """One finished call, successful or not, retries included.

    Attributes:
        endpoint: "ice_credentials" or "regions".
        outcome: "ok"; the class name of the `TurnixError` the call raised; or
            "cancelled" when the caller's task was cancelled during the call.
        status: the last HTTP status, None when no response arrived.
        attempts: how many requests were sent.
        duration: seconds from the start of the call to its end, waits included.
        request_id: the server's `X-Request-Id` of the last response, if any.
        waited: seconds spent waiting in the client's throttle or connection pool.
        started_at: `time.time()` at the start of the call.
        retries: the retried attempts, in order.
    """

    endpoint: str = attrs.field(validator=_check_endpoint)
    outcome: str = attrs.field(validator=_check_outcome)
    status: int | None = attrs.field(validator=_check_status)
    attempts: int
    duration: float
    request_id: str | None = attrs.field(validator=_optional_str)
    waited: float
    started_at: float
    retries: tuple[RetryDetails, ...] = attrs.field(
        default=(),
        validator=attrs.validators.deep_iterable(
            attrs.validators.instance_of(RetryDetails), attrs.validators.instance_of(tuple)
        ),
    )

    @property
    def ok(self) -> bool:
        """True when the call returned a result."""
        return self.outcome == "ok"


@attrs.frozen
class ThrottleDetails:
    """The client-wide rate limiter changed the rate it allows.

    Attributes:
        event: "engaged" (the client slows down) or "released" (back to unlimited).
        rate: the requests per second the client now allows; None means unlimited.
        reason: a short fixed text such as "HTTP 429" (never a server message).
    """

    event: str = attrs.field(validator=attrs.validators.in_(THROTTLE_EVENTS))
    rate: float | None
    reason: str = attrs.field(validator=attrs.validators.instance_of(str))


class CallHook(Protocol):
    """A hook that sees every finished call."""

    def on_call(self, details: CallDetails, /) -> None: ...


class RetryHook(Protocol):
    """A hook that sees every retried attempt, as it is scheduled."""

    def on_retry(self, details: RetryDetails, /) -> None: ...


class ThrottleHook(Protocol):
    """A hook that sees the client's rate limiter engage and release."""

    def on_throttle(self, details: ThrottleDetails, /) -> None: ...


Hook = CallHook | RetryHook | ThrottleHook
"""Any object with one or more of `on_call`, `on_retry`, `on_throttle`.

A union of one protocol per method, so that a class defining any subset type-checks
(a single Protocol would demand all three). Hooks need not inherit from anything.
"""

_METHODS = ("on_call", "on_retry", "on_throttle")


class HookRunner:
    """Calls the hooks of one client; a hook that raises never affects the call.

    Hooks are called synchronously, in the task that made the call, in the order
    given; they must return quickly and never block (hand slow work to a queue).
    An exception from a hook is logged once per hook and method at WARNING on the
    "turnix_async" logger, then ignored.

    `hooks` None (or empty) means no hooks: the runner is then false, so the client
    can skip building details altogether.

    Raises:
        ValueError: `hooks` is not a list or tuple of hooks, or one of them has none
            of the hook methods.
        TypeError: a hook method is not callable, or is `async def`: the call does not
            wait for hooks, so a coroutine would never run.
    """

    __slots__ = ("_failed", "_hooks", "_on_call", "_on_retry", "_on_throttle")

    def __init__(self, hooks: Sequence[object] | None = ()) -> None:
        if hooks is None:
            hooks = ()
        if isinstance(hooks, (str, bytes)) or not isinstance(hooks, Sequence):
            raise ValueError(
                f"hooks must be a list or tuple of hook objects (got {type(hooks).__name__})"
            )
        self._hooks = tuple(hooks)
        methods: dict[str, list[tuple[int, Any]]] = {name: [] for name in _METHODS}
        for index, hook in enumerate(self._hooks):
            for name, method in _hook_methods(index, hook):
                methods[name].append((index, method))
        self._on_call = tuple(methods["on_call"])
        self._on_retry = tuple(methods["on_retry"])
        self._on_throttle = tuple(methods["on_throttle"])
        self._failed: set[tuple[int, str]] = set()

    def __bool__(self) -> bool:
        return bool(self._hooks)

    def __repr__(self) -> str:
        return f"HookRunner({list(self._hooks)!r})"

    def call(self, details: CallDetails) -> None:
        """Tell every `on_call` hook about a finished call."""
        self._run(self._on_call, "on_call", details)

    def retry(self, details: RetryDetails) -> None:
        """Tell every `on_retry` hook about a retry about to be waited for."""
        self._run(self._on_retry, "on_retry", details)

    def throttle(self, details: ThrottleDetails) -> None:
        """Tell every `on_throttle` hook that the client's rate limit changed."""
        self._run(self._on_throttle, "on_throttle", details)

    def _run(self, methods: tuple[tuple[int, Any], ...], name: str, details: object) -> None:
        for index, method in methods:
            try:
                method(details)
            # a hook is a plain call, never cancelled: a CancelledError out of it is its bug
            except (Exception, asyncio.CancelledError):
                if (index, name) not in self._failed:
                    self._failed.add((index, name))
                    logger.warning(
                        "turnix_async hook %r.%s raised; it is ignored (logged once)",
                        self._hooks[index],
                        name,
                        exc_info=True,
                    )


def _hook_methods(index: int, hook: object) -> list[tuple[str, Any]]:
    where = f"hooks[{index}]"
    if isinstance(hook, type):
        raise ValueError(f"{where} is a class; pass an instance, e.g. {hook.__name__}()")
    found = []
    for name in _METHODS:
        method = getattr(hook, name, None)
        if method is None:
            continue
        if not callable(method):
            raise TypeError(f"{where}.{name} must be a method (got {type(method).__name__})")
        if inspect.iscoroutinefunction(method):
            raise TypeError(
                f"{where}.{name} is async def; hooks are called synchronously and never"
                " awaited (so the call never waits for them): make it a plain def"
            )
        found.append((name, method))
    if not found:
        raise ValueError(
            f"{where} ({type(hook).__name__}) has none of the hook methods {', '.join(_METHODS)}"
        )
    return found


class CallRecord:
    """What one call went through, kept by the client as it runs; its details for the hooks."""

    __slots__ = (
        "attempts",
        "endpoint",
        "request_id",
        "retries",
        "started",
        "started_at",
        "status",
        "waited",
    )

    def __init__(self, endpoint: str, started: float) -> None:
        self.endpoint = endpoint
        self.started = started  # loop time, for the duration
        self.started_at = time.time()
        self.attempts = 0
        self.status: int | None = None
        self.request_id: str | None = None
        self.waited = 0.0
        self.retries: list[RetryDetails] = []

    def attempted(self, outcome: Reply | TurnixError, waited: float, redactor: Redactor) -> None:
        self.waited += waited
        if isinstance(outcome, Reply):
            self.status = outcome.status
            self.request_id = shown_request_id(outcome, redactor)

    def retrying(self, attempt: int, wait: float, reason: str) -> RetryDetails:
        details = RetryDetails(self.endpoint, attempt, wait, reason, time.time())
        self.retries.append(details)
        return details

    def details(self, outcome: str) -> CallDetails:
        return CallDetails(
            endpoint=self.endpoint,
            outcome=outcome,
            status=self.status,
            attempts=self.attempts,
            duration=asyncio.get_running_loop().time() - self.started,
            request_id=self.request_id,
            waited=self.waited,
            started_at=self.started_at,
            retries=tuple(self.retries),
        )
