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
