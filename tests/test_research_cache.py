"""Dimension caching: read once per TTL, revalidated by Delta version, invalidated on request, thread-safe."""

from __future__ import annotations

import threading
import time
from collections import Counter

import polars as pl
import pytest

import pointline.research as pr
from pointline.research.cache import VersionedTTLCache
from tests.research_lake import SZ_SYMBOL, SZSE, szse_dim_symbol, write_shanghai_lake


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def counted(tmp_path, monkeypatch):
    """A session on a fresh Shanghai lake whose dimension reads and version lookups are counted."""
    clock = FakeClock()
    research = pr.Research(write_shanghai_lake(tmp_path / "lake"), cache_ttl=60, clock=clock)
    reads: Counter[str] = Counter()
    versions: Counter[str] = Counter()
    read, version = research.lake.read, research.lake.version

    def counting_read(table, *args, **kwargs):
        reads[table] += 1
        return read(table, *args, **kwargs)

    def counting_version(table):
        versions[table] += 1
        return version(table)

    monkeypatch.setattr(research.lake, "read", counting_read)
    monkeypatch.setattr(research.lake, "version", counting_version)
    return research, clock, reads, versions


def _query(research: pr.Research) -> pl.DataFrame:
    return research.trades(SZSE, SZ_SYMBOL, "2024-05-01", "2024-05-02")


def test_a_hundred_queries_read_each_dimension_once(counted):
    research, _, reads, versions = counted
    for _ in range(100):
        assert _query(research).height == 2  # the Shanghai trading day 2024-05-01
        research.list_symbols(SZSE)
    assert reads["dim_symbol"] == reads["dim_exchange"] == 1
    assert versions["dim_symbol"] == versions["dim_exchange"] == 1  # no log lookups inside the TTL
    assert research.cache.stats.loads == 2


def test_after_the_ttl_an_unchanged_version_is_revalidated_not_reread(counted):
    research, clock, reads, versions = counted
    _query(research)
    clock.now += 59.9
    _query(research)
    assert versions["dim_symbol"] == 1
    clock.now += 0.2  # TTL over
    _query(research)
    assert versions["dim_symbol"] == 2 and reads["dim_symbol"] == 1
    assert research.cache.stats.revalidations == 2  # dim_symbol and dim_exchange


def test_a_new_delta_version_is_loaded_once_the_ttl_is_over(counted):
    research, clock, reads, _ = counted
    assert research.list_symbols(SZSE, all_versions=True).height == 2
    changed = szse_dim_symbol().filter(pl.col("valid_until_us") == pl.col("valid_until_us").max())
    research.lake.replace_table("dim_symbol", changed)  # the table changes under the session
    assert research.list_symbols(SZSE, all_versions=True).height == 2  # inside the TTL: cached
    clock.now += 61
    assert research.list_symbols(SZSE, all_versions=True).height == 1  # new version seen
    assert reads["dim_symbol"] == 2


def test_invalidate_cache_forces_a_reread(counted):
    research, _, reads, _ = counted
    _query(research)
    research.invalidate_cache("dim_symbol")
    _query(research)
    assert reads["dim_symbol"] == 2 and reads["dim_exchange"] == 1
    research.invalidate_cache()
    _query(research)
    assert reads["dim_symbol"] == 3 and reads["dim_exchange"] == 2


def test_module_level_invalidate_cache_reaches_the_default_session(tmp_path):
    previous = pr.current()
    try:
        session = pr.use_lake(write_shanghai_lake(tmp_path / "lake"))
        assert pr.current() is session
        pr.dim_symbol()
        loads = session.cache.stats.loads
        pr.invalidate_cache()
        pr.dim_symbol()
        assert session.cache.stats.loads == loads + 1
    finally:
        pr.use_lake(previous)


def test_concurrent_cold_reads_load_once():
    loads = []
    cache = VersionedTTLCache(ttl=60)

    def load(version):
        loads.append(version)
        time.sleep(0.05)  # a slow read: every thread arrives while it runs
        return f"value@{version}"

    results: list[str] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(cache.get("dim_symbol", lambda: 7, load))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == [7]
    assert results == ["value@7"] * 8


def test_unknown_versions_reload_after_the_ttl():
    clock = FakeClock()
    cache = VersionedTTLCache(ttl=10, clock=clock)
    n = iter(range(100))
    assert cache.get("t", lambda: None, lambda v: next(n)) == 0
    assert cache.get("t", lambda: None, lambda v: next(n)) == 0
    clock.now += 10
    assert cache.get("t", lambda: None, lambda v: next(n)) == 1  # a missing table is re-checked, not pinned


def test_default_session_uses_the_lake_resource_default(monkeypatch, tmp_path):
    from pointline.config import default_lake_root
    from resources.lake import LakeResource

    monkeypatch.setenv("POINTLINE_LAKE_ROOT", str(tmp_path / "elsewhere"))
    assert pr.Research().lake.root == str(tmp_path / "elsewhere") == default_lake_root()
    assert LakeResource().resolved_lake_root() == pr.Research().lake.root
    monkeypatch.delenv("POINTLINE_LAKE_ROOT")
    assert pr.Research().lake.root == LakeResource().resolved_lake_root() == default_lake_root()
    assert pr.Research(tmp_path, storage_options={"timeout": "5s"}).lake.storage_options == {"timeout": "5s"}
