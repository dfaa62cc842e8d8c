"""The Gold sensor: Gold partitions follow the Silver partitions they read (docs/gold-contract.md).

A custom sensor rather than `AutomationCondition.eager()`, which waits for *every* mapped upstream
partition (every exchange of a date) and for the previous day of a self-dependent asset. Per tick:
- `daily_ohlcv` for every date whose `trades` or `kline_1d` landed;
- the bars of each exchange one day at a time, oldest first (a day's bar open at midnight carries
  into the next day), and the later days that already had bars once a rebuilt day lands;
- `reflexivity_bars` of a partition once its bars landed, and again when the configured spot
  exchange's trades of that day (or the day before: windows start before midnight) land;
- `options_surface_grid` of a partition when its `options_chain` lands, and of the next day when
  that one was built already (it starts from this day's last quote per contract).
"""

# No `from __future__ import annotations`: Dagster inspects these type hints at runtime.

import datetime as dt
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from pointline.reflexivity import reflexivity_settings
from pointline_assets.bars import BAR_ASSETS
from pointline_assets.jobs import GOLD_JOBS, gold_daily_job, gold_job
from pointline_assets.options_grid import OPTIONS_GRID_ASSET, OPTIONS_GRID_ASSETS
from pointline_assets.reflexivity import REFLEXIVITY_ASSET, REFLEXIVITY_ASSETS

GOLD_WAIT_SECONDS = 1800  # give up waiting for a bars run that never lands (failed): the next day is tried
WATCHED_SILVER = ("trades", "kline_1d", "options_chain")
TRIGGER_TAGS = {"pointline/trigger": "gold_sensor"}


@dataclass
class GoldCursor:
    after: int = 0  # storage id of the last Silver materialization looked at
    bars_pending: dict[str, list[str]] = field(default_factory=dict)  # exchange -> ISO dates without fresh bars
    bars_in_flight: dict[str, list] = field(default_factory=dict)  # exchange -> [ISO date, time requested]
    tick: int = 0

    @classmethod
    def load(cls, text: str | None) -> "GoldCursor":
        return cls(**json.loads(text)) if text else cls()

    def dump(self) -> str:
        return json.dumps(vars(self), sort_keys=True, separators=(",", ":"))


class Landed(NamedTuple):
    table: str
    date: str  # ISO
    exchange: str
    rows: int


def _new_silver(instance, after: int) -> tuple[list[Landed], int]:
    """The watched Silver materializations after storage id `after`, oldest first per table, and
    the newest storage id seen."""
    seen, newest = [], after
    for table in WATCHED_SILVER:
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(table), after_storage_id=after or None), limit=10_000, ascending=True
        ).records
        for record in records:
            meta = record.asset_materialization.metadata or {}
            rows = meta["rows_written"].value if "rows_written" in meta else 0
            date, exchange = record.partition_key.split("|")
            seen.append(Landed(table, date, exchange, int(rows)))
            newest = max(newest, record.storage_id)
    return seen, newest


