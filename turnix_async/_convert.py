"""The one cattrs converter: the API's JSON bodies <-> the attrs structs.

Every body goes through cattrs' generated functions, built once at import, with
detailed validation: a malformed body becomes `ResponseValidationError` naming the
path. Lists stop at their first bad item and hold at most `MAX_ITEMS`, so refusing
even a huge malformed body is cheap and its message short.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar, get_origin

import cattrs
from cattrs.errors import IterableValidationError, IterableValidationNote
from cattrs.fns import identity
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._errors import ResponseValidationError
from ._models import MAX_ITEMS, IceCredentials, IceCredentialsRequest, IceServer, Region

__all__ = ["converter", "ice_request_body", "parse_ice_credentials", "parse_regions"]

T = TypeVar("T")

converter = cattrs.Converter()

# The hooks below refuse loose types (no silent str(42) or bool("false")) and say what
# they expected in a few words: `_problem` shows a ValueError's own message.


def _str(value: Any, _: Any) -> str:
    if type(value) is str:
        return value
    raise ValueError(f"expected a string, got {type(value).__name__}")


def _optional_str(value: Any, _: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    raise ValueError(f"expected a string or null, got {type(value).__name__}")


def _bool(value: Any, _: Any) -> bool:
    if type(value) is bool:
        return value
    raise ValueError(f"expected true or false, got {type(value).__name__}")


def _float(value: Any, _: Any) -> float:
    if type(value) is float or type(value) is int:
        return float(value)
    raise ValueError(f"expected a number, got {type(value).__name__}")


def _timestamp(value: Any, _: Any) -> datetime:
    """ISO-8601 text or Unix seconds; the struct takes it to aware UTC (naive means UTC)."""
    try:
        if type(value) is str:
            return _iso8601(value)
        if type(value) is int or type(value) is float:
            return datetime.fromtimestamp(value, timezone.utc)
    except (ValueError, OverflowError, OSError):
        pass
    raise ValueError("expected an ISO-8601 timestamp or Unix seconds")


if sys.version_info >= (3, 11):

    def _iso8601(text: str) -> datetime:
        return datetime.fromisoformat(text.strip())  # "2030-06-04T12:00:30Z", offsets, fractions

else:  # pragma: no cover - 3.10: no trailing Z, only 3 or 6 fraction digits
    _FRACTION = re.compile(r"\.(\d+)")

    def _iso8601(text: str) -> datetime:
        text = text.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        return datetime.fromisoformat(
            _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text)
        )


def _is_list(kind: Any) -> bool:
    return get_origin(kind) is list


def _bounded_list(list_type: Any, conv: cattrs.BaseConverter) -> Callable[[Any, Any], list[Any]]:
    """A JSON array of at most MAX_ITEMS, structured item by item up to the first bad one.

    cattrs' own list hook collects one error per bad item: for 150k of them that is
    seconds of work and gigabytes of memory. One error says enough.
    """
    item_type = list_type.__args__[0]
    structure_item = conv.get_structure_hook(item_type)

    def structure(value: Any, _: Any) -> list[Any]:
        if type(value) is not list:
            raise ValueError(f"expected an array, got {type(value).__name__}")
        if len(value) > MAX_ITEMS:
            raise ValueError(f"expected at most {MAX_ITEMS} items, got {len(value)}")
        items = []
        for index, item in enumerate(value):
            try:
                items.append(structure_item(item, item_type))
            except Exception as exc:
                note = IterableValidationNote(f"@ index {index}", index, item_type)
                exc.__notes__ = [*getattr(exc, "__notes__", []), note]
                raise IterableValidationError("While structuring", [exc], list_type) from None
        return items

    return structure


converter.register_structure_hook(str, _str)
converter.register_structure_hook_func(lambda kind: kind == str | None, _optional_str)
converter.register_structure_hook(bool, _bool)
converter.register_structure_hook(float, _float)
converter.register_structure_hook(datetime, _timestamp)
converter.register_structure_hook_factory(_is_list, _bounded_list)


def _json_object(cls: type[T], **options: Any) -> Callable[[Any, Any], T]:
    """cattrs' generated function for `cls`, behind one check that the value is an object."""
    structure = make_dict_structure_fn(cls, converter, **options)

    def hook(value: Any, _: Any) -> T:
        if type(value) is not dict:
            raise ValueError(f"expected an object, got {type(value).__name__}")
        return structure(value, cls)

    return hook


