"""Vendor plugins as a configurable resource.

Plugins are found through the `pointline.vendors` entry-point group; this resource only
says which are enabled and passes each its options (e.g. a Bronze sub-directory), so the
asset graph never names a vendor.
"""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from vendors.base import VendorPlugin
from vendors.registry import available_vendors, load_vendor


class VendorsResource(ConfigurableResource):
    disabled: list[str] = Field(default_factory=list, description="Installed vendors to ignore")
    options: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Constructor options per vendor, e.g. {'<vendor>': {'subdir': '<folder>'}}"
    )

    def plugins(self) -> list[VendorPlugin]:
        """Every installed, enabled plugin, constructed with its options (cheap: no I/O)."""
        names = [n for n in available_vendors() if n not in self.disabled]
        return [load_vendor(n, **self.options.get(n, {})) for n in names]

    def sources_for(self, table: str) -> list[tuple[VendorPlugin, str]]:
        """(plugin, data_type) pairs whose data feeds `table`, from each vendor's declared routes."""
        return [(p, dtype) for p in self.plugins() for dtype, target in p.routes().items() if target == table]
