"""Kept Delta snapshots (pointline.research.snapshots) and eager reads (core.read_events).

A session keeps each table's DeltaTable open between reads and must still see every new commit,
a lake deleted and recreated under it, and give lazy frames the version they were built on. The
eager read path sorts after collecting and must return exactly what the lazy plan returns.
"""

from __future__ import annotations

import datetime as dt
import shutil

import numpy as np
import polars as pl
import pytest

import pointline.research as pr
from pointline.config import load_exchanges
from pointline.lake import Lake
from pointline.research.core import read_events, scan_events
from pointline.research.times import window_us
from pointline.scd2 import versions_to_dim
from pointline.schemas import TRADES
from pointline.trading_day import day_window_us
from vendors.base import INSTRUMENT_COLUMNS

EXCHANGE = "binance-futures"
SYMBOLS = ["AAAUSDT", "BBBUSDT", "CCCUSDT"]
DAY1, DAY2 = dt.date(2024, 5, 1), dt.date(2024, 5, 2)


def _dims(lake: Lake) -> dict[str, int]:
    lake.replace_table("dim_exchange", load_exchanges())
    rows = [
        dict.fromkeys(INSTRUMENT_COLUMNS)
        | {"exchange": EXCHANGE, "exchange_symbol": s, "valid_from_us": 0, "source": "test"}
        for s in SYMBOLS
    ]
    dim = versions_to_dim(pl.DataFrame(rows, schema=INSTRUMENT_COLUMNS))
    lake.replace_table("dim_symbol", dim)
    return dict(zip(dim["exchange_symbol"], dim["symbol_id"], strict=True))


