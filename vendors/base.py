"""The contract between the core and a vendor plugin."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import polars as pl


class BronzeFileError(ValueError):
    """A Bronze file cannot be read at all (truncated archive, wrong header, empty file).

    The message always names the file and what is wrong; the partition that needed the
    file fails and the lake is left as it was.
    """

    def __init__(self, path: Path | str, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class BronzeFile:
    """One vendor file in the Bronze tree, as discovered from its path and file stats."""

    vendor: str
    data_type: str  # the vendor's own name for the dataset, e.g. "trades"
    path: Path  # absolute
    rel_path: str  # POSIX path relative to the Bronze root (lineage identity)
    exchange: str  # normalized exchange name as in dim_exchange
    date: dt.date  # the vendor's file date
    symbol: str | None  # symbol in the path (may be a group such as PERPETUALS)
    size: int
    mtime_ns: int
    # The vendor cuts files by this window on the time axis of the tables it feeds:
    # [start_us, end_us), UTC microseconds. Rows outside it are anomalies.
    window_start_us: int
    window_end_us: int
    extra: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class VendorPlugin(Protocol):
    """What a vendor plugin provides. Implementations live in vendors/<name>/."""

    name: str

    def routes(self) -> dict[str, str]:
        """The vendor's data types that feed Silver event tables: {data_type: table}."""

    def discover(self, bronze_root: Path) -> list[BronzeFile]:
        """Every Bronze file of this vendor under bronze_root (its own subtree), sorted by rel_path."""

    def read_events(self, file: BronzeFile, table: str) -> pl.DataFrame:
        """Parse a file into the table's staged frame.

        Columns: the `source` columns of the table's spec (schemas.TableSpec.source_columns) as
        pl.String holding the vendor's text verbatim (empty string or null when missing); list
        columns as pl.List(pl.String) of exactly the column's `length` elements (null-padded);
        exact-number text may instead be dictionary-encoded (pl.Categorical, scalar or list
        elements) when it repeats heavily, e.g. book levels: the core then parses each
        dictionary entry once (pointline.numbers.parse_exact);
        `file_line` (Int64, physical line). Nullable source columns the vendor does not have
        may be left out (the core fills them with null). Numbers stay text, in the vendor's
        notation (plain or exponent); timestamps are integer UTC microseconds as text (a vendor
        converts its own time format, e.g. milliseconds, here); calendar dates are ISO
        `YYYY-MM-DD` text (converted here too; text that does not convert is passed verbatim).
        The core coerces and validates; a vendor never rounds or drops rows (the one exception:
        rows of an exchange outside config/exchanges.csv, out of the lake's scope; a vendor that
        does this says so in its docs). Raises BronzeFileError when the file cannot be read at all.
        """

    def unrecognized(self, bronze_root: Path) -> list[Path]:
        """Files in the vendor's subtree that match no known layout (reported, never ingested)."""

    def reference_files(self, bronze_root: Path) -> list[Path]:
        """Files feeding dimension tables (e.g. instrument metadata snapshots), sorted."""

    def instrument_versions(self, bronze_root: Path) -> pl.DataFrame:
        """Symbol history from the vendor's instrument metadata in Bronze (see vendors.base.INSTRUMENT_COLUMNS)."""

    # Optional: `has_instrument_metadata = False` (class attribute) for a vendor that publishes no
    # instrument metadata, so dim_symbol does not depend on it in the asset graph.
    # Optional: `unpack(self, bronze_root: Path) -> UnpackReport`, for a vendor that delivers archives
    # that must be unpacked before discover() can list their files (never modifying the archives:
    # members go to a separate subtree of the vendor's folder). Idempotent and restartable; an
    # unreadable archive is reported in UnpackReport.failed, never raised, so the others still
    # unpack. The core runs it as the asset `bronze/<vendor>/unpacked`, upstream of the vendor's
    # Bronze assets. With it comes `pending_unpack(self, bronze_root: Path) -> list[str]`: the
    # archives not completely unpacked yet, each as "<path relative to the vendor folder>:<size>:
    # <mtime_ns>" (cheap: file stats and completion markers only). The Bronze sensor requests the
    # unpack asset whenever that list changes.
    # Optional: `config_files(self) -> list[Path]`, configuration files whose content changes what
    # read_events returns (e.g. a symbol map). The core folds them into each partition's data
    # version, so editing one marks the partitions it feeds as stale.


@dataclass
class UnpackReport:
    """What one call of the optional `unpack` hook did."""

    unpacked: list[str] = field(default_factory=list)  # archives (paths relative to the vendor folder) unpacked now
    skipped: list[str] = field(default_factory=list)  # archives already completely unpacked
    failed: dict[str, str] = field(default_factory=dict)  # archive -> what is wrong with it
    members: int = 0  # files written by this call


# Frame returned by VendorPlugin.instrument_versions: one row per version of an instrument.
# valid_until_us null = open. Decimal-like fields stay text; the core makes them exact.
INSTRUMENT_COLUMNS: dict[str, pl.DataType] = {
    "exchange": pl.String(),
    "exchange_symbol": pl.String(),
    "valid_from_us": pl.Int64(),
    "valid_until_us": pl.Int64(),
    "instrument_type": pl.String(),
    "base_asset": pl.String(),
    "quote_asset": pl.String(),
    "price_increment": pl.String(),
    "amount_increment": pl.String(),
    "contract_multiplier": pl.String(),
    "expiry_us": pl.Int64(),
    "underlying": pl.String(),
    "option_type": pl.String(),
    "strike": pl.String(),
    "settlement_type": pl.String(),
    "settlement_asset": pl.String(),
    "is_inverse": pl.Boolean(),
    "contract_month": pl.String(),
    "isin": pl.String(),
    "listing_exchange": pl.String(),
    "canonical_symbol": pl.String(),
    "source": pl.String(),
}


def walk_files(base: Path) -> Iterator[Path]:
    """Every file below `base` (nothing when it is not a directory), in a fixed order: directories
    and names sorted, so discovery and its reports are the same on every run and filesystem."""
    if not base.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name
