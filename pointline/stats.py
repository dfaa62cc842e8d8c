"""Lake statistics from the Delta log alone: rows, files, bytes and time range per table and partition.

Every number comes from the add actions of each table's current snapshot (file size, numRecords and
the per-column min/max the writers record), so a stats run reads one log per table and never a data
file: cheap enough to run daily, and `write_snapshot` keeps each day's result in the `lake_stats`
table so growth over time is a query (no Dagster import; the `lake_stats` asset wraps this).
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from pointline.config import settings
from pointline.lake import Lake, PartitionValues
from pointline.schemas import LAKE_STATS, TABLES, TableSpec, get_table_spec, kline_spec

__all__ = [
    "LAKE_STATS",
    "STATS_SCHEMA",
    "file_actions",
    "lake_stats",
    "lake_stats_uri",
    "open_table",
    "partition_stats",
    "partition_text",
    "read_snapshots",
    "stats_tables",
    "summarize",
    "table_summary",
    "write_snapshot",
]

STATS_SCHEMA = pl.Schema({c.name: c.dtype for c in LAKE_STATS.columns if c.name != "snapshot_date"})


def stats_tables() -> list[str]:
    """Every table the lake may hold: the registry plus the kline intervals config/lake.toml asks for,
    without the snapshots themselves (they would count their own growth)."""
    klines = [kline_spec(i).name for i in settings().kline_intervals]
    return sorted((set(TABLES) | set(klines)) - {LAKE_STATS.name})


def open_table(lake: Lake, table: str, *, version: int | None = None) -> DeltaTable | None:
    """The table's Delta snapshot (latest unless `version`), None when the table does not exist."""
    return lake.delta_table(table, version)


def partition_text(values: PartitionValues) -> str:
    """`{'date': 2024-05-01, 'exchange': 'binance'}` -> `date=2024-05-01/exchange=binance`."""
    return "/".join(f"{k}={v.isoformat() if isinstance(v, dt.date) else v}" for k, v in values.items())


def _stat(actions: pl.DataFrame, name: str, dtype: pl.DataType) -> pl.Expr:
    """A flattened add-action column, or typed nulls when the log has none (no stats, no files)."""
    return pl.col(name).cast(dtype) if name in actions.columns else pl.lit(None, dtype)


def file_actions(dtable: DeltaTable, spec: TableSpec) -> pl.DataFrame:
    """One row per data file of the snapshot: its partition values (typed as the registry declares),
    path, size_bytes, num_records and the time axis' min/max (null without statistics)."""
    actions = pl.DataFrame(dtable.get_add_actions(flatten=True))
    axis = spec.time_axis
    return actions.select(
        *[_stat(actions, f"partition.{c}", spec.column(c).dtype).alias(c) for c in spec.partition_by],
        _stat(actions, "path", pl.String()).alias("path"),
        _stat(actions, "size_bytes", pl.Int64()).alias("size_bytes"),
        _stat(actions, "num_records", pl.Int64()).alias("num_records"),
        (_stat(actions, f"min.{axis}", pl.Int64()) if axis else pl.lit(None, pl.Int64)).alias("time_min_us"),
        (_stat(actions, f"max.{axis}", pl.Int64()) if axis else pl.lit(None, pl.Int64)).alias("time_max_us"),
    )


def _unknown_if_missing(value: pl.Expr, missing: pl.Expr) -> pl.Expr:
    """`value`, or null when a file lacked the statistic: a partial sum or min would look exact."""
    return pl.when(missing.any()).then(None).otherwise(value)


def _aggregations() -> list[pl.Expr]:
    rows, tmin, tmax = pl.col("num_records"), pl.col("time_min_us"), pl.col("time_max_us")
    has_rows = rows.fill_null(1) > 0  # an empty file has no min/max, and needs none
    return [
        _unknown_if_missing(rows.sum(), rows.is_null()).alias("rows"),
        pl.len().cast(pl.Int64).alias("files"),
        pl.col("size_bytes").sum().cast(pl.Int64).alias("bytes"),
        _unknown_if_missing(tmin.min(), has_rows & tmin.is_null()).alias("time_min_us"),
        _unknown_if_missing(tmax.max(), has_rows & tmax.is_null()).alias("time_max_us"),
    ]


