"""A small thread-safe TTL cache for dimension tables, keyed by the table's Delta version.

A notebook that runs 100 queries needs dim_symbol and dim_exchange 100 times; reading them once
is enough as long as they do not change. Each entry remembers the value, the Delta version it
was read at and when that was last confirmed:

* younger than `ttl` seconds: returned as is (no I/O at all);
* older: the table's current Delta version is looked up (one log listing, no data read); the
  same version refreshes the entry's age and returns it, a new version reloads the table;
* `invalidate()` (one key or all) forgets entries, so the next access reloads.

The clock is injectable (tests advance a fake clock instead of sleeping). Loads of one key are
serialized (two threads asking for a cold dim_symbol read it once); different keys do not wait
for each other.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CacheStats", "VersionedTTLCache"]


@dataclass
class CacheStats:
    """Counters: `hits` (fresh entries), `revalidations` (version unchanged after the TTL), `loads`."""

    hits: int = 0
    revalidations: int = 0
    loads: int = 0


@dataclass
class _Entry:
    value: Any
    version: Hashable
    confirmed_at: float


@dataclass
class VersionedTTLCache:
    """`get(key, version_of, load)`: the cached value of `key`, reloaded when its version changes.

    >>> from pointline.research.cache import VersionedTTLCache
    >>> now = [0.0]
    >>> cache = VersionedTTLCache(ttl=60, clock=lambda: now[0])
    >>> version = [1]
    >>> cache.get("dim", lambda: version[0], lambda v: f"rows at version {v}")
    'rows at version 1'
    >>> version[0] = 2  # the table changed, but the entry is younger than the TTL
    >>> cache.get("dim", lambda: version[0], lambda v: f"rows at version {v}")
    'rows at version 1'
    >>> now[0] = 61.0  # TTL over: the version is checked and the new one loaded
    >>> cache.get("dim", lambda: version[0], lambda v: f"rows at version {v}")
    'rows at version 2'
    >>> cache.stats
    CacheStats(hits=1, revalidations=0, loads=2)
    """

    ttl: float = 300.0
    clock: Callable[[], float] = time.monotonic
    stats: CacheStats = field(default_factory=CacheStats)
    _entries: dict[Hashable, _Entry] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _key_locks: dict[Hashable, threading.Lock] = field(default_factory=dict, repr=False)

    def get(self, key: Hashable, version_of: Callable[[], Hashable], load: Callable[[Hashable], Any]) -> Any:
        """The value of `key`; `version_of()` is the source's current version (None: unknown, always
        reload after the TTL) and `load(version)` reads the source at that version."""
        entry = self._fresh(key)
        if entry is not None:
            return entry.value
        with self._key_lock(key):
            entry = self._fresh(key)  # another thread may have loaded it while we waited
            if entry is not None:
                return entry.value
            version = version_of()
            with self._lock:
                old = self._entries.get(key)
                if old is not None and version is not None and old.version == version:
                    old.confirmed_at = self.clock()
                    self.stats.revalidations += 1
                    return old.value
            value = load(version)
            with self._lock:
                self._entries[key] = _Entry(value, version, self.clock())
                self.stats.loads += 1
            return value

    def invalidate(self, key: Hashable | None = None) -> None:
        """Forget `key` (every key when None); the next `get` reloads it."""
        with self._lock:
            if key is None:
                self._entries.clear()
            else:
                self._entries.pop(key, None)

    def _fresh(self, key: Hashable) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and self.clock() - entry.confirmed_at < self.ttl:
                self.stats.hits += 1
                return entry
            return None

    def _key_lock(self, key: Hashable) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())
