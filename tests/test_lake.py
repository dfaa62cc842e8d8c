"""Delta storage: partition-exact overwrite, validation before write, ordering, rollback."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from pointline.lake import Lake, partition_predicate
from pointline.schemas import TRADES, SchemaValidationError

D1, D2 = dt.date(2024, 5, 1), dt.date(2024, 5, 2)


def trades_frame(date: dt.date, exchange: str, n: int, *, offset: int = 0) -> pl.DataFrame:
    rows = [
        {
            "date": date,
            "exchange": exchange,
            "symbol": "BTCUSDT",
            "symbol_id": (i * 7919) % 5,
            "ts_local_us": 1_000 + i,
            "ts_exch_us": 900 + i,
            "trade_id": str(i + offset),
            "side": "buy",
            "price": Decimal("60000.1") + i,
            "qty": Decimal("0.001"),
            "file_id": 1,
            "file_line": i + 2,
        }
        for i in range(n)
    ]
    return pl.DataFrame(rows, schema=TRADES.polars_schema)


def test_predicate_quotes_values():
    assert partition_predicate({"date": D1, "exchange": "o'k"}) == "date = '2024-05-01' AND exchange = 'o''k'"


def test_overwrite_touches_only_its_partition(tmp_path):
    lake = Lake(tmp_path)
    lake.write_partition("trades", trades_frame(D1, "binance", 3), {"date": D1, "exchange": "binance"})
    lake.write_partition("trades", trades_frame(D2, "binance", 2), {"date": D2, "exchange": "binance"})
    lake.write_partition("trades", trades_frame(D1, "deribit", 4), {"date": D1, "exchange": "deribit"})
    lake.write_partition("trades", trades_frame(D1, "binance", 5, offset=100), {"date": D1, "exchange": "binance"})
    counts = dict(
        lake.read("trades")
        .group_by("date", "exchange")
        .len()
        .select(pl.format("{}|{}", "date", "exchange"), "len")
        .iter_rows()
    )
    assert counts == {"2024-05-01|binance": 5, "2024-05-02|binance": 2, "2024-05-01|deribit": 4}
    assert lake.read_partition("trades", {"date": D1, "exchange": "binance"})["trade_id"].min() == "100"


def test_empty_frame_empties_the_partition(tmp_path):
    lake = Lake(tmp_path)
    lake.write_partition("trades", trades_frame(D1, "binance", 3), {"date": D1, "exchange": "binance"})
    lake.write_partition("trades", trades_frame(D2, "binance", 2), {"date": D2, "exchange": "binance"})
    lake.write_partition("trades", TRADES.empty(), {"date": D1, "exchange": "binance"})
    assert lake.read("trades")["date"].unique().to_list() == [D2]


def test_schema_mismatch_writes_nothing(tmp_path):
    lake = Lake(tmp_path)
    bad = trades_frame(D1, "binance", 3).drop("qty")
    with pytest.raises(SchemaValidationError, match="missing column 'qty'"):
        lake.write_partition("trades", bad, {"date": D1, "exchange": "binance"})
    assert not lake.exists("trades")


def test_rows_of_another_partition_are_refused(tmp_path):
    lake = Lake(tmp_path)
    with pytest.raises(ValueError, match="refusing to write another partition"):
        lake.write_partition("trades", trades_frame(D2, "binance", 1), {"date": D1, "exchange": "binance"})


def test_rows_stored_in_tie_break_order_and_identical_across_runs(tmp_path):
    df = trades_frame(D1, "binance", 2000).sample(fraction=1.0, shuffle=True, seed=3)
    chunked = pl.concat([df.slice(0, 700), df.slice(700, 700), df.slice(1400)], rechunk=False)
    lake = Lake(tmp_path)
    lake.write_partition("trades", chunked, {"date": D1, "exchange": "binance"})
    first = lake.read("trades")
    lake.write_partition("trades", df, {"date": D1, "exchange": "binance"})
    second = lake.read("trades")
    assert first.equals(second)
    assert first.equals(first.sort(list(TRADES.sort_by)))


def test_transaction_restores_partitions_on_failure(tmp_path):
    lake = Lake(tmp_path)
    before = trades_frame(D1, "binance", 3)
    lake.write_partition("trades", before, {"date": D1, "exchange": "binance"})
    lake.write_partition("trades", trades_frame(D2, "binance", 2), {"date": D2, "exchange": "binance"})
    with pytest.raises(RuntimeError, match="boom"), lake.transaction():
        lake.write_partition("trades", trades_frame(D1, "binance", 9, offset=50), {"date": D1, "exchange": "binance"})
        raise RuntimeError("boom")
    assert lake.read_partition("trades", {"date": D1, "exchange": "binance"}).equals(before.sort(list(TRADES.sort_by)))
    assert lake.read_partition("trades", {"date": D2, "exchange": "binance"}).height == 2


def test_transaction_on_new_table_leaves_it_empty(tmp_path):
    lake = Lake(tmp_path)
    with pytest.raises(RuntimeError), lake.transaction():
        lake.write_partition("trades", trades_frame(D1, "binance", 3), {"date": D1, "exchange": "binance"})
        raise RuntimeError("boom")
    assert lake.read("trades").is_empty()


def test_absent_table_reads_as_empty_with_schema(tmp_path):
    df = Lake(tmp_path).read("trades")
    assert df.is_empty() and df.schema == TRADES.polars_schema


def _writer(root: str, exchange: str, n: int, seed: int) -> None:
    lake = Lake(root)
    lake.write_partition("trades", trades_frame(D1, exchange, n, offset=seed), {"date": D1, "exchange": exchange})


def test_concurrent_writers_same_and_different_partitions(tmp_path):
    """Conflicting commits are retried: every writer lands, the same partition never duplicates."""
    import multiprocessing as mp

    Lake(tmp_path).write_partition("trades", trades_frame(D1, "binance", 1), {"date": D1, "exchange": "binance"})
    ctx = mp.get_context("spawn")
    jobs = [("binance", 50, 0), ("binance", 50, 1000), ("deribit", 30, 0), ("binance", 50, 2000)]
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), ex, n, seed)) for ex, n, seed in jobs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    stored = Lake(tmp_path).read("trades")
    binance = stored.filter(pl.col("exchange") == "binance")
    assert binance.height == 50 and binance["trade_id"].str.to_integer().min() in (0, 1000, 2000)
    assert binance["trade_id"].is_unique().all()
    assert stored.filter(pl.col("exchange") == "deribit").height == 30


def test_partition_sorted_so_a_symbol_hour_read_touches_few_row_groups(tmp_path):
    """Row groups are cut along (symbol_id, ts): a one-symbol read prunes most of the day."""
    import pyarrow.parquet as pq

    n = 20_000
    rows = trades_frame(D1, "binance", n).with_columns(
        (pl.int_range(n) % 10).cast(pl.Int64).alias("symbol_id"),
        (pl.int_range(n) * 4_000_000).alias("ts_local_us"),
    )
    lake = Lake(tmp_path, max_row_group_size=1_000)
    lake.write_partition("trades", rows.sample(fraction=1.0, shuffle=True, seed=1), {"date": D1, "exchange": "binance"})
    files = [u.removeprefix("file://") for u in __import__("deltalake").DeltaTable(lake.uri("trades")).file_uris()]
    groups = [pq.ParquetFile(f).metadata.row_group(i) for f in files for i in range(pq.ParquetFile(f).num_row_groups)]
    assert len(groups) == 20

    def overlaps(rg, symbol: int, lo: int, hi: int) -> bool:
        stats = {rg.column(j).path_in_schema: rg.column(j).statistics for j in range(rg.num_columns)}
        s, t = stats["symbol_id"], stats["ts_local_us"]
        return s.min <= symbol <= s.max and t.min < hi and t.max >= lo

    hour = 3_600_000_000
    touched = [rg for rg in groups if overlaps(rg, 3, 10 * hour, 11 * hour)]
    assert 1 <= len(touched) <= 2


def _stats(lake: Lake, exchange: str) -> dict:
    import pyarrow as pa
    from deltalake import DeltaTable

    actions = pa.table(DeltaTable(lake.uri("trades")).get_add_actions(flatten=True))
    rows = [r for r in actions.to_pylist() if r["partition.exchange"] == exchange]
    assert len(rows) == 1
    return {k: v for k, v in rows[0].items() if k.startswith(("min.", "max.", "null_count.", "num_records"))}


def test_fast_path_file_statistics_equal_deltalake_writer(tmp_path):
    """The local fast path (Polars writes the file, deltalake commits it) records the same stats."""
    lake = Lake(tmp_path)
    df = trades_frame(D1, "plain", 500).with_columns(
        pl.when(pl.int_range(500) % 7 == 0).then(None).otherwise(pl.col("trade_id")).alias("trade_id")
    )
    lake.write_partition("trades", df, {"date": D1, "exchange": "plain"})  # fast path
    odd = df.with_columns(pl.lit("odd name").alias("exchange"))
    lake.write_partition("trades", odd, {"date": D1, "exchange": "odd name"})  # deltalake writer
    fast, reference = _stats(lake, "plain"), _stats(lake, "odd name")
    assert fast["num_records"] == reference["num_records"] == 500
    for key, value in reference.items():
        if key.startswith(("min.", "max.", "null_count.")) and value is not None:
            assert fast.get(key) == value, key


def test_filtered_scans_and_duckdb_agree_on_fast_path_files(tmp_path):
    import duckdb
    from deltalake import DeltaTable

    lake = Lake(tmp_path, max_row_group_size=100)
    for exchange in ("binance", "deribit"):
        lake.write_partition("trades", trades_frame(D1, exchange, 1000), {"date": D1, "exchange": exchange})
    full = lake.read("trades")
    cut = Decimal("60500.1")
    pushed = pl.scan_delta(lake.uri("trades")).filter(pl.col("price") > cut).collect()
    assert pushed.height == full.filter(pl.col("price") > cut).height == 2 * 499
    ds = DeltaTable(lake.uri("trades")).to_pyarrow_dataset()  # noqa: F841  (queried by name below)
    n, total = duckdb.sql("select count(*), sum(qty) from ds where exchange = 'deribit'").fetchall()[0]
    assert n == 1000 and total == Decimal("1.000")


@pytest.mark.parametrize("seed", range(6))
def test_sort_rows_equals_a_stable_sort(seed):
    import random as rnd

    from pointline.lake import sort_rows

    r = rnd.Random(seed)
    runs = []
    for _ in range(r.randint(1, 6)):
        n = r.randint(1, 50)
        sym = r.randint(0, 3)
        start = r.randint(0, 100)
        runs.append(pl.DataFrame({"a": [sym] * n, "b": sorted(r.randint(start, start + 20) for _ in range(n))}))
    df = pl.concat(runs).with_row_index("i")
    assert sort_rows(df, ["a", "b"]).equals(df.sort(["a", "b"], maintain_order=True))


def test_interrupt_after_a_commit_is_rolled_back_and_the_table_stays_readable(tmp_path, monkeypatch):
    lake = Lake(tmp_path)
    before = trades_frame(D1, "binance", 3)
    lake.write_partition("trades", before, {"date": D1, "exchange": "binance"})
    real_version = Lake.version
    calls = {"n": 0}

    def version_then_interrupt(self, table):
        calls["n"] += 1
        if calls["n"] == 2:  # the version read right after our commit
            raise KeyboardInterrupt
        return real_version(self, table)

    monkeypatch.setattr(Lake, "version", version_then_interrupt)
    with pytest.raises(KeyboardInterrupt), lake.transaction():
        lake.write_partition("trades", trades_frame(D1, "binance", 7, offset=10), {"date": D1, "exchange": "binance"})
    monkeypatch.setattr(Lake, "version", real_version)
    assert lake.read("trades").equals(before.sort(list(TRADES.sort_by)))


def test_failed_commit_of_a_multi_partition_write_leaves_no_file_and_no_change(tmp_path, monkeypatch):
    """write_partitions stages every file first; when a commit fails, the files not yet committed are
    removed (no untracked Parquet left in the lake) and partitions never committed are not rewritten."""
    import deltalake

    lake = Lake(str(tmp_path / "lake"))
    d = dt.date(2024, 5, 1)
    lake.write_partition("trades", trades_frame(d, "binance", 5), {"date": d, "exchange": "binance"})
    lake.write_partition("trades", trades_frame(d, "okx", 3), {"date": d, "exchange": "okx"})
    before_files = sorted(p.relative_to(tmp_path) for p in (tmp_path / "lake").rglob("*.parquet"))
    version = lake.version("trades")

    def refuse(*args, **kwargs):
        raise RuntimeError("commit refused")

    monkeypatch.setattr(deltalake.DeltaTable, "create_write_transaction", refuse)
    writes = [
        ("trades", trades_frame(d, "binance", 7, offset=100), {"date": d, "exchange": "binance"}),
        ("trades", trades_frame(d, "okx", 9, offset=100), {"date": d, "exchange": "okx"}),
    ]
    with pytest.raises(RuntimeError, match="commit refused"), lake.transaction():
        lake.write_partitions(writes)
    monkeypatch.undo()
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "lake").rglob("*.parquet")) == before_files
    assert lake.version("trades") == version  # nothing committed, so nothing to roll back either
    assert lake.read_partition("trades", {"date": d, "exchange": "okx"}).height == 3
