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
import json
import logging
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
from deltalake import ColumnProperties, CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError
from deltalake.transaction import AddAction
from deltalake.transaction import Transaction as AppTransaction

from pointline.schemas import TableSpec, get_table_spec, validate_frame

log = logging.getLogger(__name__)

_LAYER_BY_KIND = {"event": "silver", "dimension": "dim", "control": "control", "gold": "gold"}

PartitionValues = dict[str, "str | dt.date"]

# Parquet encodings by column. Per-row-unique columns gain nothing from a dictionary (the
# writer builds one per row group, then falls back): a plain/delta encoding is faster and
# smaller; monotonic integers (times, line numbers) compress best as deltas.
_NO_DICTIONARY = ColumnProperties(dictionary_enabled=False)
_DELTA_INTEGERS = ColumnProperties(dictionary_enabled=False, encoding="DELTA_BINARY_PACKED")
COLUMN_ENCODINGS: dict[str, ColumnProperties] = {
    "ts_local_us": _DELTA_INTEGERS,
    "ts_exch_us": _DELTA_INTEGERS,
    "file_line": _DELTA_INTEGERS,
    "trade_id": _NO_DICTIONARY,
}


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


_MAX_RUNS = 64
# zstd level 1: 20% faster writes than the default level 3 for ~4% larger files (2M trades:
# 0.58 s vs 0.71 s, 24 vs 23 MB); compaction can recompress cold partitions harder later.
ZSTD_LEVEL = 1


def _in_order(keys: list[str]) -> pl.Expr:
    """Per row: is it >= the previous row in lexicographic order of `keys` (null on the first row)."""
    in_order: pl.Expr | None = None
    for key in reversed(keys):
        cur, prev = pl.col(key), pl.col(key).shift(1)
        in_order = cur >= prev if in_order is None else (cur > prev) | ((cur == prev) & in_order)
    assert in_order is not None
    return in_order


