"""Ingest throughput and memory of the `trades` asset against plain Polars (`make bench`).

One run:

1. builds a Bronze tree in a work directory: the Tardis sample (instruments snapshots, so
   binance-futures BTCUSDT resolves in dim_symbol, plus tiny trades/quotes files with their bad
   rows) and one big, valid trades file of ``--rows`` rows at
   ``tardis/exchange=binance-futures/type=trades/date=2024-05-01/symbol=BTCUSDT/BTCUSDT.csv.gz``
   (``vendors.tardis.sample.write_trades_file``); its prices and amounts are checked against the
   instrument's tick and amount step, so every row of the big file must reach Silver;
2. **pointline**, in a fresh subprocess: materializes dim_exchange and dim_symbol (not timed),
   then times ``materialize([trades], partition_key="2024-05-01|binance-futures")`` through the
   real asset (validation, point-in-time resolution, lineage, quarantine and checks on), with a
   temporary DAGSTER_HOME and lake;
3. **baseline**, in another fresh subprocess, same file: ``pl.read_csv`` (inferred types), the
   date from local_timestamp, ``write_delta(mode="overwrite", partition_by=["date"])``;
4. **phases**, in a third subprocess: calls ``pointline.pipeline.ingest_partition`` and
   ``check_stored_partition`` directly once, with timers wrapped around the functions they call
   (discover, hash, read, coerce, rules, PIT, quarantine, write, checks) and an RSS sampler, to
   show where time and memory go.

Steps 2 and 3 run in ``--rounds`` interleaved rounds (default 3), each into an empty lake: the
machine's speed drifts between minutes, so each side is represented by its median run and
every round's seconds and ratio are printed.

Each measured child reports the wall time of the measured call, its RSS just before the call
and the peak RSS (VmHWM) of the whole process. rows/s = rows of the big file / wall time.
Targets: pointline throughput >= 0.7x the baseline, peak memory <= 1.5x the baseline.

    .venv/bin/python bench/ingest_trades.py [--rows 2000000] [--rounds 3] [--keep DIR]
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
import time
from decimal import Decimal
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    MB,
    Child,
    Partition,
    check_pointline_wrote_all,
    child_baseline,
    child_phases,
    child_pointline,
    main,
    print_phases,
    print_table,
    run_child,
    run_rounds,
    write_dagster_home,
)

DATE = dt.date(2024, 5, 1)
EXCHANGE = "binance-futures"
SYMBOL = "BTCUSDT"
TABLE = "trades"
TRADES_REL = f"tardis/exchange={EXCHANGE}/type=trades/date={DATE}/symbol={SYMBOL}/{SYMBOL}.csv.gz"
INSTRUMENTS_REL = f"tardis/exchange={EXCHANGE}/type=instruments/date={DATE}/instruments.json"
SAMPLE_ROWS_PER_FILE = 30  # the smallest the sample generator allows: the other files stay tiny
TARGET_THROUGHPUT = 0.7  # pointline rows/s >= 0.7 x baseline rows/s
TARGET_MEMORY = 1.5  # pointline peak RSS <= 1.5 x baseline peak RSS
PARTITION = Partition(TABLE, DATE, EXCHANGE, TRADES_REL)


# ---- Bronze ---------------------------------------------------------------------------
def build_bronze(bronze: Path, rows: int) -> tuple[Path, float]:
    """Sample Tardis tree (instruments + tiny files) plus the big trades file; (its path, seconds)."""
    from vendors.tardis.sample import write_sample_bronze, write_trades_file

    start = time.perf_counter()
    write_sample_bronze(bronze, start=DATE, days=1, rows_per_file=SAMPLE_ROWS_PER_FILE)
    path = write_trades_file(bronze / TRADES_REL, rows, exchange=EXCHANGE, symbol=SYMBOL, day=DATE)
    return path, time.perf_counter() - start


def _off_grid(values: pl.Series, step: Decimal) -> list[str]:
    """Distinct decimal texts that are not a whole multiple of `step`."""
    return [v for v in values.unique().to_list() if v is None or Decimal(v) % step != 0]


def check_trades_file(bronze: Path, path: Path, rows: int) -> dict[str, str]:
    """Fail unless the big file has `rows` rows on the instrument's price tick and amount step."""
    records = json.loads((bronze / INSTRUMENTS_REL).read_text(encoding="utf-8"), parse_float=Decimal)
    inst = next(r for r in records if r["id"] == SYMBOL)
    if inst.get("changes"):
        raise SystemExit(f"{SYMBOL} has a tick-size history in the sample; the benchmark expects one grid")
    tick, step = Decimal(str(inst["priceIncrement"])), Decimal(str(inst["amountIncrement"]))
    frame = pl.read_csv(path, columns=["price", "amount"], infer_schema=False)
    problems = {"price": _off_grid(frame["price"], tick), "amount": _off_grid(frame["amount"], step)}
    if frame.height != rows or any(problems.values()):
        raise SystemExit(f"{path}: {frame.height} rows (expected {rows}), off-grid values: {problems}")
    return {"price_increment": str(tick), "amount_increment": str(step)}


# ---- children ---------------------------------------------------------------------------
CHILDREN: dict[str, Child] = {
    "pointline": lambda work, rows: child_pointline(work, rows, PARTITION),
    "pointline_memory": lambda work, rows: child_pointline(work, rows, PARTITION, in_memory=True),
    "baseline": lambda work, rows: child_baseline(work, rows, PARTITION),
    "phases": lambda work, rows: child_phases(work, rows, PARTITION),
}


# ---- main -----------------------------------------------------------------------------
def bench(work: Path, rows: int, rounds: int) -> None:
    """Build Bronze, run the children in turn (never in parallel) and print the report."""
    print(
        f"python {platform.python_version()}, polars {pl.__version__}, {os.cpu_count()} cores; work dir {work}",
        flush=True,
    )
    bronze = work / "bronze"
    path, gen_s = build_bronze(bronze, rows)
    grid = check_trades_file(bronze, path, rows)
    file_mb = path.stat().st_size / MB
    print(f"wrote {rows:,} rows ({file_mb:.1f} MB) in {gen_s:.1f}s; on the instrument grid {grid}", flush=True)
    write_dagster_home(work / "dagster_home")
    results = run_rounds(Path(__file__), work, rows, ("pointline", "pointline_memory", "baseline"), rounds)
    print("running phases ...", flush=True)
    results["phases"] = run_child(Path(__file__), "phases", work, rows)
    point, base = results["pointline"], results["baseline"]
    check_pointline_wrote_all(point, base, PARTITION, rows)
    subject = f"{TABLE} rows, {EXCHANGE} {SYMBOL} {DATE}"
    print_table(point, base, subject, file_mb, TARGET_THROUGHPUT, TARGET_MEMORY)
    memory = results["pointline_memory"]
    in_memory_ratio, sqlite_ratio = base.seconds / memory.seconds, base.seconds / point.seconds
    print(
        f"same run on Dagster's in-memory instance: {memory.seconds:.2f}s, {rows / memory.seconds:,.0f} rows/s, "
        f"{in_memory_ratio:.2f}x the baseline (SQLite instance above: {sqlite_ratio:.2f}x)"
    )
    print_phases(results["phases"])


if __name__ == "__main__":
    raise SystemExit(main(None, doc=__doc__, default_rows=2_000_000, children=CHILDREN, bench=bench))
