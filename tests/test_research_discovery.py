"""Discovery, DQ and quarantine helpers of the research API on the pipeline-built sample lake."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

import pointline.research as pr
from pointline.config import load_exchanges
from pointline.dq import dq_summary as core_dq_summary
from pointline.lake import Lake
from tests.research_lake import DAY1, DAY2, sample_lake, write_shanghai_lake

FUT = "binance-futures"


@pytest.fixture(scope="module")
def research(tmp_path_factory) -> pr.Research:
    return pr.Research(sample_lake(tmp_path_factory))


def test_list_exchanges_asset_class_hierarchy_comes_from_the_data(tmp_path):
    exchanges = load_exchanges()
    extra = exchanges.head(2).with_columns(
        pl.Series("exchange", ["optionland", "cryptoish"]),
        pl.Series("exchange_id", [98, 99], dtype=exchanges.schema["exchange_id"]),
        pl.Series("asset_class", ["crypto-options-eu", "cryptoish"]),
    )
    root = write_shanghai_lake(tmp_path / "lake")
    Lake(root).replace_table("dim_exchange", pl.concat([exchanges, extra]))
    research = pr.Research(root)
    crypto = research.list_exchanges("crypto")
    assert "optionland" in crypto["exchange"].to_list()  # a new class below crypto: no code change
    assert "cryptoish" not in crypto["exchange"].to_list()  # a prefix of the word is not a parent
    assert set(crypto["asset_class"]) == {"crypto-spot", "crypto-derivatives", "crypto-options-eu"}
    assert research.list_exchanges("crypto-options")["exchange"].to_list() == ["optionland"]
    spot = research.list_exchanges("crypto-spot")
    assert set(spot["asset_class"]) == {"crypto-spot"} and "coinbase-pro" not in spot["exchange"].to_list()
    assert "coinbase-pro" in research.list_exchanges("crypto-spot", active_only=False)["exchange"].to_list()
    both = research.list_exchanges(["stocks-cn", "crypto-derivatives"])["exchange"].to_list()
    assert {"szse", "sse", "binance-futures", "deribit"} <= set(both) and "binance" not in both
    assert research.list_exchanges()["exchange"].to_list() == (
        pl.concat([exchanges, extra]).filter("is_active").sort("exchange_id")["exchange"].to_list()
    )


def test_list_symbols_current_as_of_and_all_versions(research):
    dim = research.lake.read("dim_symbol")
    current = research.list_symbols(FUT)
    assert current.equals(dim.filter((pl.col("exchange") == FUT) & pl.col("is_current")).sort(current.columns[1:4]))
    sol_before = research.list_symbols(FUT, search="sol", as_of="2024-05-01T11:59:59.999999")
    sol_after = research.list_symbols(FUT, search="sol", as_of="2024-05-01T12:00")
    assert sol_before["price_increment"].to_list() == [Decimal("0.001")]
    assert sol_after["price_increment"].to_list() == [Decimal("0.01")]
    assert research.list_symbols(FUT, search="SOLUSDT", all_versions=True).height == 2
    # SRMUSDT was delisted in 2022: not current, but there as of 2021
    assert "SRMUSDT" not in current["exchange_symbol"].to_list()
    assert "SRMUSDT" in research.list_symbols(FUT, as_of="2021-06-01")["exchange_symbol"].to_list()
    perps = research.list_symbols(asset_class="crypto-derivatives", instrument_type="perpetual", quote_asset="USD")
    assert set(perps["exchange_symbol"]) == {"BTC-PERPETUAL", "ETH-PERPETUAL"}
    assert research.list_symbols(asset_class="crypto-spot", base_asset=["BTC", "ETH"])[
        "exchange"
    ].unique().to_list() == ["binance"]
    with pytest.raises(ValueError, match="not both"):
        research.list_symbols(FUT, as_of="2024-05-01", all_versions=True)


def test_symbol_metadata(research):
    dim = research.lake.read("dim_symbol")
    ids = dim.filter(pl.col("exchange_symbol") == "SOLUSDT")["symbol_id"].to_list()
    meta = research.symbol_metadata(ids)
    assert sorted(meta["symbol_id"].to_list()) == sorted(ids)
    assert research.symbol_metadata(ids[0]).height == 1
    with pytest.raises(KeyError, match="12345"):
        research.symbol_metadata([ids[0], 12345])


def test_data_coverage_counts_rows_per_table_day_and_version(research):
    cov = research.data_coverage(FUT, "SOLUSDT")
    ids = set(research.list_symbols(FUT, search="SOLUSDT", all_versions=True)["symbol_id"])
    expected = []
    for table in research.coverage_tables():
        rows = research.lake.read(table).filter((pl.col("exchange") == FUT) & pl.col("symbol_id").is_in(list(ids)))
        expected += (
            rows.group_by("date", "symbol_id")
            .len()
            .select(pl.lit(table).alias("table"), "date", "symbol_id", pl.col("len").cast(pl.Int64).alias("rows"))
            .rows()
        )
    assert sorted(cov.rows()) == sorted(expected)
    assert set(cov["table"]) == {"trades", "quotes"}  # the sample has SOLUSDT futures trades and quotes only
    assert set(cov["symbol_id"]) == ids  # both versions, each on the days it traded
    assert cov.filter((pl.col("table") == "trades") & (pl.col("date") == DAY2))["symbol_id"].n_unique() == 1
    only_quotes = research.data_coverage(FUT, "SOLUSDT", tables=["quotes"])
    assert set(only_quotes["table"]) == {"quotes"}
    with pytest.raises(pr.SymbolNotFoundError):
        research.data_coverage(FUT, "NOPEUSDT")
    assert {"trades", "quotes", "book_snapshot_25", "kline_1h", "kline_1d", "options_chain"} <= set(
        research.coverage_tables()
    )
    assert "dim_asset_stats" not in research.coverage_tables()


def test_summarize_symbol(research):
    summary = research.summarize_symbol(FUT, "BTCUSDT")
    assert summary.versions.height == 1
    by_table = {r["table"]: r for r in summary.coverage.to_dicts()}
    assert {"trades", "quotes", "book_snapshot_25", "derivative_ticker", "liquidations", "kline_1h", "kline_1d"} <= set(
        by_table
    )
    assert by_table["kline_1h"]["rows"] == research.klines(FUT, "BTCUSDT", "2024-05-01", "2024-05-03").height
    assert by_table["trades"]["first_date"] == DAY1 and by_table["trades"]["last_date"] == DAY2
    assert by_table["trades"]["days"] == 2
    text = str(summary)
    assert text.startswith("binance-futures BTCUSDT: 1 dim_symbol version(s)")
    assert "tick 0.100000000" in text and "trades: 2 day(s) 2024-05-01 .. 2024-05-02" in text


def test_list_tables(research):
    tables = research.list_tables()
    existing = set(tables.filter("exists")["table"])
    assert {"trades", "kline_1h", "dim_symbol", "quarantine", "dq_summary", "dim_asset_stats"} <= existing
    assert tables.filter(pl.col("table") == "lake_stats")["exists"].to_list() == [False]
    assert tables.filter(pl.col("table") == "trades")["version"][0] == research.lake.version("trades")


def test_dq_summary_wraps_the_history_with_half_open_trading_dates(research):
    lake = research.lake
    day1 = research.dq_summary(FUT, "2024-05-01", "2024-05-02")
    assert day1.equals(core_dq_summary(lake, FUT, DAY1, DAY1))
    assert set(day1["date"]) == {DAY1} and {"trades", "quotes"} <= set(day1["table_name"])
    both = research.dq_summary(FUT, DAY1, dt.date(2024, 5, 3), table="trades")
    assert set(both["date"]) == {DAY1, DAY2} and set(both["table_name"]) == {"trades"}
    assert research.dq_summary(FUT, "2024-05-01", "2024-05-01").is_empty()  # empty window
    everything = research.dq_summary(latest_only=False)
    assert everything.height == lake.read("dq_summary").height
    assert isinstance(everything, pl.DataFrame)
    assert "global" in research.dq_summary("global", "2024-05-01", "2024-05-03")["exchange"].to_list()


def test_quarantine_helpers(research):
    q = research.quarantine("binance", "2024-05-01", "2024-05-02", table="trades")
    stored = research.lake.read("quarantine").filter(
        (pl.col("exchange") == "binance") & (pl.col("date") == DAY1) & (pl.col("table_name") == "trades")
    )
    assert q.height == stored.height > 0
    missing = research.quarantine("binance", "2024-05-01", "2024-05-03", symbol="SOLUSDT", reason="missing_pit_symbol")
    assert missing.height > 0 and set(missing["reason"]) == {"missing_pit_symbol"}
    per_symbol = research.quarantined_symbols("binance", "2024-05-01", "2024-05-03")
    sol = per_symbol.filter((pl.col("symbol") == "SOLUSDT") & (pl.col("reason") == "missing_pit_symbol"))
    assert sol["rows"].sum() == missing.height
    assert research.quarantined_symbols().height >= per_symbol.height


def test_trading_days_read_the_calendar_table_through_the_cache(research):
    reads_before = research.cache.stats.loads
    szse_2024 = research.trading_days("szse", "2024-01-01", "2025-01-01")  # half-open: the year 2024
    assert len(szse_2024) == 242
    assert dt.date(2024, 10, 1) not in szse_2024 and dt.date(2024, 10, 8) in szse_2024  # National Day week
    assert len(research.trading_days("binance-futures", "2024-01-01", "2025-01-01")) == 366
    assert research.trading_days("szse", "2024-05-06", "2024-05-06") == []
    # a datetime window: the trading dates it touches, in the exchange's timezone
    assert research.trading_days("szse", "2024-05-05T20:00Z", "2024-05-06T01:00Z") == [dt.date(2024, 5, 6)]
    research.trading_days("sse", "2024-01-01", "2024-02-01")
    assert research.cache.stats.loads - reads_before <= 1  # the calendar is read once, then cached
