"""One real `dagster asset materialize` CLI invocation (about 6 s; everything else runs in-process)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
from dagster import DagsterInstance, materialize

from pointline.lake import Lake
from pointline_assets.dimensions import dim_exchange, dim_symbol
from resources.lake import LakeResource
from resources.vendors import VendorsResource
from vendors.tardis.sample import write_sample_bronze

REPO = Path(__file__).resolve().parents[1]


def test_cli_materializes_one_partition(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "POINTLINE_LAKE_ROOT": str(tmp_path / "lake"),
        "POINTLINE_BRONZE_ROOT": str(tmp_path / "bronze"),
    }
    write_sample_bronze(tmp_path / "bronze", start=dt.date(2024, 5, 1), days=1, rows_per_file=500)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as instance:  # the same persistent instance the CLI will use
        resources = {
            "lake": LakeResource(lake_root=env["POINTLINE_LAKE_ROOT"], bronze_root=env["POINTLINE_BRONZE_ROOT"]),
            "vendors": VendorsResource(),
        }
        assert materialize([dim_exchange, dim_symbol], instance=instance, resources=resources).success

    dagster = Path(sys.executable).with_name("dagster")
    cmd = [
        str(dagster),
        "asset",
        "materialize",
        "-f",
        "pointline_defs.py",
        "--select",
        "trades",
        "--partition",
        "2024-05-01|binance-futures",
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stored = Lake(tmp_path / "lake").read("trades")
    assert stored.height > 0
    assert stored.select("date", "exchange").unique().rows() == [(dt.date(2024, 5, 1), "binance-futures")]
    assert stored.filter(pl.col("symbol_id").is_null()).is_empty()
