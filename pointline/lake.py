"""Delta Lake storage: the only store of the lake (no Dagster import; the resource wraps it).

Writes always go through `write_partition` (event and control tables: overwrite exactly one
partition by predicate) or `replace_table` (small dimension tables). Both validate against
the schema registry first, sort rows by the table's tie-break keys and hand deltalake a
single record batch, so the same input gives the same rows in the same order.
`transaction()` restores every partition written inside it when the block fails, so a
failed run leaves the lake as it was.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
from deltalake import DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from pointline.schemas import TableSpec, get_table_spec, validate_frame

log = logging.getLogger(__name__)

_LAYER_BY_KIND = {"event": "silver", "dimension": "dim", "control": "control", "gold": "gold"}

PartitionValues = dict[str, "str | dt.date"]


def _sql_literal(value: str | dt.date) -> str:
    text = value.isoformat() if isinstance(value, dt.date) else str(value)
    return "'" + text.replace("'", "''") + "'"


def partition_predicate(values: PartitionValues) -> str:
    """Delta predicate selecting exactly one partition, e.g. date = '2024-05-01' AND exchange = 'binance'."""
    return " AND ".join(f"{col} = {_sql_literal(val)}" for col, val in values.items())


@dataclass
class _Written:
    table: str
    partition: PartitionValues | None
    version_before: int | None


@dataclass
class Transaction:
    """Partitions written so far; used to undo them when the surrounding block fails."""

    written: list[_Written] = field(default_factory=list)


class Lake:
    """A lake root (local path or object-store URI) holding one Delta table per registered spec."""

    def __init__(
        self,
        root: str | Path,
        *,
        storage_options: dict[str, str] | None = None,
        max_row_group_size: int = 131_072,
        commit_retries: int = 8,
    ):
        self.root = str(root).rstrip("/")
        self.storage_options = dict(storage_options or {}) or None
        self.max_row_group_size = max_row_group_size
        self.commit_retries = commit_retries
        self._txn: Transaction | None = None

    # ---- locations and reads -------------------------------------------------------
    def uri(self, table: str) -> str:
        spec = get_table_spec(table)
        return f"{self.root}/{_LAYER_BY_KIND[spec.kind]}/{table}"

    def _open(self, table: str, version: int | None = None) -> DeltaTable | None:
        try:
            return DeltaTable(self.uri(table), version=version, storage_options=self.storage_options)
        except TableNotFoundError:
            return None

    def exists(self, table: str) -> bool:
        return self._open(table) is not None

    def version(self, table: str) -> int | None:
        dtable = self._open(table)
        return None if dtable is None else dtable.version()

    def scan(self, table: str, *, version: int | None = None) -> pl.LazyFrame:
        """Lazy scan through the Delta log (never a parquet glob); empty frame if the table is absent."""
        if not self.exists(table):
            return get_table_spec(table).empty().lazy()
        return pl.scan_delta(self.uri(table), version=version, storage_options=self.storage_options)

    def read(self, table: str, where: pl.Expr | None = None, *, version: int | None = None) -> pl.DataFrame:
        lf = self.scan(table, version=version)
        return (lf.filter(where) if where is not None else lf).collect()

    def read_partition(self, table: str, values: PartitionValues, *, version: int | None = None) -> pl.DataFrame:
        where = pl.all_horizontal([pl.col(k) == pl.lit(v) for k, v in values.items()])
        return self.read(table, where, version=version)

    # ---- writes --------------------------------------------------------------------
    def write_partition(self, table: str, df: pl.DataFrame, values: PartitionValues) -> int:
        """Replace exactly one partition of `table` with `df` (possibly empty); returns the new version."""
        spec = get_table_spec(table)
        if set(values) != set(spec.partition_by):
            raise ValueError(f"{table}: partition values {sorted(values)} must name {list(spec.partition_by)}")
        validate_frame(df, spec)
        self._check_partition_values(table, df, values)
        data = self._prepare(df, spec)
        before = self.version(table)
        version = self._commit(table, data, spec, predicate=partition_predicate(values))
        if self._txn is not None:
            self._txn.written.append(_Written(table, dict(values), before))
        return version

    def replace_table(self, table: str, df: pl.DataFrame) -> int:
        """Overwrite a whole (small, unpartitioned) table."""
        spec = get_table_spec(table)
        if spec.partition_by:
            raise ValueError(f"{table} is partitioned; use write_partition")
        validate_frame(df, spec)
        before = self.version(table)
        version = self._commit(table, self._prepare(df, spec), spec, predicate=None)
        if self._txn is not None:
            self._txn.written.append(_Written(table, None, before))
        return version

    @staticmethod
    def _check_partition_values(table: str, df: pl.DataFrame, values: PartitionValues) -> None:
        for col, val in values.items():
            stray = df.filter(pl.col(col) != pl.lit(val)).height
            if stray:
                raise ValueError(f"{table}: {stray} row(s) have {col} != {val!r}; refusing to write another partition")

    def _prepare(self, df: pl.DataFrame, spec: TableSpec) -> pa.Table:
        ordered = spec.conform(df)
        if spec.sort_by:
            ordered = ordered.sort(list(spec.sort_by), maintain_order=True)
        # One contiguous chunk: deltalake reorders rows across record batches.
        return ordered.rechunk().to_arrow()

    def _commit(self, table: str, data: pa.Table, spec: TableSpec, *, predicate: str | None) -> int:
        props = WriterProperties(compression="ZSTD", max_row_group_size=self.max_row_group_size)
        for attempt in range(self.commit_retries + 1):
            exists = self.exists(table)
            try:
                write_deltalake(
                    self.uri(table),
                    data,
                    mode="overwrite" if exists else "append",
                    partition_by=list(spec.partition_by) or None,
                    predicate=predicate if exists else None,
                    writer_properties=props,
                    storage_options=self.storage_options,
                )
                return self.version(table)  # type: ignore[return-value]
            except CommitFailedError as exc:
                if attempt == self.commit_retries:
                    raise
                wait = min(2.0, 0.05 * 2**attempt) * (1 + random.random())
                log.warning("%s: commit conflict (%s); retry %d in %.2fs", table, exc, attempt + 1, wait)
                time.sleep(wait)
            except Exception as exc:
                if not exists and "already exists" in str(exc).lower() and attempt < self.commit_retries:
                    continue  # another writer created the table first; overwrite by predicate now
                raise
        raise AssertionError("unreachable")

    # ---- all-or-nothing across tables ----------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Undo every write made inside the block if the block raises.

        Delta commits are atomic per table, not across tables. On failure each written
        partition is rewritten with its content at the version before our write (a
        partition-scoped compensation, so concurrent writers of other partitions are
        untouched); a table this block created is left with the partition emptied.
        """
        if self._txn is not None:
            yield self._txn
            return
        self._txn = txn = Transaction()
        try:
            yield txn
        except BaseException:
            self._txn = None
            self._undo(txn)
            raise
        finally:
            self._txn = None

    def _undo(self, txn: Transaction) -> None:
        for item in reversed(txn.written):
            spec = get_table_spec(item.table)
            try:
                if item.version_before is None:
                    previous = spec.empty()
                elif item.partition is None:
                    previous = self.read(item.table, version=item.version_before)
                else:
                    previous = self.read_partition(item.table, item.partition, version=item.version_before)
                previous = previous.select(spec.names).cast(spec.polars_schema)  # type: ignore[arg-type]
                data = self._prepare(previous, spec)
                predicate = partition_predicate(item.partition) if item.partition else None
                self._commit(item.table, data, spec, predicate=predicate)
                log.warning("rolled back %s %s to version %s", item.table, item.partition, item.version_before)
            except Exception:  # keep undoing the rest; the original error is re-raised by the caller
                log.exception("could not roll back %s %s", item.table, item.partition)
