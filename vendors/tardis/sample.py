"""Deterministic sample data in the Tardis Bronze layout, for tests, demos and benchmarks.

Two entry points:

* `write_sample_bronze(bronze_root)` writes a small but realistic Tardis tree under
  `bronze_root/tardis/`: trades and quotes for 3 exchanges and 8 symbols, every day, plus one
  instruments snapshot per exchange, with a few deliberately bad rows, one traded symbol
  missing from the instruments metadata and one tick-size change in the middle of the first
  day. It returns a `SampleManifest` saying exactly what was written and where the traps are.
* `write_trades_file(path, n_rows)` writes one big, valid Tardis trades file fast (vectorized
  numpy + polars), for ingestion benchmarks.

Both share one generator and one CSV writer, so every row is formatted the same way:
`exchange,symbol,timestamp,local_timestamp,...` with microsecond UTC timestamps, an exchange
`timestamp` in whole milliseconds 1-200 ms before the `local_timestamp` (arrival), files cut
by arrival time on UTC days (so the first rows of a file carry exchange timestamps of the
previous day), and numbers as plain decimal text with trailing zeros trimmed (`60123.4`,
`0.012`, `2152`), as real Tardis files have them. Files are byte-identical for the same
arguments (gzip header with mtime 0 and no file name).

Pure: no Dagster import. CLI: `python -m vendors.tardis.sample --bronze-root PATH`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import re
import struct
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

__all__ = [
    "TRADES_HEADER",
    "QUOTES_HEADER",
    "TRADE_BAD_KINDS",
    "QUOTE_BAD_KINDS",
    "MarketSpec",
    "SampleFile",
    "TickSizeChange",
    "SampleManifest",
    "SAMPLE_MARKETS",
    "MISSING_SYMBOL",
    "TICK_CHANGE_SYMBOL",
    "write_sample_bronze",
    "write_trades_file",
    "main",
]

VENDOR_DIR = "tardis"
# Column order exactly as in real Tardis CSV files (quotes: see the real huobi-dm-swap file:
# asks before bids, amount before price on the ask side).
TRADES_HEADER = ("exchange", "symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount")
QUOTES_HEADER = (
    "exchange",
    "symbol",
    "timestamp",
    "local_timestamp",
    "ask_amount",
    "ask_price",
    "bid_price",
    "bid_amount",
)

# One bad row of each kind per file (files of the missing symbol excepted, see below).
TRADE_BAD_KINDS = (
    "non_numeric_price",  # price "abc"
    "negative_amount",  # amount "-0.012"
    "invalid_side",  # side "sideways"
    "price_too_precise",  # price with 12 fractional digits (the lake stores 9)
    "empty_local_timestamp",  # local_timestamp ""
)
QUOTE_BAD_KINDS = (
    "crossed_quote",  # bid_price > ask_price (the two prices swapped)
    "empty_both_sides",  # ask_amount, ask_price, bid_price, bid_amount all ""
    "negative_bid_amount",  # bid_amount "-1.234"
)

US_PER_DAY = 86_400_000_000
_US_PER_MINUTE = 60_000_000
_MINUTES_PER_DAY = 1440
_EPOCH = dt.date(1970, 1, 1)
_REFERENCE_DAY = dt.date(2024, 5, 1)  # price levels and trade ids below are as of this day

# Arrival-time layout of a file: the first _STRADDLE_ROWS events arrive in the first
# _HEAD_US after midnight with an exchange lag longer than that, so their exchange timestamps
# fall on the previous UTC day; bad rows are kept out of the first and last _EDGE_ROWS rows.
_STRADDLE_ROWS = 3
_HEAD_US = 30_000
_MIN_LAG_US = 1_000
_MAX_LAG_US = 199_000  # exchange ms-flooring adds < 1 ms, so lags stay within [1, 200) ms
_EDGE_ROWS = 10
_MIN_ROWS_PER_FILE = 2 * _EDGE_ROWS + len(TRADE_BAD_KINDS) + 5

_CSV_CHUNK_ROWS = 100_000
_COMPRESS_THREADS = max(1, min(4, os.cpu_count() or 1))
# gzip member header: magic, deflate, no flags, mtime 0, no extra flags, OS "unknown" (as Python's gzip).
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"

# Reference prices on 2024-05-01, daily volatility, and correlation with BTC.
_ASSETS: dict[str, tuple[float, float, float]] = {
    "BTC": (60_000.0, 0.030, 1.0),
    "ETH": (3_000.0, 0.035, 0.85),
    "SOL": (150.0, 0.050, 0.75),
    "GEN": (100.0, 0.040, 0.50),  # fallback for symbols we do not know
}


@dataclass(frozen=True)
class MarketSpec:
    """How one (exchange, symbol) trades: price/amount grids, sizes, ids, instrument metadata."""

    exchange: str
    symbol: str
    asset: str  # price path in _ASSETS
    base: str
    quote: str
    kind: str  # "spot" | "perpetual"
    price_decimals: int  # prices are integers in units of 10**-price_decimals
    tick_units: int  # current tick size in those units
    amount_decimals: int
    amount_step_units: int  # amount step in units of 10**-amount_decimals
    median_trade_steps: float
    median_quote_steps: float
    spread_p: float  # spread in ticks ~ Geometric(spread_p) (1 tick most of the time)
    basis: float  # premium over the asset's reference price
    trade_id_start: int  # first trade id of _REFERENCE_DAY
    trades_per_day: int  # real daily trade count (trade ids advance by this per day)
    available_since: str
    maker_fee: str
    taker_fee: str
    inverse: bool = False
    contract_multiplier: str | None = None
    settlement: str | None = None
    underlying_index: str | None = None

    @property
    def tick_text(self) -> str:
        return _units_text(self.tick_units, self.price_decimals)

    @property
    def amount_step_text(self) -> str:
        return _units_text(self.amount_step_units, self.amount_decimals)


def _m(exchange: str, symbol: str, asset: str, base: str, quote: str, kind: str, **kw: Any) -> MarketSpec:
    return MarketSpec(exchange=exchange, symbol=symbol, asset=asset, base=base, quote=quote, kind=kind, **kw)


_LINEAR = {"contract_multiplier": "1", "inverse": False}
SAMPLE_MARKETS: tuple[MarketSpec, ...] = (
    # Binance USD-M futures: linear perpetuals.
    _m("binance-futures", "BTCUSDT", "BTC", "BTC", "USDT", "perpetual", price_decimals=1, tick_units=1,
       amount_decimals=3, amount_step_units=1, median_trade_steps=8, median_quote_steps=2500, spread_p=0.9,
       basis=0.0003, trade_id_start=4_871_203_554, trades_per_day=2_400_000,
       available_since="2019-11-17T00:00:00.000Z", maker_fee="0.0002", taker_fee="0.0005",
       settlement="USDT", **_LINEAR),
    _m("binance-futures", "ETHUSDT", "ETH", "ETH", "USDT", "perpetual", price_decimals=2, tick_units=1,
       amount_decimals=3, amount_step_units=1, median_trade_steps=150, median_quote_steps=40_000, spread_p=0.85,
       basis=0.0003, trade_id_start=3_950_118_207, trades_per_day=1_700_000,
       available_since="2019-11-27T00:00:00.000Z", maker_fee="0.0002", taker_fee="0.0005",
       settlement="USDT", **_LINEAR),
    # Tick 0.001 until the middle of the first sample day, 0.01 after (TICK_CHANGE_SYMBOL);
    # SOLUSDT futures trade in whole SOL.
    _m("binance-futures", "SOLUSDT", "SOL", "SOL", "USDT", "perpetual", price_decimals=3, tick_units=10,
       amount_decimals=0, amount_step_units=1, median_trade_steps=6, median_quote_steps=400, spread_p=0.8,
       basis=0.0004, trade_id_start=1_688_402_911, trades_per_day=900_000,
       available_since="2020-09-14T00:00:00.000Z", maker_fee="0.0002", taker_fee="0.0005",
       settlement="USDT", **_LINEAR),
    # Binance spot.
    _m("binance", "BTCUSDT", "BTC", "BTC", "USDT", "spot", price_decimals=2, tick_units=1,
       amount_decimals=5, amount_step_units=1, median_trade_steps=60, median_quote_steps=20_000, spread_p=0.9,
       basis=0.0, trade_id_start=3_573_091_245, trades_per_day=1_500_000,
       available_since="2019-03-30T00:00:00.000Z", maker_fee="0.001", taker_fee="0.001"),
    _m("binance", "ETHUSDT", "ETH", "ETH", "USDT", "spot", price_decimals=2, tick_units=1,
       amount_decimals=4, amount_step_units=1, median_trade_steps=120, median_quote_steps=30_000, spread_p=0.9,
       basis=0.0, trade_id_start=1_413_377_012, trades_per_day=700_000,
       available_since="2019-03-30T00:00:00.000Z", maker_fee="0.001", taker_fee="0.001"),
    # Traded in the sample but absent from binance's instruments.json (MISSING_SYMBOL).
    _m("binance", "SOLUSDT", "SOL", "SOL", "USDT", "spot", price_decimals=2, tick_units=1,
       amount_decimals=3, amount_step_units=1, median_trade_steps=2_000, median_quote_steps=90_000, spread_p=0.85,
       basis=0.0, trade_id_start=711_562_930, trades_per_day=400_000,
       available_since="2020-08-11T00:00:00.000Z", maker_fee="0.001", taker_fee="0.001"),
    # Deribit: inverse perpetuals, amounts in USD (BTC: 10 USD contracts).
    _m("deribit", "BTC-PERPETUAL", "BTC", "BTC", "USD", "perpetual", price_decimals=1, tick_units=5,
       amount_decimals=0, amount_step_units=10, median_trade_steps=80, median_quote_steps=5_000, spread_p=0.8,
       basis=0.0002, trade_id_start=295_113_806, trades_per_day=60_000,
       available_since="2019-03-30T00:00:00.000Z", maker_fee="0", taker_fee="0.0005",
       inverse=True, contract_multiplier="10", settlement="BTC", underlying_index="btc_usd"),
    _m("deribit", "ETH-PERPETUAL", "ETH", "ETH", "USD", "perpetual", price_decimals=2, tick_units=5,
       amount_decimals=0, amount_step_units=1, median_trade_steps=400, median_quote_steps=30_000, spread_p=0.75,
       basis=0.0002, trade_id_start=268_442_091, trades_per_day=40_000,
       available_since="2019-03-30T00:00:00.000Z", maker_fee="0", taker_fee="0.0005",
       inverse=True, contract_multiplier="1", settlement="ETH", underlying_index="eth_usd"),
)  # fmt: skip

MISSING_SYMBOL = ("binance", "SOLUSDT")
TICK_CHANGE_SYMBOL = ("binance-futures", "SOLUSDT")
_TICK_UNITS_BEFORE_CHANGE = 1  # 0.001 before the change, tick_units (0.01) after
_TICK_CHANGE_OFFSET_US = 12 * 3_600_000_000  # the change is at 12:00 UTC of the first day


# --------------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleFile:
    rel_path: str  # POSIX, relative to bronze_root (starts with "tardis/")
    data_type: str  # "trades" | "quotes" | "instruments"
    exchange: str
    date: dt.date
    symbol: str | None  # None for instruments snapshots
    rows: int  # data rows (CSV: lines after the header; instruments: array length)


@dataclass(frozen=True)
class TickSizeChange:
    exchange: str
    symbol: str
    until: str  # the `until` of the instruments `changes` entry, ISO 8601
    until_us: int  # the same instant, UTC microseconds
    price_increment_before: str
    price_increment_after: str


@dataclass
class SampleManifest:
    """What `write_sample_bronze` wrote, and every deliberate defect in it.

    Paths are POSIX and relative to `bronze_root` (as `BronzeFile.rel_path`); bad-row line
    numbers are physical lines of the decompressed file, header = line 1 (as `file_line`).
    """

    bronze_root: Path
    start: dt.date
    days: int
    seed: int
    rows_per_file: int
    files: list[SampleFile]
    # {rel_path: {physical line number (header = 1): kind}}; every CSV file has an entry.
    bad_rows: dict[str, dict[int, str]]
    missing_symbol: tuple[str, str]  # (exchange, symbol): traded, absent from instruments
    tick_size_change: TickSizeChange
    # Files whose rows are all expected in quarantine (the missing symbol's files).
    missing_symbol_files: list[str] = field(default_factory=list)

    @property
    def csv_files(self) -> list[SampleFile]:
        return [f for f in self.files if f.data_type in ("trades", "quotes")]

    @property
    def instrument_files(self) -> list[SampleFile]:
        return [f for f in self.files if f.data_type == "instruments"]

    def path(self, rel_path: str) -> Path:
        return self.bronze_root / rel_path

    def bad_row_counts(self) -> dict[str, int]:
        """{kind: number of bad rows} over all files."""
        return dict(sorted(Counter(k for rows in self.bad_rows.values() for k in rows.values()).items()))

    def summary(self) -> str:
        trades = sum(f.data_type == "trades" for f in self.files)
        quotes = sum(f.data_type == "quotes" for f in self.files)
        rows = sum(f.rows for f in self.csv_files)
        bad = sum(len(v) for v in self.bad_rows.values())
        tc = self.tick_size_change
        return (
            f"wrote {trades} trades + {quotes} quotes files ({rows} rows, {bad} bad rows) and "
            f"{len(self.instrument_files)} instruments snapshots under {self.bronze_root / VENDOR_DIR} "
            f"for {self.start}..{self.start + dt.timedelta(days=self.days - 1)}; "
            f"missing symbol {self.missing_symbol[0]}/{self.missing_symbol[1]}; "
            f"tick-size change {tc.exchange}/{tc.symbol} {tc.price_increment_before}->{tc.price_increment_after} "
            f"at {tc.until}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (dates as ISO text, line numbers as strings)."""
        return {
            "bronze_root": str(self.bronze_root),
            "start": self.start.isoformat(),
            "days": self.days,
            "seed": self.seed,
            "rows_per_file": self.rows_per_file,
            "files": [
                {
                    "rel_path": f.rel_path,
                    "data_type": f.data_type,
                    "exchange": f.exchange,
                    "date": f.date.isoformat(),
                    "symbol": f.symbol,
                    "rows": f.rows,
                }
                for f in self.files
            ],
            "bad_rows": {p: {str(line): kind for line, kind in rows.items()} for p, rows in self.bad_rows.items()},
            "missing_symbol": list(self.missing_symbol),
            "missing_symbol_files": list(self.missing_symbol_files),
            "tick_size_change": vars(self.tick_size_change).copy(),
        }


