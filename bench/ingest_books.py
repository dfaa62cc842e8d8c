"""Ingest throughput and memory of the `book_snapshot_25` asset against plain Polars.

One run, built like bench/ingest_trades.py:

1. builds a Bronze tree in a work directory: the Tardis sample's instruments snapshots (so
   binance-futures BTCUSDT resolves in dim_symbol; the sample's tiny trades/quotes files come
   along and do not feed this table) and one big, valid book_snapshot_25 file of ``--rows``
   rows at ``tardis/exchange=binance-futures/type=book_snapshot_25/date=2024-05-01/symbol=BTCUSDT/
   BTCUSDT.csv.gz``, in the exact Tardis layout: header
   ``exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price,
   bids[0].amount,asks[1].price,...,bids[24].amount`` (checked against the real fixture when
   ../shared is present), microsecond timestamps (exchange ``timestamp`` in whole ms, 1-200 ms
   before ``local_timestamp``), numbers as plain decimal text with trailing zeros trimmed.
   The book is generated vectorized (numpy + polars): the best bid follows a random walk on the
   instrument's price tick, the spread is one tick most of the time, level gaps are a tick or a
   few, sizes are log-normal multiples of the amount step, and each level keeps its gap and
   size for a while (consecutive snapshots differ in a few levels, as real ones do). The file
   is verified before timing: on the instrument's grids, bids strictly descending, asks strictly
   ascending, best bid < best ask, local_timestamp strictly increasing; so every row must reach
   Silver;
2. **pointline**, in a fresh subprocess: materializes dim_exchange and dim_symbol (not timed),
   then times ``materialize([book_snapshot_25], partition_key="2024-05-01|binance-futures")``
   in-process through the real asset (validation, exact List(Decimal) levels, point-in-time
   resolution, lineage, quarantine and checks on), with a temporary SQLite DAGSTER_HOME and lake
   (Dagster's own cost is printed apart: ~1 s per run, small next to the ingestion of a book file);
3. **baseline**, in another fresh subprocess, same file: ``pl.read_csv`` (inferred types: the
   levels become 100 Float64 columns), the date from local_timestamp,
   ``write_delta(mode="overwrite", partition_by=["date"])``;
4. **phases**, in a last subprocess: ``pointline.pipeline.ingest_partition`` and
   ``check_stored_partition`` once, with timers around the functions they call (read, the
   conversion of each column, parse_exact_list, rules + PIT, the Parquet write, each check)
   and an RSS sampler: a short summary (read, coerce, rules+PIT, write, checks), then the tree.

Steps 2 and 3 run in ``--rounds`` interleaved rounds (default 3), each into an empty lake: the
machine's speed drifts between minutes, so each side is represented by its median run and
every round's seconds and ratio are printed.

rows/s = rows of the big file / wall time of the measured call. Target: pointline throughput
>= 0.5x the baseline's; peak memory is reported (ratio, no target).

    .venv/bin/python bench/ingest_books.py [--rows 300000] [--rounds 3] [--keep DIR]
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import os
import platform
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    MB,
    REPO_ROOT,
    Child,
    Partition,
    PhaseStat,
    Profiler,
    RunResult,
    check_pointline_wrote_all,
    child_baseline,
    child_phases,
    child_pointline,
    instrument_pipeline,
    main,
    phase_stats,
    print_phases,
    print_table,
    run_child,
    run_rounds,
    write_dagster_home,
)

DATE = dt.date(2024, 5, 1)
EXCHANGE = "binance-futures"
SYMBOL = "BTCUSDT"
TABLE = "book_snapshot_25"
LEVELS = 25
BOOK_REL = f"tardis/exchange={EXCHANGE}/type={TABLE}/date={DATE}/symbol={SYMBOL}/{SYMBOL}.csv.gz"
INSTRUMENTS_REL = f"tardis/exchange={EXCHANGE}/type=instruments/date={DATE}/instruments.json"
REAL_FIXTURE = REPO_ROOT.parent / "shared/fixtures/real/tardis/binance-futures_book_snapshot_25_BTCUSDT.csv"
SAMPLE_ROWS_PER_FILE = 30  # the smallest the sample generator allows: its files stay tiny
DEFAULT_ROWS = 300_000
TARGET_THROUGHPUT = 0.5  # pointline rows/s >= 0.5 x baseline rows/s
TARGET_MEMORY = None  # peak RSS ratio reported, no target for books
PARTITION = Partition(TABLE, DATE, EXCHANGE, BOOK_REL)

# Generator parameters (BTC around 60,000 USDT on 2024-05-01).
REFERENCE_PRICE = 60_000
MOVE_PROBABILITY = 0.3  # the best bid moves between two snapshots this often, by Geometric(0.5) ticks
SPREAD_P = 0.9  # spread in ticks ~ Geometric(0.9): one tick most of the time
GAP_P = 0.6  # gap between adjacent levels in ticks ~ Geometric(0.6)
GAP_CHANGE = 0.05  # a level's gap to the one above changes at a snapshot with this probability
SIZE_MEDIAN_STEPS, SIZE_SIGMA, SIZE_MAX_STEPS = 300, 1.6, 1_000_000  # log-normal sizes, in amount steps
SIZE_CHANGE = (0.5, 0.05)  # probability a level's size changes at a snapshot: best level .. level 24
EDGE_US = 1_000_000  # the first and last snapshot stay 1 s inside the UTC day
CSV_CHUNK_ROWS = 50_000
GZIP_LEVEL = 1  # level 6 is 3x slower to write for a 30% smaller file; readers inflate either alike
US_PER_DAY = 86_400_000_000
PARTITION_START_US = (DATE - dt.date(1970, 1, 1)).days * US_PER_DAY  # binance-futures days are UTC


# ---- Bronze ---------------------------------------------------------------------------
def book_header(depth: int = LEVELS) -> list[str]:
    """The Tardis book_snapshot_<depth> header: per level asks price, amount, then bids price, amount."""
    levels = [f"{side}[{i}].{f}" for i in range(depth) for side in ("asks", "bids") for f in ("price", "amount")]
    return ["exchange", "symbol", "timestamp", "local_timestamp", *levels]


def _decimals(increment: Decimal) -> tuple[int, int]:
    """(decimals, units): `increment` = units * 10**-decimals, e.g. 0.1 -> (1, 1), 0.5 -> (1, 5), 10 -> (0, 10)."""
    decimals = max(0, -int(increment.normalize().as_tuple().exponent))
    return decimals, int(increment.scaleb(decimals))


def _texts(lo: int, hi: int, decimals: int) -> pl.Series:
    """Decimal text of every integer of units 10**-decimals in [lo, hi], trailing zeros trimmed.

    600123 @1 -> "60012.3", 600120 @1 -> "60012", 12 @3 -> "0.012" (as Tardis writes numbers).
    """
    units = pl.int_range(lo, hi + 1, eager=True)
    if decimals == 0:
        return units.cast(pl.String)
    scale = 10**decimals
    value = pl.lit(units)
    frac = (value % scale).cast(pl.String).str.zfill(decimals)
    text = pl.concat_str([value // scale, pl.lit("."), frac]).str.strip_chars_end("0").str.strip_chars_end(".")
    return pl.select(text).to_series()


def _formatted(units: np.ndarray, decimals: int) -> list[pl.Series]:
    """Rows of a (levels, n) array of non-negative units as text columns, through one lookup table."""
    lo, hi = int(units.min()), int(units.max())
    if lo < 0:
        raise ValueError("book prices and sizes must be non-negative")
    table = _texts(lo, hi, decimals)
    return [table.gather(row - lo) for row in units]


def _held(rng: np.random.Generator, fresh: np.ndarray, change: np.ndarray) -> np.ndarray:
    """(levels, n): level l takes a fresh value at a snapshot with probability change[l], else keeps its last one."""
    levels, n = fresh.shape
    changes = rng.random(fresh.shape) < change.reshape(-1, 1)
    changes[:, 0] = True
    last = np.maximum.accumulate(np.where(changes, np.arange(n), 0), axis=1)
    return np.take_along_axis(fresh, last, axis=1)


def book_frame(
    n: int,
    *,
    tick: Decimal,
    step: Decimal,
    day: dt.date = DATE,
    exchange: str = EXCHANGE,
    symbol: str = SYMBOL,
    seed: int = 0,
) -> pl.DataFrame:
    """`n` valid book_snapshot_25 rows of one UTC day as Tardis text columns (vectorized)."""
    rng = np.random.default_rng(seed)
    price_decimals, tick_units = _decimals(tick)
    size_decimals, step_units = _decimals(step)
    # arrival times: strictly increasing, spread over the day; exchange time 1-200 ms earlier, whole ms
    day_us = (day - dt.date(1970, 1, 1)).days * US_PER_DAY
    draws = rng.exponential(1.0, n)
    gaps = 1 + np.floor(draws / draws.sum() * (US_PER_DAY - 2 * EDGE_US - n)).astype(np.int64)
    local = day_us + EDGE_US + np.cumsum(gaps)
    lag = rng.integers(1_000, 199_000, n)  # + ms flooring (< 1 ms): lags stay in [1, 200) ms
    exchange_ts = np.maximum.accumulate((local - lag) // 1000 * 1000)
    # prices, in ticks: best bid random walk, spread, gaps between levels
    moves = np.where(rng.random(n) < MOVE_PROBABILITY, rng.choice([-1, 1], n) * rng.geometric(0.5, n), 0)
    best_bid = REFERENCE_PRICE * 10**price_decimals // tick_units + np.cumsum(moves)
    best_ask = best_bid + rng.geometric(SPREAD_P, n)

    def depth_offsets() -> np.ndarray:
        gap = _held(rng, rng.geometric(GAP_P, (LEVELS, n)), np.full(LEVELS, GAP_CHANGE))
        gap[0] = 0
        return np.cumsum(gap, axis=0)

    bids = (best_bid - depth_offsets()) * tick_units
    asks = (best_ask + depth_offsets()) * tick_units
    if bids.min() <= 0:
        raise ValueError("the generated book reaches non-positive prices; raise REFERENCE_PRICE")

    def sizes() -> np.ndarray:
        steps = rng.lognormal(np.log(SIZE_MEDIAN_STEPS), SIZE_SIGMA, (LEVELS, n))
        fresh = np.clip(np.round(steps), 1, SIZE_MAX_STEPS).astype(np.int64)
        return _held(rng, fresh, np.linspace(*SIZE_CHANGE, LEVELS)) * step_units

    ask_sizes, bid_sizes = sizes(), sizes()
    prices = _formatted(np.concatenate([asks, bids]), price_decimals)
    amounts = _formatted(np.concatenate([ask_sizes, bid_sizes]), size_decimals)
    columns: dict[str, pl.Series] = {
        "exchange": pl.repeat(exchange, n, eager=True),
        "symbol": pl.repeat(symbol, n, eager=True),
        "timestamp": pl.Series(exchange_ts),
        "local_timestamp": pl.Series(local),
    }
    for i in range(LEVELS):
        columns[f"asks[{i}].price"] = prices[i]
        columns[f"asks[{i}].amount"] = amounts[i]
        columns[f"bids[{i}].price"] = prices[LEVELS + i]
        columns[f"bids[{i}].amount"] = amounts[LEVELS + i]
    frame = pl.DataFrame(columns)
    return frame.select(book_header())


def write_csv_gz(frame: pl.DataFrame, path: Path, level: int = GZIP_LEVEL) -> Path:
    """Tardis CSV (LF, no quoting needed) in one gzip member with mtime 0; written to a temp name, renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with (
            tmp.open("wb") as raw,
            gzip.GzipFile(filename="", mode="wb", compresslevel=level, fileobj=raw, mtime=0) as out,
        ):
            for offset in range(0, max(frame.height, 1), CSV_CHUNK_ROWS):
                buffer = io.BytesIO()
                frame.slice(offset, CSV_CHUNK_ROWS).write_csv(buffer, include_header=offset == 0, null_value="")
                out.write(buffer.getbuffer())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def instrument_grid(bronze: Path) -> tuple[Decimal, Decimal]:
    """(price tick, amount step) of the benchmark's instrument in the sample's instruments snapshot."""
    records = json.loads((bronze / INSTRUMENTS_REL).read_text(encoding="utf-8"), parse_float=Decimal)
    inst = next(r for r in records if r["id"] == SYMBOL)
    if inst.get("changes"):
        raise SystemExit(f"{SYMBOL} has a tick-size history in the sample; the benchmark expects one grid")
    return Decimal(str(inst["priceIncrement"])), Decimal(str(inst["amountIncrement"]))


