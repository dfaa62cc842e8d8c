"""The Bronze sensor: a file that lands is in Silver without anyone clicking.

Each tick it discovers Bronze files through the vendor plugins and compares them with the
cursor (size, mtime, then sha256 only for files whose stats moved). It keeps the exchange
partitions in sync with config/exchanges.csv, requests dim_exchange / dim_symbol when their
sources change, and requests exactly the Silver partitions that changed files feed. Event
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

import polars as pl
from dagster import (
    AddDynamicPartitionsRequest,
    AssetKey,
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
from pointline_assets.events import EVENT_TABLES, is_exchange_scoped
from pointline_assets.jobs import ALL_JOBS, daily_job, dimensions_job, silver_job
from pointline_assets.partitions import EXCHANGE_PARTITIONS_NAME, daily_partitions, partition_key
from resources.lake import LakeResource
from resources.vendors import VendorsResource
from vendors.base import BronzeFile

DIM_WAIT_SECONDS = 600  # stop holding Silver requests back if a dimension run never lands
HASH_BUDGET_BYTES = 8 << 30  # sha256 at ~1 GB/s: a tick stays far below Dagster's 60 s sensor timeout


@dataclass
class Cursor:
    files: dict[str, list] = field(default_factory=dict)  # rel_path -> [size, mtime_ns, sha256]
    references: str = ""  # fingerprint of the files feeding dim_symbol
    exchanges_config: str = ""  # sha256 of config/exchanges.csv
    waiting_for: dict[str, float] = field(default_factory=dict)  # dim asset -> time requested
    tick: int = 0  # evaluations so far: part of every run key, so a state seen before is requested again
    unrecognized: list[str] = field(default_factory=list)  # files no plugin could place, already reported

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
                asset_selection=[AssetKey("dim_exchange")],
            )
        )
        cursor.exchanges_config = config_hash
        cursor.waiting_for["dim_exchange"] = now

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
        (f, table)
        for plugin in vendors.plugins()
        for f in plugin.discover(bronze_root)
        for dtype, table in plugin.routes().items()
        if f.data_type == dtype and table in EVENT_TABLES  # e.g. kline intervals not configured as tables
    ]
    unique_files = sorted({f.rel_path: f for f, _ in routed}.values(), key=lambda f: f.rel_path)
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
    for f, table in routed:
        if f.rel_path not in changed_paths:
            continue
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

    for key in sorted(by_partition):
        run_key = hashlib.sha256(
            f"{cursor.tick}|{key}|{sorted(digests[key])}|{sorted(by_partition[key])}".encode()
        ).hexdigest()
        run_requests.append(
            RunRequest(
                run_key=run_key,
                job_name=silver_job.name if "|" in key else daily_job.name,
                partition_key=key,
                asset_selection=[AssetKey(t) for t in sorted(by_partition[key])],
                tags={"pointline/trigger": "bronze_sensor"},
            )
        )
    if not run_requests and not missing_partitions:
        return SensorResult(skip_reason=SkipReason("no new or changed Bronze files"), cursor=cursor.dump())
    return SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=_partition_requests(missing_partitions),
        cursor=cursor.dump(),
    )


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