# --------------------------------------------------------------------------------------------
# Number and time helpers
# --------------------------------------------------------------------------------------------


def _day_start_us(day: dt.date) -> int:
    return (day - _EPOCH).days * US_PER_DAY


def _iso_ms(us: int) -> str:
    """UTC microseconds -> Tardis API style ISO text, e.g. 2024-05-01T12:00:00.000Z."""
    t = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _units_text(units: int, decimals: int) -> str:
    """Integer units of 10**-decimals -> decimal text with trailing zeros trimmed (Python side)."""
    return format(Decimal(units).scaleb(-decimals).normalize(), "f")


def _decimal_text(units: np.ndarray, decimals: int) -> pl.Series:
    """Non-negative integer units of 10**-decimals -> decimal text as Tardis writes it.

    No exponent, trailing fractional zeros trimmed, no trailing dot: 600123 @1 -> "60012.3",
    600120 @1 -> "60012", 12 @3 -> "0.012". Prices and sizes repeat a lot, so only the
    distinct values are formatted and the text is gathered back (several times faster).
    """
    units = np.asarray(units, dtype=np.int64)
    if units.size and units.min() < 0:
        raise ValueError("_decimal_text formats non-negative values only")
    distinct, inverse = np.unique(units, return_inverse=True)
    if decimals == 0:
        text = pl.Series(distinct).cast(pl.String)
    else:
        scale = 10**decimals
        value = pl.lit(pl.Series(distinct))
        text = pl.select(
            pl.concat_str([value // scale, pl.lit("."), (value % scale).cast(pl.String).str.zfill(decimals)])
            .str.strip_chars_end("0")
            .str.strip_chars_end(".")
        ).to_series()
    return text.gather(inverse.reshape(-1))


def _stable_key(*parts: object) -> int:
    return zlib.crc32("|".join(str(p) for p in parts).encode())


def _rng(seed: int, *parts: object) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, _stable_key(*parts)]))


