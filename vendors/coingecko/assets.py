"""The base-asset -> CoinGecko coin id map, kept as data in `config/coingecko_assets.csv`.

Which coins the lake tracks is configuration, not code: adding an asset is one CSV row. The
map is read with the stdlib `csv` module so errors can name the physical line of the file.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import polars as pl

from pointline.config import ConfigError, config_dir

__all__ = ["ASSET_MAP_FILE", "ASSET_MAP_COLUMNS", "default_asset_map_path", "load_asset_map", "coin_to_base"]

ASSET_MAP_FILE = "coingecko_assets.csv"
ASSET_MAP_COLUMNS = ("base_asset", "coin_id")


def default_asset_map_path() -> Path:
    """`<config dir>/coingecko_assets.csv`, following $POINTLINE_CONFIG_DIR like every other config file."""
    return config_dir() / ASSET_MAP_FILE


def load_asset_map(path: Path | str | None = None) -> pl.DataFrame:
    """Read and check the map: columns base_asset, coin_id (String), in file order.

    Values are trimmed; an empty value, or a base asset or coin id that appears twice, raises
    ConfigError naming the file and line, because either would make a row's asset ambiguous.
    """
    path = Path(path) if path is not None else default_asset_map_path()
    rows = _read_rows(path)
    return pl.DataFrame(
        {
            "base_asset": [base for _, base, _ in rows],
            "coin_id": [coin for _, _, coin in rows],
        },
        schema={"base_asset": pl.String, "coin_id": pl.String},
    )


def coin_to_base(path: Path | str | None = None) -> dict[str, str]:
    """{coin_id: base_asset}, re-read only when the file changes (plugins live as long as the process)."""
    path = Path(path) if path is not None else default_asset_map_path()
    try:
        stat = path.stat()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the CoinGecko asset map: {exc}") from exc
    return dict(_cached_coin_to_base(str(path), stat.st_mtime_ns, stat.st_size))


@lru_cache(maxsize=8)
def _cached_coin_to_base(path: str, _mtime_ns: int, _size: int) -> tuple[tuple[str, str], ...]:
    """Cache keyed by file identity; the stat fields only invalidate it."""
    return tuple((coin, base) for _, base, coin in _read_rows(Path(path)))


def _read_rows(path: Path) -> list[tuple[int, str, str]]:
    """(line, base_asset, coin_id) per data row, checked for missing values and duplicates."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            _check_header(path, reader.fieldnames)
            rows = [_row(path, reader.line_num, raw) for raw in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: cannot read the CoinGecko asset map: {exc}") from exc
    _check_unique(path, rows)
    return rows


def _check_header(path: Path, header: list[str] | None) -> None:
    """Both columns must be present; extra columns (e.g. a note) are allowed and ignored."""
    missing = [c for c in ASSET_MAP_COLUMNS if c not in (header or [])]
    if missing:
        raise ConfigError(f"{path}:1: missing column(s) {missing}; expected header 'base_asset,coin_id'")


def _row(path: Path, line: int, raw: dict[str, str | None]) -> tuple[int, str, str]:
    """One trimmed row; an empty value is an error (a blank line is skipped by the reader)."""
    base = (raw.get("base_asset") or "").strip()
    coin = (raw.get("coin_id") or "").strip()
    if not base or not coin:
        raise ConfigError(f"{path}:{line}: empty base_asset or coin_id ({base!r}, {coin!r})")
    return line, base, coin


def _check_unique(path: Path, rows: list[tuple[int, str, str]]) -> None:
    """A base asset or a coin id listed twice is rejected, naming both lines."""
    for index, label in ((1, "base_asset"), (2, "coin_id")):
        first_line: dict[str, int] = {}
        for row in rows:
            value = row[index]
            if value in first_line:
                raise ConfigError(f"{path}:{row[0]}: duplicate {label} {value!r} (first on line {first_line[value]})")
            first_line[value] = row[0]
