"""Dry runs write nothing at all; real runs append their ingestion and check results as data."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import polars as pl
import pytest
from dagster import materialize

from pointline.dq import dq_summary, quarantined_symbols
from pointline_assets.dimensions import dim_exchange, dim_symbol
from pointline_assets.dry_run import dry_run_job
from pointline_assets.events import quotes, trades
from pointline_assets.partitions import partition_key
from resources.lake import LakeResource
from resources.vendors import VendorsResource
from vendors.tardis.sample import MISSING_SYMBOL, write_sample_bronze

D1 = dt.date(2024, 5, 1)


def _tree_digest(root: Path) -> dict[str, str]:
    """Every file under the lake with its content hash: byte-identical means equal dicts."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def env(tmp_path, dagster_instance):
    write_sample_bronze(tmp_path / "bronze", start=D1, days=1)  # default size: under the 1% quarantine rate
    lake_res = LakeResource(lake_root=str(tmp_path / "lake"), bronze_root=str(tmp_path / "bronze"))
    resources = {"lake": lake_res, "vendors": VendorsResource()}
    assert materialize([dim_exchange, dim_symbol], instance=dagster_instance, resources=resources).success
    return {"root": tmp_path, "resources": resources, "lake": lake_res.lake(), "instance": dagster_instance}


def _dry_run(env, **config):
    return dry_run_job.execute_in_process(
        run_config={"ops": {"dry_run_ingest": {"config": config}}},
        resources=env["resources"],
        instance=env["instance"],
    )


def test_dry_run_reports_everything_and_leaves_the_lake_byte_identical(env):
    # one real partition first, so the dry run also walks over existing data
    key = partition_key(D1, "binance")
    assert materialize(
        [trades, quotes], instance=env["instance"], resources=env["resources"], partition_key=key
    ).success
    before = _tree_digest(env["root"] / "lake")

    result = _dry_run(env, tables=["trades", "quotes"], dates=[str(D1)], exchanges=["binance", "deribit", "mtgox"])
    assert result.success
    assert _tree_digest(env["root"] / "lake") == before  # no commit, no quarantine rows, no history

    report = result.output_for_node("dry_run_ingest")
    binance = report[f"trades {D1}|binance"]
    assert binance["files"] and binance["rows_read"] == binance["rows_would_write"] + binance["rows_would_quarantine"]
    assert binance["quarantined_symbols"].get(MISSING_SYMBOL[1], 0) > 0  # the symbol missing from dim_symbol
    assert "missing_pit_symbol" in binance["quarantined_by_reason"]
    assert binance["schema_problems"] == []
    # the same counts a real run wrote
    stored = env["lake"].read("trades", (pl.col("date") == D1) & (pl.col("exchange") == "binance"))
    assert stored.height == binance["rows_would_write"]
    # every listed exchange is walked; an unknown one is reported as the error a real run would raise
    assert report[f"trades {D1}|deribit"]["rows_read"] > 0
    assert "unknown exchange 'mtgox'" in report[f"trades {D1}|mtgox"]["error"]


def test_dry_run_refuses_unknown_tables(env):
    with pytest.raises(ValueError, match="unknown table 'nope'"):
        _dry_run(env, tables=["nope"], dates=[str(D1)], exchanges=["binance"])


def test_runs_append_history_that_answers_questions_in_one_query(env):
    key = partition_key(D1, "binance")
    for _ in range(2):  # a re-ingest adds history, it does not rewrite it
        result = materialize([trades], instance=env["instance"], resources=env["resources"], partition_key=key)
        assert result.success
    lake = env["lake"]
    log = lake.read("validation_log")
    assert log["run_id"].n_unique() == 2 and set(log["table_name"]) == {"trades"}
    one_run = log.filter(pl.col("run_id") == result.run_id)
    assert (
        one_run["rows_read"] == one_run["rows_written"] + one_run["rows_quarantined"] + one_run["rows_elsewhere"]
    ).all()
    stored = lake.read("trades", (pl.col("date") == D1) & (pl.col("exchange") == "binance"))
    assert one_run["rows_written"].sum() == stored.height
    symbols = {s for text in one_run["quarantined_symbols"] for s in json.loads(text)}
    assert MISSING_SYMBOL[1] in symbols

    latest = dq_summary(lake, "binance", D1, D1)
    assert set(latest["check_name"]) == {
        "schema_conformance",
        "unique_lineage",
        "quarantine_rate",
        "symbol_coverage",
        "within_trading_day",
    }
    assert latest.height == 5 and set(latest["run_id"]) == {result.run_id}
    coverage = latest.filter(pl.col("check_name") == "symbol_coverage").row(0, named=True)
    assert coverage["passed"] is False and coverage["severity"] == "warn"
    assert dq_summary(lake, "binance", D1, D1, latest_only=False).height == 10
    assert dq_summary(lake, "deribit", D1, D1).is_empty()
    # "which symbols were quarantined last week" is one query too
    quarantined = quarantined_symbols(lake, D1 - dt.timedelta(days=6), D1, "binance")
    assert MISSING_SYMBOL[1] in set(quarantined["symbol"])


def test_dq_summary_command_prints_the_latest_results(env):
    import subprocess
    import sys

    key = partition_key(D1, "binance")
    assert materialize([trades], instance=env["instance"], resources=env["resources"], partition_key=key).success
    lake_root = str(env["root"] / "lake")
    cmd = [sys.executable, "-m", "pointline.cli", "dq", "summary", "--exchange", "binance", "--date", str(D1)]
    out = subprocess.run([*cmd, "--lake-root", lake_root], capture_output=True, text=True, check=True).stdout
    assert "5 check result(s), 1 failed" in out and "symbol_coverage" in out and "quarantine_rate" in out
    # the failed check is a warning: --fail-on-error only trips on error-severity failures
    strict = subprocess.run([*cmd, "--lake-root", lake_root, "--fail-on-error"], capture_output=True, text=True)
    assert strict.returncode == 0, strict.stderr
    empty = subprocess.run([*cmd[:-1], "2020-01-01", "--lake-root", lake_root], capture_output=True, text=True)
    assert "no check results" in empty.stdout
