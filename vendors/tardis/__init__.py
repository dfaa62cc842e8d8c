"""Tardis.dev vendor plugin: daily CSV downloads (trades, quotes, ...) and instrument metadata.

Registered as `tardis = "vendors.tardis:TardisPlugin"` in the `pointline.vendors` entry-point
group. Pure Polars and the standard library: no Dagster here.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from vendors.base import BronzeFile
from vendors.tardis import csv_reader, discovery, instruments

__all__ = ["TardisPlugin"]


class TardisPlugin:
    """The Tardis implementation of vendors.base.VendorPlugin.

    `subdir` is the vendor's folder below the Bronze root, so two Tardis trees (e.g. a
    staging copy) can be mounted side by side.
    """

    name = "tardis"

    def __init__(self, subdir: str = "tardis") -> None:
        self.subdir = subdir

    def __repr__(self) -> str:
        return f"TardisPlugin(subdir={self.subdir!r})"

    def routes(self) -> dict[str, str]:
        """Data types that feed Silver event tables; other types are discovered but not routed."""
        return dict(csv_reader.ROUTES)

    def discover(self, bronze_root: Path) -> list[BronzeFile]:
        """Every Tardis CSV under `<bronze_root>/<subdir>`, sorted by rel_path (instrument snapshots excluded)."""
        return discovery.scan(Path(bronze_root), self.subdir).files

    def unrecognized(self, bronze_root: Path) -> list[Path]:
        """Files under the subtree that match no known layout (or carry an invalid date), for reporting."""
        return sorted(discovery.scan(Path(bronze_root), self.subdir).unrecognized)

    def read_events(self, file: BronzeFile, table: str) -> pl.DataFrame:
        """Staged frame of vendor text for `table`; BronzeFileError when the file cannot be read."""
        return csv_reader.read_table(Path(file.path), file.data_type, table)

    def reference_files(self, bronze_root: Path) -> list[Path]:
        """Instrument snapshots (instruments.json[.gz]) that feed dim_symbol, as sorted Paths."""
        return sorted(s.path for s in discovery.scan(Path(bronze_root), self.subdir).snapshots)

    def instrument_versions(self, bronze_root: Path) -> pl.DataFrame:
        """Instrument history from the newest instruments.json snapshot per instrument."""
        return instruments.instrument_versions(discovery.scan(Path(bronze_root), self.subdir).snapshots)
