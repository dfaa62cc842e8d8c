"""Pure discovery helpers over the dimension frames (no I/O; the session supplies cached frames).

Asset classes are hierarchical *data*: dim_exchange.asset_class holds values such as
`crypto-spot`, `crypto-derivatives`, `stocks-cn`, and asking for a class matches the value
itself and every value below it in the hyphen hierarchy (`crypto` matches `crypto-spot` and
`crypto-derivatives`; `crypto-spot` matches only itself). Adding an asset class is a row of
config/exchanges.csv, never code.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl

from pointline.ids import VALID_UNTIL_OPEN
from pointline.research.times import from_us

__all__ = [
    "SymbolNotFoundError",
    "SymbolVersionWarning",
    "UnknownExchangeError",
    "asset_class_filter",
    "changed_fields",
    "versions_in_window",
    "warn_versions",
]


class UnknownExchangeError(KeyError):
    """The exchange is not in dim_exchange."""


class SymbolNotFoundError(LookupError):
    """No dim_symbol version of the symbol overlaps the requested window (or the symbol is unknown)."""


class SymbolVersionWarning(UserWarning):
    """The symbol's metadata changed inside the window: rows carry several symbol_ids."""


def _names(value: str | Iterable[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def asset_class_filter(asset_class: str | Iterable[str], column: str = "asset_class") -> pl.Expr:
    """Rows whose asset class is one of `asset_class` or below it in the hyphen hierarchy.

    >>> import polars as pl
    >>> from pointline.research.discovery import asset_class_filter
    >>> df = pl.DataFrame({"asset_class": ["crypto-spot", "crypto-derivatives", "stocks-cn", "cryptoish"]})
    >>> df.filter(asset_class_filter("crypto"))["asset_class"].to_list()
    ['crypto-spot', 'crypto-derivatives']
    """
    col = pl.col(column)
    parts = [(col == name) | col.str.starts_with(name + "-") for name in _names(asset_class)]
    return pl.any_horizontal(parts) if parts else pl.lit(False)


def versions_in_window(
    dim_symbol: pl.DataFrame, exchange: str, symbol: str, start_us: int, end_us: int
) -> pl.DataFrame:
    """dim_symbol versions of (exchange, symbol) whose validity overlaps `[start_us, end_us)`, oldest
    first; raises SymbolNotFoundError (saying which versions exist) when there is none.

    A zero-length window `[t, t)` asks for the version valid at `t`.

    >>> import pointline.research as pr
    >>> from pointline.research.discovery import versions_in_window
    >>> from pointline.research.times import window_us
    >>> v = versions_in_window(pr.current().dim_symbol(), "binance-futures", "SOLUSDT",
    ...                        *window_us("2024-05-01", "2024-05-02"))
    >>> v.select("exchange_symbol", "price_increment").rows()
    [('SOLUSDT', Decimal('0.001000000')), ('SOLUSDT', Decimal('0.010000000'))]
    """
    key = dim_symbol.filter((pl.col("exchange") == exchange) & (pl.col("exchange_symbol") == symbol))
    end_probe = end_us if end_us > start_us else start_us + 1
    hits = key.filter((pl.col("valid_from_us") < end_probe) & (pl.col("valid_until_us") > start_us))
    if hits.height:
        return hits.sort("valid_from_us")
    if key.is_empty():
        near = (
            dim_symbol.filter(
                (pl.col("exchange") == exchange)
                & pl.col("exchange_symbol").str.to_lowercase().str.contains(symbol.lower(), literal=True)
            )["exchange_symbol"]
            .unique()
            .sort()
            .head(10)
            .to_list()
        )
        hint = f"; similar: {near}" if near else "; list_symbols(exchange, search=...) finds symbols"
        raise SymbolNotFoundError(f"{exchange} has no symbol {symbol!r} in dim_symbol{hint}")
    spans = ", ".join(_span(r["valid_from_us"], r["valid_until_us"]) for r in key.sort("valid_from_us").to_dicts())
    raise SymbolNotFoundError(
        f"{exchange} {symbol}: no dim_symbol version overlaps [{from_us(start_us)}, {from_us(end_us)}); "
        f"its versions are valid {spans}"
    )


def _span(valid_from: int, valid_until: int) -> str:
    until = "open" if valid_until == VALID_UNTIL_OPEN else str(from_us(valid_until))
    return f"[{from_us(valid_from)}, {until})"


def changed_fields(versions: pl.DataFrame, fields: Sequence[str]) -> list[str]:
    """'field a -> b' for every tracked field that differs between consecutive versions.

    >>> import pointline.research as pr
    >>> from pointline.research.discovery import changed_fields
    >>> sol = pr.list_symbols("binance-futures", search="SOLUSDT", as_of=None, all_versions=True)
    >>> changed_fields(sol, ["price_increment", "base_asset"])
    ['price_increment 0.001000000 -> 0.010000000']
    """
    out: list[str] = []
    rows = versions.sort("valid_from_us").to_dicts()
    for before, after in zip(rows, rows[1:], strict=False):
        for f in fields:
            if f in before and before[f] != after[f]:
                out.append(f"{f} {before[f]} -> {after[f]}")
    return out


def warn_versions(versions: pl.DataFrame, exchange: str, symbol: str, fields: Sequence[str], axis: str) -> None:
    """Warn (SymbolVersionWarning) when more than one version of a symbol covers the window.

    >>> import warnings
    >>> import pointline.research as pr
    >>> from pointline.research.discovery import warn_versions
    >>> sol = pr.list_symbols("binance-futures", search="SOLUSDT", all_versions=True)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_versions(sol, "binance-futures", "SOLUSDT", ["price_increment"], "ts_local_us")
    >>> "2 dim_symbol versions" in str(caught[0].message)
    True
    """
    if versions.height < 2:
        return
    spans = "; ".join(
        f"symbol_id {r['symbol_id']} valid {_span(r['valid_from_us'], r['valid_until_us'])}"
        for r in versions.sort("valid_from_us").to_dicts()
    )
    changes = changed_fields(versions, fields)
    changed = f" Changed: {', '.join(changes)}." if changes else ""
    warnings.warn(
        f"{exchange} {symbol}: {versions.height} dim_symbol versions in the window ({spans}).{changed} "
        f"Each row carries the symbol_id of the version valid at its {axis}; group or filter by symbol_id "
        "to treat the versions separately.",
        SymbolVersionWarning,
        stacklevel=_caller_level(),
    )


_PACKAGE = str(Path(__file__).resolve().parent) + "/"


def _caller_level() -> int:
    """`stacklevel` for warnings.warn called from our caller: the first frame outside this package
    (the researcher's line), however many of our own functions are in between."""
    frame = sys._getframe(1)  # the function that calls warnings.warn (stacklevel 1)
    level = 1
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    return level
