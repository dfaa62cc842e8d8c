"""Tardis CSV parsing: column mapping, verbatim text, line numbers and file-level errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest

from pointline.schemas import get_table_spec
from vendors.base import BronzeFile, BronzeFileError
from vendors.tardis import TardisPlugin, csv_reader

TRADES_HEADER = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"
QUOTES_HEADER = "exchange,symbol,timestamp,local_timestamp,bid_price,bid_amount,ask_price,ask_amount"

# Tardis has no equity columns (conditions, venue, sequence_number): it leaves them out, as the
# plugin contract allows for nullable columns, and the core fills them with null.
TARDIS_ABSENT = {"conditions", "venue", "sequence_number"}


def staged_columns(table: str) -> list[str]:
    return [c.name for c in get_table_spec(table).source_columns if c.name not in TARDIS_ABSENT]


def write(tmp_path: Path, name: str, text: str | bytes, *, gz: bool = False) -> BronzeFile:
    """Write a Tardis file under an SDK name and return it as discovered."""
    rel = f"tardis/{name}"
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    path.write_bytes(gzip.compress(data) if gz else data)
    (file,) = [f for f in TardisPlugin().discover(tmp_path) if f.rel_path == rel]
    return file


def read(file: BronzeFile, table: str) -> pl.DataFrame:
    return TardisPlugin().read_events(file, table)


@pytest.mark.parametrize("distinct_min_rows", [0, 10**9], ids=["distinct-values path", "row-by-row path"])
def test_trades_mapping_keeps_text_verbatim(tmp_path: Path, monkeypatch, distinct_min_rows: int) -> None:
    """Both ways of normalizing exchange and side (through distinct values for big files, row by
    row for small ones) give the same staged frame."""
    monkeypatch.setattr(csv_reader, "_DISTINCT_MIN_ROWS", distinct_min_rows)
    text = (
        f"{TRADES_HEADER},extra_col\n"
        " Binance-Futures ,BTCUSDT,1714521600001000,1714521600002000,4800000001,BUY,60000.10,0.00100000,z\n"
        "binance-futures,BTCUSDT,,1714521600003000,,unknown,1e3,-0,z\n"
    )
    file = write(tmp_path, "binance-futures_trades_2024-05-01_BTCUSDT.csv.gz", text, gz=True)
    df = read(file, "trades")

    assert df.schema == pl.Schema({c: pl.Int64 if c == "file_line" else pl.String for c in staged_columns("trades")})
    assert df.to_dicts() == [
        {
            "exchange": "binance-futures",
            "symbol": "BTCUSDT",
            "ts_local_us": "1714521600002000",
            "ts_exch_us": "1714521600001000",
            "trade_id": "4800000001",
            "side": "buy",
            "price": "60000.10",  # trailing zero kept: never through a float
            "qty": "0.00100000",
            "file_line": 2,
        },
        {
            "exchange": "binance-futures",
            "symbol": "BTCUSDT",
            "ts_local_us": "1714521600003000",
            "ts_exch_us": "1714521600003000",  # empty timestamp falls back to local_timestamp
            "trade_id": None,
            "side": "unknown",
            "price": "1e3",  # odd text passes through for the core to quarantine
            "qty": "-0",
            "file_line": 3,
        },
    ]


def test_quotes_are_literal_text_not_csv_quoting(tmp_path: Path) -> None:
    """Tardis never quotes; a stray quote stays in the value (the core quarantines it) instead of
    swallowing the lines up to the next quote."""
    text = f'{TRADES_HEADER}\nbitmex,XBTUSD,"","5","x,sell,1,2\nbitmex,XBTUSD,6,6,b,buy,1,2\n'
    df = read(write(tmp_path, "bitmex_trades_2024-05-01_XBTUSD.csv", text), "trades")
    assert df.height == 2 and df["file_line"].to_list() == [2, 3]
    assert df.select("ts_exch_us", "trade_id").row(0) == ('""', '"x')


def test_quotes_mapping_and_empty_side(tmp_path: Path) -> None:
    text = f"{QUOTES_HEADER}\nokex,BTC-USDT,1,2,100.5,3,,\n"
    df = read(write(tmp_path, "okex_quotes_2024-05-01_BTC-USDT.csv", text), "quotes")
    assert df.columns == staged_columns("quotes")
    row = df.row(0, named=True)
    assert (row["bid_price"], row["bid_qty"]) == ("100.5", "3")
    assert row["ask_price"] in (None, "") and row["ask_qty"] in (None, "")


def test_grouped_file_takes_symbols_from_rows(tmp_path: Path) -> None:
    text = f"{TRADES_HEADER}\nderibit,BTC-PERPETUAL,1,1,a,buy,1,1\nderibit,ETH-PERPETUAL,2,2,b,sell,2,2\n"
    df = read(write(tmp_path, "deribit_trades_2024-05-01_PERPETUALS.csv", text), "trades")
    assert df["symbol"].to_list() == ["BTC-PERPETUAL", "ETH-PERPETUAL"]


def test_blank_lines_keep_physical_numbering(tmp_path: Path) -> None:
    rows = ["bitmex,XBTUSD,1,1,a,buy,1,1", "", "bitmex,XBTUSD,2,2,b,sell,2,2", "", "", "bitmex,XBTUSD,3,3,c,buy,3,3"]
    text = "\n".join([TRADES_HEADER, *rows]) + "\n"
    df = read(write(tmp_path, "bitmex_trades_2024-05-01_XBTUSD.csv.gz", text, gz=True), "trades")
    kept = df.filter(pl.col("trade_id").is_not_null())
    assert kept.select("trade_id", "file_line").rows() == [("a", 2), ("b", 4), ("c", 7)]
    blanks = df.filter(pl.col("trade_id").is_null())
    assert blanks["file_line"].to_list() == [3, 5, 6]
    assert blanks["symbol"].null_count() == 3  # kept as all-null rows for the core to quarantine


def test_crlf_and_missing_final_newline(tmp_path: Path) -> None:
    text = f"{TRADES_HEADER}\r\nbitmex,XBTUSD,1,1,a,buy,1,1\r\nbitmex,XBTUSD,2,2,b,sell,2.5,2"
    df = read(write(tmp_path, "bitmex_trades_2024-05-01_XBTUSD.csv", text), "trades")
    assert df.select("trade_id", "price", "qty", "file_line").rows() == [("a", "1", "1", 2), ("b", "2.5", "2", 3)]


def test_header_only_returns_empty_frame(tmp_path: Path) -> None:
    df = read(write(tmp_path, "bitmex_trades_2024-05-01_XBTUSD.csv.gz", TRADES_HEADER + "\n", gz=True), "trades")
    assert df.height == 0
    assert df.columns == staged_columns("trades")
    assert df.schema["file_line"] == pl.Int64 and df.schema["price"] == pl.String


def test_zero_byte_file(tmp_path: Path) -> None:
    file = write(tmp_path, "bitmex_trades_2024-05-01_XBTUSD.csv.gz", b"")
    with pytest.raises(BronzeFileError, match=r"empty file \(0 bytes\); expected a CSV header") as info:
        read(file, "trades")
    assert info.value.path == str(file.path)


def test_gzip_of_nothing(tmp_path: Path) -> None:
    file = write(tmp_path, "bitmex_trades_2024-05-01_XBTUSD.csv.gz", b"", gz=True)
    with pytest.raises(BronzeFileError, match="no CSV header"):
        read(file, "trades")


def test_truncated_gzip(tmp_path: Path) -> None:
    body = TRADES_HEADER + "\n" + "".join(f"bitmex,XBTUSD,{i},{i},id{i},buy,1.{i},1\n" for i in range(5000))
    data = gzip.compress(body.encode())
    file = write(tmp_path, "bitmex_trades_2024-05-01_XBTUSD.csv.gz", data[: len(data) // 2])
    with pytest.raises(BronzeFileError, match="truncated or corrupt gzip") as info:
        read(file, "trades")
    assert str(file.path) in str(info.value)


def test_corrupt_gzip_checksum(tmp_path: Path) -> None:
    data = bytearray(gzip.compress((TRADES_HEADER + "\nbitmex,XBTUSD,1,1,a,buy,1,1\n").encode()))
    data[-6] ^= 0xFF  # inside the CRC32 trailer
    file = write(tmp_path, "bitmex_trades_2024-05-01_XBTUSD.csv.gz", bytes(data))
    with pytest.raises(BronzeFileError, match="truncated or corrupt gzip"):
        read(file, "trades")


def test_ragged_csv_inside_good_gzip_is_not_blamed_on_gzip(tmp_path: Path) -> None:
    text = f"{TRADES_HEADER}\nbitmex,XBTUSD,1,1,a,buy,1,1,surplus,fields\n"
    file = write(tmp_path, "bitmex_trades_2024-05-01_XBTUSD.csv.gz", text, gz=True)
    with pytest.raises(BronzeFileError, match="malformed CSV"):
        read(file, "trades")


def test_missing_header_columns_are_named(tmp_path: Path) -> None:
    text = "exchange,symbol,timestamp,local_timestamp,side,px,amount\nbitmex,XBTUSD,1,1,buy,1,1\n"
    file = write(tmp_path, "bitmex_trades_2024-05-01_XBTUSD.csv", text)
    with pytest.raises(BronzeFileError) as info:
        read(file, "trades")
    problem = info.value.problem
    assert "missing required column(s) id, price" in problem
    assert "header found: exchange,symbol,timestamp,local_timestamp,side,px,amount" in problem


def test_quotes_file_read_as_trades_fails_on_routing(tmp_path: Path) -> None:
    file = write(tmp_path, "okex_quotes_2024-05-01_BTC-USDT.csv", QUOTES_HEADER + "\n")
    with pytest.raises(BronzeFileError, match="'quotes' feeds table 'quotes'; it cannot be read as 'trades'"):
        read(file, "trades")


def test_unrouted_data_type_fails(tmp_path: Path) -> None:
    file = write(tmp_path, "deribit_instrument_status_2024-05-01_BTC-PERPETUAL.csv", TRADES_HEADER + "\n")
    with pytest.raises(BronzeFileError, match="'instrument_status' feeds no event table"):
        read(file, "trades")


def test_file_gone_after_discovery(tmp_path: Path) -> None:
    file = write(tmp_path, "bitmex_trades_2024-05-01_XBTUSD.csv", TRADES_HEADER + "\n")
    file.path.unlink()
    with pytest.raises(BronzeFileError, match="cannot open file"):
        read(file, "trades")


def test_path_with_glob_characters_is_read_literally(tmp_path: Path) -> None:
    rel = "tardis/exchange=bitmex/type=trades/date=2024-05-01/symbol=XBT[USD]/x*.csv"
    path = tmp_path / rel
    path.parent.mkdir(parents=True)
    path.write_text(f"{TRADES_HEADER}\nbitmex,XBTUSD,1,1,a,buy,1,1\n")
    (file,) = TardisPlugin().discover(tmp_path)
    assert read(file, "trades")["trade_id"].to_list() == ["a"]


def test_malformed_lines_are_named(tmp_path: Path) -> None:
    from vendors.base import BronzeFileError

    good = "bitmex,XBTUSD,1,1,a,buy,1,1\n"
    text = TRADES_HEADER + "\n" + good * 3 + "bitmex,XBTUSD,1,1,a,buy,1,1,extra\n"
    ragged = write(tmp_path, "bitmex_trades_2024-05-01_XBTUSD.csv.gz", text, gz=True)
    with pytest.raises(BronzeFileError, match="line 5 has 9 fields, the header has 8"):
        read(ragged, "trades")
    raw = (TRADES_HEADER + "\n" + good).encode() + b"bitmex,XBT\xff,1,1,a,buy,1,1\n"
    bad_utf8 = write(tmp_path, "bitmex_trades_2024-05-02_XBTUSD.csv", raw)
    with pytest.raises(BronzeFileError, match="line 3 is not valid UTF-8"):
        read(bad_utf8, "trades")


OPTIONS_COLUMNS = (
    "exchange,symbol,timestamp,local_timestamp,type,{strike},expiration,open_interest,last_price,"
    "bid_price,bid_amount,bid_iv,ask_price,ask_amount,ask_iv,mark_price,mark_iv,underlying_index,"
    "underlying_price,delta,gamma,vega,theta,rho"
)
OPTIONS_ROW = (
    "deribit,BTC-31MAY24-60000-C,1714521600000000,1714521600001000,call,60000,1717142400000000,12.5,0.05,"
    "0.049,3,61.2,0.051,4,62.0,0.05,61.6,BTC-31MAY24,60123.5,0.52,0.00003,45.1,-80.2,10.3"
)


@pytest.mark.parametrize("strike", ["strike_price", "strike"])
def test_options_chain_accepts_both_strike_column_names(tmp_path: Path, strike: str) -> None:
    """Real files say strike_price; Tardis' reference docs say strike: either is the strike."""
    header = OPTIONS_COLUMNS.format(strike=strike)
    file = write(tmp_path, "deribit_options_chain_2024-05-01_OPTIONS.csv", f"{header}\n{OPTIONS_ROW}\n")
    row = read(file, "options_chain").row(0, named=True)
    assert (row["symbol"], row["option_type"], row["strike"], row["expiry_us"]) == (
        "BTC-31MAY24-60000-C",
        "call",
        "60000",
        "1717142400000000",
    )
    assert (row["bid_qty"], row["ask_qty"], row["underlying_index"], row["rho"]) == ("3", "4", "BTC-31MAY24", "10.3")


def test_options_chain_without_any_strike_column_names_it(tmp_path: Path) -> None:
    header = OPTIONS_COLUMNS.format(strike="k")
    file = write(tmp_path, "deribit_options_chain_2024-05-01_OPTIONS.csv", f"{header}\n{OPTIONS_ROW}\n")
    with pytest.raises(BronzeFileError, match="missing required column\\(s\\) strike_price"):
        read(file, "options_chain")
