"""The Tardis sample generator writes what real Tardis files look like, and says where the traps are.

The files are read back with gzip/polars directly (no other Pointline module), so these tests
pin the generator's output format independently of the parsers that will consume it.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import zlib
from collections import Counter
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from vendors.tardis.sample import main, write_sample_bronze, write_trades_file

# Exactly as in real Tardis CSV files (fixtures/real/tardis: bitmex trades, huobi-dm-swap quotes).
TRADES_HEADER = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"
QUOTES_HEADER = "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount"
EXPECTED_MARKETS = {
    ("binance-futures", "BTCUSDT"),
    ("binance-futures", "ETHUSDT"),
    ("binance-futures", "SOLUSDT"),
    ("binance", "BTCUSDT"),
    ("binance", "ETHUSDT"),
    ("binance", "SOLUSDT"),  # the symbol missing from binance's instruments
    ("deribit", "BTC-PERPETUAL"),
    ("deribit", "ETH-PERPETUAL"),
}
START = dt.date(2024, 5, 1)
DAY_US = 86_400_000_000
PATH_RE = re.compile(
    r"^tardis/exchange=(?P<exchange>[^/]+)/type=(?P<type>trades|quotes)/date=(?P<date>\d{4}-\d{2}-\d{2})"
    r"/symbol=(?P<symbol>[^/]+)/(?P=symbol)\.csv\.gz$"
)
DECIMAL_TEXT = re.compile(r"^[0-9]+(\.[0-9]*[1-9])?$")  # no exponent, no trailing zeros, no sign


def day_start_us(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * DAY_US


def iso_us(text: str) -> int:
    assert text.endswith("Z"), text
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (t - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def lines(path: Path) -> list[str]:
    text = gzip.decompress(path.read_bytes()).decode("utf-8")
    assert text.endswith("\n")
    return text[:-1].split("\n")


def read(path: Path) -> pl.DataFrame:
    """All columns as text, plus the physical line number (header = line 1)."""
    df = pl.read_csv(path, infer_schema=False)
    return df.with_row_index("line", offset=2).with_columns(pl.col("line").cast(pl.Int64))


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("bronze")
    return write_sample_bronze(root)


def instruments(sample, exchange: str) -> list[dict]:
    [f] = [f for f in sample.instrument_files if f.exchange == exchange]
    return json.loads(sample.path(f.rel_path).read_text())


def _all_instruments(sample) -> list[dict]:
    return [r for ex in ("binance-futures", "binance", "deribit") for r in instruments(sample, ex)]


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path: Path):
    a = write_sample_bronze(tmp_path / "a", days=1, rows_per_file=200, seed=7)
    b = write_sample_bronze(tmp_path / "b", days=1, rows_per_file=200, seed=7)
    c = write_sample_bronze(tmp_path / "c", days=1, rows_per_file=200, seed=8)
    rel = sorted(p.relative_to(tmp_path / "a").as_posix() for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert rel == sorted(f.rel_path for f in a.files)
    assert rel == sorted(p.relative_to(tmp_path / "b").as_posix() for p in (tmp_path / "b").rglob("*") if p.is_file())
    for r in rel:
        assert (tmp_path / "a" / r).read_bytes() == (tmp_path / "b" / r).read_bytes(), r
    assert a.bad_rows == b.bad_rows
    differing = [
        f.rel_path for f in c.csv_files if (tmp_path / "a" / f.rel_path).read_bytes() != c.path(f.rel_path).read_bytes()
    ]
    assert len(differing) == len(c.csv_files)
    # gzip member header: mtime 0, and no file name flag.
    head = a.path(a.csv_files[0].rel_path).read_bytes()[:10]
    assert head[:3] == b"\x1f\x8b\x08" and head[3] == 0 and head[4:8] == b"\x00\x00\x00\x00"


def test_layout_covers_every_market_every_day_with_rows_matching_the_path(sample):
    seen = set()
    for f in sample.csv_files:
        m = PATH_RE.match(f.rel_path)
        assert m, f.rel_path
        assert (m["exchange"], m["type"], m["date"], m["symbol"]) == (
            f.exchange,
            f.data_type,
            f.date.isoformat(),
            f.symbol,
        )
        seen.add((f.exchange, f.symbol, f.data_type, f.date))
        df = read(sample.path(f.rel_path))
        assert df.height == f.rows == sample.rows_per_file
        assert df["exchange"].unique().to_list() == [f.exchange]
        assert df["symbol"].unique().to_list() == [f.symbol]
    days = [START, START + dt.timedelta(days=1)]
    assert seen == {(e, s, t, d) for e, s in EXPECTED_MARKETS for t in ("trades", "quotes") for d in days}
    for f in sample.instrument_files:
        assert f.rel_path == f"tardis/exchange={f.exchange}/type=instruments/date=2024-05-01/instruments.json"
    assert {f.exchange for f in sample.instrument_files} == {"binance-futures", "binance", "deribit"}


def test_headers_are_exactly_the_tardis_headers(sample, tmp_path: Path):
    for f in sample.csv_files:
        header = lines(sample.path(f.rel_path))[0]
        assert header == (TRADES_HEADER if f.data_type == "trades" else QUOTES_HEADER), f.rel_path
    big = write_trades_file(tmp_path / "t.csv.gz", 3)
    assert lines(big)[0] == TRADES_HEADER


def test_arrival_times_inside_the_day_sorted_and_exchange_times_straddle_midnight(sample):
    for f in sample.csv_files:
        start = day_start_us(f.date)
        df = read(sample.path(f.rel_path)).with_columns(pl.col("timestamp", "local_timestamp").cast(pl.Int64))
        local = df["local_timestamp"].drop_nulls()
        assert local.is_sorted(), f.rel_path
        assert local.min() > start and local.max() < start + DAY_US, f.rel_path
        ok = df.filter(pl.col("local_timestamp").is_not_null())
        lag = ok["local_timestamp"] - ok["timestamp"]
        assert lag.min() >= 1_000 and lag.max() <= 200_000, f.rel_path  # 1-200 ms
        assert (df["timestamp"] % 1000 == 0).all(), f.rel_path  # exchange clocks tick in ms
        assert (df["timestamp"] < start).sum() >= 2, f.rel_path  # previous UTC day


def test_numbers_are_plain_decimal_text_on_the_grid_at_realistic_levels(sample):
    levels = {"BTC": (45_000, 80_000), "ETH": (2_200, 4_000), "SOL": (100, 220)}
    max_decimals = {  # (price, amount) fractional digits allowed by the instrument grid
        ("binance-futures", "BTCUSDT"): (1, 3),
        ("binance-futures", "ETHUSDT"): (2, 3),
        ("binance-futures", "SOLUSDT"): (3, 0),
        ("binance", "BTCUSDT"): (2, 5),
        ("binance", "ETHUSDT"): (2, 4),
        ("binance", "SOLUSDT"): (2, 3),
        ("deribit", "BTC-PERPETUAL"): (1, 0),
        ("deribit", "ETH-PERPETUAL"): (2, 0),
    }
    for f in sample.csv_files:
        bad = set(sample.bad_rows[f.rel_path])
        df = read(sample.path(f.rel_path)).filter(~pl.col("line").is_in(list(bad)))
        price_cols = ["price"] if f.data_type == "trades" else ["ask_price", "bid_price"]
        amount_cols = ["amount"] if f.data_type == "trades" else ["ask_amount", "bid_amount"]
        px_dec, qty_dec = max_decimals[(f.exchange, f.symbol)]
        for col in price_cols + amount_cols:
            values = df[col].to_list()
            assert all(DECIMAL_TEXT.match(v) for v in values), (f.rel_path, col)
            limit = px_dec if col in price_cols else qty_dec
            assert max(len(v.partition(".")[2]) for v in values) <= limit, (f.rel_path, col)
        low, high = levels[f.symbol[:3]]
        prices = df.select(pl.col(price_cols[0]).cast(pl.Float64))[price_cols[0]]
        assert low < prices.min() and prices.max() < high, f.rel_path
        if f.exchange == "deribit" and f.symbol == "BTC-PERPETUAL":
            assert (df["price" if f.data_type == "trades" else "bid_price"].cast(pl.Float64) % 0.5 == 0).all()
        if f.data_type == "quotes":
            assert (df["bid_price"].cast(pl.Float64) < df["ask_price"].cast(pl.Float64)).all(), f.rel_path
        else:
            assert set(df["side"]) == {"buy", "sell"}
            ids = df["id"].cast(pl.Int64)
            assert ids.is_sorted() and ids.n_unique() == ids.len(), f.rel_path


def _is_number(text: str) -> bool:
    return bool(re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text))


BAD_ROW_CHECKS = {
    "non_numeric_price": lambda r: not _is_number(r["price"]) and r["price"] != "",
    "negative_amount": lambda r: r["amount"].startswith("-") and _is_number(r["amount"]),
    "invalid_side": lambda r: r["side"] not in ("buy", "sell", "unknown"),
    "price_too_precise": lambda r: _is_number(r["price"]) and len(r["price"].partition(".")[2]) > 9,
    "empty_local_timestamp": lambda r: r["local_timestamp"] == "" and r["timestamp"] != "",
    "crossed_quote": lambda r: (
        r["bid_price"] != "" and r["ask_price"] != "" and float(r["bid_price"]) > float(r["ask_price"])
    ),
    "empty_both_sides": lambda r: all(r[c] == "" for c in ("ask_amount", "ask_price", "bid_price", "bid_amount")),
    "negative_bid_amount": lambda r: r["bid_amount"].startswith("-"),
}


def test_bad_rows_are_where_the_manifest_says_and_nowhere_else(sample):
    missing = set(sample.missing_symbol_files)
    assert len(missing) == 2 * sample.days  # trades + quotes per day
    total_rows = total_bad = 0
    for f in sample.csv_files:
        raw = lines(sample.path(f.rel_path))
        header = raw[0].split(",")
        rows = {n: dict(zip(header, line.split(","), strict=True)) for n, line in enumerate(raw[1:], start=2)}
        bad = sample.bad_rows[f.rel_path]
        kinds = (
            {"non_numeric_price", "negative_amount", "invalid_side", "price_too_precise", "empty_local_timestamp"}
            if f.data_type == "trades"
            else {"crossed_quote", "empty_both_sides", "negative_bid_amount"}
        )
        if f.rel_path in missing:
            assert bad == {}
        else:
            assert sorted(bad.values()) == sorted(kinds), f.rel_path  # one of each kind
        for line, kind in bad.items():
            assert BAD_ROW_CHECKS[kind](rows[line]), (f.rel_path, line, kind, raw[line - 1])
        for line, row in rows.items():
            if line not in bad:
                assert not any(BAD_ROW_CHECKS[k](row) for k in kinds), (f.rel_path, line, raw[line - 1])
        total_rows += f.rows
        total_bad += len(bad)
    assert 0.001 <= total_bad / total_rows <= 0.003
    counts = sample.bad_row_counts()
    assert counts["price_too_precise"] == counts["crossed_quote"] == (len(EXPECTED_MARKETS) - 1) * sample.days


def test_missing_symbol_is_traded_but_absent_from_its_exchange_instruments(sample):
    exchange, symbol = sample.missing_symbol
    assert (exchange, symbol) in EXPECTED_MARKETS
    ids = {r["id"] for r in instruments(sample, exchange)}
    assert symbol not in ids and {"BTCUSDT", "ETHUSDT"} <= ids
    # The same symbol on another exchange is listed: the lookup must be by (exchange, symbol).
    assert symbol in {r["id"] for r in instruments(sample, "binance-futures")}
    traded = [f for f in sample.csv_files if (f.exchange, f.symbol, f.data_type) == (exchange, symbol, "trades")]
    assert len(traded) == sample.days
    for f in traded:
        df = read(sample.path(f.rel_path))
        assert df.height > 0 and df["symbol"].unique().to_list() == [symbol]
        assert f.rel_path in sample.missing_symbol_files


def test_tick_size_change_mid_first_day_in_instruments_and_in_prices(sample):
    tc = sample.tick_size_change
    assert (tc.exchange, tc.symbol) == ("binance-futures", "SOLUSDT")
    start = day_start_us(START)
    assert start < tc.until_us < start + DAY_US and tc.until_us == iso_us(tc.until)
    [record] = [r for r in instruments(sample, tc.exchange) if r["id"] == tc.symbol]
    assert record["changes"] == [{"until": tc.until, "priceIncrement": float(tc.price_increment_before)}]
    assert record["priceIncrement"] == float(tc.price_increment_after) == 0.01
    assert float(tc.price_increment_before) == 0.001
    with_changes = [(ex, r["id"]) for ex in ("binance-futures", "binance", "deribit") for r in instruments(sample, ex)]
    with_changes = [key for key, r in zip(with_changes, _all_instruments(sample), strict=True) if "changes" in r]
    assert with_changes == [(tc.exchange, tc.symbol)]  # the only instrument with history
    for f in sample.csv_files:
        if (f.exchange, f.symbol) != (tc.exchange, tc.symbol):
            continue
        bad = list(sample.bad_rows[f.rel_path])
        df = read(sample.path(f.rel_path)).filter(~pl.col("line").is_in(bad))
        df = df.with_columns(pl.col("local_timestamp").cast(pl.Int64))
        col = "price" if f.data_type == "trades" else "bid_price"
        decimals = df.select(pl.col(col).str.split_exact(".", 1).struct.field("field_1").fill_null("").str.len_chars())
        df = df.with_columns(decimals.to_series().alias("dec"))
        before = df.filter(pl.col("local_timestamp") < tc.until_us)
        after = df.filter(pl.col("local_timestamp") >= tc.until_us)
        assert after.height > 0 and after["dec"].max() <= 2, f.rel_path
        if f.date == START:
            assert before.height > 0 and before["dec"].max() == 3, f.rel_path  # 0.001 grid before
        else:
            assert before.height == 0


def test_instruments_look_like_the_tardis_api(sample):
    required = {"id", "exchange", "baseCurrency", "quoteCurrency", "type", "active", "availableSince"}
    required |= {"priceIncrement", "amountIncrement", "inverse"}
    traded = {(e, s) for e, s in EXPECTED_MARKETS if (e, s) != tuple(sample.missing_symbol)}
    listed = set()
    for f in sample.instrument_files:
        text = sample.path(f.rel_path).read_text()
        assert not re.search(r"[0-9][eE][-+]?[0-9]", text)  # 0.00001, never 1e-05
        records = json.loads(text)
        assert isinstance(records, list) and len(records) == f.rows
        for r in records:
            assert required <= r.keys(), r["id"]
            assert r["exchange"] == f.exchange
            assert iso_us(r["availableSince"]) < day_start_us(START) - 30 * DAY_US
            assert r["type"] in ("spot", "perpetual", "future")
            if r["type"] != "spot":
                assert r["contractMultiplier"] > 0
            listed.add((r["exchange"], r["id"]))
    assert traded <= listed
    [btc] = [r for r in instruments(sample, "binance") if r["id"] == "BTCUSDT"]
    assert (btc["type"], btc["priceIncrement"], btc["amountIncrement"]) == ("spot", 0.01, 0.00001)
    [perp] = [r for r in instruments(sample, "deribit") if r["id"] == "BTC-PERPETUAL"]
    assert perp["inverse"] is True and perp["contractMultiplier"] == 10 and perp["priceIncrement"] == 0.5


def test_write_trades_file_rows_header_and_validity(tmp_path: Path):
    n = 50_000
    gz = write_trades_file(tmp_path / "big.csv.gz", n, seed=3)
    plain = write_trades_file(tmp_path / "big.csv", n, seed=3)
    text = gzip.decompress(gz.read_bytes())
    assert text == plain.read_bytes()  # one formatter, gzip or not
    assert text.count(b"\n") == n + 1 and text.startswith(TRADES_HEADER.encode() + b"\n")
    df = pl.read_csv(gz, infer_schema=False)
    assert df.height == n and df.columns == TRADES_HEADER.split(",")
    assert df["exchange"].unique().to_list() == ["binance-futures"] and df["symbol"].unique().to_list() == ["BTCUSDT"]
    local = df["local_timestamp"].cast(pl.Int64)
    start = day_start_us(START)
    assert local.is_sorted() and local.min() > start and local.max() < start + DAY_US
    assert (df["timestamp"].cast(pl.Int64) < start).sum() >= 2
    assert all(DECIMAL_TEXT.match(v) for v in df["price"]) and all(DECIMAL_TEXT.match(v) for v in df["amount"])
    assert set(df["side"]) == {"buy", "sell"}
    ids = df["id"].cast(pl.Int64)
    assert ids.is_sorted() and ids.n_unique() == n
    # Deterministic, and the seed matters.
    assert write_trades_file(tmp_path / "again.csv.gz", n, seed=3).read_bytes() == gz.read_bytes()
    assert write_trades_file(tmp_path / "other.csv.gz", n, seed=4).read_bytes() != gz.read_bytes()
    assert lines(write_trades_file(tmp_path / "empty.csv.gz", 0)) == [TRADES_HEADER]


def test_write_trades_file_spans_several_gzip_chunks_as_one_member(tmp_path: Path):
    n = 230_000  # more than two 100k-row compression chunks
    gz = write_trades_file(tmp_path / "chunks.csv.gz", n, exchange="deribit", symbol="BTC-PERPETUAL", gzip_level=1)
    data = gz.read_bytes()
    inflater = zlib.decompressobj(31)
    text = inflater.decompress(data)
    assert inflater.eof and inflater.unused_data == b""  # a single, complete gzip member
    assert text.count(b"\n") == n + 1
    body = text.split(b"\n")[1:-1]
    assert all(line.startswith(b"deribit,BTC-PERPETUAL,") for line in body[:: n // 50])


def test_cli_writes_the_sample_and_prints_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    manifest_path = tmp_path / "manifest.json"
    code = main(
        ["--bronze-root", str(tmp_path / "b"), "--start", "2024-06-03", "--days", "1", "--seed", "5"]
        + ["--rows-per-file", "100", "--manifest", str(manifest_path)]
    )
    out = capsys.readouterr().out
    assert code == 0 and out.count("\n") == 1 and "16" in out
    written = sorted(p for p in (tmp_path / "b" / "tardis").rglob("*.csv.gz"))
    assert len(written) == 16 and all("date=2024-06-03" in p.as_posix() for p in written)
    manifest = json.loads(manifest_path.read_text())
    assert manifest["tick_size_change"]["until"] == "2024-06-03T12:00:00.000Z"
    assert manifest["missing_symbol"] == ["binance", "SOLUSDT"]
    assert sum(len(v) for v in manifest["bad_rows"].values()) == 7 * 5 + 7 * 3


# ---- the other Tardis data types (data_types=ALL_DATA_TYPES) -------------------------------------
BOOK_LEVEL_COLUMNS = [f"{side}[{i}].{f}" for i in range(25) for side in ("asks", "bids") for f in ("price", "amount")]
NEW_HEADERS = {
    "book_snapshot_25": ",".join(["exchange", "symbol", "timestamp", "local_timestamp", *BOOK_LEVEL_COLUMNS]),
    "book_snapshot_5": ",".join(["exchange", "symbol", "timestamp", "local_timestamp", *BOOK_LEVEL_COLUMNS[:20]]),
    "incremental_book_L2": "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount",
    "derivative_ticker": "exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,"
    "predicted_funding_rate,open_interest,last_price,index_price,mark_price",
    "liquidations": "exchange,symbol,timestamp,local_timestamp,id,side,price,amount",
    "options_chain": "exchange,symbol,timestamp,local_timestamp,type,strike_price,expiration,open_interest,"
    "last_price,bid_price,bid_amount,bid_iv,ask_price,ask_amount,ask_iv,mark_price,mark_iv,underlying_index,"
    "underlying_price,delta,gamma,vega,theta,rho",
}
NEW_MARKETS = {
    "book_snapshot_25": {
        ("binance-futures", "BTCUSDT"),
        ("binance-futures", "ETHUSDT"),
        ("binance", "BTCUSDT"),
        ("deribit", "BTC-PERPETUAL"),
    },
    "book_snapshot_5": {("binance-futures", "BTCUSDT")},
    "incremental_book_L2": {("deribit", "BTC-PERPETUAL"), ("binance-futures", "ETHUSDT")},
    "derivative_ticker": {
        ("binance-futures", "BTCUSDT"),
        ("binance-futures", "ETHUSDT"),
        ("deribit", "BTC-PERPETUAL"),
        ("deribit", "ETH-PERPETUAL"),
    },
    "liquidations": {("binance-futures", "BTCUSDT"), ("binance-futures", "ETHUSDT"), ("deribit", "BTC-PERPETUAL")},
    "options_chain": {("deribit", "OPTIONS")},
}
# JavaScript's Number#toString: plain decimals, exponent notation below 1e-6
JS_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$|^-?[1-9](\.[0-9]*[1-9])?e-[0-9]+$")
EIGHT_HOURS_US = 8 * 3_600_000_000


def _is_neg(text: str) -> bool:
    return _is_number(text) and text.startswith("-") and float(text) < 0


NEW_BAD_ROW_CHECKS = {
    "unordered_bid_levels": lambda r: float(r["bids[1].price"]) < float(r["bids[2].price"]),
    "crossed_book": lambda r: float(r["bids[0].price"]) >= float(r["asks[0].price"]),
    "negative_ask_amount": lambda r: _is_neg(r["asks[3].amount"]),
    "invalid_is_snapshot": lambda r: r["is_snapshot"] not in ("true", "false"),
    "invalid_book_side": lambda r: r["side"] not in ("bid", "ask"),
    "negative_level_amount": lambda r: _is_neg(r["amount"]),
    "empty_ticker": lambda r: all(r[c] == "" for c in NEW_HEADERS["derivative_ticker"].split(",")[5:]),
    "negative_open_interest": lambda r: _is_neg(r["open_interest"]),
    "non_numeric_funding_rate": lambda r: r["funding_rate"] != "" and not JS_NUMBER.match(r["funding_rate"]),
    "negative_liquidation_amount": lambda r: _is_neg(r["amount"]),
    "invalid_liquidation_side": lambda r: r["side"] not in ("buy", "sell"),
    "unknown_option_type": lambda r: r["type"] not in ("call", "put"),
    "bid_price_without_amount": lambda r: r["bid_price"] != "" and r["bid_amount"] == "",
    "negative_mark_price": lambda r: r["mark_price"].startswith("-"),
    "non_numeric_delta": lambda r: r["delta"] != "" and not JS_NUMBER.match(r["delta"]),
}


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory):
    from vendors.tardis.sample import ALL_DATA_TYPES

    return write_sample_bronze(tmp_path_factory.mktemp("full"), days=2, rows_per_file=400, data_types=ALL_DATA_TYPES)


def _rows(path: Path) -> dict[int, dict[str, str]]:
    raw = lines(path)
    header = raw[0].split(",")
    return {n: dict(zip(header, line.split(","), strict=True)) for n, line in enumerate(raw[1:], start=2)}


def _valid(full, f) -> pl.DataFrame:
    return read(full.path(f.rel_path)).filter(~pl.col("line").is_in(list(full.bad_rows[f.rel_path])))


def _increments(full) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    return {
        (r["exchange"], r["id"]): (Decimal(str(r["priceIncrement"])), Decimal(str(r["amountIncrement"])))
        for r in _all_instruments(full)
    }


def test_extra_data_types_leave_trades_quotes_byte_identical_and_are_deterministic(tmp_path: Path):
    from vendors.tardis.sample import ALL_DATA_TYPES

    plain = write_sample_bronze(tmp_path / "plain", days=1, rows_per_file=200, seed=3)
    a = write_sample_bronze(tmp_path / "a", days=1, rows_per_file=200, seed=3, data_types=ALL_DATA_TYPES)
    b = write_sample_bronze(tmp_path / "b", days=1, rows_per_file=200, seed=3, data_types=ALL_DATA_TYPES)
    assert plain.data_types == ("trades", "quotes") and a.data_types == ALL_DATA_TYPES
    assert {f.data_type for f in plain.files} == {"trades", "quotes", "instruments"}
    assert not plain.shadowed_files and not plain.option_underlyings
    for f in plain.files:
        same = plain.path(f.rel_path).read_bytes() == a.path(f.rel_path).read_bytes()
        # only deribit's instruments snapshot grows (the options and their listed future)
        assert same == (f.rel_path != "tardis/exchange=deribit/type=instruments/date=2024-05-01/instruments.json")
    assert {k: v for k, v in a.bad_rows.items() if k in plain.bad_rows} == plain.bad_rows
    assert [f.rel_path for f in a.files] == [f.rel_path for f in b.files]
    for f in a.files:
        assert a.path(f.rel_path).read_bytes() == b.path(f.rel_path).read_bytes(), f.rel_path
        if f.rel_path.endswith(".gz"):
            head = a.path(f.rel_path).read_bytes()[:10]
            assert head[3] == 0 and head[4:8] == b"\x00\x00\x00\x00"  # no name, mtime 0
    assert a.bad_rows == b.bad_rows and a.to_dict()["data_types"] == list(ALL_DATA_TYPES)
    with pytest.raises(ValueError, match="unknown data type"):
        write_sample_bronze(tmp_path / "c", days=1, rows_per_file=200, data_types=("trades", "book_snapshot_50"))


def test_extra_data_types_layout_headers_and_manifest(full):
    seen = set()
    for f in full.csv_files:
        if f.data_type in ("trades", "quotes"):
            continue
        assert f.rel_path == (
            f"tardis/exchange={f.exchange}/type={f.data_type}/date={f.date.isoformat()}/symbol={f.symbol}/{f.symbol}.csv.gz"
        )
        text = lines(full.path(f.rel_path))
        assert text[0] == NEW_HEADERS[f.data_type], f.rel_path
        assert len(text) - 1 == f.rows > 0
        df = read(full.path(f.rel_path))
        assert df["exchange"].unique().to_list() == [f.exchange]
        local = df["local_timestamp"].cast(pl.Int64)
        assert local.is_sorted() and day_start_us(f.date) < local.min() and local.max() < day_start_us(f.date) + DAY_US
        seen.add((f.data_type, f.exchange, f.symbol, f.date))
    days = [START, START + dt.timedelta(days=1)]
    assert seen == {(t, e, s, d) for t, markets in NEW_MARKETS.items() for e, s in markets for d in days}
    assert full.shadowed_files == [f.rel_path for f in full.files if f.data_type == "book_snapshot_5"]
    assert all(full.bad_rows[p] == {} for p in full.shadowed_files)
    manifest = json.loads(json.dumps(full.to_dict()))
    assert manifest["shadowed_files"] == full.shadowed_files
    assert manifest["option_underlyings"] == {"SYN.BTC-3MAY24": False, "BTC-31MAY24": True}
    assert "8 book_snapshot_25" in full.summary() and "2 options_chain" in full.summary()


def test_book_snapshots_are_ordered_uncrossed_and_on_the_grid(full):
    increments = _increments(full)
    for f in full.csv_files:
        if f.data_type not in ("book_snapshot_25", "book_snapshot_5"):
            continue
        depth = 25 if f.data_type == "book_snapshot_25" else 5
        tick, step = increments[(f.exchange, f.symbol)]
        df = _valid(full, f)
        for row in df.iter_rows(named=True):
            bids = [Decimal(row[f"bids[{i}].price"]) for i in range(depth)]
            asks = [Decimal(row[f"asks[{i}].price"]) for i in range(depth)]
            assert all(a > b for a, b in zip(bids, bids[1:], strict=False)), (f.rel_path, row["line"])
            assert all(a < b for a, b in zip(asks, asks[1:], strict=False)), (f.rel_path, row["line"])
            assert bids[0] < asks[0] and all(p % tick == 0 for p in bids + asks), (f.rel_path, row["line"])
            sizes = [Decimal(row[f"{s}[{i}].amount"]) for i in range(depth) for s in ("asks", "bids")]
            assert all(q > 0 and q % step == 0 for q in sizes), (f.rel_path, row["line"])
    # the 5-level file is the top of the same snapshots as the 25-level file beside it
    for rel in full.shadowed_files:
        five = lines(full.path(rel))
        deeper = lines(full.path(rel.replace("type=book_snapshot_5", "type=book_snapshot_25")))
        bad = full.bad_rows[rel.replace("type=book_snapshot_5", "type=book_snapshot_25")]
        assert len(five) == len(deeper)
        for n, (a, b) in enumerate(zip(five, deeper, strict=True), start=1):
            if n not in bad:
                assert b.startswith(a + ","), (rel, n)


def test_incremental_book_l2_replays_to_a_consistent_book():
    from vendors.tardis import sample

    day, paths = START, sample._PricePaths(0, START, 1)
    for exchange, symbol in (("deribit", "BTC-PERPETUAL"), ("binance-futures", "ETHUSDT")):
        frame = sample._l2_frame(sample._market(exchange, symbol), day, 1500, sample._rng(0, "l2-test"), paths)
        assert abs(frame.height - 1500) < 150
        book: dict[str, dict[Decimal, Decimal]] = {"bid": {}, "ask": {}}
        snapshots, previous = 0, None
        for (local,), group in frame.group_by("local_timestamp", maintain_order=True):
            flags = set(group["is_snapshot"])
            assert len(flags) == 1  # an exchange message is all snapshot or all update
            if flags == {"true"}:
                assert group.height == 50 and previous != "true"
                book, snapshots = {"bid": {}, "ask": {}}, snapshots + 1
            for side, price, amount in group.select("side", "price", "amount").iter_rows():
                if Decimal(amount) == 0:
                    assert Decimal(price) in book[side], (local, side, price)  # deletes an existing level
                    del book[side][Decimal(price)]
                else:
                    book[side][Decimal(price)] = Decimal(amount)
            assert max(book["bid"]) < min(book["ask"]), local  # never crossed after a whole message
            previous = group["is_snapshot"][0]
        assert snapshots == 2  # the opening one and the mid-day reconnect
        assert frame["is_snapshot"][0] == "true" and (frame["amount"] == "0").sum() > 100


def test_derivative_tickers_print_numbers_as_tardis_does(full):
    for f in (f for f in full.csv_files if f.data_type == "derivative_ticker"):
        rows = _rows(full.path(f.rel_path))
        bad = full.bad_rows[f.rel_path]
        assert (rows[12]["funding_rate"], rows[13]["funding_rate"]) == ("1.2e-7", "-5e-8")
        assert rows[2]["last_price"] == rows[2]["open_interest"] == "" != rows[2]["mark_price"]
        for n, r in rows.items():
            if n in bad:
                continue
            for col in ("funding_rate", "predicted_funding_rate", "index_price", "mark_price"):
                assert r[col] == "" or JS_NUMBER.match(r[col]), (f.rel_path, n, col, r[col])
            rate = r["funding_rate"]
            assert ("e" in rate) == (0 < abs(Decimal(rate)) < Decimal("0.000001")), (f.rel_path, n, rate)
            if f.exchange == "deribit":
                assert r["funding_timestamp"] == "" and r["predicted_funding_rate"] != ""
            else:
                funding = int(r["funding_timestamp"])
                assert funding % EIGHT_HOURS_US == 0 and 0 < funding - int(r["timestamp"]) <= EIGHT_HOURS_US
                assert r["predicted_funding_rate"] == ""
        if f.exchange == "deribit":  # instantaneous funding is tiny: mostly exponent notation
            assert sum("e" in r["funding_rate"] for r in rows.values()) > len(rows) // 2


def test_liquidations_sides_ids_and_grid(full):
    increments = _increments(full)
    for f in (f for f in full.csv_files if f.data_type == "liquidations"):
        tick, step = increments[(f.exchange, f.symbol)]
        df = _valid(full, f)
        assert f.rows == 100 and set(df["side"]) == {"buy", "sell"}
        assert all(Decimal(p) % tick == 0 and Decimal(q) % step == 0 for p, q in df.select("price", "amount").rows())
        ids = df["id"]
        if f.exchange == "deribit":
            assert ids.null_count() == 0 and ids.cast(pl.Int64).is_sorted() and ids.n_unique() == ids.len()
        else:
            assert ids.null_count() == ids.len()  # binance-futures liquidations carry no id


def test_options_chain_symbols_are_listed_options_with_listed_or_synthetic_underlyings(full):
    listed = {r["id"]: r for r in instruments(full, "deribit")}
    for f in (f for f in full.csv_files if f.data_type == "options_chain"):
        df = _valid(full, f)
        assert df["symbol"].n_unique() == 24 and set(df["type"]) == {"call", "put"}
        for symbol, kind, strike, expiration, underlying in (
            df.select("symbol", "type", "strike_price", "expiration", "underlying_index").unique().iter_rows()
        ):
            record = listed[symbol]
            assert (record["type"], record["optionType"], record["strikePrice"]) == ("option", kind, int(strike))
            assert iso_us(record["expiry"]) == int(expiration) and iso_us(record["availableSince"]) < day_start_us(
                START
            )
            assert symbol.startswith(underlying.removeprefix("SYN.") + "-")
            if underlying.startswith("SYN."):
                assert underlying not in listed
            else:
                assert listed[underlying]["type"] == "future" and listed[underlying]["expiry"] == record["expiry"]
        assert set(df["underlying_index"]) == {"SYN.BTC-3MAY24", "BTC-31MAY24"}
        quoted = df.filter(pl.col("bid_price").is_not_null())
        assert (quoted["bid_price"].cast(pl.Float64) < quoted["ask_price"].cast(pl.Float64)).all()
        assert df.filter(pl.col("bid_price").is_null()).height > 0  # far out of the money: no bid
        for col in ("bid_price", "ask_price"):
            assert all(Decimal(p) % Decimal("0.0005") == 0 for p in df[col].drop_nulls())
        numbers = ("open_interest", "mark_price", "mark_iv", "underlying_price", "delta", "gamma", "vega", "theta")
        for col in numbers:
            assert all(JS_NUMBER.match(v) for v in df[col].drop_nulls()), col


def test_bad_rows_of_the_extra_types_are_where_the_manifest_says(full):
    from vendors.tardis.sample import BAD_KINDS

    counts = Counter()
    for f in full.csv_files:
        if f.data_type in ("trades", "quotes"):
            continue
        rows = _rows(full.path(f.rel_path))
        bad = full.bad_rows[f.rel_path]
        assert sorted(bad.values()) == sorted(BAD_KINDS[f.data_type]), f.rel_path
        kinds = BAD_KINDS[f.data_type]
        for line, kind in bad.items():
            assert NEW_BAD_ROW_CHECKS[kind](rows[line]), (f.rel_path, line, kind)
        for line, row in rows.items():
            if line not in bad:
                assert not any(NEW_BAD_ROW_CHECKS[k](row) for k in kinds), (f.rel_path, line)
        counts.update(bad.values())
    assert counts["crossed_book"] == 8 and counts["unknown_option_type"] == 2 and counts["invalid_is_snapshot"] == 4


def test_cli_data_types_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    args = ["--days", "1", "--rows-per-file", "100", "--data-types"]
    assert main(["--bronze-root", str(tmp_path / "some"), *args, "liquidations,options_chain"]) == 0
    out = capsys.readouterr().out
    assert "wrote 3 liquidations + 1 options_chain files" in out and "trades" not in out
    written = Counter(p.parts[-4] for p in (tmp_path / "some").rglob("*.csv.gz"))
    assert written == {"type=liquidations": 3, "type=options_chain": 1}
    assert main(["--bronze-root", str(tmp_path / "all"), *args, "all"]) == 0
    assert "wrote 8 trades + 8 quotes + 4 book_snapshot_25 + 1 book_snapshot_5" in capsys.readouterr().out
