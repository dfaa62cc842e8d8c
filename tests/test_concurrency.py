"""Concurrent and killed ingests: real OS processes, real Delta tables, the real pipeline.

Every writer here is a separate Python process (tests/concurrency_helpers/ingest_child.py)
running `pointline.pipeline.ingest_partition` with the Tardis plugin on the sample Bronze,
against Delta tables in a temp dir, as the asset does (Dagster is not needed in the children).

1. two processes ingest different partitions at once: both land, each partition holds exactly
   its rows, every version of the Delta log is readable;
2. two processes ingest the same partition at once, several rounds (the table absent, the
   partition absent, the partition present): never a duplicate, the result equals one clean
   ingest row for row, and no version of the log ever shows a duplicate;
3. a 1M-row partition ingest is SIGKILLed at points around its two commits (quarantine, then
   Silver): each table stays readable and its partition is either exactly as before or fully
   rewritten; orphan Parquet files never show in reads (they accumulate until a full vacuum);
   a rerun in a fresh process repairs the partition.

A file barrier inside the children (before the first commit attempt of each partition write,
after the writers have loaded their Delta snapshots) makes the commits really race.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import polars as pl
import pytest
from deltalake import DeltaTable

from pointline.config import config_dir, load_exchanges
from pointline.lake import Lake
from pointline.pipeline import ingest_partition
from pointline.scd2 import apply_overrides, load_overrides, rebuild_from_history, validate_dim
from vendors.registry import load_vendor
from vendors.tardis.sample import write_sample_bronze, write_trades_file

CHILD = Path(__file__).resolve().parent / "concurrency_helpers" / "ingest_child.py"
REPO = Path(__file__).resolve().parents[1]
D1 = dt.date(2024, 5, 1)
TABLE = "trades"
BIG_EXCHANGE = "binance-futures"
BIG_ROWS = 1_000_000
BIG_REL = f"tardis/exchange={BIG_EXCHANGE}/type=trades/date={D1}/symbol=BTCUSDT/BTCUSDT.csv.gz"
SMALL_EXCHANGES = ("binance", "deribit", "binance-futures")
LINEAGE = ["file_id", "file_line"]
CHILD_TIMEOUT = 120


# ---- setup ----------------------------------------------------------------------------
@dataclass
class World:
    root: Path
    small: Path  # sample Bronze (every partition small)
    dims: Path  # a lake holding only dim_exchange and dim_symbol
    ref: Path  # clean in-process ingest of every SMALL_EXCHANGES partition from `small`


def _sources():
    plugin = load_vendor("tardis")
    return [(plugin, dtype) for dtype, target in plugin.routes().items() if target == TABLE]


def clean_ingest(lake_root: Path, bronze: Path, exchange: str) -> None:
    ingest_partition(Lake(lake_root), _sources(), bronze, TABLE, D1, exchange, code_version="concurrency-test")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("concurrency")
    small = root / "bronze"
    write_sample_bronze(small, start=D1, days=1, rows_per_file=200)
    dims = root / "dims"
    lake = Lake(dims)
    lake.replace_table("dim_exchange", load_exchanges())
    versions = load_vendor("tardis").instrument_versions(small)
    dim = rebuild_from_history(apply_overrides(versions, load_overrides(config_dir() / "symbol_overrides.csv")))
    validate_dim(dim)
    lake.replace_table("dim_symbol", dim)
    ref = root / "ref"
    shutil.copytree(dims, ref)
    for exchange in SMALL_EXCHANGES:
        clean_ingest(ref, small, exchange)
    return World(root, small, dims, ref)


def fresh_lake(world: World, path: Path) -> Path:
    shutil.copytree(world.dims, path)
    return path


# ---- reading --------------------------------------------------------------------------
def uri(lake_root: Path, table: str) -> str:
    return Lake(lake_root).uri(table)


def silver(lake_root: Path, exchange: str) -> pl.DataFrame:
    return Lake(lake_root).read_partition(TABLE, {"date": D1, "exchange": exchange})


def quarantine(lake_root: Path, exchange: str) -> pl.DataFrame:
    return Lake(lake_root).read_partition("quarantine", {"table_name": TABLE, "date": D1, "exchange": exchange})


def assert_same(actual: pl.DataFrame, expected: pl.DataFrame, what: str) -> None:
    assert actual.height == expected.height, f"{what}: {actual.height} rows, expected {expected.height}"
    assert actual.equals(expected), f"{what}: same row count but different rows"


def assert_unique_lineage(df: pl.DataFrame, keys: list[str], what: str) -> None:
    dup = df.group_by(keys + LINEAGE).len().filter(pl.col("len") > 1)
    assert dup.is_empty(), f"{what}: {dup.height} duplicated lineage key(s), e.g. {dup.head(3).to_dicts()}"


def log_versions(table_uri: str) -> list[int]:
    return sorted(int(p.stem) for p in (Path(table_uri) / "_delta_log").glob("*.json"))


def assert_log_consistent(table_uri: str, keys: list[str], *, since: int = 0) -> None:
    """Commit files are contiguous and every version from `since` is readable by deltalake and polars
    with no duplicated lineage key in any partition."""
    versions = log_versions(table_uri)
    assert versions == list(range(versions[0], versions[-1] + 1)), f"gap in the Delta log: {versions}"
    latest = DeltaTable(table_uri).version()
    assert latest == versions[-1]
    for v in range(max(since, versions[0]), latest + 1):
        arrow = DeltaTable(table_uri, version=v).to_pyarrow_table()
        frame = pl.scan_delta(table_uri, version=v).collect()
        assert frame.height == arrow.num_rows, f"version {v}: polars and deltalake disagree"
        if frame.height:
            assert_unique_lineage(frame, keys, f"{table_uri} version {v}")


def untracked_files(table_uri: str) -> set[str]:
    """Parquet files in the table directory that no commit of the Delta log ever added."""
    logged: set[str] = set()
    for commit in (Path(table_uri) / "_delta_log").glob("*.json"):
        for line in commit.read_text().splitlines():
            add = json.loads(line).get("add")
            if add:
                logged.add(unquote(add["path"]))
    base = Path(table_uri)
    on_disk = {p.relative_to(base).as_posix() for p in base.rglob("*.parquet") if "_delta_log" not in p.parts}
    return on_disk - logged


# ---- child processes ------------------------------------------------------------------
@dataclass
class Child:
    proc: subprocess.Popen
    events: Path
    out: Path
    err: Path

    def event_names(self) -> list[str]:
        if not self.events.exists():
            return []
        return [line.split()[0] for line in self.events.read_text().splitlines() if line.strip()]

    def finish(self) -> dict:
        rc = self.proc.wait(CHILD_TIMEOUT)
        assert rc == 0, f"child failed (exit {rc}):\n{self.err.read_text()[-3000:]}"
        return json.loads(self.out.read_text().strip().splitlines()[-1])

    def event_times(self) -> dict[str, float]:
        """Event name -> the child's wall clock when it reached it."""
        lines = [line.split() for line in self.events.read_text().splitlines() if line.strip()]
        return {name: float(at) for name, at in lines}

    def stderr(self) -> str:
        return self.err.read_text()

    def stop(self) -> None:
        """SIGKILL the child if it still runs (a failed assertion must not leave it behind)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(CHILD_TIMEOUT)


def spawn(
    lake_root: Path,
    bronze: Path,
    exchange: str,
    work: Path,
    name: str,
    *,
    barrier: Path | None = None,
    parties: int = 2,
    pause_at: str | None = None,
) -> Child:
    work.mkdir(parents=True, exist_ok=True)
    events, out, err = work / f"{name}.events", work / f"{name}.out", work / f"{name}.err"
    cmd = [sys.executable, str(CHILD), "--lake", str(lake_root), "--bronze", str(bronze)]
    cmd += ["--table", TABLE, "--date", D1.isoformat(), "--exchange", exchange, "--events", str(events)]
    if barrier is not None:
        cmd += ["--barrier", str(barrier), "--parties", str(parties)]
    if pause_at is not None:
        cmd += ["--pause-at", pause_at]
    with open(out, "w") as fo, open(err, "w") as fe:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=fo, stderr=fe, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    return Child(proc, events, out, err)


def race(lake_root: Path, jobs: list[tuple[Path, str]], work: Path) -> list[Child]:
    """Start one child per (bronze, exchange) behind a shared barrier; wait for all to succeed."""
    barrier = work / "barrier"
    children = [
        spawn(lake_root, bronze, exchange, work, f"child{i}", barrier=barrier, parties=len(jobs))
        for i, (bronze, exchange) in enumerate(jobs)
    ]
    try:
        for child in children:
            child.finish()
    finally:
        for child in children:
            child.stop()
    for child in children:
        assert not [e for e in child.event_names() if e.startswith("barrier-timeout")], child.event_names()
    # every commit (a table's creation when absent, then quarantine and Silver) went through the
    # barrier with all writers
    gates = sorted(barrier.iterdir())
    assert len(gates) >= 2 and all(len(list(g.iterdir())) == len(jobs) for g in gates), gates
    assert all(len(list(g.iterdir())) == len(jobs) for g in gates)
    return children


# ---- 1. different partitions ----------------------------------------------------------
def test_two_processes_ingest_different_partitions_at_once(world, tmp_path):
    lake = fresh_lake(world, tmp_path / "lake")
    # round 1: neither table exists yet, so the two writers also race to create them
    race(lake, [(world.small, "binance"), (world.small, "deribit")], tmp_path / "round1")
    # round 2: the tables exist; one partition is new, the other a re-ingest
    race(lake, [(world.small, "binance-futures"), (world.small, "binance")], tmp_path / "round2")

    for exchange in SMALL_EXCHANGES:
        assert_same(silver(lake, exchange), silver(world.ref, exchange), f"trades {exchange}")
        assert_same(quarantine(lake, exchange), quarantine(world.ref, exchange), f"quarantine {exchange}")
    stored = Lake(lake).read(TABLE)
    assert sorted(stored["exchange"].unique().to_list()) == sorted(SMALL_EXCHANGES)
    assert stored.height == Lake(world.ref).read(TABLE).height
    assert Lake(lake).read("quarantine").height == Lake(world.ref).read("quarantine").height
    assert_log_consistent(uri(lake, TABLE), ["date", "exchange"])
    assert_log_consistent(uri(lake, "quarantine"), ["table_name", "date", "exchange"])


# ---- 2. the same partition ------------------------------------------------------------
def test_two_processes_ingest_the_same_partition_never_duplicate(world, tmp_path):
    """Regression: two first ingests of a partition both committed their file (every row twice);
    see `pointline.lake._partition_guard`."""
    exchange = "binance"
    expected_silver, expected_q = silver(world.ref, exchange), quarantine(world.ref, exchange)
    table_absent = fresh_lake(world, tmp_path / "lake-new")
    partition_absent = fresh_lake(world, tmp_path / "lake")
    clean_ingest(partition_absent, world.small, "deribit")  # the tables exist, this partition does not
    rounds = [
        ("table absent", table_absent),
        ("partition absent", partition_absent),
        ("partition present", partition_absent),
        ("partition present again", partition_absent),
    ]
    for i, (label, lake) in enumerate(rounds):
        children = race(lake, [(world.small, exchange), (world.small, exchange)], tmp_path / f"round{i}")
        got = silver(lake, exchange)
        assert_unique_lineage(got, ["date", "exchange"], f"{label}: trades")
        assert_same(got, expected_silver, f"{label}: trades")
        assert_same(quarantine(lake, exchange), expected_q, f"{label}: quarantine")
        assert_log_consistent(uri(lake, TABLE), ["date", "exchange"])
        assert_log_consistent(uri(lake, "quarantine"), ["table_name", "date", "exchange"])
        # the barrier makes both writers commit from the same snapshot: one of them must conflict
        assert any("commit conflict" in c.stderr() for c in children), f"{label}: the commits did not race"
    assert_same(silver(partition_absent, "deribit"), silver(world.ref, "deribit"), "untouched deribit")


# ---- 3. SIGKILL during the write ------------------------------------------------------
@dataclass(frozen=True)
class Kill:
    at: str  # event the parent waits for (the child pauses there when `pause` is set)
    pause: bool
    delay: float = 0.0  # after the event, the kill waits this fraction of the measured Silver write


# The killed run writes both data files first (quarantine, then the Silver Parquet, timed in an
# unkilled reference run of the same ingest: a fixed delay outlived the write on a fast machine), then
# commits the quarantine partition (commit 1) and the Silver partition (commit 2) back to back.
KILLS = [
    Kill("write-trades-before", pause=False, delay=0.4),  # in the middle of the Silver Parquet write
    Kill("commit-1-before", pause=True),  # both files written, nothing committed
    Kill("commit-2-before", pause=True),  # quarantine committed, Silver not: the milliseconds-wide window
    Kill("commit-2-after", pause=True),  # both committed, the run not finished
]


def wait_for_event(child: Child, event: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while event not in child.event_names():
        if child.proc.poll() is not None:
            raise AssertionError(f"child exited ({child.proc.returncode}) before {event}:\n{child.stderr()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"child never reached {event}; events: {child.event_names()}")
        time.sleep(0.005)


def allowed_states(events: list[str], commit: int) -> set[str]:
    """What the table written by commit `commit` may hold after the kill, from what the child reported."""
    if f"commit-{commit}-after" in events:
        return {"new"}
    if f"paused-commit-{commit}-before" in events or f"commit-{commit}-before" not in events:
        return {"old"}
    return {"old", "new"}  # killed inside the commit call: it landed or it did not, never half


def state_of(got: pl.DataFrame, old: pl.DataFrame, new: pl.DataFrame, what: str) -> str:
    if got.equals(new):
        return "new"
    if got.equals(old):
        return "old"
    raise AssertionError(f"{what}: partially written ({got.height} rows; before {old.height}, after {new.height})")


def test_sigkill_during_a_big_ingest_leaves_each_partition_whole(world, tmp_path):
    """Before each killed run the partition holds the small sample ingest ("old"); the killed run
    and its rerun ingest a Bronze tree whose BTCUSDT file has 1M rows ("new")."""
    big = tmp_path / "big"
    shutil.copytree(world.small, big)
    write_trades_file(big / BIG_REL, BIG_ROWS, exchange=BIG_EXCHANGE, symbol="BTCUSDT", day=D1, gzip_level=1)
    ref_big = fresh_lake(world, tmp_path / "ref-big")
    reference = spawn(ref_big, big, BIG_EXCHANGE, tmp_path / "ref", "child")
    reference.finish()
    write_seconds = reference.event_times()["write-trades-after"] - reference.event_times()["write-trades-before"]
    old = silver(world.ref, BIG_EXCHANGE), quarantine(world.ref, BIG_EXCHANGE)
    new = silver(ref_big, BIG_EXCHANGE), quarantine(ref_big, BIG_EXCHANGE)
    assert new[0].height > BIG_ROWS and old[0].height < 1000
    assert not old[1].equals(new[1]) and new[1].height > 0  # both quarantine writes take the fast path too

    lake = tmp_path / "lake"
    shutil.copytree(world.ref, lake)  # the small ingest of every partition
    others = {t: Lake(lake).read(t).filter(pl.col("exchange") != BIG_EXCHANGE) for t in (TABLE, "quarantine")}
    orphans: list[tuple[int, int]] = []
    for i, kill in enumerate(KILLS):
        if i:
            clean_ingest(lake, world.small, BIG_EXCHANGE)  # back to "old"
        assert_same(silver(lake, BIG_EXCHANGE), old[0], "trades before the run")
        pause_at = kill.at if kill.pause else None
        child = spawn(lake, big, BIG_EXCHANGE, tmp_path / f"kill{i}", "child", pause_at=pause_at)
        try:
            wait_for_event(child, f"paused-{kill.at}" if kill.pause else kill.at)
            time.sleep(kill.delay * write_seconds)
            child.proc.send_signal(signal.SIGKILL)
            assert child.proc.wait(CHILD_TIMEOUT) == -signal.SIGKILL
        finally:
            child.stop()
        events = child.event_names()
        label = f"kill {i} at {kill.at}+{kill.delay * write_seconds:.3f}s (last event {events[-1]})"

        for table in (TABLE, "quarantine"):  # readable at the latest version, log contiguous
            versions = log_versions(uri(lake, table))
            assert versions == list(range(versions[0], versions[-1] + 1)), f"{table}: gap in the log {versions}"
            arrow = DeltaTable(uri(lake, table)).to_pyarrow_table()
            assert pl.scan_delta(uri(lake, table)).select(pl.len()).collect().item() == arrow.num_rows
            del arrow
        # each partition is exactly as before or fully rewritten, never half, never doubled
        q_state = state_of(quarantine(lake, BIG_EXCHANGE), old[1], new[1], f"{label}: quarantine")
        s_state = state_of(silver(lake, BIG_EXCHANGE), old[0], new[0], f"{label}: trades")
        assert q_state in allowed_states(events, 1), (label, q_state)
        assert s_state in allowed_states(events, 2), (label, s_state)
        # quarantine is committed first, so new Silver never sits beside the old quarantine. The
        # reverse (old Silver, new quarantine) is what a kill between the two commits leaves:
        # Delta has no cross-table commit and SIGKILL skips the transaction's rollback.
        assert not (s_state == "new" and q_state == "old"), label
        for table, rows in others.items():
            assert_same(Lake(lake).read(table).filter(pl.col("exchange") != BIG_EXCHANGE), rows, f"{label}: {table}")
        # what the kill left on disk is in no commit, so no read sees it (the equalities above)
        orphans.append((len(untracked_files(uri(lake, TABLE))), len(untracked_files(uri(lake, "quarantine")))))

        # a rerun in a fresh process repairs the partition: it equals a clean ingest
        spawn(lake, big, BIG_EXCHANGE, tmp_path / f"rerun{i}", "child").finish()
        assert_same(silver(lake, BIG_EXCHANGE), new[0], f"{label}: trades after the rerun")
        assert_same(quarantine(lake, BIG_EXCHANGE), new[1], f"{label}: quarantine after the rerun")

    # Orphans accumulate (reruns do not remove them): one per kill between writing a Parquet
    # file and committing it (the kill mid-write may come before the file exists).
    silver_orphans, q_orphans = zip(*orphans, strict=True)
    assert list(silver_orphans) == sorted(silver_orphans) and list(q_orphans) == sorted(q_orphans), orphans
    # kills before a commit leave staged files behind (how many depends on where the timed kill
    # lands); they only ever accumulate, never show in reads, and a full vacuum removes them (below)
    assert silver_orphans[-1] >= 1, orphans
    print(f"\nuntracked parquet files after each kill (trades, quarantine): {orphans}")

    # A full vacuum removes them; a plain one does not (it only deletes files the log removed).
    # Reads are unchanged and no untracked file is left.
    for table in (TABLE, "quarantine"):
        dtable = DeltaTable(uri(lake, table))
        untracked = untracked_files(uri(lake, table))
        lite = dtable.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=True)
        assert not untracked & {unquote(p) for p in lite}, f"{table}: a plain vacuum lists untracked files"
        dtable.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False, full=True)
        assert untracked_files(uri(lake, table)) == set()
    assert_same(silver(lake, BIG_EXCHANGE), new[0], "trades after vacuum")
    assert_same(quarantine(lake, BIG_EXCHANGE), new[1], "quarantine after vacuum")
    for table, rows in others.items():
        assert_same(Lake(lake).read(table).filter(pl.col("exchange") != BIG_EXCHANGE), rows, f"{table} after vacuum")
