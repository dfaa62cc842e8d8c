"""Research API loaders on a lake built by the real ingestion code from the sample Bronze.

Expected rows are computed independently from the stored table (Lake.read + plain filters) and
from dim_symbol, never through the research API itself.
"""

from __future__ import annotations

import datetime as dt
import warnings
from decimal import Decimal

import polars as pl
import pytest

import pointline.research as pr
from pointline.lake import Lake
from pointline.research import core
from pointline.research.times import to_us
from pointline.schemas import get_table_spec
from tests.research_lake import DAY1, sample_lake

FUT = "binance-futures"
CHANGE_US = to_us("2024-05-01T12:00")  # SOLUSDT's tick size changes here (sample generator)


@pytest.fixture(scope="module")
def research(tmp_path_factory) -> pr.Research:
    return pr.Research(sample_lake(tmp_path_factory))


@pytest.fixture(scope="module")
def lake(research) -> Lake:
    return research.lake


def _stored(lake: Lake, table: str, exchange: str, symbol: str, start_us: int, end_us: int) -> pl.DataFrame:
    axis = get_table_spec(table).time_axis
    return (
        lake.read(table)
        .filter(
            (pl.col("exchange") == exchange)
            & (pl.col("symbol") == symbol)
            & (pl.col(axis) >= start_us)
            & (pl.col(axis) < end_us)
        )
        .sort(axis, "symbol_id", "file_id", "file_line")
    )


def test_metadata_change_mid_window_yields_both_versions_and_warns(research, lake):
    dim = lake.read("dim_symbol").filter((pl.col("exchange") == FUT) & (pl.col("exchange_symbol") == "SOLUSDT"))
    before, after = dim.sort("valid_from_us")["symbol_id"].to_list()
    with pytest.warns(pr.SymbolVersionWarning) as caught:
        df = research.trades(FUT, "SOLUSDT", "2024-05-01", "2024-05-02", decoded=False)
    message = str(caught[0].message)
    assert "2 dim_symbol versions" in message and str(before) in message and str(after) in message
    assert "price_increment 0.001000000 -> 0.010000000" in message
    assert caught[0].filename == __file__  # points at the researcher's line, not at the library

    expected = _stored(lake, "trades", FUT, "SOLUSDT", to_us("2024-05-01"), to_us("2024-05-02"))
    assert df.equals(expected.select(df.columns))
    assert set(df["symbol_id"]) == {before, after}
    # every row carries the version valid at its own arrival time
    assert (df.filter(pl.col("symbol_id") == before)["ts_local_us"] < CHANGE_US).all()
    assert (df.filter(pl.col("symbol_id") == after)["ts_local_us"] >= CHANGE_US).all()


def test_window_inside_one_version_resolves_one_symbol_id_without_warning(research):
    with warnings.catch_warnings():
        warnings.simplefilter("error", pr.SymbolVersionWarning)
        morning = research.trades(FUT, "SOLUSDT", "2024-05-01T00:00", "2024-05-01T12:00")
        afternoon = research.trades(FUT, "SOLUSDT", "2024-05-01T12:00", "2024-05-01T18:00")
    assert morning["symbol_id"].n_unique() == afternoon["symbol_id"].n_unique() == 1
    assert morning["symbol_id"][0] != afternoon["symbol_id"][0]


def test_windows_are_half_open_on_the_time_axis(research, lake):
    stored = _stored(lake, "trades", FUT, "BTCUSDT", to_us("2024-05-01"), to_us("2024-05-02"))
    a, b = stored["ts_local_us"][10], stored["ts_local_us"][20]
    got = research.trades(FUT, "BTCUSDT", a, b, decoded=False)["ts_local_us"]
    assert got[0] == a  # start included
    assert got.max() < b and b not in got.to_list()  # end excluded
    assert got.len() == stored.filter(pl.col("ts_local_us").is_between(a, b, closed="left")).height
    # consecutive windows partition the rows: nothing lost or doubled at the boundary
    left = research.trades(FUT, "BTCUSDT", "2024-05-01", b, decoded=False)
    right = research.trades(FUT, "BTCUSDT", b, "2024-05-02", decoded=False)
    assert left.height + right.height == stored.height
    assert research.trades(FUT, "BTCUSDT", a, a).height == 0  # empty window


