"""Configuration as data: exchanges file, timezones, trading-day windows."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from pointline.config import ConfigError, load_exchanges, load_settings
from pointline.trading_day import date_of_us, dates_overlapping, day_window_us, trading_date_expr


def test_repo_exchanges_file_has_the_27_exchanges():
    df = load_exchanges()
    assert df.height == 27
    assert df["exchange_id"].is_unique().all()
    row = df.filter(pl.col("exchange") == "szse").row(0, named=True)
    assert row["timezone"] == "Asia/Shanghai" and row["asset_class"] == "stocks-cn" and row["exchange_id"] == 30
    assert set(df.filter(~pl.col("is_active"))["exchange"]) == {"coinbase-pro", "ftx"}
    calendars = dict(df.select("exchange", "calendar").iter_rows())
    assert calendars["szse"] == calendars["sse"] == calendars["bse"] == "XSHG"
    assert calendars["binance-futures"] == "24/7"
    assert (calendars["nyse"], calendars["nasdaq"], calendars["cme"]) == ("XNYS", "XNAS", "CMES")


def test_adding_an_exchange_is_one_row(tmp_path):
    text = (load_exchanges().write_csv()) + "kraken-futures,27,crypto-derivatives,UTC,24/7,true,Kraken futures\n"
    path = tmp_path / "exchanges.csv"
    path.write_text(text)
    assert "kraken-futures" in load_exchanges(path)["exchange"].to_list()


@pytest.mark.parametrize(
    "row, message",
    [
        ("mars,99,crypto-spot,Mars/Olympus,24/7,true,x", "unknown timezone 'Mars/Olympus'"),
        ("binance,98,crypto-spot,UTC,24/7,true,x", "duplicate exchange"),
        ("newx,1,crypto-spot,UTC,24/7,true,x", "duplicate exchange_id"),
        ("lse,97,stocks-uk,Europe/London,XLSE,true,x", "exchange 'lse': unknown calendar 'XLSE'"),
        ("lse,97,stocks-uk,Europe/London,,true,x", r"empty value\(s\) in required column\(s\) \['calendar'\]"),
    ],
)
def test_bad_exchange_rows_are_named(tmp_path, row, message):
    path = tmp_path / "exchanges.csv"
    path.write_text(load_exchanges().write_csv() + row + "\n")
    with pytest.raises(ConfigError, match=message):
        load_exchanges(path)


def test_settings_file_parses():
    s = load_settings()
    assert s.partition_start <= dt.date(2019, 3, 30)
    assert 0 < s.quarantine_threshold("trades") < 1


def test_shanghai_day_window_and_dates():
    start, end = day_window_us(dt.date(2024, 9, 30), "Asia/Shanghai")
    assert end - start == 86_400_000_000
    # 2024-09-29 16:00 UTC is already 2024-09-30 in Shanghai
    assert date_of_us(start, "Asia/Shanghai") == dt.date(2024, 9, 30)
    assert date_of_us(start - 1, "Asia/Shanghai") == dt.date(2024, 9, 29)
    utc_day = day_window_us(dt.date(2024, 9, 30), "UTC")
    assert dates_overlapping(*utc_day, "Asia/Shanghai") == [dt.date(2024, 9, 30), dt.date(2024, 10, 1)]
    assert dates_overlapping(*utc_day, "UTC") == [dt.date(2024, 9, 30)]


def test_dst_day_is_23_hours():
    start, end = day_window_us(dt.date(2024, 3, 10), "America/New_York")
    assert end - start == 23 * 3_600_000_000


@pytest.mark.parametrize("tz", ["UTC", "Asia/Shanghai", "America/New_York"])
def test_trading_date_expr_matches_scalar(tz):
    ts = [0, 1_727_625_599_999_999, 1_727_625_600_000_000, 1_710_054_000_000_000, 1_714_521_599_999_999]
    got = pl.DataFrame({"t": ts}).select(trading_date_expr("t", tz))["t"].to_list()
    assert got == [date_of_us(t, tz) for t in ts]
