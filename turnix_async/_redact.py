"""Scrubbing secrets (the API token, proxy passwords) out of any text shown to anyone.

A server or a proxy may echo a secret back in any form: raw, JSON-escaped
(`\\u0074`, `\\/`), in a Python repr (`\\'`, `\\x74`: aiohttp's messages quote the
bytes they could not parse), percent-encoded, as HTML character references
(`&#116;`, `&quot;`), any of them escaped again (aiohttp shows a repr inside a repr),
whole or in part. The text is read as a
sequence of characters where each escape counts as the character it stands for,
and every run of `FRAGMENT` or more characters that also occurs in a secret is
replaced, whatever mix of forms spelled it. A cut text can be scrubbed as well as a whole
one: any run of 8+ secret characters left by the cut is still masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["FRAGMENT", "Redactor"]

FRAGMENT = 8  # a shorter run could be any word; a longer one must never survive
_MASK = "***"
# each form may be escaped again (a repr of a repr, `&amp;quot;`, `%2541`): one unit still
_UNIT = re.compile(
    r"\\+(?:u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[\"'\\/bfnrt])"  # JSON and Python repr escapes
    r"|%(?:25)*[0-9a-fA-F]{2}"  # percent-encoding
    r"|&(?:amp;)*(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|amp|quot|apos|lt|gt);"  # HTML references
    r"|.",
    re.DOTALL,
)
_SIMPLE_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_NAMED_REFERENCES = {"&amp;": "&", "&quot;": '"', "&apos;": "'", "&lt;": "<", "&gt;": ">"}


def _decoded(unit: str) -> str:
    """The one character an escape (or a plain character) stands for."""
    if len(unit) == 1:
        return unit
    if unit[0] == "%":  # %74, %2574
        return chr(int(unit[-2:], 16))
    if unit[0] == "&":  # &#116; &#x74; &quot; &amp;quot;
        reference = unit
        while reference.startswith("&amp;") and len(reference) > len("&amp;"):
            reference = "&" + reference[len("&amp;") :]
        if reference in _NAMED_REFERENCES:
            return _NAMED_REFERENCES[reference]
        number = reference[2:-1]
        code = int(number[1:], 16) if number[0] in "xX" else int(number)
        return chr(code) if code <= 0x10FFFF else unit
    escape = unit.lstrip("\\") or "\\"  # \' \\\' \x74 \\x74; a run of backslashes is one
    if escape[0] in "ux":
        return chr(int(escape[1:], 16))
    return _SIMPLE_ESCAPES.get(escape[0], escape[0])


def _plain(text: str) -> str:
    """`text` as read, every escape replaced by the character it stands for."""
    return "".join(map(_decoded, _UNIT.findall(text)))


class Redactor:
    """Replaces every fragment of the given secrets in a text with `***`."""

    __slots__ = ("_grams",)

    def __init__(self, secrets: Iterable[str | None]) -> None:
        self._grams: dict[int, frozenset[str]] = {}
        for secret in secrets:
            if not secret:
                continue
            # the secret as written, and as read (a token holding "%41" reads as "A")
            for form in {secret, _plain(secret)}:
                size = min(FRAGMENT, len(form))  # a short secret is matched whole
                grams = {form[i : i + size] for i in range(len(form) - size + 1)}
                self._grams[size] = self._grams.get(size, frozenset()) | grams

    def __repr__(self) -> str:
        return "Redactor(***)"

    def scrub(self, text: str) -> str:
        """`text` with every secret fragment, in any escaped form, replaced by `***`."""
        if not self._grams or not text:
            return text
        units = _UNIT.findall(text)
        plain = "".join(map(_decoded, units))  # one character per unit
        hidden = bytearray(len(units))
        for size, grams in self._grams.items():
            for start in range(len(plain) - size + 1):
                if plain[start : start + size] in grams:
                    hidden[start : start + size] = b"\1" * size
        if not any(hidden):
            return text
        out: list[str] = []
        for unit, masked in zip(units, hidden, strict=True):
            if not masked:
                out.append(unit)
            elif not out or out[-1] is not _MASK:
                out.append(_MASK)
        return "".join(out)
