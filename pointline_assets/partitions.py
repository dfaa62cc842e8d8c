"""Partitions shared by every Silver table: trading date x exchange.

The exchange dimension is dynamic and mirrors dim_exchange (config/exchanges.csv): the
dim_exchange asset and the Bronze sensor add missing keys. Multi-partition keys order
dimensions by name, so a key reads `2024-05-01|binance-futures`.
"""

from __future__ import annotations

import datetime as dt

from dagster import (
    DagsterInstance,
    DailyPartitionsDefinition,
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
)

from pointline.config import settings
from pointline.schemas import TableSpec

EXCHANGE_PARTITIONS_NAME = "exchange"

exchange_partitions = DynamicPartitionsDefinition(name=EXCHANGE_PARTITIONS_NAME)
daily_partitions = DailyPartitionsDefinition(start_date=settings().partition_start.isoformat(), end_offset=1)
event_partitions = MultiPartitionsDefinition({"date": daily_partitions, "exchange": exchange_partitions})


def is_exchange_scoped(spec: TableSpec) -> bool:
    """Partitioned by (date, exchange), not by date alone."""
    return "exchange" in spec.partition_by


def partitions_for(spec: TableSpec) -> MultiPartitionsDefinition | DailyPartitionsDefinition:
    return event_partitions if is_exchange_scoped(spec) else daily_partitions


def partition_key(date: dt.date, exchange: str) -> MultiPartitionKey:
    return MultiPartitionKey({"date": date.isoformat(), "exchange": exchange})


def split_partition_key(key: str | MultiPartitionKey) -> tuple[dt.date, str]:
    """`2024-05-01|binance` -> (date(2024, 5, 1), 'binance')."""
    if isinstance(key, MultiPartitionKey):
        dims = key.keys_by_dimension
    else:
        date_text, exchange = str(key).split("|", 1)
        dims = {"date": date_text, "exchange": exchange}
    return dt.date.fromisoformat(dims["date"]), dims["exchange"]


def sync_exchange_partitions(instance: DagsterInstance, exchanges: list[str]) -> list[str]:
    """Add exchange partition keys that are missing; never delete (history stays addressable)."""
    have = set(instance.get_dynamic_partitions(EXCHANGE_PARTITIONS_NAME))
    missing = sorted(set(exchanges) - have)
    if missing:
        instance.add_dynamic_partitions(EXCHANGE_PARTITIONS_NAME, missing)
    return missing
