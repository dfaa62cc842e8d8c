"""Tushare plugin: layout, stock_basic -> dim_symbol mapping (exchange-local windows, lots,
delisting, scope, SCD2 from snapshots) and the stock_basic_cn staged frame."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from decimal import Decimal

import polars as pl
import pytest

from pointline.pit import resolve_symbol_ids
from pointline.scd2 import VALID_UNTIL_OPEN, rebuild_from_history, validate_dim
from vendors.base import INSTRUMENT_COLUMNS, BronzeFileError, VendorPlugin
from vendors.registry import available_vendors
from vendors.tushare import TusharePlugin
from vendors.tushare.instruments import instrument_versions, lot_size
from vendors.tushare.layout import local_midnight_us, snapshot_rel_path
from vendors.tushare.sample import FIELDS, SAMPLE_SNAPSHOT_TS_US, sample_records, write_sample_snapshots
from vendors.tushare.snapshot import encode_snapshot, write_new_file, write_snapshot

S1, S2 = SAMPLE_SNAPSHOT_TS_US
CST = dt.timezone(dt.timedelta(hours=8))


def _us(*args: int, tz: dt.tzinfo = dt.UTC) -> int:
    return int(dt.datetime(*args, tzinfo=tz).timestamp()) * 1_000_000


@pytest.fixture
def bronze(tmp_path):
    write_sample_snapshots(tmp_path)
    return tmp_path


@pytest.fixture
def dim(bronze):
    return rebuild_from_history(TusharePlugin().instrument_versions(bronze))


def _rows(dim: pl.DataFrame, exchange: str, symbol: str) -> pl.DataFrame:
    return dim.filter((pl.col("exchange") == exchange) & (pl.col("exchange_symbol") == symbol)).sort("valid_from_us")


def test_plugin_is_registered_and_implements_the_contract():
    assert available_vendors()["tushare"] is TusharePlugin
    plugin = TusharePlugin()
    assert isinstance(plugin, VendorPlugin)
    assert plugin.routes() == {"stock_basic": "stock_basic_cn"}


def test_discovery_layout_and_unrecognized(bronze):
    plugin = TusharePlugin()
    files = plugin.discover(bronze)
    assert [f.rel_path for f in files] == [snapshot_rel_path(ts).as_posix() for ts in (S1, S2)]
    assert files[0].rel_path == (
        "tushare/type=stock_basic/date=2024-09-30/snapshot_ts=1727690400000000/tushare_stock_basic_1727690400000000.jsonl.gz"
    )
    assert files[0].window_start_us == _us(2024, 9, 30) and files[0].window_end_us == _us(2024, 10, 1)
    assert plugin.reference_files(bronze) == [f.path for f in files]
    # a leftover .part file and a date that is not the UTC date of the timestamp are reported, not read
    stray = bronze / "tushare/type=stock_basic/date=2024-09-30/snapshot_ts=1727690400000000/x.jsonl.gz.123.part"
    stray.write_bytes(b"")
    wrong = bronze / "tushare/type=stock_basic/date=2024-10-01/snapshot_ts=1727690400000000"
    wrong.mkdir(parents=True)
    (wrong / "tushare_stock_basic_1727690400000000.jsonl.gz").write_bytes(b"")
    assert len(plugin.discover(bronze)) == 2
    assert sorted(p.name for p in plugin.unrecognized(bronze)) == [
        "tushare_stock_basic_1727690400000000.jsonl.gz",
        stray.name,
    ]


def test_snapshots_are_never_overwritten_and_hold_no_token(tmp_path):
    request = {"api_name": "stock_basic", "params": {"list_status": "L"}, "fields": ",".join(FIELDS)}
    path = write_snapshot(tmp_path, [(sample_records(0)[0], request)], S1)
    with pytest.raises(FileExistsError):
        write_snapshot(tmp_path, [(sample_records(0)[1], request)], S1)
    with pytest.raises(FileExistsError):
        write_new_file(path, b"x")
    line = json.loads(gzip.decompress(path.read_bytes()))
    assert line["record"]["ts_code"] == "000001.SZ" and line["partitions"] == {"date": "2024-09-30"}
    assert "token" not in json.dumps(line)
    with pytest.raises(ValueError, match="token"):
        encode_snapshot([(sample_records(0)[0], {"token": "secret"})], S1)
    with pytest.raises(ValueError, match="empty"):
        encode_snapshot([], S1)
    assert not list(tmp_path.rglob("*.part"))


def test_listing_starts_at_exchange_local_midnight_and_first_minute_resolves(dim):
    row = _rows(dim, "sse", "688799")
    assert row.height == 1
    start = row["valid_from_us"][0]
    assert start == _us(2024, 9, 29, 16) == local_midnight_us(dt.date(2024, 9, 30), "Asia/Shanghai")
    # events of the listing day through the real PIT resolution: midnight, the first minute, the open
    events = pl.DataFrame(
        {
            "exchange": ["sse"] * 4,
            "symbol": ["688799"] * 4,
            "ts_local_us": [
                _us(2024, 9, 29, 15, 59, 59),  # 23:59:59 CST the day before: not listed yet
                _us(2024, 9, 30, 0, 0, tz=CST),
                _us(2024, 9, 30, 0, 1, tz=CST),
                _us(2024, 9, 30, 9, 15, tz=CST),
            ],
        }
    )
    ids = resolve_symbol_ids(events, dim)
    assert ids.to_list() == [None, *[row["symbol_id"][0]] * 3]


def test_windows_use_the_timezone_of_config_exchanges(bronze):
    paths = TusharePlugin().reference_files(bronze)
    utc = instrument_versions(paths, {"szse": "UTC", "sse": "UTC"})
    start = utc.filter(pl.col("exchange_symbol") == "688799")["valid_from_us"][0]
    assert start == _us(2024, 9, 30)  # the zone comes from data, not from a constant


def test_equity_attributes_and_star_board_lot(dim):
    ping_an = _rows(dim, "szse", "000001").row(0, named=True)
    assert ping_an["instrument_type"] == "equity" and ping_an["quote_asset"] == "CNY"
    assert ping_an["base_asset"] == "平安银行" and ping_an["listing_exchange"] == "XSHE"
    assert ping_an["canonical_symbol"] == "000001.SZ"  # ts_code: unique across the three exchanges
    assert ping_an["price_increment"] == Decimal("0.01") and ping_an["amount_increment"] == Decimal("100")
    assert ping_an["contract_multiplier"] == Decimal("1") and ping_an["source"] == "tushare"
    assert ping_an["valid_from_us"] == _us(1991, 4, 3, tz=CST) and ping_an["is_current"]
    assert _rows(dim, "szse", "300750")["amount_increment"].to_list() == [Decimal("100")]  # ChiNext
    assert _rows(dim, "sse", "688981")["amount_increment"].to_list() == [Decimal("200")]  # STAR
    assert _rows(dim, "sse", "600000")["listing_exchange"].to_list() == ["XSHG"]
    assert (
        lot_size("689009", None) == "200"
        and lot_size("123456", "科创板") == "200"
        and lot_size("600519", "主板") == "100"
    )


def test_delisted_window_closes_at_local_midnight_after_delist_date(dim):
    row = _rows(dim, "szse", "000418").row(0, named=True)
    assert row["valid_until_us"] == _us(2019, 6, 26, tz=CST) and not row["is_current"]
    events = pl.DataFrame(
        {
            "exchange": ["szse"] * 2,
            "symbol": ["000418"] * 2,
            "ts_local_us": [_us(2019, 6, 25, 14, 59, tz=CST), _us(2019, 6, 26, 0, 0, tz=CST)],
        }
    )
    assert resolve_symbol_ids(events, dim).to_list() == [row["symbol_id"], None]
    assert _rows(dim, "sse", "600087")["valid_until_us"].to_list() == [_us(2014, 6, 6, tz=CST)]


def test_paused_stays_open_and_every_configured_exchange_is_in(dim):
    assert _rows(dim, "szse", "000040")["is_current"].to_list() == [True]
    assert set(dim["exchange"]) == {"szse", "sse", "bse"}  # the three of config/exchanges.csv
    assert _rows(dim, "bse", "430047")["is_current"].to_list() == [True]
    assert dim.height == 14
    validate_dim(dim)


def test_a_rename_between_snapshots_is_a_new_version_from_that_snapshot(dim):
    versions = _rows(dim, "szse", "000004")
    assert versions["base_asset"].to_list() == ["国华网安", "*ST国华"]
    assert versions["valid_from_us"].to_list() == [_us(1991, 1, 14, tz=CST), S2]
    assert versions["valid_until_us"].to_list() == [S2, VALID_UNTIL_OPEN]
    assert versions["is_current"].to_list() == [False, True]
    events = pl.DataFrame({"exchange": ["szse"] * 2, "symbol": ["000004"] * 2, "ts_local_us": [S2 - 1, S2]})
    assert resolve_symbol_ids(events, dim).to_list() == versions["symbol_id"].to_list()


def _write(tmp_path, snapshots: list[tuple[int, list[dict]]]):
    request = {"api_name": "stock_basic", "params": {}, "fields": ",".join(FIELDS)}
    return [write_snapshot(tmp_path, [(r, request) for r in recs], ts) for ts, recs in snapshots]


def test_history_edge_cases(tmp_path):
    base = {f: None for f in FIELDS} | {"exchange": "SSE", "curr_type": "CNY", "market": "主板"}
    pre = base | {
        "ts_code": "603999.SH",
        "symbol": "603999",
        "name": "新股A",
        "list_status": "L",
        "list_date": "20241010",
    }
    renamed_before_listing = pre | {"name": "新股B"}
    delisted_no_date = base | {"ts_code": "600001.SH", "symbol": "600001", "name": "老股", "list_status": "L",
                               "list_date": "20000101"}  # fmt: skip
    paths = _write(
        tmp_path,
        [
            (S1, [pre, delisted_no_date]),
            (S2, [renamed_before_listing, delisted_no_date | {"list_status": "D", "name": "退市老股"}]),
        ],
    )
    versions = instrument_versions(paths, {"sse": "Asia/Shanghai"})
    assert versions.columns == list(INSTRUMENT_COLUMNS)
    new = versions.filter(pl.col("exchange_symbol") == "603999")
    # a change seen before the listing starts collapses into the first version
    assert new["base_asset"].to_list() == ["新股B"] and new["valid_from_us"].to_list() == [_us(2024, 10, 10, tz=CST)]
    old = versions.filter(pl.col("exchange_symbol") == "600001")
    # D without delist_date: closed at the first snapshot that said D; the rename seen then never trades
    assert old["valid_until_us"].to_list() == [S2] and old["base_asset"].to_list() == ["老股"]


def test_corrupt_snapshot_names_the_file(tmp_path):
    path = tmp_path / snapshot_rel_path(S1)
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(b"not json\n"))
    with pytest.raises(BronzeFileError, match="line 1 is not valid JSON") as info:
        TusharePlugin().instrument_versions(tmp_path)
    assert str(path) in str(info.value)


def test_staged_frame_for_stock_basic_cn(bronze):
    plugin = TusharePlugin()
    first = plugin.discover(bronze)[0]
    staged = plugin.read_events(first, "stock_basic_cn")
    assert staged.height == 13  # every record: the three exchanges are in config/exchanges.csv
    assert set(staged["exchange"]) == {"szse", "sse", "bse"}
    row = staged.filter(pl.col("symbol") == "000418").row(0, named=True)
    assert row["list_date"] == "1993-03-10" and row["delist_date"] == "2019-06-25"
    assert row["as_of_date"] == "2024-09-30" and row["snapshot_ts_us"] == str(S1) and row["ts_code"] == "000418.SZ"
    assert staged["file_line"].to_list() == list(range(1, 14))
    with pytest.raises(BronzeFileError, match="cannot be read as"):
        plugin.read_events(first, "trades")