def test_time_inputs_are_equivalent(research):
    start = dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)
    variants = [
        (start, start + dt.timedelta(hours=2)),
        (start.replace(tzinfo=None), dt.datetime(2024, 5, 1, 12)),  # naive = UTC
        ("2024-05-01T10:00:00Z", "2024-05-01T12:00"),
        ("2024-05-01T18:00:00+08:00", "2024-05-01T20:00+08:00"),
        (to_us("2024-05-01T10:00"), to_us("2024-05-01T12:00")),
    ]
    frames = [research.trades(FUT, "BTCUSDT", s, e, decoded=False) for s, e in variants]
    assert frames[0].height > 0
    assert all(f.equals(frames[0]) for f in frames[1:])
    # dates are trading dates: for a UTC venue the same as UTC midnight
    by_date = research.trades(FUT, "BTCUSDT", DAY1, dt.date(2024, 5, 2), decoded=False)
    by_text = research.trades(FUT, "BTCUSDT", "2024-05-01", "2024-05-02", decoded=False)
    assert by_date.equals(by_text) and by_date["date"].unique().to_list() == [DAY1]
    with pytest.raises(ValueError, match="before start"):
        research.trades(FUT, "BTCUSDT", "2024-05-02", "2024-05-01")
    with pytest.raises(ValueError, match="nanoseconds"):
        research.trades(FUT, "BTCUSDT", 1714521600000000000, 1714525200000000000)


def test_decoded_and_raw_dtypes_and_exact_values(research, lake):
    raw = research.trades(FUT, "BTCUSDT", "2024-05-01", "2024-05-02", decoded=False)
    dec = research.trades(FUT, "BTCUSDT", "2024-05-01", "2024-05-02")
    stored = _stored(lake, "trades", FUT, "BTCUSDT", to_us("2024-05-01"), to_us("2024-05-02"))
    # raw: exactly the stored values and dtypes
    assert raw.schema == get_table_spec("trades").polars_schema
    assert raw.equals(stored)
    # decoded: Decimal -> nearest Float64, *_us -> Datetime(us, UTC) without the suffix, rest unchanged
    assert dec.columns == [c.removesuffix("_us") if c in ("ts_local_us", "ts_exch_us") else c for c in raw.columns]
    assert dec.schema["price"] == dec.schema["qty"] == pl.Float64
    assert dec.schema["ts_local"] == dec.schema["ts_exch"] == pl.Datetime("us", "UTC")
    assert dec.schema["symbol"] == pl.String and dec.schema["symbol_id"] == pl.Int64
    assert [float(v) for v in raw["price"]] == dec["price"].to_list()
    assert [float(v) for v in raw["qty"]] == dec["qty"].to_list()
    assert all(isinstance(v, Decimal) for v in raw["price"].head(5))
    first = dec.row(0, named=True)
    assert first["ts_local"] == dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
        microseconds=raw["ts_local_us"][0]
    )
    assert dec["symbol"].unique().to_list() == ["BTCUSDT"]


