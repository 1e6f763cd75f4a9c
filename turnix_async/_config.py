"""Where the token and the API root come from: an argument, else the environment.

`AsyncTurnix` and the `turnix` command resolve them here, so both accept and refuse
the same values with the same messages. Every message names the source of the value
(the argument or the environment variable) and never contains the token.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re

from yarl import URL

__all__ = [
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "TOKEN_ENV",
    "resolve_base_url",
    "resolve_token",
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
