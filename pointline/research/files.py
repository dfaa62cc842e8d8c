"""The explicit fast path of research reads: a Delta snapshot's files pruned once, then one Parquet scan.

`pl.scan_delta(table)` redoes the same work on every call: it converts the table schema, lists
every data file (`file_uris()`), materializes every add action's statistics as a DataFrame and
hands all files to `scan_parquet`, which prunes them again. On a month of trades that is 5-10 ms
of a one-symbol, one-hour read of about 15 ms (bench/research_queries.py). A session keeps each
table's snapshot open while it has no new commit (`pointline.research.snapshots`), so the file
list, partition values and per-file min/max statistics are built **once per snapshot** here, and a
read keeps only the files whose partition values and statistics can hold matching rows before it
calls `scan_parquet` on them, with the same options `scan_delta` uses (Hive partition columns
from the paths, missing columns inserted as nulls, the table schema).

Taken only where it reads exactly what `scan_delta` reads: local tables of reader protocol 1 (no
deletion vectors, no column mapping). Anything else returns None and the caller scans with
`pl.scan_delta`. tests/test_research_files.py compares both on every kind of read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import polars as pl
from deltalake import DeltaTable
from polars.io.scan_options import ScanCastOptions

__all__ = ["FileIndex", "Ranges"]

# column -> inclusive (low, high); None on a side leaves it open
Ranges = Mapping[str, tuple[Any, Any]]


def _add_actions(dtable: DeltaTable) -> pl.DataFrame:
    actions = pl.from_arrow(dtable.get_add_actions(flatten=True))
    return actions.struct.unnest() if isinstance(actions, pl.Series) else actions


@dataclass(frozen=True)
class FileIndex:
    """One Delta snapshot's data files: absolute path, typed partition values (`partition.<c>`) and
    min/max statistics (`min.<c>`, `max.<c>`), plus the schema `scan_delta` would give."""

    files: pl.DataFrame
    schema: pl.Schema
    partition_columns: tuple[str, ...]

    @staticmethod
    def supports(dtable: DeltaTable) -> bool:
        """Reader protocol 1 on a local path: nothing a plain Parquet scan would miss."""
        local = "://" not in dtable.table_uri or dtable.table_uri.startswith("file://")
        return local and dtable.protocol().min_reader_version == 1

    @classmethod
    def of(cls, dtable: DeltaTable) -> FileIndex | None:
        """The index of `dtable`'s files, or None when the fast path does not apply (`supports`)."""
        if not cls.supports(dtable):
            return None
        root = dtable.table_uri.removeprefix("file://").rstrip("/")
        actions = _add_actions(dtable)
        # add.path is a relative URI (percent-encoded, Delta protocol): decoded as file_uris() does
        paths = pl.Series("path", [f"{root}/{unquote(p)}" for p in actions["path"]], dtype=pl.String)
        files = actions.with_columns(paths)
        return cls(files, pl.Schema(dtable.schema()), tuple(dtable.metadata().partition_columns))

    def paths(self, ranges: Ranges) -> list[str]:
        """The files that can hold a row inside every range (a file without statistics for a
        column is kept), in the snapshot's file order."""
        keep = pl.lit(True)
        for column, (low, high) in ranges.items():
            keep = keep & self._may_overlap(column, low, high)
        return self.files.filter(keep)["path"].to_list()

    def _may_overlap(self, column: str, low: Any, high: Any) -> pl.Expr:
        if column in self.partition_columns:
            value = pl.col(f"partition.{column}")
            lows, highs = value, value
        elif isinstance(low, str) or isinstance(high, str):
            return pl.lit(True)  # string statistics may be truncated prefixes (deltalake's writer)
        elif f"min.{column}" in self.files.columns and f"max.{column}" in self.files.columns:
            lows, highs = pl.col(f"min.{column}"), pl.col(f"max.{column}")
        else:
            return pl.lit(True)
        overlap = pl.lit(True)
        if high is not None:
            overlap = overlap & (lows <= pl.lit(high)).fill_null(True)
        if low is not None:
            overlap = overlap & (highs >= pl.lit(low)).fill_null(True)
        return overlap

    def scan(self, ranges: Ranges) -> pl.LazyFrame:
        """The rows of the kept files, schema and column order as `pl.scan_delta` (not yet filtered
        by `ranges`: the caller's filter stays the one truth of which rows match)."""
        paths = self.paths(ranges)
        if not paths:
            return pl.LazyFrame(schema=self.schema)
        hive = {c: self.schema[c] for c in self.partition_columns}
        file_schema = {c: t for c, t in self.schema.items() if c not in hive}
        lf = pl.scan_parquet(
            paths,
            schema=file_schema,
            hive_schema=hive or None,
            hive_partitioning=bool(hive),
            cast_options=ScanCastOptions._default_iceberg(),
            missing_columns="insert",
            extra_columns="ignore",
        )
        return lf.select(list(self.schema.names()))
