"""Time, tick, volume and dollar bars from trades: the `bars` Gold table (no Dagster import).

Semantics (docs/gold-contract.md, SPEC section 9 item 11):
- A bar covers the half-open window [ts_start_us, ts_end_us) of trade arrival times
  (`ts_local_us`, the trades time axis); ts_end_us is the bar-end timestamp and the time axis.
- Time bars: windows on a grid of `interval` anchored at the Unix epoch; empty windows give no bar.
- Tick, volume and dollar bars accumulate trades count, quantity or price x qty from zero and
  close at the first timestamp at which the accumulated amount reaches the threshold; every
  trade of that timestamp belongs to the bar (trades sharing a microsecond arrive as one message
  and a time window cannot split them), so ts_end_us = that timestamp + 1 and the next bar
  starts there: windows tile time without gaps or overlaps.
- A bar belongs to the trading date of its last instant (ts_end_us - 1), i.e. the day whose
  trades closed it. What is still open at the end of a day is the day's carry (`bar_carry`); the
  next day starts from it. So a bar spanning midnight is built once, by the day it closes on,
  from the carried aggregates plus that day's trades: rebuilding day D never changes day D-1.
- Exact throughout: Decimal(38, 9) prices and quantities, Decimal(38, 18) notional; thresholds
  are compared as integers at those scales.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from bisect import bisect_left
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from itertools import accumulate
from pathlib import Path

import numpy as np
import polars as pl

from pointline.config import ConfigError, config_dir
from pointline.gold import CheckOutcome, GoldCheck, check_ohlc, check_stored_schema, sample
from pointline.lake import Lake, sort_rows
from pointline.numbers import EXACT
from pointline.schemas import BAR_CARRY, BARS, KLINE_INTERVALS_US, NOTIONAL
from pointline.trading_day import day_window_us, trading_date_expr

__all__ = [
    "BAR_KINDS",
    "BARS_CODE_VERSION",
    "BAR_CHECKS",
    "BarBuild",
    "BarSpec",
    "TRADE_COLUMNS",
    "bar_specs",
    "build_bars",
    "check_bars",
    "load_bar_specs",
    "parse_bar_spec",
]

# Bump when the bar algorithm changes: every bars partition's data version changes with it.
BARS_CODE_VERSION = "bars-1"

BAR_KINDS = ("time", "tick", "volume", "dollar")
_SCALE = {"tick": 0, "volume": 9, "dollar": 18}  # integer scale of each kind's measure
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_US = 1_000_000
_NO_END = 2**63 - 1

TRADE_COLUMNS = ["symbol", "symbol_id", "ts_local_us", "side", "price", "qty", "file_id", "file_line"]
_TRADE_ORDER = ["symbol_id", "ts_local_us", "file_id", "file_line"]


@dataclass(frozen=True)
class BarSpec:
    """One bar family: a name (asset `bars_<name>`, partition value of `bars`), a kind and a threshold.

    `threshold` is seconds for time bars (from `interval`), trades for tick bars, quantity for volume
    bars and price x qty for dollar bars; `overrides` maps exchange symbols to their own threshold.
    `start_date` is where the chain of bars starts (no bars before it; no carry into it).
    """

    name: str
    kind: str
    threshold: Decimal
    overrides: tuple[tuple[str, Decimal], ...] = ()
    start_date: dt.date | None = None
    _override_map: dict[str, Decimal] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_override_map", dict(self.overrides))

    def threshold_for(self, symbol: str) -> Decimal:
        return self._override_map.get(symbol, self.threshold)

    def scaled(self, threshold: Decimal) -> int:
        """The threshold as an integer at the scale of the kind's measure."""
        return int(threshold.scaleb(_SCALE[self.kind]))

    @property
    def interval_us(self) -> int:
        return int(self.threshold.scaleb(6))

    def fingerprint(self) -> str:
        """Everything that changes the bars of this spec, as text (part of the code version)."""
        overrides = ",".join(f"{s}={v}" for s, v in sorted(self.overrides))
        return f"{self.kind}:{self.threshold}:{overrides}:{self.start_date or ''}"

    def carries(self, date: dt.date, timezone: str) -> bool:
        """Can a bar be open at the start of `date`? Always for information-driven bars; for time
        bars only when local midnight is not on the grid (e.g. 1h bars in a +05:30 timezone)."""
        if self.kind != "time":
            return True
        return day_window_us(date, timezone)[0] % self.interval_us != 0


