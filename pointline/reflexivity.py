"""reflexivity_bars: dollar bars on perpetuals with the spot market beside them (no Dagster import).

SPEC section 8; semantics (docs/gold-contract.md, docs/join-semantics.md):
- The bars are the `bars` rows of the dollar spec named by config/lake.toml [gold.reflexivity]
  `bar_spec`, for the symbols dim_symbol calls `perpetual`: the bars are built once (with their
  midnight carry) and this table adds columns to them, so the two never disagree.
- Spot pairing is data: the spot exchange comes from [gold.reflexivity.spot_exchanges] (perpetual
  exchange -> spot exchange), the spot instrument is the dim_symbol `spot` row of that exchange
  with the perpetual's base and quote asset, valid at the bar's last instant (ts_end_us - 1; the
  smallest exchange symbol if several). Its trades are matched by exchange symbol (a symbol_id
  change does not interrupt the stream).
- spot_notional = exact sum of price x qty (Decimal(38, 18)) of the spot trades with ts_local_us in
  the bar's half-open window [ts_start_us, ts_end_us); 0 when none traded; null when there is no
  spot instrument (or no spot exchange is configured).
- open_interest, funding_rate, mark_price: per field, the last non-null derivative_ticker value with
  ts_local_us < ts_end_us (a strict as-of on the bar's time axis: the bar is known at ts_end_us and
  a ticker row stamped ts_end_us arrived after its last trade), rows of one microsecond in lineage
  order, the last prevailing; its ts_local_us is kept. Tardis fills ticker fields from several
  channels, so a row may lack a field that is still known: hence per field. Lookback: the bar's
  day and the previous trading day (the previous partition's last value per field), nothing older.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from pathlib import Path

import numpy as np
import polars as pl

from pointline.bars import BarSpec, bar_specs
from pointline.config import ConfigError, config_dir, load_exchanges
from pointline.gold import CheckOutcome, GoldCheck, check_stored_schema, sample
from pointline.lake import Lake
from pointline.numbers import EXACT, RATE
from pointline.schemas import NOTIONAL, REFLEXIVITY_BARS
from pointline.trading_day import date_of_us

__all__ = [
    "REFLEXIVITY_CHECKS",
    "REFLEXIVITY_CODE_VERSION",
    "SPOT_COLUMNS",
    "TICKER_FIELDS",
    "ReflexivitySettings",
    "build_reflexivity",
    "check_reflexivity",
    "load_reflexivity_settings",
    "perpetual_bars",
    "reflexivity_settings",
    "spot_dates",
    "ticker_rows",
]

# Bump when the logic changes: every partition's data version changes with it.
REFLEXIVITY_CODE_VERSION = "reflexivity-1"

TICKER_FIELDS: dict[str, pl.DataType] = {"open_interest": EXACT, "funding_rate": RATE, "mark_price": EXACT}
TICKER_COLUMNS = ["symbol", "ts_local_us", "file_id", "file_line", *TICKER_FIELDS]
SPOT_COLUMNS = ["symbol", "ts_local_us", "price", "qty"]
_DIM_COLUMNS = ["symbol_id", "instrument_type", "base_asset", "quote_asset", "is_inverse"]
_SPOT_SUMS = ["spot_volume", "spot_notional", "spot_trade_count"]


@dataclass(frozen=True)
class ReflexivitySettings:
    """[gold.reflexivity]: the dollar bar spec and the spot exchange of each perpetual exchange."""

    bar_spec: str
    spot_exchanges: tuple[tuple[str, str], ...] = ()

    def spot_exchange_for(self, exchange: str) -> str | None:
        return dict(self.spot_exchanges).get(exchange)

    def fingerprint(self) -> str:
        pairs = ",".join(f"{p}={s}" for p, s in self.spot_exchanges)
        return f"bar_spec={self.bar_spec}:spot={pairs}"


def parse_reflexivity(
    raw: dict, specs: tuple[BarSpec, ...], exchanges: set[str], where: str = "[gold.reflexivity]"
) -> tuple[ReflexivitySettings, BarSpec]:
    """The section as settings plus the dollar BarSpec it names; ConfigError says what is wrong."""
    known = {"bar_spec", "spot_exchanges"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
    name = raw.get("bar_spec")
    spec = next((s for s in specs if s.name == name), None)
    if spec is None:
        raise ConfigError(f"{where}: bar_spec {name!r} names no [[gold.bars]] spec; known: {[s.name for s in specs]}")
    if spec.kind != "dollar":
        raise ConfigError(f"{where}: bar_spec {name!r} is a {spec.kind} spec; reflexivity bars are dollar bars")
    pairs = raw.get("spot_exchanges", {})
    if not isinstance(pairs, dict):
        raise ConfigError(f"{where}: spot_exchanges must be a table of perpetual exchange = spot exchange")
    for perp, spot in pairs.items():
        for name_ in (perp, spot):
            if name_ not in exchanges:
                raise ConfigError(f"{where}.spot_exchanges: {name_!r} is not an exchange of config/exchanges.csv")
        if perp == spot:
            raise ConfigError(f"{where}.spot_exchanges: {perp!r} is paired with itself")
    return ReflexivitySettings(str(name), tuple(sorted((str(p), str(s)) for p, s in pairs.items()))), spec


def load_reflexivity_settings(path: Path | None = None) -> tuple[ReflexivitySettings, BarSpec] | None:
    """[gold.reflexivity] of config/lake.toml with its bar spec; None when the section is absent."""
    path = path or config_dir() / "lake.toml"
    with open(path, "rb") as fh:
        raw = tomllib.load(fh).get("gold", {}).get("reflexivity")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: gold.reflexivity must be a table")
    exchanges = set(load_exchanges(path.parent / "exchanges.csv")["exchange"].to_list())
    return parse_reflexivity(raw, bar_specs(), exchanges, f"{path}: [gold.reflexivity]")


@lru_cache(maxsize=8)
def _cached(path: str) -> tuple[ReflexivitySettings, BarSpec] | None:
    return load_reflexivity_settings(Path(path))


def reflexivity_settings() -> tuple[ReflexivitySettings, BarSpec] | None:
    return _cached(str(config_dir() / "lake.toml"))


# ---- inputs --------------------------------------------------------------------------------
def perpetual_bars(bars: pl.DataFrame, dim_symbol: pl.DataFrame) -> pl.DataFrame:
    """The bars whose symbol_id is a dim_symbol `perpetual`, with its base/quote asset and is_inverse."""
    dims = dim_symbol.select(_DIM_COLUMNS).unique(subset=["symbol_id"], keep="first")
    return (
        bars.join(dims, on="symbol_id", how="inner")
        .filter(pl.col("instrument_type") == "perpetual")
        .drop("instrument_type")
        .sort("symbol_id", "bar_id")
    )


def spot_dates(perp: pl.DataFrame, date: dt.date, timezone: str) -> list[dt.date]:
    """Trading dates of the spot trades partitions the windows touch: local date of the earliest
    ts_start_us .. `date` (empty without bars)."""
    if perp.is_empty():
        return []
    first = date_of_us(int(perp["ts_start_us"].min()), timezone)  # type: ignore[arg-type]
    return [first + dt.timedelta(days=i) for i in range((date - first).days + 1)]


def ticker_rows(day: pl.LazyFrame, previous_day: pl.LazyFrame, symbols: list[str]) -> pl.DataFrame:
    """derivative_ticker rows the as-of values come from: the day's rows of `symbols`, and for each
    field the previous day's last non-null value per symbol (its row, the other fields nulled)."""
    wanted = pl.col("symbol").is_in(symbols)
    tails = []
    for field in TICKER_FIELDS:
        rows = previous_day.filter(wanted & pl.col(field).is_not_null())
        last = rows.group_by("symbol").agg(pl.col("ts_local_us").max())
        tail = (
            rows.join(last, on=["symbol", "ts_local_us"], how="semi")
            .select("symbol", "ts_local_us", "file_id", "file_line", field)
            .sort("symbol", "ts_local_us", "file_id", "file_line")
            .group_by("symbol", maintain_order=True)
            .last()
        )
        tails.append(
            tail.with_columns([pl.lit(None, dtype).alias(f) for f, dtype in TICKER_FIELDS.items() if f != field])
        )
    frames = [t.select(TICKER_COLUMNS) for t in tails] + [day.filter(wanted).select(TICKER_COLUMNS)]
    return pl.concat(pl.collect_all(frames), how="vertical_relaxed").cast(
        {f: dtype for f, dtype in TICKER_FIELDS.items()}  # type: ignore[arg-type]
    )


