"""Real `dagster asset materialize` CLI invocations (about 6 s each; everything else runs in-process)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from pointline.lake import Lake
from pointline_assets.dimensions import dim_exchange, dim_symbol
from resources.lake import LakeResource
from resources.vendors import VendorsResource
from vendors.tardis.sample import write_sample_bronze

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli_env(tmp_path, monkeypatch) -> dict[str, str]:
    """A persistent DAGSTER_HOME with dims materialized (exchange partitions exist) and sample Bronze."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "POINTLINE_LAKE_ROOT": str(tmp_path / "lake"),
        "POINTLINE_BRONZE_ROOT": str(tmp_path / "bronze"),
    }
    write_sample_bronze(tmp_path / "bronze", start=dt.date(2024, 5, 1), days=2, rows_per_file=500)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as instance:  # the same persistent instance the CLI will use
        resources = {
            "lake": LakeResource(lake_root=env["POINTLINE_LAKE_ROOT"], bronze_root=env["POINTLINE_BRONZE_ROOT"]),
            "vendors": VendorsResource(),
        }
        assert materialize([dim_exchange, dim_symbol], instance=instance, resources=resources).success
    return env


def _materialize_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    dagster = Path(sys.executable).with_name("dagster")
    cmd = [str(dagster), "asset", "materialize", "-f", "pointline_defs.py", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_cli_materializes_one_partition(cli_env, tmp_path):
    proc = _materialize_cli(cli_env, "--select", "trades", "--partition", "2024-05-01|binance-futures")
    assert proc.returncode == 0, proc.stderr[-3000:]
    stored = Lake(tmp_path / "lake").read("trades")
    assert stored.height > 0
    assert stored.select("date", "exchange").unique().rows() == [(dt.date(2024, 5, 1), "binance-futures")]
    assert stored.filter(pl.col("symbol_id").is_null()).is_empty()


def test_cli_backfills_a_date_by_exchange_range_in_one_run(cli_env, tmp_path):
    """`--partition-range` is the rectangle dates x exchanges, exchanges in the order of the exchange
    partitions (alphabetical): binance...binance-futures includes binance-coin-futures, which has no
    files here and is recorded as an empty partition."""
    proc = _materialize_cli(
        cli_env, "--select", "trades,quotes", "--partition-range", "2024-05-01|binance...2024-05-02|binance-futures"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lake = Lake(tmp_path / "lake")
    want = {(dt.date(2024, 5, d), x) for d in (1, 2) for x in ("binance", "binance-futures")}
    for table in ("trades", "quotes"):
        assert set(lake.read(table).select("date", "exchange").unique().rows()) == want
    with DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert len(runs) == 2  # the dims run of the fixture and the one backfill run
        keys = instance.get_materialized_partitions(AssetKey("trades"))
        spanned = {
            f"{d}|{x}"
            for d in ("2024-05-01", "2024-05-02")
            for x in ("binance", "binance-coin-futures", "binance-futures")
        }
        assert {str(k) for k in keys} == spanned