# `urls` goes as it came (one string or a list) to IceServer's own normaliser
_ice_server_fields = make_dict_structure_fn(
    IceServer, converter, _cattrs_prefer_attrib_converters=True
)


def _ice_server(value: Any, cls: Any) -> IceServer:
    if type(value) is not dict:
        raise ValueError(f"expected an object, got {type(value).__name__}")
    if "urls" not in value and "url" in value:
        value = {**value, "urls": value["url"]}  # the legacy single-URL key
    return _ice_server_fields(value, cls)


_WIRE_NAMES = {"ice_servers": "iceServers", "expires_at": "expiresAt"}
converter.register_structure_hook(IceServer, _ice_server)
converter.register_structure_hook(
    IceCredentials,
    _json_object(
        IceCredentials, **{field: override(rename=key) for field, key in _WIRE_NAMES.items()}
    ),
)
converter.register_structure_hook(Region, _json_object(Region))
# request fields are JSON values already: the generated code then reads them inline
converter.register_unstructure_hook_func(lambda kind: kind in (str | None, int | None), identity)
converter.register_unstructure_hook(
    IceCredentialsRequest,
    make_dict_unstructure_fn(
        IceCredentialsRequest,
        converter,
        _cattrs_omit_if_default=True,  # only the fields that are set
        client_ip=override(omit=True),  # it travels in the X-TURN-CLIENT-IP header
    ),
)

_structure_ice_credentials: Callable[[Any, Any], IceCredentials] = converter.get_structure_hook(
    IceCredentials
)
_structure_regions: Callable[[Any, Any], list[Region]] = converter.get_structure_hook(list[Region])
_ENCODER = json.JSONEncoder(separators=(",", ":"))  # json.dumps() builds one per call
_DECODER = json.JSONDecoder()


def ice_request_body(request: IceCredentialsRequest) -> bytes:
    """The JSON body of POST /credentials/ice: only the fields that are set, no client_ip."""
    return _ENCODER.encode(converter.unstructure(request)).encode()


def parse_ice_credentials(
    body: bytes, fallback_expires_at: Callable[[], datetime]
) -> IceCredentials:
    """A 2xx body -> IceCredentials; without `expiresAt`, `fallback_expires_at()` says when."""
    data = _json(body)
    if type(data) is dict and data.get("expiresAt") is None:  # the docs' sample omits it
        data["expiresAt"] = fallback_expires_at().isoformat()
    return _structured(_structure_ice_credentials, data, IceCredentials)


def parse_regions(body: bytes) -> list[Region]:
    """A 2xx body of GET /regions -> a list of Region."""
    return _structured(_structure_regions, _json(body), list[Region])


def _json(body: bytes) -> Any:
    """Parse a JSON body: UTF-8 only, as JSON on the wire must be; a BOM is allowed.

    raw_decode() alone skips json.loads()' two whitespace regex passes for the usual
    compact body; whatever it does not take whole, json.loads() decides.
    """
    try:
        text = body.decode().removeprefix("\ufeff")  # 10x cheaper than decode("utf-8-sig")
        try:
            value, end = _DECODER.raw_decode(text)
            if end == len(text) or not text[end:].strip(" \t\n\r"):
                return value
        except (ValueError, RecursionError):
            pass  # leading whitespace, or not JSON: json.loads() says which
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # ValueError includes UnicodeDecodeError
        raise ResponseValidationError(f"response body is not valid JSON: {exc}") from None


def _structured(structure: Callable[[Any, Any], T], data: Any, cls: Any) -> T:
    try:
        return structure(data, cls)
    except Exception as exc:
        raise ResponseValidationError(_describe(exc)) from None


_SHOWN_PROBLEMS = 3
_MESSAGE_LIMIT = 300


def _describe(exc: Exception) -> str:
    problems = cattrs.transform_error(exc, path="response", format_exception=_problem)
    for field, key in _WIRE_NAMES.items():
        problems = [problem.replace(f".{field}", f".{key}") for problem in problems]
    shown = "; ".join(problems[:_SHOWN_PROBLEMS])
    return _shape(shown + (" ..." if len(problems) > _SHOWN_PROBLEMS else ""))


def _problem(exc: BaseException, expected: Any) -> str:
    """Our hooks' and structs' ValueErrors say what is wrong; for the rest, cattrs' words."""
    if isinstance(exc, ValueError):
        return str(exc)[:100]
    return cattrs.v.format_exception(exc, expected)


def _shape(problems: str) -> str:
    text = f"response does not match the documented shape: {problems}"
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 3] + "..."