# --------------------------------------------------------------------------------------------
# Generation (vectorized)
# --------------------------------------------------------------------------------------------


class _PricePaths:
    """Correlated log-price random walks on a one-minute grid, one per asset, from `origin_day`."""

    def __init__(self, seed: int, origin_day: dt.date, days: int):
        self.origin_us = _day_start_us(origin_day)
        n = days * _MINUTES_PER_DAY + 1
        rng = _rng(seed, "price-paths", origin_day, days)
        common = rng.standard_normal(n - 1)
        drift_days = (origin_day - _REFERENCE_DAY).days
        self.log_paths: dict[str, np.ndarray] = {}
        for asset, (level, daily_vol, rho) in _ASSETS.items():
            z = rho * common + np.sqrt(1.0 - rho * rho) * rng.standard_normal(n - 1)
            sigma = daily_vol / np.sqrt(_MINUTES_PER_DAY)
            # A day far from the reference day starts from a level that has wandered a bit.
            start = np.log(level) + daily_vol * np.sqrt(abs(drift_days)) * 0.3 * rng.standard_normal()
            self.log_paths[asset] = np.concatenate([[start], start + np.cumsum(sigma * z)])
        self.grid = np.arange(n, dtype=np.float64)

    def price(self, asset: str, ts_us: np.ndarray) -> np.ndarray:
        minutes = (ts_us - self.origin_us) / _US_PER_MINUTE
        return np.exp(np.interp(minutes, self.grid, self.log_paths[asset]))