def sort_rows(df: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Exactly `df.sort(keys, maintain_order=True)`, without the sort when `df` is already in order
    or is a few in-order runs (a partition is the concatenation of its Bronze files, each in
    time order).

    The runs are put in order of their first rows and concatenated when every run ends strictly
    below the next one starts: then equal keys never span two runs, so the result is the stable
    sort. Otherwise, or with null keys or many runs, it sorts.
    """
    if df.height < 2:
        return df
    if any(df.select(pl.col(keys).null_count()).row(0)):
        return df.sort(keys, maintain_order=True)
    breaks = df.select(_in_order(keys).not_().arg_true()).to_series().to_list()
    if not breaks:
        return df
    if len(breaks) >= _MAX_RUNS:
        return df.sort(keys, maintain_order=True)
    bounds = [0, *breaks, df.height]
    runs = [df.slice(a, b - a) for a, b in zip(bounds, bounds[1:], strict=False)]
    runs.sort(key=lambda run: run.select(keys).row(0))
    edges = [(run.select(keys).row(0), run.select(keys).row(-1)) for run in runs]
    if all(last < first for (_, last), (first, _) in zip(edges, edges[1:], strict=False)):
        return pl.concat(runs)
    return df.sort(keys, maintain_order=True)


_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9._-]+$")
_DELTA_TYPES: dict[type, str] = {
    pl.String: "string",
    pl.Int64: "long",
    pl.Int32: "integer",
    pl.Int16: "short",
    pl.Date: "date",
    pl.Boolean: "boolean",
}


def _delta_type(dtype: pl.DataType) -> str:
    """The Delta log's name of a type; lists as `array<element>`."""
    if isinstance(dtype, pl.Decimal):
        return f"decimal({dtype.precision},{dtype.scale})"
    if isinstance(dtype, pl.List):
        return f"array<{_delta_type(dtype.inner)}>"
    return _DELTA_TYPES.get(type(dtype), "?")


def _stored_type(field_type: object) -> str:
    """A Delta schema field's type in `_delta_type`'s notation."""
    element = getattr(field_type, "element_type", None)
    if element is not None:
        return f"array<{_stored_type(element)}>"
    return str(getattr(field_type, "type", field_type))


def _partition_text(value: str | dt.date) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _json_value(value: object) -> str:
    """A stats value as JSON; decimals as exact JSON numbers (never through a float)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date):
        return json.dumps(value.isoformat())
    return json.dumps(value)


def _partition_guard(table: str, spec: TableSpec, values: PartitionValues) -> CommitProperties:
    """Commit properties that make two concurrent writers of the same partition conflict.

    Without them two writers of a partition that is empty in both their snapshots (its first
    ingest) both commit and the partition holds every row twice: the fast path's
    `create_write_transaction` records no read predicate, and an overwrite that finds no file to
    remove is, to delta-rs' conflict checker, a blind append. So every partition write also
    records a Delta app transaction (`txn` action) whose id names the partition: delta-rs fails
    a commit when a concurrent winner wrote the same app id (CommitFailedError, "Concurrent
    transaction failed"), and `_retrying` retries it against the new snapshot, which now sees
    the winner's file and removes it. Writers of other partitions use other ids: no conflict.
    The id is built in the spec's partition order, so callers' dict order does not matter.
    """
    app_id = f"pointline/{table}/" + "/".join(f"{k}={_partition_text(values[k])}" for k in spec.partition_by)
    return CommitProperties(app_transactions=[AppTransaction(app_id, time.time_ns() // 1000)])


def _file_stats(data: pl.DataFrame) -> str:
    """Delta `add.stats` JSON: numRecords, per-column minValues/maxValues (exact) and nullCount.

    Like deltalake's own writer, list columns get no statistics (min/max of a list is undefined).
    """
    cols = [c for c, t in data.schema.items() if not isinstance(t, pl.List)]
    row = data.select(
        *[pl.col(c).min().alias(f"min{i}") for i, c in enumerate(cols)],
        *[pl.col(c).max().alias(f"max{i}") for i, c in enumerate(cols)],
        *[pl.col(c).null_count().alias(f"nul{i}") for i, c in enumerate(cols)],
    ).row(0)
    n = len(cols)

    def obj(offset: int) -> str:
        values = row[offset : offset + n]
        return (
            "{"
            + ",".join(f"{json.dumps(c)}:{_json_value(v)}" for c, v in zip(cols, values, strict=True) if v is not None)
            + "}"
        )

    return f'{{"numRecords":{data.height},"minValues":{obj(0)},"maxValues":{obj(n)},"nullCount":{obj(2 * n)}}}'


@dataclass(frozen=True)
class _Staged:
    """A partition write whose data file (if any) is on disk but not yet in the Delta log."""

    commit: Callable[[], int]
    discard: Callable[[], None] = lambda: None


class Lake:
    """A lake root (local path or object-store URI) holding one Delta table per registered spec."""

    def __init__(
        self,
        root: str | Path,
        *,
        storage_options: dict[str, str] | None = None,
        max_row_group_size: int = 65_536,
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

    def writer_properties(self, spec: TableSpec) -> WriterProperties:
        """The Parquet settings of every deltalake write of the lake (zstd level, row groups, encodings)."""
        return WriterProperties(
            compression="ZSTD",
            compression_level=ZSTD_LEVEL,
            max_row_group_size=self.max_row_group_size,
            column_properties={c: p for c, p in COLUMN_ENCODINGS.items() if c in spec.names} or None,
        )

    def delta_table(self, table: str, version: int | None = None) -> DeltaTable | None:
        """The table's Delta snapshot (latest unless `version`), None when the table does not exist."""
        return self._open(table, version)

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
        return self._stage_partition(table, df, values).commit()

    def write_partitions(self, writes: list[tuple[str, pl.DataFrame, PartitionValues]]) -> list[int]:
        """Replace several partitions, writing every data file first and committing them back to back.

        Delta cannot commit two tables atomically; staging the (slow) Parquet writes first shrinks
        the window in which a killed process leaves one table rewritten and the other not to the
        time between two log commits (milliseconds on a local lake). Inside `transaction()` a
        failure still restores every partition already committed.
        """
        staged: list[_Staged] = []
        try:
            for table, df, values in writes:
                staged.append(self._stage_partition(table, df, values))
        except BaseException:
            for item in staged:  # nothing was committed: the written files must not linger
                item.discard()
            raise
        versions = []
        for n, item in enumerate(staged):
            try:
                versions.append(item.commit())
            except BaseException:
                for rest in staged[n + 1 :]:  # never committed: their files must not linger either
                    rest.discard()
                raise
        return versions

    def _stage_partition(self, table: str, df: pl.DataFrame, values: PartitionValues) -> _Staged:
        """Validate and write the partition's data file (local fast path); return the commit to run."""
        spec = get_table_spec(table)
        if not spec.partition_by:
            raise ValueError(f"{table} is not partitioned; use replace_table")
        if set(values) != set(spec.partition_by):
            raise ValueError(f"{table}: partition values {sorted(values)} must name {list(spec.partition_by)}")
        validate_frame(df, spec)
        self._check_partition_values(table, df, values)
        before = self.version(table)
        registered = False

        def register() -> None:
            """Join the transaction right before the first commit touching the partition (then an
            interrupt after the commit is undone too, and a partition never committed is left alone)."""
            nonlocal registered
            if self._txn is not None and not registered:
                self._txn.written.append(_Written(table, dict(values), before))
            registered = True

        predicate = partition_predicate(values)
        if self._local_plain(values):
            if before is None:  # deltalake creates the table (schema only); our file is added below
                register()
                self._commit(table, self._prepare(spec.empty(), spec), spec, predicate=predicate, partition=values)
            dtable = self._open(table)
        else:
            dtable = None
        if dtable is not None and df.height and self._schema_matches(dtable, spec):
            path, add = self._write_file(table, self._ordered(df, spec), values)

            def commit_file() -> int:
                register()
                return self._commit_file(table, dtable, spec, values, path, add)

            return _Staged(commit=commit_file, discard=lambda: path.unlink(missing_ok=True))
        data = self._prepare(df, spec)

        def commit() -> int:
            register()
            return self._commit(table, data, spec, predicate=predicate, partition=values)

        return _Staged(commit=commit)

    def replace_table(self, table: str, df: pl.DataFrame) -> int:
        """Overwrite a whole (small, unpartitioned) table."""
        spec = get_table_spec(table)
        if spec.partition_by:
            raise ValueError(f"{table} is partitioned; use write_partition")
        validate_frame(df, spec)
        before = self.version(table)
        if self._txn is not None:
            self._txn.written.append(_Written(table, None, before))
        # the registry is the schema: a column added to a dimension's spec replaces the stored schema
        return self._commit(table, self._prepare(df, spec), spec, predicate=None, replace_schema=True)

    def append(self, table: str, df: pl.DataFrame) -> int | None:
        """Append rows to an append-only history table (validation_log, dq_summary); returns the version.

        History is never rewritten, so there is no predicate; nothing is written for an empty frame.
        """
        spec = get_table_spec(table)
        validate_frame(df, spec)
        if df.is_empty():
            return self.version(table)
        data = self._prepare(df, spec)
        props = self.writer_properties(spec)

        def attempt(n: int) -> None:
            write_deltalake(
                self.uri(table),
                data,
                mode="append",
                partition_by=list(spec.partition_by) or None,
                writer_properties=props,
                storage_options=self.storage_options,
            )

        return self._retrying(table, attempt)

    @staticmethod
    def _check_partition_values(table: str, df: pl.DataFrame, values: PartitionValues) -> None:
        for col, val in values.items():
            stray = df.filter(pl.col(col) != pl.lit(val)).height
            if stray:
                raise ValueError(f"{table}: {stray} row(s) have {col} != {val!r}; refusing to write another partition")

    @staticmethod
    def _ordered(df: pl.DataFrame, spec: TableSpec) -> pl.DataFrame:
        ordered = spec.conform(df)
        return sort_rows(ordered, list(spec.sort_by)) if spec.sort_by else ordered

    def _prepare(self, df: pl.DataFrame, spec: TableSpec) -> pa.Table:
        # One contiguous chunk: deltalake reorders rows across record batches (polars' own
        # writer keeps chunked frames in order, so `_commit_file` needs no copy). String views
        # go to deltalake as they are (the default compat level copies them to large_string).
        return self._ordered(df, spec).rechunk().to_arrow(compat_level=pl.CompatLevel.newest())

    # ---- partition files written by polars, committed by deltalake ------------------
    def _local_plain(self, values: PartitionValues) -> bool:
        """Polars writes the partition file only on a local lake with plain partition text;
        object stores and unusual values go through deltalake's own writer."""
        if self.storage_options or "://" in self.root:
            return False
        return all(_PLAIN_VALUE.match(_partition_text(v)) for v in values.values())

    @staticmethod
    def _schema_matches(dtable: DeltaTable, spec: TableSpec) -> bool:
        """The stored schema is the registry's (else deltalake's writer reports the drift)."""
        stored = [(f.name, _stored_type(f.type)) for f in dtable.schema().fields]
        return stored == [(c.name, _delta_type(c.dtype)) for c in spec.columns]

    def _write_file(self, table: str, ordered: pl.DataFrame, values: PartitionValues) -> tuple[Path, AddAction]:
        """Write one partition's data as a single Parquet file with polars; not yet in the log.

        polars' writer is multi-threaded and encodes straight from the frame: about 2x faster
        than deltalake's and without its ~2x-the-data transient memory.
        """
        data = ordered.drop(list(values))
        parts = "/".join(f"{k}={_partition_text(v)}" for k, v in values.items())
        rel = f"{parts}/part-00000-{uuid.uuid4()}-c000.zstd.parquet"
        path = Path(self.uri(table)) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data.write_parquet(
            path,
            compression="zstd",
            compression_level=ZSTD_LEVEL,
            row_group_size=self.max_row_group_size,
            statistics=True,
        )
        add = AddAction(
            rel,
            path.stat().st_size,
            {k: _partition_text(v) for k, v in values.items()},
            int(time.time() * 1000),
            True,
            _file_stats(data),
        )
        return path, add

    def _commit_file(
        self, table: str, dtable: DeltaTable, spec: TableSpec, values: PartitionValues, path: Path, add: AddAction
    ) -> int:
        """Commit a written file as the partition's content: add + remove of its old files, atomically."""
        filters = [(k, "=", _partition_text(v)) for k, v in values.items()]

        committed = False

        def attempt(n: int) -> None:
            nonlocal committed
            current = dtable if n == 0 else DeltaTable(self.uri(table))
            current.create_write_transaction(
                [add],
                mode="overwrite",
                schema=current.schema(),
                partition_by=list(spec.partition_by),
                partition_filters=filters,
                commit_properties=_partition_guard(table, spec, values),  # same-partition writers conflict
            )
            committed = True

        try:
            return self._retrying(table, attempt)
        except BaseException:
            if not committed:  # once the log refers to the file it must stay
                path.unlink(missing_ok=True)
            raise

    def _commit(
        self,
        table: str,
        data: pa.Table,
        spec: TableSpec,
        *,
        predicate: str | None,
        partition: PartitionValues | None = None,
        replace_schema: bool = False,
    ) -> int:
        props = self.writer_properties(spec)

        def attempt(n: int) -> None:
            exists = self.exists(table)
            try:
                write_deltalake(
                    self.uri(table),
                    data,
                    mode="overwrite" if exists else "append",
                    partition_by=list(spec.partition_by) or None,
                    predicate=predicate if exists else None,
                    schema_mode="overwrite" if replace_schema and exists else None,
                    writer_properties=props,
                    storage_options=self.storage_options,
                    # a partition overwrite conflicts with a concurrent fast-path write of the same partition
                    commit_properties=_partition_guard(table, spec, partition) if partition else None,
                )
            except Exception as exc:
                if not exists and "already exists" in str(exc).lower():
                    # another writer created the table first; the retry overwrites by predicate
                    raise CommitFailedError(str(exc)) from exc
                raise

        return self._retrying(table, attempt)

    def _retrying(self, table: str, attempt: Callable[[int], None]) -> int:
        """Run a commit attempt, retrying Delta commit conflicts with jittered backoff; the new version."""
        for n in range(self.commit_retries + 1):
            try:
                attempt(n)
                return self.version(table)  # type: ignore[return-value]
            except CommitFailedError as exc:
                if n == self.commit_retries:
                    raise
                wait = min(2.0, 0.05 * 2**n) * (1 + random.random())
                log.warning("%s: commit conflict (%s); retry %d in %.2fs", table, exc, n + 1, wait)
                time.sleep(wait)
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
        except BaseException as exc:
            self._txn = None
            for failure in self._undo(txn):
                exc.add_note(f"rollback failed, the lake may hold a partial write: {failure}")
            raise
        finally:
            self._txn = None

    def _undo(self, txn: Transaction) -> list[str]:
        """Restore every written partition; returns what could not be restored (empty when all was)."""
        failures: list[str] = []
        for item in reversed(txn.written):
            spec = get_table_spec(item.table)
            if item.version_before is not None and self.version(item.table) == item.version_before:
                continue  # its commit never landed: nothing to restore (and no new version to make)
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
                self._commit(item.table, data, spec, predicate=predicate, partition=item.partition)
                log.warning("rolled back %s %s to version %s", item.table, item.partition, item.version_before)
            except Exception as undo_error:  # keep undoing the rest; the caller re-raises the original error
                log.exception("could not roll back %s %s", item.table, item.partition)
                failures.append(f"{item.table} {item.partition}: {undo_error!r}")
        return failures
