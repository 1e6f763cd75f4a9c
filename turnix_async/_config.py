"""The client's settings: the token and the API root (an argument, else the environment),
the retry policy, the User-Agent, and the checks of the other constructor arguments.

`AsyncTurnix` and the `turnix` command resolve them here, so both accept and refuse
the same values with the same messages. Every message names the source of the value
(the argument or the environment variable) and never contains the token.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import os
import platform
import re
from typing import Any, cast

import aiohttp
from yarl import URL

from ._retry import RetryPolicy
from ._validate import check_int, check_seconds
from ._version import __version__
from ._wire import Transport

__all__ = [
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "TOKEN_ENV",
    "checked_policy",
    "checked_transport",
    "not_found_hint",
    "proxy_secrets",
    "resolve_base_url",
    "resolve_token",
    "user_agent",
]

DEFAULT_BASE_URL = "https://turnix.io/api/v1"
TOKEN_ENV = "TURNIX_API_TOKEN"
BASE_URL_ENV = "TURNIX_BASE_URL"

logger = logging.getLogger("turnix_async")

_BEARER = re.compile(r"bearer\s", re.IGNORECASE)


def resolve_token(api_token: object = None) -> str:
    """The API token: `api_token`, else env `TURNIX_API_TOKEN` (empty counts as unset).

    Raises:
        ValueError: no token, or one that cannot be sent in a header as it is.
    """
    source = "api_token"
    if api_token is None:
        api_token = os.environ.get(TOKEN_ENV)
        source = f"the {TOKEN_ENV} environment variable"
        if not api_token:
            raise ValueError(
                f"no Turnix API token: set the {TOKEN_ENV} environment variable or pass api_token="
            )
    if not isinstance(api_token, str):
        raise ValueError(f"{source} must be a str, not {type(api_token).__name__}")
    if not api_token:
        raise ValueError(f"{source} must not be empty")
    if _BEARER.match(api_token):
        raise ValueError(f"{source} starts with 'Bearer ': drop the `Bearer ` prefix")
    if not api_token.isascii() or not api_token.isprintable() or _has_space(api_token):
        raise ValueError(
            f"{source} must not contain whitespace, control or non-ASCII characters"
            " (was it pasted with a newline?)"
        )
    return api_token


def resolve_base_url(base_url: object = None, *, insecure_http: bool = False) -> URL:
    """The API root: `base_url`, else env `TURNIX_BASE_URL` (empty: unset), else the default.

    It must be https. Plain http is allowed for loopback hosts (localhost, 127.0.0.0/8,
    ::1); for any other host only with `insecure_http=True`, and then each call logs a
    WARNING, since the token would cross the network in clear text.

    Raises:
        ValueError: not an absolute http(s) URL, has credentials, a query or a fragment,
            or plain http to a non-loopback host without `insecure_http=True`.
    """
    if not isinstance(insecure_http, bool):
        raise ValueError("insecure_http must be True or False")
    source = "base_url"
    if base_url is None:
        base_url = os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        source = f"the {BASE_URL_ENV} environment variable"
    if not isinstance(base_url, str):
        raise ValueError(f"{source} must be a str, not {type(base_url).__name__}")
    url = _parse(base_url)
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise ValueError(
            f"{source} must be an absolute https URL such as {DEFAULT_BASE_URL}"
            f" (got {_without_userinfo(base_url)!r})"
        )
    if url.user is not None or url.password is not None or url.query_string or url.fragment:
        raise ValueError(f"{source} must be a URL without credentials, query or fragment")
    if url.scheme == "http" and not _is_loopback(url.host):
        if not insecure_http:
            raise ValueError(
                f"{source} must use https; plain http is allowed only for localhost,"
                f" 127.0.0.0/8 and ::1, or with insecure_http=True (got {base_url!r})"
            )
        logger.warning(
            "insecure_http=True: the API token goes to %s in clear text (plain http)", url.host
        )
    if url.explicit_port is not None and url.is_default_port():
        url = url.with_port(None)  # https://h:443 is https://h
    return url.with_path(url.path.rstrip("/"))


def _parse(text: str) -> URL | None:
    if not text.isprintable() or _has_space(text):
        return None
    try:
        return URL(text)
    except (TypeError, ValueError):
        return None


def _has_space(text: str) -> bool:
    return any(c.isspace() for c in text)


def _without_userinfo(text: str) -> str:
    """`text` with anything between `//` and `@` hidden: it may hold a password."""
    return re.sub(r"//[^/]*@", "//***@", text)


def _is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_USER_AGENT = (
    f"turnix-async/{__version__} aiohttp/{aiohttp.__version__} python/{platform.python_version()}"
)


def proxy_secrets(proxy: URL | None) -> list[str]:
    """A proxy's password and user, raw and as the Basic credentials a proxy may echo."""
    if proxy is None or not (proxy.user or proxy.password):
        return []
    user, password = proxy.user or "", proxy.password or ""
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [secret for secret in (password, basic) if secret]


def user_agent(app_info: Any) -> str:
    if app_info is None:
        return _USER_AGENT
    if (
        not isinstance(app_info, str)
        or not 0 < len(app_info) <= 100
        or not app_info.isascii()
        or not app_info.isprintable()
    ):
        raise ValueError(
            "app_info must be 1-100 printable ASCII characters such as 'acme-signaling/2.3'"
            f" (got {app_info!r:.60})"
        )
    return f"{_USER_AGENT} {app_info}"


def checked_transport(transport: Any) -> Transport:
    """A `Transport` (`send` and `close` methods), else ValueError before anything is sent."""
    for name in ("send", "close"):
        if not callable(getattr(transport, name, None)):
            raise ValueError(
                "transport must be a Transport with async `send(request, *, timeout)` and"
                " `close()` methods, such as turnix_async.testing.MockTransport"
                f" (got {type(transport).__name__})"
            )
    return cast(Transport, transport)


def not_found_hint(url: URL) -> str:
    """A 404 from a base URL without the API's path most likely means the path is missing."""
    if url.path.rstrip("/").endswith("/api/v1"):
        return ""
    return f" (is base_url missing its path? it is {url}, the API lives under {url / 'api' / 'v1'})"


def checked_policy(
    *,
    max_retries: Any,
    timeout: Any,
    deadline: Any,
    backoff_base: Any,
    backoff_max: Any,
    retry_after_cap: Any,
) -> RetryPolicy:
    """A `RetryPolicy` from user arguments, each checked with a ValueError naming it."""
    return RetryPolicy(
        max_retries=check_int("max_retries", max_retries, minimum=0),
        timeout=check_seconds("timeout", timeout),
        deadline=None if deadline is None else check_seconds("deadline", deadline),
        backoff_base=check_seconds("backoff_base", backoff_base, zero_ok=True),
        backoff_max=check_seconds("backoff_max", backoff_max, zero_ok=True),
        retry_after_cap=check_seconds("retry_after_cap", retry_after_cap, zero_ok=True),
    )
