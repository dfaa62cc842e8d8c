"""Tushare vendor plugin: CN A-share reference data (`stock_basic` snapshots in Bronze).

One dataset feeds two tables: dim_symbol (through `instrument_versions`, SZSE/SSE equities
with exchange-local validity windows) and stock_basic_cn (row by row through `read_events`,
one daily-partitioned snapshot per fetch, so history is kept).

Registered as `tushare = "vendors.tushare:TusharePlugin"` in the `pointline.vendors`
entry-point group. The download client is `vendors.tushare.client` (not imported here, so
`python -m vendors.tushare.client` runs cleanly); the sample generator `vendors.tushare.sample`.
Pure Polars and the standard library: no Dagster here. docs/vendors/tushare.md has the details.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pointline.config import config_dir
from vendors.base import BronzeFile
from vendors.snapshots import SnapshotDiscovery
from vendors.tushare import instruments, reader
from vendors.tushare.layout import LAYOUT

__all__ = ["TusharePlugin"]


class TusharePlugin(SnapshotDiscovery):
    """The Tushare implementation of vendors.base.VendorPlugin; `subdir` is its folder below the Bronze root."""

    name = "tushare"
    layout = LAYOUT  # discover() and unrecognized() come from SnapshotDiscovery

    def __init__(self, subdir: str = "tushare") -> None:
        self.subdir = subdir

    def __repr__(self) -> str:
        return f"TusharePlugin(subdir={self.subdir!r})"

    def config_files(self) -> list[Path]:
        """config/exchanges.csv decides which exchanges' rows are in scope and their local dates."""
        return [config_dir() / "exchanges.csv"]

    def routes(self) -> dict[str, str]:
        """stock_basic snapshots feed stock_basic_cn."""
        return dict(reader.ROUTES)

    def read_events(self, file: BronzeFile, table: str) -> pl.DataFrame:
        """Staged vendor text for `table`; BronzeFileError when the file cannot be read."""
        return reader.read_table(Path(file.path), file.data_type, table)

    def reference_files(self, bronze_root: Path) -> list[Path]:
        """The stock_basic snapshots (they feed dim_symbol), sorted."""
        return sorted(f.path for f in self.discover(bronze_root))

    def instrument_versions(self, bronze_root: Path) -> pl.DataFrame:
        """dim_symbol versions of every in-scope security across all snapshots (see instruments.py)."""
        return instruments.instrument_versions(self.reference_files(bronze_root))
