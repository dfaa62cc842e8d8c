"""Join helpers against an independent brute-force method (plain Python over stored rows).

The rules they must keep are docs/join-semantics.md: backward only, strictly earlier by default,
the last of equal-time rows prevails, tolerance bounds staleness, symbols match by name.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

import pointline.research as pr
from pointline.calendars import build_trading_calendar
from pointline.config import load_exchanges
from pointline.lake import Lake
from pointline.research.joins import align, asof_backward, parse_duration_us
from pointline.research.times import to_us
from tests.research_lake import SZ_SYMBOL, SZSE, sample_lake, write_shanghai_lake

START, END = "2024-05-01T00:00", "2024-05-02T00:00"


@pytest.fixture(scope="module")
def research(tmp_path_factory) -> pr.Research:
    return pr.Research(sample_lake(tmp_path_factory))


def _prevailing(trade_ts: int, quotes: list[dict], tolerance_us: int | None, allow_exact: bool) -> dict | None:
    """The quote a trade should see, by brute force: the last (in stored order) of the quotes
    strictly before it (or at it), within the tolerance."""
    best = None
    for q in quotes:  # stored order: time, then file and line
        ts = q["ts_local_us"]
        known = ts < trade_ts or (allow_exact and ts == trade_ts)
        fresh = tolerance_us is None or trade_ts - ts <= tolerance_us
        if known and fresh and (best is None or ts >= best["ts_local_us"]):
            best = q
    return best


@pytest.mark.parametrize("exchange,symbol", [("binance", "ETHUSDT"), ("deribit", "BTC-PERPETUAL")])
@pytest.mark.parametrize("tolerance,allow_exact", [("1m", False), ("5s", False), ("1m", True)])
def test_each_trade_gets_the_quote_prevailing_before_it(research, exchange, symbol, tolerance, allow_exact):
    got = research.trades_with_quotes(
        exchange, symbol, START, END, tolerance=tolerance, allow_exact=allow_exact, decoded=False
    )
    stored = research.lake.read("quotes").filter((pl.col("exchange") == exchange) & (pl.col("symbol") == symbol))
    quotes = stored.sort("ts_local_us", "file_id", "file_line").to_dicts()
    trades = research.trades(exchange, symbol, START, END, decoded=False)
    assert got.height == trades.height > 0
    assert got.select(trades.columns).equals(trades)  # every trade, in order, unchanged
    tol = parse_duration_us(tolerance)
    matched = 0
    for row in got.iter_rows(named=True):
        want = _prevailing(row["ts_local_us"], quotes, tol, allow_exact)
        if want is None:
            assert row["quote_ts_local_us"] is None and row["bid_price"] is None
        else:
            matched += 1
            assert row["quote_ts_local_us"] == want["ts_local_us"]
            assert (row["bid_price"], row["ask_price"], row["bid_qty"]) == (
                want["bid_price"],
                want["ask_price"],
                want["bid_qty"],
            )
    assert matched > 0


def test_decoded_trades_with_quotes_are_floats_and_datetimes(research):
    df = research.trades_with_quotes("binance", "ETHUSDT", START, END)
    assert df.schema["bid_price"] == pl.Float64 and isinstance(df.schema["quote_ts_local"], pl.Datetime)
    assert (df["quote_ts_local"] < df["ts_local"]).all()


def test_equal_timestamps_are_strict_by_default_and_the_last_equal_row_prevails():
    trades = pl.DataFrame({"symbol": ["X"] * 3, "ts_local_us": [100, 200, 300]})
    quotes = pl.DataFrame(
        {
            "symbol": ["X"] * 4 + ["Y"],
            "ts_local_us": [100, 150, 150, 300, 250],
            "bid_price": [Decimal("1"), Decimal("2"), Decimal("3"), Decimal("4"), Decimal("9")],
        }
    )
    strict = asof_backward(trades, quotes, on="ts_local_us").collect()
    assert strict["bid_price"].to_list() == [None, Decimal("3"), Decimal("3")]  # Y never leaks into X
    exact = asof_backward(trades, quotes, on="ts_local_us", allow_exact=True).collect()
    assert exact["bid_price"].to_list() == [Decimal("1"), Decimal("3"), Decimal("4")]
    stale = asof_backward(trades, quotes, on="ts_local_us", tolerance=60).collect()
    assert stale["bid_price"].to_list() == [None, Decimal("3"), None]  # 300 - 150 > 60


def test_align_refuses_lookahead_and_samples_a_grid_as_of_each_point():
    ticks = pl.DataFrame({"symbol": ["X", "X", "Y"], "ts_local_us": [5, 25, 12], "v": [1, 2, 3]})
    with pytest.raises(ValueError, match="point-in-time"):
        align({"t": ticks}, on="ts_local_us", method="nearest")
    grid = align({"t": ticks}, on="ts_local_us", every="10us", start=0, end=40).collect()
    assert grid.columns == ["symbol", "ts_local_us", "t_ts_local_us", "t_v"]
    got = {(r["symbol"], r["ts_local_us"]): r["t_v"] for r in grid.iter_rows(named=True)}
    for (symbol, point), value in got.items():  # brute force: last tick strictly before the point
        before = [v for s, ts, v in ticks.iter_rows() if s == symbol and ts < point]
        assert value == (before[-1] if before else None), (symbol, point)
    assert len(got) == 8  # 4 grid points x 2 symbols


def test_align_of_tables_from_the_lake(research):
    trades = research.trades("binance-futures", "BTCUSDT", START, END, lazy=True)
    ticker = research.derivative_ticker("binance-futures", "BTCUSDT", START, END, lazy=True)
    out = align({"trade": trades, "ticker": ticker}).collect()
    assert out.height == trades.collect().height
    has = out.filter(pl.col("ticker_ts_local").is_not_null())
    assert has.height > 0 and (has["ticker_ts_local"] < has["ts_local"]).all()


def test_cross_section_is_each_instruments_last_row_of_the_day(research):
    day = dt.date(2024, 5, 1)
    stored = research.lake.read("derivative_ticker").filter(pl.col("date") == day)
    expected = {}
    for row in stored.sort("ts_local_us", "symbol_id", "file_id", "file_line").iter_rows(named=True):
        expected[(row["exchange"], row["symbol_id"])] = row["mark_price"]  # the last one wins
    cs = research.cross_sectional("derivative_ticker", day, ["mark_price"], decoded=False)
    assert {(r["exchange"], r["symbol_id"]): r["mark_price"] for r in cs.iter_rows(named=True)} == expected
    noon = to_us("2024-05-01T12:00")
    early = research.cross_sectional("derivative_ticker", day, ["ts_local"], as_of="2024-05-01T12:00", decoded=False)
    assert (early["ts_local_us"] < noon).all() and early.height > 0


def test_universe_is_point_in_time_and_skips_closed_days(tmp_path):
    lake = Lake(write_shanghai_lake(tmp_path / "lake"))
    lake.replace_table("dim_trading_calendar", build_trading_calendar(load_exchanges(), "2024-04-01", "2024-05-31"))
    research = pr.Research(lake.root)
    assert research.universe("stocks-cn", "2024-05-01").is_empty()  # Labour Day: SZSE is closed
    open_day = research.universe("stocks-cn", "2024-05-06")
    assert open_day.select("exchange", "exchange_symbol").rows() == [(SZSE, SZ_SYMBOL)]
    assert open_day["amount_increment"].item() == Decimal("200")  # the version valid at that day's start
    assert research.universe("crypto", "2024-05-06").is_empty()  # no crypto symbols in this lake
