"""Lake maintenance: compaction (a partition's many files -> one sorted file) and retention (vacuum).

Plain functions over a `Lake` (no Dagster import); the jobs in pointline_assets/maintenance.py and
the ingest only call them. Configuration is data: [maintenance] in config/lake.toml.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError

from pointline.config import MaintenanceSettings, default_bronze_root, maintenance_settings
from pointline.lake import Lake, PartitionValues, partition_predicate, sort_rows
from pointline.schemas import TableSpec, get_table_spec, validate_frame
from pointline.stats import file_actions, open_table, partition_text, stats_tables

log = logging.getLogger(__name__)

__all__ = [
    "BronzeOverlapError",
    "CompactionResult",
    "compact_partition",
    "compact_table",
    "compaction_candidates",
    "existing_tables",
    "maybe_compact_after_ingest",
    "order_keys",
    "vacuum_table",
]

# deltalake splits its output at delta.targetFileSize (100 MB by default); compaction wants one file
# per partition whatever its size, or a large partition would never get under `min_files`.
_ONE_FILE = 1 << 62


@dataclass(frozen=True)
class CompactionResult:
    """What one compaction call saw and did; `version` is None when it wrote nothing."""

    table: str
    partition: str
    files_before: int
    files_after: int
    rows: int | None
    version: int | None

    @property
    def compacted(self) -> bool:
        return self.version is not None


# ---- compaction -----------------------------------------------------------------------------
def order_keys(spec: TableSpec) -> list[str]:
    """The table's sort keys, then every other sortable column as a final tie-break.

    For event tables `spec.sort_by` (symbol_id, time axis, file_id, file_line) is already a total
    order, so the extra keys change nothing; for tables whose sort keys can tie (append-only
    histories) they make the rewritten order a function of the rows alone, not of the order in which
    the old files happened to be read.
    """
    rest = [c.name for c in spec.columns if c.name not in spec.sort_by and not isinstance(c.dtype, pl.List)]
    return [*spec.sort_by, *rest]


def _checked_values(spec: TableSpec, values: PartitionValues) -> PartitionValues:
    """`values` in the spec's partition order, dates as dates (callers may pass '2024-05-01')."""
    if set(values) != set(spec.partition_by):
        raise ValueError(f"{spec.name}: partition values {sorted(values)} must name {list(spec.partition_by)}")
    return {
        k: dt.date.fromisoformat(v) if spec.column(k).dtype == pl.Date and isinstance(v, str) else v
        for k, v in ((k, values[k]) for k in spec.partition_by)
    }


def _partition_files(dtable: DeltaTable, spec: TableSpec, values: PartitionValues) -> pl.DataFrame:
    files = file_actions(dtable, spec)
    for col, val in values.items():
        files = files.filter(pl.col(col) == pl.lit(val, spec.column(col).dtype))
    return files


def _rewrite(lake: Lake, dtable: DeltaTable, spec: TableSpec, values: PartitionValues) -> int:
    """Read the partition at the snapshot's version, sort it and overwrite it in one commit based on
    that same snapshot; raises CommitFailedError when another writer changed the partition since."""
    where = pl.all_horizontal(pl.lit(True), *[pl.col(k) == pl.lit(v, spec.column(k).dtype) for k, v in values.items()])
    rows = spec.conform(pl.scan_delta(dtable).filter(where).collect())
    ordered = sort_rows(rows, order_keys(spec))
    validate_frame(ordered, spec)  # a drifted stored schema is reported, never rewritten
    write_deltalake(
        dtable,
        ordered.rechunk().to_arrow(compat_level=pl.CompatLevel.newest()),  # one batch: deltalake keeps its order
        mode="overwrite",
        predicate=partition_predicate(values) if values else None,
        partition_by=list(spec.partition_by) or None,
        target_file_size=_ONE_FILE,
        writer_properties=lake.writer_properties(spec),
        # deltalake's conflict check (against the snapshot read) lets commits to other partitions
        # through and fails this one if the partition changed: it never overwrites blindly.
        commit_properties=CommitProperties(
            custom_metadata={"pointline.operation": "compact", "pointline.partition": partition_text(values)}
        ),
    )
    return dtable.version()