# ---- building ------------------------------------------------------------------------------
def _spot_symbols(perp: pl.DataFrame, dim_symbol: pl.DataFrame, spot_exchange: str | None) -> pl.DataFrame:
    """Per bar: the spot instrument with the perpetual's base and quote, valid at ts_end_us - 1."""
    keys = perp.select("symbol_id", "bar_id", "base_asset", "quote_asset", "ts_end_us")
    empty = keys.select("symbol_id", "bar_id").with_columns(
        pl.lit(None, pl.String).alias("spot_symbol"), pl.lit(None, pl.Int64).alias("spot_symbol_id")
    )
    if spot_exchange is None:
        return empty.head(0)
    spot = dim_symbol.filter((pl.col("exchange") == spot_exchange) & (pl.col("instrument_type") == "spot")).select(
        "base_asset",
        "quote_asset",
        pl.col("exchange_symbol").alias("spot_symbol"),
        pl.col("symbol_id").alias("spot_symbol_id"),
        "valid_from_us",
        "valid_until_us",
    )
    return (
        keys.join(spot, on=["base_asset", "quote_asset"], how="inner")
        .filter(
            (pl.col("valid_from_us") <= pl.col("ts_end_us") - 1) & (pl.col("ts_end_us") - 1 < pl.col("valid_until_us"))
        )
        .sort("symbol_id", "bar_id", "spot_symbol")
        .group_by("symbol_id", "bar_id", maintain_order=True)
        .first()
        .select(empty.columns)
    )


