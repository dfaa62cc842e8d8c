"""Point-in-time symbol coverage and the quarantine split for one wide partition (issue 6, "Speed").

Target: PIT coverage and quarantine for a file covering 3,000 symbols x 1,000 rows is one
vectorized pass under 100 ms (the earlier Pointline's roadmap asked for under 1 s, against
10-30 s before). Measured here: `pointline.pit.resolve_symbol_ids` (what the ingest core runs on
every row, `pointline.ingest._apply_rules`) plus the split into Silver rows and quarantined rows,
against the textbook hand-written PIT join in plain Polars on the same frames (a backward
`join_asof` on `valid_from_us` by (exchange, symbol), then the `valid_until_us` check, then the
same split). Both must give identical symbol_ids; the ratio is printed.

The data is a trading day of an Asia/Shanghai exchange: `--symbols` six-digit codes with
`--rows` events each between 09:15 and 15:00 local time, sorted by symbol then time as a per-security
feed concatenates; dim_symbol (built by `pointline.scd2.versions_to_dim`, the real builder) holds one
open version per code, except 2% of codes missing (their rows are quarantined), 3% whose
metadata changes at 11:00 local (two versions: the slow path) and 1% listed at 10:00 local (rows
before the listing are quarantined).

    .venv/bin/python bench/pit_coverage.py                      # 3,000 x 1,000
    .venv/bin/python bench/pit_coverage.py --symbols 5000 --rows 2000 --repeat 30
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from pointline.pit import resolve_symbol_ids  # noqa: E402
from pointline.scd2 import versions_to_dim  # noqa: E402
from vendors.base import INSTRUMENT_COLUMNS  # noqa: E402

EXCHANGE = "szse"
DAY_START_US = 1_727_625_600_000_000  # 2024-09-30 00:00 Asia/Shanghai (2024-09-29T16:00Z)
HOUR_US = 3_600_000_000
TARGET_MS = 100.0


def codes(n: int) -> list[str]:
    return [f"{i:06d}" for i in range(1, n + 1)]


def build_dim(symbols: list[str], rng: np.random.Generator) -> tuple[pl.DataFrame, dict[str, int]]:
    """dim_symbol versions: most codes open since 2020; some missing, changed at 11:00 or listed at 10:00."""
    kind = rng.choice(["open", "missing", "changed", "listed"], size=len(symbols), p=[0.94, 0.02, 0.03, 0.01])
    listed_2020 = 1_577_836_800_000_000
    rows = []
    for code, k in zip(symbols, kind, strict=True):
        base = dict.fromkeys(INSTRUMENT_COLUMNS) | {
            "exchange": EXCHANGE,
            "exchange_symbol": code,
            "instrument_type": "spot",
            "base_asset": code,
            "quote_asset": "CNY",
            "price_increment": "0.01",
            "amount_increment": "100",
            "source": "bench",
        }
        if k == "missing":
            continue
        if k == "listed":
            rows.append(base | {"valid_from_us": DAY_START_US + 10 * HOUR_US})
        elif k == "changed":
            change = DAY_START_US + 11 * HOUR_US
            rows.append(base | {"valid_from_us": listed_2020, "valid_until_us": change})
            rows.append(base | {"valid_from_us": change, "amount_increment": "200"})
        else:
            rows.append(base | {"valid_from_us": listed_2020})
    dim = versions_to_dim(pl.DataFrame(rows, schema=INSTRUMENT_COLUMNS))
    return dim, dict(zip(symbols, kind, strict=True))


def build_rows(symbols: list[str], rows_per_symbol: int, rng: np.random.Generator) -> pl.DataFrame:
    start, end = DAY_START_US + 9 * HOUR_US + 15 * 60_000_000, DAY_START_US + 15 * HOUR_US
    ts = np.sort(rng.integers(start, end, size=(len(symbols), rows_per_symbol)), axis=1).ravel()
    return pl.DataFrame(
        {
            "exchange": pl.Series([EXCHANGE] * ts.size, dtype=pl.String),
            "symbol": pl.Series(symbols, dtype=pl.String).gather(np.repeat(np.arange(len(symbols)), rows_per_symbol)),
            "ts_local_us": ts,
        }
    )


def pointline_split(rows: pl.DataFrame, dim: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    resolved = rows.with_columns(resolve_symbol_ids(rows, dim))
    return _split(resolved)


def _split(resolved: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows that resolved, rows to quarantine): one mask, two filters."""
    found = resolved.get_column("symbol_id").is_not_null()
    return resolved.filter(found), resolved.filter(~found)


def hand_written_split(rows: pl.DataFrame, dim: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The plain-Polars PIT join a researcher would write: join_asof, then the end of the window."""
    windows = dim.select(
        pl.col("exchange"), pl.col("exchange_symbol").alias("symbol"), "valid_from_us", "valid_until_us", "symbol_id"
    ).sort("valid_from_us")
    joined = (
        rows.with_row_index("_row")
        .sort("ts_local_us")
        .join_asof(windows, left_on="ts_local_us", right_on="valid_from_us", by=["exchange", "symbol"])
        .with_columns(
            pl.when(pl.col("ts_local_us") < pl.col("valid_until_us")).then(pl.col("symbol_id")).alias("symbol_id")
        )
        .sort("_row")
        .select(*rows.columns, "symbol_id")
    )
    return _split(joined)


def measure(run: Callable[[], object], repeat: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return times


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    return f"median {statistics.median(ordered):7.1f} ms   min {ordered[0]:7.1f}   max {ordered[-1]:7.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=3000)
    parser.add_argument("--rows", type=int, default=1000, help="rows per symbol")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    symbols = codes(args.symbols)
    dim, kinds = build_dim(symbols, rng)
    rows = build_rows(symbols, args.rows, rng)
    good, bad = pointline_split(rows, dim)
    ref_good, ref_bad = hand_written_split(rows, dim)
    assert good.equals(ref_good) and bad.equals(ref_bad), "pointline and the hand-written PIT join disagree"
    assert good.height + bad.height == rows.height
    counts = {k: sum(1 for v in kinds.values() if v == k) for k in ("open", "missing", "changed", "listed")}

    print(
        f"PIT coverage + quarantine split: {args.symbols:,} symbols x {args.rows:,} rows = {rows.height:,} rows; "
        f"dim_symbol {dim.height:,} versions ({counts}); polars {pl.__version__}"
    )
    print(f"rows resolved {good.height:,}, quarantined {bad.height:,} (missing symbol or before the listing)")
    ours = measure(lambda: pointline_split(rows, dim), args.repeat)
    theirs = measure(lambda: hand_written_split(rows, dim), args.repeat)
    print(f"pointline.pit.resolve_symbol_ids + split   {summary(ours)}")
    print(f"hand-written join_asof + split             {summary(theirs)}")
    ratio = statistics.median(ours) / statistics.median(theirs)
    verdict = "PASS" if statistics.median(ours) < TARGET_MS else "MISS"
    print(f"target: under {TARGET_MS:.0f} ms -> {verdict} ({statistics.median(ours):.1f} ms median)")
    print(f"ratio pointline / hand-written (medians): {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