def _arrival_times(rng: np.random.Generator, day: dt.date, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n (local_timestamp, exchange timestamp) pairs, local sorted and strictly inside `day` (UTC).

    Exchange timestamps are whole milliseconds 1-200 ms before arrival; the first
    _STRADDLE_ROWS arrive within 30 ms of midnight with a longer lag, so they were stamped by
    the exchange on the previous day.
    """
    start = _day_start_us(day)
    k = min(_STRADDLE_ROWS, n)
    head = np.sort(rng.integers(50, _HEAD_US, size=k))
    head_lag = rng.integers(head + _MIN_LAG_US, _MAX_LAG_US)
    body = np.sort(rng.integers(_HEAD_US, US_PER_DAY, size=n - k))
    # Typical feed lags: median ~12 ms with a long tail, clipped to [1, 199) ms.
    body_lag = np.clip(np.exp(rng.normal(np.log(12_000.0), 0.9, size=n - k)), _MIN_LAG_US, _MAX_LAG_US - 1)
    local = start + np.concatenate([head, body]).astype(np.int64)
    lag = np.concatenate([head_lag, body_lag.astype(np.int64)])
    exch = (local - lag) // 1000 * 1000
    return local, exch


def _tick_units(spec: MarketSpec, local: np.ndarray, tick_change_us: int | None) -> np.ndarray:
    ticks = np.full(local.shape, spec.tick_units, dtype=np.int64)
    if tick_change_us is not None:
        ticks[local < tick_change_us] = _TICK_UNITS_BEFORE_CHANGE
    return ticks


def _sizes(rng: np.random.Generator, spec: MarketSpec, median_steps: float, n: int) -> np.ndarray:
    steps = np.maximum(1, np.rint(np.exp(rng.normal(np.log(median_steps), 1.3, size=n)))).astype(np.int64)
    return steps * spec.amount_step_units


def _trades_frame(
    spec: MarketSpec,
    day: dt.date,
    n: int,
    rng: np.random.Generator,
    paths: _PricePaths,
    tick_change_us: int | None = None,
) -> pl.DataFrame:
    """n valid trades rows (Tardis trades columns; timestamps Int64, the rest text)."""
    # Aggressive orders sweep several levels: rows of one event share both timestamps and the
    # side, and the price walks away from the touch as the order eats the book.
    new_event = rng.random(n) < 0.6
    if n:
        new_event[0] = True
    event = np.cumsum(new_event) - 1
    m = int(event[-1]) + 1 if n else 0
    local_e, exch_e = _arrival_times(rng, day, m)
    buy_e = rng.random(m) < 0.5
    tick_e = _tick_units(spec, local_e, tick_change_us)
    mid_e = paths.price(spec.asset, local_e) * (1.0 + spec.basis) * 10**spec.price_decimals
    spread_e = rng.geometric(spec.spread_p, size=m)
    bid_e = (np.floor(mid_e / tick_e - spread_e / 2.0) * tick_e).astype(np.int64)
    ask_e = bid_e + spread_e * tick_e
    sweep = (rng.random(n) < 0.3) & ~new_event
    swept = np.cumsum(sweep)
    first_row = np.flatnonzero(new_event)
    levels = swept - swept[first_row][event] if n else swept
    buy = buy_e[event]
    tick = tick_e[event]
    price = np.where(buy, ask_e[event] + levels * tick, bid_e[event] - levels * tick)
    amount = _sizes(rng, spec, spec.median_trade_steps, n)
    day_offset = (day - _REFERENCE_DAY).days
    first_id = max(1, spec.trade_id_start + day_offset * spec.trades_per_day)
    mean_gap = max(1, int(0.9 * spec.trades_per_day / max(n, 1)))
    gaps = rng.integers(1, 2 * mean_gap, size=n) if mean_gap > 1 else np.ones(n, dtype=np.int64)
    gaps[~new_event] = 1  # fills of one order get consecutive ids
    ids = first_id + np.cumsum(gaps)
    return pl.DataFrame(
        [
            pl.Series("exchange", [spec.exchange]).new_from_index(0, n),
            pl.Series("symbol", [spec.symbol]).new_from_index(0, n),
            pl.Series("timestamp", exch_e[event], dtype=pl.Int64),
            pl.Series("local_timestamp", local_e[event], dtype=pl.Int64),
            pl.Series("id", ids, dtype=pl.Int64),
            pl.Series("side", ["sell", "buy"]).gather(buy.astype(np.int8)),
            _decimal_text(price, spec.price_decimals).alias("price"),
            _decimal_text(amount, spec.amount_decimals).alias("amount"),
        ]
    ).select(TRADES_HEADER)


def _quotes_frame(
    spec: MarketSpec,
    day: dt.date,
    n: int,
    rng: np.random.Generator,
    paths: _PricePaths,
    tick_change_us: int | None = None,
) -> pl.DataFrame:
    """n valid quotes rows (best bid/ask), columns in Tardis order."""
    local, exch = _arrival_times(rng, day, n)
    tick = _tick_units(spec, local, tick_change_us)
    mid = paths.price(spec.asset, local) * (1.0 + spec.basis) * 10**spec.price_decimals
    spread = rng.geometric(spec.spread_p, size=n)
    bid = (np.floor(mid / tick - spread / 2.0) * tick).astype(np.int64)
    ask = bid + spread * tick
    p, a = spec.price_decimals, spec.amount_decimals
    return pl.DataFrame(
        [
            pl.Series("exchange", [spec.exchange]).new_from_index(0, n),
            pl.Series("symbol", [spec.symbol]).new_from_index(0, n),
            pl.Series("timestamp", exch, dtype=pl.Int64),
            pl.Series("local_timestamp", local, dtype=pl.Int64),
            _decimal_text(_sizes(rng, spec, spec.median_quote_steps, n), a).alias("ask_amount"),
            _decimal_text(ask, p).alias("ask_price"),
            _decimal_text(bid, p).alias("bid_price"),
            _decimal_text(_sizes(rng, spec, spec.median_quote_steps, n), a).alias("bid_amount"),
        ]
    ).select(QUOTES_HEADER)


# --------------------------------------------------------------------------------------------
# Bad rows
# --------------------------------------------------------------------------------------------


def _too_precise(price: str) -> str:
    """Same price with 12 fractional digits (last one non-zero): '60123.4' -> '60123.400000000007'."""
    whole, _, frac = price.partition(".")
    return f"{whole}.{frac.ljust(11, '0')}7"


def _negative(text: str) -> str:
    return text if text.startswith("-") else f"-{text}"


def _bad_positions(rng: np.random.Generator, n: int, kinds: tuple[str, ...]) -> dict[int, str]:
    """{row index (0-based, data rows): kind}, away from the file's first and last rows."""
    rows = rng.choice(np.arange(_EDGE_ROWS, n - _EDGE_ROWS), size=len(kinds), replace=False)
    return {int(r): k for r, k in sorted(zip(rows, kinds, strict=True))}


def _set(frame: pl.DataFrame, column: str, row: int, value: object) -> pl.DataFrame:
    return frame.with_columns(frame[column].scatter(row, value))


def _inject_bad_rows(frame: pl.DataFrame, bad: dict[int, str]) -> pl.DataFrame:
    for row, kind in bad.items():
        if kind == "non_numeric_price":
            frame = _set(frame, "price", row, "abc")
        elif kind == "negative_amount":
            frame = _set(frame, "amount", row, _negative(frame["amount"][row]))
        elif kind == "invalid_side":
            frame = _set(frame, "side", row, "sideways")
        elif kind == "price_too_precise":
            frame = _set(frame, "price", row, _too_precise(frame["price"][row]))
        elif kind == "empty_local_timestamp":
            frame = _set(frame, "local_timestamp", row, None)
        elif kind == "crossed_quote":
            bid, ask = frame["bid_price"][row], frame["ask_price"][row]
            frame = _set(_set(frame, "bid_price", row, ask), "ask_price", row, bid)
        elif kind == "empty_both_sides":
            for column in ("ask_amount", "ask_price", "bid_price", "bid_amount"):
                frame = _set(frame, column, row, None)
        elif kind == "negative_bid_amount":
            frame = _set(frame, "bid_amount", row, _negative(frame["bid_amount"][row]))
        else:  # pragma: no cover - the kinds are the module's own constants
            raise ValueError(f"unknown bad-row kind {kind!r}")
    return frame


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _deflate(data: bytes, level: int, window: bytes, final: bool) -> bytes:
    """Raw deflate of one chunk, primed with the 32 KiB before it (pigz style)."""
    if window:
        engine = zlib.compressobj(level, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, window)
    else:
        engine = zlib.compressobj(level, zlib.DEFLATED, -15, 9)
    return engine.compress(data) + engine.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)