def _materialized_at(instance, asset: str, date: str, exchange: str) -> float | None:
    """When one (date, exchange) partition of a Gold asset last landed, or None."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[f"{date}|{exchange}"]), limit=1
    ).records
    return records[0].timestamp if records else None


def _bars_materialized_at(instance, date: str, exchange: str) -> float | None:
    """The first bars asset stands for all: one run builds every spec of a partition."""
    return _materialized_at(instance, next(iter(BAR_ASSETS)), date, exchange)


def _next_day(date: str) -> str:
    return (dt.date.fromisoformat(date) + dt.timedelta(days=1)).isoformat()


def _request(job_name: str, partition_key: str, run_key: str, assets: list[str] | None = None) -> RunRequest:
    return RunRequest(
        run_key=run_key,
        job_name=job_name,
        partition_key=partition_key,
        asset_selection=[AssetKey(name) for name in assets] if assets else None,
        tags=TRIGGER_TAGS,
    )


def _daily_requests(landed: list[Landed], cursor: GoldCursor) -> list[RunRequest]:
    dates = sorted({item.date for item in landed if item.table in ("trades", "kline_1d")})
    return [_request(gold_daily_job.name, date, f"daily_ohlcv:{date}:{cursor.after}") for date in dates]


def _advance_bars(context: SensorEvaluationContext, cursor: GoldCursor) -> tuple[list[RunRequest], list[Landed]]:
    """Next bars day per exchange (at most one in flight each); returns the requests and the bars
    partitions seen landing this tick."""
    instance, now = context.instance, time.time()
    requests, bars_landed = [], []
    for exchange in sorted(set(cursor.bars_pending) | set(cursor.bars_in_flight)):
        cursor.bars_pending.setdefault(exchange, [])
        if exchange in cursor.bars_in_flight:
            date, requested_at = cursor.bars_in_flight[exchange]
            landed_at = _bars_materialized_at(instance, date, exchange)
            if landed_at is not None and landed_at >= requested_at:
                del cursor.bars_in_flight[exchange]
                bars_landed.append(Landed("bars", date, exchange, 0))
                following = _next_day(date)  # it continued this day's carry: rebuild it too
                if _bars_materialized_at(instance, following, exchange) is not None:
                    cursor.bars_pending[exchange] = sorted(set(cursor.bars_pending[exchange]) | {following})
            elif now - requested_at > GOLD_WAIT_SECONDS:
                context.log.warning(f"bars {date}|{exchange} did not land in {GOLD_WAIT_SECONDS} s; moving on")
                del cursor.bars_in_flight[exchange]
            else:
                continue
        pending = cursor.bars_pending[exchange]
        if not pending:
            continue
        date = pending.pop(0)
        cursor.bars_in_flight[exchange] = [date, now]
        key = f"{date}|{exchange}"
        requests.append(_request(gold_job.name, key, f"bars:{key}:{cursor.tick}", list(BAR_ASSETS)))
    cursor.bars_pending = {ex: dates for ex, dates in cursor.bars_pending.items() if dates}
    return requests, bars_landed


def _bars_settled(instance, cursor: GoldCursor, date: str, exchange: str) -> bool:
    """Bars of the partition exist and no rebuild of them is queued (that one re-triggers)."""
    waiting = set(cursor.bars_pending.get(exchange, []))
    if exchange in cursor.bars_in_flight:
        waiting.add(cursor.bars_in_flight[exchange][0])
    return date not in waiting and _bars_materialized_at(instance, date, exchange) is not None


def _reflexivity_requests(
    instance, cursor: GoldCursor, landed: list[Landed], bars_landed: list[Landed]
) -> list[RunRequest]:
    configured = reflexivity_settings() if REFLEXIVITY_ASSETS else None
    if configured is None:
        return []
    perps_of_spot = defaultdict(list)
    for perp, spot in configured[0].spot_exchanges:
        perps_of_spot[spot].append(perp)
    keys = {f"{item.date}|{item.exchange}" for item in bars_landed}
    for item in landed:
        if item.table != "trades":
            continue
        for perp in perps_of_spot.get(item.exchange, []):
            for day in (item.date, _next_day(item.date)):
                if _bars_settled(instance, cursor, day, perp):
                    keys.add(f"{day}|{perp}")
    return [
        _request(gold_job.name, key, f"{REFLEXIVITY_ASSET}:{key}:{cursor.tick}", [REFLEXIVITY_ASSET])
        for key in sorted(keys)
    ]


def _options_grid_requests(instance, cursor: GoldCursor, landed: list[Landed]) -> list[RunRequest]:
    if not OPTIONS_GRID_ASSETS:
        return []
    keys = set()
    for item in landed:
        if item.table != "options_chain":
            continue
        keys.add(f"{item.date}|{item.exchange}")
        following = _next_day(item.date)
        if _materialized_at(instance, OPTIONS_GRID_ASSET, following, item.exchange) is not None:
            keys.add(f"{following}|{item.exchange}")
    return [
        _request(gold_job.name, key, f"{OPTIONS_GRID_ASSET}:{key}:{cursor.tick}", [OPTIONS_GRID_ASSET])
        for key in sorted(keys)
    ]


@sensor(
    name="gold_sensor",
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    jobs=GOLD_JOBS,
    description=(
        "Rebuilds Gold after Silver lands: daily_ohlcv per date, bars per exchange day by day in date order, "
        "reflexivity_bars after their bars and spot trades, options_surface_grid after options_chain."
    ),
)
def gold_sensor(context: SensorEvaluationContext):
    """Requests the Gold partitions whose Silver inputs landed since the last tick (module
    docstring). A Gold run itself refuses Silver that failed a blocking check."""
    cursor = GoldCursor.load(context.cursor)
    cursor.tick += 1
    landed, cursor.after = _new_silver(context.instance, cursor.after)
    for item in landed:
        if item.table == "trades" and item.rows > 0:
            cursor.bars_pending[item.exchange] = sorted(set(cursor.bars_pending.get(item.exchange, [])) | {item.date})
    requests = _daily_requests(landed, cursor)
    bars_requests, bars_landed = _advance_bars(context, cursor)
    requests += bars_requests
    requests += _reflexivity_requests(context.instance, cursor, landed, bars_landed)
    requests += _options_grid_requests(context.instance, cursor, landed)
    if not requests:
        return SensorResult(skip_reason=SkipReason("no new Silver partitions for Gold"), cursor=cursor.dump())
    return SensorResult(run_requests=requests, cursor=cursor.dump())
