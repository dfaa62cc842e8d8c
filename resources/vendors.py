"""Vendor plugins as a configurable resource.

Plugins are found through the `pointline.vendors` entry-point group; this resource only
says which are enabled and passes each its options (e.g. a Bronze sub-directory), so the
asset graph never names a vendor.
"""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from vendors.base import BronzeFile, VendorPlugin
from vendors.registry import available_vendors, load_vendor


class VendorsResource(ConfigurableResource):
    disabled: list[str] = Field(default_factory=list, description="Installed vendors to ignore")
    options: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Constructor options per vendor, e.g. {'tardis': {'subdir': 'tardis'}}"
    )

    @property
    def _plugins(self) -> list[VendorPlugin]:
        names = [n for n in available_vendors() if n not in self.disabled]
        return [load_vendor(n, **self.options.get(n, {})) for n in names]

    def plugins(self) -> list[VendorPlugin]:
        return list(self._plugins)

    def plugin(self, name: str) -> VendorPlugin:
        for p in self._plugins:
            if p.name == name:
                return p
        raise KeyError(f"vendor {name!r} is not enabled")

    def sources_for(self, table: str) -> list[tuple[VendorPlugin, str]]:
        """(plugin, data_type) pairs whose data feeds `table`, from each vendor's declared routes."""
        return [(p, dtype) for p in self._plugins for dtype, target in p.routes().items() if target == table]

    def files_for(self, bronze_root, table: str, exchange: str) -> list[BronzeFile]:
        out: list[BronzeFile] = []
        for plugin, data_type in self.sources_for(table):
            out += [f for f in plugin.discover(bronze_root) if f.data_type == data_type and f.exchange == exchange]
        return out
