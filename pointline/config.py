"""Configuration as data: the files under `config/` (or $POINTLINE_CONFIG_DIR).

Exchanges, timezones, asset classes, partition range and quality thresholds live in
data files so that adding an exchange or changing a threshold is an edit, not a release.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

REPO_ROOT = Path(__file__).resolve().parents[1]


def config_dir() -> Path:
    return Path(os.environ.get("POINTLINE_CONFIG_DIR", REPO_ROOT / "config"))


class ConfigError(ValueError):
    """A configuration file is malformed; the message names the file, row and field."""


@dataclass(frozen=True)
class LakeSettings:
    partition_start: dt.date
    max_quarantine_rate: float
    table_quarantine_rates: dict[str, float]
    max_row_group_size: int
    kline_intervals: tuple[str, ...] = ("1h", "1d")

    def quarantine_threshold(self, table: str) -> float:
        return self.table_quarantine_rates.get(table, self.max_quarantine_rate)


def load_settings(path: Path | None = None) -> LakeSettings:
    path = path or config_dir() / "lake.toml"
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    try:
        quality = raw.get("quality", {})
        return LakeSettings(
            partition_start=dt.date.fromisoformat(raw["partitions"]["start_date"]),
            max_quarantine_rate=float(quality.get("max_quarantine_rate", 0.01)),
            table_quarantine_rates={k: float(v) for k, v in quality.get("tables", {}).items()},
            max_row_group_size=int(raw.get("storage", {}).get("max_row_group_size", 131072)),
            kline_intervals=tuple(raw.get("klines", {}).get("intervals", ["1h", "1d"])),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: {exc!r}") from exc


_EXCHANGE_DTYPES = {
    "exchange": pl.String,
    "exchange_id": pl.Int16,
    "asset_class": pl.String,
    "timezone": pl.String,
    "is_active": pl.Boolean,
    "description": pl.String,
}


def load_exchanges(path: Path | None = None) -> pl.DataFrame:
    """Read and check config/exchanges.csv; the rows become dim_exchange."""
    path = path or config_dir() / "exchanges.csv"
    try:
        df = pl.read_csv(path, schema_overrides=_EXCHANGE_DTYPES)
    except Exception as exc:  # polars raises several types for malformed CSV
        raise ConfigError(f"{path}: cannot read exchanges file: {exc}") from exc
    missing = [c for c in _EXCHANGE_DTYPES if c not in df.columns]
    if missing:
        raise ConfigError(f"{path}: missing column(s) {missing}")
    df = df.select(list(_EXCHANGE_DTYPES)).with_columns(pl.col("exchange").str.strip_chars().str.to_lowercase())
    for key in ("exchange", "exchange_id"):
        dupes = df.filter(pl.col(key).is_duplicated())[key].unique().to_list()
        if dupes:
            raise ConfigError(f"{path}: duplicate {key} value(s) {dupes}")
    for line, (name, tz) in enumerate(df.select("exchange", "timezone").iter_rows(), start=2):
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ConfigError(f"{path}:{line}: exchange {name!r} has unknown timezone {tz!r}") from None
    nulls = [c for c in ("exchange", "exchange_id", "asset_class", "timezone", "is_active") if df[c].null_count()]
    if nulls:
        raise ConfigError(f"{path}: empty value(s) in required column(s) {nulls}")
    return df.sort("exchange_id")


@lru_cache(maxsize=8)
def _cached_settings(path: str) -> LakeSettings:
    return load_settings(Path(path))


def settings() -> LakeSettings:
    return _cached_settings(str(config_dir() / "lake.toml"))


_ROUTING_COLUMNS = ("table", "exchange", "vendor", "data_type")


def load_routing(path: Path | None = None) -> pl.DataFrame:
    """config/routing.csv: which source wins when several deliver rows for one partition.

    Rows are (table, exchange or `*`, vendor, data_type or `*`), in preference order: the
    first row whose source has files for the partition wins, rows naming the exchange
    before `*` rows.
    """
    path = path or config_dir() / "routing.csv"
    if not path.exists():
        return pl.DataFrame(schema=dict.fromkeys(_ROUTING_COLUMNS, pl.String))
    try:
        df = pl.read_csv(path, infer_schema=False, comment_prefix="#")
    except Exception as exc:  # polars raises several types for malformed CSV
        raise ConfigError(f"{path}: cannot read routing file: {exc}") from exc
    missing = [c for c in _ROUTING_COLUMNS if c not in df.columns]
    if missing:
        raise ConfigError(f"{path}: missing column(s) {missing}; expected {list(_ROUTING_COLUMNS)}")
    df = df.select(pl.col(_ROUTING_COLUMNS).str.strip_chars())
    empty = df.filter(pl.any_horizontal(pl.col(_ROUTING_COLUMNS).is_null() | (pl.col(_ROUTING_COLUMNS) == "")))
    if empty.height:
        raise ConfigError(f"{path}: {empty.height} row(s) with an empty field, e.g. {empty.row(0)}")
    return df