def build_bronze(bronze: Path, rows: int) -> tuple[Path, float]:
    """Sample Tardis tree (instruments + tiny files) plus the big book file; (its path, seconds)."""
    from vendors.tardis.sample import write_sample_bronze

    start = time.perf_counter()
    write_sample_bronze(bronze, start=DATE, days=1, rows_per_file=SAMPLE_ROWS_PER_FILE)
    tick, step = instrument_grid(bronze)
    path = write_csv_gz(book_frame(rows, tick=tick, step=step), bronze / BOOK_REL)
    return path, time.perf_counter() - start


def _grid_pattern(increment: Decimal) -> str:
    """Plain decimal text with trailing zeros trimmed and no more decimals than `increment` has."""
    decimals, _ = _decimals(increment)
    frac = rf"(\.[0-9]{{0,{decimals - 1}}}[1-9])?" if decimals else ""
    return rf"^(0|[1-9][0-9]*){frac}$"


def check_book_file(bronze: Path, path: Path, rows: int) -> dict[str, str]:
    """Fail unless the big file is a valid Tardis book_snapshot_25 file of `rows` rows on the instrument's grids."""
    from vendors.tardis.csv_reader import REQUIRED_COLUMNS

    with gzip.open(path, "rt", encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split(",")
    if header != book_header() or tuple(header) != REQUIRED_COLUMNS[TABLE]:
        raise SystemExit(f"{path}: header differs from the Tardis book_snapshot_25 header: {header[:8]}...")
    if REAL_FIXTURE.exists():
        real = REAL_FIXTURE.read_text(encoding="utf-8").splitlines()[0].split(",")
        if header != real:
            raise SystemExit(f"{path}: header differs from the real fixture {REAL_FIXTURE}")
    tick, step = instrument_grid(bronze)
    frame = pl.read_csv(path, infer_schema=False)
    prices = [c for c in header if c.endswith(".price")]
    amounts = [c for c in header if c.endswith(".amount")]

    def on_grid(cols: list[str], increment: Decimal) -> pl.Expr:
        """Trimmed plain decimal text, and a whole multiple of `increment` (compared as integer units)."""
        decimals, units = _decimals(increment)
        ok = pl.all_horizontal(pl.col(c).str.contains(_grid_pattern(increment)) for c in cols)
        if units == 1:  # the pattern allows no more decimals than the increment has: on the grid
            return ok
        whole = [pl.col(c).str.split(".").list.get(0).cast(pl.Int64) for c in cols]
        frac = [
            pl.col(c).str.split(".").list.get(1, null_on_oob=True).str.pad_end(decimals, "0").cast(pl.Int64)
            for c in cols
        ]
        scaled = [w * 10**decimals + f.fill_null(0) for w, f in zip(whole, frac, strict=True)]
        return ok & pl.all_horizontal(v % units == 0 for v in scaled)

    bid = [pl.col(f"bids[{i}].price").cast(pl.Float64) for i in range(LEVELS)]
    ask = [pl.col(f"asks[{i}].price").cast(pl.Float64) for i in range(LEVELS)]
    local, exch = pl.col("local_timestamp").cast(pl.Int64), pl.col("timestamp").cast(pl.Int64)
    flags = frame.select(
        prices_on_tick=on_grid(prices, tick),
        amounts_on_step=on_grid(amounts, step),
        bids_descending=pl.all_horizontal(a > b for a, b in zip(bid, bid[1:], strict=False)),
        asks_ascending=pl.all_horizontal(a < b for a, b in zip(ask, ask[1:], strict=False)),
        not_crossed=bid[0] < ask[0],
        sizes_positive=pl.all_horizontal(pl.col(c).cast(pl.Float64) > 0 for c in amounts),
        local_increasing=(local.diff() > 0).fill_null(True),
        exchange_before_local=(exch < local) & (local - exch < 200_000),
        in_day=local.is_between(PARTITION_START_US, PARTITION_START_US + US_PER_DAY, closed="left"),
    )
    failed = {k: flags.height - int(flags[k].sum()) for k in flags.columns if not flags[k].all()}
    if frame.height != rows or failed:
        raise SystemExit(f"{path}: {frame.height} rows (expected {rows}); rows failing each property: {failed}")
    return {"price_increment": str(tick), "amount_increment": str(step)}


# ---- phases ---------------------------------------------------------------------------
PARSE_LIST = "parse_exact_list (explode, parse, reshape)"
COMMIT_FILE = "delta commit of the file (_commit_file)"


def instrument_books(prof: Profiler) -> None:
    """The shared instrumentation plus the steps that matter for list columns."""
    import pointline.ingest as ingest
    import pointline.numbers as numbers

    instrument_pipeline(prof)
    prof.wrap(ingest, "parse_exact_list", PARSE_LIST)
    prof.wrap(numbers, "parse_exact", "parse_exact (the flat values)")
    prof.wrap(ingest, "_empty_as_null", "empty text -> null")


def _seconds(stats: list[PhaseStat], label: str, under: str | None = None) -> float:
    """Total seconds of the steps named `label` (optionally only below a step named `under`)."""
    return sum(s.seconds for s in stats if s.path[-1] == label and (under is None or under in s.path[:-1]))


def print_summary(phases: RunResult) -> None:
    """One line per phase: read, coerce (and parse_exact_list in it), rules + PIT, write, checks."""
    stats = phase_stats(phases)
    rows = [
        ("read (gzip + CSV, levels dictionary-encoded lists)", _seconds(stats, "read_events (csv_reader.read_table)")),
        ("coerce (text -> typed, exact decimals)", _seconds(stats, "coerce (_coerce)")),
        ("  of which the 4 level lists (summed, 2 in parallel)", _seconds(stats, PARSE_LIST)),
        ("rules + PIT (book rules, symbol_id)", _seconds(stats, "rules + PIT (_apply_rules)")),
        ("  of which PIT", _seconds(stats, "PIT (resolve_symbol_ids)")),
        (
            "sort + Parquet files (book_snapshot_25, quarantine)",
            _seconds(stats, "conform + sort (_ordered)") + _seconds(stats, "parquet file (_write_file)"),
        ),
        ("  of which polars write_parquet", _seconds(stats, "polars write_parquet")),
        ("Delta commits", _seconds(stats, COMMIT_FILE) + _seconds(stats, "commit (_commit)")),
        ("checks (read back + check)", _seconds(stats, "check_stored_partition")),
    ]
    total = sum(s.seconds for s in stats if len(s.path) == 1) or 1.0
    print(f"\nPhase summary ({phases.rows:,} rows, ingest_partition + checks {total:.2f}s):")
    for label, seconds in rows:
        print(f"  {label:<52} {seconds:7.2f}s {100 * seconds / total:5.1f}%")


# ---- children -------------------------------------------------------------------------
CHILDREN: dict[str, Child] = {
    "pointline": lambda work, rows: child_pointline(work, rows, PARTITION),
    "baseline": lambda work, rows: child_baseline(work, rows, PARTITION),
    "phases": lambda work, rows: child_phases(work, rows, PARTITION, instrument_books),
}


# ---- main -----------------------------------------------------------------------------
def bench(work: Path, rows: int, rounds: int) -> None:
    """Build Bronze, run the children in turn (never in parallel) and print the report."""
    print(
        f"python {platform.python_version()}, polars {pl.__version__}, numpy {np.__version__}, "
        f"{os.cpu_count()} cores; work dir {work}",
        flush=True,
    )
    bronze = work / "bronze"
    path, gen_s = build_bronze(bronze, rows)
    grid = check_book_file(bronze, path, rows)
    file_mb = path.stat().st_size / MB
    print(
        f"wrote {rows:,} book_snapshot_25 rows ({file_mb:.1f} MB csv.gz) in {gen_s:.1f}s; valid books "
        f"on the instrument grid {grid}",
        flush=True,
    )
    write_dagster_home(work / "dagster_home")
    results = run_rounds(Path(__file__), work, rows, ("pointline", "baseline"), rounds)
    print("running phases ...", flush=True)
    results["phases"] = run_child(Path(__file__), "phases", work, rows)
    point, base = results["pointline"], results["baseline"]
    check_pointline_wrote_all(point, base, PARTITION, rows)
    print_table(point, base, f"{TABLE} rows, {EXCHANGE} {SYMBOL} {DATE}", file_mb, TARGET_THROUGHPUT, TARGET_MEMORY)
    print(f"checks: {point.details['checks']}")
    floats = sum(v == "Float64" for v in base.details["schema"].values())
    print(f"baseline schema: {len(base.details['schema'])} columns, {floats} Float64 (inferred)")
    print_summary(results["phases"])
    print_phases(results["phases"])


if __name__ == "__main__":
    raise SystemExit(main(None, doc=__doc__, default_rows=DEFAULT_ROWS, children=CHILDREN, bench=bench))
