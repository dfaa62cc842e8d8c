"""The Tardis tables beyond trades/quotes: book snapshots (25 and 5 levels), incremental L2,
derivative tickers, liquidations and option chains.

* the parser on the real files in ../shared/fixtures/real/tardis, then the ingest engine on them;
* end to end through the real assets (`materialize()` on a temp lake and Dagster instance) on
  the sample generator's Bronze: exact rows, quarantine reasons, accounting, checks;
* source routing (book_snapshot_25 against book_snapshot_5) with config/routing.csv;
* the book check on data written past the rules.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from pointline.checks import check_stored_partition
from pointline.ids import file_id
from pointline.ingest import PartitionBuild, build_partition
from pointline.lake import Lake
from pointline.pipeline import PartitionReport
from pointline.scd2 import rebuild_from_history
from pointline.schemas import BOOK_SNAPSHOT_25, LIQUIDATIONS, ORDERBOOK_UPDATES, QUARANTINE, get_table_spec
from pointline_assets.dimensions import dim_exchange, dim_symbol
from pointline_assets.events import EVENT_ASSETS
from pointline_assets.partitions import partition_key
from resources.lake import LakeResource
from resources.vendors import VendorsResource
from vendors.base import INSTRUMENT_COLUMNS, BronzeFile
from vendors.tardis import TardisPlugin
from vendors.tardis.sample import ALL_DATA_TYPES, BAD_KINDS, SampleManifest, write_sample_bronze

REPO = Path(__file__).resolve().parents[1]
D1 = dt.date(2024, 5, 1)
EXCHANGES = ("binance", "binance-futures", "deribit")
NEW_TABLES = ("book_snapshot_25", "orderbook_updates", "derivative_ticker", "liquidations", "options_chain")
TABLE_OF = {
    "book_snapshot_25": "book_snapshot_25",
    "book_snapshot_5": "book_snapshot_25",
    "incremental_book_L2": "orderbook_updates",
    "derivative_ticker": "derivative_ticker",
    "liquidations": "liquidations",
    "options_chain": "options_chain",
}
# generator's bad-row kind -> the quarantine reason the lake must give it
EXPECTED_REASON = {
    "unordered_bid_levels": "unordered_levels:bid",
    "crossed_book": "crossed_book",
    "negative_ask_amount": "negative_value:ask_qtys",
    "invalid_is_snapshot": "not_a_boolean:is_snapshot",
    "invalid_book_side": "invalid_side",
    "negative_level_amount": "negative_value:qty",
    "empty_ticker": "empty_ticker",
    "negative_open_interest": "negative_value:open_interest",
    "non_numeric_funding_rate": "not_a_number:funding_rate",
    "negative_liquidation_amount": "non_positive:qty",
    "invalid_liquidation_side": "invalid_side",
    "unknown_option_type": "invalid_option_type",
    "bid_price_without_amount": "incomplete_side:bid",
    "negative_mark_price": "negative_value:mark_price",
    "non_numeric_delta": "not_a_number:delta",
}
TICKER_VALUES = ("funding_rate", "predicted_funding_rate", "open_interest", "last_price", "index_price", "mark_price")
# what the raw values of each bad row must show (raw = the row's vendor text, keyed by Silver column)
RAW_SHOWS = {
    "unordered_bid_levels": lambda r: Decimal(r["bid_prices"][1]) < Decimal(r["bid_prices"][2]),
    "crossed_book": lambda r: r["bid_prices"][0] == r["ask_prices"][0],
    "negative_ask_amount": lambda r: r["ask_qtys"][3].startswith("-"),
    "invalid_is_snapshot": lambda r: r["is_snapshot"] == "1",
    "invalid_book_side": lambda r: r["side"] == "buy",
    "negative_level_amount": lambda r: Decimal(r["qty"]) < 0,
    "empty_ticker": lambda r: all(r[c] is None for c in TICKER_VALUES) and r["ts_local_us"] is not None,
    "negative_open_interest": lambda r: Decimal(r["open_interest"]) < 0,
    "non_numeric_funding_rate": lambda r: r["funding_rate"] == "NaN",
    "negative_liquidation_amount": lambda r: Decimal(r["qty"]) < 0,
    "invalid_liquidation_side": lambda r: r["side"] == "long",
    "unknown_option_type": lambda r: r["option_type"] == "combo",
    "bid_price_without_amount": lambda r: r["bid_price"] is not None and r["bid_qty"] is None,
    "negative_mark_price": lambda r: Decimal(r["mark_price"]) < 0,
    "non_numeric_delta": lambda r: r["delta"] == "undefined",
}


# ---- helpers ---------------------------------------------------------------------------------
def _dim(exchange: str, *symbols: str) -> pl.DataFrame:
    rows = [
        {
            "exchange": exchange,
            "exchange_symbol": s,
            "valid_from_us": 0,
            "valid_until_us": None,
            "instrument_type": "perpetual",
            "base_asset": "BTC",
            "quote_asset": "USDT",
            "price_increment": "0.01",
            "amount_increment": "0.001",
            "contract_multiplier": "1",
            "source": "test",
        }
        for s in symbols
    ]
    return rebuild_from_history(pl.DataFrame(rows, schema=INSTRUMENT_COLUMNS))


def _copy_as_sdk_file(src: Path, root: Path, name: str) -> BronzeFile:
    """Place a file under a tardis-dev SDK name and return it as the plugin discovers it."""
    target = root / "tardis" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, target)
    (file,) = [f for f in TardisPlugin().discover(root) if f.rel_path == f"tardis/{name}"]
    return file


def _build(table: str, file: BronzeFile, staged: pl.DataFrame, dim: pl.DataFrame) -> PartitionBuild:
    return build_partition(
        get_table_spec(table),
        date=file.date,
        exchange=file.exchange,
        timezone="UTC",
        staged=[(file, staged)],
        dim_symbol=dim,
    )


def _words(text: str) -> list[str]:
    return text.split()


def _decimals(*texts: str | None) -> list[Decimal | None]:
    return [None if t is None else Decimal(t) for t in texts]


def _materialization(result, asset: str) -> dict:
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        if mat.asset_key == AssetKey(asset):
            return {k: v.value for k, v in mat.metadata.items()}
    raise AssertionError(f"no materialization of {asset}")


def _checks(result) -> dict[str, tuple[bool, dict]]:
    out = {}
    for e in result.all_events:
        if e.event_type_value == "ASSET_CHECK_EVALUATION":
            data = e.asset_check_evaluation_data
            key = f"{data.asset_key.to_user_string()}.{data.check_name}"
            out[key] = (data.passed, {k: v.value for k, v in data.metadata.items()})
    return out


def _failure_text(result) -> str:
    return "\n".join(
        str(e.event_specific_data.error) for e in result.all_events if e.event_type_value == "STEP_FAILURE"
    )


def _raw(path: Path) -> pl.DataFrame:
    """A Bronze CSV as text with its physical line numbers (header = 1)."""
    df = pl.read_csv(path, infer_schema=False, quote_char=None)
    return df.with_row_index("line", offset=2).with_columns(pl.col("line").cast(pl.Int64))


# ---- the parser (and the engine) on real Tardis files -----------------------------------------
BOOK25_ROW1_BIDS = _words(
    "11657.07 11656.97 11655.78 11655.77 11655.68 11655.66 11655.57 11655.48 11655.26 11654.86 "
    "11654.85 11654.7 11654.69 11654.67 11654.65 11654.58 11654.41 11654.28 11653.84 11653.4 "
    "11653.39 11653.35 11653.34 11653.32 11653.25"
)
BOOK25_ROW1_BID_QTYS = _words(
    "10.896 0.2 0.2 0.98 0.111 0.077 0.34 0.4 1.185 0.195 0.275 0.175 0.194 1 0.05 0.05 0.11 0.618 "
    "0.135 0.17 1.008 4 2 0.5 1.003"
)
BOOK25_ROW1_ASKS = _words(
    "11657.08 11657.54 11657.56 11657.61 11657.92 11658.09 11658.12 11658.19 11658.28 11658.29 "
    "11658.64 11658.71 11658.75 11658.88 11658.94 11658.98 11658.99 11659 11659.02 11659.13 11659.17 "
    "11659.18 11659.22 11659.28 11659.34"
)
BOOK25_ROW1_ASK_QTYS = _words(
    "1.714 5.4 0.238 0.077 0.918 1.015 0.665 0.583 0.255 0.656 1.463 0.155 0.155 0.625 0.155 1.005 "
    "0.155 1.922 0.001 0.11 0.144 0.665 0.22 0.06 0.618"
)


def test_real_book_snapshot_25_parses_every_level_and_passes_the_book_rules(real_fixtures: Path, tmp_path: Path):
    file = _copy_as_sdk_file(
        real_fixtures / "tardis" / "binance-futures_book_snapshot_25_BTCUSDT.csv",
        tmp_path,
        "binance-futures_book_snapshot_25_2020-09-01_BTCUSDT.csv",
    )
    assert (file.data_type, file.exchange, file.symbol) == ("book_snapshot_25", "binance-futures", "BTCUSDT")
    staged = TardisPlugin().read_events(file, "book_snapshot_25")
    assert staged.height == 10 and staged["file_line"].to_list() == list(range(2, 12))
    first = staged.row(0, named=True)
    assert (first["ts_local_us"], first["ts_exch_us"], first["depth"]) == ("1598918403810979", "1598918403696000", "25")
    assert first["bid_prices"] == BOOK25_ROW1_BIDS and first["bid_qtys"] == BOOK25_ROW1_BID_QTYS
    assert first["ask_prices"] == BOOK25_ROW1_ASKS and first["ask_qtys"] == BOOK25_ROW1_ASK_QTYS
    last = staged.row(9, named=True)
    assert last["ts_local_us"] == "1598918404009468"
    assert last["bid_prices"][:3] == ["11657.07", "11656.97", "11655.78"]
    assert (last["ask_prices"][:3], last["ask_qtys"][:3]) == (
        ["11657.08", "11657.54", "11657.56"],
        ["1.475", "5.4", "0.238"],
    )
    assert (last["ask_prices"][24], last["ask_qtys"][24], last["bid_prices"][24]) == ("11659.28", "0.06", "11653.25")

    build = _build("book_snapshot_25", file, staged, _dim("binance-futures", "BTCUSDT"))
    assert build.quarantine.is_empty() and build.silver.height == 10  # a real book is ordered and uncrossed
    row = build.silver.row(0, named=True)
    assert row["depth"] == 25 and row["ts_local_us"] == 1598918403810979
    assert row["bid_prices"] == _decimals(*BOOK25_ROW1_BIDS) and row["ask_qtys"] == _decimals(*BOOK25_ROW1_ASK_QTYS)
    assert build.silver.schema["bid_prices"] == pl.List(pl.Decimal(38, 9))


def test_book_levels_are_staged_dictionary_encoded_and_build_like_plain_text(real_fixtures: Path, tmp_path: Path):
    """The reader stages level text as Categorical, one dictionary for prices and one for amounts
    (the core parses each distinct text once): the Silver rows are those of the same text as String."""
    file = _copy_as_sdk_file(
        real_fixtures / "tardis" / "binance-futures_book_snapshot_25_BTCUSDT.csv",
        tmp_path,
        "binance-futures_book_snapshot_25_2020-09-01_BTCUSDT.csv",
    )
    staged = TardisPlugin().read_events(file, "book_snapshot_25")
    inner = {c: staged.schema[c].inner for c in ("bid_prices", "ask_prices", "bid_qtys", "ask_qtys")}
    assert all(isinstance(dtype, pl.Categorical) for dtype in inner.values()), inner
    assert inner["bid_prices"] == inner["ask_prices"] and inner["bid_qtys"] == inner["ask_qtys"]
    assert inner["bid_prices"] != inner["bid_qtys"]
    as_text = staged.with_columns(pl.col(c).cast(pl.List(pl.String)) for c in inner)
    dim = _dim("binance-futures", "BTCUSDT")
    encoded, plain = _build("book_snapshot_25", file, staged, dim), _build("book_snapshot_25", file, as_text, dim)
    assert encoded.silver.height == 10 and encoded.silver.equals(plain.silver)
    # each file's dictionaries are its own and go with its frames: a long backfill does not grow them
    prices = inner["bid_prices"].categories
    assert prices.to_series().len() > 0
    del staged, as_text, inner
    assert prices.to_series().len() == 0


def test_real_book_snapshot_5_lands_null_padded_with_depth_5(real_fixtures: Path, tmp_path: Path):
    file = _copy_as_sdk_file(
        real_fixtures / "tardis" / "binance-futures_book_snapshot_5_BTCUSDT.csv",
        tmp_path,
        "binance-futures_book_snapshot_5_2020-09-01_BTCUSDT.csv",
    )
    staged = TardisPlugin().read_events(file, "book_snapshot_25")  # book_snapshot_5 feeds the 25-level table
    assert staged.height == 10 and set(staged["depth"]) == {"5"}
    assert staged["bid_prices"].list.len().to_list() == [25] * 10
    first = staged.row(0, named=True)
    assert first["ts_local_us"] == "1598918403810979"
    assert first["bid_prices"] == [*BOOK25_ROW1_BIDS[:5], *[None] * 20]  # the 25-level file's top 5 at that instant
    assert first["ask_qtys"] == [*BOOK25_ROW1_ASK_QTYS[:5], *[None] * 20]
    eighth = staged.row(7, named=True)
    assert eighth["ts_local_us"] == "1598918404137001"
    assert eighth["bid_prices"][:5] == ["11657.07", "11656.97", "11655.79", "11655.78", "11655.77"]
    assert eighth["bid_qtys"][:5] == ["10.881", "0.2", "4.544", "0.2", "0.98"]
    assert eighth["ask_prices"][:6] == ["11657.08", "11657.54", "11657.56", "11657.61", "11657.92", None]

    build = _build("book_snapshot_25", file, staged, _dim("binance-futures", "BTCUSDT"))
    assert build.quarantine.is_empty() and build.silver.height == 10
    row = build.silver.row(7, named=True)
    assert row["depth"] == 5
    assert row["bid_qtys"] == [*_decimals("10.881", "0.2", "4.544", "0.2", "0.98"), *[None] * 20]


def test_real_incremental_book_l2_keeps_snapshot_rows_in_file_order(real_fixtures: Path, tmp_path: Path):
    file = _copy_as_sdk_file(
        real_fixtures / "tardis" / "deribit_incremental_book_L2_BTC-PERPETUAL.csv",
        tmp_path,
        "deribit_incremental_book_L2_2020-04-01_BTC-PERPETUAL.csv",
    )
    assert file.data_type == "incremental_book_L2"
    staged = TardisPlugin().read_events(file, "orderbook_updates")
    prices = _words("6421.5 6422 6422.5 6423 6423.5 6424 6424.5 6425 6425.5 6426 6426.5 6427 6427.5 6428 6428.5")
    amounts = _words("18640 1190 1080 1400 6630 37070 120 51280 61770 3500 16340 22510 45550 10460 39950")
    assert staged.select("price", "qty").rows() == list(zip(prices, amounts, strict=True))
    assert set(staged.select("exchange", "symbol", "ts_local_us", "ts_exch_us", "is_snapshot", "side").rows()) == {
        ("deribit", "BTC-PERPETUAL", "1585699200355684", "1585699200245000", "true", "ask")
    }
    assert staged["file_line"].to_list() == list(range(2, 17))

    build = _build("orderbook_updates", file, staged, _dim("deribit", "BTC-PERPETUAL"))
    assert build.quarantine.is_empty()
    stored = build.silver.sort(ORDERBOOK_UPDATES.sort_by)  # the lake's row order
    assert stored["is_snapshot"].to_list() == [True] * 15 and stored.schema["is_snapshot"] == pl.Boolean
    assert stored["price"].to_list() == _decimals(*prices) and stored["qty"].to_list() == _decimals(*amounts)
    assert stored["file_line"].to_list() == list(range(2, 17))  # one atomic update, applied in file order


def test_liquidation_sides_are_normalized_not_inverted(tmp_path: Path):
    text = (
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
        "binance-futures,BTCUSDT,1714521601000000,1714521601000123,,BUY,60100.5,0.5\n"
        "binance-futures,BTCUSDT,1714521602000000,1714521602000123,,Sell,59900.1,1.25\n"
        "binance-futures,BTCUSDT,1714521603000000,1714521603000123,x1,long,59900.1,1\n"
    )
    path = tmp_path / "src.csv"
    path.write_text(text)
    file = _copy_as_sdk_file(path, tmp_path, "binance-futures_liquidations_2024-05-01_BTCUSDT.csv")
    staged = TardisPlugin().read_events(file, "liquidations")
    assert staged.select("liq_id", "side").rows() == [(None, "buy"), (None, "sell"), ("x1", "long")]
    build = _build("liquidations", file, staged, _dim("binance-futures", "BTCUSDT"))
    # buy = a short position was liquidated (bought back), sell = a long one: Tardis' side, kept as is
    assert build.silver.select("side", "price", "qty").rows() == [
        ("buy", Decimal("60100.5"), Decimal("0.5")),
        ("sell", Decimal("59900.1"), Decimal("1.25")),
    ]
    assert build.quarantine.select("file_line", "reason").rows() == [(4, "invalid_side")]
    assert "short" in LIQUIDATIONS.column("side").description


def test_blank_line_in_a_book_file_is_quarantined_as_blank_line(tmp_path: Path):
    header = ",".join(
        ["exchange", "symbol", "timestamp", "local_timestamp"]
        + [f"{s}[{i}].{f}" for i in range(5) for s in ("asks", "bids") for f in ("price", "amount")]
    )
    levels = ",".join(f"{100 + i + 1},1,{100 - i},2" for i in range(5))  # asks 101.., bids 100 down
    row = f"binance-futures,BTCUSDT,1714521600100000,1714521600200000,{levels}"
    path = tmp_path / "src.csv"
    path.write_text("\n".join([header, row, "", row.replace("1714521600200000", "1714521600300000")]) + "\n")
    file = _copy_as_sdk_file(path, tmp_path, "binance-futures_book_snapshot_5_2024-05-01_BTCUSDT.csv")
    staged = TardisPlugin().read_events(file, "book_snapshot_25")
    assert staged["depth"].to_list() == ["5", None, "5"]  # a blank line has no depth either
    build = _build("book_snapshot_25", file, staged, _dim("binance-futures", "BTCUSDT"))
    assert build.quarantine.select("file_line", "reason").rows() == [(3, "blank_line")]
    assert build.silver["file_line"].to_list() == [2, 4]
    assert build.silver["bid_prices"][0].to_list()[:6] == [*_decimals("100", "99", "98", "97", "96"), None]


# ---- end to end on the sample generator's Bronze ----------------------------------------------
class Env:
    def __init__(self, root: Path, instance: DagsterInstance):
        self.root = root
        self.instance = instance
        self.lake_res = LakeResource(lake_root=str(root / "lake"), bronze_root=str(root / "bronze"))
        self.resources = {"lake": self.lake_res, "vendors": VendorsResource()}
        self.lake: Lake = self.lake_res.lake()
        self.sample: SampleManifest
        self.results: dict[str, object] = {}

    def dims(self):
        return materialize([dim_exchange, dim_symbol], instance=self.instance, resources=self.resources)

    def run(self, exchange: str, tables=NEW_TABLES, date: dt.date = D1):
        return materialize(
            [EVENT_ASSETS[t] for t in tables],
            instance=self.instance,
            resources=self.resources,
            partition_key=partition_key(date, exchange),
            raise_on_error=False,
        )

    def symbol_id(self, exchange: str, symbol: str) -> int:
        rows = self.lake.read("dim_symbol").filter(
            (pl.col("exchange") == exchange) & (pl.col("exchange_symbol") == symbol)
        )
        assert rows.height == 1, (exchange, symbol, rows)
        return rows["symbol_id"][0]

    def stored(self, table: str, exchange: str) -> pl.DataFrame:
        return self.lake.read_partition(table, {"date": D1, "exchange": exchange})

    def file(self, data_type: str, exchange: str, symbol: str) -> str:
        (f,) = [f for f in self.sample.files_of(data_type, exchange, D1) if f.symbol == symbol]
        return f.rel_path


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from dagster import instance_for_test

    root = tmp_path_factory.mktemp("tables")
    (root / "home").mkdir()
    with instance_for_test(temp_dir=str(root / "home")) as instance:
        e = Env(root, instance)
        e.sample = write_sample_bronze(root / "bronze", start=D1, days=1, data_types=ALL_DATA_TYPES)
        assert e.dims().success
        e.results = {exchange: e.run(exchange) for exchange in EXCHANGES}
        yield e


def test_every_new_table_partition_succeeds_with_passing_checks(env):
    for exchange, result in env.results.items():
        assert result.success, (exchange, _failure_text(result))
        checks = _checks(result)
        assert len(checks) == 5 * 5 + 1  # 5 generic checks per table + book_levels_ordered
        failed = {k: md for k, (ok, md) in checks.items() if not ok}
        assert failed == {}, (exchange, failed)
        assert checks["book_snapshot_25.book_levels_ordered"][1]["crossed"] == 0
    rate = _checks(env.results["deribit"])["options_chain.quarantine_rate"][1]
    assert rate["rows_invalid"] == len(BAD_KINDS["options_chain"]) and rate["quarantine_rate"] > 0


def test_rows_read_equal_written_plus_quarantined_plus_elsewhere_per_file(env):
    sample: SampleManifest = env.sample
    rows_by_path = {f.rel_path: f.rows for f in sample.csv_files}
    seen: dict[str, dict] = {}
    for result in env.results.values():
        for table in NEW_TABLES:
            for acct in _materialization(result, table)["file_accounting"]:
                assert acct["rows_read"] == rows_by_path[acct["rel_path"]]
                assert acct["rows_read"] == acct["rows_written"] + acct["rows_quarantined"] + acct["rows_elsewhere"]
                assert acct["rows_elsewhere"] == 0
                bad = sample.bad_rows[acct["rel_path"]]
                assert acct["rows_quarantined"] == len(bad)
                assert acct["quarantined_by_reason"] == {EXPECTED_REASON[k]: 1 for k in bad.values()}
                seen[acct["rel_path"]] = acct
    expected = {f.rel_path for f in sample.csv_files if f.data_type in TABLE_OF} - set(sample.shadowed_files)
    assert set(seen) == expected
    for table in NEW_TABLES:
        stored = env.lake.read(table).height
        quarantined = env.lake.read("quarantine").filter(pl.col("table_name") == table).height
        read = sum(a["rows_read"] for p, a in seen.items() if TABLE_OF[p.split("/type=")[1].split("/")[0]] == table)
        assert stored + quarantined == read > 0, table


def test_bad_rows_are_quarantined_with_their_reason_and_raw_values(env):
    q = env.lake.read("quarantine")
    got = {(r["bronze_path"], r["file_line"]): r for r in q.iter_rows(named=True)}
    expected = 0
    for f in env.sample.csv_files:
        if f.data_type not in TABLE_OF or f.rel_path in env.sample.shadowed_files:
            continue
        bad = env.sample.bad_rows[f.rel_path]
        assert sorted(bad.values()) == sorted(BAD_KINDS[f.data_type]), f.rel_path
        for line, kind in bad.items():
            row = got[(f.rel_path, line)]
            assert row["table_name"] == TABLE_OF[f.data_type]
            assert row["reason"] == EXPECTED_REASON[kind], (f.rel_path, line, kind)
            assert row["file_id"] == file_id(f.rel_path)
            if f.symbol != "OPTIONS":  # the grouped file's rows carry the option's own symbol
                assert row["symbol"] == f.symbol
            raw = json.loads(row["raw"])
            assert RAW_SHOWS[kind](raw), (kind, raw)
            expected += 1
    assert q.height == expected  # nothing else was quarantined
    assert expected == 4 * 3 + 2 * 3 + 4 * 3 + 3 * 2 + 4
    crossed = q.filter(pl.col("reason") == "crossed_book")
    assert crossed["detail"][0] == "best bid is at or above best ask"


def test_book_snapshots_store_exact_levels_and_only_the_25_level_source(env):
    rel = env.file("book_snapshot_25", "binance-futures", "BTCUSDT")
    raw = _raw(env.root / "bronze" / rel)
    stored = env.stored("book_snapshot_25", "binance-futures")
    assert set(stored["depth"]) == {25} and stored["bid_prices"].list.len().unique().to_list() == [25]
    mine = stored.filter(pl.col("file_id") == file_id(rel))
    assert mine.height == raw.height - len(env.sample.bad_rows[rel])
    assert set(mine["symbol_id"]) == {env.symbol_id("binance-futures", "BTCUSDT")}
    for line in (2, raw.height // 2, raw.height + 1):
        if line in env.sample.bad_rows[rel]:
            continue
        text = raw.filter(pl.col("line") == line).row(0, named=True)
        row = mine.filter(pl.col("file_line") == line).row(0, named=True)
        assert row["ts_local_us"] == int(text["local_timestamp"]) and row["ts_exch_us"] == int(text["timestamp"])
        for side in ("bid", "ask"):
            plural = f"{side}s"
            assert row[f"{side}_prices"] == [Decimal(text[f"{plural}[{i}].price"]) for i in range(25)]
            assert row[f"{side}_qtys"] == [Decimal(text[f"{plural}[{i}].amount"]) for i in range(25)]
    # routing: the 25-level source won; the 5-level file of the same symbol and day was not read
    md = _materialization(env.results["binance-futures"], "book_snapshot_25")
    assert md["shadowed_sources"] == "tardis/book_snapshot_5"
    assert {f["path"] for f in md["bronze_files"]} == {
        f.rel_path for f in env.sample.files_of("book_snapshot_25", "binance-futures", D1)
    }
    assert env.sample.shadowed_files == [f.rel_path for f in env.sample.files_of("book_snapshot_5")]
    assert stored.filter(pl.col("file_id").is_in([file_id(p) for p in env.sample.shadowed_files])).is_empty()
    assert _materialization(env.results["deribit"], "book_snapshot_25")["shadowed_sources"] == "-"


def test_orderbook_updates_keep_file_order_within_a_shared_timestamp(env):
    rel = env.file("incremental_book_L2", "deribit", "BTC-PERPETUAL")
    raw = _raw(env.root / "bronze" / rel)
    stored = env.stored("orderbook_updates", "deribit")
    assert stored.equals(stored.sort(ORDERBOOK_UPDATES.sort_by))
    # every group of rows sharing a timestamp keeps the Bronze file's line order
    groups = stored.group_by("ts_local_us", maintain_order=True).agg("file_line", pl.len())
    assert groups["len"].max() >= 50 and (groups["len"] > 1).sum() > 100
    assert all(lines == sorted(lines) for lines in groups["file_line"].to_list())
    # the opening snapshot: 25 asks ascending then 25 bids descending, exactly as in the file
    first_ts = int(raw["local_timestamp"][0])
    opening = stored.filter(pl.col("ts_local_us") == first_ts)
    bronze = raw.filter(pl.col("local_timestamp") == str(first_ts))
    assert opening.height == bronze.height == 50 and opening["is_snapshot"].all()
    assert opening.select("side", "price", "qty").rows() == [
        (s, Decimal(p), Decimal(a)) for s, p, a in bronze.select("side", "price", "amount").iter_rows()
    ]
    asks, bids = opening["price"][:25].to_list(), opening["price"][25:].to_list()
    assert opening["side"][:25].unique().to_list() == ["ask"] and asks == sorted(asks)
    assert bids == sorted(bids, reverse=True) and max(bids) < min(asks)
    # later: updates, deletions (qty 0, stored, not quarantined) and a re-snapshot after them
    flags = stored["is_snapshot"].to_list()
    restart = flags.index(True, flags.index(False))
    assert stored["ts_local_us"][restart] > first_ts and sum(flags) == 100
    assert stored.filter(pl.col("qty") == 0).height > 100
    assert stored.filter(~pl.col("is_snapshot"))["side"].unique().sort().to_list() == ["ask", "bid"]


def test_derivative_ticker_stores_funding_rates_exactly_from_exponent_text(env):
    stored = env.stored("derivative_ticker", "binance-futures")
    assert stored.schema["funding_rate"] == pl.Decimal(38, 18) and stored.schema["mark_price"] == pl.Decimal(38, 9)
    rel = env.file("derivative_ticker", "binance-futures", "BTCUSDT")
    raw = _raw(env.root / "bronze" / rel)
    mine = stored.filter(pl.col("file_id") == file_id(rel)).join(
        raw, left_on="file_line", right_on="line", how="inner", suffix="_raw"
    )
    assert mine.height == raw.height - len(env.sample.bad_rows[rel])
    tiny = {t: r for t, r in mine.select("funding_rate_raw", "funding_rate").iter_rows() if "e" in t}
    assert tiny == {"1.2e-7": Decimal("0.00000012"), "-5e-8": Decimal("-0.00000005")}
    for text, value in mine.select("funding_rate_raw", "funding_rate").iter_rows():
        assert value == Decimal(text), text
    assert mine["predicted_funding_rate"].null_count() == mine.height  # binance gives no predicted rate
    assert mine["funding_ts_us"].to_list() == [int(t) for t in mine["funding_timestamp"]]
    first = mine.filter(pl.col("file_line") == 2).row(0, named=True)  # before the ticker channel spoke
    assert first["last_price"] is None and first["open_interest"] is None
    assert first["mark_price"] == Decimal(first["mark_price_raw"]) and first["index_price"] > 0
    # deribit: no funding timestamp, instantaneous rates that JavaScript prints in exponent notation
    deribit = env.stored("derivative_ticker", "deribit")
    assert deribit["funding_ts_us"].null_count() == deribit.height > 0
    assert deribit["predicted_funding_rate"].null_count() == 0
    assert deribit.filter(pl.col("funding_rate").abs() < Decimal("0.000001")).height > deribit.height // 2


def test_liquidations_keep_tardis_sides_and_ids(env):
    for exchange, symbol in (("binance-futures", "BTCUSDT"), ("deribit", "BTC-PERPETUAL")):
        rel = env.file("liquidations", exchange, symbol)
        raw = _raw(env.root / "bronze" / rel)
        mine = env.stored("liquidations", exchange).filter(pl.col("file_id") == file_id(rel))
        joined = mine.join(raw, left_on="file_line", right_on="line", suffix="_raw")
        assert joined.height == mine.height == raw.height - 2
        assert (joined["side"] == joined["side_raw"]).all() and set(joined["side"]) == {"buy", "sell"}
        assert all(q == Decimal(t) for q, t in joined.select("qty", "amount").iter_rows())
        if exchange == "deribit":
            assert joined["liq_id"].to_list() == joined["id"].to_list()
        else:
            assert joined["liq_id"].null_count() == joined.height  # binance gives no liquidation id


def test_options_chain_links_listed_underlyings_and_keeps_greeks_as_floats(env):
    assert env.sample.option_underlyings == {"SYN.BTC-3MAY24": False, "BTC-31MAY24": True}
    stored = env.stored("options_chain", "deribit")
    assert stored.schema["delta"] == pl.Float64 and stored.schema["strike"] == pl.Decimal(38, 9)
    future_id = env.symbol_id("deribit", "BTC-31MAY24")
    listed = stored.filter(pl.col("underlying_index") == "BTC-31MAY24")
    synthetic = stored.filter(pl.col("underlying_index") == "SYN.BTC-3MAY24")
    assert listed.height + synthetic.height == stored.height and listed.height > 100 and synthetic.height > 100
    assert set(listed["underlying_symbol_id"]) == {future_id}
    assert synthetic["underlying_symbol_id"].null_count() == synthetic.height
    dim = env.lake.read("dim_symbol").filter(pl.col("exchange") == "deribit")
    ids = dict(dim.select("exchange_symbol", "symbol_id").iter_rows())
    assert all(ids[s] == i for s, i in stored.select("symbol", "symbol_id").unique().iter_rows())
    assert stored["symbol"].n_unique() == 24 and not stored["symbol"].is_in(["BTC-31MAY24"]).any()
    option = dim.filter(pl.col("exchange_symbol") == "BTC-31MAY24-60000-C").row(0, named=True)
    assert (option["instrument_type"], option["option_type"], option["strike"]) == ("option", "call", Decimal(60000))

    rel = env.file("options_chain", "deribit", "OPTIONS")
    raw = _raw(env.root / "bronze" / rel)
    joined = stored.join(raw, left_on="file_line", right_on="line", suffix="_raw")
    assert joined.height == stored.height == raw.height - len(BAD_KINDS["options_chain"])
    for col in ("delta", "gamma", "vega", "theta", "rho", "mark_iv"):
        assert (joined[col] == joined[f"{col}_raw" if col == "mark_iv" else col].cast(pl.Float64)).all(), col
    for r in joined.head(50).iter_rows(named=True):
        assert r["strike"] == Decimal(r["strike_price"]) and r["expiry_us"] == int(r["expiration"])
        assert r["option_type"] == r["type"] and r["mark_price"] == Decimal(r["mark_price_raw"])
        assert r["underlying_price"] == Decimal(r["underlying_price_raw"])
    assert set(stored["expiry_us"]) == {1714723200000000, 1717142400000000}  # 3 May and 31 May 08:00 UTC
    # far out-of-the-money calls have no bid: an empty side is valid, stored as nulls
    far = stored.filter(pl.col("symbol") == "BTC-3MAY24-70000-C")
    assert (
        far.height > 0 and far.select(pl.col("bid_price", "bid_qty", "bid_iv").null_count()).row(0) == (far.height,) * 3
    )
    # deep out-of-the-money marks printed in exponent notation are stored exactly
    tiny = joined.filter(pl.col("mark_price_raw").str.contains("e-"))
    assert tiny.height > 0 and all(
        m == Decimal(t) > 0 for m, t in tiny.select("mark_price", "mark_price_raw").iter_rows()
    )


# ---- routing ----------------------------------------------------------------------------------
@pytest.fixture
def books_env(tmp_path, dagster_instance):
    env = Env(tmp_path, dagster_instance)
    env.sample = write_sample_bronze(
        tmp_path / "bronze", start=D1, days=1, rows_per_file=400, data_types=("book_snapshot_25", "book_snapshot_5")
    )
    assert env.dims().success
    return env


def _config_with_routing(tmp_path: Path, rows: list[str]) -> Path:
    cfg = tmp_path / "config"
    shutil.copytree(REPO / "config", cfg)
    (cfg / "routing.csv").write_text("\n".join(["table,exchange,vendor,data_type", *rows]) + "\n")
    return cfg


def test_two_book_sources_without_a_routing_row_fail_naming_both(books_env, tmp_path, monkeypatch):
    monkeypatch.setenv("POINTLINE_CONFIG_DIR", str(_config_with_routing(tmp_path, [])))
    result = books_env.run("binance-futures", tables=("book_snapshot_25",))
    assert not result.success
    text = _failure_text(result)
    assert "tardis/book_snapshot_25" in text and "tardis/book_snapshot_5" in text and "routing.csv" in text
    assert books_env.stored("book_snapshot_25", "binance-futures").is_empty()
    # one source needs no routing row
    assert books_env.run("deribit", tables=("book_snapshot_25",)).success


def test_an_exchange_routing_row_beats_the_wildcard_and_the_5_level_book_lands_padded(books_env, tmp_path, monkeypatch):
    # the exchange's row is tried first although it comes second
    rows = ["book_snapshot_25,*,tardis,book_snapshot_25", "book_snapshot_25,binance-futures,tardis,book_snapshot_5"]
    monkeypatch.setenv("POINTLINE_CONFIG_DIR", str(_config_with_routing(tmp_path, rows)))
    result = books_env.run("binance-futures", tables=("book_snapshot_25",))
    assert result.success, _failure_text(result)
    md = _materialization(result, "book_snapshot_25")
    assert md["shadowed_sources"] == "tardis/book_snapshot_25"
    assert [f["path"] for f in md["bronze_files"]] == books_env.sample.shadowed_files
    stored = books_env.stored("book_snapshot_25", "binance-futures")
    assert stored.height == md["rows_written"] == 400 and md["rows_quarantined"] == 0
    assert set(stored["depth"]) == {5}
    assert stored["ask_prices"].list.len().unique().to_list() == [25]
    assert stored["ask_prices"].list.slice(5).list.drop_nulls().list.len().max() == 0
    assert stored["ask_qtys"].list.slice(0, 5).list.drop_nulls().list.len().min() == 5
    assert _checks(result)["book_snapshot_25.book_levels_ordered"][0]


# ---- the book check on data that bypassed the rules -------------------------------------------
def _levels(*values: str) -> list[Decimal | None]:
    return [*_decimals(*values), *[None] * (25 - len(values))]


def test_book_check_reports_broken_books_written_past_the_rules(tmp_path: Path):
    lake = Lake(tmp_path / "lake")
    start = int(dt.datetime(2024, 5, 1, tzinfo=dt.UTC).timestamp() * 1_000_000)
    books = [  # (bids, asks, bid sizes)
        (("100.5", "100.4"), ("100.6", "100.7"), ("1", "2")),  # fine
        (("100.5", "100.6"), ("100.7", "100.8"), ("1", "2")),  # bids ascending
        (("100.5", "100.4"), ("100.7", "100.6"), ("1", "2")),  # asks descending
        (("100.6", "100.5"), ("100.6", "100.7"), ("1", "2")),  # crossed (bid == ask)
        (("100.5", "100.4"), ("100.6", "100.7"), ("1", "-2")),  # negative size
    ]
    frame = pl.DataFrame(
        {
            "date": [D1] * 5,
            "exchange": ["binance-futures"] * 5,
            "symbol": ["BTCUSDT"] * 5,
            "symbol_id": [7] * 5,
            "ts_local_us": [start + i for i in range(5)],
            "ts_exch_us": [start + i for i in range(5)],
            "depth": [25] * 5,
            "bid_prices": [_levels(*b) for b, _, _ in books],
            "bid_qtys": [_levels(*q) for _, _, q in books],
            "ask_prices": [_levels(*a) for _, a, _ in books],
            "ask_qtys": [_levels("1", "1")] * 5,
            "file_id": [1] * 5,
            "file_line": list(range(2, 7)),
        },
        schema=BOOK_SNAPSHOT_25.polars_schema,
    )

    def check(stored: pl.DataFrame):
        version = lake.write_partition("book_snapshot_25", stored, {"date": D1, "exchange": "binance-futures"})
        # the report says nothing was wrong: the check must find the damage in what is stored
        build = PartitionBuild(silver=stored.head(1), quarantine=QUARANTINE.empty(), files=[])
        report = PartitionReport("book_snapshot_25", D1, "binance-futures", "UTC", [], build, "v", version)
        return check_stored_partition(lake, report, 0.01)

    outcomes = check(frame)
    book = outcomes["book_levels_ordered"]
    assert not book.passed
    counts = {k: book.metadata[k] for k in ("bids_not_descending", "asks_not_ascending", "crossed", "negative_size")}
    assert counts == {"bids_not_descending": 1, "asks_not_ascending": 1, "crossed": 1, "negative_size": 1}
    assert "4 snapshot(s)" in book.description
    assert sorted(r["file_line"] for r in json.loads(book.metadata["sample"])) == [3, 4, 5, 6]
    assert all(o.passed for name, o in outcomes.items() if name != "book_levels_ordered")
    # the same rows through the ingest rules would never have reached the lake
    assert check(frame.head(1))["book_levels_ordered"].passed
