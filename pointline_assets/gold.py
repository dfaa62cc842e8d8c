"""Gold assets: tables derived from blocking-checked Silver (docs/gold-contract.md).

`daily_ohlcv` (this module) is partitioned by date and reads the kline_1d and trades partitions of
every exchange for that date (a MultiToSingleDimensionPartitionMapping on the date dimension);
the bars family lives in pointline_assets/bars.py. Both use the helpers here to keep bad Silver
out across runs: within a run Dagster skips a Gold asset whose Silver partition failed a blocking
check, and in a later run a Gold asset refuses (fails) a Silver partition whose latest
materialization failed one. The building itself is pointline/gold.py and pointline/bars.py.
"""

# No `from __future__ import annotations`: Dagster inspects these type hints at runtime.

import datetime as dt
import json

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    BackfillPolicy,
    DagsterEventType,
    DagsterInstance,
    DataVersion,
    EventLogRecord,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    MultiToSingleDimensionPartitionMapping,
    asset,
)

from pointline.config import settings
from pointline.gold import (
    DAILY_OHLCV_CHECKS,
    DAILY_OHLCV_CODE_VERSION,
    KLINE_SOURCE,
    TRADES_SOURCE,
    CheckOutcome,
    GoldCheck,
    SourcePartition,
    build_daily_ohlcv,
    check_daily_ohlcv,
    data_version,
    klines_daily,
    trades_daily,
)
from pointline.lake import Lake
from pointline.pipeline import PartitionInputError, exchange_row
from pointline.schemas import DAILY_OHLCV, get_table_spec
from pointline_assets.metadata import iso_us, markdown_table, table_metadata
from pointline_assets.partitions import daily_partitions
from resources.lake import LakeResource

GOLD_GROUP = "gold"
DATA_VERSION_TAG = "dagster/data_version"


def gold_freshness(table: str) -> FreshnessPolicy:
    """How late a Gold table may be before the UI flags it (config/lake.toml [freshness])."""
    warn, fail = settings().freshness(table)
    return FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=fail), warn_window=dt.timedelta(hours=warn))


def gold_check_specs(asset_name: str, checks: dict[str, GoldCheck]) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(name, asset=asset_name, description=check.description, blocking=check.blocking)
        for name, check in checks.items()
    ]


def gold_check_results(outcomes: dict[str, CheckOutcome], checks: dict[str, GoldCheck]) -> list[AssetCheckResult]:
    return [
        AssetCheckResult(
            check_name=name,
            passed=outcome.passed,
            severity=AssetCheckSeverity.WARN if checks[name].warn_only else AssetCheckSeverity.ERROR,
            description=outcome.description,
            metadata=outcome.metadata,
        )
        for name, outcome in outcomes.items()
    ]


# ---- upstream partitions: lineage and the cross-run blocking guard ----------------------------
def latest_materialization(instance: DagsterInstance, asset: str, partition: str) -> EventLogRecord | None:
    """The latest materialization record of one partition of an asset (None if never materialized)."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    return records[0] if records else None


def failed_blocking_checks(instance: DagsterInstance, record: EventLogRecord, asset: str) -> list[str]:
    """Blocking checks of `asset` that failed for the partition of `record`, in the run that wrote it.

    A run of one partition has that partition's evaluations. A single-run backfill range records
    one evaluation per check for the whole range, naming the partitions it failed on in its
    `failed_partitions` metadata (pointline_assets/events.py): only those count here."""
    partition = record.partition_key
    failed = set()
    for entry in instance.all_logs(record.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data  # type: ignore[union-attr]
        if evaluation.asset_key != AssetKey(asset) or not evaluation.blocking or evaluation.passed:
            continue
        per_partition = evaluation.metadata.get("failed_partitions")
        if per_partition is None or partition in per_partition.value:
            failed.add(evaluation.check_name)
    return sorted(failed)


def record_data_version(record: EventLogRecord | None) -> str | None:
    """The partition's own data version: its `data_version` metadata when present (a range run
    records one Dagster data version for all its partitions, each partition's own is in its
    metadata), else Dagster's data version tag."""
    if record is None:
        return None
    materialization = record.asset_materialization
    own = (materialization.metadata or {}).get("data_version")  # type: ignore[union-attr]
    if own is not None and own.value:
        return str(own.value)
    return (materialization.tags or {}).get(DATA_VERSION_TAG)  # type: ignore[union-attr]


def source_partition(instance: DagsterInstance, lake: Lake, table: str, partition: str) -> SourcePartition:
    """The lineage of one upstream partition; raises Failure when its latest materialization failed a
    blocking check (the data is in the lake, but Gold must not build on it)."""
    record = latest_materialization(instance, table, partition)
    if record is not None:
        failed = failed_blocking_checks(instance, record, table)
        if failed:
            raise Failure(
                description=(
                    f"{table} {partition}: its latest materialization (run {record.run_id}) failed blocking "
                    f"check(s) {failed}; Gold does not read it. Fix the input and re-materialize {table} "
                    f"{partition}, then this partition."
                ),
                metadata={"blocked_partition": f"{table} {partition}", "failed_checks": failed},
            )
    return SourcePartition(table, partition, record_data_version(record), lake.version(table))


