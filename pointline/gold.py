"""What every Gold builder shares: check outcomes, the stored-schema check, OHLC invariants and
data-version hashing (no Dagster import; docs/gold-contract.md is the contract).

A Gold table is a pure function of the Silver partitions it reads (and, for bars, of the state
the previous day left in `bar_carry`); its data version is a hash of exactly those inputs, so it
changes when they change and only then.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from pointline.checks import CheckOutcome
from pointline.lake import Lake
from pointline.numbers import EXACT
from pointline.schemas import DAILY_OHLCV, NOTIONAL, TableSpec, get_table_spec, validate_frame
from pointline.trading_day import day_window_us

__all__ = [
    "CheckOutcome",
    "DAILY_OHLCV_CHECKS",
    "DAILY_OHLCV_CODE_VERSION",
    "GoldCheck",
    "SourcePartition",
    "build_daily_ohlcv",
    "check_daily_ohlcv",
    "check_ohlc",
    "check_stored_schema",
    "data_version",
    "klines_daily",
    "sample",
    "trades_daily",
]


@dataclass(frozen=True)
class GoldCheck:
    """A Gold check's declaration: the asset layer turns it into an AssetCheckSpec."""

    description: str
    blocking: bool = True
    warn_only: bool = False


@dataclass(frozen=True)
class SourcePartition:
    """One Silver (or Gold) partition a Gold partition was built from, as lineage.

    `data_version` is the Dagster data version of its latest materialization (None when the
    Dagster instance never materialized it, e.g. a lake written elsewhere); `delta_version` is the
    table's Delta version at the read, the fallback identity of an input without a data version.
    """

    table: str
    partition: str
    data_version: str | None
    delta_version: int | None = None

    def identity(self) -> str:
        return self.data_version if self.data_version is not None else f"delta:{self.delta_version}"


