"""Binance Vision vendor plugin: the daily and monthly kline zips of https://data.binance.vision.

Registered as `binance_vision = "vendors.binance_vision:BinanceVisionPlugin"` in the
`pointline.vendors` entry-point group. Pure Polars and the standard library: no Dagster here.
`vendors.binance_vision.download` fetches files into the Bronze layout, and
`vendors.binance_vision.sample` writes format-exact sample files.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from vendors.base import INSTRUMENT_COLUMNS, BronzeFile
from vendors.binance_vision import discovery, layout, reader

__all__ = ["BinanceVisionPlugin"]


class BinanceVisionPlugin:
    """The Binance Vision implementation of vendors.base.VendorPlugin.

    `subdir` is the vendor's folder below the Bronze root, so a staging copy can be mounted
    beside the main tree.
    """

    name = "binance_vision"
    has_instrument_metadata = False  # no instrument snapshots: dim_symbol does not depend on it

    def __init__(self, subdir: str = layout.DEFAULT_SUBDIR) -> None:
        self.subdir = subdir

    def __repr__(self) -> str:
        return f"BinanceVisionPlugin(subdir={self.subdir!r})"

    def routes(self) -> dict[str, str]:
        """`klines_<interval>` -> `kline_<interval>` for every interval the lake has a table for."""
        return layout.routes()

    def discover(self, bronze_root: Path) -> list[BronzeFile]:
        """Every kline zip under `<bronze_root>/<subdir>`, sorted by rel_path (checksum files excluded)."""
        return discovery.scan(Path(bronze_root), self.subdir).files

    def unrecognized(self, bronze_root: Path) -> list[Path]:
        """Files under the subtree that are neither a kline zip nor its `.CHECKSUM` in the layout."""
        return discovery.scan(Path(bronze_root), self.subdir).unrecognized

    def read_events(self, file: BronzeFile, table: str) -> pl.DataFrame:
        """Staged frame of vendor text for `kline_<interval>`; BronzeFileError when the file cannot be read."""
        return reader.read_klines(file, table)

    def reference_files(self, bronze_root: Path) -> list[Path]:
        """None: Binance Vision publishes no instrument metadata."""
        return []

    def instrument_versions(self, bronze_root: Path) -> pl.DataFrame:
        """Empty: dim_symbol learns these symbols from vendors that publish instrument metadata."""
        return pl.DataFrame(schema=INSTRUMENT_COLUMNS)