def gold_result(
    rows: pl.DataFrame,
    *,
    uri: str,
    time_column: str,
    sources: list[SourcePartition],
    version: str,
    outcomes: dict[str, CheckOutcome],
    checks: dict[str, GoldCheck],
    **details: object,
) -> MaterializeResult:
    """What a (date, exchange) Gold partition reports: row count, location, the asset's own
    figures (`details`), time range, lineage to its inputs, data version, a preview and its checks."""
    return MaterializeResult(
        metadata={
            "dagster/row_count": rows.height,
            "dagster/uri": uri,
            **details,
            "time_min": iso_us(rows[time_column].min()) or "",  # type: ignore[arg-type]
            "time_max": iso_us(rows[time_column].max()) or "",  # type: ignore[arg-type]
            "inputs": lineage_metadata(sources),
            "data_version": version,
            "preview": markdown_table(rows),
        },
        data_version=DataVersion(version),
        check_results=gold_check_results(outcomes, checks),
    )


def exchange_timezone(lake: Lake, exchange: str) -> str:
    """The exchange's timezone from dim_exchange; a Gold run on an unknown exchange fails saying so."""
    try:
        return exchange_row(lake, exchange)["timezone"][0]
    except PartitionInputError as exc:
        raise Failure(description=str(exc)) from exc


def lineage_metadata(sources: list[SourcePartition]) -> MetadataValue:
    return MetadataValue.json(
        [
            {
                "table": s.table,
                "partition": s.partition,
                "data_version": s.data_version,
                "delta_version": s.delta_version,
            }
            for s in sorted(sources, key=lambda s: (s.table, s.partition))
        ]
    )


# ---- daily_ohlcv ---------------------------------------------------------------------------
_DATE_DIMENSION = MultiToSingleDimensionPartitionMapping(partition_dimension_name="date")


def daily_ohlcv_sources() -> list[str]:
    """Silver tables daily_ohlcv reads: trades, and kline_1d when config/lake.toml makes it a table."""
    return [TRADES_SOURCE, *([KLINE_SOURCE] if "1d" in settings().kline_intervals else [])]


@asset(
    name="daily_ohlcv",
    partitions_def=daily_partitions,
    group_name=GOLD_GROUP,
    code_version=DAILY_OHLCV_CODE_VERSION,
    deps=[AssetDep(table, partition_mapping=_DATE_DIMENSION) for table in daily_ohlcv_sources()],
    description=DAILY_OHLCV.description,
    metadata={
        **table_metadata(DAILY_OHLCV),
        "contract": "docs/gold-contract.md",
    },
    kinds={"delta", "polars"},
    check_specs=gold_check_specs("daily_ohlcv", DAILY_OHLCV_CHECKS),
    backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=1),
    freshness_policy=gold_freshness("daily_ohlcv"),
)
def daily_ohlcv(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    date = dt.date.fromisoformat(context.partition_key)
    store = lake.lake()
    if not store.exists("dim_exchange"):
        raise Failure(description="dim_exchange is not materialized yet; materialize the dimensions first")
    timezones = dict(store.read("dim_exchange").select("exchange", "timezone").iter_rows())
    klines = (
        klines_daily(store, date) if KLINE_SOURCE in daily_ohlcv_sources() else get_table_spec(KLINE_SOURCE).empty()
    )
    trades = trades_daily(store, date)
    inputs = sorted(
        {(KLINE_SOURCE, ex) for ex in klines["exchange"].unique()} | {(TRADES_SOURCE, ex) for ex in trades["exchange"]}
    )
    sources = [source_partition(context.instance, store, table, f"{date.isoformat()}|{ex}") for table, ex in inputs]
    versions = {(s.table, s.partition.split("|", 1)[1]): s.data_version for s in sources}
    rows = build_daily_ohlcv(date, klines, trades, timezones, versions)
    delta_version = store.write_partition("daily_ohlcv", rows, {"date": date})
    outcomes = check_daily_ohlcv(store, date, klines, trades)
    version = data_version(DAILY_OHLCV_CODE_VERSION, {"date": date.isoformat()}, sources)
    by_source = dict(rows.group_by("source").len().sort("source").iter_rows())
    context.log.info(f"daily_ohlcv {date}: {rows.height} rows {by_source} from {len(sources)} Silver partition(s)")
    return MaterializeResult(
        metadata={
            "dagster/row_count": rows.height,
            "dagster/uri": store.uri("daily_ohlcv"),
            "rows_by_source": MetadataValue.json(by_source),
            "exchanges": rows["exchange"].n_unique(),
            "symbols": rows.select("exchange", "symbol").n_unique() if rows.height else 0,
            "silver_partitions": lineage_metadata(sources),
            "missing_data_versions": json.dumps(
                sorted(f"{s.table} {s.partition}" for s in sources if not s.data_version)
            ),
            "delta_version": delta_version,
            "data_version": version,
            "preview": markdown_table(rows.sort(pl.col("exchange"), pl.col("symbol"))),
        },
        data_version=DataVersion(version),
        check_results=gold_check_results(outcomes, DAILY_OHLCV_CHECKS),
    )