def test_decoded_book_levels_and_rates(research):
    raw = research.book_snapshot_25(FUT, "BTCUSDT", "2024-05-01", "2024-05-02", decoded=False)
    dec = research.book_snapshot_25(FUT, "BTCUSDT", "2024-05-01", "2024-05-02")
    assert raw.schema["bid_prices"] == pl.List(pl.Decimal(38, 9)) and dec.schema["bid_prices"] == pl.List(pl.Float64)
    exact = raw["bid_prices"][0].to_list()
    assert dec["bid_prices"][0].to_list() == [None if v is None else float(v) for v in exact]
    ticker = research.derivative_ticker(FUT, "BTCUSDT", "2024-05-01", "2024-05-02", decoded=False)
    assert ticker.schema["funding_rate"] == pl.Decimal(38, 18)
    dec_t = research.derivative_ticker(FUT, "BTCUSDT", "2024-05-01", "2024-05-02")
    assert dec_t.schema["funding_rate"] == pl.Float64 and dec_t.schema["funding_ts"] == pl.Datetime("us", "UTC")
    assert [None if v is None else float(v) for v in ticker["funding_rate"]] == dec_t["funding_rate"].to_list()


@pytest.mark.parametrize(
    ("loader", "table", "exchange", "symbol"),
    [
        ("trades", "trades", "binance", "ETHUSDT"),
        ("quotes", "quotes", "deribit", "BTC-PERPETUAL"),
        ("book_snapshot_25", "book_snapshot_25", FUT, "ETHUSDT"),
        ("orderbook_updates", "orderbook_updates", FUT, "ETHUSDT"),
        ("derivative_ticker", "derivative_ticker", "deribit", "ETH-PERPETUAL"),
        ("liquidations", "liquidations", FUT, "ETHUSDT"),
    ],
)
def test_each_loader_returns_exactly_its_stored_rows(research, lake, loader, table, exchange, symbol):
    start, end = to_us("2024-05-01T06:00"), to_us("2024-05-02T06:00")
    got = getattr(research, loader)(exchange, symbol, start, end, decoded=False)
    expected = _stored(lake, table, exchange, symbol, start, end)
    assert expected.height > 0
    assert got.equals(expected.select(got.columns))


def test_options_chain_klines_and_asset_stats(research, lake):
    chain = lake.read("options_chain").filter(pl.col("date") == DAY1)
    option = chain["symbol"].value_counts(sort=True)["symbol"][0]
    got = research.options_chain("deribit", option, "2024-05-01", "2024-05-02", decoded=False)
    assert got.equals(_stored(lake, "options_chain", "deribit", option, to_us("2024-05-01"), to_us("2024-05-02")))

    bars = research.klines(FUT, "BTCUSDT", "2024-05-01T05:00", "2024-05-01T08:00", interval="1h", decoded=False)
    assert bars["ts_open_us"].to_list() == [to_us(f"2024-05-01T0{h}:00") for h in (5, 6, 7)]  # by bar OPEN
    assert (bars["ts_close_us"] - bars["ts_open_us"]).unique().to_list() == [3_600_000_000]
    daily = research.klines(FUT, "ETHUSDT", "2024-05-01", "2024-05-03", interval="1d")
    assert daily["ts_open"].dt.date().to_list() == [dt.date(2024, 5, 1), dt.date(2024, 5, 2)]
    with pytest.raises(ValueError, match="unknown kline interval"):
        research.klines(FUT, "BTCUSDT", "2024-05-01", "2024-05-02", interval="7m")
    assert research.klines(FUT, "BTCUSDT", "2024-05-01", "2024-05-02", interval="5m").is_empty()  # no such table

    stats = research.asset_stats(["BTC", "ETH"], "2024-05-01", "2024-05-02", decoded=False)
    assert sorted(stats["base_asset"]) == ["BTC", "ETH"] and stats["date"].unique().to_list() == [DAY1]
    assert research.asset_stats(None, "2024-05-01", "2024-05-03")["base_asset"].n_unique() > 2


def test_lazy_and_columns(research):
    lf = research.trades(FUT, "BTCUSDT", "2024-05-01", "2024-05-02", lazy=True)
    assert isinstance(lf, pl.LazyFrame)
    eager = research.trades(FUT, "BTCUSDT", "2024-05-01", "2024-05-02")
    assert lf.collect().equals(eager)
    sub = research.trades(FUT, "BTCUSDT", "2024-05-01", "2024-05-02", columns=["ts_local", "price"])
    assert sub.columns == ["ts_local", "price"] and sub.equals(eager.select("ts_local", "price"))
    with pytest.raises(KeyError, match="no column"):
        research.trades(FUT, "BTCUSDT", "2024-05-01", "2024-05-02", columns=["nope"])


