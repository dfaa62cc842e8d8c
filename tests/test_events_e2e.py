"""End to end through the real assets: sample Bronze -> dims -> trades/quotes on temp dirs."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from pointline.config import load_exchanges
from pointline.ids import file_id
from pointline.lake import Lake
from pointline_assets.dimensions import dim_exchange, dim_symbol
from pointline_assets.events import quotes, trades
from pointline_assets.partitions import partition_key
from resources.lake import LakeResource
from resources.vendors import VendorsResource
from vendors.tardis.sample import SampleManifest, write_sample_bronze

D1, D2 = dt.date(2024, 5, 1), dt.date(2024, 5, 2)
EXCHANGES = ("binance", "binance-futures", "deribit")

# generator's bad-row kinds -> the quarantine reason the lake must give them
EXPECTED_REASON = {
    "non_numeric_price": "not_a_number:price",
    "negative_amount": "non_positive:qty",
    "invalid_side": "invalid_side",
    "price_too_precise": "not_exact:price",
    "empty_local_timestamp": "missing_timestamp",
    "crossed_quote": "crossed_quote",
    "empty_both_sides": "empty_quote",
    "negative_bid_amount": "non_positive:bid_qty",
}


class Env:
    def __init__(self, root: Path, instance: DagsterInstance):
        self.root = root
        self.instance = instance
        self.lake_res = LakeResource(lake_root=str(root / "lake"), bronze_root=str(root / "bronze"))
        self.resources = {"lake": self.lake_res, "vendors": VendorsResource()}
        self.lake: Lake = self.lake_res.lake()

    def dims(self):
        return materialize([dim_exchange, dim_symbol], instance=self.instance, resources=self.resources)

    def silver(self, date: dt.date, exchange: str, assets=(trades, quotes), **kw):
        return materialize(
            list(assets),
            instance=self.instance,
            resources=self.resources,
            partition_key=partition_key(date, exchange),
            **kw,
        )


def _materialization(result, asset: str) -> dict:
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        if mat.asset_key == AssetKey(asset):
            return {k: v.value for k, v in mat.metadata.items()}
    raise AssertionError(f"no materialization of {asset}")


def _checks(result) -> dict[str, bool]:
    return {
        f"{e.asset_check_evaluation_data.asset_key.to_user_string()}.{e.asset_check_evaluation_data.check_name}": (
            e.asset_check_evaluation_data.passed
        )
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from dagster import instance_for_test

    root = tmp_path_factory.mktemp("e2e")
    (root / "home").mkdir()
    with instance_for_test(temp_dir=str(root / "home")) as instance:
        e = Env(root, instance)
        e.sample = write_sample_bronze(root / "bronze", start=D1, days=2)
        assert e.dims().success
        e.results = {}
        for date in (D1, D2):
            for exchange in EXCHANGES:
                e.results[(date, exchange)] = e.silver(date, exchange)
        yield e


def test_dims_materialized(env):
    dim_ex = env.lake.read("dim_exchange")
    assert dim_ex.height == load_exchanges().height
    assert set(env.instance.get_dynamic_partitions("exchange")) >= set(EXCHANGES)
    dim = env.lake.read("dim_symbol")
    sol = dim.filter((pl.col("exchange") == "binance-futures") & (pl.col("exchange_symbol") == "SOLUSDT"))
    assert sol.height == 2 and sol["symbol_id"].n_unique() == 2
    assert dim.filter((pl.col("exchange") == "binance") & (pl.col("exchange_symbol") == "SOLUSDT")).is_empty()


def test_every_partition_succeeds_with_checks(env):
    for (date, exchange), result in env.results.items():
        assert result.success, (date, exchange)
        checks = _checks(result)
        blocking = {k: v for k, v in checks.items() if not k.endswith("symbol_coverage")}
        assert all(blocking.values()), (date, exchange, checks)
        assert checks["trades.symbol_coverage"] == (exchange != "binance")


def test_row_accounting_adds_up_per_file(env):
    sample: SampleManifest = env.sample
    rows_by_path = {f.rel_path: f.rows for f in sample.files}
    seen = set()
    for result in env.results.values():
        for table in ("trades", "quotes"):
            for acct in _materialization(result, table)["file_accounting"]:
                assert acct["rows_read"] == rows_by_path[acct["rel_path"]]
                assert acct["rows_read"] == acct["rows_written"] + acct["rows_quarantined"] + acct["rows_elsewhere"]
                assert acct["rows_elsewhere"] == 0  # UTC venue, file cut by arrival time: one partition
                seen.add(acct["rel_path"])
    assert seen == {f.rel_path for f in sample.files if f.data_type in ("trades", "quotes")}
    total_in = sum(f.rows for f in sample.files if f.data_type in ("trades", "quotes"))
    assert (
        env.lake.read("trades").height + env.lake.read("quotes").height + env.lake.read("quarantine").height == total_in
    )


def test_bad_rows_quarantined_with_the_right_reason_and_raw_values(env):
    q = env.lake.read("quarantine")
    got = {(r["bronze_path"], r["file_line"]): r for r in q.iter_rows(named=True)}
    for rel_path, bad in env.sample.bad_rows.items():
        for line, kind in bad.items():
            row = got[(rel_path, line)]
            assert row["reason"] == EXPECTED_REASON[kind], (rel_path, line, kind)
            assert row["file_id"] == file_id(rel_path)
            assert isinstance(json.loads(row["raw"]), dict)
    abc = q.filter(pl.col("reason") == "not_a_number:price")
    assert all(json.loads(r)["price"] == "abc" for r in abc["raw"])
    assert "price" in abc["detail"][0]


def test_missing_symbol_rows_are_quarantined_not_dropped(env):
    exchange, symbol = env.sample.missing_symbol
    q = env.lake.read("quarantine").filter((pl.col("exchange") == exchange) & (pl.col("symbol") == symbol))
    expected = sum(f.rows for f in env.sample.files if f.rel_path in env.sample.missing_symbol_files)
    assert q.height == expected > 0
    assert set(q["reason"]) == {"missing_pit_symbol"}
    assert env.lake.read("trades").filter((pl.col("exchange") == exchange) & (pl.col("symbol") == symbol)).is_empty()


def test_tick_size_change_resolves_to_two_symbol_ids(env):
    change = env.sample.tick_size_change
    rows = env.lake.read("trades").filter(
        (pl.col("exchange") == change.exchange) & (pl.col("symbol") == change.symbol) & (pl.col("date") == D1)
    )
    before = rows.filter(pl.col("ts_local_us") < change.until_us)["symbol_id"].unique()
    after = rows.filter(pl.col("ts_local_us") >= change.until_us)["symbol_id"].unique()
    assert before.len() == 1 and after.len() == 1 and before[0] != after[0]


def test_exact_numbers_round_trip_from_text(env):
    path = next(f for f in env.sample.files if f.data_type == "trades" and f.exchange == "deribit" and f.date == D1)
    raw = pl.read_csv(
        env.root / "bronze" / path.rel_path, infer_schema=False, row_index_name="line", row_index_offset=2
    )
    silver = env.lake.read("trades").filter(pl.col("file_id") == file_id(path.rel_path))
    joined = silver.join(raw.with_columns(pl.col("line").cast(pl.Int64)), left_on="file_line", right_on="line")
    assert joined.height == silver.height > 1000
    # exact: each stored decimal equals the vendor's text parsed by Python's Decimal
    for stored, text, qty, qty_text in joined.select("price", "price_right", "qty", "amount").iter_rows():
        assert stored == Decimal(text) and qty == Decimal(qty_text)


def test_rows_sorted_by_tie_break_keys(env):
    part = env.lake.read_partition("trades", {"date": D1, "exchange": "binance-futures"})
    assert part.equals(part.sort("symbol_id", "ts_local_us", "file_id", "file_line"))


def test_file_straddling_midnight_stays_in_its_arrival_day(env):
    d2 = env.lake.read_partition("trades", {"date": D2, "exchange": "binance-futures"})
    # exchange timestamps of the first rows of day-2 files fall on day 1; they stay in day 2
    d1_end = int(dt.datetime(2024, 5, 2, tzinfo=dt.UTC).timestamp() * 1_000_000)
    assert d2.filter(pl.col("ts_exch_us") < d1_end).height >= 3
    # and re-materializing day 2 leaves day 1 untouched
    before_d1 = env.lake.read_partition("trades", {"date": D1, "exchange": "binance-futures"})
    assert env.silver(D2, "binance-futures", assets=(trades,)).success
    assert env.lake.read_partition("trades", {"date": D1, "exchange": "binance-futures"}).equals(before_d1)


def test_rematerializing_gives_identical_rows_and_data_version(env):
    key = (D1, "deribit")
    before = env.lake.read_partition("quotes", {"date": D1, "exchange": "deribit"})
    first = _materialization(env.results[key], "quotes")
    again = env.silver(D1, "deribit", assets=(quotes,))
    assert env.lake.read_partition("quotes", {"date": D1, "exchange": "deribit"}).equals(before)
    assert _materialization(again, "quotes")["data_version"] == first["data_version"]
    q = env.lake.read("quarantine").filter((pl.col("table_name") == "quotes") & (pl.col("exchange") == "deribit"))
    assert q.filter(pl.struct("file_id", "file_line").is_duplicated()).is_empty()


def test_materialization_metadata_lists_files_and_counts(env):
    md = _materialization(env.results[(D1, "binance")], "trades")
    assert {f["path"] for f in md["bronze_files"]} == {
        f.rel_path for f in env.sample.files if f.data_type == "trades" and f.exchange == "binance" and f.date == D1
    }
    assert all(len(f["sha256"]) == 64 for f in md["bronze_files"])
    assert md["rows_read"] == md["rows_written"] + md["rows_quarantined"]
    assert md["quarantined_by_reason"]["missing_pit_symbol"] > 0
    assert md["time_min"].startswith("2024-05-01") and md["time_max"].startswith("2024-05-01")


def test_every_silver_row_leads_back_to_its_bronze_line(env):
    from pointline.lineage import bronze_line
    from vendors.tardis import TardisPlugin

    rows = env.lake.read("trades").sample(n=20, seed=7)
    for row in rows.iter_rows(named=True):
        text = bronze_line([TardisPlugin()], env.root / "bronze", row["file_id"], row["file_line"])
        fields = text.split(",")
        assert fields[1] == row["symbol"] and int(fields[3]) == row["ts_local_us"]
        assert Decimal(fields[6]) == row["price"] and Decimal(fields[7]) == row["qty"]
