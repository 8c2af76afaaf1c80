"""Time stamps: stored as integer microseconds since the Unix epoch (UTC), shown as datetimes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now_micros() -> int:
    return time.time_ns() // 1000


def from_micros(micros: int) -> datetime:
    # Integer arithmetic on a timedelta is exact; datetime.fromtimestamp would go via a float.
    return _EPOCH + timedelta(microseconds=micros)


def to_micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def to_text(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, to the microsecond: what an exported document holds."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_text(text: str) -> datetime | None:
    """An ISO 8601 moment with a time zone, or None when `text` is not one."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
