"""Deterministic sample data in the Tardis Bronze layout, for tests, demos and benchmarks.

Two entry points:

* `write_sample_bronze(bronze_root)` writes a small but realistic Tardis tree under
  `bronze_root/tardis/`: trades and quotes for 3 exchanges and 8 symbols, every day, plus one
  instruments snapshot per exchange, with a few deliberately bad rows, one traded symbol
  missing from the instruments metadata and one tick-size change in the middle of the first
  day. It returns a `SampleManifest` saying exactly what was written and where the traps are.
  `data_types=ALL_DATA_TYPES` (meant for the demo) adds every other Tardis data type the lake
  ingests: book_snapshot_25 (and one book_snapshot_5 that config/routing.csv shadows),
  incremental_book_L2, derivative_ticker, liquidations and a grouped deribit `OPTIONS`
  options_chain file, each with its own deliberately bad rows; the default writes exactly
  the trades/quotes tree (byte-identical to earlier versions).
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
import copy
import datetime as dt
import io
import json
import math
import os
import re
import struct
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
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
    "L2_HEADER",
    "TICKER_HEADER",
    "LIQUIDATIONS_HEADER",
    "OPTIONS_HEADER",
    "book_header",
    "TRADE_BAD_KINDS",
    "QUOTE_BAD_KINDS",
    "BOOK_BAD_KINDS",
    "L2_BAD_KINDS",
    "TICKER_BAD_KINDS",
    "LIQUIDATION_BAD_KINDS",
    "OPTION_BAD_KINDS",
    "BAD_KINDS",
    "DEFAULT_DATA_TYPES",
    "ALL_DATA_TYPES",
    "EXTRA_MARKETS",
    "OPTIONS_SYMBOL",
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


def book_header(depth: int) -> tuple[str, ...]:
    """Tardis book_snapshot_<depth> columns: per level asks price/amount, then bids price/amount."""
    levels = tuple(f"{side}[{i}].{f}" for i in range(depth) for side in ("asks", "bids") for f in ("price", "amount"))
    return ("exchange", "symbol", "timestamp", "local_timestamp", *levels)


L2_HEADER = ("exchange", "symbol", "timestamp", "local_timestamp", "is_snapshot", "side", "price", "amount")
TICKER_HEADER = (
    "exchange",
    "symbol",
    "timestamp",
    "local_timestamp",
    "funding_timestamp",
    "funding_rate",
    "predicted_funding_rate",
    "open_interest",
    "last_price",
    "index_price",
    "mark_price",
)
LIQUIDATIONS_HEADER = TRADES_HEADER
OPTIONS_HEADER = (
    "exchange",
    "symbol",
    "timestamp",
    "local_timestamp",
    "type",
    "strike_price",
    "expiration",
    "open_interest",
    "last_price",
    "bid_price",
    "bid_amount",
    "bid_iv",
    "ask_price",
    "ask_amount",
    "ask_iv",
    "mark_price",
    "mark_iv",
    "underlying_index",
    "underlying_price",
    "delta",
    "gamma",
    "vega",
    "theta",
    "rho",
)

# Bad rows of the other data types: one of each kind per file (book_snapshot_5 excepted: the
# 25-level file of the same symbol and day shadows it, so it is never ingested).
BOOK_BAD_KINDS = (
    "unordered_bid_levels",  # bids[1].price and bids[2].price swapped
    "crossed_book",  # bids[0].price set to asks[0].price
    "negative_ask_amount",  # asks[3].amount negated, e.g. "-0.5"
)
L2_BAD_KINDS = (
    "invalid_is_snapshot",  # is_snapshot "1" (Tardis writes true/false)
    "invalid_book_side",  # side "buy" (L2 sides are bid/ask)
    "negative_level_amount",  # amount negated, e.g. "-1230"
)
TICKER_BAD_KINDS = (
    "empty_ticker",  # every value empty (funding_timestamp kept)
    "negative_open_interest",  # open_interest negated, e.g. "-49859.453"
    "non_numeric_funding_rate",  # funding_rate "NaN"
)
LIQUIDATION_BAD_KINDS = (
    "negative_liquidation_amount",  # amount negated, e.g. "-0.043"
    "invalid_liquidation_side",  # side "long"
)
OPTION_BAD_KINDS = (
    "unknown_option_type",  # type "combo"
    "bid_price_without_amount",  # bid_price present, bid_amount ""
    "negative_mark_price",  # mark_price negated, e.g. "-0.06322449"
    "non_numeric_delta",  # delta "undefined"
)
# data type -> the bad-row kinds each of its files carries
BAD_KINDS: dict[str, tuple[str, ...]] = {
    "trades": TRADE_BAD_KINDS,
    "quotes": QUOTE_BAD_KINDS,
    "book_snapshot_25": BOOK_BAD_KINDS,
    "book_snapshot_5": (),
    "incremental_book_L2": L2_BAD_KINDS,
    "derivative_ticker": TICKER_BAD_KINDS,
    "liquidations": LIQUIDATION_BAD_KINDS,
    "options_chain": OPTION_BAD_KINDS,
}
DEFAULT_DATA_TYPES = ("trades", "quotes")
ALL_DATA_TYPES = tuple(BAD_KINDS)
OPTIONS_SYMBOL = "OPTIONS"  # Tardis' grouped symbol: every option of the exchange in one file
# Markets each further data type is written for (trades/quotes: every market of SAMPLE_MARKETS).
# book_snapshot_5 shares its symbol and day with a book_snapshot_25 file, which routing prefers.
EXTRA_MARKETS: dict[str, tuple[tuple[str, str], ...]] = {
    "book_snapshot_25": (
        ("binance-futures", "BTCUSDT"),
        ("binance-futures", "ETHUSDT"),
        ("binance", "BTCUSDT"),
        ("deribit", "BTC-PERPETUAL"),
    ),
    "book_snapshot_5": (("binance-futures", "BTCUSDT"),),
    "incremental_book_L2": (("deribit", "BTC-PERPETUAL"), ("binance-futures", "ETHUSDT")),
    "derivative_ticker": (
        ("binance-futures", "BTCUSDT"),
        ("binance-futures", "ETHUSDT"),
        ("deribit", "BTC-PERPETUAL"),
        ("deribit", "ETH-PERPETUAL"),
    ),
    "liquidations": (("binance-futures", "BTCUSDT"), ("binance-futures", "ETHUSDT"), ("deribit", "BTC-PERPETUAL")),
    "options_chain": (("deribit", OPTIONS_SYMBOL),),
}

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
    data_type: str  # "instruments" or a Tardis data type of ALL_DATA_TYPES
    exchange: str
    date: dt.date
    symbol: str | None  # None for instruments snapshots; OPTIONS for the grouped options file
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
    data_types: tuple[str, ...] = DEFAULT_DATA_TYPES
    # book_snapshot_5 files beside a book_snapshot_25 file of the same exchange and day:
    # config/routing.csv makes the 25-level source win, so these are never ingested.
    shadowed_files: list[str] = field(default_factory=list)
    # options_chain underlying_index -> the instruments snapshot lists it (a future) or not
    # (a synthetic SYN.* underlying, whose underlying_symbol_id stays null).
    option_underlyings: dict[str, bool] = field(default_factory=dict)

    @property
    def csv_files(self) -> list[SampleFile]:
        """Every CSV file written (all data types but instruments)."""
        return [f for f in self.files if f.data_type != "instruments"]

    def files_of(self, data_type: str, exchange: str | None = None, date: dt.date | None = None) -> list[SampleFile]:
        """The files of one data type, optionally of one exchange and date."""
        return [
            f
            for f in self.files
            if f.data_type == data_type and exchange in (None, f.exchange) and date in (None, f.date)
        ]

    @property
    def instrument_files(self) -> list[SampleFile]:
        return [f for f in self.files if f.data_type == "instruments"]

    def path(self, rel_path: str) -> Path:
        return self.bronze_root / rel_path

    def bad_row_counts(self) -> dict[str, int]:
        """{kind: number of bad rows} over all files."""
        return dict(sorted(Counter(k for rows in self.bad_rows.values() for k in rows.values()).items()))

    def summary(self) -> str:
        counts = Counter(f.data_type for f in self.csv_files)
        kinds = " + ".join(f"{counts[t]} {t}" for t in ALL_DATA_TYPES if counts[t])
        rows = sum(f.rows for f in self.csv_files)
        bad = sum(len(v) for v in self.bad_rows.values())
        tc = self.tick_size_change
        return (
            f"wrote {kinds} files ({rows} rows, {bad} bad rows) and "
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
            "data_types": list(self.data_types),
            "shadowed_files": list(self.shadowed_files),
            "option_underlyings": dict(self.option_underlyings),
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


def _js_text(value: Decimal | float | int) -> str:
    """A number as JavaScript's Number#toString prints it, which is how Tardis writes CSV values.

    Shortest round-trip digits; plain notation from 1e-6 up to 1e21, exponent notation below
    (`0.00000012` -> `1.2e-7`, `-5e-8`) and above; no trailing zeros; `-0` is `0`.
    """
    d = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not d.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    if d.is_zero():
        return "0"
    d = d.normalize()
    if Decimal("1e-6") <= abs(d) < Decimal("1e21"):
        return format(d, "f")
    sign, digits, exponent = d.as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(map(str, digits))
    mantissa = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
    power = exponent + len(digits) - 1
    return f"{'-' if sign else ''}{mantissa}e{'+' if power > 0 else '-'}{abs(power)}"


def _js_units_text(units: np.ndarray, decimals: int) -> pl.Series:
    """Signed integer units of 10**-decimals -> JavaScript number text (see `_js_text`), per distinct value."""
    units = np.asarray(units, dtype=np.int64)
    distinct, inverse = np.unique(units, return_inverse=True)
    text = pl.Series([_js_text(Decimal(int(u)).scaleb(-decimals)) for u in distinct], dtype=pl.String)
    return text.gather(inverse.reshape(-1))


def _js_floats_text(values: np.ndarray, digits: int) -> pl.Series:
    """Floats rounded to `digits` fractional digits -> JavaScript number text; NaN -> null (empty field)."""
    rounded = np.round(np.asarray(values, dtype=np.float64), digits)
    return pl.Series([None if np.isnan(v) else _js_text(float(v)) for v in rounded], dtype=pl.String)


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


def _book_frame(
    spec: MarketSpec,
    day: dt.date,
    n: int,
    rng: np.random.Generator,
    paths: _PricePaths,
    tick_change_us: int | None = None,
    depth: int = 25,
) -> pl.DataFrame:
    """n valid book snapshots of `depth` levels: bids strictly descending, asks strictly ascending,
    best bid below best ask, every price on the tick grid in force, every size on the amount grid."""
    local, exch = _arrival_times(rng, day, n)
    tick = _tick_units(spec, local, tick_change_us)
    mid = paths.price(spec.asset, local) * (1.0 + spec.basis) * 10**spec.price_decimals
    spread = rng.geometric(spec.spread_p, size=n)
    bid0 = (np.floor(mid / tick - spread / 2.0) * tick).astype(np.int64)
    ask0 = bid0 + spread * tick
    # Distance between consecutive levels in ticks: mostly adjacent, now and then a gap.
    zero = np.zeros((n, 1), dtype=np.int64)
    steps_bid = np.concatenate([zero, np.cumsum(rng.geometric(0.55, size=(n, depth - 1)), axis=1)], axis=1)
    steps_ask = np.concatenate([zero, np.cumsum(rng.geometric(0.55, size=(n, depth - 1)), axis=1)], axis=1)
    bids = bid0[:, None] - steps_bid * tick[:, None]
    asks = ask0[:, None] + steps_ask * tick[:, None]
    median = max(1.0, spec.median_quote_steps / 3)
    bid_qty = _sizes(rng, spec, median, n * depth).reshape(n, depth)
    ask_qty = _sizes(rng, spec, median, n * depth).reshape(n, depth)
    p, a = spec.price_decimals, spec.amount_decimals
    columns = [
        pl.Series("exchange", [spec.exchange]).new_from_index(0, n),
        pl.Series("symbol", [spec.symbol]).new_from_index(0, n),
        pl.Series("timestamp", exch, dtype=pl.Int64),
        pl.Series("local_timestamp", local, dtype=pl.Int64),
    ]
    for i in range(depth):
        columns += [
            _decimal_text(asks[:, i], p).alias(f"asks[{i}].price"),
            _decimal_text(ask_qty[:, i], a).alias(f"asks[{i}].amount"),
            _decimal_text(bids[:, i], p).alias(f"bids[{i}].price"),
            _decimal_text(bid_qty[:, i], a).alias(f"bids[{i}].amount"),
        ]
    return pl.DataFrame(columns).select(book_header(depth))


_L2_LEVELS = 25  # levels per side of an incremental_book_L2 snapshot


def _l2_frame(
    spec: MarketSpec,
    day: dt.date,
    n: int,
    rng: np.random.Generator,
    paths: _PricePaths,
    tick_change_us: int | None = None,
) -> pl.DataFrame:
    """About n valid incremental_book_L2 rows, as Tardis writes them.

    The file starts with a full snapshot (is_snapshot=true, asks then bids, every row sharing
    one timestamp), then updates (is_snapshot=false) of 1-4 rows per exchange message sharing
    its timestamps: new absolute level sizes, amount 0 deleting a level (levels the moving
    price crosses are deleted first). Half-way through the day the feed reconnects and a new
    snapshot follows (is_snapshot after non-snapshot rows: discard the book). How many
    messages give about n rows depends on how far the price moves between them, so trial runs
    on copies of the generator size the real one.
    """
    per_event = rng.integers(1, 5, size=max(n, 1))
    events = max(3, int(np.searchsorted(np.cumsum(per_event), max(n - 4 * _L2_LEVELS, 1))) + 1)
    for _ in range(3):
        trial = len(_l2_rows(spec, day, events, per_event, copy.deepcopy(rng), paths, tick_change_us))
        events = max(3, round(events * (n - 4 * _L2_LEVELS) / max(trial - 4 * _L2_LEVELS, 1)))
    rows = _l2_rows(spec, day, events, per_event, rng, paths, tick_change_us)
    exch_c, local_c, snap_c, side_c, price_c, amount_c = (list(c) for c in zip(*rows, strict=True))
    m = len(rows)
    return pl.DataFrame(
        [
            pl.Series("exchange", [spec.exchange]).new_from_index(0, m),
            pl.Series("symbol", [spec.symbol]).new_from_index(0, m),
            pl.Series("timestamp", exch_c, dtype=pl.Int64),
            pl.Series("local_timestamp", local_c, dtype=pl.Int64),
            pl.Series("is_snapshot", snap_c, dtype=pl.String),
            pl.Series("side", side_c, dtype=pl.String),
            _decimal_text(np.array(price_c), spec.price_decimals).alias("price"),
            _decimal_text(np.array(amount_c), spec.amount_decimals).alias("amount"),
        ]
    ).select(L2_HEADER)


def _l2_rows(
    spec: MarketSpec,
    day: dt.date,
    events: int,
    per_event: np.ndarray,
    rng: np.random.Generator,
    paths: _PricePaths,
    tick_change_us: int | None,
) -> list[tuple[int, int, str, str, int, int]]:
    """(timestamp, local_timestamp, is_snapshot, side, price units, amount units) of `events` messages."""
    local, exch = _arrival_times(rng, day, events)
    tick_all = _tick_units(spec, local, tick_change_us)
    mid_all = paths.price(spec.asset, local) * (1.0 + spec.basis) * 10**spec.price_decimals
    resnapshot = events // 2
    median = max(1.0, spec.median_quote_steps / 3)
    rows: list[tuple[int, int, str, str, int, int]] = []  # exch, local, is_snapshot, side, price, amount
    book: dict[str, dict[int, int]] = {"bid": {}, "ask": {}}

    def size() -> int:
        return int(_sizes(rng, spec, median, 1)[0])

    for e in range(events):
        tick, t_local, t_exch = int(tick_all[e]), int(local[e]), int(exch[e])
        best_bid = int(np.floor(mid_all[e] / tick - 0.5)) * tick
        best_ask = best_bid + tick
        if e in (0, resnapshot):
            book = {"bid": {}, "ask": {}}
            gaps = rng.geometric(0.6, size=(2, _L2_LEVELS))
            for k, side, sign, best in ((1, "ask", 1, best_ask), (0, "bid", -1, best_bid)):
                for offset in np.cumsum(gaps[k]) - gaps[k][0]:
                    price = best + sign * int(offset) * tick
                    book[side][price] = size()
                    rows.append((t_exch, t_local, "true", side, price, book[side][price]))
            continue
        updates: list[tuple[str, int, int]] = []
        for price in sorted(p for p in book["bid"] if p >= best_ask):  # crossed by the move: gone
            updates.append(("bid", price, 0))
        for price in sorted(p for p in book["ask"] if p <= best_bid):
            updates.append(("ask", price, 0))
        for _ in range(int(per_event[e % per_event.size])):
            side = "bid" if rng.random() < 0.5 else "ask"
            depth = int(rng.geometric(0.35)) - 1
            price = best_bid - depth * tick if side == "bid" else best_ask + depth * tick
            delete = price in book[side] and rng.random() < 0.3
            updates.append((side, price, 0 if delete else size()))
        for side, price, amount in updates:
            if amount:
                book[side][price] = amount
            else:
                book[side].pop(price, None)
            rows.append((t_exch, t_local, "false", side, price, amount))
        # market makers refill a side the move has thinned out
        for side, sign, best in (("bid", -1, best_bid), ("ask", 1, best_ask)):
            offset = 0
            while len(book[side]) < _L2_LEVELS // 2:
                price = best + sign * offset * tick
                if price not in book[side]:
                    book[side][price] = size()
                    rows.append((t_exch, t_local, "false", side, price, book[side][price]))
                offset += 1
    return rows


_FUNDING_INTERVAL_US = 8 * 3_600_000_000  # binance-futures funds at 00:00, 08:00, 16:00 UTC
_TINY_FUNDING_UNITS = (12, -5)  # 1e-8 units: printed 1.2e-7 and -5e-8, as JavaScript does


def _ticker_frame(
    spec: MarketSpec,
    day: dt.date,
    n: int,
    rng: np.random.Generator,
    paths: _PricePaths,
    tick_change_us: int | None = None,
) -> pl.DataFrame:
    """n valid derivative_ticker rows.

    binance-futures: funding_timestamp is the next 8-hourly funding, funding_rate the current
    estimate (8 decimals), no predicted rate; deribit: no funding_timestamp, funding_rate the
    instantaneous rate (often below 1e-6, so printed in exponent notation), predicted the 8h
    rate. The first rows of a file have no last price and open interest yet (Tardis fills the
    ticker from several channels). Rows _EDGE_ROWS and _EDGE_ROWS + 1 carry tiny funding rates
    printed in exponent notation on every exchange.
    """
    local, exch = _arrival_times(rng, day, n)
    tick = _tick_units(spec, local, tick_change_us)
    index = paths.price(spec.asset, local)
    scale = 10**spec.price_decimals
    last = (np.rint(index * (1.0 + spec.basis) * scale / tick) * tick).astype(np.int64)
    mark = np.rint(index * (1.0 + spec.basis * 0.9) * 100).astype(np.int64)  # cents
    index_c = np.rint(index * 100).astype(np.int64)
    oi_steps = spec.median_quote_steps * 20_000 * np.exp(np.cumsum(rng.normal(0, 0.001, size=n)))
    open_interest = (np.rint(oi_steps) * spec.amount_step_units).astype(np.int64)
    # funding rates in units of 1e-8: a slow random walk around 1 bp per 8 h
    walk = 10_000 + np.cumsum(rng.normal(0, 40, size=n))
    deribit = spec.exchange == "deribit"
    if deribit:
        funding = np.rint(walk / 200 + rng.normal(0, 30, size=n)).astype(np.int64)  # instantaneous: tiny
        predicted: pl.Series = _js_units_text(np.rint(walk).astype(np.int64), 8)
        funding_ts = pl.Series([None] * n, dtype=pl.Int64)
    else:
        funding = np.rint(walk).astype(np.int64)
        predicted = pl.Series([None] * n, dtype=pl.String)
        funding_ts = pl.Series((exch // _FUNDING_INTERVAL_US + 1) * _FUNDING_INTERVAL_US, dtype=pl.Int64)
    if n > _EDGE_ROWS + len(_TINY_FUNDING_UNITS):
        funding[_EDGE_ROWS : _EDGE_ROWS + len(_TINY_FUNDING_UNITS)] = _TINY_FUNDING_UNITS
    no_last = min(n, 2)
    last_text = _decimal_text(last, spec.price_decimals).scatter(list(range(no_last)), None)
    oi_text = _decimal_text(open_interest, spec.amount_decimals).scatter(list(range(no_last)), None)
    return pl.DataFrame(
        [
            pl.Series("exchange", [spec.exchange]).new_from_index(0, n),
            pl.Series("symbol", [spec.symbol]).new_from_index(0, n),
            pl.Series("timestamp", exch, dtype=pl.Int64),
            pl.Series("local_timestamp", local, dtype=pl.Int64),
            funding_ts.alias("funding_timestamp"),
            _js_units_text(funding, 8).alias("funding_rate"),
            predicted.alias("predicted_funding_rate"),
            oi_text.alias("open_interest"),
            last_text.alias("last_price"),
            _decimal_text(index_c, 2).alias("index_price"),
            _decimal_text(mark, 2).alias("mark_price"),
        ]
    ).select(TICKER_HEADER)


def _liquidations_frame(
    spec: MarketSpec,
    day: dt.date,
    n: int,
    rng: np.random.Generator,
    paths: _PricePaths,
    tick_change_us: int | None = None,
) -> pl.DataFrame:
    """n valid liquidations (Tardis semantics: side buy = a short was liquidated, the venue
    bought it back above the market; sell = a long was liquidated, sold below). binance-futures
    gives no id (empty), deribit the trade id of the liquidation fill."""
    local, exch = _arrival_times(rng, day, n)
    tick = _tick_units(spec, local, tick_change_us)
    mid = paths.price(spec.asset, local) * (1.0 + spec.basis) * 10**spec.price_decimals
    buy = rng.random(n) < 0.45
    slip = rng.geometric(0.2, size=n)
    price = np.where(buy, np.ceil(mid / tick) + slip, np.floor(mid / tick) - slip).astype(np.int64) * tick
    amount = _sizes(rng, spec, spec.median_trade_steps * 4, n)
    if spec.exchange == "deribit":
        first_id = spec.trade_id_start + (day - _REFERENCE_DAY).days * spec.trades_per_day
        ids = pl.Series(first_id + np.cumsum(rng.integers(1, 2_000, size=n)), dtype=pl.Int64).cast(pl.String)
    else:
        ids = pl.Series([None] * n, dtype=pl.String)
    return pl.DataFrame(
        [
            pl.Series("exchange", [spec.exchange]).new_from_index(0, n),
            pl.Series("symbol", [spec.symbol]).new_from_index(0, n),
            pl.Series("timestamp", exch, dtype=pl.Int64),
            pl.Series("local_timestamp", local, dtype=pl.Int64),
            ids.alias("id"),
            pl.Series("side", ["sell", "buy"]).gather(buy.astype(np.int8)),
            _decimal_text(price, spec.price_decimals).alias("price"),
            _decimal_text(amount, spec.amount_decimals).alias("amount"),
        ]
    ).select(LIQUIDATIONS_HEADER)


# --------------------------------------------------------------------------------------------
# Options (deribit)
# --------------------------------------------------------------------------------------------

_OPTION_TICK = Decimal("0.0005")  # BTC; option prices are quoted in the base coin
_OPTION_AMOUNT_STEP = Decimal("0.1")
_EXPIRY_HOUR_US = 8 * 3_600_000_000  # deribit expiries: 08:00 UTC
_US_PER_YEAR = 365 * US_PER_DAY


@dataclass(frozen=True)
class _OptionSpec:
    symbol: str  # e.g. BTC-31MAY24-60000-C
    option_type: str  # call | put
    strike: int
    expiry_us: int
    underlying_index: str  # a listed future (BTC-31MAY24) or a synthetic one (SYN.BTC-3MAY24)
    listed: bool  # the underlying is an instrument of the snapshot
    available_since_us: int


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def _deribit_date(day: dt.date) -> str:
    """2024-05-03 -> 3MAY24, as deribit names expiries (no locale involved)."""
    return f"{day.day}{_MONTHS[day.month - 1]}{day.year % 100:02d}"


def _next_friday(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=(4 - day.weekday()) % 7 or 7)


def _option_specs(start: dt.date, days: int, paths: _PricePaths) -> list[_OptionSpec]:
    """A weekly expiry right after the sample (no future of that date: synthetic underlying) and
    the monthly one after it (a listed future of the same date is its underlying); calls and puts
    around the money plus one far out-of-the-money strike (its calls have no bid)."""
    weekly = _next_friday(start + dt.timedelta(days=days - 1))
    monthly = _last_friday(weekly + dt.timedelta(days=7))
    atm = float(paths.price("BTC", np.array([_day_start_us(start)]))[0])
    out = []
    for expiry, listed, step, far, listed_days in ((weekly, False, 1000, 10, 14), (monthly, True, 5000, 8, 90)):
        centre = int(round(atm / step)) * step
        underlying = f"BTC-{_deribit_date(expiry)}"
        for strike in (centre + k * step for k in (-2, -1, 0, 1, 2, far)):
            for option_type in ("call", "put"):
                out.append(
                    _OptionSpec(
                        symbol=f"{underlying}-{strike}-{option_type[0].upper()}",
                        option_type=option_type,
                        strike=strike,
                        expiry_us=_day_start_us(expiry) + _EXPIRY_HOUR_US,
                        underlying_index=underlying if listed else f"SYN.{underlying}",
                        listed=listed,
                        # listed a while before expiry, and in any case before the sample starts
                        available_since_us=_day_start_us(
                            min(expiry - dt.timedelta(days=listed_days), start - dt.timedelta(days=7))
                        )
                        + _EXPIRY_HOUR_US,
                    )
                )
    return out


def _listed_future(option: _OptionSpec, start: dt.date) -> dict[str, Any]:
    """The instrument record of a listed option underlying (a deribit inverse future)."""
    n = _json_number
    return {"id": option.underlying_index, "datasetId": option.underlying_index, "exchange": "deribit",
            "baseCurrency": "BTC", "quoteCurrency": "USD", "settlementCurrency": "BTC", "type": "future",
            "active": True, "availableSince": _iso_ms(_day_start_us(start - dt.timedelta(days=90))),
            "expiry": _iso_ms(option.expiry_us), "priceIncrement": n("2.5"), "amountIncrement": n("10"),
            "minTradeAmount": n("10"), "makerFee": n("-0.0001"), "takerFee": n("0.0005"), "inverse": True,
            "contractType": "inverse_future", "contractMultiplier": n("10"),
            "underlyingIndex": "btc_usd"}  # fmt: skip


def _option_instrument(option: _OptionSpec) -> dict[str, Any]:
    """One option record of Tardis `/v1/instruments/deribit`."""
    n = _json_number
    return {"id": option.symbol, "datasetId": option.symbol, "exchange": "deribit", "baseCurrency": "BTC",
            "quoteCurrency": "BTC", "settlementCurrency": "BTC", "type": "option", "optionType": option.option_type,
            "strikePrice": n(str(option.strike)), "expiry": _iso_ms(option.expiry_us), "active": True,
            "availableSince": _iso_ms(option.available_since_us), "priceIncrement": n(str(_OPTION_TICK)),
            "amountIncrement": n(str(_OPTION_AMOUNT_STEP)), "minTradeAmount": n(str(_OPTION_AMOUNT_STEP)),
            "makerFee": n("0.0003"), "takerFee": n("0.0003"), "inverse": True,
            "contractMultiplier": n("1")}  # fmt: skip


def _norm_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def _options_frame(
    options: list[_OptionSpec], day: dt.date, n: int, rng: np.random.Generator, paths: _PricePaths
) -> pl.DataFrame:
    """n valid options_chain rows over `options` (one grouped OPTIONS file), Black-76 priced.

    Prices in BTC on the 0.0005 grid; a side without a price above zero is empty (deep out of
    the money: no bid); options that never traded have no last price; implied volatilities in
    percent and greeks (USD) rounded as deribit publishes them.
    """
    local, exch = _arrival_times(rng, day, n)
    pick = rng.integers(0, len(options), size=n)
    strike = np.array([o.strike for o in options], dtype=np.float64)[pick]
    expiry = np.array([o.expiry_us for o in options], dtype=np.int64)[pick]
    call = np.array([o.option_type == "call" for o in options])[pick]
    listed = np.array([o.listed for o in options])[pick]
    spot = paths.price("BTC", local)
    years = np.maximum(expiry - local, 3_600_000_000) / _US_PER_YEAR
    forward = spot * (1.0 + 0.08 * years) * np.where(listed, 1.0, 1.00002)
    moneyness = np.log(strike / forward)
    vol = 0.52 + 0.9 * moneyness**2 + rng.normal(0, 0.004, size=n)  # a smile, in fractions

    def price_btc(sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sd = sigma * np.sqrt(years)
        d1 = (np.log(forward / strike) + 0.5 * sd**2) / sd
        d2 = d1 - sd
        usd = np.where(
            call, forward * _norm_cdf(d1) - strike * _norm_cdf(d2), strike * _norm_cdf(-d2) - forward * _norm_cdf(-d1)
        )
        return usd / forward, d1

    mark, d1 = price_btc(vol)
    bid_vol, ask_vol = vol - rng.uniform(0.008, 0.03, size=n), vol + rng.uniform(0.008, 0.03, size=n)
    tick = float(_OPTION_TICK)
    bid_ticks = np.floor(price_btc(bid_vol)[0] / tick).astype(np.int64)
    ask_ticks = np.maximum(np.ceil(price_btc(ask_vol)[0] / tick).astype(np.int64), bid_ticks + 1)
    has_bid = bid_ticks > 0
    density = np.exp(-0.5 * d1**2) / math.sqrt(2 * math.pi)
    delta = np.where(call, _norm_cdf(d1), _norm_cdf(d1) - 1.0)
    gamma = density / (forward * vol * np.sqrt(years))
    vega = forward * density * np.sqrt(years) / 100.0
    theta = -forward * density * vol / (2 * np.sqrt(years)) / 365.0
    rho = np.where(call, 1.0, -1.0) * strike * years * _norm_cdf(np.where(call, d1, -d1) - vol * np.sqrt(years)) / 100
    steps = float(_OPTION_AMOUNT_STEP)
    traded = np.array([rng.random() < 0.8 for _ in options])[pick]
    last = np.where(traded, np.rint(mark / tick + rng.integers(-2, 3, size=n)).clip(1), np.nan) * tick
    nan = np.full(n, np.nan)
    return pl.DataFrame(
        [
            pl.Series("exchange", ["deribit"]).new_from_index(0, n),
            pl.Series("symbol", [o.symbol for o in options]).gather(pick),
            pl.Series("timestamp", exch, dtype=pl.Int64),
            pl.Series("local_timestamp", local, dtype=pl.Int64),
            pl.Series("type", [o.option_type for o in options]).gather(pick),
            pl.Series("strike_price", strike.astype(np.int64)).cast(pl.String),
            pl.Series("expiration", expiry, dtype=pl.Int64),
            _js_floats_text(np.rint(rng.lognormal(4.5, 1.2, size=n)) * steps, 1).alias("open_interest"),
            _js_floats_text(last, 4).alias("last_price"),
            _js_floats_text(np.where(has_bid, bid_ticks * tick, nan), 4).alias("bid_price"),
            _js_floats_text(np.where(has_bid, np.rint(rng.lognormal(2.5, 1.0, size=n)).clip(1) * steps, nan), 1).alias(
                "bid_amount"
            ),
            _js_floats_text(np.where(has_bid, bid_vol * 100, nan), 2).alias("bid_iv"),
            _js_floats_text(ask_ticks * tick, 4).alias("ask_price"),
            _js_floats_text(np.rint(rng.lognormal(2.5, 1.0, size=n)).clip(1) * steps, 1).alias("ask_amount"),
            _js_floats_text(ask_vol * 100, 2).alias("ask_iv"),
            _js_floats_text(mark, 8).alias("mark_price"),
            _js_floats_text(vol * 100, 2).alias("mark_iv"),
            pl.Series("underlying_index", [o.underlying_index for o in options]).gather(pick),
            _js_floats_text(forward, 2).alias("underlying_price"),
            _js_floats_text(delta, 5).alias("delta"),
            _js_floats_text(gamma, 5).alias("gamma"),
            _js_floats_text(vega, 5).alias("vega"),
            _js_floats_text(theta, 5).alias("theta"),
            _js_floats_text(rho, 5).alias("rho"),
        ]
    ).select(OPTIONS_HEADER)


# --------------------------------------------------------------------------------------------
# Bad rows
# --------------------------------------------------------------------------------------------


def _too_precise(price: str) -> str:
    """Same price with 12 fractional digits (last one non-zero): '60123.4' -> '60123.400000000007'."""
    whole, _, frac = price.partition(".")
    return f"{whole}.{frac.ljust(11, '0')}7"


def _negative(text: str) -> str:
    return text if text.startswith("-") else f"-{text}"


def _bad_positions(rng: np.random.Generator, n: int, kinds: tuple[str, ...], first: int = _EDGE_ROWS) -> dict[int, str]:
    """{row index (0-based, data rows): kind}, away from the file's first and last rows."""
    if not kinds:
        return {}
    rows = rng.choice(np.arange(first, n - _EDGE_ROWS), size=len(kinds), replace=False)
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
        elif kind == "unordered_bid_levels":
            second, third = frame["bids[1].price"][row], frame["bids[2].price"][row]
            frame = _set(_set(frame, "bids[1].price", row, third), "bids[2].price", row, second)
        elif kind == "crossed_book":
            frame = _set(frame, "bids[0].price", row, frame["asks[0].price"][row])
        elif kind == "negative_ask_amount":
            frame = _set(frame, "asks[3].amount", row, _negative(frame["asks[3].amount"][row]))
        elif kind == "invalid_is_snapshot":
            frame = _set(frame, "is_snapshot", row, "1")
        elif kind == "invalid_book_side":
            frame = _set(frame, "side", row, "buy")
        elif kind == "negative_level_amount":
            amount = frame["amount"][row]
            frame = _set(frame, "amount", row, _negative(amount if amount != "0" else "12"))
        elif kind == "empty_ticker":
            for column in TICKER_HEADER[5:]:
                frame = _set(frame, column, row, None)
        elif kind == "negative_open_interest":
            frame = _set(frame, "open_interest", row, _negative(frame["open_interest"][row] or "81234.5"))
        elif kind == "non_numeric_funding_rate":
            frame = _set(frame, "funding_rate", row, "NaN")
        elif kind == "negative_liquidation_amount":
            frame = _set(frame, "amount", row, _negative(frame["amount"][row]))
        elif kind == "invalid_liquidation_side":
            frame = _set(frame, "side", row, "long")
        elif kind == "unknown_option_type":
            frame = _set(frame, "type", row, "combo")
        elif kind == "bid_price_without_amount":
            frame = _set(frame, "bid_price", row, frame["bid_price"][row] or str(_OPTION_TICK))
            frame = _set(frame, "bid_amount", row, None)
        elif kind == "negative_mark_price":
            mark = frame["mark_price"][row]
            frame = _set(frame, "mark_price", row, _negative(mark if mark not in (None, "0") else "0.0123"))
        elif kind == "non_numeric_delta":
            frame = _set(frame, "delta", row, "undefined")
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
    data_types: Iterable[str] = DEFAULT_DATA_TYPES,
) -> SampleManifest:
    """Write the sample Tardis Bronze tree under `bronze_root/tardis/` and describe it.

    Layout (Hive style, as the `tardis-dev` downloader's documented filename template):
    `tardis/exchange=<x>/type=<data type>/date=<YYYY-MM-DD>/symbol=<S>/<S>.csv.gz`: trades and
    quotes for every market of SAMPLE_MARKETS and every day, and
    `tardis/exchange=<x>/type=instruments/date=<start>/instruments.json` per exchange.

    Traps, all listed in the manifest: one bad row of each TRADE_BAD_KINDS / QUOTE_BAD_KINDS
    kind per file (not in the missing symbol's files, whose rows all fail the symbol lookup
    anyway); MISSING_SYMBOL is traded but absent from its exchange's instruments; the
    TICK_CHANGE_SYMBOL's tick size changes at 12:00 UTC of `start` (its prices follow the
    grid in force). Existing files at the same paths are overwritten; nothing else is removed.

    `data_types` (default: trades and quotes only, byte-identical to earlier versions;
    ALL_DATA_TYPES for the demo) selects what is written. The other types go to the markets of
    EXTRA_MARKETS, every day, with one bad row of each BAD_KINDS kind per file (row counts:
    books, L2, tickers and options about `rows_per_file`, liquidations a quarter of it):
    `book_snapshot_25` (25 levels per side on the tick grid), `book_snapshot_5` (the first 5
    levels of the same snapshots; the 25-level file of the same exchange and day wins by
    config/routing.csv, so it is listed in `shadowed_files`), `incremental_book_L2` (snapshot,
    updates, a mid-day re-snapshot), `derivative_ticker` (funding rates below 1e-6 printed in
    exponent notation, as Tardis does), `liquidations` and `options_chain` (one grouped deribit
    `OPTIONS` file; the option instruments and the listed future some of them use as
    underlying are added to deribit's instruments snapshot, the synthetic `SYN.*` underlyings
    are not).
    """
    if days < 1:
        raise ValueError("days must be >= 1")
    if rows_per_file < _MIN_ROWS_PER_FILE:
        raise ValueError(f"rows_per_file must be >= {_MIN_ROWS_PER_FILE}")
    data_types = tuple(dict.fromkeys(data_types))
    unknown = [t for t in data_types if t not in ALL_DATA_TYPES]
    if unknown:
        raise ValueError(f"unknown data type(s) {unknown}; known: {list(ALL_DATA_TYPES)}")
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
    builders = {t: b for t, b in builders.items() if t in data_types}
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

    options = _option_specs(start, days, paths) if "options_chain" in data_types else []
    shadowed: list[str] = []
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        for data_type in (t for t in ALL_DATA_TYPES if t in data_types and t not in DEFAULT_DATA_TYPES):
            for exchange, symbol in EXTRA_MARKETS[data_type]:
                frame, bad = _extra_frame(
                    data_type, exchange, symbol, day, seed, rows_per_file, paths, change_us, options
                )
                rel = _rel(exchange, data_type, day, f"{symbol}.csv.gz", symbol)
                _write_csv(frame, bronze_root / rel)
                files.append(SampleFile(rel, data_type, exchange, day, symbol, frame.height))
                bad_rows[rel] = {row + 2: kind for row, kind in bad.items()}
                deeper = ("book_snapshot_25", exchange, day)
                if data_type == "book_snapshot_5" and deeper in {(f.data_type, f.exchange, f.date) for f in files}:
                    shadowed.append(rel)

    for exchange in dict.fromkeys(s.exchange for s in SAMPLE_MARKETS):
        records = [
            _instrument(s, start, tick_change if (s.exchange, s.symbol) == TICK_CHANGE_SYMBOL else None)
            for s in SAMPLE_MARKETS
            if s.exchange == exchange and (s.exchange, s.symbol) != MISSING_SYMBOL
        ]
        records += _extra_instruments(exchange, start)
        if exchange == "deribit" and options:
            listed = {r["id"] for r in records}
            for option in options:
                if option.listed and option.underlying_index not in listed:
                    records.append(_listed_future(option, start))
                    listed.add(option.underlying_index)
            records += [_option_instrument(o) for o in options]
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
        data_types=data_types,
        shadowed_files=shadowed,
        option_underlyings={o.underlying_index: o.listed for o in options},
    )