def _decimal(value: object, where: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"{where}: {value!r} is not a number") from None
    if not number.is_finite() or number <= 0:
        raise ConfigError(f"{where}: {value!r} must be a positive number")
    return number


def _threshold(kind: str, value: object, where: str) -> Decimal:
    number = _decimal(value, where)
    if number != number.scaleb(_SCALE[kind]).to_integral_value().scaleb(-_SCALE[kind]):
        raise ConfigError(f"{where}: {value!r} has more than {_SCALE[kind]} decimals, the exactness of a {kind} bar")
    return Decimal(format(number.normalize(), "f"))  # plain digits: 1000, not 1E+3


def parse_bar_spec(raw: dict, where: str = "[[gold.bars]]") -> BarSpec:
    """One `[[gold.bars]]` table of config/lake.toml as a BarSpec; ConfigError names what is wrong."""
    known = {"name", "kind", "interval", "threshold", "overrides", "start_date"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
    name = str(raw.get("name", ""))
    if not _NAME.match(name):
        raise ConfigError(f"{where}: name {name!r} must be lower-case letters, digits and underscores")
    where = f"{where} {name}"
    kind = raw.get("kind")
    if kind not in BAR_KINDS:
        raise ConfigError(f"{where}: kind {kind!r} must be one of {list(BAR_KINDS)}")
    overrides: tuple[tuple[str, Decimal], ...] = ()
    if kind == "time":
        interval = raw.get("interval")
        if interval not in KLINE_INTERVALS_US or "threshold" in raw or "overrides" in raw:
            raise ConfigError(f"{where}: time bars take interval = one of {list(KLINE_INTERVALS_US)}, no threshold")
        threshold = Decimal(KLINE_INTERVALS_US[interval] // _US)
    else:
        if "interval" in raw or "threshold" not in raw:
            raise ConfigError(f"{where}: {kind} bars take a threshold (a number as text), no interval")
        threshold = _threshold(kind, raw["threshold"], f"{where} threshold")
        table = raw.get("overrides", {})
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: overrides must be a table of symbol = threshold")
        overrides = tuple(
            sorted((str(sym), _threshold(kind, val, f"{where} overrides.{sym}")) for sym, val in table.items())
        )
    start = raw.get("start_date")
    if start is not None and not isinstance(start, dt.date):
        try:
            start = dt.date.fromisoformat(str(start))
        except ValueError:
            raise ConfigError(f"{where}: start_date {start!r} is not a date") from None
    return BarSpec(name, kind, threshold, overrides, start)


def load_bar_specs(path: Path | None = None) -> tuple[BarSpec, ...]:
    """Every `[[gold.bars]]` of config/lake.toml (none when the section is absent)."""
    path = path or config_dir() / "lake.toml"
    with open(path, "rb") as fh:
        raw = tomllib.load(fh).get("gold", {}).get("bars", [])
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: gold.bars must be an array of tables ([[gold.bars]])")
    specs = tuple(parse_bar_spec(item, f"{path}: [[gold.bars]] #{n + 1}") for n, item in enumerate(raw))
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{path}: duplicate bar spec name(s) {dupes}")
    return specs


@lru_cache(maxsize=8)
def _cached_specs(path: str) -> tuple[BarSpec, ...]:
    return load_bar_specs(Path(path))


def bar_specs() -> tuple[BarSpec, ...]:
    return _cached_specs(str(config_dir() / "lake.toml"))


# ---- building ------------------------------------------------------------------------------
@dataclass
class BarBuild:
    bars: pl.DataFrame  # closed bars, BARS schema
    carry: pl.DataFrame  # open at the end of the day, BAR_CARRY schema
    trades: int  # trades read


def _zero(dtype: pl.DataType) -> pl.Expr:
    return pl.lit(Decimal(0)).cast(dtype)


def _prepare(trades: pl.DataFrame) -> pl.DataFrame:
    return sort_rows(
        trades.select(TRADE_COLUMNS), _TRADE_ORDER
    ).with_columns(  # no sort when stored in order (Silver is)
        (pl.col("price").cast(NOTIONAL) * pl.col("qty")).alias("notional"),
        pl.when(pl.col("side") == "buy").then(pl.col("qty")).otherwise(_zero(EXACT)).alias("buy_qty"),
    )


def _measure(t: pl.DataFrame, kind: str) -> list[int]:
    """Each trade's amount as an exact integer at the kind's scale."""
    if kind == "tick":
        return [1] * t.height
    column = "qty" if kind == "volume" else "notional"
    return t[column].to_physical().to_list()  # Decimal's unscaled integers


def _carry_measure(carry: dict, kind: str) -> int:
    if kind == "tick":
        return int(carry["trade_count"])
    value = carry["volume"] if kind == "volume" else carry["dollar_volume"]
    return int(Decimal(value).scaleb(_SCALE[kind]))


def _information_bar_ids(t: pl.DataFrame, spec: BarSpec, carry_in: dict[int, dict]) -> pl.DataFrame:
    """Assign each trade (sorted by symbol_id, time, lineage) its bar: `bar_id` and `closed`.

    Amounts accumulate from the carried amount over exact prefix sums (Python integers: no
    overflow); a bar closes at the end of the timestamp group holding the first trade at which it
    reaches the threshold (one bisect per bar). Amounts are non-negative, so that group is the
    first whose end reaches it: trades sharing a microsecond are never split.
    """
    n = t.height
    sids = t["symbol_id"].to_numpy()
    ts = t["ts_local_us"].to_numpy()
    group_end = np.ones(n, dtype=bool)  # last trade of its (symbol_id, timestamp) group
    if n > 1:
        group_end[:-1] = (sids[1:] != sids[:-1]) | (ts[1:] != ts[:-1])
    ends = np.flatnonzero(group_end)
    end_of = ends[np.cumsum(np.concatenate([[0], group_end[:-1]])) if n else np.array([], dtype=np.int64)]
    measure = _measure(t, spec.kind)
    symbols = t["symbol"]
    bar_no = np.zeros(n, dtype=np.int64)
    closed = np.zeros(n, dtype=bool)
    edges = (np.flatnonzero(np.diff(sids)) + 1).tolist() if n else []
    for a, b in zip([0, *edges], [*edges, n], strict=True):
        if a == b:
            continue
        carry = carry_in.get(int(sids[a]))
        threshold = spec.scaled(spec.threshold_for(symbols[a]))
        cum = list(accumulate(measure[a:b], initial=_carry_measure(carry, spec.kind) if carry else 0))[1:]
        closes: list[int] = []
        base, lo = 0, 0
        while True:
            j = bisect_left(cum, base + threshold, lo)
            if j >= len(cum):
                break
            j = int(end_of[a + j]) - a  # the whole timestamp group closes the bar
            closes.append(j)
            base, lo = cum[j], j + 1
        no = np.searchsorted(np.asarray(closes, dtype=np.int64), np.arange(b - a), side="left")
        bar_no[a:b] = (int(carry["bar_id"]) if carry else 0) + no
        closed[a:b] = no < len(closes)
    return t.with_columns(pl.Series("bar_id", bar_no), pl.Series("closed", closed))


_PART_COLUMNS = {
    "symbol": pl.String(),
    "symbol_id": pl.Int64(),
    "bar_id": pl.Int64(),
    "ts_start_us": pl.Int64(),
    "ts_first_us": pl.Int64(),
    "ts_last_us": pl.Int64(),
    "start_date": pl.Date(),
    "open": EXACT,
    "high": EXACT,
    "low": EXACT,
    "close": EXACT,
    "volume": EXACT,
    "buy_volume": EXACT,
    "dollar_volume": NOTIONAL,
    "trade_count": pl.Int64(),
    "closed": pl.Boolean(),
    "carried": pl.Boolean(),
}


def _trade_parts(t: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """The day's trades aggregated per (symbol_id, bar_id): partial bars."""
    return (
        t.group_by("symbol_id", "bar_id", maintain_order=True)
        .agg(
            pl.col("symbol").last(),
            pl.col("ts_local_us").min().alias("ts_first_us"),
            pl.col("ts_local_us").max().alias("ts_last_us"),
            pl.col("price").first().alias("open"),
            pl.col("price").max().alias("high"),
            pl.col("price").min().alias("low"),
            pl.col("price").last().alias("close"),
            pl.col("qty").sum().alias("volume"),
            pl.col("buy_qty").sum().alias("buy_volume"),
            pl.col("notional").sum().alias("dollar_volume"),
            pl.len().cast(pl.Int64).alias("trade_count"),
            pl.col("closed").any(),
        )
        .with_columns(
            pl.lit(None, pl.Int64).alias("ts_start_us"),
            trading_date_expr("ts_first_us", timezone).alias("start_date"),
            pl.lit(False).alias("carried"),
        )
        .select(list(_PART_COLUMNS))
        .cast(_PART_COLUMNS)  # type: ignore[arg-type]
    )


def _carry_parts(carry: pl.DataFrame) -> pl.DataFrame:
    return carry.with_columns(pl.lit(False).alias("closed"), pl.lit(True).alias("carried")).select(list(_PART_COLUMNS))


def _merge(parts: pl.DataFrame) -> pl.DataFrame:
    """Carried partial bar first, then the day's part: one row per (symbol_id, bar_id)."""
    return (
        parts.sort("symbol_id", "bar_id", "carried", descending=[False, False, True], maintain_order=True)
        .group_by("symbol_id", "bar_id", maintain_order=True)
        .agg(
            pl.col("symbol").last(),
            pl.col("ts_start_us").drop_nulls().first(),
            pl.col("ts_first_us").min(),
            pl.col("ts_last_us").max(),
            pl.col("start_date").min(),
            pl.col("open").drop_nulls().first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").drop_nulls().last(),
            pl.col("volume").sum(),
            pl.col("buy_volume").sum(),
            pl.col("dollar_volume").sum(),
            pl.col("trade_count").sum(),
            pl.col("closed").any(),
            pl.col("carried").any(),
        )
        .sort("symbol_id", "bar_id")
    )


def build_bars(
    trades: pl.DataFrame,
    carry_in: pl.DataFrame,
    spec: BarSpec,
    *,
    date: dt.date,
    exchange: str,
    timezone: str,
    source_data_version: str | None = None,
    carry_data_version: str | None = None,
) -> BarBuild:
    """The bars of spec closing on (date, exchange) and the carry left open at its end.

    `trades` is the trades partition (date, exchange) (at least TRADE_COLUMNS); `carry_in` the
    bar_carry partition of the previous day (empty when the chain starts here).
    """
    day_end = day_window_us(date, timezone)[1]
    t = _prepare(trades)
    carry_rows = {int(r["symbol_id"]): r for r in carry_in.iter_rows(named=True)}
    for row in carry_rows.values():
        if row["threshold"] != spec.threshold_for(row["symbol"]):
            raise ValueError(
                f"bars {spec.name}: the carry from {row['date']} was built with threshold {row['threshold']} for "
                f"{row['symbol']}, the spec now says {spec.threshold_for(row['symbol'])}: rebuild the chain "
                "from its first day (or set start_date)"
            )
    if spec.kind == "time":
        step = spec.interval_us
        t = t.with_columns(
            pl.col("ts_local_us").floordiv(step).alias("bar_id"),
            ((pl.col("ts_local_us").floordiv(step) + 1) * step <= day_end).alias("closed"),
        )
    else:
        t = _information_bar_ids(t, spec, carry_rows)
    parts = pl.concat([_carry_parts(carry_in), _trade_parts(t, timezone)])
    merged = _merge(parts)

    if spec.kind == "time":
        step = spec.interval_us
        merged = merged.with_columns(
            (pl.col("bar_id") * step).alias("ts_start_us"),
            ((pl.col("bar_id") + 1) * step).alias("ts_end_us"),
        ).with_columns((pl.col("ts_end_us") <= day_end).alias("closed"))
    else:
        end = pl.when(pl.col("closed")).then(pl.col("ts_last_us") + 1)
        merged = merged.with_columns(end.alias("ts_end_us")).with_columns(
            pl.coalesce(
                pl.col("ts_start_us"),
                pl.col("ts_end_us").shift(1).over("symbol_id"),
                pl.col("ts_first_us"),
            ).alias("ts_start_us")
        )

    common = [
        pl.lit(spec.name).alias("bar_spec"),
        pl.lit(date).alias("date"),
        pl.lit(exchange).alias("exchange"),
        pl.lit(spec.kind).alias("bar_kind"),
    ]
    closed = merged.filter(pl.col("closed"))
    bars = closed.with_columns(
        *common,
        _thresholds(closed, spec).alias("threshold"),
        pl.lit(source_data_version, pl.String).alias("source_data_version"),
        pl.when(pl.col("carried")).then(pl.lit(carry_data_version, pl.String)).alias("carry_data_version"),
    ).select(BARS.names)

    open_ = merged.filter(~pl.col("closed"))
    if spec.kind != "time":
        # a chain whose last bar closed with no trade after it still carries where the next bar starts
        last = closed.group_by("symbol_id").agg(
            pl.col("symbol").last(), pl.col("ts_end_us").max().alias("ts_start_us"), pl.col("bar_id").max()
        )
        empty = (
            last.join(open_.select("symbol_id"), on="symbol_id", how="anti")
            .with_columns(
                (pl.col("bar_id") + 1).alias("bar_id"),
                *[
                    pl.lit(None, dtype).alias(c)
                    for c, dtype in _PART_COLUMNS.items()
                    if c in ("ts_first_us", "ts_last_us", "start_date", "open", "high", "low", "close")
                ],
                *[_zero(_PART_COLUMNS[c]).alias(c) for c in ("volume", "buy_volume", "dollar_volume")],
                pl.lit(0, pl.Int64).alias("trade_count"),
            )
            .select([c for c in open_.columns if c not in ("closed", "carried", "ts_end_us")])
        )
        open_ = pl.concat([open_.select(empty.columns), empty])
    carry = open_.with_columns(*common, _thresholds(open_, spec).alias("threshold")).select(BAR_CARRY.names)
    return BarBuild(bars=bars.cast(BARS.polars_schema), carry=carry.cast(BAR_CARRY.polars_schema), trades=t.height)  # type: ignore[arg-type]


def _thresholds(frame: pl.DataFrame, spec: BarSpec) -> pl.Series:
    return pl.Series([spec.threshold_for(s) for s in frame["symbol"].to_list()], dtype=EXACT)


# ---- checks of a stored partition ----------------------------------------------------------
BAR_CHECKS: dict[str, GoldCheck] = {
    "schema_conformance": GoldCheck("Stored bars and bar_carry schemas equal the schema registry."),
    "ohlc_consistent": GoldCheck(
        "low <= open, close <= high; volumes non-negative, buy volume within volume; ts_start <= first <= "
        "last trade < ts_end; the partition date is the local date of ts_end - 1."
    ),
    "windows_tile": GoldCheck(
        "Time bars sit on their grid; tick/volume/dollar bars are contiguous: each starts where the "
        "previous one (or the carried bar) ended, ids consecutive, the carry continuing the last bar."
    ),
    "volumes_match_trades": GoldCheck(
        "Per bar: volume, buy volume, notional and trade count equal the trades of its window (plus the "
        "carried part); per symbol: bars + carry out - carry in = the day's trades, exactly."
    ),
    "closes_at_threshold": GoldCheck(
        "Each tick/volume/dollar bar reached its threshold, and would not have without its last timestamp."
    ),
}


@dataclass(frozen=True)
class StoredBars:
    bars: pl.DataFrame
    carry_out: pl.DataFrame


def read_stored(lake: Lake, spec: BarSpec, date: dt.date, exchange: str) -> StoredBars:
    values = {"bar_spec": spec.name, "date": date, "exchange": exchange}
    return StoredBars(lake.read_partition("bars", values), lake.read_partition("bar_carry", values))


def _windows_ok(spec: BarSpec, bars: pl.DataFrame, carry_in: pl.DataFrame, carry_out: pl.DataFrame) -> CheckOutcome:
    problems: list[str] = []
    if spec.kind == "time":
        step = spec.interval_us
        off = bars.filter(
            (pl.col("ts_start_us") != pl.col("bar_id") * step) | (pl.col("ts_end_us") - pl.col("ts_start_us") != step)
        )
        dupes = bars.filter(pl.col("bar_id").is_duplicated().over("symbol_id"))
        if off.height:
            problems.append(f"{off.height} time bar(s) off the grid: {sample(off.select('symbol', 'bar_id'))}")
        if dupes.height:
            problems.append(f"{dupes.height} time bar(s) share a window")
        return CheckOutcome(not problems, "; ".join(problems) or "every time bar is one grid window", {})
    chains = pl.concat(
        [
            carry_in.select(
                "symbol_id", "bar_id", "ts_start_us", pl.lit(None, pl.Int64).alias("ts_end_us"), pl.lit(0).alias("k")
            ),
            bars.select("symbol_id", "bar_id", "ts_start_us", "ts_end_us", pl.lit(1).alias("k")),
            carry_out.select(
                "symbol_id", "bar_id", "ts_start_us", pl.lit(None, pl.Int64).alias("ts_end_us"), pl.lit(2).alias("k")
            ),
        ]
    ).sort("symbol_id", "k", "bar_id")
    # carry_in -> first bar shares id and start; then each next id starts at the previous end
    prev_end = pl.col("ts_end_us").shift(1).over("symbol_id")
    prev_id = pl.col("bar_id").shift(1).over("symbol_id")
    prev_k = pl.col("k").shift(1).over("symbol_id")
    with_prev = chains.with_columns(prev_end.alias("prev_end"), prev_id.alias("prev_id"), prev_k.alias("prev_k"))
    from_carry = with_prev.filter(pl.col("prev_k") == 0)
    bad_continue = from_carry.filter(pl.col("bar_id") != pl.col("prev_id"))
    # the carried bar continues: same id; if it closes, its start stays the carried start
    carried_start = carry_in.select("symbol_id", pl.col("ts_start_us").alias("carried_start"))
    bad_start = (
        with_prev.filter(pl.col("k") > 0)
        .join(carried_start, on="symbol_id", how="left")
        .filter(pl.col("prev_k") == 0)
        .filter(pl.col("ts_start_us") != pl.col("carried_start"))
    )
    after_bar = with_prev.filter(pl.col("prev_k") == 1)
    bad_tile = after_bar.filter(
        (pl.col("bar_id") != pl.col("prev_id") + 1) | (pl.col("ts_start_us") != pl.col("prev_end"))
    )
    # every chain seen today (carried in or with a bar) leaves exactly one carry for tomorrow
    seen = pl.concat([carry_in.select("symbol_id"), bars.select("symbol_id")]).unique()
    carried_out = carry_out.group_by("symbol_id").len()
    dropped = seen.join(carried_out, on="symbol_id", how="left").filter(pl.col("len").fill_null(0) != 1)
    for label, frame in (
        (
            "belong to chains that leave no single carry",
            dropped.with_columns(pl.lit(None).alias("bar_id"), pl.lit(None).alias("ts_start_us")),
        ),
        ("do not continue the carried bar", bad_continue),
        ("changed the carried start", bad_start),
        ("leave a gap or overlap", bad_tile),
    ):
        if frame.height:
            problems.append(
                f"{frame.height} bar(s) {label}: {sample(frame.select('symbol_id', 'bar_id', 'ts_start_us'))}"
            )
    return CheckOutcome(
        not problems,
        "; ".join(problems) or "bar windows tile time: each starts where the previous ended, ids consecutive",
        {"bars": bars.height, "chains": chains["symbol_id"].n_unique()},
    )


def _bar_basics(bars: pl.DataFrame, timezone: str) -> CheckOutcome:
    base = check_ohlc(bars, ["symbol", "bar_id"], "volume", "buy_volume")
    in_order = (
        (pl.col("ts_start_us") <= pl.col("ts_first_us"))
        & (pl.col("ts_first_us") <= pl.col("ts_last_us"))
        & (pl.col("ts_last_us") < pl.col("ts_end_us"))
        & (pl.col("trade_count") > 0)
        & (trading_date_expr("_last_instant", timezone) == pl.col("date"))
    )
    flagged = bars.with_columns((pl.col("ts_end_us") - 1).alias("_last_instant")).filter(~in_order.fill_null(False))
    problems = [] if base.passed else [base.description]
    if flagged.height:
        problems.append(f"{flagged.height} bar(s) with times out of order or on another date than ts_end_us - 1")
    return CheckOutcome(
        not problems,
        "; ".join(problems) or "OHLC consistent, times ordered, every bar on the date of its last instant",
        {**base.metadata, "bad_times": flagged.height, "time_sample": sample(flagged.select("symbol", "bar_id"))},
    )


def _window_of_trades(spec: BarSpec, trades: pl.DataFrame, bars: pl.DataFrame, carry_out: pl.DataFrame) -> pl.DataFrame:
    """Each trade with the (symbol_id, bar_id) whose stored window holds it (null when none does)."""
    windows = pl.concat(
        [
            bars.select("symbol_id", "bar_id", "ts_start_us", "ts_end_us"),
            carry_out.select(
                "symbol_id",
                "bar_id",
                "ts_start_us",
                ((pl.col("bar_id") + 1) * spec.interval_us if spec.kind == "time" else pl.lit(_NO_END, pl.Int64)).alias(
                    "ts_end_us"
                ),
            ),
        ]
    ).sort("symbol_id", "ts_start_us")
    t = trades.sort("symbol_id", "ts_local_us")
    joined = t.join_asof(
        windows,
        left_on="ts_local_us",
        right_on="ts_start_us",
        by="symbol_id",
        strategy="backward",
        check_sortedness=False,
    )
    return joined.with_columns(
        pl.when(pl.col("ts_local_us") < pl.col("ts_end_us")).then(pl.col("bar_id")).alias("bar_id")
    )


def _volumes_match(
    spec: BarSpec, trades: pl.DataFrame, bars: pl.DataFrame, carry_in: pl.DataFrame, carry_out: pl.DataFrame
) -> CheckOutcome:
    t = _prepare(trades)
    placed = _window_of_trades(spec, t, bars, carry_out)
    orphans = placed.filter(pl.col("bar_id").is_null())
    sums = ["volume", "buy_volume", "dollar_volume", "trade_count"]
    from_trades = (
        placed.filter(pl.col("bar_id").is_not_null())
        .group_by("symbol_id", "bar_id")
        .agg(
            pl.col("qty").sum().alias("volume"),
            pl.col("buy_qty").sum().alias("buy_volume"),
            pl.col("notional").sum().alias("dollar_volume"),
            pl.len().cast(pl.Int64).alias("trade_count"),
        )
    )
    expected = (
        pl.concat([from_trades, carry_in.select("symbol_id", "bar_id", *sums)], how="vertical_relaxed")
        .group_by("symbol_id", "bar_id")
        .agg(pl.col(sums).sum())
    )
    stored = pl.concat([bars.select("symbol_id", "bar_id", *sums), carry_out.select("symbol_id", "bar_id", *sums)])
    cmp = stored.join(expected, on=["symbol_id", "bar_id"], how="full", suffix="_expected", coalesce=True)
    diff = cmp.filter(pl.any_horizontal([pl.col(c).ne_missing(pl.col(f"{c}_expected")) for c in sums]))
    # carry rows with no trade at all exist only as window starts: nothing to compare
    diff = diff.filter(~((pl.col("trade_count") == 0) & pl.col("trade_count_expected").is_null()))
    per_symbol_in = t.group_by("symbol_id").agg(pl.col("qty").sum(), pl.len().alias("n"))
    passed = orphans.is_empty() and diff.is_empty()
    return CheckOutcome(
        passed,
        f"{diff.height} bar(s) whose sums differ from their trades, {orphans.height} trade(s) in no bar window"
        if not passed
        else f"every bar's sums equal its trades ({t.height} trades, {bars.height} bars)",
        {
            "trades": t.height,
            "bars": bars.height,
            "mismatched_bars": diff.height,
            "orphan_trades": orphans.height,
            "symbols": per_symbol_in.height,
            "sample": sample(diff),
        },
    )


def _closes_at_threshold(spec: BarSpec, trades: pl.DataFrame, bars: pl.DataFrame) -> CheckOutcome:
    if spec.kind == "time":
        return CheckOutcome(True, "time bars close on their grid", {})
    t = _prepare(trades)
    col = {"tick": "trade_count", "volume": "volume", "dollar": "dollar_volume"}[spec.kind]
    last_group = t.group_by("symbol_id", "ts_local_us").agg(
        pl.len().cast(pl.Int64).alias("trade_count"),
        pl.col("qty").sum().alias("volume"),
        pl.col("notional").sum().alias("dollar_volume"),
    )
    joined = bars.join(
        last_group.select("symbol_id", pl.col("ts_local_us").alias("ts_last_us"), pl.col(col).alias("_last")),
        on=["symbol_id", "ts_last_us"],
        how="left",
    )
    threshold = pl.col("threshold").cast(NOTIONAL) if spec.kind == "dollar" else pl.col("threshold")
    if spec.kind == "tick":
        threshold = pl.col("threshold").cast(pl.Int64)
    short = joined.filter((pl.col(col) < threshold).fill_null(True))
    late = joined.filter((pl.col(col) - pl.col("_last") >= threshold).fill_null(True))
    passed = short.is_empty() and late.is_empty()
    return CheckOutcome(
        passed,
        f"{short.height} bar(s) below the threshold, {late.height} bar(s) that should have closed earlier"
        if not passed
        else f"every bar closed at the first timestamp reaching its threshold ({bars.height} bars)",
        {
            "below": short.height,
            "late": late.height,
            "sample": sample(pl.concat([short, late]).select("symbol", "bar_id", col)),
        },
    )


def check_bars(
    lake: Lake,
    spec: BarSpec,
    date: dt.date,
    exchange: str,
    timezone: str,
    trades: pl.DataFrame,
    carry_in: pl.DataFrame,
) -> dict[str, CheckOutcome]:
    """Every BAR_CHECKS check of the stored (bars, bar_carry) partition against the day's trades."""
    stored = read_stored(lake, spec, date, exchange)
    bars, carry_out = stored.bars, stored.carry_out
    schema = check_stored_schema(lake, BARS)
    carry_schema = check_stored_schema(lake, BAR_CARRY) if lake.exists("bar_carry") else schema
    return {
        "schema_conformance": CheckOutcome(
            schema.passed and carry_schema.passed,
            schema.description if not schema.passed else carry_schema.description,
            schema.metadata,
        ),
        "ohlc_consistent": _bar_basics(bars, timezone),
        "windows_tile": _windows_ok(spec, bars, carry_in, carry_out),
        "volumes_match_trades": _volumes_match(spec, trades, bars, carry_in, carry_out),
        "closes_at_threshold": _closes_at_threshold(spec, trades, bars),
    }