def _spot_sums(windows: pl.DataFrame, spot_trades: pl.DataFrame) -> pl.DataFrame:
    """Per bar with a spot symbol: exact sums over the spot trades of its window.

    Each perpetual chain's windows tile time, so a backward as-of join of every trade onto the
    window starts of each chain (by chain) finds the one window that can hold it."""
    chains = windows.select("symbol_id", "spot_symbol").unique()
    trades = (
        spot_trades.select(SPOT_COLUMNS)
        .join(chains, left_on="symbol", right_on="spot_symbol", how="inner")
        .sort("ts_local_us")
    )
    right = windows.select(
        "symbol_id", "bar_id", pl.col("spot_symbol").alias("_window_symbol"), "ts_start_us", "ts_end_us"
    ).sort("ts_start_us")
    placed = trades.join_asof(
        right,
        left_on="ts_local_us",
        right_on="ts_start_us",
        by="symbol_id",
        strategy="backward",
        check_sortedness=False,
    ).filter((pl.col("ts_local_us") < pl.col("ts_end_us")) & (pl.col("symbol") == pl.col("_window_symbol")))
    return placed.group_by("symbol_id", "bar_id").agg(
        pl.col("qty").sum().alias("spot_volume"),
        (pl.col("price").cast(NOTIONAL) * pl.col("qty")).sum().alias("spot_notional"),
        pl.len().cast(pl.Int64).alias("spot_trade_count"),
    )


def _asof_ticker(perp: pl.DataFrame, ticker: pl.DataFrame) -> pl.DataFrame:
    """Per bar and field: the last non-null value strictly before ts_end_us and its ts_local_us."""
    out = perp.select("symbol_id", "bar_id", "symbol", "ts_end_us").sort("ts_end_us")
    ordered = ticker.sort("symbol", "ts_local_us", "file_id", "file_line", maintain_order=True)
    for field in TICKER_FIELDS:
        rows = (
            ordered.filter(pl.col(field).is_not_null())
            .unique(subset=["symbol", "ts_local_us"], keep="last", maintain_order=True)  # last row of a microsecond
            .select("symbol", pl.col("ts_local_us").alias(f"{field}_ts_us"), field)
            .sort(f"{field}_ts_us")
        )
        out = out.join_asof(
            rows.with_columns(pl.col(f"{field}_ts_us").alias("_ts")),
            left_on="ts_end_us",
            right_on="_ts",
            by="symbol",
            strategy="backward",
            allow_exact_matches=False,  # strictly before the bar-end timestamp
            check_sortedness=False,
        ).drop("_ts", strict=False)
    return out.drop("symbol", "ts_end_us")


