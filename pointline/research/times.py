"""Time inputs of the research API: what `start`, `end` and `as_of` accept and what they mean.

Every window is half-open, `[start, end)`, on the table's time axis (UTC microseconds).

* `int`: UTC microseconds since the epoch, taken as is.
* `datetime`: an aware datetime is converted to UTC; a naive one **is UTC**.
* ISO text with a time (`"2024-05-01T12:00"`, `"2024-05-01 12:00:00+08:00"`, `"...Z"`): parsed
  like a datetime (no offset means UTC).
* `date`, or ISO text that is only a date (`"2024-05-01"`): the **trading date** of the table,
  i.e. midnight of that day in the exchange's own timezone (dim_exchange.timezone; UTC for tables
  that are not exchange-scoped). So `start="2024-05-01", end="2024-05-02"` on `szse` is exactly
  the Shanghai trading day 2024-05-01, which is the partition `date=2024-05-01`.
"""

from __future__ import annotations

import datetime as dt
import re

from pointline.trading_day import _to_us, date_of_us, dates_overlapping, day_window_us

__all__ = ["TimeLike", "to_us", "window_us", "window_dates", "from_us"]

TimeLike = dt.datetime | dt.date | str | int

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# 10**17 microseconds is the year 5138: an int this large is nanoseconds, not microseconds.
_MAX_US = 10**17


def to_us(value: TimeLike, tz: str = "UTC") -> int:
    """One time input -> UTC microseconds; `tz` is the trading timezone that dates are read in.

    >>> import datetime as dt
    >>> from pointline.research.times import to_us
    >>> to_us("2024-05-01")  # a date: midnight of the trading date (UTC here)
    1714521600000000
    >>> to_us("2024-05-01", "Asia/Shanghai")  # the Shanghai trading date starts at 16:00 UTC the day before
    1714492800000000
    >>> to_us("2024-05-01T00:00") == to_us(dt.datetime(2024, 5, 1)) == 1714521600000000  # naive = UTC
    True
    """
    if isinstance(value, bool):
        raise TypeError("a time must be a datetime, date, ISO string or int microseconds, not a bool")
    if isinstance(value, int):
        if abs(value) >= _MAX_US:
            raise ValueError(f"{value} is too large for UTC microseconds (nanoseconds? divide by 1000)")
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if _DATE_ONLY.match(text):
            return day_window_us(dt.date.fromisoformat(text), tz)[0]
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"cannot read {value!r} as a time: use ISO 8601 ('2024-05-01', '2024-05-01T12:00:00Z'), "
                "a datetime, a date or int UTC microseconds"
            ) from None
    if isinstance(value, dt.datetime):
        moment = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
        return _to_us(moment)
    if isinstance(value, dt.date):
        return day_window_us(value, tz)[0]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return to_us(value.item(), tz)
    raise TypeError(f"cannot read {value!r} ({type(value).__name__}) as a time")


def window_us(start: TimeLike, end: TimeLike, tz: str = "UTC") -> tuple[int, int]:
    """`[start, end)` in UTC microseconds; `end` before `start` raises (equal is an empty window).

    >>> from pointline.research.times import window_us
    >>> window_us("2024-05-01", "2024-05-02")
    (1714521600000000, 1714608000000000)
    """
    start_us, end_us = to_us(start, tz), to_us(end, tz)
    if end_us < start_us:
        raise ValueError(f"end ({end!r}) is before start ({start!r}); windows are [start, end)")
    return start_us, end_us


def window_dates(start_us: int, end_us: int, tz: str = "UTC") -> list[dt.date]:
    """Trading dates (in `tz`) that the window `[start_us, end_us)` touches: the partitions to read.

    >>> from pointline.research.times import window_dates
    >>> start, end = window_us("2024-05-01T23:00", "2024-05-02T01:00")  # UTC
    >>> window_dates(start, end, "UTC")
    [datetime.date(2024, 5, 1), datetime.date(2024, 5, 2)]
    >>> window_dates(start, end, "Asia/Shanghai")  # 07:00-09:00 local on May 2
    [datetime.date(2024, 5, 2)]
    """
    return dates_overlapping(start_us, end_us, tz)


def from_us(ts_us: int) -> dt.datetime:
    """UTC microseconds -> an aware UTC datetime (for messages and summaries).

    >>> from pointline.research.times import from_us
    >>> from_us(1714521600000000)
    datetime.datetime(2024, 5, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    return _EPOCH + dt.timedelta(microseconds=ts_us)


def trading_date(ts_us: int, tz: str) -> dt.date:
    """The trading date (in `tz`) of a UTC-microsecond instant.

    >>> from pointline.research.times import trading_date
    >>> trading_date(to_us("2024-05-01T23:30"), "Asia/Shanghai")
    datetime.date(2024, 5, 2)
    """
    return date_of_us(ts_us, tz)
