"""Joins with written semantics (docs/join-semantics.md): as-of joins that never look ahead.

The rules, in one place:

- **Time axis.** Event tables are joined on `ts_local_us` (decoded: `ts_local`), the time the
  row reached the capture machine: what a strategy could have known. `ts_exch_us` is the
  venue's claim and is not monotone across tables, so it is not the default.
- **Direction.** Always backward: a row is matched with the latest row of the other table at or
  before it. Forward and nearest matches would use the future; they are refused.
- **Equal timestamps.** Two rows of different tables with the same arrival microsecond came in
  one network read, and which was "first" is unknowable. By default the match is **strict**
  (`allow_exact=False`): only rows strictly earlier count, so a quote stamped with the same
  microsecond as a trade (often the quote the trade itself caused) is not its prevailing quote.
  Bars stamped with their end time align with `allow_exact=True`.
- **Ties inside one table.** Rows of one table with the same time keep their stored order
  (file, line); the last of them is the one that prevails.
- **Tolerance.** A match older than `tolerance` is no match (nulls). Loaders also read the
  other table only from `start - tolerance`, so the tolerance bounds both staleness and cost.
- **Symbols.** Rows match by exchange-native `symbol`, not `symbol_id`: a metadata change
  (new symbol_id) does not interrupt the quote stream of the same instrument.

Everything here works on frames as the loaders return them, decoded or not, eager or lazy.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import polars as pl

from pointline.research.times import TimeLike, to_us

if TYPE_CHECKING:
    from pointline.research.session import Research

__all__ = ["JoinsMixin", "align", "asof_backward", "parse_duration_us"]

Frame = pl.DataFrame | pl.LazyFrame
Tolerance = str | int | dt.timedelta | None

_UNITS_US = {"us": 1, "ms": 1_000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000}
_DURATION = re.compile(r"(\d+)(us|ms|s|m|h|d)")
QUOTE_COLUMNS = ("bid_price", "bid_qty", "ask_price", "ask_qty")


def parse_duration_us(value: str | int | dt.timedelta) -> int:
    """`"500ms"`, `"1m30s"`, `"1h"`, a timedelta or int microseconds -> microseconds.

    >>> from pointline.research.joins import parse_duration_us
    >>> parse_duration_us("1m30s"), parse_duration_us("250ms"), parse_duration_us(5)
    (90000000, 250000, 5)
    """
    if isinstance(value, bool):
        raise TypeError("a duration must be a string like '5s', a timedelta or int microseconds")
    if isinstance(value, int):
        return value
    if isinstance(value, dt.timedelta):
        return (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    text = str(value).strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"cannot read {value!r} as a duration: use e.g. '500ms', '5s', '1m30s', '2h', '1d'")
    return sum(int(n) * _UNITS_US[u] for n, u in parts)


def _time_column(frame: Frame, on: str) -> str:
    """`on` as the frame spells it: decoded frames say `ts_local`, stored ones `ts_local_us`."""
    names = frame.collect_schema().names()
    for candidate in (on, f"{on}_us", on.removesuffix("_us")):
        if candidate in names:
            return candidate
    raise ValueError(f"no time column {on!r} (or its stored/decoded twin) among {names}")


def _tolerance_for(frame: Frame, column: str, tolerance: Tolerance) -> int | dt.timedelta | None:
    if tolerance is None:
        return None
    us = parse_duration_us(tolerance)
    if us < 0:
        raise ValueError(f"tolerance must not be negative, got {tolerance!r}")
    dtype = frame.collect_schema()[column]
    return dt.timedelta(microseconds=us) if isinstance(dtype, pl.Datetime) else us


def asof_backward(
    left: Frame,
    right: Frame,
    *,
    on: str = "ts_local",
    by: str | Sequence[str] | None = "symbol",
    tolerance: Tolerance = None,
    allow_exact: bool = False,
    prefix: str = "",
    columns: Sequence[str] | None = None,
) -> pl.LazyFrame:
    """Each `left` row with the latest `right` row before it (at or before it with
    `allow_exact=True`), matched within `by`; right columns renamed `prefix + name`, the matched
    row's time kept as `prefix + on`. Left rows keep their order; no match gives nulls.

    >>> import polars as pl
    >>> from pointline.research.joins import asof_backward
    >>> trades = pl.DataFrame({"symbol": ["X", "X"], "ts_local_us": [10, 20]})
    >>> quotes = pl.DataFrame({"symbol": ["X", "X"], "ts_local_us": [10, 15], "bid_price": [1.0, 2.0]})
    >>> asof_backward(trades, quotes, on="ts_local_us").collect()["bid_price"].to_list()  # strict
    [None, 2.0]
    >>> asof_backward(trades, quotes, on="ts_local_us", allow_exact=True).collect()["bid_price"].to_list()
    [1.0, 2.0]
    """
    keys = [] if by is None else [by] if isinstance(by, str) else list(by)
    left_on, right_on = _time_column(left, on), _time_column(right, on)
    wanted = [c for c in (columns or right.collect_schema().names()) if c not in keys and c != right_on]
    matched_time = f"{prefix}{right_on}" if prefix else f"{right_on}_matched"
    renamed = {c: f"{prefix}{c}" for c in wanted if prefix}
    row = "__pointline_left_row"
    lhs = left.lazy().with_row_index(row)
    rhs = (
        right.lazy()
        .select(*keys, right_on, *wanted)
        .rename(renamed)
        .with_columns(pl.col(right_on).alias("__pointline_right_time"))
        .rename({right_on: matched_time})
    )
    # The right side is sorted stably by time: equal times keep stored (file, line) order, and a
    # backward as-of join takes the last row at a time.
    joined = lhs.sort(left_on, maintain_order=True).join_asof(
        rhs.sort(matched_time, maintain_order=True),
        left_on=left_on,
        right_on="__pointline_right_time",
        by=keys or None,
        strategy="backward",
        tolerance=_tolerance_for(left, left_on, tolerance),
        allow_exact_matches=allow_exact,
        check_sortedness=False,
    )
    return joined.sort(row).drop(row, "__pointline_right_time", strict=False)


def align(
    frames: Mapping[str, Frame] | Sequence[tuple[str, Frame]],
    *,
    on: str = "ts_local",
    by: str | Sequence[str] | None = "symbol",
    method: str = "asof",
    tolerance: Tolerance = None,
    allow_exact: bool = False,
    every: str | dt.timedelta | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> pl.LazyFrame:
    """Put several frames on one time line. Without `every`, the first frame is the spine and
    every other frame is as-of joined onto it (backward, see the module rules), its columns
    prefixed `<name>_`. With `every` (e.g. `"1m"`) and `start`/`end`, the spine is the grid
    `[start, end)` (crossed with the `by` values of all frames) and every frame is sampled on it:
    the last value known at each grid point.

    >>> import polars as pl
    >>> from pointline.research.joins import align
    >>> bars = pl.DataFrame({"symbol": ["X"] * 3, "ts_local_us": [60, 120, 180], "close": [1.0, 2.0, 3.0]})
    >>> funding = pl.DataFrame({"symbol": ["X"], "ts_local_us": [100], "funding_rate": [0.01]})
    >>> align({"bar": bars, "fund": funding}, on="ts_local_us").collect()["fund_funding_rate"].to_list()
    [None, 0.01, 0.01]
    >>> grid = align({"bar": bars}, on="ts_local_us", every="60us", start=60, end=240, allow_exact=True)
    >>> grid.collect()["bar_close"].to_list()
    [1.0, 2.0, 3.0]
    """
    if method != "asof":
        raise ValueError(
            f"method {method!r} is not offered: only 'asof' (backward) joins are point-in-time correct; "
            "forward or nearest matches would read values that were not known yet"
        )
    named = list(frames.items()) if isinstance(frames, Mapping) else list(frames)
    if not named:
        raise ValueError("align needs at least one frame")
    keys = [] if by is None else [by] if isinstance(by, str) else list(by)
    if every is not None:
        spine, time_name = _grid(named, on, keys, every, start, end), None
        rest = named
    else:
        (_, first), rest = named[0], named[1:]
        spine, time_name = first.lazy(), _time_column(first, on)
    out = spine
    for name, frame in rest:
        out = asof_backward(
            out,
            frame,
            on=time_name or on,
            by=keys or None,
            tolerance=tolerance,
            allow_exact=allow_exact,
            prefix=f"{name}_",
        )
    return out


def _grid(
    named: list[tuple[str, Frame]],
    on: str,
    keys: list[str],
    every: str | dt.timedelta,
    start: TimeLike | None,
    end: TimeLike | None,
) -> pl.LazyFrame:
    """Grid points `[start, end)` every `every`, typed like the frames' time column, crossed with
    the union of the `by` values of all frames."""
    if start is None or end is None:
        raise ValueError("a grid (every=...) needs start and end")
    step, lo, hi = parse_duration_us(every), to_us(start), to_us(end)
    if step <= 0:
        raise ValueError(f"every must be positive, got {every!r}")
    first = named[0][1]
    column = _time_column(first, on)
    points = pl.LazyFrame({column: pl.int_range(lo, hi, step, dtype=pl.Int64, eager=True)})
    dtype = first.collect_schema()[column]
    if isinstance(dtype, pl.Datetime):
        points = points.select(pl.col(column).cast(pl.Datetime("us")).dt.replace_time_zone(dtype.time_zone))
    if not keys:
        return points
    values = pl.concat([f.lazy().select(keys) for _, f in named]).unique().sort(keys)
    return values.join(points, how="cross").sort(column, *keys)


class JoinsMixin:
    """The join helpers as methods of `Research` (loaders plus the rules above)."""

    def trades_with_quotes(
        self: Research,
        exchange: str,
        symbol: str | Sequence[str],
        start: TimeLike,
        end: TimeLike,
        *,
        tolerance: Tolerance = "1m",
        allow_exact: bool = False,
        decoded: bool = True,
        lazy: bool = False,
    ) -> Frame:
        """Each trade with the quote prevailing just before it (bid/ask price and size, and the
        quote's own time as `quote_ts_local`); no quote within `tolerance` gives nulls. Quotes
        are read from `start - tolerance`, so a trade at `start` still finds its quote.

        >>> import pointline.research as pr
        >>> df = pr.trades_with_quotes("binance", "ETHUSDT", "2024-05-01T10:00", "2024-05-01T11:00")
        >>> (df["quote_ts_local"] < df["ts_local"]).all()  # strictly before: never the future
        True
        >>> {"price", "bid_price", "ask_price"} <= set(df.columns)
        True
        """
        start_us, end_us = self._window(exchange, start, end)
        lookback = parse_duration_us(tolerance) if tolerance is not None else 86_400_000_000
        trades = self.load("trades", exchange, symbol, start_us, end_us, decoded=False, lazy=True)
        quotes = self.load("quotes", exchange, symbol, max(start_us - lookback, 0), end_us, decoded=False, lazy=True)
        joined = asof_backward(
            trades,
            quotes.select("symbol", "ts_local_us", *QUOTE_COLUMNS),
            on="ts_local_us",
            tolerance=tolerance,
            allow_exact=allow_exact,
        ).rename({"ts_local_us_matched": "quote_ts_local_us"})
        return _finish(joined, decoded, lazy)

    def universe(self: Research, asset_class: str | Sequence[str], date: TimeLike) -> pl.DataFrame:
        """Instruments of an asset class tradable on `date`: active exchanges of the class that
        trade that day (dim_trading_calendar, where the lake has it) and their dim_symbol versions
        valid at the start of that exchange-local trading day (no instrument listed later that
        day: that would be known only later).

        >>> import pointline.research as pr
        >>> u = pr.universe("crypto-derivatives", "2024-05-01")
        >>> sorted(set(u["exchange"])), "BTCUSDT" in u["exchange_symbol"].to_list()
        (['binance-futures', 'deribit'], True)
        """
        symbols = self.list_symbols(asset_class=asset_class, as_of=date)
        active = set(self.list_exchanges(asset_class)["exchange"].to_list())
        symbols = symbols.filter(pl.col("exchange").is_in(sorted(active)))
        day = dt.date.fromisoformat(str(date)[:10]) if not isinstance(date, dt.date) else date
        closed = [ex for ex in sorted(set(symbols["exchange"].to_list())) if not self._trades_on(ex, day)]
        return symbols.filter(~pl.col("exchange").is_in(closed)).sort("exchange", "exchange_symbol")

    def cross_sectional(
        self: Research,
        table: str,
        date: TimeLike,
        columns: Sequence[str] | None = None,
        *,
        exchange: str | Sequence[str] | None = None,
        as_of: TimeLike | None = None,
        decoded: bool = True,
    ) -> pl.DataFrame:
        """One row per instrument of `table` on trading date `date` (every exchange, or the given
        ones): its last row of the day in time order, or its last row strictly before `as_of`.
        Instruments are `symbol_id`s (a metadata change that day gives one row per version), or
        the table's own key (e.g. `base_asset` for dim_asset_stats).

        >>> import pointline.research as pr
        >>> cs = pr.cross_sectional("derivative_ticker", "2024-05-01", ["symbol", "mark_price", "funding_rate"])
        >>> cs.columns[:3], cs["symbol_id"].is_unique().all()
        (['exchange', 'symbol_id', 'symbol'], True)
        """
        from pointline.research.core import order_keys, stored_name
        from pointline.schemas import get_table_spec

        spec = get_table_spec(table)
        if "date" not in spec.partition_by:
            raise ValueError(f"{table} is not partitioned by date; cross sections need a dated table")
        day = dt.date.fromisoformat(str(date)[:10]) if not isinstance(date, dt.date) else date
        key = ["exchange", "symbol_id"] if "symbol_id" in spec.names else [spec.sort_by[0]]
        dtable = self.lake.delta_table(table)
        lf = spec.empty().lazy() if dtable is None else pl.scan_delta(dtable, storage_options=self.lake.storage_options)
        lf = lf.filter(pl.col("date") == day)
        if exchange is not None:
            lf = lf.filter(pl.col("exchange").is_in([exchange] if isinstance(exchange, str) else list(exchange)))
        if as_of is not None and spec.time_axis:
            lf = lf.filter(pl.col(spec.time_axis) < to_us(as_of))
        wanted = [stored_name(c, spec) for c in columns] if columns else [c for c in spec.names if c not in key]
        last = (
            lf.sort(order_keys(spec) if spec.time_axis else key, maintain_order=True)
            .group_by(key, maintain_order=True)
            .agg(pl.col([c for c in wanted if c not in key]).last())
            .sort(key)
        )
        return _finish(last, decoded, lazy=False)

    # ---- small internals ---------------------------------------------------------------
    def _window(self: Research, exchange: str, start: TimeLike, end: TimeLike) -> tuple[int, int]:
        from pointline.research.times import window_us

        return window_us(start, end, self.timezone(exchange))

    def _trades_on(self: Research, exchange: str, day: dt.date) -> bool:
        """Whether the exchange trades on `day`; True when the lake has no calendar for it."""
        calendar = self.dimension("dim_trading_calendar")
        rows = calendar.filter((pl.col("exchange") == exchange) & (pl.col("date") == day))
        return rows.is_empty() or bool(rows["is_trading_day"].item())


def _finish(lf: pl.LazyFrame, decoded: bool, lazy: bool) -> Frame:
    from pointline.research.core import decode

    if decoded:
        lf = decode(lf)  # type: ignore[assignment]
    return lf if lazy else lf.collect()