def _versions_since(first: dt.date, date: dt.date, versions: dict[dt.date, str | None]) -> list[str | None]:
    return [versions.get(first + dt.timedelta(days=i)) for i in range((date - first).days + 1)]


def build_reflexivity(
    bars: pl.DataFrame,
    dim_symbol: pl.DataFrame,
    spot_trades: pl.DataFrame,
    ticker: pl.DataFrame,
    *,
    date: dt.date,
    exchange: str,
    timezone: str,
    spot_exchange: str | None,
    source_data_version: str | None,
    spot_versions: dict[dt.date, str | None],
    ticker_versions: list[str | None],
) -> pl.DataFrame:
    """reflexivity_bars rows of (date, exchange).

    `bars` is the `bars` partition (bar_spec, date, exchange); `dim_symbol` the dimension (at least
    the perpetual exchange's and the spot exchange's rows); `spot_trades` the spot exchange's trades
    of `spot_dates` (at least SPOT_COLUMNS); `ticker` the derivative_ticker rows of `ticker_rows`.
    Lineage: the bars partition's data version, the spot partitions' by date, the ticker partitions'
    [date - 1, date]."""
    perp = perpetual_bars(bars, dim_symbol)
    if perp.is_empty():
        return REFLEXIVITY_BARS.empty()
    spot = _spot_symbols(perp, dim_symbol, spot_exchange)
    rows = perp.join(spot, on=["symbol_id", "bar_id"], how="left")
    windows = rows.filter(pl.col("spot_symbol").is_not_null()).select(
        "symbol_id", "bar_id", "spot_symbol", "ts_start_us", "ts_end_us"
    )
    sums = _spot_sums(windows, spot_trades)
    zero = {"spot_volume": EXACT, "spot_notional": NOTIONAL}
    rows = rows.join(sums, on=["symbol_id", "bar_id"], how="left").with_columns(
        *[
            pl.when(pl.col("spot_symbol").is_not_null()).then(pl.col(c).fill_null(pl.lit(0).cast(dtype))).alias(c)
            for c, dtype in zero.items()
        ],
        pl.when(pl.col("spot_symbol").is_not_null())
        .then(pl.col("spot_trade_count").fill_null(0))
        .alias("spot_trade_count"),
    )
    rows = rows.join(_asof_ticker(perp, ticker), on=["symbol_id", "bar_id"], how="left")
    spot_lists = [
        None if symbol is None else _versions_since(date_of_us(ts_start, timezone), date, spot_versions)
        for symbol, ts_start in rows.select("spot_symbol", "ts_start_us").iter_rows()
    ]
    ratio = (
        pl.when((pl.col("spot_notional") > 0) & ~pl.col("is_inverse").fill_null(False))
        .then(pl.col("dollar_volume").cast(pl.Float64) / pl.col("spot_notional").cast(pl.Float64))
        .otherwise(None)
    )
    out = rows.with_columns(
        pl.lit(exchange).alias("exchange"),
        (pl.col("ts_end_us") - pl.col("ts_start_us")).alias("duration_us"),
        pl.col("dollar_volume").alias("perp_notional"),
        pl.lit(spot_exchange, pl.String).alias("spot_exchange"),
        ratio.alias("speculation_ratio"),
        pl.lit(source_data_version, pl.String).alias("source_data_version"),
        pl.Series("spot_data_versions", spot_lists, dtype=pl.List(pl.String)),
        pl.Series("ticker_data_versions", [ticker_versions] * rows.height, dtype=pl.List(pl.String)),
    )
    return (
        out.select(REFLEXIVITY_BARS.names)
        .cast(REFLEXIVITY_BARS.polars_schema)  # type: ignore[arg-type]
        .sort(list(REFLEXIVITY_BARS.sort_by))
    )


