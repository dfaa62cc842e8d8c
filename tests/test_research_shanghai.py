"""Partition pruning in the exchange's own timezone (Asia/Shanghai), around local and UTC midnight.

The earlier system pruned partitions by UTC date and lost rows near midnight for Shanghai: a trade
at 23:30 UTC on May 1 is 07:30 on May 2 in Shanghai, so it lives in the partition date=2024-05-02,
which a UTC-date pruner never opens for a window on UTC May 1.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

import pointline.research as pr
from pointline.research.times import to_us
from tests.research_lake import SZ_CHANGE_US, SZ_SYMBOL, SZ_TRADES, SZSE, write_shanghai_lake

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture(scope="module")
def research(tmp_path_factory) -> pr.Research:
    return pr.Research(write_shanghai_lake(tmp_path_factory.mktemp("shanghai") / "lake"))


def _ts(utc_text: str) -> int:
    return to_us(utc_text + "+00:00")


def _expected(start_us: int, end_us: int) -> list[int]:
    return sorted(t for t in (_ts(t) for t, _ in SZ_TRADES) if start_us <= t < end_us)


def _get(research, start, end, **kw) -> pl.DataFrame:
    return research.trades(SZSE, SZ_SYMBOL, start, end, decoded=False, **kw)


def test_stored_partitions_are_shanghai_trading_dates(research):
    parts = research.lake.read("trades").select("date", "ts_local_us").sort("ts_local_us")
    dates = dict(zip(parts["ts_local_us"], parts["date"], strict=True))
    assert dates[_ts("2024-05-01T23:30:00")] == dt.date(2024, 5, 2)  # 07:30 local on May 2
    assert dates[_ts("2024-04-30T15:59:59.999999")] == dt.date(2024, 4, 30)
    assert dates[_ts("2024-04-30T16:00:00")] == dt.date(2024, 5, 1)


def test_row_at_2330_utc_is_found_by_a_utc_day_window(research):
    """The regression: [UTC May 1, UTC May 2) must include 23:30 UTC May 1 (partition May 2)."""
    start, end = dt.datetime(2024, 5, 1, tzinfo=dt.UTC), dt.datetime(2024, 5, 2, tzinfo=dt.UTC)
    got = _get(research, start, end)
    assert _ts("2024-05-01T23:30:00") in got["ts_local_us"].to_list()
    assert got["ts_local_us"].to_list() == _expected(to_us(start), to_us(end))
    assert set(got["date"]) == {dt.date(2024, 5, 1), dt.date(2024, 5, 2)}  # read both local dates
    # a window of just that half hour reads only the May 2 partition and still finds it
    narrow = _get(research, "2024-05-01T23:00:00Z", "2024-05-02T00:00:00Z")
    assert narrow["ts_local_us"].to_list() == [_ts("2024-05-01T23:30:00")]


def test_date_bounds_are_shanghai_trading_dates(research):
    """A date (or date-only text) means local midnight of that trading date on this exchange."""
    day = _get(research, dt.date(2024, 5, 1), dt.date(2024, 5, 2))
    assert day["date"].unique().to_list() == [dt.date(2024, 5, 1)]
    local_midnight = to_us(dt.datetime(2024, 5, 1, tzinfo=SHANGHAI))
    assert day["ts_local_us"].to_list() == _expected(local_midnight, local_midnight + 86_400_000_000)
    assert _ts("2024-04-30T16:00:00") in day["ts_local_us"].to_list()  # 00:00 local: first instant of the day
    assert _ts("2024-04-30T15:59:59.999999") not in day["ts_local_us"].to_list()  # last instant of Apr 30
    assert _get(research, "2024-05-01", "2024-05-02").equals(day)
    # the same window written as aware Shanghai datetimes
    aware = _get(research, dt.datetime(2024, 5, 1, tzinfo=SHANGHAI), dt.datetime(2024, 5, 2, tzinfo=SHANGHAI))
    assert aware.equals(day)


def test_windows_across_local_midnight(research):
    # 23:59:59.999999 local on Apr 30 and 00:00 local on May 1: one microsecond apart, two partitions
    got = _get(research, "2024-04-30T15:59:59.999999Z", "2024-04-30T16:00:00.000001Z")
    assert got["ts_local_us"].to_list() == [_ts("2024-04-30T15:59:59.999999"), _ts("2024-04-30T16:00:00")]
    assert got["date"].to_list() == [dt.date(2024, 4, 30), dt.date(2024, 5, 1)]
    with pytest.warns(pr.SymbolVersionWarning):
        everything = _get(research, "2024-04-01", "2024-06-01")
    assert everything.height == len(SZ_TRADES)


def test_metadata_change_on_a_shanghai_symbol(research):
    dim = research.dim_symbol().sort("valid_from_us")
    first, second = dim["symbol_id"].to_list()
    with pytest.warns(pr.SymbolVersionWarning, match="amount_increment 100.000000000 -> 200.000000000"):
        day2 = _get(research, "2024-05-02", "2024-05-03")
    assert day2.select("ts_local_us", "symbol_id").rows() == [
        (_ts("2024-05-01T23:30:00"), first),
        (_ts("2024-05-02T01:59:59.999999"), first),
        (SZ_CHANGE_US, second),  # exactly at the change: the new version (half-open validity)
        (_ts("2024-05-02T03:00:00"), second),
    ]
    assert day2["price"].to_list()[-1] == Decimal("10.123456789")  # stored exactly
    decoded = research.trades(SZSE, SZ_SYMBOL, "2024-05-02T03:00Z", "2024-05-02T04:00Z")
    assert decoded["price"].to_list() == [10.123456789]
    assert decoded["ts_local"].to_list() == [dt.datetime(2024, 5, 2, 3, tzinfo=dt.UTC)]


def test_list_symbols_as_of_a_date_uses_local_midnight(research):
    # the change is at 02:00 UTC May 2 = 10:00 Shanghai May 2: at the start of local May 2 the old
    # version is valid, at the start of local May 3 the new one
    assert research.list_symbols(SZSE, as_of="2024-05-02")["amount_increment"].to_list() == [Decimal("100")]
    assert research.list_symbols(SZSE, as_of="2024-05-03")["amount_increment"].to_list() == [Decimal("200")]
    assert research.list_symbols(SZSE, as_of="2024-05-02T02:00Z")["amount_increment"].to_list() == [Decimal("200")]
    assert research.list_exchanges("stocks-cn")["exchange"].to_list()[:2] == ["szse", "sse"]
