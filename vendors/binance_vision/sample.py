"""Deterministic, format-exact Binance Vision kline files in the Bronze layout, for tests and demos.

`write_sample_klines(bronze_root, {"binance-futures": ["BTCUSDT"]}, [date(2024, 5, 1)])` writes,
per exchange, symbol, interval and day, `<SYMBOL>-<interval>-<YYYY-MM-DD>.zip` holding one
headerless CSV exactly as Binance publishes it (12 columns, millisecond times, inclusive
close_time, plain decimal text: 8 decimals on spot, the market's own precision on futures,
`\n` line ends) and its `.CHECKSUM`. `period="monthly"` writes one file per month instead,
covering every day of the month (the concatenation of that month's daily files, as on
Binance). Bars come from a seeded per-minute random walk aggregated to each interval, so a
1d bar agrees with its 1h bars; a file's content depends only on (seed, exchange, symbol,
day) and whether 1s bars are asked for (then the walk steps per second). Zips carry fixed
timestamps: byte-identical across runs.

`bad_rows=True` replaces a few rows of every file long enough (one per BAD_KINDS entry, at
seeded lines, never the first or last) so a demo shows quarantine at work; the manifest lists
them with the reason the core gives them.

Pure: no Dagster import. CLI: `python -m vendors.binance_vision.sample --bronze-root PATH`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import math
import random
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pointline.schemas import KLINE_INTERVALS_US
from vendors.binance_vision.layout import (
    CHECKSUM_SUFFIX,
    DEFAULT_SUBDIR,
    bronze_dir,
    check_exchange,
    check_interval,
    check_period,
    checksum_text,
    day_start_us,
    next_month,
    period_key,
    sha256_bytes,
    zip_name,
)

__all__ = ["BAD_KINDS", "SampleFile", "SampleManifest", "write_sample_klines", "main"]

# Deliberate defect -> the quarantine reason the core gives the row.
BAD_KINDS: dict[str, str] = {
    "high_below_low": "high_below_low",  # high and low swapped
    "non_numeric_price": "not_a_number:close",  # close "abc"
}
NON_NUMERIC = "abc"

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest zip timestamp: fixed, so zips are byte-identical
_QTY_DECIMALS = 3  # volumes in 0.001 base units
_SPOT_DECIMALS = 8  # Binance spot prints every number with 8 decimals
_MS = 1000
# Reference price and tick decimals by base asset; unknown symbols get the fallback.
_ASSETS: dict[str, tuple[float, int]] = {"BTC": (60_000.0, 2), "ETH": (3_000.0, 2), "SOL": (150.0, 3)}
_FALLBACK = (100.0, 4)
_DAILY_VOL = 0.03


@dataclass(frozen=True)
class SampleFile:
    rel_path: str  # POSIX, relative to bronze_root (as BronzeFile.rel_path)
    exchange: str
    symbol: str
    interval: str
    period: str  # "daily" | "monthly"
    date: dt.date  # the day, or the 1st of the month
    rows: int  # CSV lines (no header)
    sha256: str


@dataclass
class SampleManifest:
    """What `write_sample_klines` wrote, and every deliberate defect in it."""

    bronze_root: Path
    seed: int
    files: list[SampleFile] = field(default_factory=list)
    # {rel_path: {physical line (1-based, as file_line): kind of BAD_KINDS}}
    bad_rows: dict[str, dict[int, str]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def expected_quarantine(self) -> dict[str, int]:
        """{core reason: rows} the injected defects should produce."""
        out: dict[str, int] = {}
        for lines in self.bad_rows.values():
            for kind in lines.values():
                out[BAD_KINDS[kind]] = out.get(BAD_KINDS[kind], 0) + 1
        return dict(sorted(out.items()))


def write_sample_klines(
    bronze_root: Path,
    exchange_symbols: dict[str, list[str]],
    days: Iterable[dt.date],
    intervals: Sequence[str] = ("1h", "1d"),
    *,
    period: str = "daily",
    bad_rows: bool = False,
    seed: int = 7,
    subdir: str = DEFAULT_SUBDIR,
) -> SampleManifest:
    """Write the files (daily: one per day; monthly: one per month the days touch) and return the manifest."""
    check_period(period)
    for interval in intervals:
        check_interval(interval)
    for exchange in exchange_symbols:
        check_exchange(exchange)
    manifest = SampleManifest(Path(bronze_root), seed)
    step_us = _step_us(intervals)
    for exchange, symbols in exchange_symbols.items():
        for symbol in symbols:
            for first, file_days in _file_days(sorted(set(days)), period):
                steps = pl.concat([_steps(seed, exchange, symbol, d, step_us) for d in file_days])
                for interval in intervals:
                    _write_file(manifest, subdir, exchange, symbol, interval, period, first, steps, bad_rows)
    manifest.files.sort(key=lambda f: f.rel_path)
    return manifest


def _file_days(days: list[dt.date], period: str) -> list[tuple[dt.date, list[dt.date]]]:
    """(file date, the days it holds): each day alone, or every day of each month touched."""
    if period == "daily":
        return [(d, [d]) for d in days]
    months = sorted({d.replace(day=1) for d in days})
    return [(m, [m + dt.timedelta(days=n) for n in range((next_month(m) - m).days)]) for m in months]


def _market(symbol: str) -> tuple[float, int]:
    return next((v for asset, v in _ASSETS.items() if symbol.upper().startswith(asset)), _FALLBACK)


def _step_us(intervals: Sequence[str]) -> int:
    """Simulate per minute, or per second when 1s bars are asked for (every interval is a multiple)."""
    return KLINE_INTERVALS_US["1s" if "1s" in intervals else "1m"]


def _steps(seed: int, exchange: str, symbol: str, day: dt.date, step_us: int) -> pl.DataFrame:
    """One UTC day of trading in `step_us` steps, as integers: OHLC in ticks, qty in 0.001 units, counts.

    Randomness comes from a string-seeded Random (stable across Python versions and runs), so
    a day depends on nothing but (seed, exchange, symbol, day, step).
    """
    rng = random.Random(f"{seed}|{exchange}|{symbol}|{day.isoformat()}")
    n = 86_400_000_000 // step_us
    ref, decimals = _market(symbol)
    start_ticks = round(ref * (1 + 0.1 * (rng.random() - 0.5)) * 10**decimals)
    step_vol = _DAILY_VOL / math.sqrt(n)
    u = {k: [rng.random() for _ in range(n)] for k in ("ret", "up", "down", "qty", "count", "taker")}
    frame = pl.DataFrame(u).with_row_index("step")
    close = (pl.lit(start_ticks, dtype=pl.Float64) * ((pl.col("ret") - 0.5) * 2 * step_vol).cum_sum().exp()).round()
    frame = frame.with_columns(close.cast(pl.Int64).clip(1).alias("close"))
    frame = frame.with_columns(pl.col("close").shift(1, fill_value=start_ticks).alias("open"))
    spread = pl.lit(max(1, round(start_ticks * step_vol)), dtype=pl.Float64)
    qty = (1 + pl.col("qty") * 20_000).floor().cast(pl.Int64)
    return frame.select(
        (pl.lit(day_start_us(day)) + pl.col("step").cast(pl.Int64) * step_us).alias("ts_us"),
        "open",
        (pl.max_horizontal("open", "close") + 1 + (pl.col("up") * spread).floor().cast(pl.Int64)).alias("high"),
        (pl.min_horizontal("open", "close") - 1 - (pl.col("down") * spread).floor().cast(pl.Int64))
        .clip(1)
        .alias("low"),
        "close",
        qty.alias("qty"),
        (1 + pl.col("count") * 60).floor().cast(pl.Int64).alias("count"),
        (qty * pl.col("taker")).floor().cast(pl.Int64).alias("taker_qty"),
    )


def _bars(steps: pl.DataFrame, interval: str) -> pl.DataFrame:
    """Aggregate steps to `interval` bars (integers); quote volumes as price x qty per step."""
    interval_us = KLINE_INTERVALS_US[interval]
    return (
        steps.with_columns(
            (pl.col("ts_us") // interval_us * interval_us).alias("open_us"),
            (pl.col("close") * pl.col("qty")).alias("quote"),
            (pl.col("close") * pl.col("taker_qty")).alias("taker_quote"),
        )
        .group_by("open_us", maintain_order=True)
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("qty").sum(),
            pl.col("quote").sum(),
            pl.col("count").sum(),
            pl.col("taker_qty").sum(),
            pl.col("taker_quote").sum(),
        )
        .with_columns(pl.lit(interval_us).alias("interval_us"))
    )


def _decimal_text(col: str, decimals: int, width: int) -> pl.Expr:
    """Integer units of 10**-decimals -> plain decimal text with `width` fractional digits (>= decimals)."""
    units = pl.col(col)
    whole = (units // 10**decimals).cast(pl.String)
    if width == 0:
        return whole
    frac = (units % 10**decimals).cast(pl.String).str.zfill(decimals) + "0" * (width - decimals)
    return pl.concat_str(whole, pl.lit("."), frac.str.slice(0, width))


def _csv_frame(bars: pl.DataFrame, exchange: str, price_decimals: int) -> pl.DataFrame:
    """The 12 Binance columns as text: ms times, inclusive close_time, the market's decimal style."""
    spot = exchange == "binance"
    price_w = _SPOT_DECIMALS if spot else price_decimals
    qty_w = _SPOT_DECIMALS if spot else _QTY_DECIMALS
    quote_decimals = price_decimals + _QTY_DECIMALS
    quote_w = _SPOT_DECIMALS if spot else max(quote_decimals, 5)
    open_ms = pl.col("open_us") // _MS
    return bars.select(
        open_ms.cast(pl.String).alias("open_time"),
        *[_decimal_text(c, price_decimals, price_w).alias(c) for c in ("open", "high", "low", "close")],
        _decimal_text("qty", _QTY_DECIMALS, qty_w).alias("volume"),
        (open_ms + pl.col("interval_us") // _MS - 1).cast(pl.String).alias("close_time"),
        _decimal_text("quote", quote_decimals, quote_w).alias("quote_volume"),
        pl.col("count").cast(pl.String),
        _decimal_text("taker_qty", _QTY_DECIMALS, qty_w).alias("taker_buy_volume"),
        _decimal_text("taker_quote", quote_decimals, quote_w).alias("taker_buy_quote_volume"),
        pl.lit("0").alias("ignore"),
    )


def _inject(csv: pl.DataFrame, rel_path: str, seed: int) -> tuple[pl.DataFrame, dict[int, str]]:
    """Overwrite one row per bad kind at seeded lines (never the first or last); {} if the file is too short."""
    if csv.height < len(BAD_KINDS) + 2:
        return csv, {}
    lines = random.Random(f"{seed}|bad|{rel_path}").sample(range(2, csv.height), len(BAD_KINDS))
    bad = dict(zip(sorted(lines), BAD_KINDS, strict=True))
    line = pl.int_range(1, pl.len() + 1)
    swap = line == [n for n, k in bad.items() if k == "high_below_low"][0]
    text = line == [n for n, k in bad.items() if k == "non_numeric_price"][0]
    csv = csv.with_columns(
        pl.when(swap).then(pl.col("low")).otherwise(pl.col("high")).alias("high"),
        pl.when(swap).then(pl.col("high")).otherwise(pl.col("low")).alias("low"),
        pl.when(text).then(pl.lit(NON_NUMERIC)).otherwise(pl.col("close")).alias("close"),
    )
    return csv, bad


def _zip_bytes(member: str, data: bytes) -> bytes:
    """A one-member deflate zip with fixed metadata, so the bytes depend only on `data`."""
    info = zipfile.ZipInfo(member, date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = 0o644 << 16
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(info, data, compresslevel=6)
    return buffer.getvalue()


def _write_file(
    manifest: SampleManifest,
    subdir: str,
    exchange: str,
    symbol: str,
    interval: str,
    period: str,
    first: dt.date,
    steps: pl.DataFrame,
    bad_rows: bool,
) -> None:
    """Aggregate, format, optionally spoil, zip and checksum one file; record it in the manifest."""
    name = zip_name(symbol, interval, period_key(first, period))
    folder = bronze_dir(manifest.bronze_root, subdir, exchange, interval, symbol)
    rel_path = (folder / name).relative_to(manifest.bronze_root).as_posix()
    csv = _csv_frame(_bars(steps, interval), exchange, _market(symbol)[1])
    if bad_rows:
        csv, bad = _inject(csv, rel_path, manifest.seed)
        if bad:
            manifest.bad_rows[rel_path] = bad
    text = csv.write_csv(include_header=False, quote_style="never", line_terminator="\n").encode()
    archive = _zip_bytes(name.removesuffix(".zip") + ".csv", text)
    digest = sha256_bytes(archive)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(archive)
    (folder / (name + CHECKSUM_SUFFIX)).write_bytes(checksum_text(digest, name).encode())
    manifest.files.append(SampleFile(rel_path, exchange, symbol, interval, period, first, csv.height, digest))


def _exchange_arg(text: str) -> tuple[str, list[str]]:
    exchange, _, symbols = text.partition("=")
    if not symbols:
        raise argparse.ArgumentTypeError(f"expected EXCHANGE=SYM1,SYM2, got {text!r}")
    return exchange, [s for s in symbols.split(",") if s]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vendors.binance_vision.sample", description=__doc__.split("\n")[0])
    parser.add_argument("--bronze-root", type=Path, required=True)
    parser.add_argument(
        "--market",
        type=_exchange_arg,
        action="append",
        help="EXCHANGE=SYM1,SYM2 (repeatable); default binance-futures=BTCUSDT,ETHUSDT",
    )
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2024, 5, 1))
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--intervals", nargs="+", default=["1h", "1d"])
    parser.add_argument("--period", choices=("daily", "monthly"), default="daily")
    parser.add_argument("--bad-rows", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    markets = dict(args.market or [("binance-futures", ["BTCUSDT", "ETHUSDT"])])
    days = [args.start + dt.timedelta(days=n) for n in range(args.days)]
    manifest = write_sample_klines(
        args.bronze_root, markets, days, args.intervals, period=args.period, bad_rows=args.bad_rows, seed=args.seed
    )
    print(f"wrote {len(manifest.files)} files, {manifest.rows} rows under {args.bronze_root}")
    for reason, n in manifest.expected_quarantine().items():
        print(f"  bad rows: {n} x {reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
