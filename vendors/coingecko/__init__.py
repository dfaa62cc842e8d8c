"""CoinGecko vendor plugin: /coins/markets snapshots in Bronze feed `dim_asset_stats`.

Registered as `coingecko = "vendors.coingecko:CoinGeckoPlugin"` in the `pointline.vendors`
entry-point group. The download side lives in `vendors.coingecko.client` (not imported here,
so `python -m vendors.coingecko.client` runs cleanly); the sample generator in
`vendors.coingecko.sample`. Pure Polars and the standard library: no Dagster here.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from vendors.base import INSTRUMENT_COLUMNS, BronzeFile
from vendors.coingecko import reader
from vendors.coingecko.assets import coin_to_base, default_asset_map_path, load_asset_map
from vendors.coingecko.layout import LAYOUT
from vendors.snapshots import SnapshotDiscovery

__all__ = ["CoinGeckoPlugin", "load_asset_map"]


class CoinGeckoPlugin(SnapshotDiscovery):
    """The CoinGecko implementation of vendors.base.VendorPlugin.

    `subdir` is the vendor's folder below the Bronze root; `asset_map` is the path of the
    base-asset -> coin id CSV (default `<config dir>/coingecko_assets.csv`). The map is read
    when a file is parsed (and re-read when it changes), so adding an asset needs no restart.
    """

    name = "coingecko"
    layout = LAYOUT  # discover() and unrecognized() come from SnapshotDiscovery
    has_instrument_metadata = False  # no instrument snapshots: dim_symbol does not depend on it

    def __init__(self, subdir: str = "coingecko", asset_map: str | None = None) -> None:
        self.subdir = subdir
        self.asset_map = asset_map

    def __repr__(self) -> str:
        return f"CoinGeckoPlugin(subdir={self.subdir!r}, asset_map={self.asset_map!r})"

    @property
    def asset_map_path(self) -> Path:
        """The CSV this plugin maps coin ids with."""
        return Path(self.asset_map) if self.asset_map else default_asset_map_path()

    def config_files(self) -> list[Path]:
        """Configuration that changes what read_events returns: part of every partition's data version."""
        return [self.asset_map_path]

    def routes(self) -> dict[str, str]:
        """asset_stats snapshots feed dim_asset_stats."""
        return dict(reader.ROUTES)

    def read_events(self, file: BronzeFile, table: str) -> pl.DataFrame:
        """Staged frame of vendor text for `table`; BronzeFileError when the file cannot be read."""
        return reader.read_table(Path(file.path), file.data_type, table, coin_to_base(self.asset_map_path))

    def reference_files(self, bronze_root: Path) -> list[Path]:
        """CoinGecko feeds no dimension through reference files."""
        return []

    def instrument_versions(self, bronze_root: Path) -> pl.DataFrame:
        """CoinGecko has no instruments: an empty frame with the contract's columns."""
        return pl.DataFrame(schema=INSTRUMENT_COLUMNS)
