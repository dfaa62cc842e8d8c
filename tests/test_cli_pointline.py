"""`python -m pointline.cli lake stats`, run as a subprocess the way an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pointline.cli import human_bytes
from pointline.lake import Lake
from tests.test_maintenance_frames import D1, D2, append_files, spec_frame

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pointline.cli", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("cli") / "lake")
    for date in (D1, D2):
        values = {"date": date, "exchange": "binance"}
        append_files(lake, "trades", values, [spec_frame("trades", values, 600, start=k * 1000) for k in range(2)])
    lake.replace_table("dim_exchange", spec_frame("dim_exchange", {}, 3))
    return lake


def test_lake_stats_prints_one_row_per_table(lake):
    done = run_cli("lake", "stats", "--lake-root", lake.root)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"lake {lake.root}: 2 table(s), 2,403 rows")
    header = [c.strip() for c in lines[1].strip("|").split("|")]
    assert header[:5] == ["table", "partitions", "rows", "files", "size"]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")] for line in lines[3:]}
    assert set(rows) == {"trades", "dim_exchange"}
    assert rows["trades"][1:4] == ["2", "2,400", "4"]
    assert rows["trades"][5:7] == ["2024-05-01", "2024-05-02"]
    assert rows["trades"][7] == "2024-05-01 00:00:00" and rows["trades"][8] == "2024-05-02 00:26:39"
    assert rows["dim_exchange"][5:] == ["-", "-", "-", "-"]  # no date partition, no time axis


def test_lake_stats_for_one_table_prints_its_partitions(lake):
    done = run_cli("lake", "stats", "--table", "trades", env={"POINTLINE_LAKE_ROOT": lake.root})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"trades under {lake.root}: 2 partition(s)")
    partitions = [line for line in done.stdout.splitlines() if "date=2024-05-0" in line]
    assert len(partitions) == 2 and all("| binance " in line and "| 1,200 " in line for line in partitions)
    assert "dim_exchange" not in done.stdout


def test_unknown_table_is_a_usage_error(lake):
    done = run_cli("lake", "stats", "--table", "trade", "--lake-root", lake.root)
    assert done.returncode == 2 and "unknown table 'trade'" in done.stderr


def test_empty_lake_says_so(tmp_path):
    done = run_cli("lake", "stats", "--lake-root", str(tmp_path))
    assert done.returncode == 0 and done.stdout.strip() == f"no tables under {tmp_path}"


def test_storage_options_must_be_key_value(lake):
    done = run_cli("lake", "stats", "--lake-root", lake.root, "--storage-option", "AWS_REGION")
    assert done.returncode == 2 and "KEY=VALUE" in done.stderr


def test_human_bytes():
    assert [human_bytes(n) for n in (0, 1023, 1536, 5 << 30)] == ["0 B", "1023 B", "1.5 KiB", "5.0 GiB"]
