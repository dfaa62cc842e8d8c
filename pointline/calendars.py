"""Trading calendars: which exchange-local days an exchange trades, and when (no Dagster import).

Which calendar an exchange uses is data: the `calendar` column of dim_exchange
(config/exchanges.csv). It is either `24/7` (every day is a regular session from local
midnight to the next local midnight: crypto venues) or the name of an `exchange_calendars`
calendar (`XSHG` for both SSE and SZSE, `XNYS`, `XNAS`, `CMES`, ...). This module never names
an exchange.

`build_trading_calendar` turns dim_exchange rows into the `dim_trading_calendar` frame: one
row per exchange and exchange-local calendar day with the session type (regular, early_close,
holiday, weekend), open/close and lunch break in UTC microseconds. The other functions answer
questions from such a frame (calendar in, answer out) so that callers decide where it comes
from: the lake table, a cached copy, or a frame built on the fly.

Bounded holiday data: some calendars only know their holidays up to a year (`XSHG` through
2026-12-31 in exchange_calendars 4.13.2; the calendar's `bound_max`). Days past that bound are
never guessed: the frame simply has no rows for them, and every query function raises
`CalendarCoverageError` when asked about a day outside the rows it has. Rule-based calendars
(XNYS, CMES, ...) have no bound and are built to the requested end; an ad-hoc closure announced
later (a national day of mourning) appears when exchange_calendars is upgraded and the asset
is re-materialized.
"""

from __future__ import annotations

import datetime as dt
import warnings
from typing import TYPE_CHECKING

import polars as pl

from pointline.schemas import DIM_TRADING_CALENDAR

if TYPE_CHECKING:  # imported lazily: exchange_calendars (pandas) costs about a second to import
    from exchange_calendars import ExchangeCalendar

__all__ = [
    "ALWAYS_OPEN",
    "SESSION_TYPES",
    "CalendarCoverageError",
    "build_trading_calendar",
    "calendar_coverage",
    "calendar_problems",
    "calendar_problem",
    "is_trading_day",
    "shift_trading_days",
    "trading_day_window",
    "trading_days",
    "with_trading_day_index",
]

ALWAYS_OPEN = "24/7"
SESSION_TYPES = ("regular", "early_close", "holiday", "weekend")
TRADING_SESSION_TYPES = ("regular", "early_close")

_US_PER_DAY = 86_400_000_000
_NAIVE_EPOCH = dt.datetime(1970, 1, 1)

DateLike = dt.date | str


class CalendarCoverageError(ValueError):
    """The question needs calendar days the frame does not have (outside its built or known range)."""


def _date(value: DateLike) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


# ---- calendar names (used by config validation too) ---------------------------------------------
def calendar_problem(code: str | None) -> str | None:
    """Why `code` is not a usable calendar name (None when it is): `24/7` or an exchange_calendars name."""
    if code is None or not str(code).strip():
        return "empty calendar"
    if code == ALWAYS_OPEN:
        return None
    import exchange_calendars as xc

    if code not in xc.get_calendar_names():
        return f"unknown calendar {code!r} (use {ALWAYS_OPEN!r} or an exchange_calendars name such as XNYS, XSHG)"
    return None


# ---- building the frame ---------------------------------------------------------------------------
def _local_midnight_us(dates: pl.Expr, timezone: str) -> pl.Expr:
    """UTC microseconds of the start of each local date in `timezone`: local midnight (its earliest
    instant on a DST fold), or 01:00 where a DST jump skips midnight (the day's first instant)."""

    def at(hour: int) -> pl.Expr:
        local = dates.cast(pl.Datetime("us")) + pl.duration(hours=hour)
        return local.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null").dt.epoch("us")

    return pl.coalesce(at(0), at(1))


