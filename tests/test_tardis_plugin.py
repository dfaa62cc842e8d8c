"""Tardis plugin end to end on real Tardis files: contract, registry, discovery + parsing."""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
from pathlib import Path

import polars as pl
import pytest

from pointline.schemas import get_table_spec
from vendors.base import BronzeFileError, VendorPlugin
from vendors.registry import available_vendors, load_vendor
from vendors.tardis import TardisPlugin

BITMEX = "bitmex_trades_XBTUSD.csv"
HUOBI = "huobi-dm-swap_quotes_BTC-USD.csv"

# Tardis has no equity columns (conditions, venue, sequence_number): it leaves them out, as the
# plugin contract allows for nullable columns, and the core fills them with null.
TARDIS_ABSENT = {"conditions", "venue", "sequence_number"}


def staged_columns(table: str) -> list[str]:
    return [c.name for c in get_table_spec(table).source_columns if c.name not in TARDIS_ABSENT]


@pytest.fixture()
def real_tardis(real_fixtures: Path) -> Path:
    path = real_fixtures / "tardis"
    if not (path / BITMEX).is_file() or not (path / HUOBI).is_file():
        pytest.skip(f"real Tardis samples missing under {path}")
    return path


def test_plugin_implements_the_contract() -> None:
    plugin = TardisPlugin()
    assert isinstance(plugin, VendorPlugin)
    assert plugin.name == "tardis"
    assert plugin.subdir == "tardis"
    assert plugin.routes() == {
        "trades": "trades",
        "quotes": "quotes",
        "book_snapshot_25": "book_snapshot_25",
        "book_snapshot_5": "book_snapshot_25",
        "incremental_book_L2": "orderbook_updates",
        "derivative_ticker": "derivative_ticker",
        "liquidations": "liquidations",
        "options_chain": "options_chain",
    }


def test_routes_returns_a_copy() -> None:
    plugin = TardisPlugin()
    plugin.routes()["instrument_status"] = "status"
    assert "instrument_status" not in plugin.routes()


def test_registry_loads_tardis_with_options() -> None:
    assert available_vendors()["tardis"] is TardisPlugin
    plugin = load_vendor("tardis", subdir="tardis-staging")
    assert isinstance(plugin, TardisPlugin)
    assert plugin.subdir == "tardis-staging"


def test_real_bitmex_trades_hive_gz(tmp_path: Path, real_tardis: Path) -> None:
    target = tmp_path / "tardis/exchange=bitmex/type=trades/date=2020-03-01/symbol=XBTUSD/XBTUSD.csv.gz"
    target.parent.mkdir(parents=True)
    target.write_bytes(gzip.compress((real_tardis / BITMEX).read_bytes()))

    plugin = TardisPlugin()
    (file,) = plugin.discover(tmp_path)
    assert (file.exchange, file.data_type, file.symbol, file.date) == (
        "bitmex",
        "trades",
        "XBTUSD",
        dt.date(2020, 3, 1),
    )
    df = plugin.read_events(file, "trades")

    spec = get_table_spec("trades")
    assert df.columns == staged_columns(spec.name)
    assert df.height == 10
    assert df["file_line"].to_list() == list(range(2, 12))
    assert df.row(0, named=True) == {
        "exchange": "bitmex",
        "symbol": "XBTUSD",
        "ts_local_us": "1583020803307160",
        "ts_exch_us": "1583020803145000",
        "trade_id": "ccc3c1fa-212c-e8b0-1706-9b9c4f3d5ecf",
        "side": "sell",
        "price": "8531.5",
        "qty": "2152",
        "file_line": 2,
    }
    last = df.row(9, named=True)
    assert last["trade_id"] == "7cae8d7b-b69d-025b-cc3c-84b911f37a8a"
    assert (last["ts_exch_us"], last["qty"], last["file_line"]) == ("1583020803276000", "1", 11)
    assert df["trade_id"].n_unique() == 10
    # Every arrival time falls inside the file's UTC day window.
    local = df["ts_local_us"].cast(pl.Int64)
    assert local.min() >= file.window_start_us and local.max() < file.window_end_us


