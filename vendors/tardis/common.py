"""Small helpers shared by the Tardis discovery, CSV and instrument modules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"
US_PER_DAY = 86_400_000_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_US = dt.timedelta(microseconds=1)


def normalize_exchange(raw: str) -> str:
    """Exchange names as in dim_exchange: Tardis ids are lowercase already; trim stray spaces and case."""
    return raw.strip().lower()


def parse_date(text: str) -> dt.date | None:
    """A strict YYYY-MM-DD date, or None so the caller can report the path as unrecognized."""
    if len(text) != 10:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def day_start_us(day: dt.date) -> int:
    """UTC midnight of `day` in microseconds: Tardis cuts daily files on UTC arrival time."""
    return (day - _EPOCH.date()).days * US_PER_DAY


def iso_to_us(text: str) -> int:
    """ISO 8601 timestamp (Tardis API style, e.g. 2019-03-30T00:00:00.000Z) -> UTC microseconds.

    Naive timestamps are taken as UTC, which is what the Tardis API always means.
    Raises ValueError on anything else.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected an ISO 8601 string, got {text!r}")
    parsed = dt.datetime.fromisoformat(text.strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return (parsed - _EPOCH) // _ONE_US


def is_gzip(path: Path) -> bool:
    """Detect gzip by magic bytes, not by name: a mislabelled file must still be explained correctly."""
    with path.open("rb") as fh:
        return fh.read(2) == GZIP_MAGIC
