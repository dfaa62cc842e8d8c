"""Tardis instrument metadata -> instrument versions (history from `changes`, latest snapshot wins)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from vendors.base import INSTRUMENT_COLUMNS, BronzeFileError
from vendors.tardis import TardisPlugin


def us(*args: int) -> int:
    """UTC datetime parts -> microseconds, computed independently of the plugin."""
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp()) * 1_000_000


def snapshot(root: Path, exchange: str, date: str, payload: str, *, gz: bool = False) -> Path:
    name = "instruments.json.gz" if gz else "instruments.json"
    path = root / f"tardis/exchange={exchange}/type=instruments/date={date}/{name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = payload.encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


# Raw JSON text (not json.dumps) so number spellings such as 1.0E-2 and 1e-8 reach the parser as written.
XBTUSD = """{
  "id": "XBTUSD", "exchange": "bitmex", "baseCurrency": "BTC", "quoteCurrency": "USD",
  "type": "perpetual", "active": true, "availableSince": "2019-03-30T00:00:00.000Z",
  "priceIncrement": 0.5, "amountIncrement": 1, "contractMultiplier": 1, "inverse": true,
  "changes": [
    {"until": "2021-01-01T00:00:00.000Z", "priceIncrement": 0.1},
    {"until": "2020-01-01T00:00:00.000Z", "priceIncrement": 1.0E-2, "amountIncrement": 10},
    {"until": "2019-01-01T00:00:00.000Z", "priceIncrement": 99},
    {"until": "2019-03-30T00:00:00.000Z", "priceIncrement": 42},
    {"until": "2020-01-01T00:00:00.000Z", "type": "future", "priceIncrement": 77}
  ]
}"""

FUTURE = """{
  "id": "BTC-29MAR24", "datasetId": "BTC-29MAR24-DS", "exchange": "Deribit", "baseCurrency": "BTC",
  "quoteCurrency": "USD", "type": "future", "active": false,
  "availableSince": "2023-09-01T08:00:00.000Z", "availableTo": "2024-03-29T08:00:00.000Z",
  "expiry": "2024-03-29T08:00:00.000Z", "priceIncrement": 2.5, "amountIncrement": 1e-8,
  "settlementCurrency": "BTC", "inverse": true,
  "changes": [{"until": "2024-06-01T00:00:00.000Z", "priceIncrement": 5}]
}"""


def test_history_from_changes(tmp_path: Path) -> None:
    snapshot(tmp_path, "bitmex", "2024-05-01", f"[{XBTUSD}]")
    df = TardisPlugin().instrument_versions(tmp_path)

    assert df.select(
        "valid_from_us", "valid_until_us", "instrument_type", "price_increment", "amount_increment"
    ).rows() == [
        # until <= availableSince changes (99, 42) are dropped; equal untils make one boundary,
        # and the first change in API order wins a field both mention (1.0E-2 over 77).
        (us(2019, 3, 30), us(2020, 1, 1), "future", "0.010", "10"),
        (us(2020, 1, 1), us(2021, 1, 1), "perpetual", "0.1", "1"),
        (us(2021, 1, 1), None, "perpetual", "0.5", "1"),
    ]
    assert set(df["exchange_symbol"]) == {"XBTUSD"}
    assert set(df["exchange"]) == {"bitmex"}
    assert set(df["contract_multiplier"]) == {"1"}
    assert set(df["source"]) == {"tardis"}
    assert df["expiry_us"].null_count() == 3


def test_dataset_id_available_to_expiry_and_exponents(tmp_path: Path) -> None:
    snapshot(tmp_path, "deribit", "2024-05-01", f"[{FUTURE}]", gz=True)
    df = TardisPlugin().instrument_versions(tmp_path)
    assert df.to_dicts() == [
        {
            "exchange": "deribit",
            "exchange_symbol": "BTC-29MAR24-DS",
            "valid_from_us": us(2023, 9, 1, 8),
            "valid_until_us": us(2024, 3, 29, 8),
            "instrument_type": "future",
            "base_asset": "BTC",
            "quote_asset": "USD",
            # A change whose until is past availableTo makes no window but still holds over the last one.
            "price_increment": "5",
            "amount_increment": "0.00000001",
            "contract_multiplier": "1",
            "expiry_us": us(2024, 3, 29, 8),
            "underlying": None,
            "option_type": None,
            "strike": None,
            "settlement_type": None,
            "settlement_asset": "BTC",
            "is_inverse": True,
            "contract_month": None,
            "isin": None,
            "listing_exchange": None,
            "canonical_symbol": None,
            "source": "tardis",
        }
    ]


OPTION = """{
  "id": "BTC-31MAY24-60000-C", "exchange": "deribit", "baseCurrency": "BTC", "quoteCurrency": "USD",
  "type": "option", "optionType": "call", "strikePrice": 60000, "expiry": "2024-05-31T08:00:00.000Z",
  "availableSince": "2024-04-01T08:00:00.000Z", "priceIncrement": 0.0001, "amountIncrement": 0.1,
  "settlementCurrency": "BTC", "inverse": true,
  "changes": [{"until": "2024-04-15T00:00:00.000Z", "strikePrice": 59000}]
}"""


def test_option_fields_are_tracked_through_changes(tmp_path: Path) -> None:
    """Options carry type and strike into dim_symbol; a strike change starts a new version."""
    snapshot(tmp_path, "deribit", "2024-05-01", f"[{OPTION}]")
    df = TardisPlugin().instrument_versions(tmp_path)
    assert df.select("valid_from_us", "option_type", "strike", "is_inverse", "settlement_asset").rows() == [
        (us(2024, 4, 1, 8), "call", "59000", True, "BTC"),
        (us(2024, 4, 15), "call", "60000", True, "BTC"),
    ]


def test_inverse_must_be_a_json_boolean(tmp_path: Path) -> None:
    snapshot(tmp_path, "deribit", "2024-05-01", "[" + OPTION.replace('"inverse": true', '"inverse": "false"') + "]")
    with pytest.raises(BronzeFileError, match="expected true or false"):
        TardisPlugin().instrument_versions(tmp_path)


def test_schema_and_sort_order(tmp_path: Path) -> None:
    snapshot(tmp_path, "bitmex", "2024-05-01", f"[{XBTUSD}]")
    snapshot(tmp_path, "deribit", "2024-05-01", f"[{FUTURE}]")
    df = TardisPlugin().instrument_versions(tmp_path)
    assert df.schema == pl.Schema(INSTRUMENT_COLUMNS)
    assert df.select("exchange", "exchange_symbol", "valid_from_us").rows() == sorted(
        df.select("exchange", "exchange_symbol", "valid_from_us").rows()
    )
    assert df.height == 4


def test_empty_tree_gives_empty_frame_with_schema(tmp_path: Path) -> None:
    df = TardisPlugin().instrument_versions(tmp_path)
    assert df.height == 0
    assert df.schema == pl.Schema(INSTRUMENT_COLUMNS)


def test_latest_snapshot_wins_per_instrument(tmp_path: Path) -> None:
    old = [
        {
            "id": "XBTUSD",
            "exchange": "bitmex",
            "type": "perpetual",
            "availableSince": "2019-03-30T00:00:00Z",
            "priceIncrement": "7",
            "amountIncrement": "1",
        },
        {
            "id": "ETHUSD",
            "exchange": "bitmex",
            "type": "perpetual",
            "availableSince": "2020-01-01T00:00:00Z",
            "priceIncrement": "0.05",
            "amountIncrement": "1",
        },
    ]
    snapshot(tmp_path, "bitmex", "2024-04-01", json.dumps(old))
    snapshot(tmp_path, "bitmex", "2024-05-01", f"[{XBTUSD}]", gz=True)
    df = TardisPlugin().instrument_versions(tmp_path)

    xbt = df.filter(pl.col("exchange_symbol") == "XBTUSD")
    assert "7" not in xbt["price_increment"].to_list()
    assert xbt.height == 3  # the newer record's history
    eth = df.filter(pl.col("exchange_symbol") == "ETHUSD")
    assert eth.select("valid_from_us", "price_increment").rows() == [(us(2020, 1, 1), "0.05")]


def test_malformed_json_names_the_file(tmp_path: Path) -> None:
    path = snapshot(tmp_path, "bitmex", "2024-05-01", '[{"id": "XBTUSD",')
    with pytest.raises(BronzeFileError, match="malformed JSON") as info:
        TardisPlugin().instrument_versions(tmp_path)
    assert info.value.path == str(path)


def test_truncated_gzip_snapshot(tmp_path: Path) -> None:
    path = snapshot(tmp_path, "bitmex", "2024-05-01", f"[{XBTUSD}]", gz=True)
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(BronzeFileError, match="truncated or corrupt gzip"):
        TardisPlugin().instrument_versions(tmp_path)


def test_not_an_array(tmp_path: Path) -> None:
    snapshot(tmp_path, "bitmex", "2024-05-01", '{"code": 100, "message": "Invalid key"}')
    with pytest.raises(BronzeFileError, match="expected a JSON array"):
        TardisPlugin().instrument_versions(tmp_path)


def test_missing_available_since_names_the_instrument(tmp_path: Path) -> None:
    snapshot(tmp_path, "bitmex", "2024-05-01", '[{"id": "XBTUSD", "exchange": "bitmex"}]')
    with pytest.raises(BronzeFileError, match="'XBTUSD': missing availableSince"):
        TardisPlugin().instrument_versions(tmp_path)


def test_exchange_falls_back_to_path_and_ints_render_plainly(tmp_path: Path) -> None:
    payload = (
        '[{"id": "BTCUSDT", "availableSince": "2024-01-01T00:00:00.000Z", "priceIncrement": 1E+1, '
        '"amountIncrement": 100, "contractMultiplier": 0.001, "type": "spot"}]'
    )
    snapshot(tmp_path, "binance", "2024-05-01", payload)
    row = TardisPlugin().instrument_versions(tmp_path).row(0, named=True)
    assert row["exchange"] == "binance"
    assert (row["price_increment"], row["amount_increment"], row["contract_multiplier"]) == ("10", "100", "0.001")
    assert row["base_asset"] is None and row["valid_until_us"] is None
