"""The current Delta snapshot of each table, kept open between reads while the table has no new commit.

Opening a `DeltaTable` replays its log (the last checkpoint and every JSON commit after it): about
5-12 ms for a trades table of 31 commits on a 2-core machine, as much as the rest of a one-symbol,
one-hour read (bench/research_queries.py), and `to_pyarrow_dataset()` (what `sql()` hands DuckDB)
costs as much again. Every research read must still see the table's **current** version, so
instead of re-opening, a session checks the log before each read:

* the table is current when no commit newer than the kept snapshot exists (the Delta protocol's
  commits are the contiguous files `_delta_log/<version, 20 digits>.json`, each created
  atomically: one `stat` of the next version's file) and the kept version's commit file is the
  same file it was (inode, size, mtime: a lake deleted and recreated under a live session is
  noticed, whatever its versions);
* otherwise the table is opened anew (exactly the old cost, once per change) and kept.

A kept snapshot is never updated in place: a LazyFrame built on it keeps reading the version it
was built on, and threads never see a table change under them. The pyarrow dataset `sql()`
registers is built once per snapshot. Only local lakes keep snapshots; with `storage_options` or
a URI root every read opens the table, as before. `invalidate()` (`Research.invalidate_cache()`)
forgets them.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deltalake import DeltaTable

from pointline.lake import Lake
from pointline.research.files import FileIndex

__all__ = ["DeltaSnapshots"]

_Identity = tuple[int, int, int]


@dataclass
class _Kept:
    table: DeltaTable
    version: int
    identity: _Identity
    dataset: Any = None
    files: FileIndex | None = None
    indexed: bool = False


def _commit(log: Path, version: int) -> Path:
    return log / f"{version:020d}.json"


def _identity(log: Path, version: int) -> _Identity | None:
    try:
        st = os.stat(_commit(log, version))
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class DeltaSnapshots:
    """`table(name)`: the table's current DeltaTable (None when the lake does not have it), reused
    while the table has no new commit; `dataset(name)`: its pyarrow dataset, built once per version.

    >>> import pointline.research as pr
    >>> from pointline.research.snapshots import DeltaSnapshots
    >>> snapshots = DeltaSnapshots(pr.current().lake)
    >>> snapshots.table("trades") is snapshots.table("trades")   # no commit in between: the same snapshot
    True
    >>> snapshots.stats
    {'opens': 1, 'reuses': 1}
    """

    def __init__(self, lake: Lake):
        self.lake = lake
        self.stats = {"opens": 0, "reuses": 0}
        self._kept: dict[str, _Kept] = {}
        self._lock = threading.Lock()
        self._table_locks: dict[str, threading.Lock] = {}

    @property
    def keeps(self) -> bool:
        """Whether snapshots are kept (a local lake); object stores open the table on every read."""
        return not self.lake.storage_options and "://" not in self.lake.root

    def table(self, name: str) -> DeltaTable | None:
        kept = self._current(name)
        return None if kept is None else kept.table

    def dataset(self, name: str) -> Any:
        """The snapshot's `to_pyarrow_dataset()` (the files of its version), None without the table."""
        kept = self._current(name)
        if kept is None:
            return None
        with self._table_lock(name):
            if kept.dataset is None:
                kept.dataset = kept.table.to_pyarrow_dataset()
            return kept.dataset

    def file_index(self, name: str) -> FileIndex | None:
        """The snapshot's file index (`pointline.research.files`), built once per version; None
        without the table, off a local lake, or where the fast path does not apply."""
        kept = self._current(name)
        if kept is None or not self.keeps:
            return None
        with self._table_lock(name):
            if not kept.indexed:
                kept.files, kept.indexed = FileIndex.of(kept.table), True
            return kept.files

    def invalidate(self, name: str | None = None) -> None:
        """Forget kept snapshots (one table or all); the next read opens the table."""
        with self._lock:
            if name is None:
                self._kept.clear()
            else:
                self._kept.pop(name, None)

    def _current(self, name: str) -> _Kept | None:
        if not self.keeps:
            dtable = self.lake.delta_table(name)
            return None if dtable is None else _Kept(dtable, dtable.version(), (0, 0, 0))
        log = Path(self.lake.uri(name)) / "_delta_log"
        with self._table_lock(name):
            kept = self._kept.get(name)
            if (
                kept is not None
                and not _commit(log, kept.version + 1).exists()
                and _identity(log, kept.version) == kept.identity
            ):
                self.stats["reuses"] += 1
                return kept
            dtable = self.lake.delta_table(name)
            self.stats["opens"] += 1
            identity = None if dtable is None else _identity(log, dtable.version())
            if dtable is None or identity is None:
                with self._lock:
                    self._kept.pop(name, None)
                return None if dtable is None else _Kept(dtable, dtable.version(), (0, 0, 0))
            kept = _Kept(dtable, dtable.version(), identity)
            with self._lock:
                self._kept[name] = kept
            return kept

    def _table_lock(self, name: str) -> threading.Lock:
        with self._lock:
            return self._table_locks.setdefault(name, threading.Lock())
