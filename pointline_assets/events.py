"""Tables fed row by row from vendor files: the Silver event tables (trades, quotes, books,
tickers, liquidations, options, klines, ...) and daily vendor snapshots such as dim_asset_stats.
One factory, one asset per table in the schema registry.

Each asset materializes one partition, (date, exchange) or just date for tables that are not
exchange-scoped: it reads every Bronze file that may hold rows of that exchange-local day,
parses, validates, resolves symbol_id point-in-time, quarantines what fails and overwrites
exactly that partition (see pointline.pipeline). Checks run against what was stored and ride
along with the materialization.
"""

# No `from __future__ import annotations`: Dagster inspects these type hints at runtime.

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetMaterialization,
    AssetsDefinition,
    BackfillPolicy,
    DataVersion,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from pointline.checks import CHECKS, CheckOutcome, check_stored_partition, checks_for
from pointline.config import load_exchanges, settings
from pointline.dq import record_history
from pointline.pipeline import PartitionInputError, PartitionReport, ingest_partition
from pointline.schemas import TableSpec, get_table_spec
from pointline.trading_day import dates_overlapping
from pointline_assets.bronze import row_fed_tables, vendors_feeding
from pointline_assets.dimensions import dim_exchange, dim_symbol
from pointline_assets.metadata import iso_us, markdown_table, table_metadata
from pointline_assets.partitions import is_exchange_scoped, partitions_for, split_partition_key
from resources.lake import LakeResource
from resources.vendors import VendorsResource
from vendors.base import BronzeFileError

# Bump when parsing, validation or resolution logic changes: the UI then marks partitions stale.
EVENT_CODE_VERSION = "events-2"

# The tags Dagster itself puts on a materialization to carry its data version (dagster/data_version
# in the docs); set by hand only when a failing range run records the partitions that did land.
DATA_VERSION_TAG = "dagster/data_version"
CODE_VERSION_TAG = "dagster/code_version"
DATA_VERSION_IS_USER_PROVIDED_TAG = "dagster/data_version_is_user_provided"


def _freshness(table: str) -> FreshnessPolicy:
    """How late a table may be before the UI flags it (config/lake.toml [freshness])."""
    warn, fail = settings().freshness(table)
    return FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=fail), warn_window=dt.timedelta(hours=warn))


def _upstream(spec: TableSpec) -> list:
    dims = [dim_exchange] if is_exchange_scoped(spec) else []
    return dims + ([dim_symbol] if "symbol_id" in spec.names else [])


def build_event_asset(table: str) -> AssetsDefinition:
    spec = get_table_spec(table)

    @asset(
        name=table,
        partitions_def=partitions_for(spec),
        group_name="silver" if spec.kind == "event" else "dimensions",
        code_version=EVENT_CODE_VERSION,
        deps=[*_upstream(spec), *vendors_feeding(table)],
        description=spec.description,
        metadata={
            **table_metadata(spec),
            "time_axis": spec.time_axis,
        },
        kinds={"delta", "polars"},
        check_specs=[
            AssetCheckSpec(name, asset=table, description=check.description, blocking=check.blocking)
            for name, check in checks_for(table).items()
        ],
        backfill_policy=BackfillPolicy.single_run(),
        freshness_policy=_freshness(table),
    )
    def _event_asset(context: AssetExecutionContext, lake: LakeResource, vendors: VendorsResource) -> MaterializeResult:
        landed: list[LandedPartition] = []
        failed: dict[str, str] = {}
        for key in context.partition_keys:  # one key, or every key of a single-run backfill range
            try:
                landed.append(_land_partition(context, lake, vendors, table, key))
            except (PartitionInputError, BronzeFileError) as exc:  # bad input: report it, go on with the rest
                failed[key] = str(exc)
                context.log.error(f"{table} {key}: {exc}")
            except BaseException:  # anything else stops the run; what landed is still on record
                _record_landed(context, landed)
                raise
        if failed:
            _record_landed(context, landed)
            raise Failure(
                description=_failure_text(table, failed, len(landed)),
                metadata={"failed_partitions": MetadataValue.json(failed), "landed": [p.key for p in landed]},
            )
        return _range_result(context, table, landed)

    return _event_asset


