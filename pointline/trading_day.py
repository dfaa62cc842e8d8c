"""Exchange-local trading dates and their UTC windows.

A row's trading date is the date of its time-axis timestamp in the exchange's IANA
timezone. A partition's window is [local midnight, next local midnight) in UTC
microseconds, which is 23 or 25 hours long across a DST change.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import polars as pl

_US_PER_DAY = 86_400_000_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _to_us(moment: dt.datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def day_window_us(date: dt.date, tz: str) -> tuple[int, int]:
    """[start, end) of the exchange-local day `date`, in UTC microseconds."""
    zone = ZoneInfo(tz)
    start = dt.datetime.combine(date, dt.time(), tzinfo=zone)
    end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    return _to_us(start), _to_us(end)


def date_of_us(ts_us: int, tz: str) -> dt.date:
    return (_EPOCH + dt.timedelta(microseconds=ts_us)).astimezone(ZoneInfo(tz)).date()


def trading_date_expr(ts_col: str, tz: str) -> pl.Expr:
    """Exchange-local date of a UTC-microsecond column; integer arithmetic for UTC venues."""
    ts = pl.col(ts_col)
    if tz in ("UTC", "Etc/UTC"):
        return (ts.floordiv(_US_PER_DAY)).cast(pl.Int32).cast(pl.Date)
    return pl.from_epoch(ts, time_unit="us").dt.replace_time_zone("UTC").dt.convert_time_zone(tz).dt.date()


def dates_overlapping(start_us: int, end_us: int, tz: str) -> list[dt.date]:
    """Exchange-local dates that the UTC window [start_us, end_us) touches."""
    if end_us <= start_us:
        return []
    first, last = date_of_us(start_us, tz), date_of_us(end_us - 1, tz)
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