def _extra_frame(
    data_type: str,
    exchange: str,
    symbol: str,
    day: dt.date,
    seed: int,
    rows_per_file: int,
    paths: _PricePaths,
    change_us: int,
    options: list[_OptionSpec],
) -> tuple[pl.DataFrame, dict[int, str]]:
    """One file's frame of a data type beyond trades/quotes, with its bad rows injected."""
    # book_snapshot_5 is the top of the very snapshots of book_snapshot_25 (same generator stream).
    source = "book_snapshot_25" if data_type == "book_snapshot_5" else data_type
    rng = _rng(seed, exchange, symbol, day, source)
    tick_change = change_us if (exchange, symbol) == TICK_CHANGE_SYMBOL else None
    first = _EDGE_ROWS
    if data_type == "options_chain":
        frame = _options_frame(options, day, rows_per_file, rng, paths)
    else:
        spec = _market(exchange, symbol)
        if source == "book_snapshot_25":
            frame = _book_frame(spec, day, rows_per_file, rng, paths, tick_change)
        elif data_type == "incremental_book_L2":
            frame = _l2_frame(spec, day, max(rows_per_file, 6 * _L2_LEVELS), rng, paths, tick_change)
            first = 2 * _L2_LEVELS + 1  # keep the opening snapshot intact
        elif data_type == "derivative_ticker":
            frame = _ticker_frame(spec, day, rows_per_file, rng, paths, tick_change)
            first = _EDGE_ROWS + len(_TINY_FUNDING_UNITS)  # keep the exponent-notation rows valid
        else:
            frame = _liquidations_frame(spec, day, max(_MIN_ROWS_PER_FILE, rows_per_file // 4), rng, paths, tick_change)
    bad = _bad_positions(rng, frame.height, BAD_KINDS[data_type], first)
    if data_type == "book_snapshot_5":
        return frame.select(book_header(5)), bad
    return _inject_bad_rows(frame, bad), bad


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
    parser.add_argument(
        "--data-types",
        default=",".join(DEFAULT_DATA_TYPES),
        help=f"comma-separated Tardis data types, or 'all' ({','.join(ALL_DATA_TYPES)}); default: trades,quotes",
    )
    parser.add_argument("--manifest", type=Path, help="also write the manifest as JSON to this path")
    args = parser.parse_args(argv)
    data_types = ALL_DATA_TYPES if args.data_types == "all" else tuple(t for t in args.data_types.split(",") if t)
    manifest = write_sample_bronze(
        args.bronze_root,
        start=args.start,
        days=args.days,
        seed=args.seed,
        rows_per_file=args.rows_per_file,
        data_types=data_types,
    )
    if args.manifest:
        args.manifest.parent.mkdir(parents=True, exist_ok=True)
        args.manifest.write_text(json.dumps(manifest.to_dict(), indent=2) + "\n", encoding="utf-8")
    print(manifest.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