@dataclass(frozen=True)
class LandedPartition:
    """One partition of a run that is written: its report, check outcomes and Dagster metadata."""

    key: str
    report: PartitionReport
    checks: dict[str, CheckOutcome]
    metadata: dict[str, object]


def _land_partition(
    context: AssetExecutionContext, lake: LakeResource, vendors: VendorsResource, table: str, key: str
) -> LandedPartition:
    """Ingest one partition (it lands atomically on its own), check it as stored, record history."""
    if is_exchange_scoped(get_table_spec(table)):
        date, exchange = split_partition_key(key)
    else:
        date, exchange = dt.date.fromisoformat(str(key)), None
    store = lake.lake()
    report = ingest_partition(
        store,
        vendors.sources_for(table),
        lake.resolved_bronze_root(),
        table,
        date,
        exchange,
        code_version=EVENT_CODE_VERSION,
    )
    checks = check_stored_partition(store, report, settings().quarantine_threshold(table))
    try:  # the partition has landed; a history append that fails must not report it as not written
        record_history(store, report, checks, checks_for(table), context.run.run_id)
        history_recorded = True
    except Exception as exc:
        context.log.warning(f"{table} {key}: DQ history not recorded: {exc!r}")
        history_recorded = False
    context.log.info(
        f"{table} {key}: read {report.build.rows_read}, wrote {report.rows_written}, "
        f"quarantined {report.rows_quarantined} from {len(report.files)} file(s)"
    )
    metadata = {**_materialization_metadata(report, store.uri(table)), "history_recorded": history_recorded}
    return LandedPartition(str(key), report, checks, metadata)


def _range_result(context: AssetExecutionContext, table: str, landed: list[LandedPartition]) -> MaterializeResult:
    """One partition: its own metadata, data version and checks. A range (single-run backfill):
    Dagster records one data version and one check evaluation per run, so each partition gets its
    own metadata (including its own `data_version`), the run's data version hashes them all, and
    each check passes only if it passed on every partition (failures listed by partition)."""
    if len(landed) == 1:
        only = landed[0]
        return MaterializeResult(
            metadata=only.metadata,
            data_version=DataVersion(only.report.data_version),
            check_results=[_check_result(name, outcome) for name, outcome in only.checks.items()],
        )
    for part in landed:
        context.add_asset_metadata(part.metadata, partition_key=part.key)
    combined = hashlib.sha256("|".join(f"{p.key}={p.report.data_version}" for p in landed).encode()).hexdigest()
    return MaterializeResult(
        metadata={"partitions_in_run": len(landed)},
        data_version=DataVersion(combined[:32]),
        check_results=[_combined_check_result(name, landed) for name in checks_for(table)],
    )


def _check_result(name: str, outcome: CheckOutcome) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=name,
        passed=outcome.passed,
        severity=AssetCheckSeverity.WARN if CHECKS[name].warn_only else AssetCheckSeverity.ERROR,
        description=outcome.description,
        metadata=outcome.metadata,
    )


def _combined_check_result(name: str, landed: list[LandedPartition]) -> AssetCheckResult:
    failing = {p.key: p.checks[name].description for p in landed if not p.checks[name].passed}
    summary = f"passed on {len(landed) - len(failing)} of {len(landed)} partitions"
    if failing:
        summary += "; failed: " + "; ".join(f"{key}: {text}" for key, text in failing.items())
    return AssetCheckResult(
        check_name=name,
        passed=not failing,
        severity=AssetCheckSeverity.WARN if CHECKS[name].warn_only else AssetCheckSeverity.ERROR,
        description=summary,
        metadata={"failed_partitions": MetadataValue.json(failing), "partitions": len(landed)},
    )