def _always_open(days: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """Every day a regular session, [local midnight, next local midnight)."""
    return days.with_columns(
        pl.lit("regular").alias("session_type"),
        pl.lit(True).alias("is_trading_day"),
        _local_midnight_us(pl.col("date"), timezone).alias("open_us"),
        _local_midnight_us(pl.col("date") + pl.duration(days=1), timezone).alias("close_us"),
        pl.lit(None, pl.Int64).alias("break_start_us"),
        pl.lit(None, pl.Int64).alias("break_end_us"),
    )


def _bounded(cal_cls: type[ExchangeCalendar], start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """[start, end] clipped to the calendar's known holiday data (bound_min / bound_max)."""
    lo, hi = cal_cls.bound_min(), cal_cls.bound_max()
    if lo is not None:
        start = max(start, lo.date())
    if hi is not None:
        end = min(end, hi.date())
    return start, end


def _get_calendar(code: str, **bounds: str) -> ExchangeCalendar:
    import exchange_calendars as xc

    with warnings.catch_warnings():
        # exchange_calendars 4.13 reads tz-aware Series.values, which pandas 3.1 deprecates (its own code)
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        return xc.get_calendar(code, **bounds)


def _exchange_calendar_days(code: str, timezone: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    """Days [start, end] (clipped to the calendar's bounds) classified by one exchange_calendars calendar."""
    cal_cls = type(_get_calendar(code))  # the default instance: cached, only used for its class
    start, end = _bounded(cal_cls, start, end)
    if start > end:
        return pl.DataFrame(schema={"date": pl.Date})
    cal = _get_calendar(code, start=start.isoformat(), end=end.isoformat())
    if str(cal.tz) != timezone:
        raise ValueError(
            f"calendar {code!r} is in {cal.tz}, but the exchange's timezone is {timezone!r}: the session "
            "dates would disagree with the exchange's trading dates (fix config/exchanges.csv)"
        )
    # pandas -> polars once: session labels (naive dates) and UTC instants (NaT -> null).
    sessions = pl.from_pandas(cal.schedule.reset_index(names="session")).select(
        pl.col("session").cast(pl.Date).alias("date"),
        *(
            pl.col(src).dt.epoch("us").alias(dst)
            for src, dst in (
                ("open", "open_us"),
                ("close", "close_us"),
                ("break_start", "break_start_us"),
                ("break_end", "break_end_us"),
            )
        ),
        pl.lit(True).alias("is_trading_day"),
    )
    early = pl.Series("date", cal.early_closes.to_numpy()).cast(pl.Date)
    weekend_days = [i + 1 for i, bit in enumerate(cal.weekmask) if bit == "0"]  # polars weekday: Monday = 1
    days = pl.DataFrame({"date": pl.date_range(start, end, "1d", eager=True)})
    return days.join(sessions, on="date", how="left").with_columns(
        pl.col("is_trading_day").fill_null(False),
        pl.when(pl.col("is_trading_day").is_not_null() & pl.col("date").is_in(early.implode()))
        .then(pl.lit("early_close"))
        .when(pl.col("is_trading_day").is_not_null())
        .then(pl.lit("regular"))
        .when(pl.col("date").dt.weekday().is_in(weekend_days))
        .then(pl.lit("weekend"))
        .otherwise(pl.lit("holiday"))
        .alias("session_type"),
    )


def build_trading_calendar(exchanges: pl.DataFrame, start: DateLike, end: DateLike) -> pl.DataFrame:
    """The dim_trading_calendar frame for every exchange row over the local dates [start, end].

    `exchanges` needs the columns exchange, timezone and calendar (dim_exchange has them).
    Exchanges sharing a calendar (SSE and SZSE on XSHG) compute it once. Rows past a calendar's
    holiday data (its `bound_max`) are left out, never guessed: see the module docstring.
    Sorted by (exchange, date).
    """
    start, end = _date(start), _date(end)
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    missing = [c for c in ("exchange", "timezone", "calendar") if c not in exchanges.columns]
    if missing:
        raise ValueError(f"exchanges frame lacks column(s) {missing}")
    schema = dict(DIM_TRADING_CALENDAR.polars_schema)
    frames: list[pl.DataFrame] = []
    for (code, timezone), group in exchanges.group_by("calendar", "timezone", maintain_order=True):
        names = group["exchange"].to_list()
        problem = calendar_problem(code)
        if problem:
            raise ValueError(f"exchange(s) {names}: {problem}")
        if code == ALWAYS_OPEN:
            days = _always_open(pl.DataFrame({"date": pl.date_range(start, end, "1d", eager=True)}), timezone)
        else:
            try:
                days = _exchange_calendar_days(code, timezone, start, end)
            except ValueError as exc:
                raise ValueError(f"exchange(s) {names}: {exc}") from exc
        if days.is_empty():
            continue
        per_exchange = pl.DataFrame({"exchange": names}).join(days, how="cross")
        frames.append(per_exchange.with_columns(pl.lit(code).alias("calendar")).select(list(schema)).cast(schema))
    if not frames:
        return pl.DataFrame(schema=schema)
    return pl.concat(frames).sort("exchange", "date")


# ---- questions answered from a calendar frame -----------------------------------------------------
def _days(calendar: pl.DataFrame | pl.LazyFrame, exchange: str) -> pl.DataFrame:
    """One exchange's rows (date, is_trading_day), sorted; raises when the frame has none."""
    lf = calendar.lazy() if isinstance(calendar, pl.DataFrame) else calendar
    days = lf.filter(pl.col("exchange") == exchange).select("date", "is_trading_day").sort("date").collect()
    if days.is_empty():
        raise CalendarCoverageError(f"no calendar rows for exchange {exchange!r} (is it in dim_exchange?)")
    return days


def _covered(days: pl.DataFrame, exchange: str, *dates: dt.date) -> None:
    first, last = days["date"][0], days["date"][-1]
    for d in dates:
        if not first <= d <= last:
            raise CalendarCoverageError(
                f"{exchange}: {d} is outside the calendar's days {first}..{last} (holiday data or the "
                "built range ends there; see pointline/calendars.py)"
            )


def _trading_dates(days: pl.DataFrame) -> pl.Series:
    return days.filter(pl.col("is_trading_day"))["date"]


def calendar_coverage(calendar: pl.DataFrame | pl.LazyFrame, exchange: str) -> tuple[dt.date, dt.date]:
    """First and last day the calendar frame classifies for `exchange`."""
    days = _days(calendar, exchange)
    return days["date"][0], days["date"][-1]


def trading_days(calendar: pl.DataFrame | pl.LazyFrame, exchange: str, start: DateLike, end: DateLike) -> list[dt.date]:
    """The exchange's trading days in [start, end], ascending.

    >>> trading_days(cal, "szse", "2024-01-01", "2024-12-31")  # doctest: +SKIP
    [datetime.date(2024, 1, 2), ...]  # 242 days
    """
    start, end = _date(start), _date(end)
    days = _days(calendar, exchange)
    _covered(days, exchange, start, end)
    return days.filter(pl.col("is_trading_day") & pl.col("date").is_between(start, end))["date"].to_list()


def is_trading_day(calendar: pl.DataFrame | pl.LazyFrame, exchange: str, date: DateLike) -> bool:
    date = _date(date)
    days = _days(calendar, exchange)
    _covered(days, exchange, date)
    return bool(days.filter(pl.col("date") == date)["is_trading_day"][0])


def shift_trading_days(calendar: pl.DataFrame | pl.LazyFrame, exchange: str, date: DateLike, n: int) -> dt.date:
    """The n-th trading day after `date` (n > 0) or before it (n < 0); `date` itself for n = 0.

    `date` need not be a trading day: shifting Saturday by +1 gives Monday (if it trades) and by -1
    Friday. n = 0 on a non-trading day raises. Raises CalendarCoverageError past the frame's days.
    """
    date = _date(date)
    days = _days(calendar, exchange)
    _covered(days, exchange, date)
    traded = _trading_dates(days)
    if n == 0:
        if not days.filter(pl.col("date") == date)["is_trading_day"][0]:
            raise ValueError(f"{exchange}: {date} is not a trading day (shift by +1 or -1 to reach one)")
        return date
    if n > 0:
        pos = int(traded.search_sorted(date, side="right")) + n - 1
    else:
        pos = int(traded.search_sorted(date, side="left")) + n
    if not 0 <= pos < traded.len():
        first, last = days["date"][0], days["date"][-1]
        raise CalendarCoverageError(
            f"{exchange}: shifting {date} by {n} trading days leaves the calendar's days {first}..{last}"
        )
    return traded[pos]


def trading_day_window(calendar: pl.DataFrame | pl.LazyFrame, exchange: str, end: DateLike, n: int) -> list[dt.date]:
    """The n trading days ending at `end` (inclusive when it trades, else the n before it), ascending.

    A 20-day rolling window on SSE: `trading_day_window(cal, "sse", d, 20)`; its first element
    is the window's start, holidays and weekends skipped.
    """
    if n < 1:
        raise ValueError(f"window length must be at least 1, got {n}")
    end = _date(end)
    days = _days(calendar, exchange)
    _covered(days, exchange, end)
    traded = _trading_dates(days)
    stop = int(traded.search_sorted(end, side="right"))
    if stop - n < 0:
        raise CalendarCoverageError(
            f"{exchange}: fewer than {n} trading days up to {end} in the calendar (first day {days['date'][0]})"
        )
    return traded.slice(stop - n, n).to_list()


def with_trading_day_index(
    frame: pl.DataFrame | pl.LazyFrame,
    calendar: pl.DataFrame | pl.LazyFrame,
    *,
    exchange: str | None = None,
    date_column: str = "date",
    name: str = "trading_day_index",
) -> pl.DataFrame | pl.LazyFrame:
    """Add the ordinal of each row's trading day in its exchange's calendar (null on non-trading days).

    Consecutive trading days get consecutive integers, so rolling windows count trading days, not
    calendar days: `df.filter(pl.col("trading_day_index").is_not_null()).sort("trading_day_index")
    .rolling("trading_day_index", period="5i", group_by="symbol")` spans 5 sessions across a
    holiday week. Rows are matched on (exchange, date): the frame's `exchange` column, or the
    `exchange` argument for a one-exchange frame. Ordinals are comparable within one calendar
    frame only. Returns a lazy frame when `frame` is lazy.
    """
    cal = calendar.lazy() if isinstance(calendar, pl.DataFrame) else calendar
    index = (
        cal.filter(pl.col("is_trading_day"))
        .select("exchange", pl.col("date").alias(date_column))
        .sort("exchange", date_column)
        .with_columns(pl.int_range(pl.len()).over("exchange").cast(pl.Int64).alias(name))
    )
    lazy = isinstance(frame, pl.LazyFrame)
    lf = frame if lazy else frame.lazy()
    if exchange is not None:
        index = index.filter(pl.col("exchange") == exchange).drop("exchange")
        out = lf.join(index, on=date_column, how="left", maintain_order="left")
    else:
        out = lf.join(index, on=["exchange", date_column], how="left", maintain_order="left")
    return out if lazy else out.collect()


# ---- consistency of a stored calendar -------------------------------------------------------------
def calendar_problems(calendar: pl.DataFrame, exchanges: list[str]) -> list[str]:
    """Everything wrong with a calendar frame (empty when it is sound), for the asset check.

    Every exchange has rows, one per day without gaps; session types are known and agree with
    is_trading_day; trading days have open < close and non-trading days no times; a lunch break
    lies inside its session; sessions of one exchange do not overlap.
    """
    problems: list[str] = []
    missing = sorted(set(exchanges) - set(calendar["exchange"].unique().to_list()))
    if missing:
        problems.append(f"exchanges without calendar rows: {missing}")
    dupes = calendar.filter(pl.struct("exchange", "date").is_duplicated())
    if dupes.height:
        problems.append(f"{dupes.height} duplicate (exchange, date) rows, e.g. {dupes.row(0)[:2]}")
    gaps = (
        calendar.group_by("exchange")
        .agg(pl.len().alias("n"), ((pl.col("date").max() - pl.col("date").min()).dt.total_days() + 1).alias("span"))
        .filter(pl.col("n") != pl.col("span"))
    )
    if gaps.height:
        problems.append(f"days missing inside the covered range of {sorted(gaps['exchange'])}")
    trading = pl.col("session_type").is_in(TRADING_SESSION_TYPES)
    has_break = pl.col("break_start_us").is_not_null() | pl.col("break_end_us").is_not_null()
    rules = {
        "unknown session_type": ~pl.col("session_type").is_in(SESSION_TYPES),
        "is_trading_day disagrees with session_type": pl.col("is_trading_day") != trading,
        "trading day without open < close": pl.col("is_trading_day")
        & ~(pl.col("open_us") < pl.col("close_us")).fill_null(False),
        "non-trading day with session times": ~pl.col("is_trading_day")
        & (pl.col("open_us").is_not_null() | pl.col("close_us").is_not_null() | has_break),
        "lunch break not inside its session": has_break
        & ~(
            (pl.col("open_us") < pl.col("break_start_us"))
            & (pl.col("break_start_us") < pl.col("break_end_us"))
            & (pl.col("break_end_us") < pl.col("close_us"))
        ).fill_null(False),
    }
    for text, bad in rules.items():
        rows = calendar.filter(bad)
        if rows.height:
            problems.append(f"{text}: {rows.height} row(s), e.g. {rows.select('exchange', 'date').row(0)}")
    overlap = (
        calendar.filter(pl.col("is_trading_day"))
        .sort("exchange", "date")
        .filter(pl.col("open_us") < pl.col("close_us").shift(1).over("exchange"))
    )
    if overlap.height:
        problems.append(f"sessions overlapping the previous one: {overlap.height}, e.g. {overlap.row(0)[:2]}")
    return problems