def _trades(ids: dict[str, int], day: dt.date, rows: int, price: int = 100, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start, end = day_window_us(day, "UTC")
    frames = [
        pl.DataFrame({"ts_local_us": np.sort(rng.integers(start, end, rows))}).with_columns(
            pl.lit(day).alias("date"),
            pl.lit(EXCHANGE).alias("exchange"),
            pl.lit(s).alias("symbol"),
            pl.lit(ids[s]).alias("symbol_id"),
            pl.col("ts_local_us").alias("ts_exch_us"),
            pl.lit(None, pl.String).alias("trade_id"),
            pl.lit("buy").alias("side"),
            pl.lit(price).cast(TRADES.column("price").dtype).alias("price"),
            pl.lit(1).cast(TRADES.column("qty").dtype).alias("qty"),
            pl.lit(None, pl.Int64).alias("conditions"),
            pl.lit(None, pl.String).alias("venue"),
            pl.lit(None, pl.Int64).alias("sequence_number"),
            pl.lit(k + 1, pl.Int64).alias("file_id"),
            pl.int_range(2, rows + 2, dtype=pl.Int64).alias("file_line"),
        )
        for k, s in enumerate(SYMBOLS)
    ]
    return pl.concat(frames).select(TRADES.names)


def _lake(root, days=(DAY1,), rows=200, price=100) -> Lake:
    lake = Lake(root)
    ids = _dims(lake)
    for day in days:
        lake.write_partition("trades", _trades(ids, day, rows, price), {"date": day, "exchange": EXCHANGE})
    return lake


def test_reads_reuse_the_snapshot_until_a_commit_and_then_see_it(tmp_path):
    lake = _lake(tmp_path / "lake")
    session = pr.Research(lake.root)
    first = session.trades(EXCHANGE, "AAAUSDT", "2024-05-01", "2024-05-03")
    again = session.trades(EXCHANGE, "AAAUSDT", "2024-05-01", "2024-05-03")
    assert first.equals(again) and first.height == 200
    assert session.snapshots.stats == {"opens": 1, "reuses": 1}

    ids = dict(zip(session.dim_symbol()["exchange_symbol"], session.dim_symbol()["symbol_id"], strict=True))
    lake.write_partition("trades", _trades(ids, DAY2, 50), {"date": DAY2, "exchange": EXCHANGE})  # a new commit
    both = session.trades(EXCHANGE, "AAAUSDT", "2024-05-01", "2024-05-03")
    assert both.height == 250 and session.snapshots.stats["opens"] == 2
    lake.write_partition("trades", _trades(ids, DAY2, 70), {"date": DAY2, "exchange": EXCHANGE})  # overwrite
    assert session.trades(EXCHANGE, "AAAUSDT", "2024-05-01", "2024-05-03").height == 270
    day = ("select count(*) as n from trades where date = ? and symbol = ?", [DAY2, "BBBUSDT"])
    assert session.sql(*day)["n"].item() == 70
    lake.write_partition("trades", _trades(ids, DAY2, 10), {"date": DAY2, "exchange": EXCHANGE})
    assert session.sql(*day)["n"].item() == 10  # sql() sees the commit too


def test_a_lazy_frame_keeps_the_version_it_was_built_on(tmp_path):
    lake = _lake(tmp_path / "lake", price=100)
    session = pr.Research(lake.root)
    lazy = session.trades(EXCHANGE, "AAAUSDT", "2024-05-01", "2024-05-02", lazy=True)
    ids = dict(zip(session.dim_symbol()["exchange_symbol"], session.dim_symbol()["symbol_id"], strict=True))
    lake.write_partition("trades", _trades(ids, DAY1, 200, price=200), {"date": DAY1, "exchange": EXCHANGE})
    assert lazy.collect()["price"].unique().to_list() == [100.0]
    assert session.trades(EXCHANGE, "AAAUSDT", "2024-05-01", "2024-05-02")["price"].unique().to_list() == [200.0]


@pytest.mark.parametrize("extra_commits", [0, 3])
def test_a_lake_deleted_and_recreated_under_a_live_session_is_read_anew(tmp_path, extra_commits):
    root = tmp_path / "lake"
    session = pr.Research(_lake(root, price=100).root)
    assert session.trades(EXCHANGE, "CCCUSDT", "2024-05-01", "2024-05-02")["price"].unique().to_list() == [100.0]
    shutil.rmtree(root)
    lake = _lake(root, price=300)  # the same number of commits: only the commit file's identity differs
    ids = dict(zip(lake.read("dim_symbol")["exchange_symbol"], lake.read("dim_symbol")["symbol_id"], strict=True))
    for _ in range(extra_commits):
        lake.write_partition("trades", _trades(ids, DAY1, 200, price=300), {"date": DAY1, "exchange": EXCHANGE})
    assert session.trades(EXCHANGE, "CCCUSDT", "2024-05-01", "2024-05-02")["price"].unique().to_list() == [300.0]


def test_invalidate_cache_forgets_snapshots(tmp_path):
    session = pr.Research(_lake(tmp_path / "lake").root)
    session.trades(EXCHANGE, "AAAUSDT", "2024-05-01", "2024-05-02")
    session.invalidate_cache()
    session.trades(EXCHANGE, "AAAUSDT", "2024-05-01", "2024-05-02")
    assert session.snapshots.stats == {"opens": 2, "reuses": 0}


def test_object_store_sessions_open_the_table_on_every_read(tmp_path):
    session = pr.Research(_lake(tmp_path / "lake").root)
    session.snapshots.lake = Lake(session.lake.root, storage_options={"allow_http": "true"})  # "not local"
    assert not session.snapshots.keeps
    assert session.snapshots.table("trades") is not session.snapshots.table("trades")


@pytest.mark.parametrize(
    "symbols, columns",
    [
        (["AAAUSDT"], None),
        (["AAAUSDT", "BBBUSDT", "CCCUSDT"], None),  # interleaved in time: read_events must sort
        (["BBBUSDT", "CCCUSDT"], ["price", "ts_local"]),  # without the sort keys
        (["CCCUSDT"], ["qty", "file_line", "symbol_id"]),
    ],
)
def test_eager_reads_equal_the_lazy_plan(tmp_path, symbols, columns):
    session = pr.Research(_lake(tmp_path / "lake", days=(DAY1, DAY2), rows=500).root)
    eager = session.trades(EXCHANGE, symbols, "2024-05-01T20:00", "2024-05-02T04:00", columns=columns)
    lazy = session.trades(EXCHANGE, symbols, "2024-05-01T20:00", "2024-05-02T04:00", columns=columns, lazy=True)
    assert eager.equals(lazy.collect()) and eager.height > 0
    ids = session.dim_symbol().filter(pl.col("exchange_symbol").is_in(symbols))["symbol_id"].to_list()
    start, end = window_us("2024-05-01T20:00", "2024-05-02T04:00")
    args = dict(exchange=EXCHANGE, symbol_ids=ids, start_us=start, end_us=end, columns=columns)
    assert read_events(session.lake, "trades", **args).equals(scan_events(session.lake, "trades", **args).collect())