def _record_landed(context: AssetExecutionContext, landed: list[LandedPartition]) -> None:
    """A run that fails after some partitions landed still records those, each with its own data
    version, so the UI shows what is in the lake rather than the whole range as failed."""
    for part in landed:
        context.log_event(
            AssetMaterialization(
                asset_key=context.asset_key,
                partition=part.key,
                metadata=part.metadata,
                tags={
                    DATA_VERSION_TAG: part.report.data_version,
                    CODE_VERSION_TAG: EVENT_CODE_VERSION,
                    DATA_VERSION_IS_USER_PROVIDED_TAG: "true",
                },
            )
        )


def _failure_text(table: str, failed: dict[str, str], landed: int) -> str:
    head = f"{table}: {len(failed)} partition(s) failed"
    if landed:
        head += f" ({landed} other(s) in this run landed and are recorded)"
    return head + ":\n" + "\n".join(f"- {key}: {text}" for key, text in failed.items())


def _materialization_metadata(report: PartitionReport, uri: str) -> dict:
    silver = report.build.silver
    spec = get_table_spec(report.table)
    ts = silver[spec.time_axis] if silver.height else None
    return {
        "dagster/row_count": report.rows_written,
        "dagster/uri": uri,
        "rows_read": report.build.rows_read,
        "rows_written": report.rows_written,
        "rows_quarantined": report.rows_quarantined,
        "quarantined_by_reason": MetadataValue.json(report.build.quarantined_by_reason),
        "bronze_files": MetadataValue.json(
            [{"path": f.rel_path, "size": f.size, "sha256": f.sha256} for f in report.files]
        ),
        "file_accounting": MetadataValue.json([vars(a) for a in report.build.files]),
        "shadowed_sources": ", ".join(report.shadowed) or "-",
        "symbols": silver[_key_column(spec)].n_unique() if silver.height else 0,
        "time_min": iso_us(ts.min() if ts is not None else None) or "",
        "time_max": iso_us(ts.max() if ts is not None else None) or "",
        "delta_version": report.delta_version,
        "data_version": report.data_version,
        "preview": markdown_table(silver),
    }


def _key_column(spec: TableSpec) -> str:
    return "symbol_id" if "symbol_id" in spec.names else spec.sort_by[0]


EVENT_TABLES = row_fed_tables()
EVENT_ASSETS: dict[str, AssetsDefinition] = {table: build_event_asset(table) for table in EVENT_TABLES}
EXCHANGE_SCOPED_TABLES = tuple(t for t in EVENT_TABLES if is_exchange_scoped(get_table_spec(t)))
DAILY_TABLES = tuple(t for t in EVENT_TABLES if t not in EXCHANGE_SCOPED_TABLES)
trades, quotes = EVENT_ASSETS["trades"], EVENT_ASSETS["quotes"]


def partitions_with_files(plugins: list, bronze_root: Path) -> dict[tuple[dt.date, str | None], set[str]]:
    """(day, exchange or None for date-only tables) -> the row-fed tables that have Bronze files for it.

    The same mapping the Bronze sensor computes from changed files, over the whole tree: what
    `make demo` and the golden-file test materialize.
    """
    timezones = dict(load_exchanges().select("exchange", "timezone").iter_rows())
    planned: dict[tuple[dt.date, str | None], set[str]] = {}
    for plugin in plugins:
        routes = plugin.routes()
        for f in plugin.discover(bronze_root):
            table = routes.get(f.data_type)
            if table not in EVENT_ASSETS:
                continue
            scoped = is_exchange_scoped(get_table_spec(table))
            tz = timezones[f.exchange] if scoped else "UTC"
            for day in dates_overlapping(f.window_start_us, f.window_end_us, tz):
                planned.setdefault((day, f.exchange if scoped else None), set()).add(table)
    return planned
