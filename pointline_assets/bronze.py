"""Bronze: vendor files exactly as delivered, one external asset per installed vendor plugin.

Nothing materializes these; they anchor lineage (Bronze -> dims -> Silver) in the graph.
The Bronze sensor watches the files and requests the Silver partitions they feed.
"""

from __future__ import annotations

from dagster import AssetKey, AssetSpec

from vendors.registry import available_vendors


def bronze_key(vendor: str) -> AssetKey:
    return AssetKey(["bronze", vendor])


def bronze_specs() -> list[AssetSpec]:
    specs = []
    for name, plugin_cls in available_vendors().items():
        routes = plugin_cls().routes()
        feeds = ", ".join(f"{dtype} -> {table}" for dtype, table in sorted(routes.items()))
        specs.append(
            AssetSpec(
                key=bronze_key(name),
                group_name="bronze",
                description=f"{name} files in the Bronze tree, never modified. Routes: {feeds}.",
                metadata={"vendor": name, "routes": feeds},
                kinds={"csv"},
            )
        )
    return specs


def vendors_feeding(table: str) -> list[AssetKey]:
    return [bronze_key(n) for n, cls in available_vendors().items() if table in cls().routes().values()]
