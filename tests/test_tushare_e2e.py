"""End to end through the real assets: Tushare stock_basic snapshots -> dim_symbol (CN symbols
with exchange-local windows) and stock_basic_cn (one daily partition per snapshot)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from dagster import AssetKey, instance_for_test, materialize

from pointline.pit import resolve_symbol_ids
from pointline_assets.dimensions import dim_exchange, dim_symbol
from pointline_assets.events import EVENT_ASSETS
from pointline_defs import defs
from resources.lake import LakeResource
from resources.vendors import VendorsResource
from vendors.tushare.sample import SAMPLE_SNAPSHOT_TS_US, write_sample_snapshots

CST = dt.timezone(dt.timedelta(hours=8))


def _us(*args: int, tz: dt.tzinfo = CST) -> int:
    return int(dt.datetime(*args, tzinfo=tz).timestamp()) * 1_000_000


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("tushare_e2e")
    bronze = root / "bronze"
    write_sample_snapshots(bronze)
    lake_res = LakeResource(lake_root=str(root / "lake"), bronze_root=str(bronze))
    resources = {"lake": lake_res, "vendors": VendorsResource()}
    (root / "dagster_home").mkdir()
    with instance_for_test(temp_dir=str(root / "dagster_home")) as instance:
        assert materialize([dim_exchange, dim_symbol], instance=instance, resources=resources).success
        for day in ("2024-09-30", "2024-10-08"):
            result = materialize(
                [EVENT_ASSETS["stock_basic_cn"]], instance=instance, resources=resources, partition_key=day
            )
            assert result.success
        yield {"lake": lake_res.lake(), "instance": instance, "resources": resources}


def test_dim_symbol_holds_the_cn_symbols_with_local_windows(env):
    dim = env["lake"].read("dim_symbol").filter(pl.col("source") == "tushare")
    assert set(dim["exchange"]) == {"szse", "sse", "bse"} and dim.height == 14
    new = dim.filter(pl.col("exchange_symbol") == "688799").row(0, named=True)
    assert new["valid_from_us"] == _us(2024, 9, 30) == _us(2024, 9, 29, 16, tz=dt.UTC)
    delisted = dim.filter(pl.col("exchange_symbol") == "000418").row(0, named=True)
    assert delisted["valid_until_us"] == _us(2019, 6, 26) and not delisted["is_current"]
    assert dim.filter(pl.col("exchange_symbol") == "000004")["base_asset"].sort().to_list() == ["*ST国华", "国华网安"]
    # a trade in the first minute of the listing day resolves against the stored table
    trade = pl.DataFrame({"exchange": ["sse"], "symbol": ["688799"], "ts_local_us": [_us(2024, 9, 30, 0, 1)]})
    assert resolve_symbol_ids(trade, env["lake"].read("dim_symbol")).to_list() == [new["symbol_id"]]


def test_stock_basic_cn_partitions_land_with_typed_dates(env):
    table = env["lake"].read("stock_basic_cn")
    assert table.group_by("date").len().sort("date").rows() == [(dt.date(2024, 9, 30), 13), (dt.date(2024, 10, 8), 13)]
    assert set(table["snapshot_ts_us"]) == set(SAMPLE_SNAPSHOT_TS_US)
    row = table.filter((pl.col("symbol") == "000418") & (pl.col("date") == dt.date(2024, 9, 30))).row(0, named=True)
    assert row["list_date"] == dt.date(1993, 3, 10) and row["delist_date"] == dt.date(2019, 6, 25)
    assert row["as_of_date"] == dt.date(2024, 9, 30) and row["exchange"] == "szse" and row["list_status"] == "D"
    # point in time: the name known on each day
    names = table.filter(pl.col("symbol") == "000004").sort("date")["name"].to_list()
    assert names == ["国华网安", "*ST国华"]
    assert env["lake"].read("quarantine", pl.col("table_name") == "stock_basic_cn").is_empty()


def test_bad_values_are_quarantined_with_their_text(env, tmp_path):
    from vendors.tushare.sample import FIELDS, sample_records
    from vendors.tushare.snapshot import write_snapshot

    bronze = tmp_path / "bronze"
    recs = sample_records(0)[:3]
    recs[0] = recs[0] | {"list_date": "19910431"}  # no such day
    recs[1] = recs[1] | {"list_status": "X"}
    request = {"api_name": "stock_basic", "params": {}, "fields": ",".join(FIELDS)}
    write_snapshot(bronze, [(r, request) for r in recs], SAMPLE_SNAPSHOT_TS_US[0])
    resources = {
        "lake": LakeResource(lake_root=str(tmp_path / "lake"), bronze_root=str(bronze)),
        "vendors": VendorsResource(),
    }
    result = materialize(
        [EVENT_ASSETS["stock_basic_cn"]],
        instance=env["instance"],
        resources=resources,
        partition_key="2024-09-30",
        raise_on_error=False,
    )
    lake = resources["lake"].lake()
    quarantined = lake.read("quarantine", pl.col("table_name") == "stock_basic_cn")
    assert sorted(quarantined["reason"].to_list()) == ["invalid_list_status", "not_a_date:list_date"]
    assert lake.read("stock_basic_cn").height == 1
    checks = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert checks["quarantine_rate"] is False and checks["schema_conformance"]  # 2 of 3 rows: over the threshold


def test_asset_graph_has_the_vendor_feeds():
    graph = defs.resolve_asset_graph()
    assert set(graph.get(AssetKey("stock_basic_cn")).parent_keys) == {AssetKey(["bronze", "tushare", "stock_basic_cn"])}
    assert AssetKey(["bronze", "tushare", "instruments"]) in graph.get(AssetKey("dim_symbol")).parent_keys
