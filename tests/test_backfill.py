"""Single-run backfills: a date x exchange range ingested in one run, partition by partition.

Each partition still lands atomically on its own and keeps its own metadata and DQ history; the
run's checks pass only if they passed on every partition; a partition with bad input fails the
run by name while the others land and are recorded with their own data versions.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from dagster import AssetKey, materialize

from pointline_assets.dimensions import dim_exchange, dim_symbol
from pointline_assets.events import quotes, trades
from pointline_assets.partitions import partition_key
from resources.lake import LakeResource
from resources.vendors import VendorsResource
from vendors.tardis.sample import write_sample_bronze

D1, D2 = dt.date(2024, 5, 1), dt.date(2024, 5, 2)
RANGE = {  # the tags the UI and `--partition-range` put on a single-run backfill
    "dagster/asset_partition_range_start": "2024-05-01|binance",
    "dagster/asset_partition_range_end": "2024-05-02|binance-futures",
}
IN_RANGE = [(d, x) for d in (D1, D2) for x in ("binance", "binance-coin-futures", "binance-futures")]
BAD_FILE = "tardis/exchange=binance-futures/type=trades/date=2024-05-02/symbol=BTCUSDT/BTCUSDT.csv.gz"


def _setup(root, instance):
    write_sample_bronze(root / "bronze", start=D1, days=2, rows_per_file=1000)
    res = LakeResource(lake_root=str(root / "lake"), bronze_root=str(root / "bronze"))
    resources = {"lake": res, "vendors": VendorsResource()}
    assert materialize([dim_exchange, dim_symbol], instance=instance, resources=resources).success
    return res.lake(), resources


def _materializations(result, asset: str) -> dict[str, object]:
    return {
        e.event_specific_data.materialization.partition: e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key == AssetKey(asset)
    }


def _ordered(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort(df.columns)


@pytest.fixture
def ranged(tmp_path, dagster_instance):
    lake, resources = _setup(tmp_path, dagster_instance)
    result = materialize([trades, quotes], instance=dagster_instance, resources=resources, tags=RANGE)
    return lake, resources, result


def test_a_range_runs_once_and_equals_one_run_per_partition(ranged, tmp_path_factory):
    from dagster import instance_for_test

    lake, _, result = ranged
    assert result.success
    root = tmp_path_factory.mktemp("per_partition")
    with instance_for_test(temp_dir=str(root)) as instance:
        single, resources = _setup(root, instance)
        for date, exchange in IN_RANGE:
            assert materialize(
                [trades, quotes], instance=instance, resources=resources, partition_key=partition_key(date, exchange)
            ).success
    for table in ("trades", "quotes", "quarantine"):
        assert _ordered(lake.read(table)).equals(_ordered(single.read(table))), table
    history = lake.read("validation_log")
    assert history["run_id"].n_unique() == 1  # one run wrote every partition's history


def test_each_partition_of_a_range_has_its_own_metadata(ranged):
    lake, _, result = ranged
    mats = _materializations(result, "trades")
    assert set(mats) == {str(partition_key(d, x)) for d, x in IN_RANGE}
    stored = lake.read("trades").group_by("date", "exchange").len()
    for (date, exchange), rows in zip(stored["date", "exchange"].rows(), stored["len"], strict=True):
        meta = mats[str(partition_key(date, exchange))].metadata
        assert meta["rows_written"].value == rows
    with_files = {k: m.metadata["data_version"].value for k, m in mats.items() if "coin" not in k}
    assert len(set(with_files.values())) == len(with_files)  # each partition's content hash is its own


def test_range_checks_pass_only_where_every_partition_passed(ranged):
    _, _, result = ranged
    evaluations = {
        (e.asset_check_evaluation_data.asset_key.to_user_string(), e.asset_check_evaluation_data.check_name): e
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    coverage = evaluations[("trades", "symbol_coverage")].asset_check_evaluation_data
    assert not coverage.passed  # the sample has a binance symbol missing from dim_symbol
    failed = coverage.metadata["failed_partitions"].value
    assert sorted(failed) == ["2024-05-01|binance", "2024-05-02|binance"]
    assert "passed on 4 of 6 partitions" in coverage.description
    assert evaluations[("trades", "quarantine_rate")].asset_check_evaluation_data.passed


def test_rerunning_a_range_neither_duplicates_nor_loses_rows(ranged, dagster_instance):
    lake, resources, _ = ranged
    before = {t: _ordered(lake.read(t)) for t in ("trades", "quotes", "quarantine")}
    assert materialize([trades, quotes], instance=dagster_instance, resources=resources, tags=RANGE).success
    for table, frame in before.items():
        assert _ordered(lake.read(table)).equals(frame), table


def test_a_bad_partition_fails_the_range_by_name_and_the_others_land(tmp_path, dagster_instance):
    lake, resources = _setup(tmp_path, dagster_instance)
    bad = tmp_path / "bronze" / BAD_FILE
    bad.write_bytes(bad.read_bytes()[:100])  # truncated gzip
    result = materialize([trades], instance=dagster_instance, resources=resources, tags=RANGE, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    text = str(failure.event_specific_data.error)
    assert "2024-05-02|binance-futures" in text and "BTCUSDT.csv.gz" in text
    assert "5 other(s) in this run landed" in text

    landed = {f"{d}|{x}" for d, x in lake.read("trades").select("date", "exchange").unique().rows()}
    assert "2024-05-02|binance-futures" not in landed and "2024-05-01|binance-futures" in landed
    recorded = dagster_instance.get_materialized_partitions(AssetKey("trades"))
    expected = {str(partition_key(d, x)) for d, x in IN_RANGE} - {"2024-05-02|binance-futures"}
    assert {str(k) for k in recorded} == expected
    for event in _materializations(result, "trades").values():  # each with its own data version
        assert event.tags["dagster/data_version"] == event.metadata["data_version"].value
