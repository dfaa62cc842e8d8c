"""`make demo`: write a sample Bronze tree, materialize every asset into the local lake, summarize.

Runs against Dagster's local instance ($DAGSTER_HOME, default ./.dagster_home), so the runs
show up in `make ui` afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

import polars as pl
from dagster import DagsterInstance, materialize

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pointline_assets.dimensions import dim_exchange, dim_symbol  # noqa: E402
from pointline_assets.events import quotes, trades  # noqa: E402
from pointline_assets.partitions import partition_key, sync_exchange_partitions  # noqa: E402
from pointline_defs import defs  # noqa: E402
from resources.lake import LakeResource  # noqa: E402
from vendors.tardis.sample import write_sample_bronze  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start", default="2024-05-01")
    parser.add_argument("--days", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("DAGSTER_HOME", str(REPO / ".dagster_home"))
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    (Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml").touch()

    lake_res = LakeResource()
    bronze_root = lake_res.resolved_bronze_root()
    start = dt.date.fromisoformat(args.start)
    sample = write_sample_bronze(bronze_root, start=start, days=args.days)
    print(f"sample Bronze: {len(sample.files)} files under {bronze_root}")

    instance = DagsterInstance.get()
    resources = defs.resources
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    _run(materialize([dim_exchange, dim_symbol], instance=instance, resources=resources, run_config=quiet))

    exchanges = sorted({f.exchange for f in sample.files})
    sync_exchange_partitions(instance, exchanges)
    silver = [trades, quotes]
    for day in (start + dt.timedelta(days=i) for i in range(args.days)):
        for exchange in exchanges:
            key = partition_key(day, exchange)
            result = materialize(
                silver,
                instance=instance,
                resources=resources,
                partition_key=key,
                raise_on_error=False,
                run_config=quiet,
            )
            _run(result)
            print(f"materialized trades, quotes for {key}")
    _summary(lake_res)


def _run(result) -> None:
    if not result.success:
        failed = [e.message for e in result.all_events if e.is_failure]
        print("a run failed:\n  " + "\n  ".join(failed), file=sys.stderr)


def _summary(lake_res: LakeResource) -> None:
    lake = lake_res.lake()
    print(f"\nlake: {lake.root}")
    for table in ("dim_exchange", "dim_symbol", "trades", "quotes"):
        df = lake.read(table)
        if "date" in df.columns and table in ("trades", "quotes"):
            parts = df.select("date", "exchange").unique().height
            print(f"  {table:<12} {df.height:>8} rows in {parts} partitions")
        else:
            print(f"  {table:<12} {df.height:>8} rows")
    q = lake.read("quarantine")
    print(f"  {'quarantine':<12} {q.height:>8} rows")
    if q.height:
        by = q.group_by("table_name", "reason").len().sort("table_name", "reason")
        for table, reason, n in by.iter_rows():
            print(f"      {table:<8} {reason:<28} {n}")
    print("\nopen the UI: make ui   (then http://127.0.0.1:3000)")
    print("query it:    .venv/bin/python -c \"import polars as pl; print(pl.read_delta('lake/silver/trades').head())\"")


if __name__ == "__main__":
    pl.Config.set_tbl_rows(20)
    main()
