"""Plain-text tables for the `turnix` command: ICE credentials and regions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta, timezone
from typing import TYPE_CHECKING

from ._errors import printable

if TYPE_CHECKING:
    from ._models import IceCredentials, Region

__all__ = ["credentials_table", "duration", "regions_table", "table"]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart, without trailing spaces; cells made printable."""
    rows = [[printable(cell) for cell in row] for row in rows]  # the server's text
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    lines = (
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    )
    return "\n".join(lines)


def credentials_table(credentials: IceCredentials) -> str:
    """One row per URL (username and credential on a server's first row), then the expiry."""
    rows: list[list[str]] = []
    for server in credentials.ice_servers:
        kind = server.urls[0].split(":", 1)[0].lower() if server.urls else "?"
        for index, url in enumerate(server.urls):
            if index == 0:
                rows.append([kind, url, server.username or "", server.credential or ""])
            else:
                rows.append(["", url, "", ""])
    moment = credentials.expires_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    left = "expired" if credentials.is_expired else f"in {duration(credentials.time_left)}"
    headers = ["TYPE", "URL", "USERNAME", "CREDENTIAL"]
    return f"{table(headers, rows)}\nExpires {moment} ({left})"


def regions_table(regions: Sequence[Region]) -> str:
    rows = [
        [
            region.slug,
            region.city,
            region.nat2,
            _yes_no(region.is_online),
            _yes_no(region.is_operational),
        ]
        for region in regions
    ]
    return table(["SLUG", "CITY", "COUNTRY", "ONLINE", "OPERATIONAL"], rows)


def duration(left: timedelta) -> str:
    """`timedelta` -> `"2 h 5 min"`, `"4 min 59 s"`, `"29 s"` (rounded down to seconds)."""
    seconds = int(left.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds} s"
    return f"{seconds} s"


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"
