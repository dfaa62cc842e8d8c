"""Frames built from the schema registry for the maintenance, stats and CLI tests (and a test that they
are valid for every table, so a registry change shows up here first rather than as an odd failure).

`spec_frame` fills every column by its registry dtype; `append_files` adds a partition's rows as
several data files the way an append-only writer would (deltalake's own writer, mode="append").
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest
from deltalake import write_deltalake

from pointline.lake import Lake
from pointline.schemas import TABLES, get_table_spec, validate_frame

D1, D2, D3 = dt.date(2024, 5, 1), dt.date(2024, 5, 2), dt.date(2024, 5, 3)
SYMBOLS = 3  # symbol_id cycles through 0..2, so appended chunks are not in (symbol_id, time) order


def _day_start_us(date: dt.date) -> int:
    return int(dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC).timestamp()) * 1_000_000


def _value(name: str, dtype: pl.DataType, i: int, date: dt.date, axis: str | None) -> object:
    """Row i's value of a column: time axis one second apart within the day, lineage unique per row."""
    if name == axis:
        return _day_start_us(date) + i * 1_000_000
    if name == "symbol_id":
        return i % SYMBOLS
    if name == "file_line":
        return i + 2
    if isinstance(dtype, pl.List) and dtype.inner == pl.String:  # lineage lists of Gold tables
        return [f"{name}-{i}-{k}" for k in range(2)]
    if isinstance(dtype, pl.List):
        return [Decimal(i) + Decimal(level) / 10 for level in range(25)]
    if isinstance(dtype, pl.Decimal):
        return Decimal(i) / 1000 + 1
    if dtype == pl.Date:
        return date
    if dtype == pl.Boolean:
        return i % 2 == 0
    if dtype == pl.Float64:
        return i * 0.5
    if dtype in (pl.Int64, pl.Int32, pl.Int16):
        return i % 30_000
    return f"{name}-{i}"


def spec_frame(table: str, values: dict, n: int, *, start: int = 0) -> pl.DataFrame:
    """`n` valid rows of `table` in partition `values`, rows numbered from `start` (so chunks built
    with different starts never share lineage or timestamps)."""
    spec = get_table_spec(table)
    date = values.get("date", D1)
    data = {
        c.name: (
            [values[c.name]] * n
            if c.name in values
            else [_value(c.name, c.dtype, i, date, spec.time_axis) for i in range(start, start + n)]
        )
        for c in spec.columns
    }
    return pl.DataFrame(data, schema=spec.polars_schema)


def append_files(lake: Lake, table: str, values: dict, chunks: list[pl.DataFrame]) -> None:
    """Write each chunk as its own data file of the partition (a new table starts through the Lake)."""
    spec = get_table_spec(table)
    for chunk in chunks:
        if not lake.exists(table):
            if spec.partition_by:
                lake.write_partition(table, chunk, values)
            else:  # write_partition is for partitioned tables
                lake.replace_table(table, chunk)
            continue
        write_deltalake(
            lake.uri(table),
            chunk.to_arrow(compat_level=pl.CompatLevel.newest()),
            mode="append",
            partition_by=list(spec.partition_by) or None,
        )


def partition_of(table: str, date: dt.date = D1, exchange: str = "binance") -> dict:
    """Partition values of `table` for a date and exchange (quarantine also names its table, Gold bars
    their bar spec)."""
    base = {"table_name": "trades", "date": date, "exchange": exchange, "snapshot_date": date, "bar_spec": "time_1m"}
    return {k: base[k] for k in get_table_spec(table).partition_by}


@pytest.mark.parametrize("table", sorted(TABLES))
def test_spec_frame_is_valid_for_every_registered_table(table):
    df = spec_frame(table, partition_of(table), 5)
    validate_frame(df, get_table_spec(table))
    assert df.height == 5
