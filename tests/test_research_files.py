"""The research fast path (pointline.research.files) reads exactly what `pl.scan_delta` reads."""

from __future__ import annotations

import datetime as dt
import shutil

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

import pointline.research as pr
from pointline.lake import Lake
from pointline.research.core import read_events, scan_events
from pointline.research.files import FileIndex
from pointline.research.snapshots import DeltaSnapshots
from pointline.research.times import window_us
from pointline.schemas import TABLES, get_table_spec
from tests.research_lake import sample_lake

WINDOWS = [
    ("2024-05-01", "2024-05-03"),  # both days
    ("2024-05-01T23:30", "2024-05-02T00:30"),  # across midnight
    ("2024-05-02T10:00", "2024-05-02T10:00:00.000001"),  # one microsecond
    ("2024-05-03", "2024-05-04"),  # no partition
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    return Lake(sample_lake(tmp_path_factory))


def _event_tables(lake: Lake) -> list[str]:
    return [t for t in sorted(TABLES) if get_table_spec(t).time_axis and lake.exists(t)]


def _reads(lake: Lake, table: str) -> list[dict]:
    """Every exchange holding the table (None for date-only tables), all symbols and each single
    symbol_id present, over every window."""
    spec = get_table_spec(table)
    rows = lake.read(table)
    exchanges = sorted(rows["exchange"].unique().to_list()) if "exchange" in spec.partition_by else [None]
    ids = sorted(rows["symbol_id"].unique().to_list())[:3] if "symbol_id" in spec.names else []
    reads = []
    for exchange in exchanges:
        for symbol_ids in [None, *ids, *([ids] if ids else [])]:
            for start, end in WINDOWS:
                start_us, end_us = window_us(start, end, "UTC")
                reads.append(dict(exchange=exchange, symbol_ids=symbol_ids, start_us=start_us, end_us=end_us))
    return reads


def test_every_read_of_every_table_equals_scan_delta(lake):
    """Same rows, same order, same schema with and without the file index, on every table the
    sample lake holds (events, klines, options, asset stats, Gold-less dims excluded)."""
    snapshots = DeltaSnapshots(lake)
    tables = _event_tables(lake)
    assert {"trades", "quotes", "book_snapshot_25", "options_chain", "dim_asset_stats"} <= set(tables)
    compared = nonempty = 0
    for table in tables:
        assert snapshots.file_index(table) is not None, f"{table}: the fast path does not apply"
        for read in _reads(lake, table):
            fast = read_events(lake, table, snapshots=snapshots, **read)
            plain = read_events(lake, table, **read)
            assert fast.schema == plain.schema, f"{table} {read}"
            assert fast.equals(plain), f"{table} {read}: {fast.height} rows, scan_delta {plain.height}"
            lazy = scan_events(lake, table, snapshots=snapshots, **read).collect()
            assert lazy.equals(scan_events(lake, table, **read).collect())
            compared += 1
            nonempty += fast.height > 0
    assert nonempty > compared // 4  # the windows do hit data


def test_files_are_pruned_by_partition_and_statistics(lake):
    index = DeltaSnapshots(lake).file_index("trades")
    all_files = index.paths({})
    day = index.paths({"date": (dt.date(2024, 5, 2), dt.date(2024, 5, 2)), "exchange": ("deribit", "deribit")})
    assert len(day) == 1 and "date=2024-05-02/exchange=deribit/" in day[0]
    assert len(all_files) > len(day)
    late = 2**62
    assert index.paths({"ts_local_us": (late, None)}) == []  # no file holds a row that late
    assert index.paths({"symbol_id": (None, -(2**63))}) == []  # nor a symbol_id that low


def test_extra_files_and_a_column_added_later_read_like_scan_delta(tmp_path):
    """A partition of several files, one of them written before a nullable column existed."""
    uri = str(tmp_path / "t")
    first = pl.DataFrame({"date": [dt.date(2024, 5, 1)] * 3, "symbol_id": [1, 1, 2], "ts": [1, 2, 3]})
    write_deltalake(uri, first.to_arrow(), partition_by=["date"])
    later = first.with_columns(pl.col("ts") + 10, pl.lit("x").alias("note"))
    write_deltalake(uri, later.to_arrow(), partition_by=["date"], mode="append", schema_mode="merge")
    dtable = DeltaTable(uri)
    index = FileIndex.of(dtable)
    assert index is not None and len(index.paths({})) == 2
    where = (pl.col("symbol_id") == 1) & (pl.col("ts") >= 2)
    fast = index.scan({"symbol_id": (1, 1), "ts": (2, None)}).filter(where).sort("ts").collect()
    plain = pl.scan_delta(dtable).filter(where).sort("ts").collect()
    assert fast.schema == plain.schema and fast.equals(plain)
    assert fast["note"].to_list() == [None, "x", "x"]


def test_tables_with_deletion_vectors_take_scan_delta(tmp_path):
    """Reader protocol 3 (deletion vectors): a plain Parquet scan would resurrect deleted rows."""
    uri = str(tmp_path / "dv")
    write_deltalake(
        uri, pl.DataFrame({"a": [1, 2, 3]}).to_arrow(), configuration={"delta.enableDeletionVectors": "true"}
    )
    assert FileIndex.of(DeltaTable(uri)) is None


def test_a_session_rebuilds_the_index_after_a_commit(tmp_path, lake):
    """The index belongs to one snapshot: a new commit is seen by the next read."""
    shutil.copytree(lake.root, tmp_path / "lake")
    copy = Lake(tmp_path / "lake")
    research = pr.Research(copy.root)
    ids = lake.read("trades").filter(pl.col("exchange") == "deribit")["symbol_id"].unique().sort().to_list()
    before = research.read_table("trades", "deribit", ids, "2024-05-01", "2024-05-03")
    first_index = research.snapshots.file_index("trades")
    partition = {"date": dt.date(2024, 5, 1), "exchange": "deribit"}
    copy.write_partition("trades", copy.read_partition("trades", partition).head(5), partition)
    after = research.read_table("trades", "deribit", ids, "2024-05-01", "2024-05-03")
    assert research.snapshots.file_index("trades") is not first_index
    day2 = before.filter(pl.col("date") == dt.date(2024, 5, 2)).height
    assert after.height == day2 + 5 < before.height
