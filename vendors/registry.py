"""Find vendor plugins through the `pointline.vendors` entry-point group.

A new vendor registers itself in its distribution's pyproject:

    [project.entry-points."pointline.vendors"]
    myvendor = "my_package.vendor:MyVendorPlugin"

and the core picks it up without any change.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from vendors.base import VendorPlugin

GROUP = "pointline.vendors"


def available_vendors() -> dict[str, type]:
    """{vendor name: plugin class} for every installed plugin, sorted by name."""
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    return {name: found[name].load() for name in sorted(found)}


def load_vendor(name: str, **options: str) -> VendorPlugin:
    vendors = available_vendors()
    if name not in vendors:
        raise KeyError(f"no vendor plugin named {name!r} is installed; installed: {sorted(vendors)}")
    plugin = vendors[name](**options)
    if not isinstance(plugin, VendorPlugin):
        raise TypeError(f"vendor plugin {name!r} does not implement vendors.base.VendorPlugin")
    return plugin