def compact_partition(
    lake: Lake, table: str, values: PartitionValues, *, min_files: int | None = None
) -> CompactionResult:
    """Rewrite one partition holding more than `min_files` data files as a single file in the table's
    sort order (`order_keys`), in one Delta commit; otherwise do nothing (no new version).

    Why read-sort-rewrite and not deltalake's optimize: `optimize.compact` concatenates files in
    their existing order (so rows appended out of order stay out of order) and `optimize.z_order`
    sorts along a Z-curve that interleaves symbol_id and time and leaves ties in arbitrary order;
    neither gives the (symbol_id, time axis, lineage) order readers and `Lake.write_partition`
    rely on. Sorting the rows ourselves makes the result a function of the rows only, so the same
    rows always give the same file, and a second call finds one file and is a no-op.

    The read and the commit are based on one snapshot, and the commit is not retried blindly: when
    an ingest rewrites or appends to this partition in between, the commit fails, and compaction
    starts over from the new snapshot (which an ingest usually leaves as one file: nothing to do).
    Rows never change: only their files and, where they were out of order, their order. `min_files`
    defaults to config/lake.toml ([maintenance] min_files, per-table overrides).
    """
    spec = get_table_spec(table)
    values = _checked_values(spec, values)
    limit = maintenance_settings().min_files_for(table) if min_files is None else min_files
    if limit < 1:
        raise ValueError(f"min_files must be at least 1, got {limit}")
    key = partition_text(values)
    for attempt in range(lake.commit_retries + 1):
        dtable = open_table(lake, table)
        if dtable is None:
            return CompactionResult(table, key, 0, 0, 0, None)
        files = _partition_files(dtable, spec, values)
        rows = None if files["num_records"].null_count() else int(files["num_records"].sum())
        if files.height <= limit:
            return CompactionResult(table, key, files.height, files.height, rows, None)
        try:
            version = _rewrite(lake, dtable, spec, values)
        except CommitFailedError as exc:
            log.warning("%s %s changed during compaction (%s); retry %d", table, key, exc, attempt + 1)
            continue
        after = _partition_files(open_table(lake, table, version=version), spec, values)  # type: ignore[arg-type]
        log.info("%s %s: compacted %d files into %d at version %d", table, key, files.height, after.height, version)
        return CompactionResult(table, key, files.height, after.height, int(after["num_records"].sum()), version)
    raise CommitFailedError(f"{table} {key}: partition kept changing during compaction; try again later")


def maybe_compact_after_ingest(
    lake: Lake, table: str, values: PartitionValues, *, config: MaintenanceSettings | None = None
) -> CompactionResult | None:
    """Compact the partition an ingest just wrote when config/lake.toml asks for it
    ([maintenance] compact_after_ingest, per-table overrides); None when it does not.

    Call it after the ingest's transaction has committed: compaction does not change rows, so a
    rollback would be correct either way, but it should not hold the transaction open.
    """
    config = config or maintenance_settings()
    if not config.compacts_after_ingest(table):
        return None
    return compact_partition(lake, table, values, min_files=config.min_files_for(table))


def compaction_candidates(
    lake: Lake,
    table: str,
    *,
    min_files: int,
    start: dt.date | None = None,
    end: dt.date | None = None,
    exchanges: list[str] | None = None,
) -> list[PartitionValues]:
    """Partitions of `table` with more than `min_files` files, from the Delta log, optionally only
    dates in [start, end] and the given exchanges (filters apply to tables having that partition
    column; a table without an exchange column is not filtered by exchange)."""
    spec = get_table_spec(table)
    dtable = open_table(lake, table)
    if dtable is None or not spec.partition_by:
        return []
    keys = list(spec.partition_by)
    counts = file_actions(dtable, spec).group_by(keys).len()
    counts = counts.filter(pl.col("len") > min_files)
    if "date" in keys and start is not None:
        counts = counts.filter(pl.col("date") >= start)
    if "date" in keys and end is not None:
        counts = counts.filter(pl.col("date") <= end)
    if "exchange" in keys and exchanges:
        counts = counts.filter(pl.col("exchange").is_in(exchanges))
    return counts.sort(keys).select(keys).to_dicts()


