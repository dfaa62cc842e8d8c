"""Bronze: vendor files exactly as delivered, one external asset per vendor and Silver table.

Nothing materializes these; they anchor lineage (Bronze -> dims -> Silver) in the graph and
carry the Bronze data versions. `bronze/<vendor>/<table>` is partitioned like the table it
feeds; the Bronze sensor records an observation per partition whose files changed, with a data
version hashed from those files' sha256, so the Silver partitions they feed show as stale in
the UI until they are rebuilt. `bronze/<vendor>/instruments` (vendors that publish instrument
metadata) feeds dim_symbol.
"""

from __future__ import annotations

from dagster import AssetKey, AssetSpec

from pointline.config import settings
from pointline.schemas import TABLES, get_table_spec, kline_spec
from pointline_assets.partitions import partitions_for
from vendors.registry import available_vendors


def row_fed_tables() -> tuple[str, ...]:
    """Every table vendors feed row by row: the registry's event tables (klines: the intervals
    config/lake.toml asks for) and the dimension tables kept as dated snapshots (partitioned
    by date, e.g. daily asset statistics or a security master)."""
    fixed = [n for n, t in TABLES.items() if t.kind == "event" and not n.startswith("kline_")]
    klines = [kline_spec(i).name for i in settings().kline_intervals]
    snapshots = [n for n, t in TABLES.items() if t.kind == "dimension" and "date" in t.partition_by]
    return (*fixed, *klines, *snapshots)


def bronze_key(vendor: str, table: str) -> AssetKey:
    """`bronze/<vendor>/<table>` for row-fed tables, `bronze/<vendor>/instruments` for metadata."""
    return AssetKey(["bronze", vendor, table])


def _routes_by_table(plugin_cls: type) -> dict[str, list[str]]:
    """{table: the vendor's data types feeding it}, for the tables this code location builds."""
    by_table: dict[str, list[str]] = {}
    for dtype, table in sorted(plugin_cls().routes().items()):
        if table in row_fed_tables():
            by_table.setdefault(table, []).append(dtype)
    return by_table


def bronze_specs() -> list[AssetSpec]:
    specs = []
    for vendor, plugin_cls in available_vendors().items():
        # vendors delivering archives: their files exist once `bronze/<vendor>/unpacked` ran
        unpacked = [bronze_key(vendor, "unpacked")] if callable(getattr(plugin_cls, "unpack", None)) else []
        for table, dtypes in _routes_by_table(plugin_cls).items():
            specs.append(
                AssetSpec(
                    key=bronze_key(vendor, table),
                    deps=unpacked,
                    group_name="bronze",
                    description=f"{vendor} files of type {', '.join(dtypes)} feeding {table}; never modified.",
                    metadata={"vendor": vendor, "data_types": ", ".join(dtypes), "feeds": table},
                    partitions_def=partitions_for(get_table_spec(table)),
                    kinds={"csv"},
                )
            )
        if getattr(plugin_cls, "has_instrument_metadata", True):
            specs.append(
                AssetSpec(
                    key=bronze_key(vendor, "instruments"),
                    group_name="bronze",
                    description=f"{vendor} instrument metadata snapshots feeding dim_symbol; never modified.",
                    metadata={"vendor": vendor, "feeds": "dim_symbol"},
                    kinds={"json"},
                )
            )
    return specs


def vendors_feeding(table: str) -> list[AssetKey]:
    """The Bronze assets upstream of `table` (`instruments` for dim_symbol)."""
    return [spec.key for spec in bronze_specs() if spec.key.path[-1] == table]