def data_version(code_version: str, parts: dict[str, object], sources: list[SourcePartition]) -> str:
    """Hash of the code version, the build's parameters and every input's identity (order-free)."""
    payload = {
        "code": code_version,
        "parts": parts,
        "sources": sorted([s.table, s.partition, s.identity()] for s in sources),
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def sample(df: pl.DataFrame, n: int = 5) -> str:
    return json.dumps(df.head(n).to_dicts(), default=str)


def check_stored_schema(lake: Lake, spec: TableSpec) -> CheckOutcome:
    """The stored table's schema (from the Delta log) against the registry."""
    try:
        validate_frame(pl.DataFrame(schema=lake.scan(spec.name).collect_schema()), spec)
        return CheckOutcome(True, "stored table matches the schema registry", {"columns": len(spec.columns)})
    except ValueError as exc:
        return CheckOutcome(False, str(exc), {"problems": str(exc)})


def ohlc_violations(df: pl.DataFrame, volume: str = "volume", buy_volume: str | None = None) -> pl.DataFrame:
    """Rows breaking low <= open, close <= high, a positive trade count or volume in [0, ...]."""
    bad = (
        (pl.col("low") > pl.col("open"))
        | (pl.col("low") > pl.col("close"))
        | (pl.col("high") < pl.col("open"))
        | (pl.col("high") < pl.col("close"))
        | (pl.col("low") > pl.col("high"))
        | (pl.col(volume) < 0)
        | (pl.col("trade_count") < 0)
    )
    if buy_volume is not None:
        bad |= (pl.col(buy_volume) < 0) | (pl.col(buy_volume) > pl.col(volume))
    return df.filter(bad.fill_null(True))


def check_ohlc(df: pl.DataFrame, key: list[str], volume: str = "volume", buy_volume: str | None = None) -> CheckOutcome:
    bad = ohlc_violations(df, volume, buy_volume)
    return CheckOutcome(
        bad.is_empty(),
        f"{bad.height} of {df.height} bar(s) break low <= open, close <= high (or have a negative volume)",
        {
            "bad_bars": bad.height,
            "bars": df.height,
            "sample": sample(bad.select(*key, "open", "high", "low", "close", volume)),
        },
    )


# ---- daily_ohlcv ---------------------------------------------------------------------------
# Bump when the daily_ohlcv logic changes: every partition's data version changes with it.
DAILY_OHLCV_CODE_VERSION = "daily-ohlcv-1"
KLINE_SOURCE = "kline_1d"
TRADES_SOURCE = "trades"
_TRADE_ORDER = ["ts_local_us", "file_id", "file_line"]


def trades_daily(lake: Lake, date: dt.date) -> pl.DataFrame:
    """One row per (exchange, symbol, symbol_id) traded on `date`: OHLC in arrival order and exact sums.

    A lazy aggregate over the day's trades partitions of every exchange: only the columns it needs
    are read, and the partitions of other dates are pruned through the Delta log.
    """
    buy_qty = pl.when(pl.col("side") == "buy").then(pl.col("qty")).otherwise(pl.lit(Decimal(0)).cast(EXACT))
    return (
        lake.scan("trades")
        .filter(pl.col("date") == date)
        .group_by("exchange", "symbol", "symbol_id")
        .agg(
            pl.col("price").sort_by(_TRADE_ORDER).first().alias("open"),
            pl.col("price").max().alias("high"),
            pl.col("price").min().alias("low"),
            pl.col("price").sort_by(_TRADE_ORDER).last().alias("close"),
            pl.col("qty").sum().alias("volume"),
            (pl.col("price").cast(NOTIONAL) * pl.col("qty")).sum().alias("quote_volume"),
            buy_qty.sum().alias("taker_buy_volume"),
            pl.len().cast(pl.Int64).alias("trade_count"),
        )
        .sort("exchange", "symbol", "symbol_id")
        .collect()
    )


def klines_daily(lake: Lake, date: dt.date) -> pl.DataFrame:
    """The kline_1d rows of `date`, every exchange (empty when the table does not exist)."""
    if not lake.exists(KLINE_SOURCE):
        return get_table_spec(KLINE_SOURCE).empty()
    return lake.read(KLINE_SOURCE, pl.col("date") == date)


def build_daily_ohlcv(
    date: dt.date,
    klines: pl.DataFrame,
    trades: pl.DataFrame,
    timezones: dict[str, str],
    versions: dict[tuple[str, str], str | None],
) -> pl.DataFrame:
    """daily_ohlcv rows of `date`: the kline_1d row of every (exchange, symbol) that has one, else its
    trades aggregate (`trades_daily`) on the exchange-local day. `versions` maps (source table,
    exchange) to the Silver partition's data version (the lineage column)."""
    from_klines = klines.select(
        "exchange",
        "symbol",
        "symbol_id",
        "ts_open_us",
        "ts_close_us",
        "open",
        "high",
        "low",
        "close",
        "volume",
        pl.col("quote_volume").cast(NOTIONAL),
        pl.col("taker_buy_base_volume").alias("taker_buy_volume"),
        "trade_count",
        pl.lit(KLINE_SOURCE).alias("source"),
    )
    rest = trades.join(from_klines.select("exchange", "symbol").unique(), on=["exchange", "symbol"], how="anti")
    windows = pl.DataFrame(
        [(ex, *day_window_us(date, timezones[ex])) for ex in sorted(set(rest["exchange"]))],
        schema={"exchange": pl.String, "ts_open_us": pl.Int64, "ts_close_us": pl.Int64},
        orient="row",
    )
    from_trades = rest.join(windows, on="exchange", how="left").with_columns(pl.lit(TRADES_SOURCE).alias("source"))
    rows = pl.concat([from_klines, from_trades.select(from_klines.columns)], how="vertical_relaxed")
    lineage = pl.DataFrame(
        [(table, ex, v) for (table, ex), v in sorted(versions.items())],
        schema={"source": pl.String, "exchange": pl.String, "source_data_version": pl.String},
        orient="row",
    )
    out = rows.join(lineage, on=["source", "exchange"], how="left").with_columns(pl.lit(date).alias("date"))
    return out.select(DAILY_OHLCV.names).cast(DAILY_OHLCV.polars_schema).sort(list(DAILY_OHLCV.sort_by))  # type: ignore[arg-type]


DAILY_OHLCV_CHECKS: dict[str, GoldCheck] = {
    "schema_conformance": GoldCheck("Stored daily_ohlcv schema equals the schema registry."),
    "ohlc_consistent": GoldCheck("low <= open, close <= high; volumes and counts non-negative."),
    "one_row_per_symbol": GoldCheck("One row per (exchange, symbol_id) and one source per (exchange, symbol)."),
    "source_choice": GoldCheck(
        "Every (exchange, symbol) with a kline_1d row comes from kline_1d, every other traded one from trades, "
        "and none is missing."
    ),
    "volumes_match_source": GoldCheck(
        "Each row equals its source: the kline_1d row, or the day's trades (volume, notional, taker buys, "
        "trade count, high and low recomputed from the stored trades)."
    ),
}


def _trade_sums(lake: Lake, date: dt.date) -> pl.DataFrame:
    """Exact sums over the stored trades of `date`, computed apart from the build (plain sums only)."""
    return (
        lake.scan("trades")
        .filter(pl.col("date") == date)
        .with_columns((pl.col("price").cast(NOTIONAL) * pl.col("qty")).alias("_notional"))
        .group_by("exchange", "symbol_id")
        .agg(
            pl.col("qty").sum().alias("volume"),
            pl.col("_notional").sum().alias("quote_volume"),
            pl.col("qty").filter(pl.col("side") == "buy").sum().alias("taker_buy_volume"),
            pl.len().cast(pl.Int64).alias("trade_count"),
            pl.col("price").max().alias("high"),
            pl.col("price").min().alias("low"),
        )
        .collect()
    )


def _mismatches(stored: pl.DataFrame, expected: pl.DataFrame, keys: list[str], cols: list[str]) -> pl.DataFrame:
    joined = stored.select(*keys, *cols).join(expected.select(*keys, *cols), on=keys, how="left", suffix="_source")
    return joined.filter(pl.any_horizontal([pl.col(c).ne_missing(pl.col(f"{c}_source")) for c in cols]))


def check_daily_ohlcv(lake: Lake, date: dt.date, klines: pl.DataFrame, trades: pl.DataFrame) -> dict[str, CheckOutcome]:
    """Every DAILY_OHLCV_CHECKS check of the stored partition against the Silver it was built from."""
    stored = lake.read_partition("daily_ohlcv", {"date": date})
    key = ["exchange", "symbol", "symbol_id"]
    dupes = stored.filter(pl.struct("exchange", "symbol_id").is_duplicated())
    mixed = stored.group_by("exchange", "symbol").agg(pl.col("source").n_unique().alias("n")).filter(pl.col("n") > 1)

    kline_keys = klines.select("exchange", "symbol").unique()
    wanted = pl.concat(
        [
            kline_keys.with_columns(pl.lit(KLINE_SOURCE).alias("source")),
            trades.select("exchange", "symbol")
            .unique()
            .join(kline_keys, on=["exchange", "symbol"], how="anti")
            .with_columns(pl.lit(TRADES_SOURCE).alias("source")),
        ]
    )
    have = stored.select("exchange", "symbol", "source").unique()
    missing = wanted.join(have, on=["exchange", "symbol", "source"], how="anti")
    extra = have.join(wanted, on=["exchange", "symbol", "source"], how="anti")

    kline_cols = ["ts_open_us", "ts_close_us", "open", "high", "low", "close", "volume", "trade_count"]
    kline_expected = klines.select(*key, *kline_cols, pl.col("quote_volume").cast(NOTIONAL))
    kline_bad = _mismatches(
        stored.filter(pl.col("source") == KLINE_SOURCE), kline_expected, key, [*kline_cols, "quote_volume"]
    )
    sums = ["volume", "quote_volume", "taker_buy_volume", "trade_count", "high", "low"]
    trade_bad = _mismatches(
        stored.filter(pl.col("source") == TRADES_SOURCE), _trade_sums(lake, date), ["exchange", "symbol_id"], sums
    )
    by_source = dict(stored.group_by("source").len().sort("source").iter_rows())
    return {
        "schema_conformance": check_stored_schema(lake, DAILY_OHLCV),
        "ohlc_consistent": check_ohlc(stored, key, "volume", "taker_buy_volume"),
        "one_row_per_symbol": CheckOutcome(
            dupes.is_empty() and mixed.is_empty(),
            f"{dupes.height} duplicate (exchange, symbol_id) row(s), {mixed.height} symbol(s) with two sources",
            {"duplicates": dupes.height, "mixed_sources": mixed.height, "sample": sample(dupes.select(key))},
        ),
        "source_choice": CheckOutcome(
            missing.is_empty() and extra.is_empty(),
            f"{missing.height} (exchange, symbol) missing or from the wrong source, {extra.height} unexpected"
            if missing.height or extra.height
            else f"every symbol from the right source: {by_source}",
            {"missing": sample(missing, 10), "unexpected": sample(extra, 10), "rows_by_source": json.dumps(by_source)},
        ),
        "volumes_match_source": CheckOutcome(
            kline_bad.is_empty() and trade_bad.is_empty(),
            f"{kline_bad.height} row(s) differ from kline_1d, {trade_bad.height} from the trades"
            if kline_bad.height or trade_bad.height
            else f"every row equals its source ({stored.height} rows)",
            {"kline_mismatches": kline_bad.height, "trade_mismatches": trade_bad.height, "sample": sample(trade_bad)},
        ),
    }
