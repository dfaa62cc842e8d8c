"""Compaction and vacuum on real Delta tables in temp dirs (pointline/maintenance.py)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError

from pointline.config import REPO_ROOT, ConfigError, MaintenanceSettings, load_maintenance_settings
from pointline.lake import Lake
from pointline.maintenance import (
    BronzeOverlapError,
    _rewrite,
    compact_partition,
    compact_table,
    maybe_compact_after_ingest,
    order_keys,
    vacuum_table,
)
from pointline.schemas import get_table_spec
from tests.test_maintenance_frames import D1, D2, D3, append_files, partition_of, spec_frame

BINANCE = {"date": D1, "exchange": "binance"}


def _files(lake: Lake, table: str, values: dict) -> list[str]:
    prefix = "/".join(f"{k}={v}" for k, v in values.items()) + "/"
    paths = pl.DataFrame(DeltaTable(lake.uri(table)).get_add_actions())["path"]
    return sorted(p for p in paths if p.startswith(prefix))


def _chunks(table: str, values: dict, files: int, rows: int) -> list[pl.DataFrame]:
    return [spec_frame(table, values, rows, start=k * rows) for k in range(files)]


def _sorted(df: pl.DataFrame, table: str) -> pl.DataFrame:
    return df.sort(list(get_table_spec(table).sort_by), maintain_order=True)


# ---- compaction -----------------------------------------------------------------------------
def test_many_files_become_one_file_in_sort_order_in_one_commit(tmp_path):
    lake = Lake(tmp_path)
    append_files(lake, "trades", BINANCE, _chunks("trades", BINANCE, 10, 50))
    other = {"date": D1, "exchange": "deribit"}
    append_files(lake, "trades", other, _chunks("trades", other, 9, 5))
    before, other_files, version = lake.read_partition("trades", BINANCE), _files(lake, "trades", other), lake.version
    start = version("trades")
    assert len(_files(lake, "trades", BINANCE)) == 10
    assert not before.equals(_sorted(before, "trades"))  # appended chunks cycle symbols: out of order

    result = compact_partition(lake, "trades", BINANCE, min_files=8)

    after = lake.read_partition("trades", BINANCE)
    assert (result.files_before, result.files_after, result.rows) == (10, 1, 500)
    assert result.version == start + 1 == version("trades")  # exactly one commit
    assert len(_files(lake, "trades", BINANCE)) == 1
    assert after.equals(_sorted(before, "trades"))  # same rows, in the table's sort order
    assert after.select(list(get_table_spec("trades").sort_by))["symbol_id"].is_sorted()
    assert _files(lake, "trades", other) == other_files  # other partitions untouched


def test_rows_already_in_sort_order_keep_exactly_their_order(tmp_path):
    lake = Lake(tmp_path)
    one_symbol = [c.with_columns(symbol_id=pl.lit(7, pl.Int64)) for c in _chunks("trades", BINANCE, 9, 20)]
    append_files(lake, "trades", BINANCE, one_symbol)
    before = lake.read_partition("trades", BINANCE).sort("file_line")  # scan order of files is the log's

    assert compact_partition(lake, "trades", BINANCE, min_files=8).compacted
    assert lake.read_partition("trades", BINANCE).equals(before)


def test_second_call_is_a_no_op_without_a_new_version(tmp_path):
    lake = Lake(tmp_path)
    append_files(lake, "trades", BINANCE, _chunks("trades", BINANCE, 9, 10))
    assert compact_partition(lake, "trades", BINANCE, min_files=8).compacted
    version, rows = lake.version("trades"), lake.read("trades")

    again = compact_partition(lake, "trades", BINANCE, min_files=8)

    assert not again.compacted and (again.files_before, again.files_after, again.rows) == (1, 1, 90)
    assert lake.version("trades") == version and lake.read("trades").equals(rows)


def test_partitions_at_or_under_min_files_and_absent_tables_are_left_alone(tmp_path):
    lake = Lake(tmp_path)
    append_files(lake, "trades", BINANCE, _chunks("trades", BINANCE, 8, 10))
    version = lake.version("trades")
    assert not compact_partition(lake, "trades", BINANCE, min_files=8).compacted
    assert lake.version("trades") == version and len(_files(lake, "trades", BINANCE)) == 8
    assert not compact_partition(lake, "quotes", BINANCE, min_files=1).compacted and not lake.exists("quotes")


def test_same_rows_in_any_file_layout_give_the_same_partition(tmp_path):
    rows = spec_frame("trades", BINANCE, 120)
    first, second = Lake(tmp_path / "a"), Lake(tmp_path / "b")
    append_files(first, "trades", BINANCE, [rows.slice(k * 10, 10) for k in range(12)])
    shuffled = rows.sample(fraction=1.0, shuffle=True, seed=7)
    append_files(second, "trades", BINANCE, [shuffled.slice(k * 40, 40) for k in range(3)])
    compact_partition(first, "trades", BINANCE, min_files=1)
    compact_partition(second, "trades", BINANCE, min_files=1)
    assert first.read("trades").equals(second.read("trades"))


def test_list_columns_and_three_key_partitions_survive(tmp_path):
    lake = Lake(tmp_path)
    books = partition_of("book_snapshot_25")
    append_files(lake, "book_snapshot_25", books, _chunks("book_snapshot_25", books, 4, 10))
    quarantine = partition_of("quarantine")
    append_files(lake, "quarantine", quarantine, _chunks("quarantine", quarantine, 3, 10))
    book_rows, quarantine_rows = lake.read("book_snapshot_25"), lake.read("quarantine")

    assert compact_partition(lake, "book_snapshot_25", books, min_files=2).files_after == 1
    assert compact_partition(lake, "quarantine", quarantine, min_files=2).files_after == 1

    assert lake.read("book_snapshot_25").equals(_sorted(book_rows, "book_snapshot_25"))
    assert lake.read("quarantine").equals(quarantine_rows.sort(order_keys(get_table_spec("quarantine"))))


def test_unpartitioned_table_compacts_as_a_whole(tmp_path):
    lake = Lake(tmp_path)
    append_files(lake, "dim_exchange", {}, _chunks("dim_exchange", {}, 3, 4))
    assert compact_partition(lake, "dim_exchange", {}, min_files=2).files_after == 1
    assert lake.read("dim_exchange").height == 12


def test_a_concurrent_rewrite_of_the_partition_is_never_overwritten(tmp_path):
    """The rewrite commits against the snapshot it read: a partition changed since fails, others pass."""
    lake = Lake(tmp_path)
    append_files(lake, "trades", BINANCE, _chunks("trades", BINANCE, 3, 10))
    stale = DeltaTable(lake.uri("trades"))
    lake.write_partition(
        "trades", spec_frame("trades", {"date": D2, "exchange": "binance"}, 4), {**BINANCE, "date": D2}
    )
    fresh = spec_frame("trades", BINANCE, 5, start=1000)
    lake.write_partition("trades", fresh, BINANCE)  # an ingest re-wrote the partition meanwhile

    with pytest.raises(CommitFailedError):
        _rewrite(lake, stale, get_table_spec("trades"), BINANCE)
    assert lake.read_partition("trades", BINANCE).equals(_sorted(fresh, "trades"))

    other = DeltaTable(lake.uri("trades"))
    lake.write_partition(
        "trades", spec_frame("trades", {"date": D3, "exchange": "binance"}, 2), {**BINANCE, "date": D3}
    )
    _rewrite(lake, other, get_table_spec("trades"), BINANCE)  # another partition changed: commits fine
    assert lake.read_partition("trades", BINANCE).equals(_sorted(fresh, "trades"))


def test_append_only_history_is_compacted_without_losing_a_concurrent_append(tmp_path):
    """dq_summary gains a file per run (Lake.append): the partitions compaction exists for."""
    lake = Lake(tmp_path)
    values = {"table_name": "trades", "date": D1}
    for k in range(4):
        lake.append("dq_summary", spec_frame("dq_summary", values, 5, start=k * 5))
    stale = DeltaTable(lake.uri("dq_summary"))
    late = spec_frame("dq_summary", values, 2, start=100)
    lake.append("dq_summary", late)  # another run appends while compaction reads

    with pytest.raises(CommitFailedError):
        _rewrite(lake, stale, get_table_spec("dq_summary"), values)
    assert lake.read("dq_summary").height == 22

    result = compact_partition(lake, "dq_summary", values, min_files=2)
    keys = order_keys(get_table_spec("dq_summary"))
    assert (result.files_before, result.files_after, result.rows) == (5, 1, 22)
    assert lake.read("dq_summary").equals(lake.read("dq_summary").sort(keys))


def test_compact_table_selects_dates_and_exchanges(tmp_path):
    lake = Lake(tmp_path)
    partitions = [{"date": d, "exchange": e} for d in (D1, D2, D3) for e in ("binance", "deribit")]
    for values in partitions:
        append_files(lake, "trades", values, _chunks("trades", values, 3, 4))

    done = compact_table(lake, "trades", min_files=2, start=D2, end=D3, exchanges=["deribit"])

    assert [r.partition for r in done] == ["date=2024-05-02/exchange=deribit", "date=2024-05-03/exchange=deribit"]
    files = {f"{v['date']}|{v['exchange']}": len(_files(lake, "trades", v)) for v in partitions}
    assert files == {
        "2024-05-01|binance": 3,
        "2024-05-01|deribit": 3,
        "2024-05-02|binance": 3,
        "2024-05-02|deribit": 1,
        "2024-05-03|binance": 3,
        "2024-05-03|deribit": 1,
    }


def test_wrong_partition_keys_and_min_files_are_refused(tmp_path):
    lake = Lake(tmp_path)
    with pytest.raises(ValueError, match="must name"):
        compact_partition(lake, "trades", {"date": D1}, min_files=8)
    with pytest.raises(ValueError, match="at least 1"):
        compact_partition(lake, "trades", BINANCE, min_files=0)


def test_partition_values_may_be_text(tmp_path):
    lake = Lake(tmp_path)
    append_files(lake, "trades", BINANCE, _chunks("trades", BINANCE, 3, 4))
    result = compact_partition(lake, "trades", {"exchange": "binance", "date": "2024-05-01"}, min_files=2)
    assert (result.partition, result.files_after) == ("date=2024-05-01/exchange=binance", 1)


# ---- configuration: compaction after ingest -------------------------------------------------
def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lake.toml"
    path.write_text('[partitions]\nstart_date = "2019-01-01"\n' + text)
    return path


def test_compaction_after_ingest_is_off_by_default(tmp_path):
    assert load_maintenance_settings(REPO_ROOT / "config" / "lake.toml").compact_after_ingest is False
    defaults = load_maintenance_settings(_toml(tmp_path, ""))
    assert defaults == MaintenanceSettings() and defaults.min_files == 8 and defaults.vacuum_cron == "0 3 * * 0"
    lake = Lake(tmp_path / "lake")
    append_files(lake, "trades", BINANCE, _chunks("trades", BINANCE, 10, 3))
    assert maybe_compact_after_ingest(lake, "trades", BINANCE, config=defaults) is None
    assert len(_files(lake, "trades", BINANCE)) == 10


def test_per_table_override_turns_compaction_after_ingest_on(tmp_path, monkeypatch):
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    _toml(
        config_dir,
        "[maintenance]\nmin_files = 8\n[maintenance.tables.trades]\ncompact_after_ingest = true\nmin_files = 2\n",
    )
    monkeypatch.setenv("POINTLINE_CONFIG_DIR", str(config_dir))  # read the way the ingest will read it
    lake = Lake(tmp_path / "lake")
    append_files(lake, "trades", BINANCE, _chunks("trades", BINANCE, 3, 3))
    append_files(lake, "quotes", BINANCE, _chunks("quotes", BINANCE, 10, 3))

    result = maybe_compact_after_ingest(lake, "trades", BINANCE)

    assert result is not None and (result.files_before, result.files_after) == (3, 1)
    assert maybe_compact_after_ingest(lake, "quotes", BINANCE) is None
    assert len(_files(lake, "quotes", BINANCE)) == 10


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[maintenance]\ncompact_after_ingest = 'yes'\n", "must be a bool"),
        ("[maintenance]\nmin_files = 0\n", "at least 1"),
        ("[maintenance]\nmin_fils = 3\n", "unknown key"),
        ("[maintenance]\nvacuum_cron = 'weekly'\n", "cron"),
        ("[maintenance.tables.trade]\ncompact_after_ingest = true\n", "names no table"),
        ("[maintenance.tables.trades]\ncompact = true\n", "unknown key"),
    ],
)
def test_malformed_maintenance_config_names_the_problem(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_maintenance_settings(_toml(tmp_path, text))


# ---- vacuum ---------------------------------------------------------------------------------
def _two_versions(tmp_path: Path) -> tuple[Lake, str, str]:
    """A trades partition written twice: (lake, path of the removed first file, path of the live one)."""
    lake = Lake(tmp_path / "lake")
    lake.write_partition("trades", spec_frame("trades", BINANCE, 5), BINANCE)
    (old,) = _files(lake, "trades", BINANCE)
    lake.write_partition("trades", spec_frame("trades", BINANCE, 6, start=100), BINANCE)
    (live,) = _files(lake, "trades", BINANCE)
    return lake, old, live


def test_dry_run_lists_the_removed_file_and_deletes_nothing(tmp_path):
    lake, old, live = _two_versions(tmp_path)
    bronze = tmp_path / "bronze"
    listed = vacuum_table(lake, "trades", retention_hours=0, enforce_retention_duration=False, bronze_root=bronze)
    assert listed == [old]
    assert (Path(lake.uri("trades")) / old).exists()
    assert lake.read("trades", version=lake.version("trades") - 1).height == 5  # time travel still works


def test_real_run_deletes_only_files_removed_longer_ago_than_the_retention(tmp_path):
    lake, old, live = _two_versions(tmp_path)
    lake.write_partition("trades", spec_frame("trades", BINANCE, 7, start=200), BINANCE)  # removes `live` now
    _age_removal(lake, old, hours=48)
    bronze = tmp_path / "bronze"

    deleted = vacuum_table(
        lake, "trades", retention_hours=24, dry_run=False, enforce_retention_duration=False, bronze_root=bronze
    )

    table = Path(lake.uri("trades"))
    assert deleted == [old] and not (table / old).exists() and (table / live).exists()
    assert lake.read("trades").height == 7 and lake.read("trades").equals(lake.read_partition("trades", BINANCE))
    everything = vacuum_table(
        lake, "trades", retention_hours=0, dry_run=False, enforce_retention_duration=False, bronze_root=bronze
    )
    assert everything == [live] and lake.read("trades").height == 7


def _age_removal(lake: Lake, path: str, *, hours: int) -> None:
    """Backdate the remove action of `path` in the Delta log, as if it had been removed `hours` ago."""
    for commit in sorted((Path(lake.uri("trades")) / "_delta_log").glob("*.json")):
        lines = commit.read_text().splitlines()
        actions = [json.loads(line) for line in lines]
        for action in actions:
            if action.get("remove", {}).get("path") == path:
                action["remove"]["deletionTimestamp"] = int((time.time() - hours * 3600) * 1000)
        commit.write_text("\n".join(json.dumps(a) for a in actions) + "\n")


def test_retention_below_the_minimum_is_refused_unless_asked(tmp_path):
    lake, old, _ = _two_versions(tmp_path)
    with pytest.raises(Exception, match="retention"):
        vacuum_table(lake, "trades", retention_hours=0, dry_run=False, bronze_root=tmp_path / "bronze")
    assert (Path(lake.uri("trades")) / old).exists()
    assert vacuum_table(lake, "trades", bronze_root=tmp_path / "bronze") == []  # a week: nothing is that old


@pytest.mark.parametrize("bronze", ["lake", "lake/bronze", "."])
def test_vacuum_refuses_when_bronze_and_lake_overlap(tmp_path, bronze):
    lake, old, _ = _two_versions(tmp_path)
    with pytest.raises(BronzeOverlapError, match="overlap"):
        vacuum_table(
            lake,
            "trades",
            retention_hours=0,
            dry_run=False,
            enforce_retention_duration=False,
            bronze_root=tmp_path / bronze,
        )
    assert (Path(lake.uri("trades")) / old).exists()


def test_vacuum_defaults_to_the_environment_bronze_root(tmp_path, monkeypatch):
    lake, _, _ = _two_versions(tmp_path)
    monkeypatch.setenv("POINTLINE_BRONZE_ROOT", os.fspath(tmp_path / "lake" / "bronze"))
    with pytest.raises(BronzeOverlapError):
        vacuum_table(lake, "trades")
    monkeypatch.setenv("POINTLINE_BRONZE_ROOT", os.fspath(tmp_path / "bronze"))
    assert vacuum_table(lake, "trades") == []
    assert vacuum_table(lake, "quotes") == []  # absent table: nothing to do