def compact_table(
    lake: Lake,
    table: str,
    *,
    min_files: int | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    exchanges: list[str] | None = None,
) -> list[CompactionResult]:
    """Compact every candidate partition of `table` (see `compaction_candidates`), one commit each."""
    limit = maintenance_settings().min_files_for(table) if min_files is None else min_files
    candidates = compaction_candidates(lake, table, min_files=limit, start=start, end=end, exchanges=exchanges)
    return [compact_partition(lake, table, values, min_files=limit) for values in candidates]


# ---- retention ------------------------------------------------------------------------------
class BronzeOverlapError(ValueError):
    """The Bronze tree and the lake overlap; vacuum refuses to run so it can never delete vendor files."""


def _local(root: str | Path) -> Path | None:
    """The resolved local path of a root, None for an object-store URI."""
    text = str(root)
    if text.startswith("file://"):
        text = text.removeprefix("file://")
    elif "://" in text:
        return None
    return Path(text).resolve()


def _refuse_bronze(lake: Lake, bronze_root: str | Path) -> None:
    """Refuse when Bronze is inside the lake or the lake inside Bronze: vacuum deletes files under
    the lake's table directories, and Bronze files must never be among the candidates."""
    lake_root, bronze = _local(lake.root), _local(bronze_root)
    if lake_root is None or bronze is None:  # an object-store lake and a local Bronze never overlap
        return
    if bronze == lake_root or lake_root in bronze.parents or bronze in lake_root.parents:
        raise BronzeOverlapError(
            f"refusing to vacuum: Bronze root {bronze} and lake root {lake_root} overlap; keep them disjoint"
        )


def vacuum_table(
    lake: Lake,
    table: str,
    *,
    retention_hours: int = 168,
    dry_run: bool = True,
    enforce_retention_duration: bool = True,
    bronze_root: str | Path | None = None,
) -> list[str]:
    """Delete (or with `dry_run`, list) the data files the Delta log removed more than
    `retention_hours` ago; returns their paths relative to the table.

    Only files the log has tombstoned are candidates (deltalake's lite vacuum, never `full`): a full
    vacuum would also delete files not yet in the log, such as a partition file an ingest has written
    and is about to commit. Time travel to versions older than the retention stops working for the
    deleted files, which is why the default keeps a week and `enforce_retention_duration` refuses
    less than the table's configured minimum. `bronze_root` (default $POINTLINE_BRONZE_ROOT or
    ./bronze) must not overlap the lake: see `_refuse_bronze`.
    """
    if retention_hours < 0:
        raise ValueError(f"retention_hours must not be negative, got {retention_hours}")
    _refuse_bronze(lake, bronze_root if bronze_root is not None else default_bronze_root())
    dtable = open_table(lake, table)
    if dtable is None:
        return []

    def run(dry: bool) -> set[str]:
        found = dtable.vacuum(
            retention_hours=retention_hours,
            dry_run=dry,
            enforce_retention_duration=enforce_retention_duration,
            full=False,
        )
        return {_relative(lake.uri(table), p) for p in found}

    # The log keeps a tombstone after its file is vacuumed, so deltalake lists it again next time;
    # on a local lake leave out files that are already gone, so the answer is what this call deletes.
    listed = run(True)
    local = _local(lake.uri(table))
    gone = {p for p in listed if not (local / p).exists()} if local is not None else set()
    files = sorted((listed if dry_run else run(False)) - gone)
    log.info("%s: %s %d file(s)", table, "would delete" if dry_run else "deleted", len(files))
    return files


def _relative(table_uri: str, path: str) -> str:
    """A vacuumed file's path relative to the table (deltalake answers with relative or absolute paths)."""
    local = _local(table_uri)
    if local is not None and Path(path).is_absolute():
        return Path(path).resolve().relative_to(local).as_posix()
    return path.removeprefix(table_uri.rstrip("/") + "/")


def existing_tables(lake: Lake) -> list[str]:
    """Tables of the registry (and configured klines) that exist in the lake."""
    return [t for t in stats_tables() if open_table(lake, t) is not None]
