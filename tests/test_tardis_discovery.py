"""Tardis discovery: both layouts, gz, grouped symbols, SDK names, unrecognized files, windows."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

from vendors.tardis import TardisPlugin

HEADER = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
DAY_US = 86_400_000_000
MAY_1_2024_US = 1_714_521_600_000_000


def put(root: Path, rel: str, text: str = HEADER) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode()
    path.write_bytes(gzip.compress(data) if rel.endswith(".gz") else data)
    return path


def test_hive_layout_plain_and_gz(tmp_path: Path) -> None:
    put(tmp_path, "tardis/exchange=binance-futures/type=trades/date=2024-05-01/symbol=BTCUSDT/BTCUSDT.csv.gz")
    put(tmp_path, "tardis/exchange=Bitmex /type=quotes/date=2024-05-02/symbol=XBTUSD/part-0.csv")
    files = TardisPlugin().discover(tmp_path)

    assert [f.rel_path for f in files] == [
        "tardis/exchange=Bitmex /type=quotes/date=2024-05-02/symbol=XBTUSD/part-0.csv",
        "tardis/exchange=binance-futures/type=trades/date=2024-05-01/symbol=BTCUSDT/BTCUSDT.csv.gz",
    ]
    bitmex, binance = files
    assert (bitmex.exchange, bitmex.data_type, bitmex.symbol) == ("bitmex", "quotes", "XBTUSD")
    assert (binance.exchange, binance.data_type, binance.date) == ("binance-futures", "trades", dt.date(2024, 5, 1))
    assert binance.vendor == "tardis"
    assert binance.path == tmp_path / binance.rel_path
    assert binance.path.is_absolute()
    assert binance.size == binance.path.stat().st_size > 0
    assert binance.mtime_ns == binance.path.stat().st_mtime_ns
    assert (binance.window_start_us, binance.window_end_us) == (MAY_1_2024_US, MAY_1_2024_US + DAY_US)
    assert bitmex.window_start_us == MAY_1_2024_US + DAY_US


def test_hive_extra_keys_are_kept(tmp_path: Path) -> None:
    put(tmp_path, "tardis/market=usdm/exchange=binance-futures/type=trades/date=2024-05-01/symbol=ETHUSDT/x.csv")
    (file,) = TardisPlugin().discover(tmp_path)
    assert file.extra == {"market": "usdm"}
    assert file.symbol == "ETHUSDT"


def test_sdk_names_with_dashed_exchanges_and_underscored_types(tmp_path: Path) -> None:
    put(tmp_path, "tardis/binance-futures_trades_2024-05-01_BTCUSDT.csv.gz")
    put(tmp_path, "tardis/deep/er/deribit_book_snapshot_25_2024-05-01_BTC-PERPETUAL.csv.gz")
    put(tmp_path, "tardis/huobi-dm-swap_incremental_book_L2_2020-05-01_BTC-USD.csv")
    put(tmp_path, "tardis/binance-delivery_quotes_2024-05-01_BTCUSD_240628.csv.gz")
    got = {
        f.rel_path.rsplit("/", 1)[-1]: (f.exchange, f.data_type, f.date.isoformat(), f.symbol)
        for f in TardisPlugin().discover(tmp_path)
    }
    assert got == {
        "binance-futures_trades_2024-05-01_BTCUSDT.csv.gz": ("binance-futures", "trades", "2024-05-01", "BTCUSDT"),
        "deribit_book_snapshot_25_2024-05-01_BTC-PERPETUAL.csv.gz": (
            "deribit",
            "book_snapshot_25",
            "2024-05-01",
            "BTC-PERPETUAL",
        ),
        "huobi-dm-swap_incremental_book_L2_2020-05-01_BTC-USD.csv": (
            "huobi-dm-swap",
            "incremental_book_L2",
            "2020-05-01",
            "BTC-USD",
        ),
        "binance-delivery_quotes_2024-05-01_BTCUSD_240628.csv.gz": (
            "binance-delivery",
            "quotes",
            "2024-05-01",
            "BTCUSD_240628",
        ),
    }


def test_grouped_symbol_files_are_discovered(tmp_path: Path) -> None:
    put(tmp_path, "tardis/exchange=deribit/type=trades/date=2024-05-01/symbol=PERPETUALS/PERPETUALS.csv.gz")
    put(tmp_path, "tardis/deribit_options_chain_2024-05-01_OPTIONS.csv.gz")
    files = TardisPlugin().discover(tmp_path)
    assert sorted((f.symbol, f.data_type) for f in files) == [("OPTIONS", "options_chain"), ("PERPETUALS", "trades")]


def test_results_sorted_by_rel_path_and_posix(tmp_path: Path) -> None:
    for rel in (
        "tardis/z/bitmex_trades_2024-05-03_XBTUSD.csv",
        "tardis/a/bitmex_trades_2024-05-01_XBTUSD.csv",
        "tardis/exchange=bitmex/type=trades/date=2024-05-02/symbol=XBTUSD/f.csv",
    ):
        put(tmp_path, rel)
    rels = [f.rel_path for f in TardisPlugin().discover(tmp_path)]
    assert rels == sorted(rels)
    assert len(rels) == 3
    assert all(r.startswith("tardis/") and "\\" not in r for r in rels)


def test_only_its_own_subdir_is_scanned(tmp_path: Path) -> None:
    put(tmp_path, "other/bitmex_trades_2024-05-01_XBTUSD.csv")
    put(tmp_path, "tardis-staging/bitmex_trades_2024-05-02_XBTUSD.csv")
    assert TardisPlugin().discover(tmp_path) == []
    (file,) = TardisPlugin(subdir="tardis-staging").discover(tmp_path)
    assert file.rel_path == "tardis-staging/bitmex_trades_2024-05-02_XBTUSD.csv"
    assert TardisPlugin().discover(tmp_path / "missing") == []


def test_unrecognized_and_invalid_dates(tmp_path: Path) -> None:
    good = put(tmp_path, "tardis/bitmex_trades_2024-05-01_XBTUSD.csv")
    bad = [
        put(tmp_path, "tardis/exchange=bitmex/type=trades/date=2024-02-30/symbol=XBTUSD/x.csv"),
        put(tmp_path, "tardis/bitmex_trades_2024-13-01_XBTUSD.csv.gz"),
        put(tmp_path, "tardis/notes.txt", "hello"),
        put(tmp_path, "tardis/bitmex_trades_XBTUSD.csv"),
        put(tmp_path, "tardis/exchange=bitmex/type=trades/date=2024-05-01/symbol=XBTUSD/x.parquet"),
    ]
    put(tmp_path, "tardis/bitmex_trades_2024-05-01_XBTUSD.csv.gz.unconfirmed")  # in flight: ignored
    plugin = TardisPlugin()
    assert [f.path for f in plugin.discover(tmp_path)] == [good]
    assert sorted(plugin.unrecognized(tmp_path)) == sorted(bad)


def test_instrument_snapshots_are_reference_files_not_events(tmp_path: Path) -> None:
    snap_a = put(tmp_path, "tardis/exchange=deribit/type=instruments/date=2024-05-01/instruments.json", "[]")
    snap_b = put(tmp_path, "tardis/exchange=bitmex/type=instruments/date=2024-05-02/instruments.json.gz", "[]")
    odd = put(tmp_path, "tardis/exchange=bitmex/type=instruments/date=2024-99-02/instruments.json", "[]")
    csv = put(tmp_path, "tardis/exchange=bitmex/type=trades/date=2024-05-01/symbol=XBTUSD/x.csv")
    plugin = TardisPlugin()
    assert [f.path for f in plugin.discover(tmp_path)] == [csv]
    assert plugin.reference_files(tmp_path) == [snap_b, snap_a]  # sorted: bitmex before deribit
    assert plugin.unrecognized(tmp_path) == [odd]
