"""The maintenance jobs, schedules and the lake_stats asset, run in-process on temp Dagster instances."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
from dagster import DefaultScheduleStatus, Definitions, materialize

from pointline.config import maintenance_settings
from pointline.lake import Lake
from pointline.stats import lake_stats, read_snapshots
from pointline_assets.maintenance import (
    MAINTENANCE_ASSETS,
    MAINTENANCE_JOBS,
    MAINTENANCE_SCHEDULES,
    compaction_job,
    lake_stats_asset,
    vacuum_job,
    vacuum_schedule,
)
from resources.lake import LakeResource
from tests.test_maintenance_frames import D1, D2, D3, append_files, spec_frame

REPO = Path(__file__).resolve().parents[1]


def _lake_with_small_files(root: Path) -> Lake:
    lake = Lake(root)
    for date in (D1, D2, D3):
        for exchange in ("binance", "deribit"):
            values = {"date": date, "exchange": exchange}
            append_files(lake, "trades", values, [spec_frame("trades", values, 5, start=k * 10) for k in range(3)])
    return lake


def _files(lake: Lake) -> dict[str, int]:
    stats = lake_stats(lake, ["trades"])
    return {f"{d}|{e}": n for d, e, n in stats.select("date", "exchange", "files").iter_rows()}


def _resources(tmp_path: Path) -> dict:
    return {"lake": LakeResource(lake_root=str(tmp_path / "lake"), bronze_root=str(tmp_path / "bronze"))}


def _op_metadata(result, op: str) -> dict:
    (output,) = [e for e in result.events_for_node(op) if e.event_type_value == "STEP_OUTPUT"]
    return {k: v.value for k, v in output.event_specific_data.metadata.items()}


def test_compaction_job_compacts_the_selected_partitions(tmp_path, dagster_instance):
    lake = _lake_with_small_files(tmp_path / "lake")
    rows = lake.read("trades").sort("date", "exchange", "symbol_id", "ts_local_us")
    config = {"tables": ["trades"], "start_date": "2024-05-02", "end_date": "2024-05-03", "exchanges": ["binance"]}

    result = compaction_job.execute_in_process(
        run_config={"ops": {"compact_partitions": {"config": {**config, "min_files": 2}}}},
        resources=_resources(tmp_path),
        instance=dagster_instance,
    )

    assert result.success
    assert _files(lake) == {
        "2024-05-01|binance": 3,
        "2024-05-01|deribit": 3,
        "2024-05-02|binance": 1,
        "2024-05-02|deribit": 3,
        "2024-05-03|binance": 1,
        "2024-05-03|deribit": 3,
    }
    metadata = _op_metadata(result, "compact_partitions")
    assert (metadata["partitions_compacted"], metadata["files_before"], metadata["files_after"]) == (2, 6, 2)
    assert lake.read("trades").sort("date", "exchange", "symbol_id", "ts_local_us").equals(rows)


def test_compaction_job_defaults_to_every_table_and_the_configured_min_files(tmp_path, dagster_instance):
    lake = _lake_with_small_files(tmp_path / "lake")
    assert maintenance_settings().min_files_for("trades") >= 3  # three files per partition: under the default
    result = compaction_job.execute_in_process(resources=_resources(tmp_path), instance=dagster_instance)
    assert result.success and set(_files(lake).values()) == {3}


def test_compaction_job_rejects_a_bad_date(tmp_path, dagster_instance):
    _lake_with_small_files(tmp_path / "lake")
    result = compaction_job.execute_in_process(
        run_config={"ops": {"compact_partitions": {"config": {"start_date": "May 2"}}}},
        resources=_resources(tmp_path),
        instance=dagster_instance,
        raise_on_error=False,
    )
    assert not result.success


def test_vacuum_job_dry_runs_unless_told_otherwise(tmp_path, dagster_instance):
    lake = Lake(tmp_path / "lake")
    values = {"date": D1, "exchange": "binance"}
    for start in (0, 100):
        lake.write_partition("trades", spec_frame("trades", values, 5, start=start), values)
    vacuum = {"retention_hours": 0, "enforce_retention_duration": False}

    dry = vacuum_job.execute_in_process(
        run_config={"ops": {"vacuum_tables": {"config": vacuum}}},
        resources=_resources(tmp_path),
        instance=dagster_instance,
    )
    assert dry.success and _op_metadata(dry, "vacuum_tables")["files"] == 1
    assert len(list(Path(lake.uri("trades")).rglob("*.parquet"))) == 2

    real = vacuum_job.execute_in_process(
        run_config={"ops": {"vacuum_tables": {"config": {**vacuum, "dry_run": False}}}},
        resources=_resources(tmp_path),
        instance=dagster_instance,
    )
    assert real.success and _op_metadata(real, "vacuum_tables")["files_by_table"] == {"trades": 1}
    assert len(list(Path(lake.uri("trades")).rglob("*.parquet"))) == 1
    assert lake.read("trades").height == 5


def test_vacuum_job_fails_when_bronze_is_inside_the_lake(tmp_path, dagster_instance):
    lake = Lake(tmp_path / "lake")
    values = {"date": D1, "exchange": "binance"}
    lake.write_partition("trades", spec_frame("trades", values, 5), values)
    result = vacuum_job.execute_in_process(
        run_config={"ops": {"vacuum_tables": {"config": {"dry_run": False}}}},
        resources={"lake": LakeResource(lake_root=lake.root, bronze_root=str(tmp_path / "lake" / "bronze"))},
        instance=dagster_instance,
        raise_on_error=False,
    )
    assert not result.success


def test_vacuum_schedule_is_weekly_from_config_and_stopped():
    settings = maintenance_settings()
    assert vacuum_schedule.cron_schedule == settings.vacuum_cron == "0 3 * * 0"
    assert vacuum_schedule.default_status == DefaultScheduleStatus.STOPPED
    assert all(s.default_status == DefaultScheduleStatus.STOPPED for s in MAINTENANCE_SCHEDULES)
    request = vacuum_schedule.evaluate_tick(_schedule_context()).run_requests[0]
    config = request.run_config["ops"]["vacuum_tables"]["config"]
    assert (config["dry_run"], config["retention_hours"]) == (
        settings.vacuum_schedule_dry_run,
        settings.vacuum_retention_hours,
    )
    assert config["tables"] == [] and config["enforce_retention_duration"] is True


def _schedule_context():
    from dagster import build_schedule_context

    return build_schedule_context(scheduled_execution_time=dt.datetime(2026, 1, 4, 3, tzinfo=dt.UTC))


def test_lake_stats_asset_stores_a_daily_snapshot_with_totals(tmp_path, dagster_instance):
    lake = _lake_with_small_files(tmp_path / "lake")
    for _ in range(2):  # a re-run the same day replaces the day's snapshot
        result = materialize([lake_stats_asset], resources=_resources(tmp_path), instance=dagster_instance)
        assert result.success
    metadata = {k: v.value for k, v in result.asset_materializations_for_node("lake_stats")[0].metadata.items()}
    snapshots = read_snapshots(lake)
    today = dt.datetime.now(dt.UTC).date()
    assert snapshots["snapshot_date"].unique().to_list() == [today] and snapshots.height == 6
    assert (metadata["tables"], metadata["partitions"], metadata["files"]) == (1, 6, 18)
    assert metadata["rows"] == lake.read("trades").height == 90
    assert metadata["bytes"] == int(snapshots["bytes"].sum())
    assert metadata["snapshot_date"] == today.isoformat()
    assert snapshots.filter(pl.col("table") == "trades")["rows"].sum() == 90


def test_definitions_with_the_maintenance_layer_load():
    """What pointline_defs.py gains: the maintenance asset, jobs and schedules beside the rest."""
    from pointline_defs import defs

    merged = Definitions.merge(
        defs, Definitions(assets=MAINTENANCE_ASSETS, jobs=MAINTENANCE_JOBS, schedules=MAINTENANCE_SCHEDULES)
    )
    Definitions.validate_loadable(merged)
    graph = merged.resolve_asset_graph()
    from dagster import AssetKey

    assert graph.get(AssetKey("lake_stats")).group_name == "maintenance"
    assert {j.name for j in MAINTENANCE_JOBS} <= {j.name for j in merged.resolve_all_job_defs()}


def test_compaction_job_runs_from_the_dagster_cli(tmp_path):
    """`dagster job execute` with a run config file, as an operator launches it outside the UI."""
    lake = _lake_with_small_files(tmp_path / "lake")
    location = tmp_path / "location.py"
    location.write_text(
        "from dagster import Definitions\n"
        "from pointline_assets.maintenance import compaction_job\n"
        "from resources.lake import LakeResource\n"
        "defs = Definitions(jobs=[compaction_job], resources={'lake': LakeResource()})\n"
    )
    config = tmp_path / "compaction.yaml"
    config.write_text(
        "ops:\n  compact_partitions:\n    config:\n"
        "      tables: [trades]\n      exchanges: [deribit]\n      min_files: 2\n"
    )
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "POINTLINE_LAKE_ROOT": lake.root,
        "POINTLINE_BRONZE_ROOT": str(tmp_path / "bronze"),
        "PYTHONPATH": str(REPO),
    }
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run(
        [str(dagster), "job", "execute", "-f", str(location), "-j", "compaction_job", "-c", str(config)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert {k: n for k, n in _files(lake).items() if k.endswith("deribit")} == {
        "2024-05-01|deribit": 1,
        "2024-05-02|deribit": 1,
        "2024-05-03|deribit": 1,
    }
    assert all(n == 3 for k, n in _files(lake).items() if k.endswith("binance"))