# ---- checks of a stored partition ----------------------------------------------------------
REFLEXIVITY_CHECKS: dict[str, GoldCheck] = {
    "schema_conformance": GoldCheck("Stored reflexivity_bars schema equals the schema registry."),
    "rows_match_bars": GoldCheck(
        "One row per bar of a perpetual in the bars partition and none else (counts add up); window, OHLC, "
        "volume, notional, trade count and threshold equal the bar."
    ),
    "spot_notional_matches_trades": GoldCheck(
        "Each bar's spot notional, volume and trade count equal an independent exact sum over the stored spot "
        "trades of its spot symbol in [ts_start_us, ts_end_us); null exactly when there is no spot instrument."
    ),
    "asof_not_from_future": GoldCheck(
        "Open interest, funding rate and mark price are the last non-null derivative_ticker values strictly "
        "before ts_end_us (this or the previous trading day), recomputed independently; none is from the future."
    ),
}

_BAR_COLUMNS = {
    "ts_start_us": "ts_start_us",
    "ts_end_us": "ts_end_us",
    "start_date": "start_date",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "volume": "volume",
    "perp_notional": "dollar_volume",
    "trade_count": "trade_count",
    "threshold": "threshold",
    "symbol": "symbol",
}


def _rows_match(stored: pl.DataFrame, perp: pl.DataFrame) -> CheckOutcome:
    keys = ["symbol_id", "bar_id"]
    expected = perp.select(*keys, *[pl.col(src).alias(dst) for dst, src in _BAR_COLUMNS.items()])
    missing = expected.join(stored, on=keys, how="anti")
    extra = stored.join(expected, on=keys, how="anti")
    cols = list(_BAR_COLUMNS)
    joined = stored.select(*keys, *cols).join(expected, on=keys, how="inner", suffix="_bar")
    differ = joined.filter(pl.any_horizontal([pl.col(c).ne_missing(pl.col(f"{c}_bar")) for c in cols]))
    durations = stored.filter(pl.col("duration_us") != pl.col("ts_end_us") - pl.col("ts_start_us"))
    passed = missing.is_empty() and extra.is_empty() and differ.is_empty() and durations.is_empty()
    return CheckOutcome(
        passed,
        f"{missing.height} perpetual bar(s) missing, {extra.height} row(s) not a perpetual bar, "
        f"{differ.height + durations.height} differing from their bar"
        if not passed
        else f"one row per perpetual bar ({stored.height} rows of {perp['symbol_id'].n_unique()} chain(s))",
        {
            "rows": stored.height,
            "perpetual_bars": perp.height,
            "missing": missing.height,
            "unexpected": extra.height,
            "differing": differ.height + durations.height,
            "sample": sample(pl.concat([missing.select(keys), extra.select(keys), differ.select(keys)])),
        },
    )


def _unscaled(series: pl.Series) -> list[int]:
    return series.to_physical().to_list()


