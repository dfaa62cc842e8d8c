"""The Gold sensor, evaluated with build_sensor_context on a real temp instance and real Silver runs."""

from __future__ import annotations

import datetime as dt

from dagster import build_sensor_context, materialize

from pointline_assets.bars import BAR_ASSETS
from pointline_assets.dimensions import dim_exchange, dim_symbol
from pointline_assets.events import EVENT_ASSETS
from pointline_assets.gold_sensor import gold_sensor
from pointline_assets.options_grid import OPTIONS_GRID_ASSET, OPTIONS_GRID_ASSETS
from pointline_assets.reflexivity import REFLEXIVITY_ASSET
from pointline_defs import defs
from resources.lake import LakeResource
from resources.vendors import VendorsResource
from vendors.tardis.sample import write_sample_bronze

D1 = dt.date(2024, 5, 1)


def _resources(tmp_path, instance, data_types=("trades", "quotes")) -> dict:
    write_sample_bronze(tmp_path / "bronze", start=D1, days=2, rows_per_file=1000, data_types=data_types)
    resources = {
        "lake": LakeResource(lake_root=str(tmp_path / "lake"), bronze_root=str(tmp_path / "bronze")),
        "vendors": VendorsResource(),
    }
    assert materialize([dim_exchange, dim_symbol], instance=instance, resources=resources).success
    return resources


def _silver(instance, resources, table: str, key: str) -> None:
    assert materialize([EVENT_ASSETS[table]], instance=instance, resources=resources, partition_key=key).success


def _tick(instance, cursor):
    return gold_sensor(build_sensor_context(instance=instance, cursor=cursor, definitions=defs))


def _requested(result) -> list[tuple[str, str, tuple[str, ...]]]:
    """(job, partition, assets) of each run request; assets empty for the whole job."""
    return sorted(
        (r.job_name, r.partition_key, tuple(sorted(k.to_user_string() for k in r.asset_selection or ())))
        for r in result.run_requests
    )


BARS = tuple(sorted(BAR_ASSETS))


def _run_bars(instance, resources, result) -> None:
    for r in result.run_requests:
        if r.asset_selection and r.asset_selection[0].to_user_string() in BAR_ASSETS:
            assert materialize(
                list(BAR_ASSETS.values()), instance=instance, resources=resources, partition_key=r.partition_key
            ).success


def test_gold_follows_silver_daily_per_date_and_bars_day_by_day(tmp_path, dagster_instance):
    """Silver trades landing request daily_ohlcv per date and the bars of each exchange one day at
    a time, oldest first; rebuilding a day's bars also rebuilds the later days that continued it.
    Each bars partition that lands is followed by its reflexivity_bars."""
    resources = _resources(tmp_path, dagster_instance)
    _silver(dagster_instance, resources, "trades", "2024-05-01|binance-futures")
    _silver(dagster_instance, resources, "trades", "2024-05-02|binance-futures")
    first = _tick(dagster_instance, None)
    assert _requested(first) == [
        ("gold_daily_job", "2024-05-01", ()),
        ("gold_daily_job", "2024-05-02", ()),
        ("gold_job", "2024-05-01|binance-futures", BARS),  # the second day waits for the first
    ]
    assert not _tick(dagster_instance, first.cursor).run_requests  # day one's bars have not landed yet
    _run_bars(dagster_instance, resources, first)
    second = _tick(dagster_instance, first.cursor)
    assert _requested(second) == [
        ("gold_job", "2024-05-01|binance-futures", (REFLEXIVITY_ASSET,)),  # its bars landed
        ("gold_job", "2024-05-02|binance-futures", BARS),
    ]
    _run_bars(dagster_instance, resources, second)
    third = _tick(dagster_instance, second.cursor)
    assert _requested(third) == [("gold_job", "2024-05-02|binance-futures", (REFLEXIVITY_ASSET,))]
    assert not _tick(dagster_instance, third.cursor).run_requests

    _silver(dagster_instance, resources, "trades", "2024-05-01|binance-futures")  # a re-ingest of day one
    fourth = _tick(dagster_instance, third.cursor)
    assert _requested(fourth) == [
        ("gold_daily_job", "2024-05-01", ()),
        ("gold_job", "2024-05-01|binance-futures", BARS),
    ]
    _run_bars(dagster_instance, resources, fourth)
    fifth = _tick(dagster_instance, fourth.cursor)
    assert _requested(fifth) == [
        ("gold_job", "2024-05-01|binance-futures", (REFLEXIVITY_ASSET,)),
        ("gold_job", "2024-05-02|binance-futures", BARS),  # it continued day one's carry
    ]


def test_spot_trades_landing_rebuild_the_paired_perpetuals_reflexivity(tmp_path, dagster_instance):
    """binance (spot, paired with binance-futures in config/lake.toml) trades of a day re-request
    reflexivity_bars of binance-futures for that day and the next (windows start before midnight),
    where their bars are built and not about to be rebuilt."""
    resources = _resources(tmp_path, dagster_instance)
    for day in ("2024-05-01", "2024-05-02"):
        _silver(dagster_instance, resources, "trades", f"{day}|binance-futures")
    cursor = None
    for _ in range(4):  # build both days of bars through the sensor
        result = _tick(dagster_instance, cursor)
        _run_bars(dagster_instance, resources, result)
        cursor = result.cursor

    _silver(dagster_instance, resources, "trades", "2024-05-01|binance")
    spot = _tick(dagster_instance, cursor)
    assert _requested(spot) == [
        ("gold_daily_job", "2024-05-01", ()),
        ("gold_job", "2024-05-01|binance", BARS),
        ("gold_job", "2024-05-01|binance-futures", (REFLEXIVITY_ASSET,)),
        ("gold_job", "2024-05-02|binance-futures", (REFLEXIVITY_ASSET,)),
    ]


def test_options_chain_landing_requests_its_grid_and_the_next_built_day(tmp_path, dagster_instance):
    """options_surface_grid follows options_chain; a re-ingested day also rebuilds the next day's
    grid when it exists (its first grid points come from this day's last quotes)."""
    resources = _resources(tmp_path, dagster_instance, data_types=("trades", "options_chain"))
    for day in ("2024-05-01", "2024-05-02"):
        _silver(dagster_instance, resources, "options_chain", f"{day}|deribit")
    first = _tick(dagster_instance, None)
    grid = (OPTIONS_GRID_ASSET,)
    assert _requested(first) == [("gold_job", "2024-05-01|deribit", grid), ("gold_job", "2024-05-02|deribit", grid)]
    assert materialize(
        [OPTIONS_GRID_ASSETS[OPTIONS_GRID_ASSET]],
        instance=dagster_instance,
        resources=resources,
        partition_key="2024-05-02|deribit",
    ).success

    _silver(dagster_instance, resources, "options_chain", "2024-05-01|deribit")
    again = _tick(dagster_instance, first.cursor)
    assert _requested(again) == [("gold_job", "2024-05-01|deribit", grid), ("gold_job", "2024-05-02|deribit", grid)]
