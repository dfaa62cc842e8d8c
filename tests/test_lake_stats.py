"""lake_stats reads the Delta log only, and its numbers are what a full Polars scan counts."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl
from deltalake import DeltaTable

from pointline.lake import Lake
from pointline.schemas import get_table_spec
from pointline.stats import (
    LAKE_STATS,
    STATS_SCHEMA,
    lake_stats,
    lake_stats_uri,
    partition_stats,
    read_snapshots,
    summarize,
    write_snapshot,
)
from tests.test_maintenance_frames import D1, D2, append_files, partition_of, spec_frame

TABLES = ("trades", "quotes", "book_snapshot_25", "quarantine", "dim_asset_stats", "dim_exchange")


def build_lake(root: Path) -> Lake:
    """Several tables and partition shapes: multi-file partitions, list columns, three partition keys,
    a date-only table, an unpartitioned table and an emptied partition."""
    lake = Lake(root)
    for n, (date, exchange) in enumerate([(D1, "binance"), (D2, "binance"), (D1, "deribit")]):
        values = {"date": date, "exchange": exchange}
        append_files(lake, "trades", values, [spec_frame("trades", values, 40 + n, start=k * 100) for k in range(3)])
        lake.write_partition("quotes", spec_frame("quotes", values, 25 + n), values)
    for table in ("book_snapshot_25", "quarantine", "dim_asset_stats"):
        values = partition_of(table)
        append_files(lake, table, values, [spec_frame(table, values, 6, start=k * 10) for k in range(2)])
    lake.replace_table("dim_exchange", spec_frame("dim_exchange", {}, 4))
    lake.write_partition("quotes", get_table_spec("quotes").empty(), {"date": D2, "exchange": "binance"})
    return lake


def _key(keys: list[str], prefix: str = "") -> pl.Expr:
    """The Hive-style partition key `a=1/b=x` from (prefixed) partition columns."""
    parts = [pl.format(f"{k}={{}}", pl.col(prefix + k).cast(pl.String)) for k in keys]
    return (pl.concat_str(parts, separator="/") if keys else pl.lit("")).alias("partition")


def full_scan(lake: Lake, table: str) -> pl.DataFrame:
    """What the stats should say, counted the expensive way: every row, and every file's size on disk."""
    spec = get_table_spec(table)
    keys, axis = list(spec.partition_by), spec.time_axis
    counted = (
        lake.read(table)
        .with_columns(_key(keys))
        .group_by("partition")
        .agg(
            pl.len().cast(pl.Int64).alias("rows"),
            (pl.col(axis).min() if axis else pl.lit(None, pl.Int64)).alias("time_min_us"),
            (pl.col(axis).max() if axis else pl.lit(None, pl.Int64)).alias("time_max_us"),
        )
    )
    table_dir = Path(lake.uri(table))
    on_disk = (
        pl.DataFrame(DeltaTable(lake.uri(table)).get_add_actions(flatten=True))
        .with_columns(_key(keys, "partition."))
        .group_by("partition")
        .agg(
            pl.len().cast(pl.Int64).alias("files"),
            pl.col("path").map_elements(lambda p: os.path.getsize(table_dir / p), return_dtype=pl.Int64).sum(),
        )
        .rename({"path": "bytes"})
    )
    return counted.join(on_disk, on="partition").select(COLUMNS).sort("partition")


COLUMNS = ["partition", "rows", "files", "bytes", "time_min_us", "time_max_us"]


def test_partition_numbers_equal_a_full_scan(tmp_path):
    lake = build_lake(tmp_path)
    stats = lake_stats(lake)
    assert stats.schema == STATS_SCHEMA
    assert sorted(stats["table"].unique()) == sorted(TABLES)
    for table in TABLES:
        mine = stats.filter(pl.col("table") == table).select(COLUMNS)
        assert mine.equals(full_scan(lake, table)), table
    assert stats.filter(pl.col("table") == "quarantine")["time_min_us"].is_null().all()  # no time axis


def test_date_and_exchange_columns_follow_the_partitioning(tmp_path):
    stats = lake_stats(build_lake(tmp_path))
    by_table = {t: frame for (t,), frame in stats.group_by("table")}
    assert by_table["trades"]["exchange"].to_list() == ["binance", "deribit", "binance"]
    assert by_table["quarantine"]["partition"].to_list() == ["table_name=trades/date=2024-05-01/exchange=binance"]
    assert by_table["dim_asset_stats"]["exchange"].is_null().all() and by_table["dim_asset_stats"][
        "date"
    ].to_list() == [D1]
    assert by_table["dim_exchange"].select("partition", "date", "exchange").row(0) == ("", None, None)
    # the emptied quotes partition holds no file, so it is not a partition any more
    assert by_table["quotes"]["partition"].to_list() == [
        "date=2024-05-01/exchange=binance",
        "date=2024-05-01/exchange=deribit",
    ]


def test_table_summary_equals_a_full_scan(tmp_path):
    lake = build_lake(tmp_path)
    summary = summarize(lake_stats(lake))
    for table in TABLES:
        spec = get_table_spec(table)
        data = lake.read(table)
        row = summary.filter(pl.col("table") == table).row(0, named=True)
        assert row["rows"] == data.height
        assert row["partitions"] == (data.select(spec.partition_by).n_unique() if spec.partition_by else 1)
        assert row["files"] == len(DeltaTable(lake.uri(table)).file_uris())
        if "date" in spec.partition_by:
            assert (row["first_date"], row["last_date"]) == (data["date"].min(), data["date"].max())
        if spec.time_axis:
            assert (row["time_min_us"], row["time_max_us"]) == (data[spec.time_axis].min(), data[spec.time_axis].max())


def test_stats_never_read_a_data_file(tmp_path):
    """Delete every data file of trades: the log still answers (a scan would fail)."""
    lake = build_lake(tmp_path)
    before = partition_stats(lake, "trades")
    for path in Path(lake.uri("trades")).rglob("*.parquet"):
        path.unlink()
    assert partition_stats(lake, "trades").equals(before)


def test_empty_lake_and_absent_tables(tmp_path):
    lake = Lake(tmp_path)
    assert lake_stats(lake).is_empty() and lake_stats(lake).schema == STATS_SCHEMA
    assert summarize(lake_stats(lake)).is_empty()
    assert partition_stats(lake, "trades").is_empty()


def test_snapshots_accumulate_by_day_and_a_rerun_replaces_its_day(tmp_path):
    lake = build_lake(tmp_path / "lake")
    stats = lake_stats(lake)
    day1, day2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
    write_snapshot(lake, stats, day1)
    write_snapshot(lake, stats, day1)  # same day again: replaced, not doubled
    lake.write_partition(
        "trades", spec_frame("trades", {"date": D2, "exchange": "deribit"}, 9), {"date": D2, "exchange": "deribit"}
    )
    write_snapshot(lake, lake_stats(lake), day2)

    snapshots = read_snapshots(lake)
    assert snapshots.schema == LAKE_STATS.polars_schema
    assert lake_stats_uri(lake) == f"{lake.root}/control/lake_stats"
    counts = dict(snapshots.group_by("snapshot_date").len().iter_rows())
    assert counts == {day1: stats.height, day2: stats.height + 1}
    growth = snapshots.filter(pl.col("table") == "trades").group_by("snapshot_date").agg(pl.col("rows").sum())
    assert dict(growth.iter_rows()) == {day1: 3 * (40 + 41 + 42), day2: 3 * (40 + 41 + 42) + 9}
    assert read_snapshots(Lake(tmp_path / "other")).is_empty()
