"""Dimension assets: dim_exchange (from config) and dim_symbol (SCD2 from vendor metadata).

dim_trading_calendar, built from dim_exchange, is in pointline_assets/calendars.py.
"""

# No `from __future__ import annotations`: Dagster inspects these type hints at runtime.

import hashlib

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    DataVersion,
    MaterializeResult,
    MetadataValue,
    asset,
)

from pointline.config import config_dir, load_exchanges
from pointline.scd2 import apply_overrides, load_overrides, rebuild_from_history, validate_dim
from pointline.schemas import DIM_EXCHANGE, DIM_SYMBOL
from pointline_assets.bronze import vendors_feeding
from pointline_assets.metadata import markdown_table, table_schema
from pointline_assets.partitions import sync_exchange_partitions
from resources.lake import LakeResource
from resources.vendors import VendorsResource

DIM_CODE_VERSION = "dims-1"


def content_version(df: pl.DataFrame) -> DataVersion:
    """A data version that changes exactly when the table's content does (sha256 of its CSV)."""
    return DataVersion(hashlib.sha256(df.write_csv().encode()).hexdigest()[:32])


@asset(
    group_name="dimensions",
    code_version=DIM_CODE_VERSION,
    description=DIM_EXCHANGE.description,
    metadata={"dagster/column_schema": table_schema(DIM_EXCHANGE), "source": "config/exchanges.csv"},
    kinds={"delta", "polars"},
)
def dim_exchange(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """Exchanges from config/exchanges.csv; also keeps the exchange partition dimension in sync."""
    exchanges = load_exchanges()
    version = lake.lake().replace_table("dim_exchange", exchanges)
    added = sync_exchange_partitions(context.instance, exchanges["exchange"].to_list())
    if added:
        context.log.info(f"added exchange partitions: {added}")
    return MaterializeResult(
        metadata={
            "dagster/row_count": exchanges.height,
            "delta_version": version,
            "partitions_added": MetadataValue.json(added),
            "active": int(exchanges["is_active"].sum()),
            "preview": markdown_table(exchanges, 25),
        },
        data_version=content_version(exchanges),
    )


@asset(
    group_name="dimensions",
    code_version=DIM_CODE_VERSION,
    deps=vendors_feeding("instruments"),
    description=DIM_SYMBOL.description,
    metadata={"dagster/column_schema": table_schema(DIM_SYMBOL), "overrides": "config/symbol_overrides.csv"},
    kinds={"delta", "polars"},
    check_specs=[AssetCheckSpec("valid_scd2_windows", asset="dim_symbol", blocking=True)],
)
def dim_symbol(context: AssetExecutionContext, lake: LakeResource, vendors: VendorsResource) -> MaterializeResult:
    """Rebuilt from the full instrument history in Bronze plus hand-edited overrides (deterministic).

    Bronze is immutable and every vendor snapshot carries its change history, so a rebuild
    is the simplest correct update; windows are validated before anything is written.
    """
    bronze_root = lake.resolved_bronze_root()
    frames = [p.instrument_versions(bronze_root) for p in vendors.plugins()]
    versions = pl.concat(frames) if frames else pl.DataFrame()
    overrides = load_overrides(config_dir() / "symbol_overrides.csv")
    dim = rebuild_from_history(apply_overrides(versions, overrides))
    validate_dim(dim)  # raises with every violation listed; nothing written
    version = lake.lake().replace_table("dim_symbol", dim)
    per_exchange = dim.group_by("exchange").len().sort("exchange")
    return MaterializeResult(
        metadata={
            "dagster/row_count": dim.height,
            "delta_version": version,
            "symbols": dim.select("exchange", "exchange_symbol").n_unique(),
            "current_versions": int(dim["is_current"].sum()),
            "overrides_applied": overrides.height,
            "per_exchange": MetadataValue.json(dict(per_exchange.iter_rows())),
            "preview": markdown_table(dim),
        },
        data_version=content_version(dim),
        check_results=[_check_stored_windows(lake)],
    )


def _check_stored_windows(lake: LakeResource) -> AssetCheckResult:
    """Re-validate what is stored: windows, one current row per key, ids equal to their hash."""
    stored = lake.lake().read("dim_symbol")
    try:
        validate_dim(stored)
        passed, text = True, "no overlapping windows, at most one current version per key, ids match their hash"
    except ValueError as exc:
        passed, text = False, str(exc)
    return AssetCheckResult(
        check_name="valid_scd2_windows",
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        description=text[:2000],
        metadata={"rows": stored.height},
    )