def partition_stats(lake: Lake, table: str) -> pl.DataFrame:
    """One row per partition of `table` (STATS_SCHEMA); an unpartitioned table is one row, even when empty.

    A partitioned table with no files has no rows: Delta keeps no trace of emptied partitions.
    """
    spec = get_table_spec(table)
    dtable = open_table(lake, table)
    if dtable is None:
        return pl.DataFrame(schema=STATS_SCHEMA)
    files = file_actions(dtable, spec)
    keys = list(spec.partition_by)
    grouped = files.group_by(keys).agg(_aggregations()) if keys else files.select(_aggregations())
    key_text = [pl.format(f"{k}={{}}", pl.col(k).cast(pl.String).fill_null("null")) for k in keys]
    return grouped.select(
        pl.lit(table).alias("table"),
        (pl.concat_str(key_text, separator="/") if keys else pl.lit("")).alias("partition"),
        (pl.col("date") if "date" in keys else pl.lit(None, pl.Date)).alias("date"),
        (pl.col("exchange") if "exchange" in keys else pl.lit(None, pl.String)).alias("exchange"),
        "rows",
        "files",
        "bytes",
        "time_min_us",
        "time_max_us",
    ).sort("partition")


def lake_stats(lake: Lake, tables: list[str] | None = None) -> pl.DataFrame:
    """One row per (table, partition) of every existing table (or of `tables`), from the Delta logs only."""
    frames = [partition_stats(lake, t) for t in (tables if tables is not None else stats_tables())]
    return pl.concat([pl.DataFrame(schema=STATS_SCHEMA), *frames]).sort("table", "partition")


def summarize(stats: pl.DataFrame) -> pl.DataFrame:
    """Per table: partitions holding files, rows, files, bytes, first/last date and time-axis range.

    Rows and time bounds are null when a partition's are unknown (files without statistics).
    """
    has_files = pl.col("files") > 0
    return (
        stats.group_by("table", maintain_order=True)
        .agg(
            has_files.sum().cast(pl.Int64).alias("partitions"),
            _unknown_if_missing(pl.col("rows").sum(), pl.col("rows").is_null()).alias("rows"),
            pl.col("files").sum().cast(pl.Int64),
            pl.col("bytes").sum().cast(pl.Int64),
            pl.col("date").filter(has_files).min().alias("first_date"),
            pl.col("date").filter(has_files).max().alias("last_date"),
            pl.col("time_min_us").filter(has_files).min(),
            pl.col("time_max_us").filter(has_files).max(),
        )
        .sort("table")
    )


def table_summary(lake: Lake, tables: list[str] | None = None) -> pl.DataFrame:
    """`summarize(lake_stats(lake, tables))`: one row per existing table."""
    return summarize(lake_stats(lake, tables))


# ---- the daily snapshot ---------------------------------------------------------------------
def lake_stats_uri(lake: Lake) -> str:
    """Where the snapshots live (a control table of the registry)."""
    return lake.uri(LAKE_STATS.name)


def write_snapshot(lake: Lake, stats: pl.DataFrame, snapshot_date: dt.date) -> int:
    """Store `stats` as the snapshot of `snapshot_date`, replacing that day's earlier snapshot (so a
    re-run the same day does not double count); returns the new Delta version."""
    frame = stats.select(pl.lit(snapshot_date, pl.Date).alias("snapshot_date"), *STATS_SCHEMA.names())
    frame = frame.cast(LAKE_STATS.polars_schema)  # type: ignore[arg-type]
    return lake.write_partition(LAKE_STATS.name, frame, {"snapshot_date": snapshot_date})


def read_snapshots(lake: Lake) -> pl.DataFrame:
    """Every stored snapshot (empty with the schema when none was taken yet)."""
    return lake.read(LAKE_STATS.name) if lake.exists(LAKE_STATS.name) else LAKE_STATS.empty()


def _exists(uri: str, lake: Lake) -> bool:
    try:
        DeltaTable(uri, storage_options=lake.storage_options)
    except TableNotFoundError:
        return False
    return True
