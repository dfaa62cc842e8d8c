"""Quant360 vendor plugin: CN A-share L3 order/tick streams and SZSE L2 snapshots (7z archives).

Registered as `quant360 = "vendors.quant360:Quant360Plugin"` in the `pointline.vendors`
entry-point group. Pure Polars, py7zr and the standard library: no Dagster here.
See docs/vendors/quant360.md.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from vendors.base import BronzeFile, UnpackReport
from vendors.quant360 import discovery, reader
from vendors.quant360.layout import ROUTES
from vendors.quant360.unpack import pending_archives, unpack_all

__all__ = ["Quant360Plugin"]


class Quant360Plugin:
    """The Quant360 implementation of vendors.base.VendorPlugin (with the optional `unpack` hook)."""

    name = "quant360"
    # Quant360 publishes no instrument metadata: CN symbols come from another vendor's dim_symbol rows.
    has_instrument_metadata = False

    def __init__(self, subdir: str = "quant360") -> None:
        self.subdir = subdir

    def __repr__(self) -> str:
        return f"Quant360Plugin(subdir={self.subdir!r})"

    def routes(self) -> dict[str, str]:
        return dict(ROUTES)

    def unpack(self, bronze_root: Path) -> UnpackReport:
        """Unpack new or changed archives into `<subdir>/unpacked/` (idempotent, restartable)."""
        return unpack_all(Path(bronze_root) / self.subdir)

    def pending_unpack(self, bronze_root: Path) -> list[str]:
        """Archives without a matching completion marker, as "<rel path>:<size>:<mtime_ns>"."""
        return pending_archives(Path(bronze_root) / self.subdir)

    def discover(self, bronze_root: Path) -> list[BronzeFile]:
        return discovery.scan(Path(bronze_root), self.subdir)[0]

    def unrecognized(self, bronze_root: Path) -> list[Path]:
        return discovery.scan(Path(bronze_root), self.subdir)[1]

    def read_events(self, file: BronzeFile, table: str) -> pl.DataFrame:
        return reader.read_table(file, table)

    def reference_files(self, bronze_root: Path) -> list[Path]:
        return []

    def instrument_versions(self, bronze_root: Path) -> pl.DataFrame:
        from vendors.base import INSTRUMENT_COLUMNS

        return pl.DataFrame(schema=INSTRUMENT_COLUMNS)
