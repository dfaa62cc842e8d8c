"""A one-hour read of one symbol touches one partition file and only the row groups of that hour."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import polars as pl
import pytest

import pointline.research as pr
from pointline.config import load_exchanges
from pointline.lake import Lake
from pointline.scd2 import versions_to_dim
from pointline.schemas import TRADES
from pointline.trading_day import day_window_us
from vendors.base import INSTRUMENT_COLUMNS

EXCHANGE = "binance-futures"
SYMBOLS = [f"S{i}USDT" for i in range(4)]
DAYS = [dt.date(2024, 5, 1) + dt.timedelta(days=i) for i in range(3)]
ROWS = 20_000  # per symbol and day
ROW_GROUP = 2_048


@pytest.fixture(scope="module")
def research(tmp_path_factory) -> pr.Research:
    lake = Lake(tmp_path_factory.mktemp("pruning") / "lake", max_row_group_size=ROW_GROUP)
    lake.replace_table("dim_exchange", load_exchanges())
    rows = [
        dict.fromkeys(INSTRUMENT_COLUMNS)
        | {"exchange": EXCHANGE, "exchange_symbol": s, "valid_from_us": 0, "source": "test"}
        for s in SYMBOLS
    ]
    dim = versions_to_dim(pl.DataFrame(rows, schema=INSTRUMENT_COLUMNS))
    lake.replace_table("dim_symbol", dim)
    ids = dict(zip(dim["exchange_symbol"], dim["symbol_id"], strict=True))
    rng = np.random.default_rng(7)
    for day in DAYS:
        start, end = day_window_us(day, "UTC")
        frames = [
            pl.DataFrame({"ts_local_us": np.sort(rng.integers(start, end, ROWS))}).with_columns(
                pl.lit(day).alias("date"),
                pl.lit(EXCHANGE).alias("exchange"),
                pl.lit(s).alias("symbol"),
                pl.lit(ids[s]).alias("symbol_id"),
                pl.col("ts_local_us").alias("ts_exch_us"),
                pl.lit(None, pl.String).alias("trade_id"),
                pl.lit("buy").alias("side"),
                pl.lit(100).cast(TRADES.column("price").dtype).alias("price"),
                pl.lit(1).cast(TRADES.column("qty").dtype).alias("qty"),
                pl.lit(None, pl.Int64).alias("conditions"),
                pl.lit(None, pl.String).alias("venue"),
                pl.lit(None, pl.Int64).alias("sequence_number"),
                pl.lit(1, pl.Int64).alias("file_id"),
                pl.int_range(1, ROWS + 1, dtype=pl.Int64).alias("file_line"),
            )
            for s in SYMBOLS
        ]
        lake.write_partition("trades", pl.concat(frames).select(TRADES.names), {"date": day, "exchange": EXCHANGE})
    return pr.Research(lake.root)


def test_plan_scans_one_partition_file_with_every_filter_pushed_down(research):
    plan = research.trades(EXCHANGE, "S2USDT", "2024-05-02T10:00", "2024-05-02T11:00", lazy=True).explain()
    scans = re.findall(r"Parquet SCAN \[([^\]]*)\]", plan)
    assert len(scans) == 1 and "date=2024-05-02/exchange=binance-futures/" in scans[0] and "," not in scans[0]
    selection = plan.split("SELECTION:")[1]
    assert 'col("symbol_id") ==' in selection and 'col("ts_local_us") >=' in selection
    assert "FILTER" not in plan  # nothing left to filter after the scan


def test_only_the_row_groups_of_the_hour_are_read(research, capfd):
    capfd.readouterr()
    with pl.Config(verbose=True):
        df = research.trades(EXCHANGE, "S2USDT", "2024-05-02T10:00", "2024-05-02T11:00")
    err = capfd.readouterr().err
    read, total = map(int, re.findall(r"reading (\d+) / (\d+) row groups", err)[-1])
    assert total >= len(SYMBOLS) * ROWS // ROW_GROUP  # the whole day's file
    assert read <= 2  # ~830 rows of one symbol-hour span one or two row groups
    assert df.height > 0 and df["symbol"].unique().to_list() == ["S2USDT"]
