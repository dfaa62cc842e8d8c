"""The Bronze sensor: a file that lands is in Silver without anyone clicking.

Each tick it discovers Bronze files through the vendor plugins and compares them with the
cursor (size, mtime, then sha256 only for files whose stats moved). It keeps the exchange
partitions in sync with config/exchanges.csv, requests dim_exchange (with dim_trading_calendar,
which it feeds) / dim_symbol when their sources change, and requests exactly the Silver
partitions that changed files feed. Event
partitions wait while a dimension run it requested has not materialized yet, so rows are
not quarantined for a symbol whose metadata landed in the same batch; and when new instrument
metadata lands, partitions holding rows quarantined for a symbol it now knows are re-ingested.
"""

# No `from __future__ import annotations`: Dagster inspects these type hints at runtime.

import datetime as dt
import hashlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import polars as pl
from dagster import (
    AddDynamicPartitionsRequest,
    AssetKey,
    AssetObservation,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from pointline.config import config_dir, load_exchanges, settings
from pointline.lake import Lake
from pointline.pipeline import MISSING_SYMBOL, sha256_file
from pointline.schemas import get_table_spec
from pointline.trading_day import dates_overlapping
from pointline_assets.bronze import bronze_key
from pointline_assets.events import DATA_VERSION_TAG, EVENT_TABLES
from pointline_assets.jobs import ALL_JOBS, daily_job, dimensions_job, silver_job, unpack_job
from pointline_assets.partitions import EXCHANGE_PARTITIONS_NAME, daily_partitions, is_exchange_scoped, partition_key
from pointline_assets.unpack import unpack_key
from resources.lake import LakeResource
from resources.vendors import VendorsResource
from vendors.base import BronzeFile

DIM_WAIT_SECONDS = 600  # stop holding Silver requests back if a dimension run never lands
MAX_DAYS_PER_RUN = 31  # a sensor run covers at most a month: bounded retries, visible progress
# The run tags of a single-run backfill range (what the UI and `--partition-range` set).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
HASH_BUDGET_BYTES = 8 << 30  # sha256 at ~1 GB/s: a tick stays far below Dagster's 60 s sensor timeout


@dataclass
class Cursor:
    files: dict[str, list] = field(default_factory=dict)  # rel_path -> [size, mtime_ns, sha256]
    references: str = ""  # fingerprint of the files feeding dim_symbol
    exchanges_config: str = ""  # sha256 of config/exchanges.csv
    waiting_for: dict[str, float] = field(default_factory=dict)  # dim asset -> time requested
    tick: int = 0  # evaluations so far: part of every run key, so a state seen before is requested again
    unrecognized: list[str] = field(default_factory=list)  # files no plugin could place, already reported
    unpack_pending: dict[str, list[str]] = field(default_factory=dict)  # vendor -> archives pending at its request

    @classmethod
    def load(cls, text: str | None) -> "Cursor":
        return cls(**json.loads(text)) if text else cls()

    def dump(self) -> str:
        return json.dumps(vars(self), sort_keys=True, separators=(",", ":"))


def _changed(
    files: list[BronzeFile], seen: dict[str, list], budget_bytes: int
) -> tuple[list[BronzeFile], dict[str, list], bool]:
    """Files that are new or whose content changed, their fresh cursor entries, and whether the
    hashing budget ran out (the rest are looked at next tick, so a tick stays well inside the
    sensor's time limit even when a large archive lands at once)."""
    changed, entries, hashed = [], {}, 0
    for f in files:
        old = seen.get(f.rel_path)
        if old and old[0] == f.size and old[1] == f.mtime_ns:
            continue
        if hashed and hashed + f.size > budget_bytes:
            return changed, entries, True
        hashed += f.size
        digest = sha256_file(f.path)
        entries[f.rel_path] = [f.size, f.mtime_ns, digest]
        if not old or old[2] != digest:
            changed.append(f)
    return changed, entries, False


def _references_fingerprint(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for p in sorted(paths):
        st = p.stat()
        digest.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _dims_landed(context: SensorEvaluationContext, cursor: Cursor) -> set[str]:
    """Requested dimension runs that have now materialized; those still pending stay in the cursor
    (a request older than DIM_WAIT_SECONDS is given up so Silver is never held back for good)."""
    landed = set()
    for asset_name, requested_at in list(cursor.waiting_for.items()):
        event = context.instance.get_latest_materialization_event(AssetKey(asset_name))
        if event is not None and event.timestamp >= requested_at:
            landed.add(asset_name)
            del cursor.waiting_for[asset_name]
        elif time.time() - requested_at > DIM_WAIT_SECONDS:
            del cursor.waiting_for[asset_name]
    return landed


def _partitions_to_heal(lake: Lake) -> dict[str, set[str]]:
    """Partitions holding rows quarantined for a symbol that dim_symbol now knows: re-ingesting
    them moves those rows into Silver once late instrument metadata arrives."""
    missing = lake.read("quarantine", pl.col("reason") == MISSING_SYMBOL).select(
        "table_name", "date", "exchange", "symbol"
    )
    if missing.is_empty():
        return {}
    known = lake.read("dim_symbol").select("exchange", pl.col("exchange_symbol").alias("symbol")).unique()
    healable = missing.join(known, on=["exchange", "symbol"]).select("table_name", "date", "exchange").unique()
    out: dict[str, set[str]] = defaultdict(set)
    for table, date, exchange in healable.iter_rows():
        out[str(partition_key(date, exchange))].add(table)
    return out


@sensor(
    name="bronze_sensor",
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    jobs=ALL_JOBS,
    description="Watches the Bronze root and requests exactly the partitions that new or changed files feed.",
)
def bronze_sensor(context: SensorEvaluationContext, lake: LakeResource, vendors: VendorsResource):
    cursor = Cursor.load(context.cursor)
    cursor.tick += 1
    bronze_root = lake.resolved_bronze_root()
    exchanges = load_exchanges()
    timezones = dict(exchanges.select("exchange", "timezone").iter_rows())
    have = set(context.instance.get_dynamic_partitions(EXCHANGE_PARTITIONS_NAME))
    missing_partitions = sorted(set(timezones) - have)
    run_requests: list[RunRequest] = []
    now = time.time()

    config_hash = sha256_file(config_dir() / "exchanges.csv")
    if config_hash != cursor.exchanges_config:
        run_requests.append(
            RunRequest(
                run_key=f"dim_exchange:{config_hash}:{cursor.tick}",
                job_name=dimensions_job.name,
                asset_selection=[AssetKey("dim_exchange"), AssetKey("dim_trading_calendar")],
            )
        )
        cursor.exchanges_config = config_hash
        cursor.waiting_for["dim_exchange"] = now

    run_requests += _unpack_requests(vendors.plugins(), bronze_root, cursor)
    _report_unrecognized(context, cursor, [p for plugin in vendors.plugins() for p in plugin.unrecognized(bronze_root)])
    references = [p for plugin in vendors.plugins() for p in plugin.reference_files(bronze_root)]
    ref_hash = _references_fingerprint(references)
    if ref_hash != cursor.references:
        run_requests.append(
            RunRequest(
                run_key=f"dim_symbol:{ref_hash}:{cursor.tick}",
                job_name=dimensions_job.name,
                asset_selection=[AssetKey("dim_symbol")],
            )
        )
        cursor.references = ref_hash
        cursor.waiting_for["dim_symbol"] = now

    landed = _dims_landed(context, cursor)
    if cursor.waiting_for:
        context.log.info(f"waiting for {sorted(cursor.waiting_for)} before requesting Silver partitions")
        return SensorResult(
            run_requests=run_requests,
            dynamic_partitions_requests=_partition_requests(missing_partitions),
            cursor=cursor.dump(),
        )

    routed = [
        Routed(plugin.name, f, table)
        for plugin in vendors.plugins()
        for f in plugin.discover(bronze_root)
        for dtype, table in plugin.routes().items()
        if f.data_type == dtype and table in EVENT_TABLES  # e.g. kline intervals not configured as tables
    ]
    unique_files = sorted({r.file.rel_path: r.file for r in routed}.values(), key=lambda f: f.rel_path)
    changed, entries, more = _changed(unique_files, cursor.files, HASH_BUDGET_BYTES)
    if more:
        context.log.info("hashing budget reached: the remaining new Bronze files are looked at next tick")
    changed_paths = {f.rel_path for f in changed}
    first_day = settings().partition_start
    last_day = dt.date.fromisoformat(daily_partitions.get_last_partition_key())  # today, UTC
    by_partition: dict[str, set[str]] = defaultdict(set)
    digests: dict[str, list[str]] = defaultdict(list)
    if "dim_symbol" in landed:
        for key, tables in _partitions_to_heal(lake.lake()).items():
            by_partition[key] |= tables
            digests[key].append("heal")
    touched: set[tuple[str, str]] = set()  # (vendor, table) with changed files
    for vendor, f, table in routed:
        if f.rel_path not in changed_paths:
            continue
        touched.add((vendor, table))
        scoped = is_exchange_scoped(get_table_spec(table))
        if scoped and f.exchange not in timezones:
            context.log.warning(f"{f.rel_path}: exchange {f.exchange!r} is not in config/exchanges.csv; skipped")
            entries.pop(f.rel_path, None)  # re-evaluate once the exchange is added
            continue
        for date in dates_overlapping(f.window_start_us, f.window_end_us, timezones[f.exchange] if scoped else "UTC"):
            if date > last_day:  # its day has no partition yet: look again on a later tick
                entries.pop(f.rel_path, None)
                continue
            if date < first_day:
                context.log.warning(f"{f.rel_path}: {date} is before the lake's first partition {first_day}; skipped")
                continue
            key = str(partition_key(date, f.exchange)) if scoped else date.isoformat()
            by_partition[key].add(table)
            digests[key].append(entries[f.rel_path][2])
    cursor.files.update(entries)
    observations = _bronze_observations(
        [r for r in routed if (r.vendor, r.table) in touched], cursor.files, timezones, set(by_partition)
    )

    run_requests += _silver_requests(by_partition, digests, cursor.tick)
    if not run_requests and not missing_partitions:
        return SensorResult(skip_reason=SkipReason("no new or changed Bronze files"), cursor=cursor.dump())
    return SensorResult(
        run_requests=run_requests,
        asset_events=observations,
        dynamic_partitions_requests=_partition_requests(missing_partitions),
        cursor=cursor.dump(),
    )


class Routed(NamedTuple):
    """A Bronze file and a table it feeds, through the route of the vendor that found it."""

    vendor: str
    file: BronzeFile
    table: str


def _bronze_observations(
    routed: list[Routed], digests: dict[str, list], timezones: dict[str, str], requested: set[str]
) -> list[AssetObservation]:
    """A data version for each requested partition of `bronze/<vendor>/<table>`: the sha256 of
    every file of that vendor feeding it (path and content hash). Recorded before the run that
    rebuilds the partition, so the UI shows the Silver partition stale until that run lands, and
    the run's provenance then holds the new version."""
    files: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for vendor, f, table in routed:
        if f.rel_path not in digests:  # not hashed yet (budget): observed on the tick that hashes it
            continue
        scoped = is_exchange_scoped(get_table_spec(table))
        if scoped and f.exchange not in timezones:
            continue
        for date in dates_overlapping(f.window_start_us, f.window_end_us, timezones[f.exchange] if scoped else "UTC"):
            key = str(partition_key(date, f.exchange)) if scoped else date.isoformat()
            if key in requested:
                files[(vendor, table, key)].append(f"{f.rel_path}:{digests[f.rel_path][2]}")
    return [
        AssetObservation(
            asset_key=bronze_key(vendor, table),
            partition=key,
            tags={DATA_VERSION_TAG: hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()[:32]},
            metadata={"files": len(entries)},
        )
        for (vendor, table, key), entries in sorted(files.items())
    ]


def _silver_requests(by_partition: dict[str, set[str]], digests: dict[str, list[str]], tick: int) -> list[RunRequest]:
    """Consecutive days of one exchange that need the same tables become one run, a single-run
    backfill range (at most MAX_DAYS_PER_RUN days): a month of files landing at once is one run,
    not thirty runs each paying Dagster's fixed per-run cost."""
    groups: dict[tuple[str, tuple[str, ...]], list[dt.date]] = defaultdict(list)
    for key, tables in by_partition.items():
        date_text, _, exchange = key.partition("|")
        groups[(exchange, tuple(sorted(tables)))].append(dt.date.fromisoformat(date_text))
    requests = []
    for (exchange, tables), dates in sorted(groups.items()):
        for days in _consecutive_runs(sorted(dates), MAX_DAYS_PER_RUN):
            keys = [f"{d.isoformat()}|{exchange}" if exchange else d.isoformat() for d in days]
            fingerprint = [sorted(digests[k]) for k in keys]
            run_key = hashlib.sha256(f"{tick}|{keys}|{fingerprint}|{list(tables)}".encode()).hexdigest()
            if len(keys) == 1:
                partition, tags = keys[0], {}
            else:
                partition, tags = None, {RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]}
            requests.append(
                RunRequest(
                    run_key=run_key,
                    job_name=silver_job.name if exchange else daily_job.name,
                    partition_key=partition,
                    asset_selection=[AssetKey(t) for t in tables],
                    tags={**tags, "pointline/trigger": "bronze_sensor"},
                )
            )
    return requests


def _consecutive_runs(dates: list[dt.date], longest: int) -> list[list[dt.date]]:
    """Split sorted dates into runs of consecutive days, none longer than `longest`."""
    runs: list[list[dt.date]] = []
    for day in dates:
        if runs and day - runs[-1][-1] == dt.timedelta(days=1) and len(runs[-1]) < longest:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def _unpack_requests(plugins: list, bronze_root: Path, cursor: Cursor) -> list[RunRequest]:
    """A run of `bronze/<vendor>/unpacked` when an archive waits to be unpacked that did not at
    the last request (new, or replaced: its size or mtime is part of the entry). An archive that
    cannot be unpacked stays pending without being retried every tick; its check reports it."""
    requests = []
    for plugin in plugins:
        pending_unpack = getattr(plugin, "pending_unpack", None)
        if not callable(pending_unpack):
            continue
        pending = pending_unpack(bronze_root)
        if set(pending) - set(cursor.unpack_pending.get(plugin.name, [])):
            digest = hashlib.sha256("\n".join(pending).encode()).hexdigest()[:16]
            requests.append(
                RunRequest(
                    run_key=f"unpack:{plugin.name}:{digest}:{cursor.tick}",
                    job_name=unpack_job.name,
                    asset_selection=[unpack_key(plugin.name)],
                    tags={"pointline/trigger": "bronze_sensor"},
                )
            )
        cursor.unpack_pending[plugin.name] = pending
    return requests


def _report_unrecognized(context: SensorEvaluationContext, cursor: Cursor, paths: list[Path]) -> None:
    """Warn once about files in the Bronze tree that no vendor plugin recognizes (typos, partial downloads)."""
    names = sorted(str(p) for p in paths)
    new = sorted(set(names) - set(cursor.unrecognized))
    if new:
        shown = ", ".join(new[:5]) + (f" and {len(new) - 5} more" if len(new) > 5 else "")
        context.log.warning(f"{len(new)} Bronze file(s) not recognized by any vendor plugin: {shown}")
    cursor.unrecognized = names


def _partition_requests(missing: list[str]) -> list[AddDynamicPartitionsRequest]:
    return [AddDynamicPartitionsRequest(EXCHANGE_PARTITIONS_NAME, missing)] if missing else []