def _csv_chunks(frame: pl.DataFrame) -> Iterator[bytes]:
    for offset in range(0, max(frame.height, 1), _CSV_CHUNK_ROWS):
        buffer = io.BytesIO()
        frame.slice(offset, _CSV_CHUNK_ROWS).write_csv(buffer, include_header=offset == 0, null_value="")
        yield buffer.getvalue()


def _write_csv(frame: pl.DataFrame, path: Path, gzip_level: int = 6) -> None:
    """Write `frame` as Tardis CSV (nulls as empty fields, LF), gzip when the name ends in .gz.

    The gzip file is one ordinary gzip member, byte-identical for the same frame: header with
    mtime 0 and no file name; the deflate stream is cut into fixed row chunks compressed in
    parallel threads (each primed with the previous 32 KiB, as pigz does), which is several
    times faster than one zlib stream on big files. Written to a temporary name and renamed,
    so a reader never sees half a file.
    """
    if not 0 <= gzip_level <= 9:
        raise ValueError("gzip_level must be in 0..9")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("wb") as out:
            if path.suffix != ".gz":
                for data in _csv_chunks(frame):
                    out.write(data)
            else:
                out.write(_GZIP_HEADER)
                crc, size, window = 0, 0, b""
                n_chunks = max(1, -(-frame.height // _CSV_CHUNK_ROWS))
                with ThreadPoolExecutor(max_workers=_COMPRESS_THREADS) as pool:
                    pending: deque[Future[bytes]] = deque()
                    for index, data in enumerate(_csv_chunks(frame)):
                        crc, size = zlib.crc32(data, crc), size + len(data)
                        pending.append(pool.submit(_deflate, data, gzip_level, window, index == n_chunks - 1))
                        window = data[-32768:]
                        while len(pending) > _COMPRESS_THREADS:
                            out.write(pending.popleft().result())
                    while pending:
                        out.write(pending.popleft().result())
                out.write(struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


_NUMBER_MARK = "\u2063num:"
_NUMBER_RE = re.compile('"' + _NUMBER_MARK + r'([-0-9.]+)"')


def _json_number(text: str) -> str:
    return _NUMBER_MARK + format(Decimal(text), "f")


def _dump_json(value: object) -> str:
    """JSON with decimal numbers written as the Tardis API writes them (0.00001, never 1e-05)."""
    return _NUMBER_RE.sub(r"\1", json.dumps(value, indent=2, ensure_ascii=False)) + "\n"


def _instrument(spec: MarketSpec, start: dt.date, tick_change: TickSizeChange | None) -> dict[str, Any]:
    """One record of Tardis `/v1/instruments/<exchange>`; numbers carried as marked text."""
    since = min(spec.available_since, _iso_ms(_day_start_us(start - dt.timedelta(days=60))))
    record: dict[str, Any] = {
        "id": spec.symbol,
        "datasetId": spec.symbol,
        "exchange": spec.exchange,
        "baseCurrency": spec.base,
        "quoteCurrency": spec.quote,
    }
    if spec.settlement:
        record["settlementCurrency"] = spec.settlement
    record |= {
        "type": spec.kind,
        "active": True,
        "availableSince": since,
        "priceIncrement": _json_number(spec.tick_text),
        "amountIncrement": _json_number(spec.amount_step_text),
        "minTradeAmount": _json_number(spec.amount_step_text),
        "makerFee": _json_number(spec.maker_fee),
        "takerFee": _json_number(spec.taker_fee),
        "inverse": spec.inverse,
    }
    if spec.kind != "spot":
        record["contractType"] = f"{'inverse' if spec.inverse else 'linear'}_{spec.kind}"
        record["contractMultiplier"] = _json_number(spec.contract_multiplier or "1")
    if spec.underlying_index:
        record["underlyingIndex"] = spec.underlying_index
    if tick_change is not None:
        record["changes"] = [
            {"until": tick_change.until, "priceIncrement": _json_number(tick_change.price_increment_before)}
        ]
    return record


def _extra_instruments(exchange: str, start: dt.date) -> list[dict[str, Any]]:
    """Instruments the API also lists but the sample does not trade (a delisted one, a future)."""
    n = _json_number
    if exchange == "binance-futures":
        return [
            {"id": "BNBUSDT", "datasetId": "BNBUSDT", "exchange": exchange, "baseCurrency": "BNB",
             "quoteCurrency": "USDT", "settlementCurrency": "USDT", "type": "perpetual", "active": True,
             "availableSince": "2020-02-10T00:00:00.000Z", "priceIncrement": n("0.01"),
             "amountIncrement": n("0.01"), "minTradeAmount": n("0.01"), "makerFee": n("0.0002"),
             "takerFee": n("0.0005"), "inverse": False, "contractType": "linear_perpetual",
             "contractMultiplier": n("1")},
            {"id": "SRMUSDT", "datasetId": "SRMUSDT", "exchange": exchange, "baseCurrency": "SRM",
             "quoteCurrency": "USDT", "settlementCurrency": "USDT", "type": "perpetual", "active": False,
             "availableSince": "2020-09-11T00:00:00.000Z", "availableTo": "2022-11-15T00:00:00.000Z",
             "priceIncrement": n("0.0001"), "amountIncrement": n("1"), "minTradeAmount": n("1"),
             "makerFee": n("0.0002"), "takerFee": n("0.0005"), "inverse": False,
             "contractType": "linear_perpetual", "contractMultiplier": n("1")},
        ]  # fmt: skip
    if exchange == "binance":
        return [
            {"id": "BNBUSDT", "datasetId": "BNBUSDT", "exchange": exchange, "baseCurrency": "BNB",
             "quoteCurrency": "USDT", "type": "spot", "active": True,
             "availableSince": "2019-03-30T00:00:00.000Z", "priceIncrement": n("0.1"),
             "amountIncrement": n("0.001"), "minTradeAmount": n("0.001"), "makerFee": n("0.001"),
             "takerFee": n("0.001"), "inverse": False},
        ]  # fmt: skip
    if exchange == "deribit":
        expiry = _last_friday(start + dt.timedelta(days=60))
        name = f"BTC-{expiry.day}{expiry.strftime('%b').upper()}{expiry.strftime('%y')}"
        expiry_us = _day_start_us(expiry) + 8 * 3_600_000_000
        return [
            {"id": name, "datasetId": name, "exchange": exchange, "baseCurrency": "BTC",
             "quoteCurrency": "USD", "settlementCurrency": "BTC", "type": "future", "active": True,
             "availableSince": _iso_ms(_day_start_us(start - dt.timedelta(days=90))),
             "expiry": _iso_ms(expiry_us), "priceIncrement": n("2.5"), "amountIncrement": n("10"),
             "minTradeAmount": n("10"), "makerFee": n("-0.0001"), "takerFee": n("0.0005"), "inverse": True,
             "contractType": "inverse_future", "contractMultiplier": n("10"), "underlyingIndex": "btc_usd"},
        ]  # fmt: skip
    return []


def _last_friday(day: dt.date) -> dt.date:
    nxt = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - 4) % 7)


def _rel(exchange: str, data_type: str, day: dt.date, name: str, symbol: str | None = None) -> str:
    parts = [VENDOR_DIR, f"exchange={exchange}", f"type={data_type}", f"date={day.isoformat()}"]
    if symbol is not None:
        parts.append(f"symbol={symbol}")
    return "/".join([*parts, name])


def _market(exchange: str, symbol: str) -> MarketSpec:
    for spec in SAMPLE_MARKETS:
        if (spec.exchange, spec.symbol) == (exchange, symbol):
            return spec
    # Unknown market: borrow the grid of a known one for the same base asset.
    upper = symbol.upper()
    for asset, prefixes in (("BTC", ("BTC", "XBT")), ("ETH", ("ETH",)), ("SOL", ("SOL",))):
        if upper.startswith(prefixes):
            template = next(s for s in SAMPLE_MARKETS if s.exchange == "binance-futures" and s.asset == asset)
            return replace(template, exchange=exchange, symbol=symbol)
    template = SAMPLE_MARKETS[0]
    return replace(template, exchange=exchange, symbol=symbol, asset="GEN", base=symbol[:3], price_decimals=3)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def write_trades_file(
    path: Path,
    n_rows: int,
    *,
    exchange: str = "binance-futures",
    symbol: str = "BTCUSDT",
    day: dt.date = dt.date(2024, 5, 1),
    seed: int = 0,
    gzip_level: int = 6,
) -> Path:
    """Write one valid Tardis trades file of `n_rows` rows (gzip when `path` ends in .gz).

    Vectorized throughout (2M rows in a few seconds). Rows are cut by arrival time on `day`
    (UTC), so, as in real files, the first few have exchange timestamps on the previous day.
    """
    if n_rows < 0:
        raise ValueError("n_rows must be >= 0")
    path = Path(path)
    spec = _market(exchange, symbol)
    paths = _PricePaths(seed, day, 1)
    frame = _trades_frame(spec, day, n_rows, _rng(seed, exchange, symbol, day, "trades"), paths)
    _write_csv(frame, path, gzip_level)
    return path


def write_sample_bronze(
    bronze_root: Path,
    *,
    start: dt.date = dt.date(2024, 5, 1),
    days: int = 2,
    seed: int = 0,
    rows_per_file: int = 2000,
) -> SampleManifest:
    """Write the sample Tardis Bronze tree under `bronze_root/tardis/` and describe it.

    Layout (Hive style, as the `tardis-dev` downloader's documented filename template):
    `tardis/exchange=<x>/type=<trades|quotes>/date=<YYYY-MM-DD>/symbol=<S>/<S>.csv.gz` for every
    market of SAMPLE_MARKETS and every day, and
    `tardis/exchange=<x>/type=instruments/date=<start>/instruments.json` per exchange.

    Traps, all listed in the manifest: one bad row of each TRADE_BAD_KINDS / QUOTE_BAD_KINDS
    kind per file (not in the missing symbol's files, whose rows all fail the symbol lookup
    anyway); MISSING_SYMBOL is traded but absent from its exchange's instruments; the
    TICK_CHANGE_SYMBOL's tick size changes at 12:00 UTC of `start` (its prices follow the
    grid in force). Existing files at the same paths are overwritten; nothing else is removed.
    """
    if days < 1:
        raise ValueError("days must be >= 1")
    if rows_per_file < _MIN_ROWS_PER_FILE:
        raise ValueError(f"rows_per_file must be >= {_MIN_ROWS_PER_FILE}")
    bronze_root = Path(bronze_root)
    paths = _PricePaths(seed, start, days)
    change_us = _day_start_us(start) + _TICK_CHANGE_OFFSET_US
    changed = _market(*TICK_CHANGE_SYMBOL)
    tick_change = TickSizeChange(
        exchange=changed.exchange,
        symbol=changed.symbol,
        until=_iso_ms(change_us),
        until_us=change_us,
        price_increment_before=_units_text(_TICK_UNITS_BEFORE_CHANGE, changed.price_decimals),
        price_increment_after=changed.tick_text,
    )

    files: list[SampleFile] = []
    bad_rows: dict[str, dict[int, str]] = {}
    missing_files: list[str] = []
    builders: dict[str, tuple[Callable[..., pl.DataFrame], tuple[str, ...]]] = {
        "trades": (_trades_frame, TRADE_BAD_KINDS),
        "quotes": (_quotes_frame, QUOTE_BAD_KINDS),
    }
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        for spec in SAMPLE_MARKETS:
            key = (spec.exchange, spec.symbol)
            for data_type, (build, kinds) in builders.items():
                rng = _rng(seed, spec.exchange, spec.symbol, day, data_type)
                frame = build(spec, day, rows_per_file, rng, paths, change_us if key == TICK_CHANGE_SYMBOL else None)
                bad = {} if key == MISSING_SYMBOL else _bad_positions(rng, rows_per_file, kinds)
                frame = _inject_bad_rows(frame, bad)
                rel = _rel(spec.exchange, data_type, day, f"{spec.symbol}.csv.gz", spec.symbol)
                _write_csv(frame, bronze_root / rel)
                files.append(SampleFile(rel, data_type, spec.exchange, day, spec.symbol, frame.height))
                bad_rows[rel] = {row + 2: kind for row, kind in bad.items()}
                if key == MISSING_SYMBOL:
                    missing_files.append(rel)

    for exchange in dict.fromkeys(s.exchange for s in SAMPLE_MARKETS):
        records = [
            _instrument(s, start, tick_change if (s.exchange, s.symbol) == TICK_CHANGE_SYMBOL else None)
            for s in SAMPLE_MARKETS
            if s.exchange == exchange and (s.exchange, s.symbol) != MISSING_SYMBOL
        ]
        records += _extra_instruments(exchange, start)
        rel = _rel(exchange, "instruments", start, "instruments.json")
        target = bronze_root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(_dump_json(records), encoding="utf-8")
        os.replace(tmp, target)
        files.append(SampleFile(rel, "instruments", exchange, start, None, len(records)))

    return SampleManifest(
        bronze_root=bronze_root,
        start=start,
        days=days,
        seed=seed,
        rows_per_file=rows_per_file,
        files=files,
        bad_rows=bad_rows,
        missing_symbol=MISSING_SYMBOL,
        tick_size_change=tick_change,
        missing_symbol_files=missing_files,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vendors.tardis.sample",
        description="Write the deterministic Tardis sample Bronze tree under BRONZE_ROOT/tardis/.",
    )
    parser.add_argument("--bronze-root", type=Path, required=True)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2024, 5, 1), help="YYYY-MM-DD")
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows-per-file", type=int, default=2000)
    parser.add_argument("--manifest", type=Path, help="also write the manifest as JSON to this path")
    args = parser.parse_args(argv)
    manifest = write_sample_bronze(
        args.bronze_root, start=args.start, days=args.days, seed=args.seed, rows_per_file=args.rows_per_file
    )
    if args.manifest:
        args.manifest.parent.mkdir(parents=True, exist_ok=True)
        args.manifest.write_text(json.dumps(manifest.to_dict(), indent=2) + "\n", encoding="utf-8")
    print(manifest.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