def _spot_matches(stored: pl.DataFrame, spot_trades: pl.DataFrame) -> CheckOutcome:
    """Exact prefix sums in Python integers (scale 9 x scale 9 = scale 18) and binary search per bar."""
    by_symbol: dict[str, tuple[list[int], list[int], list[int]]] = {}
    for (symbol,), part in spot_trades.sort("symbol", "ts_local_us").group_by("symbol", maintain_order=True):
        notional = [p * q for p, q in zip(_unscaled(part["price"]), _unscaled(part["qty"]), strict=True)]
        by_symbol[str(symbol)] = (
            part["ts_local_us"].to_list(),
            list(accumulate(notional, initial=0)),
            list(accumulate(_unscaled(part["qty"]), initial=0)),
        )
    bad: list[dict] = []
    counted = 0
    unscaled = stored.select(
        "symbol_id",
        "bar_id",
        "spot_symbol",
        "ts_start_us",
        "ts_end_us",
        pl.col("spot_notional").to_physical(),  # integers at scale 18
        pl.col("spot_volume").to_physical(),  # integers at scale 9
        "spot_trade_count",
    )
    for row in unscaled.iter_rows(named=True):
        got = (row["spot_notional"], row["spot_volume"], row["spot_trade_count"])
        if row["spot_symbol"] is None:
            if got != (None, None, None):
                bad.append(
                    {"symbol_id": row["symbol_id"], "bar_id": row["bar_id"], "why": "sums without a spot symbol"}
                )
            continue
        ts, notional, qty = by_symbol.get(row["spot_symbol"], ([], [0], [0]))
        lo, hi = bisect_left(ts, row["ts_start_us"]), bisect_left(ts, row["ts_end_us"])
        counted += hi - lo
        if got != (notional[hi] - notional[lo], qty[hi] - qty[lo], hi - lo):
            bad.append({"symbol_id": row["symbol_id"], "bar_id": row["bar_id"], "why": "sums differ"})
    total = int(stored["spot_trade_count"].sum() or 0)
    return CheckOutcome(
        not bad,
        f"{len(bad)} bar(s) whose spot sums differ from the spot trades of their window"
        if bad
        else f"every bar's spot sums equal its window's spot trades ({counted} trades in {stored.height} windows)",
        {
            "bad_bars": len(bad),
            "spot_trades_in_windows": counted,
            "spot_trade_count_total": total,
            "sample": str(bad[:5]),
        },
    )


def _asof_matches(stored: pl.DataFrame, ticker: pl.DataFrame) -> CheckOutcome:
    """Per field and symbol: binary search over the non-null values' times (not an as-of join)."""
    ordered = ticker.sort("symbol", "ts_local_us", "file_id", "file_line", maintain_order=True)
    bad: list[dict] = []
    future = 0
    for field in TICKER_FIELDS:
        series: dict[str, tuple[np.ndarray, list]] = {}
        for (symbol,), part in ordered.filter(pl.col(field).is_not_null()).group_by("symbol", maintain_order=True):
            series[str(symbol)] = (part["ts_local_us"].to_numpy(), part[field].to_list())
        for row in stored.select("symbol", "symbol_id", "bar_id", "ts_end_us", field, f"{field}_ts_us").iter_rows(
            named=True
        ):
            ts, values = series.get(row["symbol"], (np.array([], dtype=np.int64), []))
            i = int(np.searchsorted(ts, row["ts_end_us"], side="left")) - 1  # last before; ties: the last of them
            want = (None, None) if i < 0 else (values[i], int(ts[i]))
            got = (row[field], row[f"{field}_ts_us"])
            if got[1] is not None and got[1] >= row["ts_end_us"]:
                future += 1
            if got != want:
                bad.append({"field": field, "symbol_id": row["symbol_id"], "bar_id": row["bar_id"]})
    passed = not bad and not future
    return CheckOutcome(
        passed,
        f"{future} value(s) from at or after the bar end, {len(bad)} differing from the last ticker value before it"
        if not passed
        else "every as-of value is the last ticker value strictly before its bar's end",
        {"from_future": future, "differing": len(bad), "sample": str(bad[:5])},
    )


def check_reflexivity(
    lake: Lake,
    date: dt.date,
    exchange: str,
    bars: pl.DataFrame,
    dim_symbol: pl.DataFrame,
    spot_trades: pl.DataFrame,
    ticker: pl.DataFrame,
) -> dict[str, CheckOutcome]:
    """Every REFLEXIVITY_CHECKS check of the stored partition against the inputs it was built from."""
    stored = lake.read_partition("reflexivity_bars", {"date": date, "exchange": exchange})
    perp = perpetual_bars(bars, dim_symbol)
    return {
        "schema_conformance": check_stored_schema(lake, REFLEXIVITY_BARS),
        "rows_match_bars": _rows_match(stored, perp),
        "spot_notional_matches_trades": _spot_matches(stored, spot_trades),
        "asof_not_from_future": _asof_matches(stored, ticker),
    }
