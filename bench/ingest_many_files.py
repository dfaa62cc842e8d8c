"""Ingest of a partition made of many small Bronze files, against plain Polars (`make bench`).

A real exchange-day comes as hundreds of per-symbol Tardis files, most of them small, and a
build pays fixed work per pass whatever its size; `pointline.ingest` therefore builds
consecutive small files together (``BATCH_ROWS``). This bench keeps that measured:

1. Bronze: the Tardis sample's binance-futures instruments snapshot plus ``--files`` synthetic
   perpetuals (BTCUSDT's grid, ids ``BTC0001USDT`` ...) and one valid trades file of
   ``--rows-per-file`` rows for each, in the Hive layout; dim_exchange and dim_symbol are
   materialized through their assets (not timed).
2. **pointline**: ``pointline.pipeline.ingest_partition`` + ``check_stored_partition`` for
   ``trades 2024-05-01|binance-futures`` (every file; validation, PIT, lineage, quarantine,
   checks), the engine without Dagster's fixed per-run cost (bench/ingest_trades.py measures
   that), once with batching (``BATCH_ROWS`` as shipped) and once file by file (``BATCH_ROWS
   = 0``);
3. **baseline**: ``pl.read_csv`` of the same files (one call, inferred types), the date,
   ``write_delta`` partitioned by date.

The three run in interleaved rounds (``--rounds``) in one process, each into an empty lake;
each is represented by its median. No target: the ratios are for information.

    .venv/bin/python bench/ingest_many_files.py [--files 300] [--rows-per-file 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import resources, write_dagster_home  # noqa: E402

DATE = dt.date(2024, 5, 1)
EXCHANGE = "binance-futures"
INSTRUMENTS_REL = f"tardis/exchange={EXCHANGE}/type=instruments/date={DATE}/instruments.json"


def symbols(n: int) -> list[str]:
    return [f"BTC{i:04d}USDT" for i in range(1, n + 1)]


def build_bronze(bronze: Path, n_files: int, rows_per_file: int) -> list[Path]:
    """The sample's instruments with `n_files` more perpetuals, and one trades file per perpetual."""
    from vendors.tardis.sample import write_sample_bronze, write_trades_file

    write_sample_bronze(bronze, start=DATE, days=1, rows_per_file=30, data_types=("trades",))
    for stale in (bronze / "tardis").glob("exchange=*/type=trades"):
        shutil.rmtree(stale)  # only the bench's files feed the partition
    path = bronze / INSTRUMENTS_REL
    records = json.loads(path.read_text(encoding="utf-8"))
    template = next(r for r in records if r["id"] == "BTCUSDT")
    records += [template | {"id": s, "datasetId": s} for s in symbols(n_files)]
    path.write_text(json.dumps(records), encoding="utf-8")
    files = []
    for n, symbol in enumerate(symbols(n_files)):
        rel = f"tardis/exchange={EXCHANGE}/type=trades/date={DATE}/symbol={symbol}/{symbol}.csv.gz"
        files.append(write_trades_file(bronze / rel, rows_per_file, exchange=EXCHANGE, symbol=symbol, seed=n))
    return files


def materialize_dims(work: Path) -> None:
    from dagster import DagsterInstance, materialize

    from pointline_assets.dimensions import dim_exchange, dim_symbol

    with DagsterInstance.ephemeral() as instance:
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        result = materialize([dim_exchange, dim_symbol], instance=instance, resources=resources(work), run_config=quiet)
        if not result.success:
            raise SystemExit("dimension materialization failed")


def run_pointline(work: Path, batch_rows: int, expected_rows: int) -> float:
    import pointline.ingest as ingest
    from pointline.checks import check_stored_partition
    from pointline.pipeline import ingest_partition

    res = resources(work)
    store, sources = res["lake"].lake(), res["vendors"].sources_for("trades")
    shipped, ingest.BATCH_ROWS = ingest.BATCH_ROWS, batch_rows
    try:
        start = time.perf_counter()
        report = ingest_partition(
            store, sources, res["lake"].resolved_bronze_root(), "trades", DATE, EXCHANGE, code_version="bench"
        )
        checks = check_stored_partition(store, report, 0.01)
        seconds = time.perf_counter() - start
    finally:
        ingest.BATCH_ROWS = shipped
    if report.rows_written != expected_rows or not all(c.passed for c in checks.values()):
        raise SystemExit(f"pointline wrote {report.rows_written} of {expected_rows} rows; checks {checks}")
    return seconds


def run_baseline(files: list[Path], out: Path, expected_rows: int) -> float:
    start = time.perf_counter()
    df = pl.read_csv(files)
    df = df.with_columns(pl.from_epoch("local_timestamp", "us").dt.date().alias("date"))
    df.write_delta(str(out), mode="overwrite", delta_write_options={"partition_by": ["date"]})
    seconds = time.perf_counter() - start
    if df.height != expected_rows:
        raise SystemExit(f"baseline read {df.height} rows, expected {expected_rows}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=300, help="small trades files in the partition")
    parser.add_argument("--rows-per-file", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="pointline-bench-many-"))
    try:
        import pointline.ingest as ingest

        write_dagster_home(work / "dagster_home")
        files = build_bronze(work / "bronze", args.files, args.rows_per_file)
        rows = args.files * args.rows_per_file
        print(f"{args.files} trades files x {args.rows_per_file:,} rows ({rows:,} rows), {EXCHANGE} {DATE}", flush=True)
        times: dict[str, list[float]] = {"pointline, batched": [], "pointline, file by file": [], "baseline": []}
        for n in range(1, args.rounds + 1):
            print(f"round {n}/{args.rounds} ...", flush=True)
            for label, batch_rows in (("pointline, batched", ingest.BATCH_ROWS), ("pointline, file by file", 0)):
                shutil.rmtree(work / "lake", ignore_errors=True)
                materialize_dims(work)
                times[label].append(run_pointline(work, batch_rows, rows))
            shutil.rmtree(work / "baseline_delta", ignore_errors=True)
            times["baseline"].append(run_baseline(files, work / "baseline_delta", rows))
        base = statistics.median(times["baseline"])
        print(f"\n{'run':<26} {'seconds':>8} {'rows/s':>11} {'vs baseline':>12}   rounds")
        for label, seconds in times.items():
            median = statistics.median(seconds)
            print(
                f"{label:<26} {median:>8.2f} {rows / median:>11,.0f} {base / median:>11.2f}x   "
                f"{[round(s, 2) for s in seconds]}"
            )
        print(f"(BATCH_ROWS = {ingest.BATCH_ROWS:,}; engine only: ingest_partition + checks, no Dagster run)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
