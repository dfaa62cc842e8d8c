"""End to end through the real assets for the non-Tardis vendors: Binance Vision klines and
CoinGecko asset stats, plus the refusal of overlapping daily and monthly kline files."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest
from dagster import AssetKey, materialize

from pointline_assets.dimensions import dim_exchange, dim_symbol
from pointline_assets.events import EVENT_ASSETS
from pointline_assets.partitions import partition_key
from resources.lake import LakeResource
from resources.vendors import VendorsResource
from vendors.binance_vision.sample import write_sample_klines
from vendors.coingecko.sample import write_sample_snapshots
from vendors.tardis.sample import write_sample_bronze

D1, D2 = dt.date(2024, 5, 1), dt.date(2024, 5, 2)
HOUR_US = 3_600_000_000


def _metadata(result, asset: str) -> dict:
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        if mat.asset_key == AssetKey(asset):
            return {k: v.value for k, v in mat.metadata.items()}
    raise AssertionError(f"no materialization of {asset}")


def _checks(result) -> dict[str, bool]:
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from dagster import instance_for_test

    root = tmp_path_factory.mktemp("vendors_e2e")
    bronze = root / "bronze"
    write_sample_bronze(bronze, start=D1, days=2, rows_per_file=50)  # instruments for dim_symbol
    klines = write_sample_klines(bronze, {"binance-futures": ["BTCUSDT", "ETHUSDT"]}, [D1, D2], bad_rows=True)
    stats = write_sample_snapshots(bronze, days=2, start=D1)
    lake_res = LakeResource(lake_root=str(root / "lake"), bronze_root=str(bronze))
    resources = {"lake": lake_res, "vendors": VendorsResource()}
    (root / "dagster_home").mkdir()
    with instance_for_test(temp_dir=str(root / "dagster_home")) as instance:
        assert materialize([dim_exchange, dim_symbol], instance=instance, resources=resources).success
        yield {
            "instance": instance,
            "resources": resources,
            "lake": lake_res.lake(),
            "klines": klines,
            "stats": stats,
            "bronze": bronze,
        }


def _run(env, tables, key, **kw):
    return materialize(
        [EVENT_ASSETS[t] for t in tables], instance=env["instance"], resources=env["resources"], partition_key=key, **kw
    )


def test_klines_land_exact_on_open_time_with_exclusive_close(env):
    result = _run(env, ["kline_1h", "kline_1d"], partition_key(D1, "binance-futures"), raise_on_error=False)
    lake = env["lake"]
    bars = lake.read("kline_1h", pl.col("date") == D1).sort("symbol", "ts_open_us")
    day_start = int(dt.datetime(2024, 5, 1, tzinfo=dt.UTC).timestamp()) * 1_000_000
    btc = bars.filter(pl.col("symbol") == "BTCUSDT")
    assert btc["ts_open_us"][0] == day_start
    assert (btc["ts_close_us"] - btc["ts_open_us"]).unique().to_list() == [HOUR_US]
    assert isinstance(btc["close"][0], Decimal) and btc["close"][0] > 0
    assert btc["symbol_id"].null_count() == 0

    meta = _metadata(result, "kline_1h")
    quarantined = lake.read("quarantine", (pl.col("table_name") == "kline_1h") & (pl.col("date") == D1))
    from vendors.binance_vision.sample import BAD_KINDS

    expected: dict[str, int] = {}
    for rel, lines in env["klines"].bad_rows.items():
        if "-1h-" in rel and str(D1) in rel:
            for kind in lines.values():
                expected[BAD_KINDS[kind]] = expected.get(BAD_KINDS[kind], 0) + 1
    assert quarantined.height == meta["rows_quarantined"] == sum(expected.values()) > 0
    assert dict(quarantined.group_by("reason").len().iter_rows()) == expected
    assert meta["rows_read"] == meta["rows_written"] + meta["rows_quarantined"]
    # 2 symbols x 24 bars, minus the bad ones: the per-symbol bar count check reports the gap
    checks = _checks(result)
    assert checks["bars_per_symbol_day"] is (bars.group_by("symbol").len()["len"] == 24).all()
    daily = lake.read("kline_1d", pl.col("date") == D1)
    assert daily.height == 2 and _checks(result)["schema_conformance"]


def test_monthly_file_beside_daily_files_is_refused_naming_both(env, tmp_path):
    import shutil

    bronze = tmp_path / "bronze"
    shutil.copytree(env["bronze"], bronze)
    write_sample_klines(bronze, {"binance-futures": ["BTCUSDT"]}, [D1], ("1h",), period="monthly")
    resources = {
        "lake": LakeResource(lake_root=str(tmp_path / "lake"), bronze_root=str(bronze)),
        "vendors": VendorsResource(),
    }
    assert materialize([dim_exchange, dim_symbol], instance=env["instance"], resources=resources).success
    result = materialize(
        [EVENT_ASSETS["kline_1h"]],
        instance=env["instance"],
        resources=resources,
        partition_key=partition_key(D1, "binance-futures"),
        raise_on_error=False,
    )
    assert not result.success
    message = " ".join(
        str(e.event_specific_data.error) for e in result.all_events if e.event_type_value == "STEP_FAILURE"
    )
    assert "overlapping periods" in message and "2024-05.zip" in message and "2024-05-01.zip" in message


def test_asset_stats_partition_by_utc_day_with_unmapped_coin_quarantined(env):
    result = _run(env, ["dim_asset_stats"], D2.isoformat())
    assert result.success
    stats = env["lake"].read("dim_asset_stats", pl.col("date") == D2)
    assert stats.height > 0 and stats["base_asset"].null_count() == 0
    assert {"BTC", "ETH"} <= set(stats["base_asset"])
    btc = stats.filter(pl.col("base_asset") == "BTC").row(0, named=True)
    assert btc["coin_id"] == "bitcoin" and btc["source"] == "coingecko"
    assert btc["circulating_supply"] > 0 and btc["snapshot_ts_us"] > 0
    q = env["lake"].read("quarantine", (pl.col("table_name") == "dim_asset_stats") & (pl.col("date") == D2))
    assert q["reason"].to_list() == ["missing_value:base_asset"]
    assert q["exchange"].to_list() == ["global"]  # not exchange-scoped
    assert '"coin_id":"kaspa"' in q["raw"][0]
    meta = _metadata(result, "dim_asset_stats")
    assert meta["rows_read"] == meta["rows_written"] + meta["rows_quarantined"]
    assert any(f["path"].startswith("config:") for f in meta["bronze_files"])  # the asset map is an input


def test_asset_map_edit_changes_the_data_version(env, tmp_path, monkeypatch):
    """Editing config/coingecko_assets.csv changes what rows say, so it must change the data version."""
    first = _metadata(_run(env, ["dim_asset_stats"], D1.isoformat()), "dim_asset_stats")["data_version"]
    again = _metadata(_run(env, ["dim_asset_stats"], D1.isoformat()), "dim_asset_stats")["data_version"]
    assert first == again
    import shutil

    from pointline.config import config_dir

    cfg = tmp_path / "config"
    shutil.copytree(config_dir(), cfg)
    with open(cfg / "coingecko_assets.csv", "a", encoding="utf-8") as fh:
        fh.write("KAS,kaspa\n")
    monkeypatch.setenv("POINTLINE_CONFIG_DIR", str(cfg))
    result = _run(env, ["dim_asset_stats"], D1.isoformat())
    assert _metadata(result, "dim_asset_stats")["data_version"] != first
    assert "KAS" in set(env["lake"].read("dim_asset_stats", pl.col("date") == D1)["base_asset"])


def test_monthly_file_alone_spreads_its_bars_over_the_daily_partitions(env, tmp_path):
    """A monthly Binance Vision zip feeds every day of its month; each day gets exactly its own bars."""
    import shutil

    bronze = tmp_path / "bronze"
    shutil.copytree(env["bronze"] / "tardis", bronze / "tardis")  # instruments only: no daily kline files
    write_sample_klines(bronze, {"binance-futures": ["BTCUSDT"]}, [D1, D2], ("1h",), period="monthly")
    resources = {
        "lake": LakeResource(lake_root=str(tmp_path / "lake"), bronze_root=str(bronze)),
        "vendors": VendorsResource(),
    }
    assert materialize([dim_exchange, dim_symbol], instance=env["instance"], resources=resources).success
    for day in (D1, D2):
        result = materialize(
            [EVENT_ASSETS["kline_1h"]],
            instance=env["instance"],
            resources=resources,
            partition_key=partition_key(day, "binance-futures"),
        )
        meta = _metadata(result, "kline_1h")
        assert meta["rows_written"] == 24 and meta["rows_quarantined"] == 0
        # the rest of the month's rows are counted as belonging elsewhere, never dropped silently
        (account,) = meta["file_accounting"]
        assert account["rows_read"] == account["rows_written"] + account["rows_elsewhere"]
    bars = resources["lake"].lake().read("kline_1h").sort("ts_open_us")
    assert bars.height == 48 and bars["ts_open_us"].is_unique().all()
    assert bars.group_by("date").len().sort("date")["len"].to_list() == [24, 24]