def test_rows_come_back_in_time_order_across_symbols(research):
    both = research.trades(FUT, ["BTCUSDT", "ETHUSDT"], "2024-05-01", "2024-05-03", decoded=False)
    assert set(both["symbol"]) == {"BTCUSDT", "ETHUSDT"}
    assert both["date"].unique().sort().to_list() == [DAY1, dt.date(2024, 5, 2)]
    keys = both.select("ts_local_us", "symbol_id", "file_id", "file_line")
    assert keys.equals(keys.sort(keys.columns))


def test_core_read_table_takes_explicit_ids_without_resolution(research):
    ids = research.list_symbols(FUT, search="SOLUSDT", all_versions=True)["symbol_id"].to_list()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the core layer never resolves, so never warns
        core_rows = research.read_table("trades", FUT, ids, "2024-05-01", "2024-05-02")
        via_module = core.read_table("trades", FUT, ids, "2024-05-01", "2024-05-02", research=research)
        one = research.read_table("trades", FUT, ids[0], "2024-05-01", "2024-05-02")
    with pytest.warns(pr.SymbolVersionWarning):
        convenience = research.trades(FUT, "SOLUSDT", "2024-05-01", "2024-05-02", decoded=False)
    assert core_rows.equals(convenience) and via_module.equals(core_rows)
    assert one["symbol_id"].unique().to_list() == [ids[0]]
    assert (
        core.scan_table("trades", FUT, ids, "2024-05-01", "2024-05-02", research=research).collect().equals(core_rows)
    )
    everything = research.read_table("trades", FUT, None, "2024-05-01", "2024-05-02")
    assert everything["symbol"].n_unique() == 3
    with pytest.raises(ValueError, match="empty"):
        research.read_table("trades", FUT, [], "2024-05-01", "2024-05-02")
    with pytest.raises(ValueError, match="pass the exchange"):
        research.read_table("trades", None, ids, "2024-05-01", "2024-05-02")


def test_unknown_symbols_and_exchanges_fail_clearly(research):
    with pytest.raises(pr.SymbolNotFoundError, match="no symbol 'BTCUSD'.*similar.*BTCUSDT"):
        research.trades(FUT, "BTCUSD", "2024-05-01", "2024-05-02")
    with pytest.raises(pr.SymbolNotFoundError, match="no dim_symbol version overlaps"):
        research.trades(FUT, "SOLUSDT", "2019-01-01", "2019-01-02")  # before its listing
    with pytest.raises(pr.UnknownExchangeError, match="unknown exchange 'binanse'"):
        research.trades("binanse", "BTCUSDT", "2024-05-01", "2024-05-02")
    # binance/SOLUSDT is missing from the instrument metadata: its rows are quarantined, not guessed
    with pytest.raises(pr.SymbolNotFoundError):
        research.trades("binance", "SOLUSDT", "2024-05-01", "2024-05-02")


@pytest.mark.parametrize("scale", [9, 18])
def test_decode_gives_the_nearest_double_of_every_exact_value(scale):
    import random

    rng = random.Random(scale)
    texts = []
    for _ in range(20_000):
        whole = rng.randrange(10 ** rng.randint(1, 38 - scale - 1))
        frac = rng.randrange(10**scale)
        texts.append(f"{'-' if rng.random() < 0.3 else ''}{whole}.{frac:0{scale}d}")
    exact = pl.Series("v", texts).str.to_decimal(scale=scale).cast(pl.Decimal(38, scale)).to_frame()
    decoded = core.decode(exact)["v"].to_list()
    assert decoded == [float(Decimal(t)) for t in texts]