def test_real_huobi_quotes_sdk_name(tmp_path: Path, real_tardis: Path) -> None:
    target = tmp_path / "tardis/downloads/huobi-dm-swap_quotes_2020-05-01_BTC-USD.csv"
    target.parent.mkdir(parents=True)
    shutil.copy(real_tardis / HUOBI, target)

    plugin = TardisPlugin()
    (file,) = plugin.discover(tmp_path)
    assert (file.exchange, file.data_type, file.symbol) == ("huobi-dm-swap", "quotes", "BTC-USD")
    assert file.rel_path == "tardis/downloads/huobi-dm-swap_quotes_2020-05-01_BTC-USD.csv"
    df = plugin.read_events(file, "quotes")

    assert df.columns == staged_columns("quotes")
    assert df.height == 10
    # The real header orders ask before bid: columns are matched by name, not position.
    assert df.row(5, named=True) == {
        "exchange": "huobi-dm-swap",
        "symbol": "BTC-USD",
        "ts_local_us": "1588291201671346",
        "ts_exch_us": "1588291201471000",
        "bid_price": "8629.2",
        "bid_qty": "856",
        "ask_price": "8629.3",
        "ask_qty": "5673",
        "file_line": 7,
    }
    assert df.filter(pl.col("file_line") == 11).select("bid_qty", "ask_qty").row(0) == ("847", "5411")
    assert set(df["ask_price"]) == {"8629.3"}


def test_real_file_of_another_type_is_routed_to_its_table_not_to_trades(tmp_path: Path, real_tardis: Path) -> None:
    target = tmp_path / "tardis/deribit_incremental_book_L2_2020-04-01_BTC-PERPETUAL.csv"
    target.parent.mkdir(parents=True)
    shutil.copy(real_tardis / "deribit_incremental_book_L2_BTC-PERPETUAL.csv", target)
    plugin = TardisPlugin()
    (file,) = plugin.discover(tmp_path)
    assert (file.exchange, file.data_type, file.symbol) == ("deribit", "incremental_book_L2", "BTC-PERPETUAL")
    assert plugin.routes()[file.data_type] == "orderbook_updates"
    with pytest.raises(BronzeFileError, match="incremental_book_L2"):
        plugin.read_events(file, "trades")


def test_sample_bronze_tree_is_fully_understood(tmp_path: Path) -> None:
    sample = pytest.importorskip("vendors.tardis.sample")
    manifest = sample.write_sample_bronze(tmp_path, days=1, rows_per_file=200)
    plugin = TardisPlugin()

    files = plugin.discover(tmp_path)
    assert [f.rel_path for f in files] == sorted(f.rel_path for f in manifest.csv_files)
    assert plugin.unrecognized(tmp_path) == []
    assert plugin.reference_files(tmp_path) == sorted(tmp_path / f.rel_path for f in manifest.instrument_files)
    expected_rows = {f.rel_path: f.rows for f in manifest.csv_files}
    for f in files:
        df = plugin.read_events(f, plugin.routes()[f.data_type])
        assert df.height == expected_rows[f.rel_path], f.rel_path
        assert df["file_line"].to_list() == list(range(2, df.height + 2))

    change = manifest.tick_size_change
    versions = plugin.instrument_versions(tmp_path).filter(
        (pl.col("exchange") == change.exchange) & (pl.col("exchange_symbol") == change.symbol)
    )
    assert versions["price_increment"].to_list() == [change.price_increment_before, change.price_increment_after]
    assert versions["valid_until_us"][0] == versions["valid_from_us"][1] == change.until_us


def test_downloads_in_flight_are_neither_files_nor_unrecognized(tmp_path: Path) -> None:
    """The SDK streams to `<name><hex>.unconfirmed` and renames when complete; until then it is not Bronze."""
    day = tmp_path / "tardis/exchange=deribit/type=trades/date=2024-05-01/symbol=BTC-PERPETUAL"
    day.mkdir(parents=True)
    (day / "BTC-PERPETUAL.csv.gz0123456789abcdef.unconfirmed").write_bytes(b"partial")
    (tmp_path / "tardis/exchange=deribit/type=instruments/date=2024-05-01").mkdir(parents=True)
    (tmp_path / "tardis/exchange=deribit/type=instruments/date=2024-05-01/instruments.json.part").write_text("[")
    plugin = TardisPlugin()
    assert plugin.discover(tmp_path) == [] and plugin.unrecognized(tmp_path) == []
